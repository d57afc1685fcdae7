//! `oci-copy probe` against real registries: Debian's `docker-registry` (every capability
//! reported with its evidence, and nothing left behind), two replicas with separate storage
//! behind a round-robin proxy (the lost upload sessions found and explained), the fault
//! proxy that refuses OCI manifests (reported with the registry's reason, and the exit
//! status following `--format`), a registry with bearer tokens, and one with TLS and basic auth (no secret printed).

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use crate::support::http::{Proxy, Tags};
use crate::support::registry::{oci_copy_env, Options, Registry, RejectOciProxy, PASSWORD, USER};
use crate::support::replicas::Replicas;
use crate::support::token_server::TokenServer;
use crate::support::{assert_failure, assert_success, assert_usage_error, describe, tempdir};

const NO_TLS: &str = "--tls-verify=false";

const KEYS: [&str; 15] = [
    "oci_manifest",
    "oci_index",
    "docker_manifest",
    "docker_manifest_list",
    "oci_artifact",
    "subject",
    "referrers_api",
    "chunked_upload",
    "monolithic_upload",
    "single_post_upload",
    "cross_repo_mount",
    "blob_delete",
    "manifest_delete",
    "tag_list",
    "tag_pagination",
];

fn probe(args: &[&str]) -> std::process::Output {
    let home = tempdir();
    let mut all = vec!["probe", NO_TLS];
    all.extend_from_slice(args);
    oci_copy_env(&all, home.path(), &[])
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("probe --json printed no JSON ({e})\n{}", describe(out)))
}

/// Asserts that capability `key` has `supported` and, when given, `status`, and that its
/// evidence holds `evidence`.
fn assert_cap(v: &Value, key: &str, supported: Option<bool>, status: Option<u64>, evidence: &str) {
    let c = &v["capabilities"][key];
    let msg = format!("{key}: {}", serde_json::to_string_pretty(c).unwrap());
    assert_eq!(c["supported"].as_bool(), supported, "{msg}");
    if let Some(s) = status {
        assert_eq!(c["status"].as_u64(), Some(s), "{msg}");
    }
    assert!(c["evidence"].as_str().unwrap().contains(evidence), "{msg}");
}

