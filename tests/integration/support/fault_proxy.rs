//! A fault-injecting HTTP/1.1 proxy for the reliability tests: a thread on a std
//! `TcpListener` that reads each request whole (one request per connection), asks a rule
//! what to do with it, and then forwards it to the next upstream registry (round robin when
//! there are several) or answers in the upstream's place. It can cut a response off
//! half-way, corrupt a response body, answer with any status (or with a huge body streamed
//! as it is generated, never held), and it logs every request it saw (with its `Range`
//! header and when it came) for the test to assert on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request as the rule sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query: `/v2/lab/app/blobs/sha256:...`
    pub path: String,
    pub range: Option<String>,
    /// When the proxy had read the request's head.
    pub at: Instant,
}

impl Request {
    pub fn is_blob_get(&self) -> bool {
        self.method == "GET" && self.path.contains("/blobs/sha256:")
    }

    /// A PATCH or PUT on an upload session URL.
    pub fn is_session_write(&self) -> bool {
        (self.method == "PATCH" || self.method == "PUT") && self.path.contains("/blobs/uploads/")
    }
}

/// What to do with a request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Forward it and pass the response back unchanged.
    Pass,
    /// As `Pass`, but to the upstream of this index (of [`FaultProxy::round_robin`]'s list)
    /// instead of the next in turn.
    PassTo(usize),
    /// Answer in the registry's place (after reading the request body).
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Forward it, then send back the head and half the body and close the connection.
    CutBodyInHalf,
    /// Forward it, then flip a byte in the middle of the response body.
    CorruptBody,
    /// Forward it, then send back the head and half the body and go silent, keeping the
    /// connection open (until the client closes it, or 30 s).
    StallBody,
    /// Read the request and never answer, keeping the connection open (as `StallBody`).
    Stall,
    /// Read the request's head, then neither read its body nor answer, for 30 s: an upload
    /// whose body is larger than the socket buffers stops being taken.
    StallUnread,
    /// Answer in the registry's place with `size` bytes of `x`, written as they are made.
    Huge {
        status: u16,
        content_type: String,
        size: u64,
    },
    /// Forward it, then give the response header `name` (case-insensitive) the value
    /// `value` instead of the registry's, adding it if the registry sent none.
    SetHeader { name: String, value: String },
}

impl Action {
    /// A registry error response with the usual JSON envelope.
    pub fn error(status: u16, code: &str, extra: &[(&str, &str)]) -> Action {
        Action::Respond {
            status,
            headers: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: format!(
                r#"{{"errors":[{{"code":"{code}","message":"injected by the test proxy"}}]}}"#
            ),
        }
    }
}

type Rule = dyn Fn(&Request) -> Action + Send + Sync;

/// A running proxy; stops accepting when dropped.
pub struct FaultProxy {
    pub host: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Request>>>,
}

struct Shared {
    upstreams: Vec<String>,
    next: AtomicUsize,
    rule: Box<Rule>,
    log: Arc<Mutex<Vec<Request>>>,
}

impl FaultProxy {
    /// A proxy in front of `upstream` applying `rule`.
    pub fn start(
        upstream: &str,
        rule: impl Fn(&Request) -> Action + Send + Sync + 'static,
    ) -> Self {
        FaultProxy::round_robin(&[upstream], rule)
    }

    /// A proxy that sends each request to the next of `upstreams` in turn.
    pub fn round_robin(
        upstreams: &[&str],
        rule: impl Fn(&Request) -> Action + Send + Sync + 'static,
    ) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            upstreams: upstreams.iter().map(|s| s.to_string()).collect(),
            next: AtomicUsize::new(0),
            rule: Box::new(rule),
            log: log.clone(),
        });
        let (host, stop) = super::http::serve(move |client| {
            let _ = serve(client, &shared);
        });
        FaultProxy { host, stop, log }
    }

    /// `docker://127.0.0.1:PORT/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.host)
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Reads one request's head (with `Connection: close` forced); returns it with the length
/// of the body that follows.
fn read_request(
    r: &mut BufReader<TcpStream>,
) -> std::io::Result<Option<(Request, Vec<u8>, usize)>> {
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut range = None;
    let mut first = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if first.is_empty() {
            first = line.clone();
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("range:") {
            range = Some(line[6..].trim().to_string());
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut parts = first.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let req = Request {
        method: method.to_string(),
        path: path.to_string(),
        range,
        at: Instant::now(),
    };
    Ok(Some((req, head, length)))
}

fn serve(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some((req, mut raw, length)) = read_request(&mut reader)? else {
        return Ok(());
    };
    shared.log.lock().unwrap().push(req.clone());
    let mut client = client;
    let action = (shared.rule)(&req);
    if let Action::StallUnread = action {
        std::thread::sleep(Duration::from_secs(30));
        return Ok(());
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    raw.extend_from_slice(&body);
    if let Action::Stall = action {
        return hold(&mut reader);
    }
    if let Action::Huge {
        status,
        content_type,
        size,
    } = &action
    {
        return send_huge(&mut client, *status, content_type, *size);
    }
    if let Action::Respond {
        status,
        headers,
        body,
    } = &action
    {
        let mut resp = format!(
            "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            resp += &format!("{k}: {v}\r\n");
        }
        resp += "\r\n";
        resp += body;
        client.write_all(resp.as_bytes())?;
        return client.shutdown(Shutdown::Both);
    }
    // The version check `GET /v2/` (oci-client sends one before most requests) holds no
    // state: balance only the repository requests, so that consecutive ones alternate.
    let i = if let Action::PassTo(i) = action {
        i
    } else if req.path == "/v2/" {
        0
    } else {
        shared.next.fetch_add(1, Ordering::SeqCst) % shared.upstreams.len()
    };
    let mut up = TcpStream::connect(&shared.upstreams[i])?;
    up.write_all(&raw)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    let body_at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(resp.len(), |p| p + 4);
    let body_len = resp.len() - body_at;
    match action {
        Action::CutBodyInHalf if body_len > 1 => {
            client.write_all(&resp[..body_at + body_len / 2])?;
            client.flush()?;
        }
        Action::CorruptBody if body_len > 0 => {
            resp[body_at + body_len / 2] ^= 0xff;
            client.write_all(&resp)?;
        }
        Action::StallBody if body_len > 1 => {
            client.write_all(&resp[..body_at + body_len / 2])?;
            client.flush()?;
            return hold(&mut reader);
        }
        Action::SetHeader { name, value } => {
            let head = set_header(&resp[..body_at], &name, &value);
            client.write_all(&head)?;
            client.write_all(&resp[body_at..])?;
        }
        _ => client.write_all(&resp)?,
    }
    client.shutdown(Shutdown::Both)
}

/// Writes a response of `size` bytes of `x`, 1 MiB at a time; stops quietly when the
/// client hangs up.
fn send_huge(
    client: &mut TcpStream,
    status: u16,
    content_type: &str,
    size: u64,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} Huge\r\nContent-Type: {content_type}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    client.write_all(head.as_bytes())?;
    let block = vec![b'x'; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        if client.write_all(&block[..n]).is_err() {
            return Ok(());
        }
        left -= n as u64;
    }
    client.shutdown(Shutdown::Both)
}

/// A response head (ending in the blank line) with header `name` set to `value`.
fn set_header(head: &[u8], name: &str, value: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with(&prefix))
        .map(str::to_string)
        .collect();
    lines.push(format!("{name}: {value}"));
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}

/// Keeps a connection open and silent until the client closes it (or 30 s pass).
fn hold(client: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    let mut sink = [0u8; 4096];
    while let Ok(n) = client.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    Ok(())
}
