//! The tiny objects the probe writes: a unique id, an image of one small layer (its config
//! carries the id, so no digest collides with anything already in the repository), the
//! manifests and indexes of each type that point at it, and an OCI artifact with a subject.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::digest::Digest;
use crate::media_type as mt;

/// `{}`, the OCI empty descriptor's content.
pub const EMPTY_JSON: &[u8] = b"{}";
/// The artifact type of the probe's artifact.
pub const ARTIFACT_TYPE: &str = "application/vnd.oci-copy.probe.v1";

/// A blob and its digest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Blob {
        let digest = Digest::sha256_of(&bytes);
        Blob { bytes, digest }
    }
}

/// A short id unique to this run: 12 hex digits of time, process and a counter.
pub fn unique_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!(
        "{nanos}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    Digest::sha256_of(seed.as_bytes()).hex()[..12].to_string()
}

/// `n` bytes that no other run writes.
pub fn noise(id: &str, label: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u32;
    while out.len() < n {
        let d = Digest::sha256_of(format!("{id}/{label}/{i}").as_bytes());
        out.extend_from_slice(d.hex().as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

/// The probe image: a gzipped tar holding one small file, and a config naming the run.
pub struct Image {
    pub config: Blob,
    pub layer: Blob,
}

impl Image {
    pub fn new(id: &str) -> Image {
        let tar = tar_of_one_file("oci-copy-probe", id.as_bytes());
        let diff_id = Digest::sha256_of(&tar);
        let layer = Blob::new(gzip(&tar));
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"org.opencontainers.image.description": format!("oci-copy probe {id}")}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        });
        Image {
            config: Blob::new(serde_json::to_vec(&config).expect("JSON values serialise")),
            layer,
        }
    }

    /// The image manifest, OCI or Docker v2s2.
    pub fn manifest(&self, oci: bool) -> Vec<u8> {
        let (m, c, l) = if oci {
            (mt::OCI_MANIFEST, mt::OCI_CONFIG, mt::OCI_LAYER_GZIP)
        } else {
            (
                mt::DOCKER_MANIFEST,
                mt::DOCKER_CONFIG,
                mt::DOCKER_LAYER_GZIP,
            )
        };
        to_vec(json!({
            "schemaVersion": 2,
            "mediaType": m,
            "config": descriptor(c, &self.config),
            "layers": [descriptor(l, &self.layer)],
        }))
    }
}

fn descriptor(media_type: &str, b: &Blob) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": b.digest.to_string(), "size": b.bytes.len()})
}

fn to_vec(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).expect("JSON values serialise")
}

/// An OCI index (`oci`) or a Docker manifest list of one linux/amd64 entry.
pub fn index(oci: bool, child_type: &str, child: &Blob) -> Vec<u8> {
    let m = if oci { mt::OCI_INDEX } else { mt::DOCKER_LIST };
    let mut entry = descriptor(child_type, child);
    entry["platform"] = json!({"architecture": "amd64", "os": "linux"});
    to_vec(json!({"schemaVersion": 2, "mediaType": m, "manifests": [entry]}))
}

/// An OCI artifact: `artifactType`, the empty config and layer, and `subject`.
pub fn artifact(id: &str, subject: &Blob) -> Vec<u8> {
    let empty = Blob::new(EMPTY_JSON.to_vec());
    to_vec(json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": descriptor(mt::OCI_EMPTY, &empty),
        "layers": [descriptor(mt::OCI_EMPTY, &empty)],
        "subject": descriptor(mt::OCI_MANIFEST, subject),
        "annotations": {"org.opencontainers.image.description": format!("oci-copy probe {id}")},
    }))
}

fn tar_of_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, name, data)
        .expect("writing a tar into memory cannot fail");
    b.into_inner()
        .expect("writing a tar into memory cannot fail")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("writing into memory cannot fail");
    e.finish().expect("writing into memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_writes_different_objects() {
        let (a, b) = (unique_id(), unique_id());
        assert_ne!(a, b);
        assert_ne!(Image::new(&a).config.digest, Image::new(&b).config.digest);
        assert_eq!(noise(&a, "x", 100).len(), 100);
        let img = Image::new(&a);
        let m: serde_json::Value = serde_json::from_slice(&img.manifest(true)).unwrap();
        assert_eq!(m["layers"][0]["digest"], img.layer.digest.to_string());
        let art: serde_json::Value =
            serde_json::from_slice(&artifact(&a, &Blob::new(img.manifest(true)))).unwrap();
        assert_eq!(art["artifactType"], ARTIFACT_TYPE);
    }
}
