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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use reqwest::Url;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::below::Below;
use super::errors::error_chain;
use super::http::{self, Connections};
use super::tls::TlsSettings;

mod proxy;
mod rewrite;

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
        let redirect = redirect_policy(https_origin.clone());
        let client = http::client(tls, Connections::Pooled, redirect)?;
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
        let accept = rt.spawn(proxy::serve(listener, shared.clone()));
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

/// Asks `https://{registry}/v2/` again, on fresh connections, why it refuses: the first
/// failure in TLS (a refused client certificate, an untrusted server certificate) and its
/// error chain, or `None` when the registry answers or fails otherwise.
pub async fn tls_refusal(registry: &str, tls: &TlsSettings) -> Option<(Below, String)> {
    let none = reqwest::redirect::Policy::none();
    let client = http::client(tls, Connections::Fresh, none).ok()?;
    let url = format!("https://{registry}/v2/");
    for _ in 0..3 {
        let asked = super::stall::within(Some(Duration::from_secs(10)), client.get(&url).send());
        match asked.await? {
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn shared(registry: &str) -> Shared {
        crate::transport::registry::tls::install_provider();
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
        crate::transport::registry::tls::install_provider();
        let b = Bridge::start(&registry, &TlsSettings::default(), &rt).unwrap();
        assert!(b.proxy_url().starts_with("http://oci-copy:"));
        let proxy = reqwest::Proxy::http(b.proxy_url()).unwrap();
        let client = reqwest::Client::builder().proxy(proxy).build().unwrap();
        let url = format!("http://{registry}/v2/a/blobs/sha256:00?x=1");
        let resp = rt.block_on(client.get(&url).send()).unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::BAD_GATEWAY);
        let body = rt.block_on(resp.text()).unwrap();
        // What went wrong is not in the body, where a registry could have written it too.
        assert!(!body.contains("network") && !body.contains("tls"), "{body}");
        assert_eq!(b.failure(&format!("http://{registry}/v2/other")), None);
        let f = b.failure(&url).expect("the bridge recorded why");
        assert!(
            matches!(
                f.below,
                Below::Network | Below::Closed | Below::Tls | Below::Unreachable
            ),
            "{f:?}"
        );
        assert_eq!(b.failure(&url), None, "a failure is claimed once");
    }
}
