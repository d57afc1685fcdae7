//! [`RegistryDestination`]: a repository in a registry, for writing. A blob the repository
//! has is skipped (HEAD), one on the same registry is mounted (from the source repository,
//! or from where this run pushed it: `ledger.rs`), an upload completes only after the
//! pipeline verified it, the manifest PUT's refusal of a type becomes a
//! [`crate::transport::ManifestRejected`], and the push is read back before it is done
//! (`read_back.rs`).

use std::io::Write;

use anyhow::Result;

use super::client::{RegistryClient, Upload};
use super::{connect, direct, errors, ledger, mirrors, read_back, RegistryOptions};
use crate::manifest::Descriptor;
use crate::media_type::Format;
use crate::reference::DockerRef;
use crate::retry::RetryPolicy;
use crate::transport::{BlobWriter, DestCaps, ImageDestination, LayerPolicy, Reuse};

/// A repository in a registry, for writing.
pub struct RegistryDestination {
    pub(super) client: RegistryClient,
    pub(super) name: DockerRef,
    /// The source repository, when it is on the same registry (blobs can be mounted).
    mount_from: Option<String>,
    /// What the push wrote, to read back before it is done; `None` with `--no-read-back`.
    pub(super) pushed: Option<std::sync::Mutex<read_back::Objects>>,
    /// Its id in the run's ledger of blobs (see `ledger.rs`).
    owner: u64,
}

impl Drop for RegistryDestination {
    fn drop(&mut self) {
        ledger::release(self.owner);
    }
}

impl RegistryDestination {
    /// Opens `r`; `source` is the image being copied, when it is in a registry.
    pub fn open(
        r: &DockerRef,
        opts: &RegistryOptions,
        source: Option<&DockerRef>,
    ) -> Result<RegistryDestination> {
        let (r, opts) = &mirrors::resolve(r, opts)?;
        let mount_from = source
            .filter(|s| s.domain == r.domain && s.path != r.path)
            .map(|s| s.path.clone());
        Ok(RegistryDestination {
            client: connect(r, opts)?,
            name: r.clone(),
            mount_from,
            pushed: (!opts.no_read_back).then(Default::default),
            owner: ledger::new_owner(),
        })
    }
}

impl ImageDestination for RegistryDestination {
    fn describe(&self) -> String {
        format!("docker://{}", self.name)
    }

    fn caps(&self) -> DestCaps {
        DestCaps {
            formats: &[Format::Oci, Format::V2s2],
            layers: LayerPolicy::Compressed,
            stores_index: true,
            sequential: false,
        }
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        Ok(self.reuse_blob(desc)? != Reuse::Absent)
    }

    /// Present (HEAD), or mounted from the source repository, or from a repository this run
    /// pushed it to; else the run's claim to upload it (see `ledger.rs`).
    fn reuse_blob(&self, desc: &Descriptor) -> Result<Reuse> {
        let d = desc.digest.to_string();
        let reuse = self.find_blob(desc)?;
        if reuse != Reuse::Absent {
            ledger::holds(&self.name.domain, &d, &self.name.path);
        }
        Ok(reuse)
    }

    /// `HEAD /v2/REPO/manifests/DIGEST`.
    fn has_manifest(&self, desc: &Descriptor) -> Result<bool> {
        let digest = desc.digest.to_string();
        let o = direct::Object {
            what: format!("the manifest {digest}"),
            path: format!("manifests/{digest}"),
            digest,
            size: desc.size,
            media_type: Some(desc.media_type.clone()),
        };
        Ok(self.client.head_fresh(&o, "pull,push")? == direct::Answer::Present)
    }

    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        Ok(Box::new(RegistryBlobWriter {
            upload: self.client.begin_upload(expected)?,
            dest: self,
        }))
    }

    fn upload_retries(&self) -> RetryPolicy {
        self.client.retry_policy().clone()
    }

    /// An upload of bytes in memory restarts from them, in a fresh session, when it fails
    /// for a transient reason or the registry loses the session.
    fn put_bytes(&self, bytes: &[u8], desc: &Descriptor) -> Result<Reuse> {
        let what = format!("uploading the blob {}", desc.digest);
        crate::retry::run(self.client.retry_policy(), &what, errors::classify, || {
            crate::transport::store_bytes(self, bytes, desc)
        })
    }

    fn put_manifest(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.client
            .put_manifest(manifest, &desc.media_type)
            .map_err(blobs_unknown)
    }

    fn put_child_manifest(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.client
            .put_manifest_by_digest(manifest, &desc.media_type, &desc.digest)?;
        if let Some(p) = &self.pushed {
            p.lock()
                .expect("not poisoned")
                .manifest(manifest, desc, None);
        }
        Ok(())
    }

    /// put_manifest made the image visible; the push is done when the registry serves
    /// every part of it (see `read_back.rs`).
    fn commit(self: Box<Self>, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        tracing::debug!("{} now points at {}", self.describe(), desc.digest);
        let Some(pushed) = &self.pushed else {
            return Ok(());
        };
        let mut pushed = std::mem::take(&mut *pushed.lock().expect("not poisoned"));
        pushed.manifest(manifest, desc, self.name.tag.as_deref());
        read_back::check(&self.client, &pushed, "pull,push")
    }

    fn referrer_sink(&self) -> Option<&dyn crate::transport::referrers::ReferrerSink> {
        Some(self)
    }
}

/// `MANIFEST_BLOB_UNKNOWN` marked as [`crate::transport::BlobsUnknown`], so that the copy
/// pushes the image's blobs again.
fn blobs_unknown(e: anyhow::Error) -> anyhow::Error {
    let code = crate::retry::find::<errors::RegistryError>(&e).and_then(|r| r.code.as_deref());
    match code {
        Some("MANIFEST_BLOB_UNKNOWN") => e.context(crate::transport::BlobsUnknown),
        _ => e,
    }
}

impl RegistryDestination {
    fn find_blob(&self, desc: &Descriptor) -> Result<Reuse> {
        if self.client.blob_exists(&desc.digest)? {
            return Ok(Reuse::Present);
        }
        if let Some(from) = &self.mount_from {
            if self.client.mount(from, &desc.digest) {
                return Ok(Reuse::Mounted);
            }
        }
        let d = desc.digest.to_string();
        match ledger::claim(&self.name.domain, &d, &self.name.path, self.owner) {
            ledger::Claim::MountFrom(repo) if self.client.mount(&repo, &desc.digest) => {
                tracing::debug!("{d}: mounted from {repo}, where this run pushed it");
                Ok(Reuse::Mounted)
            }
            _ => Ok(Reuse::Absent),
        }
    }
}

struct RegistryBlobWriter<'a> {
    upload: Upload,
    dest: &'a RegistryDestination,
}

impl Write for RegistryBlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.upload.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.upload.flush()
    }
}

impl BlobWriter for RegistryBlobWriter<'_> {
    fn commit(self: Box<Self>, desc: &Descriptor) -> Result<()> {
        let name = &self.dest.name;
        self.upload.finish(desc)?;
        ledger::holds(&name.domain, &desc.digest.to_string(), &name.path);
        Ok(())
    }
}
