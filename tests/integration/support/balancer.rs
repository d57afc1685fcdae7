//! Two real `docker-registry` replicas behind Debian's nginx as the load balancer, as users
//! deploy them: nginx runs as the current user on a free loopback port, with its config,
//! pid file, logs and temp files in a temporary directory, streams request and response
//! bodies (no buffering, no body size limit), keeps connections to the replicas alive and
//! passes the client's `Host` on, so the replicas' `Location` headers point at the balancer.
//! Three setups ([`Setup`]) and both of nginx's schemes for plain upstreams ([`Scheme`]).
//! Everything stops on drop: nginx first, then the replicas.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::registry::{Options, Registry};
use super::tempdir;

/// How the two replicas are set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// Each replica has its own storage directory and its own `http.secret`: split brain.
    SplitBrain,
    /// One storage directory and one `http.secret`: a healthy HA pair.
    Healthy,
    /// One storage directory but different secrets: an upload session started on one replica
    /// is refused by the other.
    SecretsDiffer,
}

/// nginx's choice of replica for each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// nginx's default: the replicas in turn, request by request.
    RoundRobin,
    /// `random`: a replica picked at random for each request.
    Random,
}

impl Setup {
    pub const ALL: [Setup; 3] = [Setup::SplitBrain, Setup::Healthy, Setup::SecretsDiffer];
}

impl Scheme {
    pub const ALL: [Scheme; 2] = [Scheme::RoundRobin, Scheme::Random];

    /// The directive in the `upstream` block, before `keepalive` as nginx requires.
    fn directive(self) -> &'static str {
        match self {
            Scheme::RoundRobin => "",
            Scheme::Random => "    random;\n",
        }
    }
}

/// Two replicas in `setup` behind nginx balancing with `scheme`.
pub struct Balancer {
    /// Declared first so it stops first.
    pub nginx: Nginx,
    pub replicas: [Registry; 2],
    /// The shared storage directory, if any; removed after the replicas stop.
    _shared: Option<tempfile::TempDir>,
}

impl Balancer {
    pub fn start(setup: Setup, scheme: Scheme) -> Balancer {
        let shared = (setup != Setup::SplitBrain).then(tempdir);
        let replica = |i: usize| {
            let secret = match setup {
                Setup::Healthy => "oci-copy-test-shared-secret".to_string(),
                _ => format!("oci-copy-test-secret-of-replica-{i}"),
            };
            Registry::start_with(Options {
                storage: shared.as_ref().map(|d| d.path().join("data")),
                secret: Some(secret),
                ..Options::default()
            })
        };
        let replicas = [replica(0), replica(1)];
        let nginx = Nginx::start(&[&replicas[0].host, &replicas[1].host], scheme);
        Balancer {
            nginx,
            replicas,
            _shared: shared,
        }
    }

    /// `docker://BALANCER/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.nginx.host)
    }
}

/// A running nginx in front of some upstreams.
pub struct Nginx {
    child: Child,
    /// `127.0.0.1:PORT`
    pub host: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(upstreams: &[&str], scheme: Scheme) -> Nginx {
        let dir = tempdir();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("binding a loopback port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), &host, upstreams, scheme)).unwrap();
        let child = Command::new(nginx_program())
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting nginx: {e}"));
        let mut nginx = Nginx { child, host, dir };
        nginx.wait_ready();
        nginx
    }

    /// nginx's error log so far, for assertion messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Ready when `GET /v2/` through it answers 200 (from a replica).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited early: {status}\n{}", self.error_log());
            }
            if get_v2(&self.host).is_some_and(|s| s.starts_with("HTTP/1.1 200")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nginx did not answer on {} within 20s\n{}",
            self.host,
            self.error_log()
        );
    }
}

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its workers; SIGKILL if it has not within 5 s.
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with our own child's pid, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx program: on PATH, or where Debian puts it (`/usr/sbin` is not on every user's
/// PATH). Missing, the test fails with the install command.
fn nginx_program() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    let debian = Path::new("/usr/sbin/nginx");
    match on_path {
        Some(p) => p,
        None if debian.is_file() => debian.to_path_buf(),
        None => panic!("nginx not found: install it with `apt-get install -y nginx-light`"),
    }
}

/// The whole configuration: everything nginx writes stays under `prefix`.
fn config(prefix: &Path, host: &str, upstreams: &[&str], scheme: Scheme) -> String {
    let p = |name: &str| prefix.join(name).display().to_string();
    let servers: String = upstreams
        .iter()
        .map(|u| format!("    server {u};\n"))
        .collect();
    format!(
        "daemon off;
worker_processes 1;
pid {pid};
error_log {log} warn;
events {{
  worker_connections 256;
}}
http {{
  access_log off;
  client_body_temp_path {body};
  proxy_temp_path {proxy};
  fastcgi_temp_path {fastcgi};
  uwsgi_temp_path {uwsgi};
  scgi_temp_path {scgi};
  upstream replicas {{
{servers}{scheme}    keepalive 16;
  }}
  server {{
    listen {host};
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    location / {{
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 120s;
      proxy_send_timeout 120s;
    }}
  }}
}}
",
        pid = p("nginx.pid"),
        log = p("error.log"),
        body = p("client_body"),
        proxy = p("proxy"),
        fastcgi = p("fastcgi"),
        uwsgi = p("uwsgi"),
        scgi = p("scgi"),
        scheme = scheme.directive(),
    )
}

/// The status line of `GET /v2/` on `host`, if it answers.
fn get_v2(host: &str) -> Option<String> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let req = format!("GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.lines().next().map(str::to_string)
}
