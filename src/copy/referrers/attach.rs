//! A destination that writes referrer manifests when it commits, so that the copy engine
//! (`copy_image`) copies an image with its referrers without knowing of them: every call
//! goes to the destination wrapped, and `commit` first writes the referrers (after the
//! image's manifest, before the destination makes it visible or reads the push back).

use anyhow::{bail, Result};

use super::{put_manifests, Tree};
use crate::convert::DestCaps;
use crate::manifest::Descriptor;
use crate::retry::RetryPolicy;
use crate::transport::referrers::ReferrerSink;
use crate::transport::{BlobWriter, ImageDestination, Reuse};

/// `dst`, writing the manifests of `tree` on commit. Their blobs must be in already
/// ([`super::copy_blobs`]). A commit of a manifest that is not one of the tree's subjects
/// (the source changed between the two reads) writes no referrer and fails.
pub fn attach(dst: Box<dyn ImageDestination>, tree: Tree) -> Box<dyn ImageDestination> {
    Box::new(WithReferrers { inner: dst, tree })
}

struct WithReferrers {
    inner: Box<dyn ImageDestination>,
    tree: Tree,
}

impl ImageDestination for WithReferrers {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn caps(&self) -> DestCaps {
        self.inner.caps()
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        self.inner.has_blob(desc)
    }

    fn reuse_blob(&self, desc: &Descriptor) -> Result<Reuse> {
        self.inner.reuse_blob(desc)
    }

    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.inner.begin_blob(expected)
    }

    fn upload_retries(&self) -> RetryPolicy {
        self.inner.upload_retries()
    }

    fn put_bytes(&self, bytes: &[u8], desc: &Descriptor) -> Result<Reuse> {
        self.inner.put_bytes(bytes, desc)
    }

    fn put_manifest(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.inner.put_manifest(manifest, desc)
    }

    fn put_child_manifest(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.inner.put_child_manifest(manifest, desc)
    }

    fn commit(self: Box<Self>, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        if !self.tree.subjects.contains(&desc.digest) {
            bail!(
                "the copy wrote the manifest {}, which is none of those whose referrers were \
                 found ({}): did the source change during the copy?",
                desc.digest,
                self.tree.subjects.len()
            );
        }
        put_manifests(self.inner.as_ref(), &self.tree)?;
        self.inner.commit(manifest, desc)
    }

    fn referrer_sink(&self) -> Option<&dyn ReferrerSink> {
        self.inner.referrer_sink()
    }
}
