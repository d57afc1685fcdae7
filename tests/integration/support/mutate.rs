//! Builds bad inputs at test time from copies of the fixtures: tampered blobs, configs that
//! lie about diff_ids (with every digest above them rewritten consistently), truncated or
//! repacked archives, and edited `manifest.json` files.

use super::check::extract_archive;
use super::layout::{blob_path, descriptor, index, manifest, read_blob, read_json, write_blob};
use super::{copy_dir, tempdir};
use serde_json::Value;
use sha2::Digest as _;
use std::path::{Path, PathBuf};

/// Copies the fixture layout `name` under `tmp` and returns the copy's path.
pub fn layout_copy(name: &str, tmp: &Path) -> PathBuf {
    let dir = tmp.join(name);
    copy_dir(&super::testdata(name), &dir);
    dir
}

/// Inverts one byte in the middle of `path`, keeping its size.
pub fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read file to tamper");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(path, bytes).expect("write tampered file");
}

/// The digest of layer `i` of the image tagged `tag`.
pub fn layer_digest(layout: &Path, tag: &str, i: usize) -> String {
    manifest(layout, tag)["layers"][i]["digest"]
        .as_str()
        .expect("layer digest")
        .to_string()
}

/// Tampers with the first layer blob of `tag`; returns that layer's digest.
pub fn tamper_layer(layout: &Path, tag: &str) -> String {
    let digest = layer_digest(layout, tag, 0);
    flip_byte(&blob_path(layout, &digest));
    digest
}

/// Edits the manifest tagged `tag`, stores it, and points index.json at it.
pub fn rewrite_manifest(layout: &Path, tag: &str, edit: impl FnOnce(&mut Value)) {
    let mut m = manifest(layout, tag);
    edit(&mut m);
    let (digest, size) = write_blob(layout, &serde_json::to_vec(&m).expect("serialise manifest"));
    let old = descriptor(layout, tag)["digest"].clone();
    let mut idx = index(layout);
    for d in idx["manifests"].as_array_mut().expect("manifests array") {
        if d["digest"] == old {
            d["digest"] = digest.clone().into();
            d["size"] = size.into();
        }
    }
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&idx).expect("serialise index"),
    )
    .expect("write index.json");
}

/// Edits the config of the image tagged `tag`, rewriting the manifest and index to match.
pub fn rewrite_config(layout: &Path, tag: &str, edit: impl FnOnce(&mut Value)) {
    let old = manifest(layout, tag)["config"]["digest"]
        .as_str()
        .expect("config digest")
        .to_string();
    let mut config: Value = serde_json::from_slice(&read_blob(layout, &old)).expect("config JSON");
    edit(&mut config);
    let (digest, size) = write_blob(
        layout,
        &serde_json::to_vec(&config).expect("serialise config"),
    );
    rewrite_manifest(layout, tag, |m| {
        m["config"]["digest"] = digest.into();
        m["config"]["size"] = size.into();
    });
}

/// Makes diff_ids[0] wrong while every digest stays consistent; returns the wrong diff_id.
pub fn wrong_diff_id(layout: &Path, tag: &str) -> String {
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let value = wrong.clone();
    rewrite_config(layout, tag, |c| c["rootfs"]["diff_ids"][0] = value.into());
    wrong
}

/// Drops the config's last diff_id, so it names one fewer than the manifest's layers,
/// while every digest stays consistent.
pub fn drop_last_diff_id(layout: &Path, tag: &str) {
    rewrite_config(layout, tag, |c| {
        c["rootfs"]["diff_ids"]
            .as_array_mut()
            .expect("diff_ids array")
            .pop();
    });
}

/// Truncates `path` to half its size.
pub fn truncate_half(path: &Path) {
    let len = std::fs::metadata(path).expect("stat archive").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open archive");
    file.set_len(len / 2).expect("truncate archive");
}

/// Tars the contents of `dir` into `file`, with paths relative to `dir` and no `./` prefix.
pub fn pack(dir: &Path, file: &Path) {
    let mut builder = tar::Builder::new(std::fs::File::create(file).expect("create tar"));
    builder.follow_symlinks(false);
    for entry in std::fs::read_dir(dir).expect("read dir to pack") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().expect("entry has a name").to_owned();
        if path.is_dir() {
            builder.append_dir_all(&name, &path).expect("pack dir");
        } else {
            builder
                .append_path_with_name(&path, &name)
                .expect("pack file");
        }
    }
    builder.finish().expect("finish tar");
}

/// Copies the archive fixture `name` to `out`, editing its extracted contents on the way.
pub fn edit_archive(name: &str, out: &Path, edit: impl FnOnce(&Path)) {
    let tmp = tempdir();
    extract_archive(&super::testdata(name), tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    edit(tmp.path());
    pack(tmp.path(), out);
}

/// In an extracted single-image docker-archive, makes diff_ids[0] wrong, storing the new
/// config under its own digest and pointing manifest.json at it; returns the wrong diff_id.
pub fn docker_wrong_diff_id(root: &Path) -> String {
    let wrong = format!("sha256:{}", "cd".repeat(32));
    let value = wrong.clone();
    docker_rewrite_config(root, |c| c["rootfs"]["diff_ids"][0] = value.into());
    wrong
}

/// In an extracted single-image docker-archive, edits the config, stores it under its own
/// digest and points manifest.json at it.
pub fn docker_rewrite_config(root: &Path, edit: impl FnOnce(&mut Value)) {
    let mut m = read_json(&root.join("manifest.json")).unwrap_or_else(|e| panic!("{e}"));
    let old = m[0]["Config"].as_str().expect("Config path").to_string();
    let mut config = read_json(&root.join(&old)).unwrap_or_else(|e| panic!("{e}"));
    edit(&mut config);
    let bytes = serde_json::to_vec(&config).expect("serialise config");
    let hex = hex::encode(sha2::Sha256::digest(&bytes));
    let new = match old.starts_with("blobs/") {
        true => format!("blobs/sha256/{hex}"),
        false => format!("{hex}.json"),
    };
    std::fs::write(root.join(&new), bytes).expect("write config");
    m[0]["Config"] = new.into();
    std::fs::write(root.join("manifest.json"), m.to_string()).expect("write manifest.json");
}

/// In an extracted docker-archive, the path of image 0's first layer.
pub fn docker_first_layer(root: &Path) -> PathBuf {
    let m = read_json(&root.join("manifest.json")).unwrap_or_else(|e| panic!("{e}"));
    root.join(m[0]["Layers"][0].as_str().expect("layer path"))
}

/// Writes a tar holding a file at the raw, unchecked path `name` (e.g. `../evil`).
pub fn tar_with_raw_path(file: &Path, name: &str) {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut builder = tar::Builder::new(std::fs::File::create(file).expect("create tar"));
    builder
        .append(&header, &b"evil"[..])
        .expect("append raw entry");
    builder.finish().expect("finish tar");
}
