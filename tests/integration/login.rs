//! `oci-copy login` and `logout` against the real `docker-registry` (htpasswd basic auth,
//! and bearer tokens from the test token server): the credentials are checked first and
//! stored as skopeo stores them (skopeo reads the file), then every command finds them;
//! a wrong password leaves the file as it was and never shows; logout removes only its
//! own entry.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::fixtures::Fixture;
use crate::support::judges::skopeo;
use crate::support::registry::{oci_copy_env, Options, Registry, PASSWORD, USER};
use crate::support::token_server::TokenServer;
use crate::support::{assert_failure, assert_success, describe, tempdir};

const NO_TLS: &str = "--tls-verify=false";
/// An entry and a field of another tool, which login and logout must keep.
const EXISTING: &str =
    r#"{"auths":{"other.example":{"auth":"b3RoZXI6cHc="}},"credHelpers":{"gcr.io":"gcloud"}}"#;

/// Runs oci-copy as [`oci_copy_env`] does, with `input` on stdin.
fn with_stdin(args: &[&str], home: &Path, input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args(args)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running oci-copy");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn all_output(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn auth_json(home: &Path) -> std::path::PathBuf {
    home.join("run/containers/auth.json")
}

fn login(home: &Path, host: &str, password: &str) -> Output {
    let args = ["login", NO_TLS, "-u", USER, "--password-stdin", host];
    with_stdin(&args, home, &format!("{password}\n"))
}

#[test]
fn login_stores_checked_credentials_that_copies_then_use_and_logout_removes_them() {
    let reg = Registry::start_with(Options {
        htpasswd: true,
        ..Options::default()
    });
    let home = tempdir();
    let file = auth_json(home.path());
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, EXISTING).unwrap();
    let src = Fixture::OciLayout.reference();
    let url = reg.url("login/app:1");

    let out = login(home.path(), &reg.host, PASSWORD);
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded!\n");
    assert!(!all_output(&out).contains(PASSWORD), "{}", describe(&out));
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    use base64::Engine;
    let want = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert_eq!(stored["auths"][&reg.host]["auth"], want.as_str());
    assert_eq!(stored["auths"]["other.example"]["auth"], "b3RoZXI6cHc=");
    assert_eq!(stored["credHelpers"]["gcr.io"], "gcloud");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Every command finds it; so does skopeo, reading the same file.
    assert_success(&oci_copy_env(&[NO_TLS, &src, &url], home.path(), &[]));
    let judge = skopeo(&[
        "inspect",
        NO_TLS,
        "--authfile",
        file.to_str().unwrap(),
        &url,
    ]);
    assert!(judge.status.success(), "{}", describe(&judge));
    let who = oci_copy_env(&["login", "--get-login", &reg.host], home.path(), &[]);
    assert_success(&who);
    assert_eq!(String::from_utf8_lossy(&who.stdout), format!("{USER}\n"));

    wrong_password_changes_nothing(home.path(), &reg.host);

    let out = oci_copy_env(&["logout", &reg.host], home.path(), &[]);
    assert_success(&out);
    let left: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(left["auths"].get(&reg.host).is_none(), "{left}");
    assert_eq!(left["auths"]["other.example"]["auth"], "b3RoZXI6cHc=");
    assert_eq!(left["credHelpers"]["gcr.io"], "gcloud");
    let out = oci_copy_env(&[NO_TLS, &src, &reg.url("login/app:2")], home.path(), &[]);
    assert_failure(&out, 1, &["UNAUTHORIZED", &reg.host]);
    let out = oci_copy_env(&["logout", &reg.host], home.path(), &[]);
    assert_failure(&out, 1, &["not logged in", &reg.host]);
    assert_success(&oci_copy_env(&["logout", "--all"], home.path(), &[]));
    let left: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        (left["auths"].clone(), left["credHelpers"]["gcr.io"].clone()),
        (serde_json::json!({}), "gcloud".into())
    );
}

/// A wrong password: a clear refusal naming the registry and user, the password nowhere,
/// and the file byte for byte as it was.
fn wrong_password_changes_nothing(home: &Path, host: &str) {
    let file = auth_json(home);
    let before = std::fs::read(&file).unwrap();
    let out = login(home, host, "wrong-Pass");
    let line = assert_failure(&out, 1, &["logging in as", host, "refused", USER]);
    assert!(!all_output(&out).contains("wrong-Pass"), "{line}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "a failed login changed the file"
    );
    // No password at all, and stdin not a terminal to ask on.
    let out = oci_copy_env(&["login", NO_TLS, "-u", USER, host], home, &[]);
    assert_failure(&out, 1, &["no password", "--password-stdin"]);
    // -p works, with a warning that it is in argv, and never echoes the password.
    let out = oci_copy_env(
        &[
            "login",
            NO_TLS,
            "-u",
            USER,
            "-p",
            PASSWORD,
            "--authfile",
            home.join("p.json").to_str().unwrap(),
            host,
        ],
        home,
        &[],
    );
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("process list") && !stderr.contains(PASSWORD),
        "{}",
        describe(&out)
    );
}

#[test]
fn login_through_a_token_server_checks_the_password_there() {
    let tokens = TokenServer::start();
    let reg = Registry::start_with_tokens(&tokens);
    let home = tempdir();
    std::fs::create_dir_all(home.path().join("run")).unwrap();
    let out = login(home.path(), &reg.host, "wrong-Pass");
    assert_failure(&out, 1, &["refused", &reg.host, "token server"]);
    assert!(
        !auth_json(home.path()).exists(),
        "a failed login wrote the file"
    );
    assert!(tokens.requests().iter().any(|r| r.status == 401));

    assert_success(&login(home.path(), &reg.host, PASSWORD));
    // The push needs the credentials (anonymous tokens grant pull only).
    let src = Fixture::OciLayout.reference();
    assert_success(&oci_copy_env(
        &[NO_TLS, &src, &reg.url("tok/app:1")],
        home.path(),
        &[],
    ));
    assert!(tokens
        .requests()
        .iter()
        .any(|r| r.user.as_deref() == Some(USER) && r.status == 200));
}
