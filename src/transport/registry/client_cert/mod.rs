//! TLS client certificates for oci-client's requests. oci-client 0.18 builds its HTTP client
//! itself, from a config with no field for a TLS client identity, and cannot be given one of
//! ours; so when the certificate directory holds a `*.cert` + `*.key` pair, `client/`
//! points oci-client at this bridge instead: an HTTP/1.1 forward proxy on 127.0.0.1:0 in the
//! registry runtime, to which oci-client speaks plain HTTP (`http://REGISTRY/...`, proxied)
//! and which forwards each request to `https://REGISTRY/...` with reqwest, presenting the
//! client certificate and trusting the configured CAs. Bodies stream both ways; nothing is
//! buffered. Absolute `https://` URLs in `Location`, `Link` and the bearer `realm` are
//! rewritten to `http://` so that uploads, redirects and token requests come back through
//! the bridge (which upgrades exactly the origins it rewrote); plain-HTTP URLs pass through.
//! A redirect to another host the bridge follows itself (see [`redirect_policy`]).
//!
//! Only this process can use the bridge: every request must carry a random 256-bit secret in
//! `Proxy-Authorization`, or gets 407. Credentials that oci-client sends cross the loopback
//! in the clear, as they would to any local proxy; nothing here logs a header or a body.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::runtime::Runtime;
use tokio::task::{JoinHandle, JoinSet};

use super::below::Below;
use super::errors::error_chain;
use super::tls::TlsSettings;

/// Failures the bridge recorded, at most this many (the oldest go first).
const MAX_FAILURES: usize = 64;

/// Why the bridge could not forward a request: kept by the bridge, keyed by the request's
/// path and query, and handed to oci-client's caller as it is (the 502 that oci-client
/// gets only says that the bridge failed; nothing reads its body).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The error chain, e.g. `received fatal alert: CertificateRequired`.
    pub message: String,
    /// What failed, from the typed errors of the chain.
    pub below: Below,
}

