//! Manifests: pulled through the HTTP layer (the body read through a limit, the digest
//! checked here when one was asked for) and pushed through oci-client, whose refusal of a
//! type becomes a [`ManifestRejected`] so that the next type can be tried.

use anyhow::{anyhow, Result};
use oci_client::{Reference, RegistryOperation as Op};

use super::super::direct::{Answer, Object};
use super::super::errors::{self, RegistryError};
use super::{rt, RegistryClient, ACCEPTED};
use crate::digest::Digest;
use crate::manifest::MAX_DOCUMENT_SIZE;
use crate::transport::ManifestRejected;

impl RegistryClient {
    /// The manifest the reference names, exactly as served.
    pub fn manifest(&self) -> Result<Vec<u8>> {
        let what = match (self.reference.digest(), self.reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let asked = self.reference.digest().map(str::to_string);
        self.pull_manifest(&what, asked.as_deref())
    }

    /// The manifest `digest` (an instance of an index), exactly as served.
    pub fn manifest_by_digest(&self, digest: &Digest) -> Result<Vec<u8>> {
        let d = digest.to_string();
        self.pull_manifest(&d, Some(&d))
    }

    /// `GET` a manifest through the HTTP layer (its body read through the 4 MiB limit, its
    /// `Retry-After` honoured). What vouches for a manifest is the digest it was asked for
    /// (by the user, or by the index or descriptor that references it), checked here or by
    /// the pipeline; a tag vouches for nothing, and a `Docker-Content-Digest` header is only
    /// the registry's word: one that disagrees with the bytes gets a warning naming the
    /// registry, as skopeo does, not a failure.
    fn pull_manifest(&self, what: &str, asked: Option<&str>) -> Result<Vec<u8>> {
        tracing::debug!(
            "GET manifest {what} from {}/{}",
            self.ctx.host,
            self.ctx.repo
        );
        let action = format!("pulling the manifest {what}");
        let limit = MAX_DOCUMENT_SIZE as usize;
        let (bytes, header) = crate::retry::run(&self.retry, &action, errors::classify, || {
            rt().block_on(self.direct.manifest(what, ACCEPTED, limit))
        })?;
        if let Some(want) = asked {
            let actual = match want.parse::<Digest>() {
                Ok(d) => Digest::of(d.algorithm(), &bytes),
                Err(_) => Digest::sha256_of(&bytes),
            };
            if actual.to_string() != want {
                anyhow::bail!("{action}: digest mismatch: asked for {want}, got {actual}");
            }
        }
        self.warn_if_header_lied(what, header.as_deref(), &bytes);
        Ok(bytes)
    }

    fn warn_if_header_lied(&self, what: &str, header: Option<&str>, bytes: &[u8]) {
        let Some(header) = header else { return };
        let actual = match header.parse::<Digest>() {
            Ok(h) if Digest::of(h.algorithm(), bytes) == h => return,
            Ok(h) => Digest::of(h.algorithm(), bytes),
            Err(_) => Digest::sha256_of(bytes),
        };
        tracing::warn!(
            "registry {} sent Docker-Content-Digest {header} with the manifest {what} of {}, \
             but its bytes are {actual}; using the bytes",
            self.ctx.host,
            self.ctx.repo,
        );
    }

    /// PUTs the manifest. A refusal of its type is a [`ManifestRejected`].
    pub fn put_manifest(&self, bytes: &[u8], media_type: &str) -> Result<()> {
        self.put_manifest_at(&self.reference, bytes, media_type)
    }

    /// Puts a manifest by its digest (an instance of an index, pushed before the index).
    pub fn put_manifest_by_digest(
        &self,
        bytes: &[u8],
        media_type: &str,
        digest: &Digest,
    ) -> Result<()> {
        let by_digest = Reference::with_digest(
            self.reference.registry().to_string(),
            self.reference.repository().to_string(),
            digest.to_string(),
        );
        self.put_manifest_at(&by_digest, bytes, media_type)
    }

    fn put_manifest_at(&self, reference: &Reference, bytes: &[u8], media_type: &str) -> Result<()> {
        tracing::debug!(
            "PUT manifest ({media_type}, {} bytes) to {}",
            bytes.len(),
            reference.whole()
        );
        let content_type: reqwest::header::HeaderValue = media_type
            .parse()
            .map_err(|_| anyhow!("media type {media_type:?} is not a valid header value"))?;
        let action = format!("pushing the {media_type} manifest");
        let mono = &self.oci.get()?.1;
        let r = self.request(&action, Op::Push, || {
            mono.push_manifest_raw(reference, bytes.to_vec(), content_type.clone())
        });
        match r {
            Ok(_) => Ok(()),
            Err(e) => match e.downcast::<RegistryError>() {
                Ok(e) if errors::is_manifest_type_rejection(e.status, e.code.as_deref()) => {
                    Err(anyhow::Error::new(ManifestRejected {
                        reason: e.to_string(),
                    }))
                }
                Ok(e) => Err(anyhow::Error::new(e)),
                Err(e) => Err(e),
            },
        }
    }
}

impl RegistryClient {
    /// Whether the registry serves `o`, asked on a new connection, with retries for
    /// transient failures (a 404 is an answer, not a failure).
    pub fn head_fresh(&self, o: &Object, scope: &str) -> Result<Answer> {
        let what = format!("reading back {}", o.what);
        crate::retry::run(&self.retry, &what, errors::classify, || {
            rt().block_on(self.direct.head_fresh(o, scope))
        })
    }

