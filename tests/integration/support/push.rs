//! A minimal registry client of the tests' own, by plain HTTP/1.1 over a `TcpStream`, to
//! make fixtures and judge results without oci-copy: monolithic blob uploads, manifest
//! PUTs (returning the answer's headers), manifest GETs. Loopback registries only.

use std::io::{Read, Write};
use std::net::TcpStream;

use sha2::Digest as _;

/// An HTTP answer: status, headers (names lower-cased), body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// Sends one request and reads the whole answer (the server closes the connection).
pub fn request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("connecting to {host}: {e}"));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_answer(&raw)
}

/// Splits a whole HTTP/1.1 answer (not chunked) into its parts.
pub fn parse_answer(raw: &[u8]) -> Answer {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an end of headers");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = raw[end + 4..].to_vec();
    let body = if chunked { dechunk(&body) } else { body };
    Answer {
        status,
        headers,
        body,
    }
}

/// The body of a chunked answer.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 4 + size..];
    }
    out
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Uploads `bytes` as a blob of `repo` in one PUT; returns its digest.
pub fn push_blob(host: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let a = request(
        host,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(
        a.status,
        202,
        "starting an upload: {}",
        String::from_utf8_lossy(&a.body)
    );
    let loc = a.header("location").expect("a Location").to_string();
    let path = loc
        .split_once("://")
        .map_or(loc.as_str(), |(_, rest)| &rest[rest.find('/').unwrap()..])
        .to_string();
    let sep = if path.contains('?') { '&' } else { '?' };
    let ct = [("Content-Type", "application/octet-stream")];
    let a = request(
        host,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        &ct,
        bytes,
    );
    assert_eq!(
        a.status,
        201,
        "uploading {digest}: {}",
        String::from_utf8_lossy(&a.body)
    );
    digest
}

/// PUTs a manifest; returns the answer (its `OCI-Subject` header, say).
pub fn push_manifest(
    host: &str,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Answer {
    let a = request(
        host,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        bytes,
    );
    assert_eq!(
        a.status,
        201,
        "pushing the manifest {reference}: {}",
        String::from_utf8_lossy(&a.body)
    );
    a
}

/// GETs a manifest by tag or digest: the status and the bytes.
pub fn get_manifest(host: &str, repo: &str, reference: &str) -> (u16, Vec<u8>) {
    let a = request(
        host,
        "GET",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Accept", ACCEPT)],
        b"",
    );
    (a.status, a.body)
}

/// The manifest `reference` names, which must be there, as JSON.
pub fn manifest_json(host: &str, repo: &str, reference: &str) -> serde_json::Value {
    let (status, body) = get_manifest(host, repo, reference);
    assert_eq!(
        status,
        200,
        "{host}/{repo}:{reference}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

/// The tags of `repo`, or none when it does not exist.
pub fn tags(host: &str, repo: &str) -> Vec<String> {
    let a = request(host, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
    if a.status == 404 {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    serde_json::from_value(v["tags"].clone()).unwrap_or_default()
}
