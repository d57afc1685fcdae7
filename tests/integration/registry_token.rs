//! `--src-registry-token`, `--dest-registry-token` and `--registry-token` (a bearer token
//! given directly, sent with no token exchange) and `--src-no-creds` (anonymous access
//! whatever the auth files hold), against the real `docker-registry` with `auth: token`.

use crate::support::check::check_oci_layout;
use crate::support::fixtures::Fixture;
use crate::support::registry::{oci_copy_env, Registry, PASSWORD, USER};
use crate::support::token_server::TokenServer;
use crate::support::{assert_failure, assert_success, assert_usage_error, describe, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";

fn no_token_in(out: &std::process::Output, token: &str) {
    let sig = token.rsplit('.').next().unwrap();
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!all.contains(sig), "the token leaked\n{all}");
}

#[test]
fn a_registry_token_is_sent_as_given_without_a_token_exchange() {
    let tokens = TokenServer::start();
    let reg = Registry::start_with_tokens(&tokens);
    let home = tempdir();
    let run = |args: &[&str]| oci_copy_env(args, home.path(), &[]);
    let (src, url) = (Fixture::OciLayout.reference(), reg.url("tok/app:1"));

    let push = tokens.mint(&["repository:tok/app:pull,push"]);
    let out = run(&[
        "--debug",
        NO_TLS,
        "--dest-registry-token",
        &push,
        &src,
        &url,
    ]);
    assert_success(&out);
    no_token_in(&out, &push);
    let pull = tokens.mint(&["repository:tok/app:pull"]);
    let layout = home.path().join("pulled");
    let dst = format!("oci:{}:x", p(&layout));
    let out = run(&["--debug", NO_TLS, "--src-registry-token", &pull, &url, &dst]);
    assert_success(&out);
    no_token_in(&out, &pull);
    let want = Fixture::OciLayout.expected().config_digest;
    assert_eq!(
        check_oci_layout(&layout).tagged("x").images[0].config_digest,
        want
    );
    assert_success(&run(&["inspect", NO_TLS, "--registry-token", &pull, &url]));
    assert!(
        tokens.requests().is_empty(),
        "a token was fetched: {:?}",
        tokens.requests()
    );

    // A token for another repository: refused, naming the flag, and never shown.
    let other = tokens.mint(&["repository:elsewhere:pull,push"]);
    let out = run(&[
        NO_TLS,
        "--dest-registry-token",
        &other,
        &src,
        &reg.url("tok/app:2"),
    ]);
    assert_failure(
        &out,
        1,
        &["UNAUTHORIZED", "tok/app", "--dest-registry-token"],
    );
    no_token_in(&out, &other);
}

#[test]
fn src_no_creds_reads_anonymously_whatever_the_auth_file_holds() {
    let tokens = TokenServer::start();
    let reg = Registry::start_with_tokens(&tokens);
    let home = tempdir();
    let run = |args: &[&str]| oci_copy_env(args, home.path(), &[]);
    let url = reg.url("anon/app:1");
    let creds = format!("{USER}:{PASSWORD}");
    assert_success(&run(&[
        NO_TLS,
        "--dest-creds",
        &creds,
        &Fixture::OciLayout.reference(),
        &url,
    ]));
    // A stale password in the auth file: the token server refuses it.
    let file = home.path().join("run/containers/auth.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let stale = r#"{"auths":{"HOST":{"auth":"dGVzdGVyOnN0YWxl"}}}"#.replace("HOST", &reg.host);
    std::fs::write(&file, stale).unwrap();
    let dst = format!("oci:{}:x", p(&home.path().join("out")));
    let out = run(&[NO_TLS, &url, &dst]);
    assert_failure(&out, 1, &["UNAUTHORIZED", "auth.json"]);

    let asked = tokens.requests().len();
    let out = run(&[NO_TLS, "--src-no-creds", &url, &dst]);
    assert_success(&out);
    let later = tokens.requests()[asked..].to_vec();
    assert!(
        !later.is_empty() && later.iter().all(|r| r.user.is_none() && r.status == 200),
        "{later:?}\n{}",
        describe(&out)
    );
    assert_success(&run(&["inspect", NO_TLS, "--no-creds", &url]));
    assert_usage_error(&run(&["--src-no-creds", "--src-creds", &creds, &url, &dst]));
}
