//! Blob downloads that the registry redirects to another host, as registries do to storage
//! or a CDN: docker-registry's `redirect` storage middleware points every blob GET and HEAD
//! at a small file server of the test's own, on another port, which serves the registry's
//! storage directory and records the headers of every request. The pull must succeed with a
//! TLS client certificate (which sends oci-client's requests through the bridge), and the
//! registry's credentials must never reach the other host.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::support::check::check_oci_layout;
use crate::support::fixtures::Fixture;
use crate::support::http::{read_head, respond, serve};
use crate::support::registry::{oci_copy_env, Registry, PASSWORD, USER};
use crate::support::{assert_success, describe, p, tempdir};

/// One request the file server received: method, path, and every header.
type Seen = (String, String, Vec<(String, String)>);

/// Serves files under a root set after start (the registry's storage, known only once the
/// registry runs, whose configuration needs this server's address first).
struct FileServer {
    host: String,
    root: Arc<OnceLock<PathBuf>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl FileServer {
    fn start() -> FileServer {
        let root: Arc<OnceLock<PathBuf>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (r, s) = (root.clone(), seen.clone());
        let (host, stop) = serve(move |conn| serve_file(conn, &r, &s));
        FileServer {
            host,
            root,
            seen,
            stop,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_file(conn: TcpStream, root: &OnceLock<PathBuf>, seen: &Mutex<Vec<Seen>>) {
    let Ok(Some(head)) = read_head(&mut BufReader::new(&conn)) else {
        return;
    };
    seen.lock().unwrap().push((
        head.method.clone(),
        head.path().to_string(),
        head.headers.clone(),
    ));
    let rel = head.path().trim_start_matches('/');
    let file = root
        .get()
        .filter(|_| !rel.split('/').any(|c| c == ".."))
        .map(|r| r.join(rel));
    let Some(bytes) = file.and_then(|f| std::fs::read(f).ok()) else {
        respond(&conn, "404 Not Found", &[], b"");
        return;
    };
    if head.method == "HEAD" {
        let mut w = &conn;
        let _ = write!(
            w,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            bytes.len()
        );
        return;
    }
    let octets = ("Content-Type", "application/octet-stream".to_string());
    respond(&conn, "200 OK", &[octets], &bytes);
}

#[test]
fn redirected_blob_downloads_work_with_client_certificates_and_carry_no_credentials() {
    let files = FileServer::start();
    let middleware = format!(
        "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: http://{}/\n",
        files.host
    );
    let reg = Registry::start_requiring_client_certs_with(true, &middleware);
    files.root.set(reg.storage_root()).unwrap();
    let home = tempdir();
    let certs = p(reg.client_dir.as_ref().unwrap());
    let creds = format!("{USER}:{PASSWORD}");
    let run = |args: &[&str]| oci_copy_env(args, home.path(), &[]);
    let url = reg.url("redirect/app:1");
    let want = Fixture::OciLayout.expected();

    let out = run(&[
        "-q",
        "--dest-cert-dir",
        &certs,
        "--dest-creds",
        &creds,
        &Fixture::OciLayout.reference(),
        &url,
    ]);
    assert_success(&out);
    let layout = home.path().join("pulled");
    let dest = format!("oci:{}:x", p(&layout));
    let out = run(&["-q", "--cert-dir", &certs, "--creds", &creds, &url, &dest]);
    assert_success(&out);
    let report = check_oci_layout(&layout);
    assert_eq!(
        report.tagged("x").images[0].config_digest,
        want.config_digest
    );

    // The blobs came from the other host: the config and every layer, by GET.
    let seen = files.seen();
    let gets = seen
        .iter()
        .filter(|(m, path, _)| m == "GET" && path.ends_with("/data"))
        .count();
    assert!(
        gets >= 2,
        "the registry did not redirect: {seen:?}\n{}",
        describe(&out)
    );
    // And no credential went with them: not the registry's, not the bridge's secret.
    for (method, path, headers) in &seen {
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            assert!(
                !["authorization", "proxy-authorization", "cookie"].contains(&lower.as_str()),
                "{method} {path} to the other host carried {name}: {value}"
            );
            assert!(
                !value.contains(PASSWORD),
                "{method} {path}: {name}: {value}"
            );
        }
    }
}
