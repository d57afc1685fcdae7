//! `oci-copy verify REF`: an fsck for images. It walks everything an image reaches (index
//! children, manifests, configs, layers) through any [`ImageSource`], re-hashes every blob
//! with the copy pipeline's [`VerifyingReader`], decompresses layers to check them against
//! the config's diff_ids, and names every missing or corrupt blob by digest. On a layout or
//! an oci-archive with no tag (or with `--all`) it checks every entry of `index.json`.

use anyhow::{bail, Result};

use crate::digest::Digest;
use crate::reference::ImageRef;
use crate::transport;
use crate::transport::registry::RegistryOptions;

mod checker;
mod referrers;
use checker::Checker;

/// The outcome of checking one image.
#[derive(Debug, Clone)]
pub struct ImageResult {
    /// How the image is referred to: `oci:/srv/app:v1`.
    pub name: String,
    /// The top-level manifest digest, when it could be read.
    pub digest: Option<Digest>,
    /// One line per problem: the object (with its digest) and the reason.
    pub problems: Vec<String>,
    /// What was checked only in part, and why: a layer that is not a tar (an in-toto
    /// attestation, an artifact's blob) has its digest and size checked, not a diff_id.
    pub skipped: Vec<String>,
}

/// What `verify` found.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub images: Vec<ImageResult>,
    /// Distinct blobs (manifests included) hashed, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
}

impl VerifyReport {
    /// Every problem once, in the order found.
    pub fn problems(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.images
            .iter()
            .flat_map(|i| i.problems.iter())
            .filter(|p| seen.insert(p.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// The short human report: one line per image, its problems indented below it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for img in &self.images {
            let digest = img
                .digest
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_default();
            let status = if img.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            };
            out.push_str(&format!("{status:<7}{} {digest}\n", img.name));
            for p in &img.problems {
                out.push_str(&format!("  {p}\n"));
            }
            for p in &img.skipped {
                out.push_str(&format!("  skipped: {p}\n"));
            }
        }
        let n = self.problems().len();
        let failed = self
            .images
            .iter()
            .filter(|i| !i.problems.is_empty())
            .count();
        let failed = match failed {
            0 => String::new(),
            f => format!(" ({f} FAILED)"),
        };
        out.push_str(&format!(
            "checked {} image(s){failed}, {} blob(s), {}: {}\n",
            self.images.len(),
            self.blobs,
            crate::human_bytes(self.bytes),
            match n {
                0 => "no problems".to_string(),
                1 => "1 problem".to_string(),
                n => format!("{n} problems"),
            }
        ));
        out
    }
}

/// Runs `verify` on `reference`; `all` checks every image of a layout or archive even when
/// the reference names one. `reg` applies when the reference is a registry.
/// With `referrers`, the referrers of each image are checked too.
pub fn verify_with(
    reference: &ImageRef,
    (all, referrers): (bool, bool),
    reg: &RegistryOptions,
) -> Result<VerifyReport> {
    let mut checker = Checker::default();
    let check = |checker: &mut Checker, src: &dyn transport::ImageSource| {
        checker.check_image(src);
        if referrers {
            checker.check_referrers(src);
        }
    };
    let every = match reference {
        ImageRef::Layout { tag, .. } | ImageRef::OciArchive { tag, .. }
            if !all && tag.is_some() =>
        {
            None
        }
        ImageRef::DockerArchive { selector, .. } if !all && selector.is_some() => None,
        _ => transport::open_every_image(reference)?,
    };
    match every {
        Some(images) => {
            for image in images {
                match image {
                    Ok(src) => check(&mut checker, src.as_ref()),
                    Err((name, e)) => checker.report.images.push(ImageResult {
                        name,
                        digest: None,
                        problems: vec![without_outer_context(&e)],
                        skipped: Vec::new(),
                    }),
                }
            }
        }
        None => {
            let src = transport::open_source_with(reference, reg)?;
            check(&mut checker, src.as_ref());
        }
    }
    Ok(checker.report)
}

/// `{e:#}` without its outermost context (the image name, printed beside it already).
fn without_outer_context(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// `verify`: prints the report (problems only with `--quiet`) and fails on any problem.
pub(super) fn run(args: crate::cli::VerifyArgs, quiet: bool) -> Result<()> {
    let r = ImageRef::parse(&args.image)?;
    let report = verify_with(&r, (args.all, args.referrers), &args.registry.options())?;
    let problems = report.problems();
    let text = match quiet {
        false => report.render(),
        true => problems.iter().map(|p| format!("{p}\n")).collect(),
    };
    super::print(text.as_bytes())?;
    match problems.as_slice() {
        [] => Ok(()),
        [one] => bail!("{}: {one}", args.image),
        many if many.len() <= 3 => {
            bail!(
                "{}: {} problems: {}",
                args.image,
                many.len(),
                many.join("; ")
            )
        }
        many => bail!(
            "{}: {} problems: {}; and {} more (listed on stdout)",
            args.image,
            many.len(),
            many[..3].join("; "),
            many.len() - 3
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name)
    }

    #[test]
    fn fixtures_are_clean() {
        for r in [
            format!("oci:{}", fixture("oci-index").display()),
            format!("oci:{}", fixture("oci-layout").display()),
            format!("oci-archive:{}", fixture("oci-archive.tar").display()),
            format!("docker-archive:{}", fixture("docker-multi.tar").display()),
            format!("docker-archive:{}", fixture("docker25.tar").display()),
        ] {
            let report = verify_with(
                &ImageRef::parse(&r).unwrap(),
                (false, false),
                &Default::default(),
            )
            .unwrap();
            assert!(report.problems().is_empty(), "{r}: {}", report.render());
            assert!(report.blobs >= 3, "{r}: {}", report.render());
        }
    }

    #[test]
    fn names_a_corrupt_layer_by_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("l");
        copy_dir(&fixture("oci-layout"), &dir);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let mdigest: Digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(mdigest.blob_path())).unwrap()).unwrap();
        let layer: Digest = m["layers"][1]["digest"].as_str().unwrap().parse().unwrap();
        let path = dir.join(layer.blob_path());
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let r = ImageRef::parse(&format!("oci:{}", dir.display())).unwrap();
        let report = verify_with(&r, (false, false), &Default::default()).unwrap();
        let problems = report.problems();
        assert_eq!(problems.len(), 1, "{}", report.render());
        assert!(
            problems[0].starts_with(&format!("layer 2 {layer}: digest mismatch")),
            "{}",
            problems[0]
        );
    }

    fn copy_dir(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &dst.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
    }
}
