//! The probe's own HTTP client. The probe must see raw statuses, headers and error
//! envelopes, which oci-client hides, so it speaks the distribution API directly with
//! reqwest: it answers `WWW-Authenticate` challenges itself (basic, and bearer tokens fetched
//! from the realm), and never puts a password or token in a message or a log line.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use serde::Serialize;
use tokio::runtime::Runtime;

use super::super::auth::{Found, Secret};
use super::super::challenge;
pub use super::super::challenge::Challenge;
use super::super::direct::Direct;
use super::super::errors::{self, error_chain, redact};
use super::super::tls::TlsSettings;

/// A registry's answer, read whole (the probe only moves tiny bodies).
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
    /// Keeps connections alive, as pushing clients do.
    pooled: reqwest::Client,
    /// Opens a new connection for every request, so that a load balancer that spreads
    /// connections over replicas spreads these requests too.
    fresh: reqwest::Client,
    /// `http://127.0.0.1:5000`
    pub base: Url,
    creds: Option<Found>,
    sending: Sending,
    /// Bearer tokens by the scope they were issued for.
    tokens: HashMap<String, Secret>,
    /// Fetches them: the HTTP layer's token fetcher, for this repository.
    fetcher: Direct,
    /// One line per request, for `--debug` (no credentials).
    pub log_requests: bool,
    /// The first challenge the registry sent, for the report.
    pub first_challenge: Option<Challenge>,
}

/// A request to make; `url` is a path (`/v2/...`) or an absolute URL (a `Location`).
pub struct Req<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
    /// On a new connection (see [`Http::fresh`]).
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

fn build_client(tls: &TlsSettings, pooled: bool) -> Result<reqwest::Client> {
    let mut b = tls
        .reqwest_builder()?
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("oci-copy/", env!("CARGO_PKG_VERSION"), " probe"));
    if !pooled {
        b = b.pool_max_idle_per_host(0);
    }
    b.build()
        .map_err(|e| anyhow!("setting up the HTTP client: {}", error_chain(&e)))
}

impl Http {
    /// Connects to `host`. With `tls.verify` false, HTTPS is tried first and plain HTTP
    /// when the registry does not speak TLS, as the other commands do.
    pub fn connect(
        host: &str,
        repo: &str,
        tls: &TlsSettings,
        creds: Option<Found>,
    ) -> Result<Http> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let pooled = build_client(tls, true)?;
        let https = Url::parse(&format!("https://{host}/"))
            .with_context(|| format!("{host:?} is not a registry host"))?;
        let mut base = https.clone();
        if !tls.verify {
            let url = https.join("v2/")?;
            // reqwest sets up its timers when `send` is called: inside the runtime.
            let r = rt.block_on(async { pooled.get(url).send().await });
            if let Err(e) = r {
                tracing::debug!(
                    "HTTPS to {host} failed ({}); using plain HTTP",
                    error_chain(&e)
                );
                base = Url::parse(&format!("http://{host}/"))?;
            }
        }
        let fetcher_creds = creds.as_ref().map(|f| (f.creds.clone(), f.origin.clone()));
        let http = base.scheme() == "http";
        let fetcher = Direct::new(http, host, host, repo, tls, fetcher_creds, None)?;
        Ok(Http {
            fetcher,
            rt,
            pooled,
            fresh: build_client(tls, false)?,
            base,
            creds,
            sending: Sending::Nothing,
            tokens: HashMap::new(),
            log_requests: true,
            first_challenge: None,
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
        let client = if req.fresh { &self.fresh } else { &self.pooled };
        let mut rb = client.request(req.method.clone(), url.clone());
        for (k, v) in &req.headers {
            rb = rb.header(*k, v);
        }
        if let Some(v) = self.authorization()? {
            rb = rb.header(AUTHORIZATION, v);
        }
        if let Some(b) = &req.body {
            rb = rb.body(b.clone());
        } else if matches!(req.method, Method::PUT | Method::POST | Method::PATCH) {
            rb = rb.header("content-length", "0");
        }
        let what = format!("{} {}", req.method, redact(url.as_str()));
        let r = self.rt.block_on(async {
            let resp = rb.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = r.map_err(|e| {
            // A registry that cannot be reached is worth probing again later: carry the
            // failure as a connection error, which the binary maps to its retryable exit code.
            let msg = format!("{what}: {}", error_chain(&e));
            if e.is_connect() || e.is_timeout() {
                let kind = if e.is_timeout() {
                    std::io::ErrorKind::TimedOut
                } else {
                    std::io::ErrorKind::ConnectionRefused
                };
                anyhow::Error::new(std::io::Error::new(kind, msg))
            } else {
                anyhow!(msg)
            }
        })?;
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
        use base64::Engine;
        let raw = match (&self.sending, &self.creds) {
            (Sending::Basic, Some(f)) => {
                let pair = format!("{}:{}", f.creds.username, f.creds.password.expose());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
            (Sending::Bearer(t), _) => format!("Bearer {}", t.expose()),
            _ => return Ok(None),
        };
        let mut v = HeaderValue::from_str(&raw)
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
            .block_on(self.fetcher.token(&realm, service, &scopes, action));
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
