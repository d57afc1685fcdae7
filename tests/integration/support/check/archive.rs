//! The docker-archive half of the checker, and safe archive extraction: `manifest.json`
//! entries are checked against their config (image ID = config sha256, one diff_id per
//! layer file), and the Docker 25+ hybrid form is also checked as an OCI layout.

use super::{
    as_array, config_facts, decompress, try_check_oci_layout, walk_layer, Checked, Compression,
    Report,
};
use crate::support::layout::{file_digest, read_json};
use serde_json::Value;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Facts about one image of a docker-archive.
#[derive(Debug, Clone)]
pub struct DockerImage {
    pub config_digest: String,
    pub repo_tags: Vec<String>,
    pub layer_paths: Vec<String>,
    pub diff_ids: Vec<String>,
    pub compressed_layers: usize,
    pub architecture: String,
    pub os: String,
}

/// What a verified docker-archive holds; `layout` is set for the Docker 25+ hybrid form.
#[derive(Debug, Clone)]
pub struct DockerReport {
    pub images: Vec<DockerImage>,
    pub layout: Option<Report>,
}

impl DockerReport {
    /// The archive's only image (panics if it holds several).
    pub fn only(&self) -> &DockerImage {
        assert_eq!(
            self.images.len(),
            1,
            "expected a single-image docker-archive: {:?}",
            self.images
        );
        &self.images[0]
    }
}

/// Verifies a docker-archive file (legacy, Docker 25+ hybrid, or gzip-compressed).
pub fn check_docker_archive(file: &Path) -> DockerReport {
    try_check_docker_archive(file)
        .unwrap_or_else(|e| panic!("invalid docker-archive {}: {e}", file.display()))
}

pub fn try_check_docker_archive(file: &Path) -> Checked<DockerReport> {
    let tmp = crate::support::tempdir();
    extract_archive(file, tmp.path())?;
    let root = tmp.path();
    let manifest = read_json(&root.join("manifest.json"))?;
    let entries = as_array(&manifest, "manifest.json")?;
    if entries.is_empty() {
        return Err("manifest.json lists no image".into());
    }
    let images = entries
        .iter()
        .map(|e| check_docker_image(root, e))
        .collect::<Checked<Vec<_>>>()?;
    let layout = match root.join("index.json").exists() {
        true => Some(try_check_oci_layout(root)?),
        false => None,
    };
    if let Some(report) = &layout {
        check_hybrid_agrees(report, &images)?;
    }
    Ok(DockerReport { images, layout })
}

fn check_hybrid_agrees(report: &Report, images: &[DockerImage]) -> Checked<()> {
    for image in images {
        if !report
            .images()
            .any(|i| i.config_digest == image.config_digest)
        {
            return Err(format!(
                "config {} of manifest.json is not in index.json",
                image.config_digest
            ));
        }
    }
    Ok(())
}

fn check_docker_image(root: &Path, entry: &Value) -> Checked<DockerImage> {
    let config_path = entry["Config"]
        .as_str()
        .ok_or("manifest.json entry without Config")?;
    let config_file = safe_join(root, config_path)?;
    // The image ID is the config's sha256, unless the archive names it by its sha512.
    let alg = named_algorithm(config_path).unwrap_or("sha256");
    let config_digest =
        file_digest(&config_file, alg).map_err(|e| format!("{config_path}: {e}"))?;
    check_named_by_digest(config_path, &config_file)?;
    let config = read_json(&config_file)?;
    let (diff_ids, architecture, os) = config_facts(&config, config_path)?;
    let layer_paths: Vec<String> = as_array(&entry["Layers"], "Layers")?
        .iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or("non-string Layers entry".to_string())
        })
        .collect::<Checked<_>>()?;
    if layer_paths.len() != diff_ids.len() {
        return Err(format!(
            "{config_path}: {} Layers but {} diff_ids",
            layer_paths.len(),
            diff_ids.len()
        ));
    }
    let mut compressed_layers = 0;
    for (path, diff_id) in layer_paths.iter().zip(&diff_ids) {
        compressed_layers += usize::from(check_docker_layer(root, path, diff_id)?);
    }
    let repo_tags = match &entry["RepoTags"] {
        Value::Null => Vec::new(),
        v => as_array(v, "RepoTags")?
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
    };
    Ok(DockerImage {
        config_digest,
        repo_tags,
        layer_paths,
        diff_ids,
        compressed_layers,
        architecture,
        os,
    })
}

