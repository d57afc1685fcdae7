//! Referrers: the manifests whose `subject` names another (signatures, SBOMs, attestations),
//! and cosign's older tags beside an image (`sha256-<hex>.sig`, `.att`, `.sbom`). A source
//! that can hold them is a [`ReferrerSource`], a destination a [`ReferrerSink`]; the copy
//! engine (`copy/referrers/`) finds, checks and writes them through these two traits only.
//!
//! Contract: as for [`super::ImageSource`], nothing a [`ReferrerSource`] returns is verified;
//! the caller checks every manifest against the descriptor that names it, and its `subject`.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Deserialize;

use super::TopManifest;
use crate::digest::Digest;
use crate::manifest::Descriptor;

/// The suffixes of cosign's legacy tags, in the order they are looked up.
pub const LEGACY_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// How the referrers of one subject were found, for `--debug` and `inspect --referrers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// The registry's referrers API (`GET /v2/<name>/referrers/<digest>`).
    Api,
    /// The referrers tag schema: an index tagged `sha256-<hex>`.
    TagSchema,
    /// Manifests listed in a layout's `index.json` whose `subject` is the digest (as oras).
    LayoutIndex,
    /// A cosign legacy tag (`sha256-<hex>.sig`): copied as that tag.
    LegacyTag(String),
}

impl How {
    pub fn name(&self) -> String {
        match self {
            How::Api => "referrers API".into(),
            How::TagSchema => "referrers tag schema".into(),
            How::LayoutIndex => "layout index.json".into(),
            How::LegacyTag(t) => format!("cosign tag {t}"),
        }
    }
}

/// What a source lists as the referrers of one subject: their descriptors, how they were
/// found, and why that way (for `--debug`).
#[derive(Debug, Clone)]
pub struct Listing {
    pub referrers: Vec<Descriptor>,
    pub how: How,
    pub why: String,
}

/// A source that can hold referrers: a registry, an OCI layout, an oci-archive.
pub trait ReferrerSource {
    /// The referrers of the manifest `subject`: a registry asks its referrers API, then
    /// the tag schema; a layout lists the manifests of its `index.json` with that subject.
    /// A listing that is not an index is an error naming it.
    fn referrers(&self, subject: &Digest) -> Result<Listing>;

    /// The manifest `tag` names, or `None` when there is no such tag (cosign legacy tags).
    fn tagged(&self, tag: &str) -> Result<Option<TopManifest>>;
}

/// A destination that can hold referrers. The blobs of a referrer are stored first with
/// [`super::ImageDestination::put_bytes`] and `begin_blob`, as any blob; then its manifest
/// here, before the destination's `commit`. A registry writes each at once; a layout or an
/// oci-archive lists them in the `index.json` its `commit` writes.
pub trait ReferrerSink {
    /// Checks, before anything is written, that referrers of `subjects` can be recorded:
    /// a registry's existing `sha256-<hex>` tag must be an index.
    fn check(&self, _subjects: &[Digest]) -> Result<()> {
        Ok(())
    }

    /// Stores the referrers of `subject` (verified manifest bytes and their descriptors)
    /// and records them under it: a registry PUTs each with its `subject`, and merges them
    /// into the `sha256-<hex>` tag index when it does not answer `OCI-Subject`. Returns how
    /// they were recorded.
    fn put_referrers(&self, subject: &Digest, referrers: &[(Vec<u8>, Descriptor)]) -> Result<How>;

    /// Stores a manifest under a tag (a cosign legacy tag).
    fn put_tagged(&self, tag: &str, manifest: &[u8], desc: &Descriptor) -> Result<()>;
}

/// The tag the referrers tag schema gives the referrers of `d`: `<alg>-<hex>`, the
/// algorithm cut at 32 characters and the hex at 64, as the distribution-spec says.
pub fn fallback_tag(d: &Digest) -> String {
    let alg = d.algorithm().name();
    let hex = d.hex();
    format!(
        "{}-{}",
        &alg[..alg.len().min(32)],
        &hex[..hex.len().min(64)]
    )
}

/// Cosign's legacy tag for `d` with `suffix` (`sig`, `att`, `sbom`).
pub fn legacy_tag(d: &Digest, suffix: &str) -> String {
    format!("{}.{suffix}", fallback_tag(d))
}

/// The parts of a manifest a referrers listing shows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<ConfigShape>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigShape {
    media_type: Option<String>,
}

/// What a referrers listing says of a manifest: its subject, and the descriptor the
/// distribution-spec lists it by (media type, digest, size, `artifactType` — the
/// manifest's own, else its config's media type — and the manifest's annotations).
/// `None` when the bytes are not a manifest.
pub fn describe_referrer(bytes: &[u8], media_type: &str) -> Option<(Option<Digest>, Descriptor)> {
    let s: Shape = serde_json::from_slice(bytes).ok()?;
    let mut d = Descriptor::of_bytes(s.media_type.as_deref().unwrap_or(media_type), bytes);
    d.artifact_type = s.artifact_type.or(s.config.and_then(|c| c.media_type));
    d.annotations = s.annotations;
    Some((s.subject.map(|s| s.digest), d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_schema_names() {
        let d: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(fallback_tag(&d), format!("sha256-{}", "ab".repeat(32)));
        assert_eq!(
            legacy_tag(&d, "sig"),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        let long: Digest = format!("sha512:{}", "cd".repeat(64)).parse().unwrap();
        assert_eq!(fallback_tag(&long), format!("sha512-{}", "cd".repeat(32)));
    }

    #[test]
    fn describes_a_referrer_as_the_spec_lists_it() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/x-sbom","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"annotations":{"a":"b"}}"#;
        let (subject, d) = describe_referrer(m, "x").unwrap();
        assert_eq!(
            subject.unwrap().to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(d.artifact_type.as_deref(), Some("application/x-sbom"));
        assert_eq!(d.annotation("a"), Some("b"));
        assert_eq!(d.size, m.len() as u64);
        assert!(describe_referrer(b"[1]", "x").is_none());
    }
}
