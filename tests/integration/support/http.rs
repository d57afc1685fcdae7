//! Tiny HTTP/1.1 pieces for the test servers (one request per connection): reading a
//! request head, answering, an accept loop that stops on drop, and a proxy in front of a
//! registry that records every request line and can serve tag lists in pages, with or
//! without `Link` headers (Debian's registry ignores `n`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The head of a request.
pub struct Head {
    pub method: String,
    /// `/v2/a/tags/list?n=3`
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The head as received, minus `Connection`, with `Connection: close` added.
    raw: Vec<u8>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The head as received, minus `Connection`, with `Connection: close` added.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The decoded query parameters, in order (a name may repeat).
    pub fn query(&self) -> Vec<(String, String)> {
        let Some((_, q)) = self.target.split_once('?') else {
            return Vec::new();
        };
        q.split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a request head; `None` when the peer closed first.
pub fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut raw = first.clone().into_bytes();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            raw.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("connection") {
                continue;
            }
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        raw.extend_from_slice(line.as_bytes());
    }
    Ok(Some(Head {
        method,
        target,
        headers,
        raw,
    }))
}

/// Writes a whole response and closes the connection.
pub fn respond(mut w: &TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(body);
    let _ = w.flush();
    let _ = w.shutdown(std::net::Shutdown::Both);
}

/// Accepts connections on a free loopback port and hands each to `handle` on its own
/// thread, until the returned flag is set.
pub fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    let host = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((conn, _)) => {
                    let handle = handle.clone();
                    std::thread::spawn(move || {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                        handle(conn)
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (host, stop)
}

/// What the proxy does with `GET /v2/NAME/tags/list`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tags {
    /// Passes it through.
    Pass,
    /// Serves the upstream's tags sorted, in pages of `n` after `last`, without `Link`.
    Pages,
    /// As `Pages`, with `Link: <...>; rel="next"` naming the next page by an opaque
    /// `cursor` that only the Link carries.
    PagesWithLink,
}

/// A proxy in front of a plain-HTTP registry that records `METHOD TARGET` of every request.
pub struct Proxy {
    pub host: String,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: &str, tags: Tags) -> Proxy {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (log, up) = (requests.clone(), upstream.to_string());
        let (host, stop) = serve(move |conn| {
            let _ = proxy_one(conn, &up, tags, &log);
        });
        Proxy {
            host,
            requests,
            stop,
        }
    }

    /// `docker://HOST/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.host)
    }

    /// Every request line so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn proxy_one(
    client: TcpStream,
    upstream: &str,
    tags: Tags,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    log.lock()
        .unwrap()
        .push(format!("{} {}", head.method, head.target));
    if tags != Tags::Pass && head.method == "GET" && head.path().ends_with("/tags/list") {
        return serve_tag_page(&client, upstream, &head, tags == Tags::PagesWithLink);
    }
    relay(reader, client, upstream, &head.raw)
}

/// Sends `head` and then the rest of the client's request (what `reader` still holds) to
/// `upstream`, and the answer back to the client, until both sides are done.
pub fn relay(
    mut reader: BufReader<TcpStream>,
    client: TcpStream,
    upstream: &str,
    head: &[u8],
) -> std::io::Result<()> {
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(head)?;
    let mut up_w = up.try_clone()?;
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut up_w);
    });
    let mut client_w = client;
    std::io::copy(&mut up, &mut client_w)?;
    let _ = client_w.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Fetches every tag from upstream and answers with one page of them.
fn serve_tag_page(
    client: &TcpStream,
    upstream: &str,
    head: &Head,
    link: bool,
) -> std::io::Result<()> {
    let path = head.path().to_string();
    let mut up = TcpStream::connect(upstream)?;
    write!(
        up,
        "GET {path} HTTP/1.0\r\nHost: {upstream}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(resp.len(), |i| i + 4);
    let body = &resp[split..];
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        // An error from upstream (NAME_UNKNOWN, ...): pass it on as it came.
        let status = String::from_utf8_lossy(&resp[..split])
            .lines()
            .next()
            .and_then(|l| l.split_once(' ').map(|(_, s)| s.to_string()))
            .unwrap_or_else(|| "502 Bad Gateway".into());
        respond(client, &status, &[], body);
        return Ok(());
    };
    let mut all: Vec<String> = serde_json::from_value(v["tags"].clone()).unwrap_or_default();
    all.sort();
    let start = match (head.param("cursor"), head.param("last")) {
        (Some(c), _) => c.parse().unwrap_or(0),
        (None, Some(last)) => all.iter().position(|t| *t > last).unwrap_or(all.len()),
        (None, None) => 0,
    };
    let n = head
        .param("n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(all.len());
    let end = (start + n).min(all.len());
    let page = &all[start.min(end)..end];
    let mut headers = vec![("Content-Type", "application/json".to_string())];
    if link && end < all.len() {
        headers.push(("Link", format!("<{path}?n={n}&cursor={end}>; rel=\"next\"")));
    }
    let body = serde_json::json!({"name": v["name"], "tags": page}).to_string();
    respond(client, "200 OK", &headers, body.as_bytes());
    Ok(())
}
