//! `oci-copy delete` against the real `docker-registry`: with deletion enabled, a tag is
//! resolved to its digest and that manifest deleted (every tag on it goes with it, and
//! skopeo no longer finds it); by digest likewise; with deletion disabled, a clear refusal
//! and the image still served.

use crate::support::fixtures::Fixture;
use crate::support::judges::skopeo;
use crate::support::registry::{oci_copy_env, Options, Registry, PASSWORD, USER};
use crate::support::{assert_failure, assert_success, describe, tempdir};

const NO_TLS: &str = "--tls-verify=false";

/// Pushes the OCI layout fixture to `url` and returns the digest of what was written.
fn push(home: &std::path::Path, url: &str, creds: &[&str]) -> String {
    let digest = home.join("digest");
    let d = digest.to_str().unwrap();
    let mut args = vec![NO_TLS, "--digestfile", d];
    args.extend(creds);
    let src = Fixture::OciLayout.reference();
    args.extend([src.as_str(), url]);
    assert_success(&oci_copy_env(&args, home, &[]));
    std::fs::read_to_string(digest).unwrap()
}

fn skopeo_finds(url: &str, creds: &[&str]) -> bool {
    let mut args = vec!["inspect", "--raw", NO_TLS];
    args.extend(creds);
    args.push(url);
    skopeo(&args).status.success()
}

#[test]
fn delete_resolves_a_tag_and_deletes_its_manifest_by_digest() {
    let reg = Registry::start_with(Options {
        htpasswd: true,
        ..Options::default()
    });
    let home = tempdir();
    let creds = format!("{USER}:{PASSWORD}");
    let c = ["--creds", creds.as_str()];
    let digest = push(home.path(), &reg.url("del/app:1"), &c);
    assert_eq!(push(home.path(), &reg.url("del/app:2"), &c), digest);
    let by_digest = reg.url(&format!("del/app@{digest}"));
    assert!(skopeo_finds(&by_digest, &c));

    let out = oci_copy_env(
        &["delete", NO_TLS, "--creds", &creds, &reg.url("del/app:1")],
        home.path(),
        &[],
    );
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Deleted docker://{}/del/app@{digest}", reg.host)),
        "{}",
        describe(&out)
    );
    assert!(!stderr.contains(PASSWORD), "{}", describe(&out));
    for gone in [
        by_digest.as_str(),
        &reg.url("del/app:1"),
        &reg.url("del/app:2"),
    ] {
        assert!(!skopeo_finds(gone, &c), "{gone} is still served");
    }

    deletes_by_digest_once(&reg, home.path(), &creds);

    // No credentials: refused, naming the registry, with the login hint.
    let out = oci_copy_env(&["delete", NO_TLS, &reg.url("del/app:9")], home.path(), &[]);
    assert_failure(&out, 1, &["UNAUTHORIZED", &reg.host, "log in"]);
    // Only registries.
    let out = oci_copy_env(
        &["delete", &Fixture::OciLayout.reference()],
        home.path(),
        &[],
    );
    assert_failure(&out, 1, &["registries only", "docker://"]);
}

/// By digest; then again, when it is gone: MANIFEST_UNKNOWN, naming it.
fn deletes_by_digest_once(reg: &Registry, home: &std::path::Path, creds: &str) {
    let c = ["--creds", creds];
    let digest = push(home, &reg.url("del/other:1"), &c);
    let url = reg.url(&format!("del/other@{digest}"));
    assert_success(&oci_copy_env(
        &["delete", "-q", NO_TLS, "--creds", creds, &url],
        home,
        &[],
    ));
    assert!(!skopeo_finds(&url, &c));
    let out = oci_copy_env(&["delete", NO_TLS, "--creds", creds, &url], home, &[]);
    assert_failure(&out, 1, &["MANIFEST_UNKNOWN", &digest, "del/other"]);
}

#[test]
fn delete_is_refused_clearly_where_deletion_is_disabled() {
    let reg = Registry::start_with(Options {
        no_delete: true,
        ..Options::default()
    });
    let home = tempdir();
    let url = reg.url("keep/app:1");
    let digest = push(home.path(), &url, &[]);
    let out = oci_copy_env(&["delete", NO_TLS, &url], home.path(), &[]);
    assert_failure(
        &out,
        1,
        &[
            "deletion disabled",
            "UNSUPPORTED",
            &digest,
            "storage.delete.enabled",
            "keep/app",
        ],
    );
    assert!(skopeo_finds(&url, &[]), "the image must still be served");
}
