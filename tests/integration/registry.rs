//! The registry transport against a real `docker-registry`: push and pull of every local
//! transport with and without conversion, registry-to-registry copies that keep the digest
//! (with cross-repository mounts), list-tags pagination, `inspect --raw`, TLS with a
//! generated CA and htpasswd basic auth, stored credentials (auth file, docker config,
//! credential helper) and manifest-type fallback through a fault proxy.

use crate::support::check::{check_docker_archive, check_oci_layout};
use crate::support::docker::loads_archive;
use crate::support::fixtures::Fixture;
use crate::support::registry::{
    oci_copy_env, skopeo_http, Options, Registry, RejectOciProxy, PASSWORD, USER,
};
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";

fn skopeo_raw(url: &str) -> serde_json::Value {
    let raw = skopeo_http(&["inspect", "--raw", NO_TLS, url]);
    serde_json::from_slice(&raw).expect("skopeo prints the manifest")
}

/// skopeo copies the image out of the registry, verifying every blob on the way.
fn skopeo_copies(url: &str) {
    let out = tempdir();
    let dir = format!("dir:{}", p(&out.path().join("img")));
    skopeo_http(&[
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        url,
        &dir,
    ]);
}

/// Pulls `url` into an OCI layout and a docker-archive, checks both, and returns the layout's
/// config digest and diff_ids.
fn pull_and_check(url: &str) -> (String, Vec<String>) {
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    let out = oci_copy([NO_TLS, url, &format!("oci:{}:pulled", p(&layout))]);
    assert_success(&out);
    let report = check_oci_layout(&layout);
    let entry = report.tagged("pulled");
    let archive = tmp.path().join("a.tar");
    let out = oci_copy([
        NO_TLS,
        url,
        &format!("docker-archive:{}:lab/x:1", p(&archive)),
    ]);
    assert_success(&out);
    let d = check_docker_archive(&archive);
    assert_eq!(d.only().config_digest, entry.images[0].config_digest);
    loads_archive(&archive, &d.only().config_digest);
    (
        entry.images[0].config_digest.clone(),
        entry.images[0].diff_ids.clone(),
    )
}

#[test]
fn push_and_pull_every_local_transport_with_and_without_conversion() {
    let reg = Registry::start();
    let fixtures = [
        Fixture::OciLayout,
        Fixture::DockerLegacy,
        Fixture::OciArchive,
    ];
    for (i, fx) in fixtures.iter().enumerate() {
        let want = fx.expected();
        for format in [None, Some("oci"), Some("v2s2")] {
            let url = reg.url(&format!("fx{i}/{}:t", format.unwrap_or("keep")));
            let mut args = vec![NO_TLS.to_string()];
            if let Some(f) = format {
                args.extend(["--format".to_string(), f.to_string()]);
            }
            args.extend([fx.reference(), url.clone()]);
            let out = oci_copy(&args);
            assert_success(&out);
            let m = skopeo_raw(&url);
            let media = m["mediaType"].as_str().unwrap_or_default();
            match format {
                Some("oci") => assert_eq!(media, "application/vnd.oci.image.manifest.v1+json"),
                Some("v2s2") => assert_eq!(
                    media,
                    "application/vnd.docker.distribution.manifest.v2+json"
                ),
                _ => {}
            }
            assert_eq!(m["config"]["digest"], want.config_digest.as_str(), "{fx:?}");
            skopeo_copies(&url);
            let (config, diff_ids) = pull_and_check(&url);
            assert_eq!(config, want.config_digest, "{fx:?} {format:?}");
            assert_eq!(diff_ids, want.diff_ids, "{fx:?} {format:?}");
        }
    }
}

#[test]
fn unconverted_push_keeps_the_manifest_and_inspect_raw_gives_it_back() {
    let reg = Registry::start();
    let url = reg.url("lab/app:1");
    assert_success(&oci_copy([NO_TLS, &Fixture::OciLayout.reference(), &url]));
    let out = oci_copy(["inspect", "--raw", NO_TLS, &url]);
    assert_success(&out);
    let layout = crate::support::testdata("oci-layout");
    let want = crate::support::layout::manifest_bytes(&layout, "latest");
    assert_eq!(
        out.stdout, want,
        "inspect --raw must print the bytes pushed"
    );
    let out = oci_copy(["inspect", "--config", NO_TLS, &url]);
    assert_success(&out);
    let summary = oci_copy(["inspect", NO_TLS, &url]);
    assert_success(&summary);
    let v: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(v["Name"], format!("{}/lab/app", reg.host));
    assert_eq!(
        v["Digest"],
        Fixture::OciLayout.expected().kept_digest.unwrap().as_str()
    );
}