    /// The registry as the user wrote it, and the repository: for messages.
    pub fn names(&self) -> (&str, &str) {
        (&self.ctx.host, &self.ctx.repo)
    }
}

impl RegistryClient {
    /// The digest and media type of the manifest the reference names, by a HEAD (which
    /// Docker Hub does not count as a pull); `None` when the registry has none.
    pub fn head_manifest(&self) -> Result<Option<(Digest, String)>> {
        let reference = match (self.reference.digest(), self.reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let what = format!("asking for the manifest {reference}");
        let got = crate::retry::run(&self.retry, &what, errors::classify, || {
            rt().block_on(self.direct.head_manifest(&reference))
        })?;
        got.map(|(d, mt)| {
            let digest = d
                .parse()
                .map_err(|e| anyhow!("{what}: the registry gave the digest {d:?}: {e}"))?;
            Ok((digest, mt))
        })
        .transpose()
    }

    /// The digest of the manifest the reference names: its own digest, or for a tag the
    /// digest of the bytes served for it (in the algorithm of the registry's
    /// `Docker-Content-Digest`, sha256 without one).
    pub fn manifest_digest(&self) -> Result<Digest> {
        if let Some(d) = self.reference.digest() {
            return d.parse().map_err(|e| anyhow!("the digest {d}: {e:#}"));
        }
        let tag = self.reference.tag().unwrap_or("latest").to_string();
        let action = format!("pulling the manifest {tag}");
        let limit = MAX_DOCUMENT_SIZE as usize;
        let (bytes, header) = crate::retry::run(&self.retry, &action, errors::classify, || {
            rt().block_on(self.direct.manifest(&tag, ACCEPTED, limit))
        })?;
        self.warn_if_header_lied(&tag, header.as_deref(), &bytes);
        Ok(match header.as_deref().map(str::parse::<Digest>) {
            Some(Ok(h)) => Digest::of(h.algorithm(), &bytes),
            _ => Digest::sha256_of(&bytes),
        })
    }

    /// Deletes the manifest `digest`, with retries. A 404 on a retry means the try before
    /// it deleted the manifest (its answer was lost); on the first try, that there is none.
    pub fn delete_manifest(&self, digest: &Digest) -> Result<()> {
        let d = digest.to_string();
        let action = format!("deleting the manifest {d}");
        let tries = std::cell::Cell::new(0u32);
        let r = crate::retry::run(&self.retry, &action, errors::classify, || {
            tries.set(tries.get() + 1);
            rt().block_on(self.direct.delete_manifest(&d))
        });
        match r {
            Err(e) if tries.get() > 1 && status(&e) == Some(404) => Ok(()),
            r => r.map_err(deletion_disabled),
        }
    }
}

fn status(e: &anyhow::Error) -> Option<u16> {
    crate::retry::find::<RegistryError>(e).and_then(|r| r.status)
}

/// A 405 or `UNSUPPORTED` answer to a DELETE: the registry has deletion disabled.
fn deletion_disabled(e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<RegistryError>() {
        Ok(mut r) if r.status == Some(405) || r.code.as_deref() == Some("UNSUPPORTED") => {
            r.message = format!("the registry has deletion disabled ({})", r.message);
            r.hint = Some(
                "deletion is off in this registry's configuration; in distribution (docker-registry) it is storage.delete.enabled: true".into(),
            );
            anyhow::Error::new(r)
        }
        Ok(r) => anyhow::Error::new(r),
        Err(e) => e,
    }
}
