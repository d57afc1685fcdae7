//! Signed images for the referrers tests, made without oci-copy's referrer code: the image
//! (testdata/oci-layout) pushed into a registry, a cosign legacy signature tag made by
//! `testdata/make-cosign-sig.sh` (openssl), an SBOM and an in-toto attestation as OCI 1.1
//! artifacts with `subject`, and a signature of the SBOM (a referrer of a referrer), all
//! pushed by the tests' own HTTP client. For a registry without the referrers API the
//! pusher keeps the referrers tag schema's `sha256-<hex>` indexes, as a client must.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::push::{push_blob, push_manifest, sha256};
use super::{assert_success, oci_copy, p, testdata};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const SBOM: &str = "application/spdx+json";
pub const ATTESTATION: &str = "application/vnd.in-toto+json";
pub const SIGNATURE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// A manifest pushed: its bytes and digest.
#[derive(Clone, Debug)]
pub struct Doc {
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Doc {
    fn new(bytes: Vec<u8>) -> Doc {
        Doc {
            digest: sha256(&bytes),
            bytes,
        }
    }

    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// As a referrers list names it.
    pub fn listed(&self, artifact_type: &str) -> Value {
        let v: Value = serde_json::from_slice(&self.bytes).unwrap();
        let mut d = json!({"mediaType": OCI_MANIFEST, "digest": self.digest,
            "size": self.bytes.len(), "artifactType": artifact_type});
        if let Some(a) = v.get("annotations") {
            d["annotations"] = a.clone();
        }
        d
    }

    fn descriptor(&self) -> Value {
        json!({"mediaType": OCI_MANIFEST, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// An image and everything that refers to it.
pub struct Signed {
    pub image: Doc,
    /// The cosign legacy tag and its manifest; `dir` holds the payload, key and signature.
    pub sig_tag: String,
    pub sig: Doc,
    pub sig_dir: PathBuf,
    pub sbom: Doc,
    pub attestation: Doc,
    pub sbom_sig: Doc,
}

/// Pushes testdata/oci-layout:latest as `repo:tag` on `host`, and its referrers; with
/// `tag_schema`, also the `sha256-<hex>` indexes that list them. `work` holds the files.
pub fn push_signed(host: &str, repo: &str, tag: &str, tag_schema: bool, work: &Path) -> Signed {
    let src = format!("oci:{}:latest", p(&testdata("oci-layout")));
    let out = oci_copy([
        "--quiet",
        "copy",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{host}/{repo}:{tag}"),
    ]);
    assert_success(&out);
    let (status, bytes) = super::push::get_manifest(host, repo, tag);
    assert_eq!(status, 200);
    let image = Doc::new(bytes);
    let (sig_tag, sig, sig_dir) = legacy_signature(host, repo, &image, work);
    let sbom = artifact(
        host,
        repo,
        SBOM,
        br#"{"spdxVersion":"SPDX-2.3","name":"app","packages":[]}"#,
        &image,
        &[],
    );
    let statement = json!({"_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": repo, "digest": {"sha256": image.hex()}}],
        "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}});
    let attestation = artifact(
        host,
        repo,
        ATTESTATION,
        statement.to_string().as_bytes(),
        &image,
        &[],
    );
    let sbom_sig = signature_of(host, repo, &sbom, &work.join("sbom-sig"));
    if tag_schema {
        tag_index(
            host,
            repo,
            &image,
            &[sbom.listed(SBOM), attestation.listed(ATTESTATION)],
        );
        tag_index(host, repo, &sbom, &[sbom_sig.listed(SIGNATURE)]);
    }
    Signed {
        image,
        sig_tag,
        sig,
        sig_dir,
        sbom,
        attestation,
        sbom_sig,
    }
}

/// Runs the committed script: a simple-signing payload for `subject`, signed by openssl.
pub fn make_signature(dir: &Path, reference: &str, subject: &str) {
    let out = Command::new(testdata("make-cosign-sig.sh"))
        .args([p(dir), reference.to_string(), subject.to_string()])
        .output()
        .expect("bash runs the script");
    assert!(
        out.status.success(),
        "make-cosign-sig.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cosign legacy `sha256-<hex>.sig` tag of `image`.
fn legacy_signature(host: &str, repo: &str, image: &Doc, work: &Path) -> (String, Doc, PathBuf) {
    let dir = work.join("sig");
    make_signature(&dir, &format!("{host}/{repo}"), &image.digest);
    for f in ["payload.json", "config.json"] {
        push_blob(host, repo, &std::fs::read(dir.join(f)).unwrap());
    }
    let sig = Doc::new(std::fs::read(dir.join("manifest.json")).unwrap());
    let tag = format!("sha256-{}.sig", image.hex());
    push_manifest(host, repo, &tag, OCI_MANIFEST, &sig.bytes);
    (tag, sig, dir)
}

/// An OCI 1.1 signature (cosign 3's form) of `subject`, made by the script.
fn signature_of(host: &str, repo: &str, subject: &Doc, dir: &Path) -> Doc {
    make_signature(dir, &format!("{host}/{repo}"), &subject.digest);
    let legacy: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let payload = std::fs::read(dir.join("payload.json")).unwrap();
    let annotations = legacy["layers"][0]["annotations"].clone();
    let pairs: Vec<(String, String)> =
        serde_json::from_value::<std::collections::BTreeMap<String, String>>(annotations)
            .unwrap()
            .into_iter()
            .collect();
    let layer_annotations: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    artifact_with(
        host,
        repo,
        SIGNATURE,
        (SIMPLE_SIGNING, &payload, &layer_annotations),
        subject,
    )
}

/// An OCI 1.1 artifact of `artifact_type` with one layer of that type and the empty config.
pub fn artifact(
    host: &str,
    repo: &str,
    artifact_type: &str,
    layer: &[u8],
    subject: &Doc,
    annotations: &[(&str, &str)],
) -> Doc {
    artifact_with(
        host,
        repo,
        artifact_type,
        (artifact_type, layer, annotations),
        subject,
    )
}

fn artifact_with(
    host: &str,
    repo: &str,
    artifact_type: &str,
    (layer_type, layer, annotations): (&str, &[u8], &[(&str, &str)]),
    subject: &Doc,
) -> Doc {
    let config = push_blob(host, repo, b"{}");
    let digest = push_blob(host, repo, layer);
    let mut l = json!({"mediaType": layer_type, "digest": digest, "size": layer.len()});
    if !annotations.is_empty() {
        l["annotations"] = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": EMPTY, "digest": config, "size": 2}, "layers": [l],
        "subject": subject.descriptor(),
        "annotations": {"org.opencontainers.image.created": "2024-05-01T00:00:00Z", "test.kind": artifact_type}});
    let doc = Doc::new(serde_json::to_vec(&m).unwrap());
    push_manifest(host, repo, &doc.digest, OCI_MANIFEST, &doc.bytes);
    doc
}

/// Pushes the referrers tag schema's index for `subject`, listing `entries`.
pub fn tag_index(host: &str, repo: &str, subject: &Doc, entries: &[Value]) {
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    push_manifest(
        host,
        repo,
        &format!("sha256-{}", subject.hex()),
        OCI_INDEX,
        idx.to_string().as_bytes(),
    );
}

/// The digests a `sha256-<hex>` index lists (none when there is no such tag).
pub fn listed(host: &str, repo: &str, subject: &str) -> Vec<String> {
    let tag = format!("sha256-{}", subject.trim_start_matches("sha256:"));
    let (status, body) = super::push::get_manifest(host, repo, &tag);
    if status == 404 {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["mediaType"], OCI_INDEX, "{tag}: {v}");
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Whether openssl verifies the base64 signature `sig_b64` of `payload` with the key in `dir`.
pub fn openssl_verifies(dir: &Path, payload: &[u8], sig_b64: &str) -> bool {
    use base64::Engine as _;
    let t = super::tempdir();
    std::fs::write(t.path().join("payload"), payload).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig_b64)
        .unwrap();
    std::fs::write(t.path().join("sig"), sig).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("cosign.pub"))
        .arg("-signature")
        .arg(t.path().join("sig"))
        .arg(t.path().join("payload"))
        .output()
        .unwrap()
        .status
        .success()
}

/// Runs `support/oras_judge.py` (oras-py, installed by tests/run-all.sh) and returns its
/// stdout; panics when it fails.
pub fn oras(args: &[&str]) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/support/oras_judge.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "oras_judge.py {args:?}: {}\n(oras-py missing? tests/run-all.sh installs it)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
