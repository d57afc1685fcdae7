//! Registry credentials: the [`Secret`] wrapper that never prints its value, `USER[:PASS]`
//! flags, and the lookup chain skopeo users expect: the flag, then `--authfile` or
//! `$REGISTRY_AUTH_FILE`, then containers' `auth.json`, then docker's `config.json` with its
//! `credHelpers` and `credsStore` (`docker-credential-NAME get`).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A password or token. Its `Debug` and `Display` print `<redacted>`, so it cannot leak
/// into output, logs or errors by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A user name and password, as `--creds USER[:PASS]` gives them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}:<redacted>)", self.username)
    }
}

impl FromStr for Credentials {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Credentials, String> {
        let (user, pass) = s.split_once(':').unwrap_or((s, ""));
        if user.is_empty() {
            return Err("expected USER[:PASS] with a non-empty user name".to_string());
        }
        Ok(Credentials {
            username: user.to_string(),
            password: Secret::new(pass),
        })
    }
}

/// Credentials and where they came from (for messages; never the secret).
#[derive(Debug, Clone)]
pub struct Found {
    pub creds: Credentials,
    pub origin: String,
}

/// Looks up credentials for `host` (`127.0.0.1:5000`, `docker.io`) and repository `repo`.
pub fn lookup(
    host: &str,
    repo: &str,
    flag: Option<&Credentials>,
    flag_name: &str,
    authfile: Option<&Path>,
) -> Result<Option<Found>> {
    if let Some(c) = flag {
        return Ok(Some(Found {
            creds: c.clone(),
            origin: flag_name.to_string(),
        }));
    }
    for file in auth_files(authfile) {
        if !file.is_file() {
            continue;
        }
        let found = from_file(&file, host, repo)
            .with_context(|| format!("reading credentials from {}", file.display()))?;
        if let Some(found) = found {
            tracing::debug!(
                "credentials for {host}: user {:?} from {}",
                found.creds.username,
                found.origin
            );
            return Ok(Some(found));
        }
    }
    tracing::debug!("no credentials for {host}: anonymous access");
    Ok(None)
}

/// The files to read, in order.
fn auth_files(authfile: Option<&Path>) -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut out = Vec::new();
    match authfile
        .map(Path::to_path_buf)
        .or_else(|| env("REGISTRY_AUTH_FILE"))
    {
        Some(f) => out.push(f),
        None => {
            match env("XDG_RUNTIME_DIR") {
                Some(d) => out.push(d.join("containers/auth.json")),
                None => out.push(super::auth_file::run_dir_file()),
            }
            if let Some(h) = env("HOME") {
                out.push(h.join(".config/containers/auth.json"));
            }
        }
    }
    match env("DOCKER_CONFIG") {
        Some(d) => out.push(d.join("config.json")),
        None => {
            if let Some(h) = env("HOME") {
                out.push(h.join(".docker/config.json"));
            }
        }
    }
    out
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// The keys a file may use for `host`: `host`, `https://host`, `host/v1/`, and docker.io's
/// historical names.
fn host_keys(host: &str) -> Vec<String> {
    let hosts: Vec<&str> = if is_docker_hub(host) {
        vec![
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
        ]
    } else {
        vec![host]
    };
    hosts.iter().map(|h| h.to_string()).collect()
}

fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// `https://host/v1/` → `host`.
pub(super) fn normalise_key(k: &str) -> &str {
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    k.strip_suffix("/v1/")
        .or_else(|| k.strip_suffix("/v2/"))
        .or_else(|| k.strip_suffix('/'))
        .unwrap_or(k)
}

fn from_file(file: &Path, host: &str, repo: &str) -> Result<Option<Found>> {
    let bytes = std::fs::read(file)?;
    let parsed: AuthFile = serde_json::from_slice(&bytes).context("not a JSON auth file")?;
    let keys = host_keys(host);
    let origin = file.display().to_string();
    if let Some(helper) = keys.iter().find_map(|k| parsed.cred_helpers.get(k)) {
        return from_helper(helper, host);
    }
    // The most specific entry first: host/repo/..., then host.
    let mut best: Option<(usize, &AuthEntry)> = None;
    for (k, entry) in &parsed.auths {
        let nk = normalise_key(k);
        let score = keys.iter().find_map(|h| {
            let h = normalise_key(h);
            if nk == h {
                Some(h.len())
            } else {
                let rest = nk.strip_prefix(h)?.strip_prefix('/')?;
                (repo == rest || repo.starts_with(&format!("{rest}/"))).then_some(nk.len())
            }
        });
        if let Some(s) = score {
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, entry));
            }
        }
    }
    if let Some((_, entry)) = best {
        if let Some(c) = decode_entry(entry)? {
            return Ok(Some(Found { creds: c, origin }));
        }
    }
    match &parsed.creds_store {
        Some(store) => from_helper(store, host),
        None => Ok(None),
    }
}

fn decode_entry(e: &AuthEntry) -> Result<Option<Credentials>> {
    if let (Some(u), Some(p)) = (&e.username, &e.password) {
        return Ok(Some(Credentials {
            username: u.clone(),
            password: Secret::new(p.clone()),
        }));
    }
    let Some(auth) = e.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .context("an \"auth\" entry is not base64")?;
    let s = String::from_utf8(raw).context("an \"auth\" entry is not UTF-8")?;
    let Some((u, p)) = s.split_once(':') else {
        bail!("an \"auth\" entry does not decode to USER:PASS");
    };
    Ok(Some(Credentials {
        username: u.to_string(),
        password: Secret::new(p),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

/// Runs `docker-credential-NAME get` with the server on stdin.
fn from_helper(name: &str, host: &str) -> Result<Option<Found>> {
    let program = format!("docker-credential-{name}");
    let server = if is_docker_hub(host) {
        "https://index.docker.io/v1/"
    } else {
        host
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running the credential helper {program}"))?;
    child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(server.as_bytes())
        .with_context(|| format!("writing to {program}"))?;
    let out = child
        .wait_with_output()
        .with_context(|| format!("running the credential helper {program}"))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if msg.to_lowercase().contains("not found") {
            return Ok(None);
        }
        bail!(
            "the credential helper {program} failed ({}): {}",
            out.status,
            msg.trim()
        );
    }
    let reply: HelperReply = serde_json::from_slice(&out.stdout)
        .map_err(|_| anyhow::anyhow!("{program} did not answer with JSON Username/Secret"))?;
    Ok(Some(Found {
        creds: Credentials {
            username: reply.username,
            password: Secret::new(reply.secret),
        },
        origin: format!("the credential helper {program}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c: Credentials = "alice:hunter2".parse().unwrap();
        assert_eq!(c.password.expose(), "hunter2");
        let shown = format!("{c:?} {} {:?}", c.password, c.password);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!("".parse::<Credentials>().is_err());
    }

    #[test]
    fn reads_auths_with_repo_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        // alice:pw and bob:pw2
        std::fs::write(
            &f,
            r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"YWxpY2U6cHc="},
                "reg.example:5000/team/app":{"auth":"Ym9iOnB3Mg=="}}}"#,
        )
        .unwrap();
        let a = from_file(&f, "reg.example:5000", "other").unwrap().unwrap();
        assert_eq!(
            (a.creds.username.as_str(), a.creds.password.expose()),
            ("alice", "pw")
        );
        let b = from_file(&f, "reg.example:5000", "team/app/x")
            .unwrap()
            .unwrap();
        assert_eq!(b.creds.username, "bob");
        assert!(from_file(&f, "elsewhere", "x").unwrap().is_none());
    }
}
