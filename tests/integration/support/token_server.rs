//! A token server for a registry with `auth: token` (the docker token protocol): it answers
//! `GET /token?service=..&scope=..&scope=..` with a JWT signed RS256 by a key the test
//! generates with `openssl`, the certificate in the header's `x5c`, as distribution 2.8
//! accepts. [`USER`] with [`PASSWORD`] may pull and push anywhere; anonymous requests get
//! pull only; a wrong password gets 401. Every request is recorded (user and scopes).

use std::io::BufReader;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use super::http::{read_head, respond, serve};
use super::registry::{PASSWORD, USER};
use super::tempdir;

pub const SERVICE: &str = "oci-copy-test-registry";
pub const ISSUER: &str = "oci-copy-test-token-issuer";

/// One token request, as the server saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The user of valid basic credentials; `None` for anonymous (or refused) requests.
    pub user: Option<String>,
    pub scopes: Vec<String>,
    /// 200 or 401.
    pub status: u16,
}

/// A running token server.
pub struct TokenServer {
    pub host: String,
    key: Arc<Key>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
}

/// The signing key and its certificate, in a temporary directory.
struct Key {
    dir: tempfile::TempDir,
    cert_der: Vec<u8>,
    serial: AtomicU64,
    issued: Mutex<Vec<String>>,
}

impl TokenServer {
    pub fn start() -> TokenServer {
        let key = Arc::new(Key::generate());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (k, log) = (key.clone(), requests.clone());
        let (host, stop) = serve(move |conn| answer(conn, &k, &log));
        TokenServer {
            host,
            key,
            requests,
            stop,
        }
    }

    /// The `auth:` section of a registry configuration that trusts this server.
    pub fn registry_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.host,
            self.key.cert_path().display()
        )
    }

    /// Every token request so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// A token granting [`USER`] `scopes`, made here without a request (none is recorded):
    /// what a CI system hands a job for `--registry-token`.
    pub fn mint(&self, scopes: &[&str]) -> String {
        let access: Vec<serde_json::Value> = scopes.iter().filter_map(|s| grant(s, true)).collect();
        self.key.sign(USER, &access)
    }

    /// Every token issued so far (for checking that none leaks).
    pub fn issued(&self) -> Vec<String> {
        self.key.issued.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn answer(conn: TcpStream, key: &Key, log: &Mutex<Vec<TokenRequest>>) {
    let mut reader = BufReader::new(&conn);
    let Ok(Some(head)) = read_head(&mut reader) else {
        return;
    };
    if head.path() != "/token" {
        respond(&conn, "404 Not Found", &[], b"");
        return;
    }
    // Several `scope` parameters, each possibly holding several space-separated scopes.
    let scopes: Vec<String> = head
        .query()
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let user = match head.header("authorization").map(basic_user) {
        None => Ok(None),
        Some(Some(u)) => Ok(Some(u)),
        Some(None) => Err(()),
    };
    let Ok(user) = user else {
        log.lock().unwrap().push(TokenRequest {
            user: None,
            scopes,
            status: 401,
        });
        let body =
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#;
        respond(
            &conn,
            "401 Unauthorized",
            &[("Content-Type", "application/json".into())],
            body.as_bytes(),
        );
        return;
    };
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| grant(s, user.is_some()))
        .collect();
    let token = key.sign(user.as_deref().unwrap_or(""), &access);
    log.lock().unwrap().push(TokenRequest {
        user,
        scopes,
        status: 200,
    });
    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300});
    respond(
        &conn,
        "200 OK",
        &[("Content-Type", "application/json".into())],
        body.to_string().as_bytes(),
    );
}

/// `Some(user)` for valid basic credentials, `None` for anything else.
fn basic_user(header: &str) -> Option<String> {
    let b64 = header.strip_prefix("Basic ")?;
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (u, p) = raw.split_once(':')?;
    (u == USER && p == PASSWORD).then(|| u.to_string())
}

/// What a scope grants: exactly the requested repository actions the user may have
/// (pull for anyone, push for the authenticated user).
fn grant(scope: &str, authenticated: bool) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind != "repository" {
        return None;
    }
    let allowed: Vec<&str> = actions
        .split(',')
        .filter(|a| *a == "pull" || (authenticated && *a == "push"))
        .collect();
    Some(serde_json::json!({"type": "repository", "name": name, "actions": allowed}))
}

impl Key {
    fn generate() -> Key {
        let dir = tempdir();
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
                "-days",
                "2",
                "-subj",
                "/CN=oci-copy test token issuer",
            ],
        );
        openssl(
            dir.path(),
            &[
                "x509",
                "-in",
                "token.crt",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
        );
        let cert_der = std::fs::read(dir.path().join("token.der")).unwrap();
        Key {
            dir,
            cert_der,
            serial: AtomicU64::new(0),
            issued: Mutex::new(Vec::new()),
        }
    }

    fn cert_path(&self) -> PathBuf {
        self.dir.path().join("token.crt")
    }

    /// A JWT for `sub` granting `access`, signed RS256, with the certificate in `x5c`.
    fn sign(&self, sub: &str, access: &[serde_json::Value]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let jti = self.serial.fetch_add(1, Ordering::SeqCst);
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [STANDARD.encode(&self.cert_der)]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": sub, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("oci-copy-test-{now}-{jti}"),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = openssl_sign(&self.dir.path().join("token.key"), input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
        self.issued.lock().unwrap().push(token.clone());
        token
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (install it with `apt-get install -y openssl`)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// RS256: an RSA PKCS#1 v1.5 signature of the SHA-256 of `data`.
fn openssl_sign(key: &Path, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl dgst -sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
