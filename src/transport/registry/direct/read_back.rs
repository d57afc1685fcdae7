//! What a registry answers, on a new connection, when asked whether it has an object: the
//! reads of the read-back after a push (see `client/read_back.rs`). Each HEAD opens its own
//! connection, so that a load balancer that spreads connections over replicas spreads them.

use anyhow::{anyhow, Result};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_LENGTH};
use reqwest::{Method, StatusCode};

use super::super::http::Connections;
use super::Direct;

/// An object the registry must serve.
#[derive(Debug, Clone)]
pub struct Object {
    /// `the manifest sha256:…`, `the tag 1`, `the blob sha256:…`, for messages.
    pub what: String,
    /// Below the repository: `manifests/sha256:…`, `manifests/1`, `blobs/sha256:…`.
    pub path: String,
    /// The digest it must have, and its size.
    pub digest: String,
    pub size: u64,
    /// For a manifest, its media type (the `Accept` must allow it).
    pub media_type: Option<String>,
}

/// What one read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Present,
    /// 404: the registry (or the replica that answered) does not have it.
    Missing,
    /// Served, but under another digest (a tag pointing elsewhere).
    OtherDigest(String),
    /// Served with another size.
    OtherSize(u64),
}

/// The manifest types a HEAD accepts, besides the object's own.
const ACCEPTED: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl Direct {
    /// `HEAD` `o` on a new connection, with a token for `scope` (`pull` or `pull,push`).
    /// A refusal other than 404 (401, 5xx) is an error, for the caller's retry loop.
    pub async fn head_fresh(&self, o: &Object, scope: &str) -> Result<Answer> {
        let action = format!("reading back {}", o.what);
        let url = self
            .base
            .join(&format!("v2/{}/{}", self.repo, o.path))
            .map_err(|e| anyhow!("{action}: {e}"))?;
        let mut headers = HeaderMap::new();
        if let Some(mt) = &o.media_type {
            let accept = HeaderValue::from_str(&format!("{mt}, {ACCEPTED}"))
                .map_err(|_| anyhow!("{action}: the media type {mt:?} is not a header value"))?;
            headers.insert(ACCEPT, accept);
        }
        let scopes = [format!("repository:{}:{scope}", self.repo)];
        let resp = self
            .send_on(
                Connections::Fresh,
                (Method::HEAD, url, None),
                &headers,
                &scopes,
                &action,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(Answer::Missing);
        }
        if !resp.status().is_success() {
            return Err(self.refused(&action, resp).await);
        }
        let header = |name| resp.headers().get(name).and_then(|h| h.to_str().ok());
        // Only a digest of the same algorithm can contradict: docker-registry names a
        // sha512 blob by its sha256.
        let algorithm = |d: &str| d.split(':').next().map(str::to_string);
        if let Some(d) = header("docker-content-digest") {
            if d != o.digest && algorithm(d) == algorithm(&o.digest) {
                return Ok(Answer::OtherDigest(d.to_string()));
            }
        }
        match header(CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<u64>().ok()) {
            Some(n) if n != o.size => Ok(Answer::OtherSize(n)),
            _ => Ok(Answer::Present),
        }
    }
}

impl Direct {
    /// `HEAD` the manifest `reference` (a tag or a digest) on a pooled connection: the
    /// digest and media type the registry gives, or `None` when it has no such manifest.
    pub async fn head_manifest(&self, reference: &str) -> Result<Option<(String, String)>> {
        let action = format!("asking for the manifest {reference}");
        let url = self
            .base
            .join(&format!("v2/{}/manifests/{reference}", self.repo))
            .map_err(|e| anyhow!("{action}: {e}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPTED));
        let scopes = [format!("repository:{}:pull", self.repo)];
        let resp = self
            .send_on(
                Connections::Pooled,
                (Method::HEAD, url, None),
                &headers,
                &scopes,
                &action,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.refused(&action, resp).await);
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        };
        let Some(digest) = header("docker-content-digest") else {
            anyhow::bail!("{action}: the registry answered without a Docker-Content-Digest header");
        };
        let media_type = header("content-type").unwrap_or_default();
        Ok(Some((digest, media_type)))
    }
}
