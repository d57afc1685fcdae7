//! Finding the referrers of some manifests, recursively, breadth first: each listed
//! referrer's manifest is read, checked against its descriptor, and its `subject` against
//! the manifest it was listed for. Problems are collected, not thrown, so that `verify`
//! can report them all and a copy can refuse before it writes.

use std::collections::{HashSet, VecDeque};

use anyhow::Result;

use super::{Referrer, ReferrerOptions, Tree};
use crate::copy::verify_bytes;
use crate::digest::Digest;
use crate::manifest::{self, Descriptor};
use crate::transport::referrers::{
    describe_referrer, legacy_tag, How, ReferrerSource, LEGACY_SUFFIXES,
};
use crate::transport::ImageSource;

/// Referrers of referrers are followed this deep.
const MAX_DEPTH: usize = 8;
/// More referrers than this in one copy is refused (a source that lists without end).
const MAX_REFERRERS: usize = 4096;

/// A referrer as listed, before its manifest is read.
struct Listed {
    desc: Descriptor,
    how: How,
    /// A cosign tag's manifest, read already.
    bytes: Option<Vec<u8>>,
}

/// Finds the referrers of `subjects` in `src` (none when the source cannot hold any).
pub fn find(src: &dyn ImageSource, subjects: &[Digest], opts: &ReferrerOptions) -> Result<Tree> {
    let mut tree = Tree {
        subjects: subjects.to_vec(),
        ..Tree::default()
    };
    let Some(rs) = src.referrer_source() else {
        tracing::debug!("{} cannot hold referrers: none to copy", src.describe());
        return Ok(tree);
    };
    let mut queue: VecDeque<Vec<Digest>> = subjects.iter().map(|s| vec![s.clone()]).collect();
    let mut seen: HashSet<Digest> = subjects.iter().cloned().collect();
    while let Some(path) = queue.pop_front() {
        let subject = path.last().expect("a path is never empty").clone();
        for listed in listing(rs, &subject, &mut tree.problems) {
            let d = &listed.desc.digest;
            if path.contains(d) {
                let chain: Vec<String> = path.iter().chain([d]).map(|d| d.to_string()).collect();
                tree.problems
                    .push(format!("referrer cycle: {}", chain.join(" → ")));
                continue;
            }
            if !opts.wants(listed.desc.artifact_type.as_deref()) && listed.bytes.is_none() {
                tracing::debug!(
                    "referrer {d} ({:?}) left out by the filter",
                    listed.desc.artifact_type
                );
                continue;
            }
            if !seen.insert(d.clone()) {
                continue;
            }
            match load(src, &subject, listed, path.len()) {
                Ok(r) if !opts.wants(r.descriptor.artifact_type.as_deref()) => {
                    tracing::debug!("referrer {} left out by the filter", r.descriptor.digest);
                }
                Ok(r) => {
                    if path.len() < MAX_DEPTH {
                        queue.push_back(
                            path.iter()
                                .cloned()
                                .chain([r.descriptor.digest.clone()])
                                .collect(),
                        );
                    }
                    tree.referrers.push(r);
                }
                Err(e) => tree.problems.push(format!("{e:#}")),
            }
            if tree.referrers.len() > MAX_REFERRERS {
                anyhow::bail!("{}: more than {MAX_REFERRERS} referrers", src.describe());
            }
        }
    }
    Ok(tree)
}

/// What `rs` lists for `subject`: its referrers, then cosign's legacy tags.
fn listing(rs: &dyn ReferrerSource, subject: &Digest, problems: &mut Vec<String>) -> Vec<Listed> {
    let mut out = Vec::new();
    match rs.referrers(subject) {
        Ok(l) => {
            tracing::debug!("referrers of {subject}: {}: {}", l.how.name(), l.why);
            out.extend(l.referrers.into_iter().map(|desc| Listed {
                desc,
                how: l.how.clone(),
                bytes: None,
            }));
        }
        Err(e) => problems.push(format!("the referrers of {subject}: {e:#}")),
    }
    for suffix in LEGACY_SUFFIXES {
        let tag = legacy_tag(subject, suffix);
        match rs.tagged(&tag) {
            Ok(None) => tracing::debug!("cosign tag {tag}: none"),
            Ok(Some(top)) => {
                let desc = top
                    .descriptor
                    .unwrap_or_else(|| Descriptor::of_bytes(&top.media_type, &top.bytes));
                tracing::debug!("cosign tag {tag}: {}", desc.digest);
                let how = How::LegacyTag(tag);
                out.push(Listed {
                    desc,
                    how,
                    bytes: Some(top.bytes),
                });
            }
            Err(e) => problems.push(format!("the cosign tag {tag}: {e:#}")),
        }
    }
    out
}

/// Reads, checks and describes one listed referrer of `subject`.
fn load(src: &dyn ImageSource, subject: &Digest, listed: Listed, depth: usize) -> Result<Referrer> {
    let Listed { desc, how, bytes } = listed;
    let what = format!("referrer {} of {subject}", desc.digest);
    let bytes = match bytes {
        Some(b) => b,
        None => src
            .manifest(&desc)
            .map_err(|e| anyhow::anyhow!("{what}: {e:#}"))?,
    };
    verify_bytes(&bytes, &desc, &what)?;
    manifest::parse(&bytes, &desc.media_type).map_err(|e| anyhow::anyhow!("{what}: {e:#}"))?;
    let (named, mut descriptor) = describe_referrer(&bytes, &desc.media_type)
        .ok_or_else(|| anyhow::anyhow!("{what}: not a manifest"))?;
    descriptor.digest = desc.digest.clone();
    if !matches!(how, How::LegacyTag(_)) {
        match named {
            Some(s) if &s == subject => {}
            Some(s) => {
                anyhow::bail!("{what}: its subject is {s}, not the manifest it was listed for")
            }
            None => anyhow::bail!("{what}: it has no subject, so it refers to nothing"),
        }
    }
    Ok(Referrer {
        subject: subject.clone(),
        descriptor,
        bytes,
        how,
        depth,
    })
}
