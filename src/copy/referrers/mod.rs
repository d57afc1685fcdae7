//! Copying referrers (signatures, SBOMs, attestations) with the images they describe.
//!
//! In three steps, so that bad input is refused before anything is written:
//! 1. [`find`] walks the referrers of the subjects, recursively, through the source's
//!    [`crate::transport::referrers::ReferrerSource`]: each listed manifest is read,
//!    checked against its descriptor, and its `subject` against the manifest it hangs
//!    from; a cycle, a listing that is not an index, or a mismatch is a problem, and no
//!    problem may remain before a copy starts.
//! 2. [`copy_blobs`] copies the referrers' blobs into the destination (invisible until a
//!    manifest names them) before the image is copied.
//! 3. [`put_manifests`] writes the referrer manifests through the destination's
//!    [`crate::transport::referrers::ReferrerSink`], after the image's manifest and before
//!    the destination commits: [`attach`] wraps a destination so that its `commit` does so.
//!
//! [`copy_referrers`] does steps 2 and 3 at once, for a caller (`sync`) that holds the
//! destination of an image already written and not yet committed.

mod attach;
mod find;
mod write;

pub use attach::attach;
pub use find::find;
pub use write::{copy_blobs, copy_referrers, put_manifests};

use anyhow::{bail, Result};

use super::load::host_platform;
use super::{load_top, select_platform, CopyOptions};
use crate::digest::Digest;
use crate::manifest::{Descriptor, Parsed};
use crate::transport::referrers::How;
use crate::transport::ImageSource;

/// Which referrers to copy.
#[derive(Debug, Clone, Default)]
pub struct ReferrerOptions {
    /// `--referrers-filter artifactType=TYPE`: only referrers of these artifact types (the
    /// manifest's `artifactType`, else its config's media type), at every depth. Empty: all.
    pub artifact_types: Vec<String>,
}

impl ReferrerOptions {
    pub fn wants(&self, artifact_type: Option<&str>) -> bool {
        self.artifact_types.is_empty()
            || artifact_type.is_some_and(|t| self.artifact_types.iter().any(|w| w == t))
    }
}

/// `artifactType=TYPE`, as `--referrers-filter` takes it.
pub fn parse_filter(s: &str) -> Result<String, String> {
    match s.split_once('=') {
        Some(("artifactType", t)) if !t.is_empty() => Ok(t.to_string()),
        _ => Err(format!(
            "expected artifactType=TYPE (e.g. artifactType=application/spdx+json), got {s:?}"
        )),
    }
}

/// One referrer found: the manifest it hangs from, its verified bytes, and how it was found.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub subject: Digest,
    /// As the distribution-spec lists it: media type, digest, size, artifactType, and the
    /// manifest's annotations.
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
    pub how: How,
    /// 1 for a referrer of a subject, 2 for a referrer of that, ...
    pub depth: usize,
}

/// The referrers of some subjects, parents before their own referrers.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub subjects: Vec<Digest>,
    pub referrers: Vec<Referrer>,
    /// What was wrong (one line each, naming the object): a copy refuses to start on any.
    pub problems: Vec<String>,
}

impl Tree {
    /// The referrers hanging from `d`, in the order found.
    pub fn of<'a>(&'a self, d: &'a Digest) -> impl Iterator<Item = &'a Referrer> + 'a {
        self.referrers.iter().filter(move |r| &r.subject == d)
    }

    /// An error for the first problem, naming how many there were.
    pub fn refuse_problems(&self) -> Result<()> {
        match self.problems.as_slice() {
            [] => Ok(()),
            [one] => bail!("{one}"),
            [first, rest @ ..] => bail!("{first}; and {} more problems with referrers", rest.len()),
        }
    }
}

/// The manifests a copy with `opts` writes unchanged, whose referrers travel with it: the
/// image, or the instance for the platform, or with `--all` the index and every instance.
pub fn subjects_of(src: &dyn ImageSource, opts: &CopyOptions) -> Result<Vec<Digest>> {
    let top = load_top(src)?;
    Ok(match &top.parsed {
        Parsed::Index(_, idx) if opts.all || opts.platforms.len() > 1 => {
            std::iter::once(top.descriptor.digest.clone())
                .chain(idx.manifests.iter().map(|d| d.digest.clone()))
                .collect()
        }
        Parsed::Index(_, idx) => {
            let want = opts
                .platforms
                .first()
                .cloned()
                .unwrap_or_else(host_platform);
            vec![select_platform(idx, &want)?.digest.clone()]
        }
        Parsed::Image(..) => vec![top.descriptor.digest.clone()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_artifact_types() {
        assert_eq!(
            parse_filter("artifactType=application/spdx+json").unwrap(),
            "application/spdx+json"
        );
        assert!(parse_filter("mediaType=x").is_err());
        assert!(parse_filter("artifactType=").is_err());
        let o = ReferrerOptions {
            artifact_types: vec!["a".into(), "b".into()],
        };
        assert!(o.wants(Some("b")) && !o.wants(Some("c")) && !o.wants(None));
        assert!(ReferrerOptions::default().wants(None));
    }
}
