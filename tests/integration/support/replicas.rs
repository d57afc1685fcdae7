//! Two (or more) registry replicas behind a round-robin load balancer, as the broken
//! deployments users run: each replica has its own storage and its own `http.secret` (a
//! registry started without one makes up its own), and every request goes to the next
//! replica in turn (one request per connection), so an upload session started on one
//! replica is continued on another.

use std::io::BufReader;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::http::{read_head, serve};
use super::registry::Registry;

/// A round-robin HTTP proxy over several upstreams. It stops when dropped.
pub struct RoundRobinProxy {
    pub host: String,
    stop: Arc<AtomicBool>,
}

impl RoundRobinProxy {
    pub fn start(upstreams: &[&str]) -> RoundRobinProxy {
        let ups: Vec<String> = upstreams.iter().map(|u| u.to_string()).collect();
        let next = Arc::new(AtomicUsize::new(0));
        let (host, stop) = serve(move |conn| {
            let i = next.fetch_add(1, Ordering::SeqCst) % ups.len();
            let _ = forward(conn, &ups[i]);
        });
        RoundRobinProxy { host, stop }
    }

    /// `docker://HOST/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.host)
    }
}

impl Drop for RoundRobinProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Two plain-HTTP replicas with separate storage and secrets, behind a round-robin proxy.
pub struct Replicas {
    pub proxy: RoundRobinProxy,
    _replicas: [Registry; 2],
}

impl Replicas {
    pub fn start() -> Replicas {
        let (a, b) = (Registry::start(), Registry::start());
        let proxy = RoundRobinProxy::start(&[&a.host, &b.host]);
        Replicas {
            proxy,
            _replicas: [a, b],
        }
    }
}

/// Passes one request to `upstream` and its answer back. The `Host` header stays the
/// proxy's, so the replicas' `Location` headers point at the proxy.
fn forward(client: TcpStream, upstream: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let mut raw = format!("{} {} HTTP/1.1\r\n", head.method, head.target);
    for (k, v) in &head.headers {
        raw += &format!("{k}: {v}\r\n");
    }
    raw += "Connection: close\r\n\r\n";
    super::http::relay(reader, client, upstream, raw.as_bytes())
}
