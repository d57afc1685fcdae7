//! Where one image of a sync is read and written, and what digest each end holds now (for
//! skipping an unchanged image with one HEAD, or one read of `index.json`).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::plan::{Source, Unit};
use crate::digest::Digest;
use crate::reference::{DockerRef, ImageRef};
use crate::transport::registry::{self, RegistryOptions};

/// Where a sync writes.
#[derive(Debug, Clone)]
pub enum Dest {
    /// A registry, and the repository prefix under it: `mirror.local/lab`.
    Registry(String),
    /// A directory holding one OCI layout per repository.
    Layouts(PathBuf),
    /// One layout holding every image, named by its full source reference. A path ending
    /// in `.tar` is an oci-archive: the layout is built beside it (`PATH.layout`, kept for
    /// a rerun to resume) and archived when the run ends.
    Bundle(PathBuf),
}

/// `tag` as a reference suffix: `:1`, or `@sha256:…` for a digest.
fn suffix(tag: &str) -> String {
    if tag.contains(':') {
        format!("@{tag}")
    } else {
        format!(":{tag}")
    }
}

/// The reference of image `tag` of `unit` at its source.
pub fn source_ref(unit: &Unit, tag: &str) -> Result<ImageRef> {
    Ok(match &unit.from {
        Source::Registry { repo, .. } => ImageRef::Registry(DockerRef::parse(&format!(
            "{}{}",
            repo.repository(),
            suffix(tag)
        ))?),
        Source::Layout(dir) => ImageRef::Layout {
            dir: dir.clone(),
            tag: Some(tag.to_string()),
        },
        Source::Bundle { path, repo } => bundle_ref(path, Some(format!("{repo}{}", suffix(tag)))),
    })
}

/// The full reference an image is known by in a bundle: `registry.example.com/lab/app:1`.
pub fn full_name(unit: &Unit, tag: &str) -> String {
    let repo = match &unit.from {
        Source::Registry { repo, .. } => repo.repository(),
        Source::Bundle { repo, .. } => repo.clone(),
        Source::Layout(_) => unit.name.clone(),
    };
    format!("{repo}{}", suffix(tag))
}

/// A bundle at `path` as a reference: an oci-archive if it ends in `.tar`, else a layout.
pub fn bundle_ref(path: &Path, name: Option<String>) -> ImageRef {
    match path.extension().is_some_and(|e| e == "tar") && path.is_file() {
        true => ImageRef::OciArchive {
            file: path.to_path_buf(),
            tag: name,
        },
        false => ImageRef::Layout {
            dir: path.to_path_buf(),
            tag: name,
        },
    }
}

/// The layout a `.tar` bundle is built in.
pub fn staging(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".layout");
    PathBuf::from(s)
}

/// The reference of image `tag` of `unit` at the destination.
pub fn dest_ref(dest: &Dest, unit: &Unit, tag: &str) -> Result<ImageRef> {
    Ok(match dest {
        Dest::Registry(prefix) => {
            let prefix = prefix.trim_start_matches("docker://").trim_end_matches('/');
            ImageRef::Registry(DockerRef::parse(&format!(
                "{prefix}/{}{}",
                unit.name,
                suffix(tag)
            ))?)
        }
        Dest::Layouts(dir) => ImageRef::Layout {
            dir: dir.join(&unit.name),
            tag: Some(tag.to_string()),
        },
        Dest::Bundle(path) => {
            let dir = match path.extension().is_some_and(|e| e == "tar") {
                true => staging(path),
                false => path.clone(),
            };
            ImageRef::Layout {
                dir,
                tag: Some(full_name(unit, tag)),
            }
        }
    })
}

/// The digest (and media type) of the manifest `r` names now, if there is one.
pub fn current_digest(r: &ImageRef, opts: &RegistryOptions) -> Result<Option<(Digest, String)>> {
    match r {
        ImageRef::Registry(d) => registry::head_digest(d, opts),
        ImageRef::Layout { tag: Some(tag), .. } | ImageRef::OciArchive { tag: Some(tag), .. } => {
            if let ImageRef::Layout { dir, .. } = r {
                if !dir.exists() {
                    return Ok(None);
                }
            }
            Ok(crate::transport::tagged_entries(r)?
                .into_iter()
                .find(|(t, _)| t == tag)
                .map(|(_, d)| (d.digest, d.media_type)))
        }
        _ => Ok(None),
    }
}
