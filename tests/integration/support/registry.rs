//! A real registry for the tests: Debian's `docker-registry` (CNCF distribution 2.8) on a
//! free loopback port with a temporary storage directory, killed on drop. It can run with
//! TLS (a CA and server certificate the test generates with `openssl`) and htpasswd basic
//! auth, or bearer tokens from a test token server (`token_server.rs`), or with TLS that
//! requires a client certificate signed by the test CA; and a fault proxy can stand in front
//! of it to reject OCI manifest PUTs. Given a storage directory and an `http.secret`, it
//! runs as one of several replicas (`balancer.rs`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tempdir;

/// The user and password of the htpasswd registry; the hash is bcrypt (cost 4) of it.
pub const USER: &str = "tester";
pub const PASSWORD: &str = "s3cret-Pass";
const HTPASSWD: &str = "tester:$2b$04$CUz8LYclhq9DAHSp1/nwZu5TqAtM/U7YoCJNLN4uYpN7HQoqcP.t.\n";

/// A running registry.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`
    pub host: String,
    /// Holds the storage, config and certificates; removed on drop.
    _dir: tempfile::TempDir,
    /// `storage.filesystem.rootdirectory`: in `_dir`, or the one [`Options::storage`] gave.
    storage: PathBuf,
    /// With TLS: the directory holding the CA (`ca.crt`), for `--cert-dir`.
    pub ca_dir: Option<PathBuf>,
    /// With client certificates required: a directory holding the CA (`ca.crt`) and a
    /// client certificate the registry accepts (`client.cert`, `client.key`).
    pub client_dir: Option<PathBuf>,
}

/// How to start a registry.
#[derive(Default)]
pub struct Options {
    pub tls: bool,
    pub htpasswd: bool,
    /// A storage directory to use (and share with other replicas) instead of a fresh one.
    pub storage: Option<PathBuf>,
    /// `http.secret`; without it the registry makes up one of its own.
    pub secret: Option<String>,
    /// `storage.delete.enabled: false` (deletion is enabled otherwise).
    pub no_delete: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port")
        .port()
}

impl Registry {
    /// A plain-HTTP registry without authentication.
    pub fn start() -> Registry {
        Registry::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Registry {
        Registry::start_configured(opts, "")
    }

    /// A plain-HTTP registry whose bearer tokens come from `tokens` (`auth: token`).
    pub fn start_with_tokens(tokens: &super::token_server::TokenServer) -> Registry {
        Registry::start_configured(Options::default(), &tokens.registry_config())
    }

    /// [`Registry::start_with_tokens`], but the challenge's realm is on `realm_host` (a
    /// proxy in front of the token server).
    pub fn start_with_token_realm(
        tokens: &super::token_server::TokenServer,
        realm_host: &str,
    ) -> Registry {
        let config = tokens.registry_config().replace(
            &format!("http://{}/", tokens.host),
            &format!("http://{realm_host}/"),
        );
        Registry::start_configured(Options::default(), &config)
    }

    /// A TLS registry that requires a client certificate signed by its CA
    /// (`http.tls.clientcas`); [`Registry::client_dir`] holds one.
    pub fn start_requiring_client_certs() -> Registry {
        Registry::launch(
            Options {
                tls: true,
                ..Options::default()
            },
            "",
            true,
        )
    }

    /// [`Registry::start_requiring_client_certs`], with htpasswd basic auth if `htpasswd`,
    /// and `extra` appended to the configuration (a `middleware:` section, say).
    pub fn start_requiring_client_certs_with(htpasswd: bool, extra: &str) -> Registry {
        Registry::launch(
            Options {
                tls: true,
                htpasswd,
                ..Options::default()
            },
            extra,
            true,
        )
    }

    /// The storage driver's root directory (`storage.filesystem.rootdirectory`).
    pub fn storage_root(&self) -> PathBuf {
        self.storage.clone()
    }

    /// `extra` is appended to the configuration (an `auth:` section, say).
    fn start_configured(opts: Options, extra: &str) -> Registry {
        Registry::launch(opts, extra, false)
    }

    fn launch(opts: Options, extra: &str, client_certs: bool) -> Registry {
        let dir = tempdir();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let storage = opts.storage.unwrap_or_else(|| dir.path().join("data"));
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {}\nhttp:\n  addr: {host}\n",
            storage.display(),
            !opts.no_delete
        );
        if let Some(secret) = &opts.secret {
            config += &format!("  secret: {secret}\n");
        }
        let (mut ca_dir, mut client_dir) = (None, None);
        if opts.tls {
            let certs = dir.path().join("certs");
            make_certs(&certs);
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                certs.join("server.crt").display(),
                certs.join("server.key").display()
            );
            let ca = dir.path().join("ca");
            std::fs::create_dir_all(&ca).unwrap();
            std::fs::copy(certs.join("ca.crt"), ca.join("ca.crt")).unwrap();
            ca_dir = Some(ca);
            if client_certs {
                config += &format!(
                    "    clientcas:\n      - {}\n",
                    certs.join("ca.crt").display()
                );
                let client = dir.path().join("client");
                make_client_cert(&certs, &client);
                client_dir = Some(client);
            }
        }
        if opts.htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, HTPASSWD).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                file.display()
            );
        }
        config += extra;
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = match Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "docker-registry not found: install it with `apt-get install -y docker-registry`"
            ),
            Err(e) => panic!("starting docker-registry: {e}"),
        };
        let mut reg = Registry {
            child,
            host,
            _dir: dir,
            storage,
            ca_dir,
            client_dir,
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited early: {status}");
            }
            if let Ok(mut s) = TcpStream::connect(&self.host) {
                // Plain HTTP answers "HTTP/1.1 ..."; a TLS listener answers too (with an
                // error page or an alert): either way it is up.
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut buf = [0u8; 16];
                    if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not answer on {} within 20s", self.host);
    }

    /// `docker://127.0.0.1:PORT/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.host)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let out = match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("openssl not found: install it with `apt-get install -y openssl`")
        }
        Err(e) => panic!("running openssl: {e}"),
    };
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=oci-copy test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
        dir,
    );
}

