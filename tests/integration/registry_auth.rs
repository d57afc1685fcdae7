//! Bearer-token authentication against a real `docker-registry` configured with
//! `auth: token` and the test token server: push and pull, clear failures with no secret in
//! any output, and a cross-repository mount whose token must grant two scopes.

use crate::support::check::check_oci_layout;
use crate::support::fixtures::Fixture;
use crate::support::http::{Proxy, Tags};
use crate::support::registry::{oci_copy_env, Registry, PASSWORD, USER};
use crate::support::token_server::TokenServer;
use crate::support::{assert_failure, assert_success, describe, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";

fn output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// No password and no token the server issued appears in `out`.
fn assert_no_secrets(out: &std::process::Output, tokens: &TokenServer) {
    let all = output(out);
    assert!(!all.contains(PASSWORD), "the password leaked\n{all}");
    for t in tokens.issued() {
        // The signature alone is secret enough to identify a leak.
        let sig = t.rsplit('.').next().unwrap();
        assert!(!all.contains(sig), "a token leaked\n{all}");
    }
}

#[test]
fn bearer_tokens_push_and_pull_and_fail_clearly_without_leaking_secrets() {
    let tokens = TokenServer::start();
    let reg = Registry::start_with_tokens(&tokens);
    let home = tempdir();
    let good = format!("{USER}:{PASSWORD}");
    let url = reg.url("bearer/app:1");
    let src = Fixture::OciLayout.reference();

    let out = oci_copy_env(
        &["--debug", NO_TLS, "--dest-creds", &good, &src, &url],
        home.path(),
        &[],
    );
    assert_success(&out);
    assert_no_secrets(&out, &tokens);
    let asked = tokens.requests();
    assert!(
        asked.iter().any(|r| r.user.as_deref() == Some(USER)
            && r.status == 200
            && r.scopes == ["repository:bearer/app:pull,push"]),
        "no push token was requested with the credentials: {asked:?}"
    );

    // Anonymous pull works (the token server grants pull to anyone) and is sound.
    let layout = home.path().join("pulled");
    let out = oci_copy_env(
        &["--debug", NO_TLS, &url, &format!("oci:{}:x", p(&layout))],
        home.path(),
        &[],
    );
    assert_success(&out);
    assert_no_secrets(&out, &tokens);
    let report = check_oci_layout(&layout);
    let want = Fixture::OciLayout.expected();
    assert_eq!(
        report.tagged("x").images[0].config_digest,
        want.config_digest
    );
    let raw = oci_copy_env(&["inspect", "--raw", NO_TLS, &url], home.path(), &[]);
    assert_success(&raw);
    use sha2::Digest;
    let manifest_digest = hex::encode(sha2::Sha256::digest(&raw.stdout));
    assert_eq!(Some(format!("sha256:{manifest_digest}")), want.kept_digest);

    // skopeo, an independent client, reads it through the same token server.
    let judge = crate::support::judges::skopeo(&["inspect", NO_TLS, "--creds", &good, &url]);
    assert!(judge.status.success(), "{}", describe(&judge));

    // A wrong password: the token server refuses, and so does the registry.
    let before = tokens.requests().len();
    let out = oci_copy_env(
        &[
            NO_TLS,
            "--dest-creds",
            "tester:wrong-Pass",
            &src,
            &reg.url("bearer/app:2"),
        ],
        home.path(),
        &[],
    );
    let line = assert_failure(
        &out,
        1,
        &["UNAUTHORIZED", &reg.host, "bearer/app", "--dest-creds"],
    );
    assert!(
        !output(&out).contains("wrong-Pass"),
        "the password leaked: {line}"
    );
    assert!(
        tokens.requests()[before..].iter().any(|r| r.status == 401),
        "the wrong password never reached the token server"
    );

    // No credentials: a pull-only token, so the push is refused.
    let out = oci_copy_env(&[NO_TLS, &src, &reg.url("bearer/app:3")], home.path(), &[]);
    let line = assert_failure(&out, 1, &["UNAUTHORIZED", "bearer/app"]);
    assert!(line.contains("no credentials"), "{line}");
}

#[test]
fn cross_repository_mount_asks_for_a_token_with_both_scopes() {
    let tokens = TokenServer::start();
    let reg = Registry::start_with_tokens(&tokens);
    // A recording proxy shows which requests reached the registry.
    let proxy = Proxy::start(&reg.host, Tags::Pass);
    let home = tempdir();
    let creds = format!("{USER}:{PASSWORD}");
    let src = proxy.url("lab/app:1");
    let dst = proxy.url("prod/app:2");
    let run = |args: &[&str]| oci_copy_env(args, home.path(), &[]);
    assert_success(&run(&[
        NO_TLS,
        "--creds",
        &creds,
        &Fixture::DockerLegacy.reference(),
        &src,
    ]));

    let (seen, asked) = (proxy.requests().len(), tokens.requests().len());
    let out = run(&["--debug", NO_TLS, "--creds", &creds, &src, &dst]);
    assert_success(&out);
    assert_no_secrets(&out, &tokens);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("repository:prod/app:pull,push repository:lab/app:pull"),
        "the debug log should show the two-scope token request\n{}",
        describe(&out)
    );

    let two_scopes = ["repository:prod/app:pull,push", "repository:lab/app:pull"];
    let asked = tokens.requests()[asked..].to_vec();
    assert!(
        asked
            .iter()
            .any(|r| r.status == 200 && r.user.as_deref() == Some(USER) && r.scopes == two_scopes),
        "no token was asked for both repositories: {asked:?}"
    );

    // Every blob was mounted; none was uploaded.
    let raw = run(&["inspect", "--raw", NO_TLS, "--creds", &creds, &dst]);
    assert_success(&raw);
    let m: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let mut blobs = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    for l in m["layers"].as_array().unwrap() {
        blobs.push(l["digest"].as_str().unwrap().to_string());
    }
    let requests = proxy.requests()[seen..].to_vec();
    for b in &blobs {
        let mount = format!(
            "POST /v2/prod/app/blobs/uploads/?mount={}&from=lab%2Fapp",
            b.replace(':', "%3A")
        );
        assert!(
            requests.contains(&mount),
            "{b} was not mounted: {requests:#?}"
        );
        assert!(
            stderr.contains(&format!("mounted blob {b}")),
            "{}",
            describe(&out)
        );
    }
    let uploads: Vec<&String> = requests
        .iter()
        .filter(|r| {
            r.contains("/blobs/uploads/")
                && (r.starts_with("PATCH ") || r.starts_with("PUT ") || !r.contains("mount="))
        })
        .collect();
    assert!(uploads.is_empty(), "blobs were uploaded: {uploads:#?}");

    let a = run(&["inspect", "--raw", NO_TLS, "--creds", &creds, &src]);
    assert_eq!(a.stdout, raw.stdout, "the manifest bytes must pass through");
}
