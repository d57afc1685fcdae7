//! The probe's requests. The probe must see raw statuses, headers and error envelopes,
//! which oci-client hides, so it sends them through the registry HTTP layer's
//! [`Direct::raw`] (its client, stall guard, body limits and failure classifier), without
//! retries. It answers `WWW-Authenticate` challenges itself (basic, and bearer tokens from
//! the layer's one token fetcher), and never puts a password or token in a message or a
//! log line.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use tokio::runtime::Runtime;

use super::super::auth::{Found, Secret};
use super::super::challenge;
pub use super::super::challenge::Challenge;
use super::super::client::{speaks_https, Target};
use super::super::direct::{basic, Direct, Raw, RawRequest};
use super::super::errors::{self, redact};
use super::super::http::Connections;
use super::super::rate_limit::RateLimit;
use super::super::tls::TlsSettings;

/// A registry's answer: a success body read through the 4 MiB limit, an error body cut at
/// 64 KiB (see [`Raw`]).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The first error of the error envelope: `MANIFEST_INVALID`.
    pub code: Option<String>,
    pub message: Option<String>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `201`, or `415 MANIFEST_INVALID`.
    pub fn evidence(&self) -> String {
        match &self.code {
            Some(c) => format!("{} {c}", self.status),
            None => self.status.to_string(),
        }
    }
}

/// How the registry asks clients to authenticate (from `GET /v2/`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AuthInfo {
    /// `none`, `basic` or `bearer` (or the scheme the registry named).
    pub scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Where the credentials came from (`--creds`, a file), never the credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_from: Option<String>,
}

/// The credential the next request carries.
enum Sending {
    Nothing,
    Basic,
    Bearer(Secret),
}

/// An HTTP client for one registry, with its authentication state.
pub struct Http {
    rt: Runtime,
    /// The registry HTTP layer: its client (pooled, or a new connection per request), stall
    /// guard, body limits, failure classifier and token fetcher.
    direct: Direct,
    /// `http://127.0.0.1:5000`
    pub base: Url,
    creds: Option<Found>,
    sending: Sending,
    /// Bearer tokens by the scope they were issued for.
    tokens: HashMap<String, Secret>,
    /// One line per request, for `--debug` (no credentials).
    pub log_requests: bool,
    /// The first challenge the registry sent, for the report.
    pub first_challenge: Option<Challenge>,
    /// The last rate limit the registry announced.
    pub rate_limit: Option<RateLimit>,
}

/// A request to make; `url` is a path (`/v2/...`) or an absolute URL (a `Location`).
pub struct Req<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
    /// On a new connection (see [`Connections::Fresh`]).
    pub fresh: bool,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, url: &'a str) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: None,
            fresh: false,
        }
    }
    pub fn header(mut self, k: &'static str, v: impl Into<String>) -> Req<'a> {
        self.headers.push((k, v.into()));
        self
    }
    pub fn body(mut self, b: impl Into<Bytes>) -> Req<'a> {
        self.body = Some(b.into());
        self
    }
    pub fn fresh(mut self, yes: bool) -> Req<'a> {
        self.fresh = yes;
        self
    }
}