/// A client certificate signed by the CA in `ca_dir`, with an EC key, in `out` as
/// `client.cert` and `client.key`, next to the CA as `ca.crt`: a `--cert-dir` as skopeo reads it.
fn make_client_cert(ca_dir: &Path, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    std::fs::copy(ca_dir.join("ca.crt"), out.join("ca.crt")).unwrap();
    make_cert_pair(out, "client", Some(ca_dir));
}

/// `NAME.cert` and `NAME.key` (EC P-256, TLS client use) in `dir`, signed by the CA in
/// `ca_dir`, or self-signed.
pub fn make_cert_pair(dir: &Path, name: &str, ca_dir: Option<&Path>) {
    std::fs::create_dir_all(dir).unwrap();
    let (key, csr, cert) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.cert"),
    );
    std::fs::write(
        dir.join("client-ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let new_key = [
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
    ];
    let subj = ["-subj", "/CN=oci-copy test client"];
    match ca_dir {
        Some(ca) => {
            let mut args = new_key.to_vec();
            args.extend([key.as_str(), "-out", csr.as_str()]);
            args.extend(subj);
            openssl(&args, dir);
            let (ca_crt, ca_key) = (ca.join("ca.crt"), ca.join("ca.key"));
            let (ca_crt, ca_key) = (ca_crt.to_str().unwrap(), ca_key.to_str().unwrap());
            openssl(
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    ca_crt,
                    "-CAkey",
                    ca_key,
                    "-CAcreateserial",
                    "-out",
                    &cert,
                    "-days",
                    "2",
                    "-extfile",
                    "client-ext.cnf",
                ],
                dir,
            );
        }
        None => {
            let mut args = new_key.to_vec();
            args.extend([key.as_str(), "-out", cert.as_str(), "-x509", "-days", "2"]);
            args.extend(subj);
            args.extend(["-addext", "extendedKeyUsage=clientAuth"]);
            openssl(&args, dir);
        }
    }
}

/// A fault-injecting HTTP/1.1 proxy in front of a registry: it answers every PUT of an OCI
/// manifest with 400 MANIFEST_INVALID, and passes everything else through (one request
/// per connection). It stops when dropped.
pub struct RejectOciProxy {
    pub host: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RejectOciProxy {
    pub fn start(upstream: &str) -> RejectOciProxy {
        let up = upstream.to_string();
        let (host, stop) = super::http::serve(move |client| {
            let _ = proxy_one(client, &up);
        });
        RejectOciProxy { host, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.host)
    }
}

impl Drop for RejectOciProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn proxy_one(client: TcpStream, upstream: &str) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = lower.strip_prefix("content-type:") {
            content_type = v.trim().to_string();
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let first = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let mut client_w = client;
    if first.starts_with("PUT ")
        && first.contains("/manifests/")
        && content_type.starts_with("application/vnd.oci.image.manifest.v1+json")
    {
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body)?;
        let msg = r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"OCI manifests are not accepted here"}]}"#;
        let resp = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
            msg.len()
        );
        client_w.write_all(resp.as_bytes())?;
        return Ok(());
    }
    super::http::relay(reader, client_w, upstream, &head)
}

/// Runs oci-copy with `envs` set, and HOME, XDG_RUNTIME_DIR, DOCKER_CONFIG and
/// REGISTRY_AUTH_FILE pointed at `home` unless `envs` sets them, so that no credentials of
/// the machine's user are read.
pub fn oci_copy_env(args: &[&str], home: &Path, envs: &[(&str, String)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oci-copy"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("running oci-copy")
}

/// Runs skopeo against a plain-HTTP registry and returns stdout; panics on failure.
pub fn skopeo_http(args: &[&str]) -> Vec<u8> {
    let out = super::judges::skopeo(args);
    assert!(
        out.status.success(),
        "skopeo {args:?} failed\n{}",
        super::describe(&out)
    );
    out.stdout
}
