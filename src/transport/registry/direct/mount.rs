//! The mount of a blob from another repository (with a token for both), and the GET of a
//! manifest as served (for the registry whose `Docker-Content-Digest` oci-client refused).

use anyhow::{anyhow, Result};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, LOCATION};
use reqwest::{Method, StatusCode};

use super::Direct;

impl Direct {
    /// Mounts `digest` from repository `from` of this registry, with a token for both
    /// repositories. `Ok(false)` when the registry declined (it then opened an upload
    /// session, which is cancelled).
    pub async fn mount(&self, from: &str, digest: &str) -> Result<bool> {
        let action = format!("mounting the blob {digest} from {from}");
        let mut url = self
            .base
            .join(&format!("v2/{}/blobs/uploads/", self.repo))
            .map_err(|e| anyhow!("{action}: {e}"))?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let scopes = [
            format!("repository:{}:pull,push", self.repo),
            format!("repository:{from}:pull"),
        ];
        let resp = self.send(Method::POST, url, &scopes, &action).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                tracing::debug!("{action}: the registry declined and opened an upload");
                self.cancel_upload(resp.headers(), &scopes, &action).await;
                Ok(false)
            }
            _ => Err(self.refused(&action, resp).await),
        }
    }

    /// Deletes the upload session a declined mount opened; a failure only leaves it to expire.
    async fn cancel_upload(&self, headers: &HeaderMap, scopes: &[String], action: &str) {
        let Some(loc) = headers.get(LOCATION).and_then(|h| h.to_str().ok()) else {
            return;
        };
        let Ok(url) = self.base.join(loc) else { return };
        if !self.same_origin(&url) {
            return;
        }
        if let Err(e) = self.send(Method::DELETE, url, scopes, action).await {
            tracing::debug!("{action}: cancelling the upload failed: {e:#}");
        }
    }

    /// `GET` the manifest `reference` (a tag or a digest) as served: its bytes (at most
    /// `limit`) and the `Docker-Content-Digest` header, which nothing here checks. For a
    /// registry whose header oci-client refused: the caller checks the bytes themselves.
    pub async fn manifest(
        &self,
        reference: &str,
        accept: &[&str],
        limit: usize,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let action = format!("pulling the manifest {reference}");
        let url = self
            .base
            .join(&format!("v2/{}/manifests/{reference}", self.repo))
            .map_err(|e| anyhow!("{action}: {e}"))?;
        let mut headers = HeaderMap::new();
        let accept = HeaderValue::from_str(&accept.join(", "))
            .map_err(|_| anyhow!("{action}: media types that are not a header value"))?;
        headers.insert(ACCEPT, accept);
        let scopes = [format!("repository:{}:pull", self.repo)];
        let resp = self
            .send_with(Method::GET, url, &headers, &scopes, &action)
            .await?;
        if !resp.status().is_success() {
            return Err(self.refused(&action, resp).await);
        }
        let header = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let body = self.body(&action, "the manifest", resp, limit).await?;
        Ok((body, header))
    }
}