/// `METHOD path` on a plain-HTTP registry: the status and the body.
fn request(host: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(host).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

#[test]
fn reports_every_capability_of_a_real_registry_and_leaves_nothing_behind() {
    let reg = Registry::start();
    let out = probe(&["--json", &reg.url("probe/app")]);
    assert_success(&out);
    let v = json(&out);
    assert_eq!(v["ready"], true);
    assert_eq!(v["format"], "oci");
    assert_eq!(v["api_version"], "registry/2.0");
    assert_eq!(v["auth"]["scheme"], "none");
    for key in KEYS {
        let c = &v["capabilities"][key];
        assert!(c["supported"].is_boolean(), "{key} was not decided: {c}");
        assert!(c["status"].is_u64(), "{key} has no status: {c}");
        assert!(
            c["evidence"].as_str().is_some_and(|e| !e.is_empty()),
            "{key}: {c}"
        );
    }
    // What distribution 2.8 does, with the evidence for it.
    assert_cap(
        &v,
        "oci_manifest",
        Some(true),
        Some(201),
        "PUT manifests/oci-copy-probe-",
    );
    assert_cap(&v, "oci_index", Some(true), Some(201), "→ 201");
    assert_cap(&v, "docker_manifest", Some(true), Some(201), "→ 201");
    assert_cap(&v, "docker_manifest_list", Some(true), Some(201), "→ 201");
    assert_cap(
        &v,
        "oci_artifact",
        Some(true),
        Some(201),
        "PUT manifests/sha256:",
    );
    assert_cap(
        &v,
        "subject",
        Some(false),
        Some(201),
        "no OCI-Subject header",
    );
    assert_cap(
        &v,
        "referrers_api",
        Some(false),
        Some(404),
        "GET referrers/sha256:",
    );
    assert_cap(
        &v,
        "chunked_upload",
        Some(true),
        None,
        "POST 202 → PATCH 202 ×3 → PUT 201",
    );
    assert_cap(
        &v,
        "monolithic_upload",
        Some(true),
        None,
        "POST 202 → PUT 201",
    );
    assert_cap(&v, "single_post_upload", Some(false), Some(202), "POST 202");
    assert_cap(
        &v,
        "cross_repo_mount",
        Some(true),
        Some(201),
        "?mount=sha256:",
    );
    assert_cap(&v, "blob_delete", Some(true), Some(202), "DELETE blobs/");
    assert_cap(
        &v,
        "manifest_delete",
        Some(true),
        Some(202),
        "DELETE manifests/",
    );
    assert_cap(&v, "tag_list", Some(true), Some(200), "GET tags/list");
    // Debian's registry (distribution 2.8) ignores `n`.
    assert_cap(
        &v,
        "tag_pagination",
        Some(false),
        Some(200),
        "tags/list?n=1",
    );
    let s = &v["upload_sessions"];
    assert_eq!(s["consistent"], true, "{s}");
    assert_eq!(s["completed"], s["uploads"], "{s}");
    assert!(
        s["diagnosis"].as_str().unwrap().contains("consistent"),
        "{s}"
    );

    // Nothing the probe wrote is left: no tag, no manifest, no blob.
    let cleanup = &v["cleanup"];
    assert_eq!(cleanup["not_deleted"], serde_json::json!([]), "{cleanup}");
    let deleted: Vec<&str> = cleanup["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(deleted.len() >= 5 + 8, "{cleanup}");
    let (status, body) = request(&reg.host, "GET", "/v2/probe/app/tags/list");
    let tags: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert!(
        status == 404 || tags["tags"].as_array().is_none_or(|t| t.is_empty()),
        "tags left: {status} {body}"
    );
    for d in deleted {
        let (kind, digest) = d.rsplit_once(' ').unwrap();
        let path = if kind == "blob" { "blobs" } else { "manifests" };
        let (status, _) = request(&reg.host, "HEAD", &format!("/v2/probe/app/{path}/{digest}"));
        assert_eq!(status, 404, "{d} is still there");
    }
}

#[test]
fn the_table_shows_every_row_and_pagination_by_link() {
    let reg = Registry::start();
    // A proxy that pages tag lists and names the next page in a Link header.
    let proxy = Proxy::start(&reg.host, Tags::PagesWithLink);
    let out = probe(&[&proxy.url("probe/table")]);
    assert_success(&out);
    let table = String::from_utf8_lossy(&out.stdout);
    for row in [
        "OCI image manifest",
        "OCI image index",
        "Docker v2s2 manifest",
        "Docker manifest list",
        "OCI artifact (artifactType)",
        "subject (OCI-Subject header)",
        "referrers API",
        "chunked upload",
        "monolithic upload",
        "single-POST upload",
        "cross-repository mount",
        "blob DELETE",
        "manifest DELETE",
        "tag listing",
        "tag pagination",
        "API version  registry/2.0",
        "Upload sessions are consistent",
        "nothing the probe wrote is left",
        "Verdict: this registry can take OCI images.",
    ] {
        assert!(table.contains(row), "the table lacks {row:?}\n{table}");
    }
    let line = table
        .lines()
        .find(|l| l.starts_with("tag pagination"))
        .unwrap();
    assert!(
        line.contains(" yes ") && line.contains("Link rel=\"next\""),
        "{line}"
    );
}

#[test]
fn finds_and_explains_lost_upload_sessions_behind_a_round_robin_proxy() {
    let replicas = Replicas::start();
    let out = probe(&["--json", &replicas.proxy.url("probe/lb")]);
    let line = assert_failure(
        &out,
        1,
        &[
            "cannot take OCI images",
            "upload sessions are lost",
            "replicas behind a load balancer",
            "http.secret",
        ],
    );
    let v = json(&out);
    assert_eq!(v["ready"], false);
    let s = &v["upload_sessions"];
    assert_eq!(s["consistent"], false, "{s}");
    assert_eq!(s["completed"], 0, "{s}");
    let problems = s["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 5, "{s}");
    for p in problems {
        let code = p["code"].as_str().unwrap_or("");
        assert!(
            ["BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN"].contains(&code),
            "not a lost session: {p}"
        );
        assert!(p["step"].as_str().unwrap().starts_with("PATCH"), "{p}");
    }
    let d = s["diagnosis"].as_str().unwrap();
    for needle in [
        "load balancer",
        "replicas",
        "shared storage",
        "http.secret",
        "NFS",
        "push to one replica directly",
        "REGISTRY_HTTP_SECRET",
    ] {
        assert!(d.contains(needle), "the diagnosis lacks {needle:?}: {d}");
    }
    // Uploads broken this way are not blamed on the upload form.
    assert!(
        v["capabilities"]["chunked_upload"]["supported"].is_null(),
        "{line}"
    );
}

#[test]
fn reports_refused_oci_manifests_with_the_registrys_reason() {
    let reg = Registry::start();
    let proxy = RejectOciProxy::start(&reg.host);
    let out = probe(&["--json", &proxy.url("probe/nooci")]);
    assert_failure(
        &out,
        1,
        &[
            "cannot take OCI images",
            "OCI image manifests are refused",
            "400 MANIFEST_INVALID",
        ],
    );
    let v = json(&out);
    let oci = &v["capabilities"]["oci_manifest"];
    assert_eq!(oci["supported"], false, "{oci}");
    assert_eq!(oci["status"], 400, "{oci}");
    assert_eq!(oci["code"], "MANIFEST_INVALID", "{oci}");
    assert_eq!(oci["message"], "manifest invalid", "{oci}");
    assert_cap(&v, "docker_manifest", Some(true), Some(201), "→ 201");
    // The artifact is an OCI manifest too; the index lists the Docker manifest.
    assert_cap(
        &v,
        "oci_artifact",
        Some(false),
        Some(400),
        "MANIFEST_INVALID",
    );
    assert_cap(&v, "oci_index", Some(true), Some(201), "→ 201");

    let out = probe(&["--json", "--format", "v2s2", &proxy.url("probe/nooci")]);
    assert_success(&out);
    assert_eq!(json(&out)["ready"], true);
}

#[test]
fn speaks_bearer_tokens_and_says_what_it_could_not_delete_without_leaking_secrets() {
    let tokens = TokenServer::start();
    let reg = Registry::start_with_tokens(&tokens);
    let creds = format!("{USER}:{PASSWORD}");
    let out = probe(&[
        "--debug",
        "--json",
        "--creds",
        &creds,
        &reg.url("probe/bearer"),
    ]);
    assert_success(&out);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PASSWORD), "the password leaked\n{all}");
    for t in tokens.issued() {
        assert!(
            !all.contains(t.rsplit('.').next().unwrap()),
            "a token leaked\n{all}"
        );
    }
    let v = json(&out);
    assert_eq!(v["auth"]["scheme"], "bearer", "{}", v["auth"]);
    assert!(v["auth"]["realm"].as_str().unwrap().ends_with("/token"));
    assert_eq!(v["auth"]["credentials_from"], "--creds");
    assert_cap(&v, "oci_manifest", Some(true), Some(201), "→ 201");
    // The token server grants pull and push, not delete: the probe says what it left.
    let left = v["cleanup"]["not_deleted"].as_array().unwrap();
    assert!(!left.is_empty(), "{}", v["cleanup"]);
    assert!(
        left.iter()
            .all(|n| n["reason"].as_str().unwrap().contains("401")),
        "{left:?}"
    );
    let table = probe(&["--creds", &creds, &reg.url("probe/bearer")]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("could not delete"), "{text}");
}

#[test]
fn refuses_a_tag_digest_or_other_transport_as_a_usage_error() {
    assert_usage_error(&probe(&["docker://127.0.0.1:1/a/b:1"]));
    assert_usage_error(&probe(&["oci:/tmp/layout"]));
    assert_usage_error(&probe(&["--format", "zstd", "docker://127.0.0.1:1/a/b"]));
}

#[test]
fn speaks_tls_with_a_cert_dir_and_basic_auth() {
    let reg = Registry::start_with(Options {
        tls: true,
        htpasswd: true,
        ..Default::default()
    });
    let ca = reg.ca_dir.as_ref().unwrap().to_str().unwrap().to_string();
    let creds = format!("{USER}:{PASSWORD}");
    let home = tempdir();
    let args = [
        "probe",
        "--json",
        "--debug",
        "--cert-dir",
        &ca,
        "--creds",
        &creds,
    ];
    let mut all = args.to_vec();
    let url = reg.url("probe/tls");
    all.push(&url);
    let out = oci_copy_env(&all, home.path(), &[]);
    assert_success(&out);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(PASSWORD), "the password leaked\n{text}");
    let v = json(&out);
    assert!(
        v["url"].as_str().unwrap().starts_with("https://"),
        "{}",
        v["url"]
    );
    assert_eq!(v["auth"]["scheme"], "basic");
    assert_eq!(v["auth"]["realm"], "test-realm");
    assert_cap(&v, "oci_manifest", Some(true), Some(201), "→ 201");
    assert_eq!(v["cleanup"]["not_deleted"], serde_json::json!([]));
}

#[test]
fn an_unreachable_registry_exits_with_the_retryable_code() {
    // Nothing listens on a port we just bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("docker://127.0.0.1:{port}/probe/app");
    let out = crate::support::oci_copy(["probe", "--tls-verify=false", &url]);
    assert_failure(
        &out,
        75,
        &["connection refused", &format!("127.0.0.1:{port}")],
    );
}