impl Http {
    /// Connects to `host`. With `tls.verify` false, HTTPS is tried first and plain HTTP
    /// when the registry does not speak TLS: the rule, and the ping, of every command.
    pub fn connect(
        host: &str,
        repo: &str,
        tls: &TlsSettings,
        creds: Option<Found>,
        stall: Option<Duration>,
    ) -> Result<Http> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let target = Target {
            host,
            repo,
            tag: None,
            digest: None,
        };
        let http = !tls.verify && !speaks_https(host, &target, tls, stall);
        let base = Url::parse(&format!(
            "{}://{host}/",
            if http { "http" } else { "https" }
        ))
        .with_context(|| format!("{host:?} is not a registry host"))?;
        let direct_creds = creds.as_ref().map(|f| (f.creds.clone(), f.origin.clone()));
        let direct = Direct::new(http, host, host, repo, tls, direct_creds, stall)?;
        Ok(Http {
            direct,
            rt,
            base,
            creds,
            sending: Sending::Nothing,
            tokens: HashMap::new(),
            log_requests: true,
            first_challenge: None,
            rate_limit: None,
        })
    }

    /// Where the credentials came from, for the report.
    pub fn creds_origin(&self) -> Option<String> {
        self.creds.as_ref().map(|f| f.origin.clone())
    }

    /// Makes a request, answering one authentication challenge on the way.
    pub fn send(&mut self, req: &Req) -> Result<Resp> {
        let url = self
            .base
            .join(req.url)
            .with_context(|| format!("the registry sent an unusable URL {:?}", redact(req.url)))?;
        let mut answered = false;
        loop {
            let resp = self.send_once(req, &url)?;
            if let Some(l) = RateLimit::from_headers(&resp.headers) {
                self.rate_limit = Some(l);
            }
            if resp.status == 401 && !answered {
                answered = true;
                if let Some(ch) = resp
                    .header("www-authenticate")
                    .and_then(|h| challenge::parse(&h))
                {
                    if self.first_challenge.is_none() {
                        self.first_challenge = Some(ch.clone());
                    }
                    if self.answer(&ch)? {
                        continue;
                    }
                }
            }
            return Ok(resp);
        }
    }

    fn send_once(&self, req: &Req, url: &Url) -> Result<Resp> {
        let mut headers = HeaderMap::new();
        for (k, v) in &req.headers {
            let v = HeaderValue::from_str(v)
                .map_err(|_| anyhow!("the header {k} cannot carry {v:?}"))?;
            headers.insert(*k, v);
        }
        let raw = RawRequest {
            method: req.method.clone(),
            url: url.clone(),
            headers,
            authorization: self.authorization()?,
            body: req.body.clone(),
            conns: if req.fresh {
                Connections::Fresh
            } else {
                Connections::Pooled
            },
        };
        let what = format!("{} {}", req.method, redact(url.as_str()));
        let Raw {
            status,
            headers,
            body,
        } = self.rt.block_on(self.direct.raw(raw, &what))?;
        if self.log_requests {
            tracing::debug!("probe: {what} → {status}");
        }
        let (code, message) = match errors::parse_envelope(&String::from_utf8_lossy(&body)) {
            Some((c, m)) => (Some(c), Some(m)),
            None => (None, None),
        };
        Ok(Resp {
            status,
            headers,
            body,
            code,
            message,
        })
    }

    fn authorization(&self) -> Result<Option<HeaderValue>> {
        let secret = match (&self.sending, &self.creds) {
            (Sending::Basic, Some(f)) => basic(&f.creds),
            (Sending::Bearer(t), _) => Secret::new(format!("Bearer {}", t.expose())),
            _ => return Ok(None),
        };
        let mut v = HeaderValue::from_str(secret.expose())
            .map_err(|_| anyhow!("the credentials hold characters a header cannot carry"))?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    /// Prepares the credential a challenge asks for; false when there is nothing to try.
    fn answer(&mut self, ch: &Challenge) -> Result<bool> {
        match ch.scheme.as_str() {
            "basic" if self.creds.is_some() && !matches!(self.sending, Sending::Basic) => {
                self.sending = Sending::Basic;
                Ok(true)
            }
            "bearer" => {
                let scope = ch.params.get("scope").cloned().unwrap_or_default();
                if let Some(t) = self.tokens.get(&scope) {
                    if !matches!(&self.sending, Sending::Bearer(s) if s == t) {
                        self.sending = Sending::Bearer(t.clone());
                        return Ok(true);
                    }
                }
                let token = self.fetch_token(ch, &scope)?;
                self.tokens.insert(scope, token.clone());
                self.sending = Sending::Bearer(token);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// `GET realm?service=..&scope=..`, with basic credentials when there are some: by the
    /// HTTP layer's one token fetcher (its reply capped, its failures named), not retried.
    fn fetch_token(&self, ch: &Challenge, scope: &str) -> Result<Secret> {
        let realm = ch
            .params
            .get("realm")
            .ok_or_else(|| anyhow!("the registry's bearer challenge names no realm"))?;
        let realm =
            Url::parse(realm).with_context(|| format!("the token realm {realm:?} is not a URL"))?;
        let scopes: Vec<String> = scope.split_whitespace().map(str::to_string).collect();
        let service = ch.params.get("service").map(String::as_str);
        let action = "requesting a bearer token";
        let fetched = self
            .rt
            .block_on(self.direct.token(&realm, service, &scopes, action));
        tracing::debug!(
            "probe: GET token from {} → {}",
            redact(realm.as_str()),
            if fetched.is_ok() { "a token" } else { "failed" }
        );
        Ok(fetched?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_info_and_upload_state() {
        let r = redact("https://u:p@reg.example/v2/a/blobs/uploads/x?_state=abc&digest=sha256:1");
        assert!(!r.contains("u:p") && !r.contains("abc"), "{r}");
        assert!(r.contains("digest=sha256"), "{r}");
    }
}
