//! `oci-copy manifest-digest FILE` against `skopeo manifest-digest`: the same line for every
//! manifest and index in the fixtures (pretty-printed ones, v2s2, attestation indexes),
//! and a clear refusal of schema 1, which skopeo digests with its signatures stripped.

use std::path::{Path, PathBuf};

use crate::support::judges::skopeo;
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir, testdata};

/// Every blob under `blobs/sha256/` of the fixture layouts whose JSON says it is a manifest
/// or an index.
fn manifest_blobs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in ["oci-layout", "oci-index", "world"] {
        collect(&testdata(root), &mut out);
    }
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        let path = e.path();
        if path.is_dir() {
            collect(&path, out);
            continue;
        }
        let in_blobs = path.parent().is_some_and(|d| d.ends_with("blobs/sha256"));
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap())
        else {
            continue;
        };
        let t = v["mediaType"].as_str().unwrap_or("");
        if in_blobs && (t.contains("manifest") || t.contains("index")) {
            out.push(path);
        }
    }
}

#[test]
fn every_fixture_manifest_gets_skopeos_digest() {
    let files = manifest_blobs();
    assert!(files.len() >= 8, "too few manifests found: {files:?}");
    for f in &files {
        let ours = oci_copy(["manifest-digest", &p(f)]);
        assert_success(&ours);
        let theirs = skopeo(&["manifest-digest", &p(f)]);
        assert!(theirs.status.success(), "{}", describe(&theirs));
        assert_eq!(ours.stdout, theirs.stdout, "{}", f.display());
        let name = f.file_name().unwrap().to_str().unwrap();
        assert_eq!(ours.stdout, format!("sha256:{name}\n").as_bytes());
    }
}

#[test]
fn a_v2s2_manifest_gets_skopeos_digest() {
    let tmp = tempdir();
    let file = tmp.path().join("m.json");
    let src = format!("docker-archive:{}", p(&testdata("docker-legacy.tar")));
    let raw = oci_copy(["inspect", "--raw", &src]);
    assert_success(&raw);
    std::fs::write(&file, &raw.stdout).unwrap();
    let ours = oci_copy(["manifest-digest", &p(&file)]);
    assert_success(&ours);
    assert_eq!(ours.stdout, skopeo(&["manifest-digest", &p(&file)]).stdout);
}

#[test]
fn schema1_and_non_manifests_are_refused() {
    let s1 = testdata("malformed/schema1-manifest/blobs/sha256")
        .join("b58a439586262b3a806ca93aba0e5fd9a94853ecdb71f09299b27f6ea2e5da67");
    let out = oci_copy(["manifest-digest", &p(&s1)]);
    let line = assert_failure(&out, 1, &["schema 1", "without its signatures"]);
    assert!(line.contains(&p(&s1)), "{line}");
    assert!(out.stdout.is_empty());
    let tmp = tempdir();
    let junk = tmp.path().join("junk");
    std::fs::write(&junk, b"\x00\x01 not a manifest").unwrap();
    assert_failure(
        &oci_copy(["manifest-digest", &p(&junk)]),
        1,
        &["not valid JSON"],
    );
    let missing = tmp.path().join("missing.json");
    assert_failure(
        &oci_copy(["manifest-digest", &p(&missing)]),
        1,
        &["reading", "missing.json"],
    );
    let big = tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; 5 << 20]).unwrap();
    assert_failure(&oci_copy(["manifest-digest", &p(&big)]), 1, &["4 MiB"]);
}
