//! Checks an existing directory before an image is written into it as an OCI layout. Its
//! `oci-layout` must be a regular file that declares version 1.0.0. Its `index.json` and
//! `blobs/`, where present, must be a regular file that parses as an index and a directory.
//! [`super::layout::LayoutDestination::open`] runs the check, so a layout that the commit
//! would refuse is refused before any blob is written. skopeo checks `index.json` the same
//! way, but writes into a layout of unknown version and overwrites its `oci-layout`.

use std::fs::{self, Metadata};
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::layout::{parse_index_json, LAYOUT_FILE};
use crate::digest::Algorithm;
use crate::manifest::MAX_DOCUMENT_SIZE;

/// The one `imageLayoutVersion` written, and so the one written into.
const LAYOUT_VERSION: &str = "1.0.0";

/// Checks that `dir`, an existing directory, is either empty (a new layout) or a layout
/// that can be written into. Reads only; changes nothing.
pub(crate) fn check_existing(dir: &Path) -> Result<()> {
    if fs::symlink_metadata(dir.join(LAYOUT_FILE)).is_err() {
        if fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
        {
            bail!(
                "{} exists, is not empty and is not an OCI layout (no oci-layout file)",
                dir.display()
            );
        }
        return Ok(());
    }
    check_layout_file(dir)
        .and_then(|()| check_index_file(dir))
        .and_then(|()| check_blob_dirs(dir))
        .context("not a valid OCI layout to write into")
}

/// `oci-layout` is a regular file declaring version 1.0.0.
fn check_layout_file(dir: &Path) -> Result<()> {
    let limit = 64 * 1024;
    regular_file(dir, LAYOUT_FILE, limit)?.context("oci-layout is missing")?;
    let bytes = fs::read(dir.join(LAYOUT_FILE)).context("reading oci-layout")?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).context("oci-layout is not valid JSON")?;
    match v.get("imageLayoutVersion") {
        Some(serde_json::Value::String(ver)) if ver == LAYOUT_VERSION => Ok(()),
        Some(other) => bail!(
            "oci-layout declares imageLayoutVersion {other}; only {LAYOUT_VERSION} can be written into"
        ),
        None => bail!("oci-layout has no imageLayoutVersion"),
    }
}

/// `index.json`, when there is one, is a regular file that parses as an index whose every
/// descriptor has a supported digest.
fn check_index_file(dir: &Path) -> Result<()> {
    if regular_file(dir, "index.json", MAX_DOCUMENT_SIZE)?.is_none() {
        // A layout without an index yet: the commit writes the first one.
        return Ok(());
    }
    let bytes = fs::read(dir.join("index.json")).context("reading index.json")?;
    parse_index_json(&bytes).map(drop)
}

/// `blobs/` and `blobs/<alg>/`, where present, are directories, so blobs can be stored.
fn check_blob_dirs(dir: &Path) -> Result<()> {
    let algs = [Algorithm::Sha256, Algorithm::Sha512].map(|a| format!("blobs/{}", a.name()));
    for rel in std::iter::once("blobs".to_string()).chain(algs) {
        match fs::metadata(dir.join(&rel)) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("{rel} is not a directory"),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {rel}")),
        }
    }
    Ok(())
}

/// The metadata of `dir/name` when it is a regular file of at most `limit` bytes; `None`
/// when it is missing; an error naming it otherwise.
fn regular_file(dir: &Path, name: &str, limit: u64) -> Result<Option<Metadata>> {
    let m = match fs::metadata(dir.join(name)) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {name}")),
    };
    if m.is_dir() {
        bail!("{name} is a directory, not a file");
    }
    if !m.is_file() {
        bail!("{name} is not a regular file");
    }
    if m.len() > limit {
        bail!(
            "{name} is {} bytes, over the {} KiB limit",
            m.len(),
            limit >> 10
        );
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(version: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("blobs/sha256")).unwrap();
        let doc = format!(r#"{{"imageLayoutVersion":{version}}}"#);
        fs::write(d.path().join(LAYOUT_FILE), doc).unwrap();
        d
    }

    fn refused(d: &tempfile::TempDir) -> String {
        format!("{:#}", check_existing(d.path()).unwrap_err())
    }

    #[test]
    fn accepts_empty_dirs_and_layouts_without_an_index() {
        let d = tempfile::tempdir().unwrap();
        check_existing(d.path()).unwrap();
        check_existing(layout(r#""1.0.0""#).path()).unwrap();
    }

    #[test]
    fn refuses_unknown_versions_and_non_files() {
        let e = refused(&layout(r#""2.0.0""#));
        assert!(
            e.contains(r#"imageLayoutVersion "2.0.0"; only 1.0.0"#),
            "{e}"
        );
        let e = refused(&layout("1"));
        assert!(e.contains("imageLayoutVersion 1;"), "{e}");
        let d = layout(r#""1.0.0""#);
        fs::create_dir(d.path().join("index.json")).unwrap();
        assert!(refused(&d).ends_with("index.json is a directory, not a file"));
        let d = layout(r#""1.0.0""#);
        fs::remove_dir(d.path().join("blobs/sha256")).unwrap();
        fs::write(d.path().join("blobs/sha256"), b"").unwrap();
        assert!(refused(&d).ends_with("blobs/sha256 is not a directory"));
    }

    #[test]
    fn refuses_indexes_the_commit_could_not_read() {
        let d = layout(r#""1.0.0""#);
        fs::write(
            d.path().join("index.json"),
            b"{\"schemaVersion\":2,\"manifests\":[",
        )
        .unwrap();
        assert!(
            refused(&d).contains("invalid index.json: EOF"),
            "{}",
            refused(&d)
        );
        fs::write(d.path().join("index.json"), vec![b' '; 5 << 20]).unwrap();
        assert!(
            refused(&d).contains("over the 4096 KiB limit"),
            "{}",
            refused(&d)
        );
    }
}