/// The algorithm a file named by a digest (`<hex>`, `<hex>.json`, `blobs/ALG/<hex>`)
/// was hashed with, judged by the length of the hex name.
fn named_algorithm(path: &str) -> Option<&'static str> {
    let name = Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(name);
    if !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match stem.len() {
        64 => Some("sha256"),
        128 => Some("sha512"),
        _ => None,
    }
}

/// A file named by a digest must hash to that name.
fn check_named_by_digest(path: &str, file: &Path) -> Checked<()> {
    let Some(alg) = named_algorithm(path) else {
        return Ok(());
    };
    let digest = file_digest(file, alg).map_err(|e| format!("{path}: {e}"))?;
    let (_, hex) = digest.split_once(':').expect("alg:hex");
    if !path.trim_end_matches(".json").ends_with(hex) {
        return Err(format!(
            "{path} is named by a digest but hashes to {digest}"
        ));
    }
    Ok(())
}

/// Verifies a docker-archive layer file; returns whether it was compressed.
fn check_docker_layer(root: &Path, path: &str, diff_id: &str) -> Checked<bool> {
    let file = safe_join(root, path)?;
    let compression = sniff(&file)?;
    let reader = File::open(&file).map_err(|e| format!("{path}: {e}"))?;
    let (digest, _) =
        walk_layer(decompress(reader, compression)?).map_err(|e| format!("{path}: {e}"))?;
    if digest != diff_id {
        return Err(format!(
            "layer {path}: uncompressed sha256 {digest} != config diff_id {diff_id}"
        ));
    }
    if matches!(compression, Compression::None) {
        check_named_by_digest(path, &file)?;
    }
    Ok(!matches!(compression, Compression::None))
}

fn sniff(path: &Path) -> Checked<Compression> {
    let mut magic = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    })
}

/// Joins an archive-relative path, rejecting absolute paths and `..`.
fn safe_join(root: &Path, rel: &str) -> Checked<PathBuf> {
    let p = Path::new(rel);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("unsafe path {rel:?}"));
    }
    Ok(root.join(p))
}

/// Extracts a tar (or gzip-compressed tar) into `dest`, rejecting paths and link targets
/// that would escape it.
pub fn extract_archive(file: &Path, dest: &Path) -> Checked<()> {
    let compression = sniff(file)?;
    let reader = decompress(File::open(file).map_err(|e| e.to_string())?, compression)?;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| format!("not a tar: {e}"))? {
        let mut entry = entry.map_err(|e| format!("bad tar entry: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        safe_join(dest, &path)?;
        if let Some(target) = entry.link_name().map_err(|e| e.to_string())? {
            check_link_target(&path, &target, entry.header().entry_type().is_hard_link())?;
        }
        entry
            .unpack_in(dest)
            .map_err(|e| format!("extracting {path}: {e}"))?;
    }
    Ok(())
}

fn check_link_target(path: &str, target: &Path, hard: bool) -> Checked<()> {
    let base = if hard {
        PathBuf::new()
    } else {
        Path::new(path)
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default()
    };
    let mut depth: i64 = base.components().count() as i64;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth -= 1,
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "link {path} points outside the archive: {}",
                    target.display()
                ))
            }
        }
        if depth < 0 {
            return Err(format!(
                "link {path} points outside the archive: {}",
                target.display()
            ));
        }
    }
    Ok(())
}
