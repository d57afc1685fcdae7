//! Writing referrers: their blobs byte for byte (an index referrer's instances too), then
//! their manifests through the destination's [`ReferrerSink`], grouped by subject so that a
//! registry without referrer indexing updates each `sha256-<hex>` tag once.

use anyhow::{anyhow, Context, Result};

use super::{Referrer, Tree};
use crate::copy::dedup::Seen;
use crate::copy::{copy_as_is, load_child};
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed};
use crate::transport::referrers::{How, ReferrerSink};
use crate::transport::{ImageDestination, ImageSource};

/// Copies every blob the referrers of `tree` reference (and the instance manifests of an
/// index referrer) from `src` into `dst`: nothing names them until [`put_manifests`].
pub fn copy_blobs(src: &dyn ImageSource, dst: &dyn ImageDestination, tree: &Tree) -> Result<()> {
    sink_of(dst)?;
    let mut seen = Seen::default();
    for r in &tree.referrers {
        let what = || format!("referrer {} of {}", r.descriptor.digest, r.subject);
        match manifest::parse(&r.bytes, &r.descriptor.media_type).with_context(what)? {
            Parsed::Image(_, m) => {
                copy_as_is(src, dst, &m, &mut seen).with_context(what)?;
            }
            Parsed::Index(_, idx) => {
                for child in &idx.manifests {
                    let (_, m, bytes) = load_child(src, child).with_context(what)?;
                    copy_as_is(src, dst, &m, &mut seen).with_context(what)?;
                    dst.put_child_manifest(&bytes, child).with_context(what)?;
                }
            }
        }
    }
    Ok(())
}

/// Writes the referrer manifests of `tree` into `dst`, after the manifests they hang from:
/// those listed with a subject through [`ReferrerSink::put_referrers`], cosign's tags
/// through [`ReferrerSink::put_tagged`].
pub fn put_manifests(dst: &dyn ImageDestination, tree: &Tree) -> Result<()> {
    let sink = sink_of(dst)?;
    for (subject, group) in by_subject(tree) {
        let (tagged, listed): (Vec<&Referrer>, Vec<&Referrer>) = group
            .into_iter()
            .partition(|r| matches!(r.how, How::LegacyTag(_)));
        if !listed.is_empty() {
            let docs: Vec<(Vec<u8>, Descriptor)> = listed
                .iter()
                .map(|r| (r.bytes.clone(), r.descriptor.clone()))
                .collect();
            let how = sink
                .put_referrers(&subject, &docs)
                .with_context(|| format!("writing the referrers of {subject}"))?;
            tracing::debug!(
                "{} referrers of {subject} written to {}, recorded by the {}",
                docs.len(),
                dst.describe(),
                how.name()
            );
        }
        for r in tagged {
            let How::LegacyTag(tag) = &r.how else {
                unreachable!("partitioned on LegacyTag")
            };
            sink.put_tagged(tag, &r.bytes, &r.descriptor)
                .with_context(|| format!("writing the cosign tag {tag}"))?;
        }
    }
    Ok(())
}

/// [`copy_blobs`] then [`put_manifests`]: for a destination that holds the subjects
/// already and is committed afterwards.
pub fn copy_referrers(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    tree: &Tree,
) -> Result<()> {
    copy_blobs(src, dst, tree)?;
    put_manifests(dst, tree)
}

fn sink_of(dst: &dyn ImageDestination) -> Result<&dyn ReferrerSink> {
    dst.referrer_sink()
        .ok_or_else(|| anyhow!("{} cannot hold referrers", dst.describe()))
}

/// The referrers of `tree` grouped by subject, subjects in the order first met.
fn by_subject(tree: &Tree) -> Vec<(Digest, Vec<&Referrer>)> {
    let mut groups: Vec<(Digest, Vec<&Referrer>)> = Vec::new();
    for r in &tree.referrers {
        match groups.iter_mut().find(|(s, _)| s == &r.subject) {
            Some((_, g)) => g.push(r),
            None => groups.push((r.subject.clone(), vec![r])),
        }
    }
    groups
}
