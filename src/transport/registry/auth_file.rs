//! Writing containers' `auth.json` for `oci-copy login` and `logout`, as skopeo and podman
//! write it: `auths.<registry>.auth` is base64 of `user:password`; every other entry and
//! field of the file is kept as it was; the file is replaced atomically (a temporary file
//! beside it, renamed) with mode 0600. [`super::auth::lookup`] reads what this writes.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use super::auth::{normalise_key, Credentials};

/// The file `login` writes and `logout` edits: `--authfile`, else `$REGISTRY_AUTH_FILE`,
/// else `$XDG_RUNTIME_DIR/containers/auth.json`, else `/run/containers/UID/auth.json`, as
/// containers/image chooses it.
pub fn path(authfile: Option<&Path>) -> Result<PathBuf> {
    if let Some(f) = authfile {
        return Ok(f.to_path_buf());
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        return Ok(PathBuf::from(f));
    }
    match env("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if !dir.is_dir() => bail!(
            "{} (from $XDG_RUNTIME_DIR) does not exist: create it, or unset XDG_RUNTIME_DIR, or give --authfile",
            dir.display()
        ),
        Some(dir) => Ok(dir.join("containers/auth.json")),
        None => Ok(run_dir_file()),
    }
}

/// `/run/containers/UID/auth.json`: where containers/image keeps credentials without
/// `$XDG_RUNTIME_DIR`.
pub(super) fn run_dir_file() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/run/containers/{uid}/auth.json"))
}

/// `docker.io`, `registry.example:5000`, `registry.example/team`: the key `login` writes
/// for what the user typed (a scheme and trailing slashes dropped). Refused: an empty
/// name, a tag or digest, and anything that is not a host with an optional path.
pub fn key(registry: &str) -> Result<String> {
    let k = registry
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let k = match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        k => k,
    };
    let (host, path) = k.split_once('/').unwrap_or((k, ""));
    let bad = |c: char| c.is_whitespace() || "@?#\"\\".contains(c);
    if host.is_empty() || k.contains(bad) || k.contains("//") || path.contains(':') {
        bail!("{registry:?} is not a registry: expected HOST[:PORT] or HOST[:PORT]/NAMESPACE");
    }
    Ok(k.to_string())
}

/// A key of the file as [`key`] would write it: `https://index.docker.io/v1/` → `docker.io`.
fn canonical(k: &str) -> &str {
    match normalise_key(k) {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        k => k,
    }
}

/// Stores `creds` under `key` in `file`, replacing the entry that was there.
pub fn store(file: &Path, key: &str, creds: &Credentials) -> Result<()> {
    use base64::Engine;
    let mut doc = read(file)?;
    let raw = format!("{}:{}", creds.username, creds.password.expose());
    let auth = base64::engine::general_purpose::STANDARD.encode(raw);
    let auths = auths(&mut doc, file)?;
    // Spellings of the same registry (`https://HOST/v1/`) would shadow or contradict it.
    auths.retain(|k, _| k == key || canonical(k) != key);
    auths.insert(key.to_string(), serde_json::json!({ "auth": auth }));
    write(file, &doc)
}

/// Removes every entry for `key` (in any spelling) from `file`; false when there was none.
pub fn remove(file: &Path, key: &str) -> Result<bool> {
    if !file.exists() {
        return Ok(false);
    }
    let mut doc = read(file)?;
    let auths = auths(&mut doc, file)?;
    let before = auths.len();
    auths.retain(|k, _| canonical(k) != key);
    if auths.len() == before {
        return Ok(false);
    }
    write(file, &doc)?;
    Ok(true)
}

/// Removes every entry of `auths` from `file`, keeping its other fields; false when there
/// was no file.
pub fn remove_all(file: &Path) -> Result<bool> {
    if !file.exists() {
        return Ok(false);
    }
    let mut doc = read(file)?;
    auths(&mut doc, file)?.clear();
    write(file, &doc)?;
    Ok(true)
}

/// The file as JSON: `{}` when it does not exist; an error when it is not a JSON object.
fn read(file: &Path) -> Result<Value> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Object(Map::new())),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => bail!(
            "{} is not a JSON auth file (an object with \"auths\"); it was left as it is",
            file.display()
        ),
    }
}

/// The `auths` object of `doc`, made when missing.
fn auths<'a>(doc: &'a mut Value, file: &Path) -> Result<&'a mut Map<String, Value>> {
    let obj = doc.as_object_mut().expect("read() returns an object");
    let auths = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    match auths {
        Value::Object(m) => Ok(m),
        _ => bail!(
            "\"auths\" in {} is not an object; the file was left as it is",
            file.display()
        ),
    }
}

/// Writes `doc` to a temporary file (mode 0600) beside `file`, syncs it and renames it over
/// `file`; the directory is made (mode 0700) when missing.
fn write(file: &Path, doc: &Value) -> Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let what = || format!("writing {}", file.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".auth.json.")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(what)?;
    let mut text = serde_json::to_vec_pretty(doc).expect("JSON values serialise");
    text.push(b'\n');
    tmp.write_all(&text).with_context(what)?;
    tmp.as_file().sync_all().with_context(what)?;
    tmp.persist(file).map_err(|e| e.error).with_context(what)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::registry::auth::Secret;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: Secret::new(p),
        }
    }

    #[test]
    fn keeps_other_entries_and_fields_and_writes_0600() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/auth.json");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(
            &f,
            r#"{"auths":{"other:1":{"auth":"eDp5"},"https://reg:5000/v1/":{"auth":"b2xkOm9sZA=="}},"credHelpers":{"gcr.io":"gcloud"},"x":1}"#,
        )
        .unwrap();
        store(&f, "reg:5000", &creds("alice", "pw")).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert_eq!(v["auths"]["reg:5000"]["auth"], "YWxpY2U6cHc=");
        assert_eq!(v["auths"]["other:1"]["auth"], "eDp5");
        assert!(v["auths"].get("https://reg:5000/v1/").is_none());
        assert_eq!(
            (v["credHelpers"]["gcr.io"].clone(), v["x"].clone()),
            ("gcloud".into(), 1.into())
        );
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(remove(&f, "reg:5000").unwrap());
        assert!(!remove(&f, "reg:5000").unwrap());
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert_eq!(v["auths"].as_object().unwrap().len(), 1);
        assert!(remove_all(&f).unwrap());
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert_eq!(v["auths"], serde_json::json!({}));
        assert_eq!(v["x"], 1);
    }

    #[test]
    fn refuses_garbage_and_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        std::fs::write(&f, "[1]").unwrap();
        assert!(store(&f, "r", &creds("a", "b")).is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"[1]");
        assert_eq!(
            key("https://reg.example:5000/").unwrap(),
            "reg.example:5000"
        );
        assert_eq!(key("index.docker.io").unwrap(), "docker.io");
        assert_eq!(key("reg.example/team").unwrap(), "reg.example/team");
        assert_eq!(canonical("https://index.docker.io/v1/"), "docker.io");
        for bad in ["", "a b", "reg/x@sha256:00", "reg/x:1", "https://"] {
            assert!(key(bad).is_err(), "{bad:?}");
        }
    }
}
