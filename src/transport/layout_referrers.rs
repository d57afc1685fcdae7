//! Referrers in an OCI layout (and so in an oci-archive), stored as oras stores them: each
//! referrer manifest is a blob, listed in `index.json` by an untagged entry carrying its
//! `artifactType` and annotations, and found again by reading the manifests `index.json`
//! lists and keeping those whose `subject` is the digest asked for. Cosign's legacy tags
//! are `index.json` entries tagged `sha256-<hex>.sig` (`.att`, `.sbom`).

use std::sync::Mutex;

use anyhow::{Context, Result};

use super::fs::{read_small, FileTree};
use super::layout::{read_index, select_entry, REF_NAME};
use super::layout_dest::LayoutDestination;
use super::referrers::{describe_referrer, How, Listing, ReferrerSink};
use super::{ImageDestination, TopManifest};
use crate::digest::Digest;
use crate::manifest::{Descriptor, MAX_DOCUMENT_SIZE};
use crate::media_type as mt;

/// Entries a destination will add to `index.json` when it commits: referrers (untagged)
/// and cosign legacy tags.
pub type Pending = Mutex<Vec<(Descriptor, Option<String>)>>;

/// The manifests `index.json` of the layout in `tree` lists whose `subject` is `subject`.
pub fn list(tree: &dyn FileTree, subject: &Digest) -> Result<Listing> {
    let index = read_index(tree)?;
    let mut referrers: Vec<Descriptor> = Vec::new();
    for entry in &index.manifests {
        if !mt::is_manifest_like(&entry.media_type) || entry.size > MAX_DOCUMENT_SIZE {
            continue;
        }
        let bytes = read_small(tree, &entry.digest.blob_path(), MAX_DOCUMENT_SIZE)
            .with_context(|| format!("reading manifest {} of index.json", entry.digest))?;
        let Some((Some(s), mut d)) = describe_referrer(&bytes, &entry.media_type) else {
            continue;
        };
        // The entry names the blob: its digest is what the copy checks the bytes against.
        d.digest = entry.digest.clone();
        d.size = entry.size;
        if &s == subject && !referrers.iter().any(|r| r.digest == d.digest) {
            referrers.push(d);
        }
    }
    let why = format!(
        "a layout has no referrers API: {} manifests of index.json read for their subject",
        index.manifests.len()
    );
    Ok(Listing {
        referrers,
        how: How::LayoutIndex,
        why,
    })
}

/// The manifest `index.json` tags `tag`, if one does.
pub fn tagged(tree: &dyn FileTree, tag: &str) -> Result<Option<TopManifest>> {
    let index = read_index(tree)?;
    if !index
        .manifests
        .iter()
        .any(|d| d.annotation(REF_NAME) == Some(tag))
    {
        return Ok(None);
    }
    let entry = select_entry(&index, Some(tag))?;
    if entry.size > MAX_DOCUMENT_SIZE {
        anyhow::bail!("manifest {} is over the 4 MiB limit", entry.digest);
    }
    let bytes = read_small(tree, &entry.digest.blob_path(), MAX_DOCUMENT_SIZE)
        .with_context(|| format!("reading manifest {} (tag {tag})", entry.digest))?;
    Ok(Some(TopManifest {
        bytes,
        media_type: entry.media_type.clone(),
        descriptor: Some(entry),
    }))
}

/// The `index.json` entry of a referrer: untagged, as oras writes it.
fn untagged(desc: &Descriptor) -> Descriptor {
    let mut d = desc.clone();
    d.platform = None;
    if let Some(a) = d.annotations.as_mut() {
        a.remove(REF_NAME);
    }
    d
}

/// Stores referrer manifests as blobs of `dst` and notes their entries in `pending`.
pub fn put_referrers(
    dst: &dyn ImageDestination,
    pending: &Pending,
    referrers: &[(Vec<u8>, Descriptor)],
) -> Result<How> {
    for (bytes, desc) in referrers {
        dst.put_bytes(bytes, desc)?;
        pending
            .lock()
            .expect("not poisoned")
            .push((untagged(desc), None));
    }
    Ok(How::LayoutIndex)
}

/// Stores a manifest as a blob of `dst` and notes its tagged entry in `pending`.
pub fn put_tagged(
    dst: &dyn ImageDestination,
    pending: &Pending,
    tag: &str,
    manifest: &[u8],
    desc: &Descriptor,
) -> Result<()> {
    dst.put_bytes(manifest, desc)?;
    let entry = Descriptor::new(&desc.media_type, desc.digest.clone(), desc.size);
    pending
        .lock()
        .expect("not poisoned")
        .push((entry, Some(tag.to_string())));
    Ok(())
}

impl ReferrerSink for LayoutDestination {
    fn put_referrers(&self, _subject: &Digest, referrers: &[(Vec<u8>, Descriptor)]) -> Result<How> {
        put_referrers(self, self.pending(), referrers)
    }

    fn put_tagged(&self, tag: &str, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        put_tagged(self, self.pending(), tag, manifest, desc)
    }
}
