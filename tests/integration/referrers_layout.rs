//! `--referrers` through OCI layouts and oci-archives: a registry's referrers written as
//! oras writes them (blobs, listed untagged in index.json with their artifactType; cosign
//! tags as tags), read back from there into another registry, shown by
//! `inspect --referrers` and checked by `verify --referrers`. oras-py validates the layout.

use serde_json::Value;

use crate::referrers::{assert_all_landed, assert_signature_verifies};
use crate::support::layout::{blob_path, index};
use crate::support::referrers::{oras, push_signed, ATTESTATION, SBOM, SIGNATURE};
use crate::support::registry::Registry;
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir};

fn entry<'a>(index: &'a Value, digest: &str) -> &'a Value {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["digest"] == digest)
        .unwrap_or_else(|| panic!("{digest} not in index.json: {index}"))
}

#[test]
fn registry_to_layout_to_registry() {
    let (a, c) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let dir = work.path().join("bundle");
    let out = oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        "--src-tls-verify=false",
        &a.url("lab/app:v1"),
        &format!("oci:{}:v1", p(&dir)),
    ]);
    assert_success(&out);
    assert_layout_holds(&dir, &s);
    // And from the layout into another registry: everything lands as it was.
    let out = oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", p(&dir)),
        &c.url("far/app:v1"),
    ]);
    assert_success(&out);
    assert_all_landed(&c.host, "far/app", &s);
    assert_signature_verifies(&c.host, "far/app", &s);
}

/// The layout holds `s` as oras stores it, and oras-py reads it.
fn assert_layout_holds(dir: &std::path::Path, s: &crate::support::referrers::Signed) {
    let idx = index(dir);
    assert_eq!(idx["manifests"].as_array().unwrap().len(), 5, "{idx}");
    assert_eq!(
        entry(&idx, &s.image.digest)["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    for (doc, t) in [
        (&s.sbom, SBOM),
        (&s.attestation, ATTESTATION),
        (&s.sbom_sig, SIGNATURE),
    ] {
        let e = entry(&idx, &doc.digest);
        assert_eq!(e["artifactType"], t, "{e}");
        assert!(
            e["annotations"]
                .get("org.opencontainers.image.ref.name")
                .is_none(),
            "{e}"
        );
        assert_eq!(
            std::fs::read(blob_path(dir, &doc.digest)).unwrap(),
            doc.bytes
        );
    }
    assert_eq!(
        entry(&idx, &s.sig.digest)["annotations"]["org.opencontainers.image.ref.name"],
        s.sig_tag.as_str()
    );
    // oras-py validates the layout and walks the image and the signature tag.
    let walked = oras(&["layout", &p(dir), "v1", &s.sig_tag]);
    assert!(
        walked.lines().nth(1).unwrap().contains(&s.sig.digest),
        "{walked}"
    );
}

#[test]
fn registry_to_oci_archive_to_registry() {
    let (a, c) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let tar = work.path().join("bundle.tar");
    let archive = format!("oci-archive:{}:v1", p(&tar));
    let out = oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        "--src-tls-verify=false",
        &a.url("lab/app:v1"),
        &archive,
    ]);
    assert_success(&out);
    let out = oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        "--dest-tls-verify=false",
        &archive,
        &c.url("far/app:v1"),
    ]);
    assert_success(&out);
    assert_all_landed(&c.host, "far/app", &s);
    // A local source streams into the archive: the referrers are in its index.json too.
    let tar2 = work.path().join("again.tar");
    let out = oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        &archive,
        &format!("oci-archive:{}:v1", p(&tar2)),
    ]);
    assert_success(&out);
    let tree = oci_copy([
        "inspect",
        "--referrers",
        "--json",
        &format!("oci-archive:{}:v1", p(&tar2)),
    ]);
    assert_success(&tree);
    let v: Value = serde_json::from_slice(&tree.stdout).unwrap();
    assert_eq!(v["referrers"].as_array().unwrap().len(), 3, "{v}");
}

#[test]
fn inspect_shows_the_tree_of_a_registry_as_text() {
    let a = Registry::start();
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let out = oci_copy([
        "inspect",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
    ]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let line_of = |d: &str| {
        text.lines()
            .position(|l| l.contains(d))
            .unwrap_or_else(|| panic!("{d} missing:\n{text}"))
    };
    assert!(text.starts_with(&s.image.digest), "{text}");
    assert!(
        text.contains(&format!("{SBOM} {}", s.sbom.digest)),
        "{text}"
    );
    assert!(text.contains("(referrers tag schema)"), "{text}");
    assert!(
        text.contains(&format!(
            "{} {}",
            s.sig_tag.replace("sha256-", "cosign tag sha256-"),
            s.sig.digest
        )),
        "{text}"
    );
    assert!(text.contains("test.kind=application/spdx+json"), "{text}");
    // The SBOM's signature hangs below the SBOM, one level deeper.
    assert!(line_of(&s.sbom_sig.digest) > line_of(&s.sbom.digest));
    assert!(
        text.lines()
            .nth(line_of(&s.sbom_sig.digest))
            .unwrap()
            .starts_with("│   └── "),
        "{text}"
    );
}

#[test]
fn inspect_shows_the_tree_of_a_layout_as_json() {
    let a = Registry::start();
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let dir = work.path().join("l");
    assert_success(&oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
        &format!("oci:{}:v1", p(&dir)),
    ]));
    let out = oci_copy([
        "inspect",
        "--referrers",
        "--json",
        &format!("oci:{}:v1", p(&dir)),
    ]);
    assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["digest"], s.image.digest.as_str());
    let sbom = v["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["digest"] == s.sbom.digest.as_str())
        .expect("the SBOM");
    assert_eq!(sbom["artifactType"], SBOM);
    assert_eq!(sbom["size"], s.sbom.bytes.len());
    assert_eq!(sbom["foundBy"], "layout index.json");
    assert_eq!(sbom["annotations"]["test.kind"], SBOM);
    assert_eq!(sbom["referrers"][0]["digest"], s.sbom_sig.digest.as_str());
}

#[test]
fn verify_checks_subjects_blobs_and_signed_digests() {
    let a = Registry::start();
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let out = oci_copy([
        "verify",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
    ]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        5,
        "{text}"
    );
    let dir = work.path().join("l");
    assert_success(&oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
        &format!("oci:{}:v1", p(&dir)),
    ]));
    assert_success(&oci_copy([
        "verify",
        "--referrers",
        &format!("oci:{}:v1", p(&dir)),
    ]));
    let whole = oci_copy(["verify", "--referrers", &format!("oci:{}", p(&dir))]);
    assert_success(&whole);
    // A corrupt SBOM layer is named by digest.
    let m: Value = serde_json::from_slice(&s.sbom.bytes).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let path = blob_path(&dir, layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = oci_copy(["verify", "--referrers", &format!("oci:{}:v1", p(&dir))]);
    assert_failure(&out, 1, &[layer, "digest mismatch"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("FAILED oci:{}:v1 referrer {SBOM}", p(&dir))),
        "{}",
        describe(&out)
    );
}
