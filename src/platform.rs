//! Choosing an instance of an image index for a platform, by containers/image's
//! compatibility rules: a wanted platform expands into an ordered list of platforms it can
//! run (`linux/arm/v7` runs v7, then v6, then v5, then an instance without a variant), and
//! the first index entry that matches one of them exactly, in that order, is chosen.
//! Entries that are not runnable images (BuildKit attestation manifests, artifacts) are
//! never chosen; an index whose only runnable entries carry no platform gives its first.
//! Pure: no I/O.

use crate::manifest::{Descriptor, Index, Platform};

/// The annotation BuildKit puts on an attestation manifest's index entry.
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// Its value for an attestation manifest (provenance, SBOM).
pub const ATTESTATION: &str = "attestation-manifest";

/// For an architecture with variants, its known variants from the most capable to the most
/// compatible: a machine of one variant runs the images of every variant after it.
fn compatible_variants(arch: &str) -> &'static [&'static str] {
    match arch {
        "arm" => &["v8", "v7", "v6", "v5"],
        "arm64" => &["v9", "v8"],
        "amd64" => &["v4", "v3", "v2", "v1"],
        _ => &[],
    }
}

/// The variant every machine of the architecture runs, where there is one: an instance of
/// that variant suits a request that names none.
fn base_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "amd64" => Some("v1"),
        _ => None,
    }
}

/// The platforms `want` can run, best first, each to be matched exactly (a `None` variant
/// matches only an instance without one).
pub fn candidates(want: &Platform) -> Vec<Platform> {
    let with = |variant: Option<&str>| Platform {
        os: want.os.clone(),
        architecture: want.architecture.clone(),
        variant: variant.map(str::to_string),
        ..Default::default()
    };
    match want.variant.as_deref() {
        Some(v) => {
            let known = compatible_variants(&want.architecture);
            let mut out: Vec<Platform> = match known.iter().position(|k| *k == v) {
                Some(i) => known[i..].iter().map(|k| with(Some(k))).collect(),
                None => vec![with(Some(v))],
            };
            out.push(with(None));
            out
        }
        None => {
            let mut out = vec![with(None)];
            out.extend(base_variant(&want.architecture).map(|b| with(Some(b))));
            out
        }
    }
}

/// Whether an index entry is an attestation manifest (BuildKit's provenance and SBOM).
pub fn is_attestation(d: &Descriptor) -> bool {
    d.annotation(REFERENCE_TYPE) == Some(ATTESTATION)
}

/// Whether an index entry can be a runnable image: not an attestation, not an artifact
/// (`artifactType`), not BuildKit's `unknown/unknown`.
pub fn is_runnable(d: &Descriptor) -> bool {
    let unknown = d
        .platform
        .as_ref()
        .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
    !is_attestation(d) && d.artifact_type.is_none() && !unknown
}

fn same(have: &Platform, want: &Platform) -> bool {
    have.os == want.os && have.architecture == want.architecture && have.variant == want.variant
}

/// The entry of `idx` to run on `want`: the best candidate platform that some runnable
/// entry has (the first such entry); else, when no runnable entry names a platform at all,
/// the first runnable entry without one (as containers/image does).
pub fn choose<'a>(idx: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let runnable: Vec<&Descriptor> = idx.manifests.iter().filter(|d| is_runnable(d)).collect();
    for c in candidates(want) {
        let found = runnable
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| same(p, &c)));
        if let Some(d) = found {
            return Some(d);
        }
    }
    runnable.into_iter().find(|d| d.platform.is_none())
}

/// Every entry of `idx`, for messages: `linux/amd64, linux/arm64/v8, (no platform),
/// unknown/unknown (attestation)`.
pub fn list_entries(idx: &Index) -> String {
    if idx.manifests.is_empty() {
        return "no entries".to_string();
    }
    let names: Vec<String> = idx.manifests.iter().map(describe_entry).collect();
    names.join(", ")
}

