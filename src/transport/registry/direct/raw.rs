//! Requests sent exactly as asked, for `oci-copy probe`, which must see every status,
//! header and error envelope as the registry gave it: no retry, no authentication of its
//! own (the probe answers challenges itself, with the one token fetcher). They still go
//! through this layer's client, stall guard, body limits and failure classifier.

use anyhow::Result;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};

use super::super::http::Connections;
use super::{Direct, MAX_DOCUMENT};

/// A registry's answer: a success body read through the 4 MiB limit, an error body cut at
/// 64 KiB.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One request for [`Direct::raw`].
pub struct RawRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub authorization: Option<HeaderValue>,
    pub body: Option<Bytes>,
    pub conns: Connections,
}

impl Direct {
    /// Sends `r` once; `action` names it in errors (`GET /v2/`).
    pub(in crate::transport::registry) async fn raw(
        &self,
        r: RawRequest,
        action: &str,
    ) -> Result<Raw> {
        let mut req = self
            .client_for(r.conns)?
            .request(r.method.clone(), r.url)
            .headers(r.headers);
        if let Some(a) = r.authorization {
            req = req.header(AUTHORIZATION, a);
        }
        if let Some(b) = r.body {
            req = req.body(b);
        } else if matches!(r.method, Method::PUT | Method::POST | Method::PATCH) {
            req = req.header("content-length", "0");
        }
        let resp = self.guarded(action, req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = if resp.status().is_success() {
            self.body(action, "the answer", resp, MAX_DOCUMENT).await?
        } else {
            self.error_body(resp).await
        };
        Ok(Raw {
            status,
            headers,
            body: Bytes::from(body),
        })
    }
}
