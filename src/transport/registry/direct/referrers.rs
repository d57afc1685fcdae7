//! The referrers API (`GET /v2/<name>/referrers/<digest>`, following `Link` pages) and
//! manifest PUTs whose answer's `OCI-Subject` header matters: oci-client hides response
//! headers, so both are sent here.

use std::collections::HashSet;

use anyhow::{anyhow, bail, Result};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::tags::link_next;
use super::{Direct, MAX_DOCUMENT};
use crate::manifest::{Descriptor, Index};
use crate::media_type as mt;

/// Pages of a referrers listing followed before giving up.
const MAX_PAGES: usize = 64;

/// What the referrers API answered.
#[derive(Debug)]
pub enum ApiAnswer {
    /// 200 with an image index: the descriptors of every page.
    Listed(Vec<Descriptor>),
    /// The registry has no referrers API: the status it answered (404, or 400, 405, 501
    /// from registries that do not route the path), so the client uses the tag schema.
    NotImplemented(u16),
}

impl Direct {
    /// Every referrer the registry lists for `digest`.
    pub async fn referrers_api(&self, digest: &str) -> Result<ApiAnswer> {
        let action = format!("listing the referrers of {digest}");
        let mut url = self
            .base
            .join(&format!("v2/{}/referrers/{digest}", self.repo))
            .map_err(|e| anyhow!("{action}: {e}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(mt::OCI_INDEX));
        let scopes = [format!("repository:{}:pull", self.repo)];
        let (mut all, mut visited) = (Vec::new(), HashSet::new());
        loop {
            visited.insert(url.clone());
            let resp = self
                .send_with(Method::GET, url.clone(), &headers, &scopes, &action)
                .await?;
            let status = resp.status();
            if matches!(status.as_u16(), 400 | 404 | 405 | 501) && visited.len() == 1 {
                // The body is the registry's, not a listing; read for nothing.
                let _ = self.error_body(resp).await;
                return Ok(ApiAnswer::NotImplemented(status.as_u16()));
            }
            if status != StatusCode::OK {
                return Err(self.refused(&action, resp).await);
            }
            let next = link_next(resp.headers());
            let body = self
                .body(&action, "the referrers list", resp, MAX_DOCUMENT)
                .await?;
            let page: Index = serde_json::from_slice(&body).map_err(|e| {
                anyhow!("{action}: the registry's answer is not an image index: {e}")
            })?;
            all.extend(page.manifests);
            let Some(link) = next else {
                return Ok(ApiAnswer::Listed(all));
            };
            let u = url
                .join(&link)
                .map_err(|e| anyhow!("{action}: the Link {link:?} is not a URL: {e}"))?;
            if !self.same_origin(&u) {
                bail!("{action}: the registry's next page {u} is on another host");
            }
            if visited.contains(&u) || visited.len() >= MAX_PAGES {
                return Ok(ApiAnswer::Listed(all));
            }
            url = u;
        }
    }

    /// PUTs `bytes` as the manifest `reference` (a tag or a digest) and returns the
    /// `OCI-Subject` header of the answer: a registry that indexes referrers sends it.
    pub async fn put_manifest(
        &self,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Option<String>> {
        let action = format!("pushing the {media_type} manifest {reference}");
        let url = self
            .base
            .join(&format!("v2/{}/manifests/{reference}", self.repo))
            .map_err(|e| anyhow!("{action}: {e}"))?;
        let mut headers = HeaderMap::new();
        let ct = HeaderValue::from_str(media_type)
            .map_err(|_| anyhow!("{action}: the media type is not a header value"))?;
        headers.insert(CONTENT_TYPE, ct);
        let scopes = [format!("repository:{}:pull,push", self.repo)];
        let body = Some(bytes::Bytes::copy_from_slice(bytes));
        let resp = self
            .send_on(
                super::Connections::Pooled,
                (Method::PUT, url, body),
                &headers,
                &scopes,
                &action,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.refused(&action, resp).await);
        }
        let subject = resp
            .headers()
            .get("oci-subject")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let _ = self.error_body(resp).await;
        Ok(subject)
    }
}
