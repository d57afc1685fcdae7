//! The corpus of malformed inputs (`testdata/malformed/`, made by `make-malformed.py`, listed
//! in `cases.json`): copying each one into an existing layout must exit 1 with one
//! `oci-copy: ` line that contains the expected text, without a panic, leaving the
//! destination's index.json byte for byte as it was and no stray file; `oci-copy verify`
//! must fail on it too. Rows marked `dest` are destinations instead: copying a good image
//! into (a copy of) one must be refused before any byte of it changes. A manifest over the
//! 4 MiB limit is generated here, not committed.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sha2::Digest as _;

use crate::support::layout::{assert_no_stray_files, tags};
use crate::support::mutate::layout_copy;
use crate::support::{assert_failure, describe, oci_copy, p, tempdir, testdata};

struct Case {
    name: String,
    reference: Vec<String>,
    error: String,
    verify: bool,
    /// The case is a destination that a good image must not be copied into.
    dest: bool,
}

fn cases() -> Vec<Case> {
    let dir = testdata("malformed");
    let raw = std::fs::read(dir.join("cases.json")).expect("testdata/malformed/cases.json");
    let rows: Vec<Value> = serde_json::from_slice(&raw).expect("cases.json is JSON");
    rows.iter()
        .map(|r| Case {
            name: r["name"].as_str().expect("name").to_string(),
            reference: r["ref"]
                .as_str()
                .expect("ref")
                .replace("{dir}", &p(&dir))
                .split(' ')
                .map(String::from)
                .collect(),
            error: r["error"].as_str().expect("error").to_string(),
            verify: r["verify"].as_bool().expect("verify"),
            dest: r["dest"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// A destination that already holds a tagged image: the copy must not disturb it.
struct Dest {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    index: Vec<u8>,
}

impl Dest {
    fn new() -> Dest {
        let tmp = tempdir();
        let dir = layout_copy("oci-layout", tmp.path());
        let index = std::fs::read(dir.join("index.json")).expect("read index.json");
        Dest {
            _tmp: tmp,
            dir,
            index,
        }
    }

    fn reference(&self) -> String {
        format!("oci:{}:new", p(&self.dir))
    }

    fn assert_untouched(&self, case: &str) {
        let now = std::fs::read(self.dir.join("index.json")).expect("read index.json");
        assert!(now == self.index, "{case}: index.json changed");
        assert_eq!(tags(&self.dir), vec!["latest".to_string()], "{case}");
        assert_no_stray_files(&self.dir);
    }
}

/// Copies `src` (reference plus extra arguments) into a fresh destination and checks the
/// failure; returns the error line.
fn copy_fails(name: &str, src: &[String], needle: &str) -> String {
    let dest = Dest::new();
    let mut args = vec![src[0].clone(), dest.reference()];
    args.extend(src[1..].iter().cloned());
    let out = oci_copy(&args);
    let line = assert_failure(&out, 1, &[needle]);
    dest.assert_untouched(name);
    line
}

fn verify_fails(name: &str, reference: &str) {
    let out: Output = oci_copy(["verify", reference]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{name}: verify\n{}",
        describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{name}\n{}", describe(&out));
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("oci-copy: "), "{name}\n{}", describe(&out));
}

#[test]
fn the_corpus_has_at_least_15_kinds_and_every_input_exists() {
    let cases = cases();
    assert!(cases.len() >= 15, "only {} cases", cases.len());
    for c in &cases {
        if c.name != "unknown-transport" {
            assert!(
                testdata("malformed").join(&c.name).exists(),
                "{} is listed in cases.json but missing",
                c.name
            );
        }
        assert!(!c.error.is_empty(), "{}: no expected text", c.name);
    }
}

#[test]
fn every_malformed_input_fails_with_its_error_and_leaves_the_destination_alone() {
    for c in cases().into_iter().filter(|c| !c.dest) {
        let line = copy_fails(&c.name, &c.reference, &c.error);
        // The one line names the object: the reference, or the archive or layout file.
        assert!(
            line.contains(&c.name) || c.name == "unknown-transport",
            "{line}"
        );
        if c.verify {
            verify_fails(&c.name, &c.reference[0]);
        }
    }
}

/// Every destination that cannot be committed to is refused when it is opened: exit 1,
/// one line naming it and the reason, and not one byte of it changed (no blob written).
#[test]
fn every_malformed_destination_is_refused_before_anything_is_written() {
    let source = format!("oci:{}:latest", p(&testdata("oci-layout")));
    let dests: Vec<Case> = cases().into_iter().filter(|c| c.dest).collect();
    assert!(dests.len() >= 6, "only {} destination cases", dests.len());
    for c in dests {
        let tmp = tempdir();
        let dir = tmp.path().join(&c.name);
        crate::support::copy_dir(&testdata("malformed").join(&c.name), &dir);
        let before = snapshot(&dir);
        let reference = c.reference[0].replace(&p(&testdata("malformed")), &p(tmp.path()));
        let out = oci_copy([source.as_str(), &reference]);
        let line = assert_failure(&out, 1, &[&c.error]);
        assert!(line.contains(&c.name), "{}: {line}", c.name);
        assert_eq!(
            snapshot(&dir),
            before,
            "{}: the destination changed",
            c.name
        );
        let siblings = std::fs::read_dir(tmp.path()).expect("read tmp").count();
        assert_eq!(siblings, 1, "{}: something was left beside it", c.name);
    }
}

/// Every path under `dir` with its bytes (directories as `None`).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                out.push((path.clone(), None));
                todo.push(path);
            } else {
                out.push((path.clone(), Some(std::fs::read(&path).expect("read"))));
            }
        }
    }
    out.sort();
    out
}

/// A manifest 1 byte over the limit, with a correct digest and size: refused before it
/// is read, by size, and named.
#[test]
fn manifest_over_4_mib_is_refused() {
    let tmp = tempdir();
    let src = tmp.path().join("huge-manifest");
    crate::support::layout::empty_layout(&src);
    let limit = 4 * 1024 * 1024;
    let prefix = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"pad":""#;
    let suffix = br#""},"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    let mut bytes = prefix.to_vec();
    bytes.resize(limit + 1 - suffix.len(), b'x');
    bytes.extend_from_slice(suffix);
    assert_eq!(bytes.len(), limit + 1);
    let digest = write_blob(&src, &bytes);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest, "size": bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "big"}}]});
    std::fs::write(src.join("index.json"), index.to_string()).expect("write index.json");
    let reference = format!("oci:{}:big", p(&src));
    let line = copy_fails(
        "huge-manifest",
        std::slice::from_ref(&reference),
        "over the 4 MiB limit",
    );
    assert!(line.contains(&digest), "{line}");
    verify_fails("huge-manifest", &reference);
}

fn write_blob(layout: &Path, bytes: &[u8]) -> String {
    let hex = hex::encode(sha2::Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).expect("write blob");
    format!("sha256:{hex}")
}
