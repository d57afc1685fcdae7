//! A referrers API in front of the real registry, for the tests only. Distribution 2.8
//! (Debian's `docker-registry`) has no referrers API, and no registry that has one is
//! packaged in Debian; this layer is NOT a registry and stores nothing. It forwards every
//! request to the real registry, except that in [`Mode::Api`] it answers
//! `GET /v2/<name>/referrers/<digest>` itself, from the registry's own tag listing and
//! manifests (every tagged manifest whose `subject` is the digest) and from the manifests
//! with a `subject` that were pushed through it, and adds `OCI-Subject` to the answer of
//! such a push, as a registry that indexes referrers does. In [`Mode::NotFound`] it
//! answers 404 to the referrers API, as a registry without one.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::http::{read_head, relay, respond, serve, Head};
use super::push::{request, sha256, ACCEPT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Api,
    NotFound,
}

/// (repository, manifest digest, subject digest) of the pushes with a subject.
type Pushed = Arc<Mutex<Vec<(String, String, String)>>>;

pub struct ReferrersApi {
    pub host: String,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl ReferrersApi {
    pub fn start(upstream: &str, mode: Mode) -> ReferrersApi {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let pushed: Pushed = Arc::default();
        let (log, up) = (requests.clone(), upstream.to_string());
        let (host, stop) = serve(move |conn| {
            let _ = handle(conn, &up, mode, &pushed, &log);
        });
        ReferrersApi {
            host,
            requests,
            stop,
        }
    }

    /// `docker://HOST/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.host)
    }

    /// `METHOD TARGET` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ReferrersApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn handle(
    client: TcpStream,
    up: &str,
    mode: Mode,
    pushed: &Pushed,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    log.lock()
        .unwrap()
        .push(format!("{} {}", head.method, head.target));
    if let Some((repo, digest)) = head
        .path()
        .strip_prefix("/v2/")
        .and_then(|p| p.split_once("/referrers/"))
    {
        if head.method == "GET" {
            match mode {
                Mode::NotFound => respond(&client, "404 Not Found", &[], b"404 page not found\n"),
                Mode::Api => answer_referrers(&client, up, repo, digest, pushed),
            }
            return Ok(());
        }
    }
    if head.method == "PUT" && head.path().contains("/manifests/") {
        return put_manifest(reader, &client, up, &head, mode, pushed);
    }
    relay(reader, client, up, head.raw())
}

/// Forwards a manifest PUT; a pushed manifest with a subject gets `OCI-Subject` (in `Api`).
fn put_manifest(
    mut reader: BufReader<TcpStream>,
    client: &TcpStream,
    up: &str,
    head: &Head,
    mode: Mode,
    pushed: &Pushed,
) -> std::io::Result<()> {
    let len: usize = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let ct = head
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_string();
    let a = request(up, "PUT", &head.target, &[("Content-Type", &ct)], &body);
    let mut headers: Vec<(&str, String)> = a
        .headers
        .iter()
        .filter(|(k, _)| k != "content-length" && k != "connection")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let subject = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["subject"]["digest"].as_str().map(str::to_string));
    if let (Mode::Api, Some(s), 201) = (mode, subject, a.status) {
        let repo = head
            .path()
            .trim_start_matches("/v2/")
            .split("/manifests/")
            .next()
            .unwrap_or("")
            .to_string();
        pushed
            .lock()
            .unwrap()
            .push((repo, sha256(&body), s.clone()));
        headers.push(("OCI-Subject", s));
    }
    let status = format!(
        "{} {}",
        a.status,
        if a.status < 300 { "OK" } else { "Error" }
    );
    let mut w = client;
    respond(w, &status, &headers, &a.body);
    let _ = w.flush();
    Ok(())
}

/// The referrers of `digest` in `repo`: tagged manifests and pushed ones whose subject it is.
fn answer_referrers(client: &TcpStream, up: &str, repo: &str, digest: &str, pushed: &Pushed) {
    let tags = request(up, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
    let tags: Vec<String> = serde_json::from_slice::<Value>(&tags.body)
        .ok()
        .and_then(|v| serde_json::from_value(v["tags"].clone()).ok())
        .unwrap_or_default();
    let mut refs: Vec<String> = tags;
    refs.extend(
        pushed
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _, s)| r == repo && s == digest)
            .map(|(_, d, _)| d.clone()),
    );
    let mut out: Vec<Value> = Vec::new();
    for r in refs {
        let m = request(
            up,
            "GET",
            &format!("/v2/{repo}/manifests/{r}"),
            &[("Accept", ACCEPT)],
            b"",
        );
        let Ok(v) = serde_json::from_slice::<Value>(&m.body) else {
            continue;
        };
        let d = sha256(&m.body);
        if m.status != 200
            || v["subject"]["digest"] != digest
            || out.iter().any(|o| o["digest"] == d)
        {
            continue;
        }
        let mut desc = json!({"mediaType": v["mediaType"], "digest": d, "size": m.body.len(),
            "artifactType": v.get("artifactType").cloned().unwrap_or(v["config"]["mediaType"].clone())});
        if let Some(a) = v.get("annotations") {
            desc["annotations"] = a.clone();
        }
        out.push(desc);
    }
    let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": out});
    let ct = [(
        "Content-Type",
        "application/vnd.oci.image.index.v1+json".to_string(),
    )];
    respond(client, "200 OK", &ct, idx.to_string().as_bytes());
}