#[test]
fn registry_to_registry_keeps_the_digest_and_mounts_blobs() {
    let reg = Registry::start();
    let src = reg.url("lab/app:1");
    assert_success(&oci_copy([
        NO_TLS,
        &Fixture::DockerLegacy.reference(),
        &src,
    ]));
    let digestfile = tempdir();
    let df = digestfile.path().join("digest");
    let dst = reg.url("prod/app:2");
    let out = oci_copy(["--debug", NO_TLS, "--digestfile", &p(&df), &src, &dst]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mounted blob"), "{}", describe(&out));
    assert!(
        stderr.contains("0 blobs copied, 0 skipped, 3 mounted"),
        "the summary counts mounts: {}",
        describe(&out)
    );
    let a = oci_copy(["inspect", "--raw", NO_TLS, &src]);
    let b = oci_copy(["inspect", "--raw", NO_TLS, &dst]);
    assert_eq!(a.stdout, b.stdout, "the manifest bytes must pass through");
    let digest = std::fs::read_to_string(&df).unwrap();
    let skopeo_digest = skopeo_http(&["inspect", "--format", "{{.Digest}}", NO_TLS, &dst]);
    assert_eq!(
        String::from_utf8_lossy(&skopeo_digest).trim(),
        digest.trim()
    );
    // A second copy finds every blob present and skips it.
    let again = oci_copy([NO_TLS, &src, &reg.url("prod/app:3")]);
    assert_success(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("0 blobs copied, 3 skipped, 0 mounted"),
        "{}",
        describe(&again)
    );
    skopeo_copies(&dst);
}

#[test]
fn list_tags_follows_pagination() {
    let reg = Registry::start();
    let first = reg.url("lab/tags:t0");
    assert_success(&oci_copy([NO_TLS, &Fixture::OciLayout.reference(), &first]));
    let mut want = vec!["t0".to_string()];
    for i in 1..7 {
        let tag = format!("t{i}");
        assert_success(&oci_copy([
            NO_TLS,
            &first,
            &reg.url(&format!("lab/tags:{tag}")),
        ]));
        want.push(tag);
    }
    let out = oci_copy([
        "--debug",
        "list-tags",
        "--page-size",
        "3",
        NO_TLS,
        &reg.url("lab/tags"),
    ]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Repository"], format!("{}/lab/tags", reg.host));
    let mut tags: Vec<String> = serde_json::from_value(v["Tags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, want);
    // Distribution 2.8 ignores `n` and answers with every tag at once; the client asks
    // with n=3 and then for the tags after the last one, and stops on a page with no new
    // tag. (registry_tags.rs pages for real, through a proxy.)
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tags/list?n=3"), "{}", describe(&out));
    let out = oci_copy(["list-tags", NO_TLS, &reg.url("lab/nothing")]);
    assert_failure(&out, 1, &["NAME_UNKNOWN", "lab/nothing"]);
    let out = oci_copy(["inspect", NO_TLS, &reg.url("lab/tags:missing")]);
    assert_failure(&out, 1, &["MANIFEST_UNKNOWN", "lab/tags"]);
}

#[test]
fn tls_and_basic_auth_fail_clearly_and_succeed_with_creds_and_cert_dir() {
    let reg = Registry::start_with(Options {
        tls: true,
        htpasswd: true,
        ..Default::default()
    });
    let home = tempdir();
    let ca = reg.ca_dir.clone().unwrap();
    let url = reg.url("secure/app:1");
    let src = Fixture::OciLayout.reference();
    let good = format!("{USER}:{PASSWORD}");
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = vec!["-q"];
        args.extend(extra);
        args.extend([src.as_str(), url.as_str()]);
        oci_copy_env(&args, home.path(), &[])
    };
    let certs = format!("--dest-cert-dir={}", p(&ca));

    let out = run(&[&certs]);
    let line = assert_failure(
        &out,
        1,
        &["UNAUTHORIZED", &reg.host, "secure/app", "--creds"],
    );
    assert!(line.contains("no credentials"), "{line}");

    let out = run(&[&certs, "--dest-creds", "tester:wrong-password"]);
    let line = assert_failure(&out, 1, &["UNAUTHORIZED", "--dest-creds", "refused"]);
    assert!(!line.contains("wrong-password"), "a secret leaked: {line}");

    let out = run(&["--dest-creds", &good]);
    let line = assert_failure(
        &out,
        1,
        &["certificate", "--cert-dir", "--tls-verify=false"],
    );
    assert!(!line.contains(PASSWORD), "a secret leaked: {line}");

    let out = run(&["--debug", &certs, "--dest-creds", &good]);
    assert_success(&out);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains(PASSWORD),
        "a secret leaked into --debug output"
    );

    // Unverified TLS works too, and skopeo reads the image back with the same CA.
    let out = oci_copy_env(
        &["inspect", "--tls-verify=false", "--creds", &good, &url],
        home.path(),
        &[],
    );
    assert_success(&out);
    let judge =
        crate::support::judges::skopeo(&["inspect", "--cert-dir", &p(&ca), "--creds", &good, &url]);
    assert!(judge.status.success(), "{}", describe(&judge));
}

fn auth_json(host: &str) -> String {
    use std::fmt::Write;
    let token = base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    let mut s = String::new();
    write!(s, r#"{{"auths":{{"{host}":{{"auth":"{token}"}}}}}}"#).unwrap();
    s
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn stored_credentials_from_auth_file_docker_config_and_helper() {
    let reg = Registry::start_with(Options {
        tls: true,
        htpasswd: true,
        ..Default::default()
    });
    let home = tempdir();
    let ca = p(reg.ca_dir.as_ref().unwrap());
    let src = Fixture::OciLayout.reference();
    let certs = format!("--cert-dir={ca}");

    // --authfile, and $REGISTRY_AUTH_FILE.
    let authfile = home.path().join("auth.json");
    std::fs::write(&authfile, auth_json(&reg.host)).unwrap();
    let url = reg.url("stored/authfile:1");
    let out = oci_copy_env(
        &[&certs, "--authfile", &p(&authfile), &src, &url],
        home.path(),
        &[],
    );
    assert_success(&out);
    let out = oci_copy_env(
        &["inspect", &certs, &url],
        home.path(),
        &[("REGISTRY_AUTH_FILE", p(&authfile))],
    );
    assert_success(&out);

    // $DOCKER_CONFIG/config.json.
    let docker = home.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        auth_json(&format!("https://{}", reg.host)),
    )
    .unwrap();
    let url = reg.url("stored/docker:1");
    let out = oci_copy_env(
        &[&certs, &src, &url],
        home.path(),
        &[("DOCKER_CONFIG", p(&docker))],
    );
    assert_success(&out);

    // A credential helper named in credHelpers, found on PATH.
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = \"{}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"'\"$server\"'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            reg.host
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let helper_cfg = home.path().join("helper");
    std::fs::create_dir_all(&helper_cfg).unwrap();
    std::fs::write(
        helper_cfg.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"test"}}}}"#, reg.host),
    )
    .unwrap();
    let path = format!("{}:{}", p(&bin), std::env::var("PATH").unwrap_or_default());
    let url = reg.url("stored/helper:1");
    let out = oci_copy_env(
        &["--debug", &certs, &src, &url],
        home.path(),
        &[("DOCKER_CONFIG", p(&helper_cfg)), ("PATH", path)],
    );
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("docker-credential-test"),
        "{}",
        describe(&out)
    );
    assert!(
        !stderr.contains(PASSWORD),
        "a secret leaked into --debug output"
    );
}

