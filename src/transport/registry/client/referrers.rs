//! Referrer requests with retries, through the HTTP layer: the referrers API, manifests
//! named by tag that may be missing (the tag schema's `sha256-<hex>`, cosign's `.sig`), and
//! manifest PUTs whose `OCI-Subject` answer is wanted.

use anyhow::Result;

use super::super::direct::ApiAnswer;
use super::super::errors::{self, RegistryError};
use super::{rt, RegistryClient, ACCEPTED};
use crate::digest::Digest;
use crate::manifest::MAX_DOCUMENT_SIZE;

impl RegistryClient {
    /// What the referrers API answers for `subject`.
    pub fn referrers_api(&self, subject: &Digest) -> Result<ApiAnswer> {
        let d = subject.to_string();
        tracing::debug!("GET referrers/{d} from {}/{}", self.ctx.host, self.ctx.repo);
        let action = format!("listing the referrers of {d}");
        crate::retry::run(&self.retry, &action, errors::classify, || {
            rt().block_on(self.direct.referrers_api(&d))
        })
    }

    /// The manifest `tag` names, exactly as served, or `None` when the registry answers 404
    /// (no such tag, or no such repository). Nothing vouches for the bytes.
    pub fn manifest_if_tagged(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        let action = format!("pulling the manifest {tag}");
        let limit = MAX_DOCUMENT_SIZE as usize;
        let r = crate::retry::run(&self.retry, &action, errors::classify, || {
            rt().block_on(self.direct.manifest(tag, ACCEPTED, limit))
        });
        match r {
            Ok((bytes, _)) => Ok(Some(bytes)),
            Err(e)
                if crate::retry::find::<RegistryError>(&e)
                    .is_some_and(|r| r.status == Some(404)) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// PUTs a manifest by `reference` (a digest or a tag); returns the `OCI-Subject` header
    /// of the answer.
    pub fn put_manifest_answer(
        &self,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Option<String>> {
        tracing::debug!(
            "PUT manifest ({media_type}, {} bytes) to {}/{}:{reference}",
            bytes.len(),
            self.ctx.host,
            self.ctx.repo
        );
        let action = format!("pushing the manifest {reference}");
        crate::retry::run(&self.retry, &action, errors::classify, || {
            rt().block_on(self.direct.put_manifest(reference, bytes, media_type))
        })
    }
}