fn describe_entry(d: &Descriptor) -> String {
    let platform = match &d.platform {
        Some(p) => p.to_string(),
        None => "(no platform)".to_string(),
    };
    if is_attestation(d) {
        format!("{platform} (attestation)")
    } else if let Some(t) = &d.artifact_type {
        format!("{platform} (artifact {t})")
    } else {
        platform
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use std::collections::BTreeMap;

    fn p(s: &str) -> Platform {
        let parts: Vec<&str> = s.split('/').collect();
        Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
            ..Default::default()
        }
    }

    fn entry(n: u8, platform: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(
            crate::media_type::OCI_MANIFEST,
            Digest::sha256_of(&[n]),
            u64::from(n),
        );
        d.platform = platform.map(p);
        d
    }

    fn index(entries: Vec<Descriptor>) -> Index {
        serde_json::from_value(serde_json::json!({"schemaVersion": 2, "manifests": entries}))
            .expect("an index")
    }

    /// The entry chosen for `want` among entries with these platforms, by position.
    fn pick(want: &str, have: &[Option<&str>]) -> Option<usize> {
        let idx = index(
            have.iter()
                .enumerate()
                .map(|(i, h)| entry(i as u8, *h))
                .collect(),
        );
        let d = choose(&idx, &p(want))?;
        idx.manifests.iter().position(|e| e == d)
    }

    fn names(want: &str) -> Vec<String> {
        candidates(&p(want)).iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn rule_arm64_v8_matches_arm64_without_a_variant() {
        assert_eq!(pick("linux/arm64/v8", &[Some("linux/arm64")]), Some(0));
    }

    #[test]
    fn rule_arm64_without_a_variant_matches_arm64_v8() {
        assert_eq!(pick("linux/arm64", &[Some("linux/arm64/v8")]), Some(0));
    }

    #[test]
    fn rule_an_exact_variant_wins_over_a_missing_one() {
        let have = [Some("linux/arm64"), Some("linux/arm64/v8")];
        assert_eq!(pick("linux/arm64/v8", &have), Some(1));
        assert_eq!(pick("linux/arm64", &have), Some(0));
    }

    #[test]
    fn rule_arm_v7_falls_back_to_v6_then_v5_then_no_variant() {
        assert_eq!(
            names("linux/arm/v7"),
            ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5", "linux/arm"]
        );
        let have = [Some("linux/arm/v5"), Some("linux/arm/v6")];
        assert_eq!(pick("linux/arm/v7", &have), Some(1));
        assert_eq!(pick("linux/arm/v7", &[Some("linux/arm/v5")]), Some(0));
        assert_eq!(pick("linux/arm/v7", &[Some("linux/arm")]), Some(0));
    }

    #[test]
    fn rule_arm_v6_never_takes_v7() {
        assert_eq!(pick("linux/arm/v6", &[Some("linux/arm/v7")]), None);
        assert_eq!(pick("linux/arm/v5", &[Some("linux/arm/v6")]), None);
    }

    #[test]
    fn rule_amd64_levels_fall_back_like_arm_variants() {
        assert_eq!(
            names("linux/amd64/v3"),
            [
                "linux/amd64/v3",
                "linux/amd64/v2",
                "linux/amd64/v1",
                "linux/amd64"
            ]
        );
        assert_eq!(pick("linux/amd64/v3", &[Some("linux/amd64/v2")]), Some(0));
        assert_eq!(pick("linux/amd64/v2", &[Some("linux/amd64/v3")]), None);
        assert_eq!(pick("linux/amd64/v2", &[Some("linux/amd64")]), Some(0));
    }

    #[test]
    fn rule_amd64_without_a_variant_takes_v1_but_not_higher_levels() {
        assert_eq!(names("linux/amd64"), ["linux/amd64", "linux/amd64/v1"]);
        assert_eq!(pick("linux/amd64", &[Some("linux/amd64/v1")]), Some(0));
        assert_eq!(pick("linux/amd64", &[Some("linux/amd64/v2")]), None);
    }

    #[test]
    fn rule_an_unknown_variant_matches_itself_then_no_variant() {
        assert_eq!(
            names("linux/riscv64/rva23"),
            ["linux/riscv64/rva23", "linux/riscv64"]
        );
    }

    #[test]
    fn rule_os_and_architecture_must_match() {
        assert_eq!(pick("linux/amd64", &[Some("windows/amd64")]), None);
        assert_eq!(pick("linux/amd64", &[Some("linux/arm64")]), None);
    }

    #[test]
    fn rule_an_entry_without_platform_is_chosen_when_none_names_one() {
        assert_eq!(pick("linux/amd64", &[None]), Some(0));
        assert_eq!(pick("linux/arm64", &[Some("linux/amd64"), None]), Some(1));
        assert_eq!(pick("linux/amd64", &[None, Some("linux/amd64")]), Some(1));
    }

    #[test]
    fn rule_attestations_and_artifacts_are_never_chosen() {
        let mut att = entry(0, Some("unknown/unknown"));
        att.annotations = Some(BTreeMap::from([(
            REFERENCE_TYPE.to_string(),
            ATTESTATION.to_string(),
        )]));
        let mut art = entry(1, None);
        art.artifact_type = Some("application/vnd.cncf.helm.config.v1+json".into());
        let mut lying = entry(2, Some("linux/amd64"));
        lying.annotations = att.annotations.clone();
        let idx = index(vec![att, art, lying]);
        assert!(choose(&idx, &p("linux/amd64")).is_none());
        assert!(choose(&idx, &p("unknown/unknown")).is_none());
        assert_eq!(
            list_entries(&idx),
            "unknown/unknown (attestation), (no platform) (artifact \
             application/vnd.cncf.helm.config.v1+json), linux/amd64 (attestation)"
        );
    }

    #[test]
    fn the_list_names_every_entry_and_never_is_empty() {
        assert_eq!(list_entries(&index(vec![])), "no entries");
        let idx = index(vec![entry(0, Some("linux/arm/v7")), entry(1, None)]);
        assert_eq!(list_entries(&idx), "linux/arm/v7, (no platform)");
    }
}
