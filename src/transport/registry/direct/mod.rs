//! The requests oci-client 0.18 cannot make, sent with reqwest (the HTTP client under
//! oci-client, with the same TLS settings): a cross-repository mount, whose bearer token
//! must grant pull on the source repository as well as push on the destination (oci-client
//! asks for one repository's scope), and tag lists that follow the `Link` header
//! (oci-client hides response headers). Tokens are cached per scope set until shortly
//! before they expire; neither they nor passwords are ever logged.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, Result};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Client, Method, Response, StatusCode, Url};
use tokio::sync::Mutex;

mod auth;
mod delete;
mod login;
mod mount;
mod raw;
mod read_back;
mod referrers;
mod tags;

use super::auth::{Credentials, Secret};
use super::below::Below;
use super::errors::{self, error_chain, RegistryError};
use super::http::Connections;
use super::rate_limit::{self, RateLimit};
use super::stall::{read_body, BodyError};
use super::tls::TlsSettings;
pub(in crate::transport::registry) use auth::basic;
use auth::AuthState;
pub use auth::Credential;
pub use raw::{Raw, RawRequest};
pub use read_back::{Answer, Object};
pub use referrers::ApiAnswer;

/// A tag list larger than this is refused.
const MAX_REPLY: usize = 16 << 20;
/// A manifest or token reply larger than this is refused.
const MAX_DOCUMENT: usize = 4 << 20;
/// Only this much of an error body is read, for its message.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Direct requests to one repository of one registry.
pub struct Direct {
    http: OnceLock<Client>,
    /// For the probe: a new connection per request (see [`Connections::Fresh`]).
    fresh: OnceLock<Client>,
    tls: TlsSettings,
    /// `http://127.0.0.1:5000/`
    base: Url,
    /// The registry as the user wrote it, for errors.
    host: String,
    repo: String,
    creds: Option<Credentials>,
    creds_origin: Option<String>,
    /// `--registry-token`: sent as the bearer token, with no token exchange.
    token: Option<Secret>,
    /// Held while the challenge is probed or a token fetched, so concurrent mounts share one.
    auth: Mutex<AuthState>,
    /// `--stall-timeout`: how long a request may wait for its answer, or a body for its next
    /// bytes.
    stall: Option<Duration>,
}

impl Direct {
    /// `registry` is where the API lives (`registry-1.docker.io`), `host` what the user wrote.
    pub fn new(
        http: bool,
        registry: &str,
        host: &str,
        repo: &str,
        tls: &TlsSettings,
        creds: Option<(Credentials, String)>,
        stall: Option<Duration>,
    ) -> Result<Direct> {
        let scheme = if http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{registry}/"))
            .map_err(|e| anyhow!("{registry:?} is not a registry address: {e}"))?;
        let (creds, creds_origin) = creds.map_or((None, None), |(c, o)| (Some(c), Some(o)));
        Ok(Direct {
            http: OnceLock::new(),
            fresh: OnceLock::new(),
            tls: tls.clone(),
            base,
            host: host.to_string(),
            repo: repo.to_string(),
            creds,
            creds_origin,
            token: None,
            auth: Mutex::new(AuthState::default()),
            stall,
        })
    }

    /// Sends `token` (`--registry-token`) wherever the registry asks for a bearer token,
    /// instead of fetching one; `origin` names it in errors.
    pub fn with_token(mut self, token: Option<(Secret, String)>) -> Direct {
        if let Some((t, origin)) = token {
            self.token = Some(t);
            self.creds_origin = Some(origin);
        }
        self
    }

    /// Sends `req` through the stall guard: no answer within `--stall-timeout` is a
    /// `TimedOut` failure naming `action`, retried like a reset connection.
    async fn guarded(&self, action: &str, req: reqwest::RequestBuilder) -> Result<Response> {
        match super::stall::within(self.stall, req.send()).await {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(self.send_error(action, &e).await),
            None => Err(self.stalled(action)),
        }
    }

    fn stalled(&self, action: &str) -> anyhow::Error {
        let d = self.stall.unwrap_or_default();
        let what = format!("registry {}, repository {}: {action}", self.host, self.repo);
        anyhow::Error::new(crate::retry::stalled(&what, d))
    }

    /// The body of `resp`, refused past `limit` bytes (`what` names it: "the manifest"),
    /// each chunk through the stall guard.
    async fn body(
        &self,
        action: &str,
        what: &str,
        resp: Response,
        limit: usize,
    ) -> Result<Vec<u8>> {
        match read_body(resp, limit, false, self.stall).await {
            Ok(b) => Ok(b),
            Err(BodyError::Http(e)) => Err(self.transport_error(action, &e)),
            Err(BodyError::Stalled) => Err(self.stalled(action)),
            Err(BodyError::Over) => {
                let why = format!("{what} is over the {} limit", size_text(limit));
                Err(anyhow::Error::new(
                    self.scope().error(action, None, None, &why, false),
                ))
            }
        }
    }

    /// An error body, for the message only: its first 64 KiB, or nothing if it breaks.
    async fn error_body(&self, resp: Response) -> Vec<u8> {
        read_body(resp, MAX_ERROR_BODY, true, self.stall)
            .await
            .unwrap_or_default()
    }

