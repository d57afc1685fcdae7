//! A manifest PUT refused because the destination does not know a blob it references
//! ([`BlobsUnknown`]: a registry's `MANIFEST_BLOB_UNKNOWN`), though every blob was uploaded
//! or found there a moment before: the image's blobs are pushed again, every one, without
//! asking whether the destination has them (it answered that wrongly), and the manifest is
//! offered once more. Only once: a second refusal fails with the diagnosis.

use anyhow::{bail, Result};

use crate::manifest::Descriptor;
use crate::transport::{BlobWriter, BlobsUnknown, DestCaps, ImageDestination, Reuse};

/// Runs `store` (the blobs and the manifest of one image) against `dst`, and once more
/// against [`Forced`] when the destination said it does not know a blob.
pub fn with_repush<T>(
    dst: &dyn ImageDestination,
    store: impl Fn(&dyn ImageDestination) -> Result<T>,
) -> Result<T> {
    match store(dst) {
        Err(e) if e.downcast_ref::<BlobsUnknown>().is_some() => {
            tracing::warn!(
                "{} refused the manifest for a blob it does not know, though the copy had \
                 just uploaded or found every one; pushing every blob of the image again, once",
                dst.describe()
            );
            tracing::debug!("the refusal: {e:#}");
            store(&Forced(dst)).map_err(|e| match e.downcast_ref::<BlobsUnknown>() {
                Some(_) => e.context(
                    "every blob was pushed again and the destination still does not know one",
                ),
                None => e,
            })
        }
        r => r,
    }
}

/// A destination that holds no blob, as far as the copy is told: every blob is written.
struct Forced<'a>(&'a dyn ImageDestination);

impl ImageDestination for Forced<'_> {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn caps(&self) -> DestCaps {
        self.0.caps()
    }
    fn has_blob(&self, _desc: &Descriptor) -> Result<bool> {
        Ok(false)
    }
    fn reuse_blob(&self, _desc: &Descriptor) -> Result<Reuse> {
        Ok(Reuse::Absent)
    }
    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.0.begin_blob(expected)
    }
    fn upload_retries(&self) -> crate::retry::RetryPolicy {
        self.0.upload_retries()
    }
    /// Written, whatever the destination says it has, with the destination's retries.
    fn put_bytes(&self, bytes: &[u8], desc: &Descriptor) -> Result<Reuse> {
        let what = format!("uploading the blob {} again", desc.digest);
        crate::retry::run(
            &self.upload_retries(),
            &what,
            crate::transport::registry::errors::classify,
            || crate::transport::store_bytes(self, bytes, desc),
        )
    }
    fn put_manifest(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.0.put_manifest(manifest, desc)
    }
    fn put_child_manifest(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.0.put_child_manifest(manifest, desc)
    }
    fn commit(self: Box<Self>, _manifest: &[u8], _desc: &Descriptor) -> Result<()> {
        bail!("internal error: the re-push wrapper of a destination is never committed")
    }
}