/// A running bridge to one registry; stops (with every connection) when dropped.
pub struct Bridge {
    /// `http://oci-copy:SECRET@127.0.0.1:PORT`: a secret, never logged.
    proxy_url: String,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("registry", &self.shared.registry)
            .finish_non_exhaustive()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

struct Shared {
    /// The registry as oci-client writes it in URLs: `127.0.0.1:5000`, `registry-1.docker.io`.
    registry: String,
    /// `http://REGISTRY/`: what oci-client asks for.
    http_origin: Url,
    /// `https://REGISTRY/`: where it goes.
    https_origin: Url,
    /// Other HTTPS origins (host, port) the bridge rewrote to `http://host:port`, and so
    /// upgrades back: a token realm, a storage redirect.
    upgraded: Mutex<HashSet<(String, u16)>>,
    /// The expected `Proxy-Authorization` value.
    authorization: Vec<u8>,
    client: reqwest::Client,
    /// Failures not yet claimed, by path and query of the request (see [`Bridge::failure`]).
    failures: Mutex<Vec<(String, Failure)>>,
}

impl Bridge {
    /// Starts a bridge to `https://{registry}` in `rt`, with the identity and CAs of `tls`.
    pub fn start(registry: &str, tls: &TlsSettings, rt: &Runtime) -> Result<Bridge> {
        let https_origin = Url::parse(&format!("https://{registry}/"))
            .map_err(|e| anyhow!("{registry:?} is not a registry address: {e}"))?;
        let http_origin = Url::parse(&format!("http://{registry}/"))
            .map_err(|e| anyhow!("{registry:?} is not a registry address: {e}"))?;
        let client = tls
            .reqwest_builder()?
            .user_agent(concat!("oci-copy/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .redirect(redirect_policy(https_origin.clone()))
            .build()
            .map_err(|e| anyhow!("setting up the HTTP client: {}", error_chain(&e)))?;
        let secret = hex::encode(random_bytes()?);
        let authorization = {
            use base64::Engine;
            let b64 =
                base64::engine::general_purpose::STANDARD.encode(format!("oci-copy:{secret}"));
            format!("Basic {b64}").into_bytes()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("starting the client-certificate bridge on 127.0.0.1")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = {
            let _in_runtime = rt.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            registry: registry.to_string(),
            http_origin,
            https_origin,
            upgraded: Mutex::new(HashSet::new()),
            authorization,
            client,
            failures: Mutex::new(Vec::new()),
        });
        let accept = rt.spawn(serve(listener, shared.clone()));
        tracing::debug!(
            "oci-client's requests to {registry} go through a bridge on {addr}, which makes them over HTTPS with the client certificate (oci-client logs them as http://)"
        );
        Ok(Bridge {
            proxy_url: format!("http://oci-copy:{secret}@{addr}"),
            shared,
            accept,
        })
    }

    /// The proxy URL for oci-client's `http_proxy` (holds the secret).
    pub fn proxy_url(&self) -> &str {
        &self.proxy_url
    }

    /// Whether the registry answers HTTPS (with the client certificate presented), for
    /// `--tls-verify=false`. A TLS failure other than a plain-HTTP answer means it does,
    /// and refused us.
    pub async fn speaks_https(&self) -> bool {
        let url = self
            .shared
            .https_origin
            .join("v2/")
            .expect("a constant path");
        match self.shared.client.get(url).send().await {
            Ok(_) => true,
            Err(e) => {
                let below = Below::of_reqwest(&e);
                let refused = below.is_tls() && below != Below::NotTls;
                if !refused {
                    tracing::debug!(
                        "HTTPS to {} failed ({}); using plain HTTP",
                        self.shared.registry,
                        error_chain(&e)
                    );
                }
                refused
            }
        }
    }

    /// Why the bridge could not forward the request to `url` (as oci-client wrote it), if
    /// it could not; the failure is claimed (a second call for it gives `None`). `None`: the
    /// answer, whatever its status, came from the registry.
    pub fn failure(&self, url: &str) -> Option<Failure> {
        let key = request_key(url)?;
        let mut failures = self.shared.failures.lock().expect("not poisoned");
        let i = failures.iter().rposition(|(k, _)| *k == key)?;
        Some(failures.remove(i).1)
    }
}

/// The path and query of `url`: what names a request to the bridge's one registry.
fn request_key(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    Some(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    })
}

/// Whether a request that failed below HTTP says nothing of the cause: the connection
/// closed before the request went out, or before the answer came.
pub fn unexplained(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "connection was not ready",
        "connection closed before message completed",
        "operation was canceled",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// Asks `https://{registry}/v2/` again, on fresh connections, why it refuses: the first
/// failure in TLS (a refused client certificate, an untrusted server certificate) and its
/// error chain, or `None` when the registry answers or fails otherwise.
pub async fn tls_refusal(registry: &str, tls: &TlsSettings) -> Option<(Below, String)> {
    let client = tls
        .reqwest_builder()
        .ok()?
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let url = format!("https://{registry}/v2/");
    for _ in 0..3 {
        match client.get(&url).send().await {
            Ok(_) => return None,
            Err(e) => {
                let below = Below::of_reqwest(&e);
                if below.is_tls() {
                    return Some((below, error_chain(&e)));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Redirects to another origin (blob downloads sent to storage or a CDN) are followed here,
/// not by oci-client: reqwest drops `Proxy-Authorization` when it follows a redirect to
/// another host, so oci-client's next request would reach the bridge without the secret and
/// get 407. reqwest drops `Authorization` and cookies on that hop too, so the registry's
/// credentials never reach the other host. A redirect within the registry goes back to
/// oci-client as it came (its `Location` rewritten by [`Shared::relay`]).
fn redirect_policy(registry: Url) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let to = attempt.url();
        let within = to.scheme() == registry.scheme()
            && to.host_str() == registry.host_str()
            && to.port_or_known_default() == registry.port_or_known_default();
        if within {
            attempt.stop()
        } else if attempt.previous().len() > 10 {
            attempt.error("more than 10 redirects")
        } else {
            tracing::debug!(
                "client-certificate bridge: following a redirect to {}://{}",
                to.scheme(),
                to.host_str().unwrap_or("")
            );
            attempt.follow()
        }
    })
}

/// 32 bytes from the kernel's random source.
fn random_bytes() -> Result<[u8; 32]> {
    use std::io::Read;
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom for the client-certificate bridge's secret")?;
    Ok(buf)
}

/// Accepts connections until the bridge is dropped; each is served by its own task, all
/// of which end with this one.
async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    conns.spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(shared.handle(req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                Err(e) => {
                    tracing::debug!("client-certificate bridge: accepting failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Headers that describe one connection, not the message, and the proxy's own.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(*n);
    }
}

/// Compares without an early exit, so the time taken says nothing about the secret.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn answer(status: StatusCode, text: String) -> Response<reqwest::Body> {
    let mut r = Response::new(reqwest::Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Response<reqwest::Body> {
        let authorized = req
            .headers()
            .get(header::PROXY_AUTHORIZATION)
            .is_some_and(|v| same_secret(v.as_bytes(), &self.authorization));
        if !authorized {
            let mut r = answer(
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                "this proxy serves only the oci-copy process that started it\n".into(),
            );
            r.headers_mut().insert(
                header::PROXY_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oci-copy\""),
            );
            return r;
        }
        let Some(url) = self.upstream(&req.uri().to_string()) else {
            return answer(
                StatusCode::BAD_REQUEST,
                "this proxy takes absolute http:// request targets only\n".into(),
            );
        };
        let key = request_key(&req.uri().to_string());
        let (parts, body) = req.into_parts();
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        let mut out = self
            .client
            .request(parts.method, url.clone())
            .headers(headers);
        if !body.is_end_stream() {
            out = out.body(reqwest::Body::wrap(body));
        }
        match out.send().await {
            Ok(resp) => self.relay(resp),
            Err(e) => {
                self.record(key, &url, &e);
                answer(
                    StatusCode::BAD_GATEWAY,
                    "the client-certificate bridge could not forward this request\n".into(),
                )
            }
        }
    }

    /// Keeps why the request `key` to `url` failed, for [`Bridge::failure`].
    fn record(&self, key: Option<String>, url: &Url, e: &reqwest::Error) {
        let message = error_chain(e);
        tracing::debug!(
            "client-certificate bridge: {} {}: {}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            super::errors::redact(&message)
        );
        let Some(key) = key else { return };
        let mut failures = self.failures.lock().expect("not poisoned");
        if failures.len() >= MAX_FAILURES {
            failures.remove(0);
        }
        let below = Below::of_reqwest(e);
        failures.push((key, Failure { message, below }));
    }

    /// The registry's response, with its URLs pointing back through the bridge.
    fn relay(&self, resp: reqwest::Response) -> Response<reqwest::Body> {
        let (mut parts, body) = Response::from(resp).into_parts();
        strip_hop_by_hop(&mut parts.headers);
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            if let Some(v) = parts.headers.get(&name).and_then(|v| v.to_str().ok()) {
                if let Some(new) = self.rewrite_url(v).and_then(|s| s.parse().ok()) {
                    parts.headers.insert(name, new);
                }
            }
        }
        rewrite_all(&mut parts.headers, header::LINK, |v| self.rewrite_link(v));
        rewrite_all(&mut parts.headers, header::WWW_AUTHENTICATE, |v| {
            self.rewrite_realm(v)
        });
        Response::from_parts(parts, body)
    }

    /// Where a request for `target` (absolute-form, from oci-client) goes: the registry over
    /// HTTPS, an origin rewritten earlier over HTTPS, or anything else as it is (plain HTTP).
    fn upstream(&self, target: &str) -> Option<Url> {
        let url = Url::parse(target).ok()?;
        if url.scheme() != "http" {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let port = url.port_or_known_default()?;
        let on = |base: &Url| {
            let mut u = base.clone();
            u.set_path(url.path());
            u.set_query(url.query());
            u
        };
        if Some(host.as_str()) == self.http_origin.host_str()
            && Some(port) == self.http_origin.port_or_known_default()
        {
            return Some(on(&self.https_origin));
        }
        let upgraded = self.upgraded.lock().expect("not poisoned");
        if url.port().is_some() && upgraded.contains(&(host.clone(), port)) {
            return Url::parse(&format!("https://{host}:{port}/"))
                .ok()
                .map(|b| on(&b));
        }
        Some(url)
    }

    /// `https://REGISTRY/x` → `http://REGISTRY/x`; another `https://h:p/x` → `http://h:p/x`
    /// (remembered, so that it is upgraded back). `None` for anything else (relative URLs,
    /// plain HTTP), which stays as it is.
    fn rewrite_url(&self, s: &str) -> Option<String> {
        let url = Url::parse(s).ok()?;
        if url.scheme() != "https" {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let port = url.port_or_known_default()?;
        let rest = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        if Some(host.as_str()) == self.https_origin.host_str()
            && Some(port) == self.https_origin.port_or_known_default()
        {
            return Some(format!("http://{}{rest}", self.registry));
        }
        self.upgraded
            .lock()
            .expect("not poisoned")
            .insert((host.clone(), port));
        Some(format!("http://{host}:{port}{rest}"))
    }

    /// Rewrites each `<URL>` of a `Link` header.
    fn rewrite_link(&self, v: &str) -> Option<String> {
        let mut out = String::with_capacity(v.len());
        let mut rest = v;
        let mut changed = false;
        while let Some(open) = rest.find('<') {
            let close = open + rest[open..].find('>')?;
            out.push_str(&rest[..=open]);
            match self.rewrite_url(&rest[open + 1..close]) {
                Some(u) => {
                    out.push_str(&u);
                    changed = true;
                }
                None => out.push_str(&rest[open + 1..close]),
            }
            rest = &rest[close..];
        }
        out.push_str(rest);
        changed.then_some(out)
    }

    /// Rewrites the `realm="URL"` of a bearer challenge.
    fn rewrite_realm(&self, v: &str) -> Option<String> {
        let start = v.to_ascii_lowercase().find("realm=\"")? + "realm=\"".len();
        let end = start + v[start..].find('"')?;
        let new = self.rewrite_url(&v[start..end])?;
        Some(format!("{}{new}{}", &v[..start], &v[end..]))
    }
}

/// Replaces every value of header `name` that `f` rewrites.
fn rewrite_all(headers: &mut HeaderMap, name: HeaderName, f: impl Fn(&str) -> Option<String>) {
    let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
    if values.is_empty() {
        return;
    }
    let new: Vec<HeaderValue> = values
        .iter()
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(&f)
                .and_then(|s| HeaderValue::from_str(&s).ok())
                .unwrap_or_else(|| v.clone())
        })
        .collect();
    headers.remove(&name);
    for v in new {
        headers.append(name.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(registry: &str) -> Shared {
        Shared {
            registry: registry.to_string(),
            http_origin: Url::parse(&format!("http://{registry}/")).unwrap(),
            https_origin: Url::parse(&format!("https://{registry}/")).unwrap(),
            upgraded: Mutex::new(HashSet::new()),
            authorization: b"Basic x".to_vec(),
            client: reqwest::Client::new(),
            failures: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn registry_urls_come_back_through_the_bridge() {
        let s = shared("reg.example");
        assert_eq!(
            s.rewrite_url("https://reg.example:443/v2/a/blobs/uploads/u?_state=x")
                .as_deref(),
            Some("http://reg.example/v2/a/blobs/uploads/u?_state=x")
        );
        assert_eq!(s.rewrite_url("/v2/a/blobs/uploads/u"), None);
        assert_eq!(s.rewrite_url("http://plain.example/x"), None);
        assert_eq!(
            s.upstream("http://reg.example/v2/a/blobs/uploads/u?_state=x")
                .unwrap()
                .as_str(),
            "https://reg.example/v2/a/blobs/uploads/u?_state=x"
        );
        let s = shared("127.0.0.1:5000");
        assert_eq!(
            s.rewrite_url("https://127.0.0.1:5000/v2/").as_deref(),
            Some("http://127.0.0.1:5000/v2/")
        );
        assert_eq!(
            s.upstream("http://127.0.0.1:5000/v2/").unwrap().as_str(),
            "https://127.0.0.1:5000/v2/"
        );
        assert_eq!(s.upstream("https://127.0.0.1:5000/v2/"), None);
        assert_eq!(s.upstream("/v2/"), None);
    }

    #[test]
    fn other_https_origins_are_upgraded_only_once_rewritten() {
        let s = shared("reg.example");
        assert_eq!(
            s.upstream("http://auth.example:443/token")
                .unwrap()
                .as_str(),
            "http://auth.example:443/token"
        );
        assert_eq!(
            s.rewrite_realm(r#"Bearer realm="https://auth.example/token",service="reg""#)
                .as_deref(),
            Some(r#"Bearer realm="http://auth.example:443/token",service="reg""#)
        );
        assert_eq!(
            s.upstream("http://auth.example:443/token?scope=a")
                .unwrap()
                .as_str(),
            "https://auth.example/token?scope=a"
        );
        // Plain HTTP to the same host stays plain.
        assert_eq!(
            s.upstream("http://auth.example/token").unwrap().as_str(),
            "http://auth.example/token"
        );
        assert_eq!(s.rewrite_realm(r#"Basic realm="registry""#), None);
    }

    #[test]
    fn link_targets_are_rewritten() {
        let s = shared("reg.example");
        assert_eq!(
            s.rewrite_link(r#"<https://reg.example/v2/a/tags/list?n=2&last=b>; rel="next""#)
                .as_deref(),
            Some(r#"<http://reg.example/v2/a/tags/list?n=2&last=b>; rel="next""#)
        );
        assert_eq!(s.rewrite_link(r#"</v2/a/tags/list?n=2>; rel="next""#), None);
    }

    #[test]
    fn hop_by_hop_headers_and_the_secret_stay_here() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic s"));
        h.insert("authorization", HeaderValue::from_static("Bearer t"));
        h.insert("content-length", HeaderValue::from_static("3"));
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["authorization", "content-length"]);
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd") && !same_secret(b"abc", b"ab"));
    }

    #[test]
    fn failures_are_typed_and_claimed_by_their_request_only() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A port that accepts and closes at once: no TLS server there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = closed.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for c in closed.incoming() {
                drop(c);
            }
        });
        let b = Bridge::start(&registry, &TlsSettings::default(), &rt).unwrap();
        assert!(b.proxy_url().starts_with("http://oci-copy:"));
        let proxy = reqwest::Proxy::http(b.proxy_url()).unwrap();
        let client = reqwest::Client::builder().proxy(proxy).build().unwrap();
        let url = format!("http://{registry}/v2/a/blobs/sha256:00?x=1");
        let resp = rt.block_on(client.get(&url).send()).unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        let body = rt.block_on(resp.text()).unwrap();
        // What went wrong is not in the body, where a registry could have written it too.
        assert!(!body.contains("network") && !body.contains("tls"), "{body}");
        assert_eq!(b.failure(&format!("http://{registry}/v2/other")), None);
        let f = b.failure(&url).expect("the bridge recorded why");
        assert!(
            matches!(f.below, Below::Network | Below::Tls | Below::Unreachable),
            "{f:?}"
        );
        assert_eq!(b.failure(&url), None, "a failure is claimed once");
    }
}