    /// The HTTP client, built on first use (most connections never need it).
    fn client(&self) -> Result<&Client> {
        self.client_for(Connections::Pooled)
    }

    fn client_for(&self, conns: Connections) -> Result<&Client> {
        let cell = match conns {
            Connections::Pooled => &self.http,
            Connections::Fresh => &self.fresh,
        };
        if let Some(c) = cell.get() {
            return Ok(c);
        }
        let c = super::http::shared(&self.tls, conns)?;
        Ok(cell.get_or_init(|| c))
    }

    fn error(&self, action: &str, status: Option<u16>, body: &[u8]) -> RegistryError {
        let text = String::from_utf8_lossy(body);
        let (code, message) = match errors::parse_envelope(&text) {
            Some((c, m)) => (Some(c), m),
            None => {
                let (code, msg) = errors::status_code_and_message(status);
                (
                    code,
                    msg.map_or_else(|| text.trim().to_string(), str::to_string),
                )
            }
        };
        self.scope().error(action, status, code, &message, false)
    }

    fn scope(&self) -> errors::ErrorScope<'_> {
        errors::ErrorScope {
            registry: &self.host,
            repository: &self.repo,
            creds_origin: self.creds_origin.as_deref(),
            client_cert: self.tls.client_cert.as_ref().map(|(c, _)| c.as_path()),
        }
    }

    fn transport_error(&self, action: &str, e: &reqwest::Error) -> anyhow::Error {
        let below = Below::of_reqwest(e);
        anyhow::Error::new(self.scope().below_http(action, below, &error_chain(e)))
    }

    /// [`Direct::transport_error`], but when the connection closed without saying why
    /// ([`Below::Closed`]), asks again on fresh connections.
    async fn send_error(&self, action: &str, e: &reqwest::Error) -> anyhow::Error {
        if self.base.scheme() == "https" && Below::of_reqwest(e) == Below::Closed {
            let host = self.base.host_str().unwrap_or_default();
            let registry = match self.base.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            };
            if let Some((below, why)) = super::client_cert::tls_refusal(&registry, &self.tls).await
            {
                return anyhow::Error::new(self.scope().below_http(action, below, &why));
            }
        }
        self.transport_error(action, e)
    }

    /// The error for a response that is not a success.
    async fn refused(&self, action: &str, resp: Response) -> anyhow::Error {
        let status = resp.status().as_u16();
        let retry_after = rate_limit::retry_after(resp.headers());
        let limit = RateLimit::from_headers(resp.headers()).filter(RateLimit::used_up);
        let body = self.error_body(resp).await;
        let mut e = self.error(action, Some(status), &body);
        e.retry_after = retry_after;
        if let (Some(limit), 429) = (limit, status) {
            e.message = rate_limit::used_up_message(&limit, retry_after);
            e.limit_used_up = true;
            e.hint = None;
        }
        anyhow::Error::new(e)
    }

    /// Notes the registry's rate limit, once per run (at info level: a user near the limit
    /// wants to know before it is reached).
    fn note_rate_limit(&self, headers: &HeaderMap) {
        static SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if let Some(limit) = RateLimit::from_headers(headers) {
            if !SHOWN.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::info!("{}: rate limit: {limit}", self.host);
            }
        }
    }

    /// Whether `url` is on this registry (credentials and tokens go nowhere else).
    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    /// Sends a request needing `scopes`. A 401 with a cached token drops it and tries once
    /// more with a fresh one.
    async fn send(
        &self,
        method: Method,
        url: Url,
        scopes: &[String],
        action: &str,
    ) -> Result<Response> {
        self.send_with(method, url, &HeaderMap::new(), scopes, action)
            .await
    }

    /// [`Direct::send`] with extra request headers.
    async fn send_with(
        &self,
        method: Method,
        url: Url,
        headers: &HeaderMap,
        scopes: &[String],
        action: &str,
    ) -> Result<Response> {
        self.send_on(
            Connections::Pooled,
            (method, url, None),
            headers,
            scopes,
            action,
        )
        .await
    }

    /// [`Direct::send_with`] on a pooled connection or a new one, with a body or none.
    async fn send_on(
        &self,
        conns: Connections,
        (method, url, body): (Method, Url, Option<bytes::Bytes>),
        headers: &HeaderMap,
        scopes: &[String],
        action: &str,
    ) -> Result<Response> {
        debug_assert!(self.same_origin(&url), "credentials stay on the registry");
        for attempt in 0..2 {
            let authz = self.authorization(scopes, action).await?;
            let mut req = self
                .client_for(conns)?
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            if let Some(a) = &authz {
                let mut v = HeaderValue::from_str(a.expose())
                    .map_err(|_| anyhow!("{action}: the token is not a valid header value"))?;
                v.set_sensitive(true);
                req = req.header(AUTHORIZATION, v);
            }
            let resp = self.guarded(action, req).await?;
            if resp.status().is_success() {
                self.note_rate_limit(resp.headers());
            }
            if resp.status() == StatusCode::UNAUTHORIZED
                && attempt == 0
                && self.forget(scopes).await
            {
                continue;
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second pass")
    }
}

/// `4 MiB`, `64 KiB`.
fn size_text(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}
