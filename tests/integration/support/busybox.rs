//! The runnable test image, built at test time from Debian's `busybox-static`: one gzip layer
//! holding `/bin/busybox` (and `/bin/sh` linked to it), whose entrypoint prints [`LINE`].
//! Nothing is committed: the layout is made fresh in a temporary directory.

use std::path::Path;

use serde_json::json;

use super::fixtures::host_architecture;
use super::layout::{empty_layout, write_blob};

/// What the image prints when it runs.
pub const LINE: &str = "oci-copy busybox test image: hello";

/// Where `busybox-static` installs its binary.
const BUSYBOX: &str = "/bin/busybox";

/// Writes the image into a new OCI layout at `dir`, tagged `tag`; returns its config digest.
pub fn layout(dir: &Path, tag: &str) -> String {
    let binary = static_busybox();
    let layer = layer_tar(&binary);
    let diff_id = sha256_of(&layer);
    let gz = gzip(&layer);
    empty_layout(dir);
    let (layer_digest, layer_size) = write_blob(dir, &gz);
    let config = json!({
        "architecture": host_architecture(),
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": { "Entrypoint": ["/bin/busybox", "echo", LINE] },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": "2024-01-01T00:00:00Z", "created_by": "busybox-static" }]
    });
    let config = serde_json::to_vec(&config).expect("JSON");
    let (config_digest, config_size) = write_blob(dir, &config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                     "digest": layer_digest, "size": layer_size }]
    });
    let manifest = serde_json::to_vec(&manifest).expect("JSON");
    let (digest, size) = write_blob(dir, &manifest);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": digest, "size": size,
                        "annotations": { "org.opencontainers.image.ref.name": tag } }]
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("write index.json");
    config_digest
}

/// The bytes of a statically linked `/bin/busybox`, or a panic that says how to get one.
fn static_busybox() -> Vec<u8> {
    let hint = "install busybox-static: `apt-get install -y busybox-static`";
    let bytes = std::fs::read(BUSYBOX).unwrap_or_else(|e| panic!("{BUSYBOX}: {e}; {hint}"));
    assert!(
        !has_interpreter(&bytes),
        "{BUSYBOX} is dynamically linked (Debian's busybox package); {hint}"
    );
    bytes
}

/// Whether a 64-bit little-endian ELF file names a program interpreter (`PT_INTERP`), as
/// every dynamically linked executable does.
fn has_interpreter(elf: &[u8]) -> bool {
    let u = |at: usize, n: usize| -> usize {
        let mut v = 0usize;
        for (i, b) in elf[at..at + n].iter().enumerate() {
            v |= (*b as usize) << (8 * i);
        }
        v
    };
    assert!(
        elf.starts_with(b"\x7fELF\x02\x01"),
        "{BUSYBOX} is not a 64-bit LE ELF file"
    );
    let (phoff, phentsize, phnum) = (u(0x20, 8), u(0x36, 2), u(0x38, 2));
    (0..phnum).any(|i| u(phoff + i * phentsize, 4) == 3)
}

/// A layer tar: `bin/`, `bin/busybox` (0755) and the symlink `bin/sh` → `busybox`.
fn layer_tar(binary: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(0);
    b.append_data(&mut dir, "bin/", std::io::empty())
        .expect("tar");
    let mut file = tar::Header::new_ustar();
    file.set_mode(0o755);
    file.set_size(binary.len() as u64);
    file.set_mtime(0);
    b.append_data(&mut file, "bin/busybox", binary)
        .expect("tar");
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_mode(0o777);
    link.set_size(0);
    link.set_mtime(0);
    b.append_link(&mut link, "bin/sh", "busybox").expect("tar");
    b.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn sha256_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
