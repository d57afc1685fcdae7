//! `DELETE /v2/<name>/manifests/<digest>`, for `oci-copy delete`. The token asked for is
//! the one distribution wants for a DELETE (`repository:NAME:delete`); a registry whose
//! 401 challenge names another scope (`*`, say) gets a token for that, once.

use anyhow::{anyhow, Result};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Method, Response, StatusCode};

use super::super::challenge as www;
use super::Direct;

impl Direct {
    /// Deletes the manifest `digest` (every tag pointing at it goes with it). A refusal is
    /// an error whose code says why: `UNSUPPORTED` (405) where deletion is disabled,
    /// `MANIFEST_UNKNOWN` (404) where there is no such manifest.
    pub async fn delete_manifest(&self, digest: &str) -> Result<()> {
        let action = format!("deleting the manifest {digest}");
        let url = self
            .base
            .join(&format!("v2/{}/manifests/{digest}", self.repo))
            .map_err(|e| anyhow!("{action}: {e}"))?;
        let scopes = vec![format!("repository:{}:delete", self.repo)];
        let mut resp = self
            .send(Method::DELETE, url.clone(), &scopes, &action)
            .await?;
        if let Some(other) = other_scope(&resp, &scopes) {
            tracing::debug!(
                "{action}: the registry asks for the scope {}",
                other.join(" ")
            );
            resp = self.send(Method::DELETE, url, &other, &action).await?;
        }
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self.refused(&action, resp).await)
    }
}

/// The scopes a 401's bearer challenge names, when they are not the ones asked for.
fn other_scope(resp: &Response, asked: &[String]) -> Option<Vec<String>> {
    if resp.status() != StatusCode::UNAUTHORIZED {
        return None;
    }
    let header = resp.headers().get(WWW_AUTHENTICATE)?.to_str().ok()?;
    let challenge = www::parse(header).filter(|c| c.scheme == "bearer")?;
    let scopes: Vec<String> = challenge
        .params
        .get("scope")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    (!scopes.is_empty() && scopes != asked).then_some(scopes)
}