#[test]
fn rejected_oci_manifest_falls_back_to_v2s2() {
    let reg = Registry::start();
    let proxy = RejectOciProxy::start(&reg.host);
    let url = proxy.url("fallback/app:1");
    let out = oci_copy(["--debug", NO_TLS, &Fixture::OciLayout.reference(), &url]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("manifest candidates") && stderr.contains("oci, v2s2"),
        "{}",
        describe(&out)
    );
    assert!(stderr.contains("MANIFEST_INVALID"), "{}", describe(&out));
    assert!(stderr.contains("fell back to v2s2"), "{}", describe(&out));
    let direct = reg.url("fallback/app:1");
    let m = skopeo_raw(&direct);
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["config"]["digest"],
        Fixture::OciLayout.expected().config_digest.as_str()
    );
    skopeo_copies(&direct);
    pull_and_check(&direct);

    // With the format forced there is no fallback, and the error lists the attempt.
    let out = oci_copy([
        "-q",
        NO_TLS,
        "--format",
        "oci",
        &Fixture::OciLayout.reference(),
        &proxy.url("fallback/forced:1"),
    ]);
    assert_failure(
        &out,
        1,
        &[
            "refused every manifest type",
            "oci rejected",
            "MANIFEST_INVALID",
        ],
    );
}

#[test]
fn debug_log_redacts_upload_session_state() {
    let reg = Registry::start();
    let out = oci_copy([
        "--debug",
        NO_TLS,
        "--dest-compress-format",
        "zstd",
        &Fixture::OciLayout.reference(),
        &reg.url("redact/app:1"),
    ]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("_state="),
        "the request log shows upload URLs: {stderr}"
    );
    for (i, _) in stderr.match_indices("_state=") {
        assert!(
            stderr[i..].starts_with("_state=REDACTED"),
            "an upload session's state is shown: {}",
            &stderr[i..(i + 40).min(stderr.len())]
        );
    }
}
