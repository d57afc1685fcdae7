//! The checker's own reader of a registry, by plain HTTP/1.1 over a `TcpStream`, so that a
//! pushed image is judged without going through oci-copy: it fetches the manifest a tag
//! names (and every instance of an index), every config and layer, into a fresh OCI layout
//! under their digests, and runs the layout checker on it, which re-hashes every blob.
//! Loopback registries of the tests only: no TLS, no authentication.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use serde_json::Value;
use sha2::Digest as _;

use super::{try_check_oci_layout, Checked, Report};

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// `GET path` on `host`: the status, the Content-Type and the body.
fn get(host: &str, path: &str) -> Checked<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(host).map_err(|e| format!("connecting to {host}: {e}"))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {ACCEPT}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let body = raw[end + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: no status in {head:?}"))?;
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return Err(format!(
            "GET {path}: chunked replies are not read by this checker"
        ));
    }
    Ok((status, header("content-type").unwrap_or_default(), body))
}

/// Fetches `digest` of `repo` into `layout`, checking it has that digest.
fn fetch(host: &str, repo: &str, kind: &str, digest: &str, layout: &Path) -> Checked<Vec<u8>> {
    let (status, _, body) = get(host, &format!("/v2/{repo}/{kind}/{digest}"))?;
    if status != 200 {
        return Err(format!("{kind} {digest} of {repo}: HTTP {status}"));
    }
    let got = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body)));
    if got != digest {
        return Err(format!(
            "{kind} {digest} of {repo}: the registry served {got}"
        ));
    }
    let hex = digest.trim_start_matches("sha256:");
    std::fs::write(layout.join("blobs/sha256").join(hex), &body).map_err(|e| e.to_string())?;
    Ok(body)
}

/// Fetches everything a manifest references (children of an index too).
fn fetch_tree(host: &str, repo: &str, doc: &Value, layout: &Path) -> Checked<()> {
    let digest_of = |d: &Value| d["digest"].as_str().unwrap_or_default().to_string();
    if let Some(children) = doc["manifests"].as_array() {
        for child in children {
            let bytes = fetch(host, repo, "manifests", &digest_of(child), layout)?;
            let child: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            fetch_tree(host, repo, &child, layout)?;
        }
        return Ok(());
    }
    fetch(host, repo, "blobs", &digest_of(&doc["config"]), layout)?;
    for l in doc["layers"].as_array().into_iter().flatten() {
        fetch(host, repo, "blobs", &digest_of(l), layout)?;
    }
    Ok(())
}

/// Reads `repo:tag` from the registry at `host` by HTTP and checks it like a layout; the
/// report's only entry is tagged `tag`.
pub fn try_check_registry_image(host: &str, repo: &str, tag: &str) -> Checked<Report> {
    let dir = super::super::tempdir();
    let layout = dir.path().join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).map_err(|e| e.to_string())?;
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(|e| e.to_string())?;
    let (status, media_type, top) = get(host, &format!("/v2/{repo}/manifests/{tag}"))?;
    if status != 200 {
        return Err(format!("manifest {repo}:{tag}: HTTP {status}"));
    }
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&top)));
    let hex = digest.trim_start_matches("sha256:");
    std::fs::write(layout.join("blobs/sha256").join(hex), &top).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_slice(&top).map_err(|e| e.to_string())?;
    fetch_tree(host, repo, &doc, &layout)?;
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": media_type, "digest": digest, "size": top.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(layout.join("index.json"), index.to_string()).map_err(|e| e.to_string())?;
    try_check_oci_layout(&layout)
}

/// [`try_check_registry_image`], panicking with the violation.
pub fn check_registry_image(host: &str, repo: &str, tag: &str) -> Report {
    try_check_registry_image(host, repo, tag)
        .unwrap_or_else(|e| panic!("invalid image {host}/{repo}:{tag}: {e}"))
}
