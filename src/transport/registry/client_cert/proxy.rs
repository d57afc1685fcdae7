//! The bridge as an HTTP/1.1 forward proxy: accepting connections, checking the secret in
//! `Proxy-Authorization`, dropping hop-by-hop headers, forwarding each request over HTTPS
//! with the client certificate, and keeping a typed record of each request it could not
//! forward.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::task::JoinSet;

use super::super::below::Below;
use super::super::errors::error_chain;
use super::{request_key, Failure, Shared, MAX_FAILURES};

/// Accepts connections until the bridge is dropped; each is served by its own task, all
/// of which end with this one.
pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
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

pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
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
            super::super::errors::redact(&message)
        );
        let Some(key) = key else { return };
        let mut failures = self.failures.lock().expect("not poisoned");
        if failures.len() >= MAX_FAILURES {
            failures.remove(0);
        }
        let below = Below::of_reqwest(e);
        failures.push((key, Failure { message, below }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
