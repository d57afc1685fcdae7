//! Small helpers over an OCI layout on disk: hashing files, finding a tagged descriptor,
//! reading and writing blobs, and the round-trip accessors (`manifest_bytes`,
//! `config_digest`, `diff_ids`) that tests compare for A -> B -> A' equality.

use serde_json::Value;
use sha2::Digest as _;
use std::io::Read;
use std::path::{Path, PathBuf};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Reads and parses a JSON file, naming the file in the error.
pub fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// `sha256:<hex>` or `sha512:<hex>` of a file, streamed.
pub fn file_digest(path: &Path, alg: &str) -> std::io::Result<String> {
    let hex = match alg {
        "sha512" => stream_hash::<sha2::Sha512>(path)?,
        _ => stream_hash::<sha2::Sha256>(path)?,
    };
    Ok(format!("{alg}:{hex}"))
}

fn stream_hash<D: sha2::Digest>(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// Path of the blob file for `digest` (`alg:hex`) in `layout`.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').expect("digest has the form alg:hex");
    layout.join("blobs").join(alg).join(hex)
}

/// Reads the blob for `digest`.
pub fn read_blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(blob_path(layout, digest))
        .unwrap_or_else(|e| panic!("reading blob {digest}: {e}"))
}

/// Stores `bytes` as a sha256 blob; returns (digest, size).
pub fn write_blob(layout: &Path, bytes: &[u8]) -> (String, u64) {
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    std::fs::write(blob_path(layout, &digest), bytes).expect("write blob");
    (digest, bytes.len() as u64)
}

/// The parsed index.json of `layout`.
pub fn index(layout: &Path) -> Value {
    read_json(&layout.join("index.json")).unwrap_or_else(|e| panic!("{e}"))
}

/// Every tag of `layout`, in index.json order.
pub fn tags(layout: &Path) -> Vec<String> {
    let index = index(layout);
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .filter_map(|d| d["annotations"][REF_NAME].as_str().map(String::from))
        .collect()
}

/// The index.json descriptor tagged `tag` (panics unless exactly one carries it).
pub fn descriptor(layout: &Path, tag: &str) -> Value {
    let index = index(layout);
    let found: Vec<Value> = index["manifests"]
        .as_array()
        .expect("index.json has a manifests array")
        .iter()
        .filter(|d| d["annotations"][REF_NAME].as_str() == Some(tag))
        .cloned()
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one descriptor tagged {tag:?} in {}",
        layout.display()
    );
    found[0].clone()
}

/// The raw bytes of the manifest (or index) tagged `tag`.
pub fn manifest_bytes(layout: &Path, tag: &str) -> Vec<u8> {
    let desc = descriptor(layout, tag);
    read_blob(
        layout,
        desc["digest"].as_str().expect("descriptor has a digest"),
    )
}

/// The parsed manifest tagged `tag`.
pub fn manifest(layout: &Path, tag: &str) -> Value {
    serde_json::from_slice(&manifest_bytes(layout, tag)).expect("manifest is JSON")
}

/// The config digest of the image manifest tagged `tag`.
pub fn config_digest(layout: &Path, tag: &str) -> String {
    manifest(layout, tag)["config"]["digest"]
        .as_str()
        .expect("manifest has a config digest")
        .to_string()
}

/// The parsed config of the image tagged `tag`.
pub fn config(layout: &Path, tag: &str) -> Value {
    serde_json::from_slice(&read_blob(layout, &config_digest(layout, tag))).expect("config is JSON")
}

/// The config's rootfs.diff_ids of the image tagged `tag`.
pub fn diff_ids(layout: &Path, tag: &str) -> Vec<String> {
    let config = config(layout, tag);
    let ids = config["rootfs"]["diff_ids"]
        .as_array()
        .expect("config has diff_ids");
    ids.iter()
        .map(|v| v.as_str().expect("diff_id is a string").to_string())
        .collect()
}

/// Creates a valid, empty OCI layout at `dir`.
pub fn empty_layout(dir: &Path) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("create layout");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write oci-layout");
    std::fs::write(
        dir.join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .expect("write index.json");
}

/// Asserts that every file in `layout` is `oci-layout`, `index.json` or a blob whose content
/// matches its name: a failed copy may leave verified blobs, but no temporary or bad files.
pub fn assert_no_stray_files(layout: &Path) {
    for file in walk_files(layout) {
        let rel = file.strip_prefix(layout).expect("walked under layout");
        let parts: Vec<String> = rel
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        match parts.as_slice() {
            [name] if name == "oci-layout" || name == "index.json" => {}
            [blobs, alg, hex] if blobs == "blobs" => {
                let actual = file_digest(&file, alg).expect("hash blob");
                assert_eq!(
                    actual,
                    format!("{alg}:{hex}"),
                    "blob file content does not match its name"
                );
            }
            _ => panic!("stray file left in destination layout: {}", rel.display()),
        }
    }
}

/// Every regular file under `dir`, recursively.
pub fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
