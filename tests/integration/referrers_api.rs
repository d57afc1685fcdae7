//! The referrers API path, through the test layer in front of the real registry
//! (`support/referrers_api.rs`): asked first when a registry has it, `OCI-Subject` on a
//! push means no tag index is written, a 404 falls back to the tag schema; oras-py pushes
//! an artifact with a subject through it and reads the copy back.

use crate::referrers::assert_all_landed;
use crate::support::push::{get_manifest, request, sha256};
use crate::support::referrers::{listed, oras, push_signed};
use crate::support::referrers_api::{Mode, ReferrersApi};
use crate::support::registry::Registry;
use crate::support::{assert_success, oci_copy, p, tempdir};

fn copy_debug(src: &str, dst: &str) -> String {
    let out = oci_copy([
        "--debug",
        "copy",
        "--referrers",
        "--tls-verify=false",
        src,
        dst,
    ]);
    assert_success(&out);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_referrers_api_is_asked_first() {
    let (a, b) = (Registry::start(), Registry::start());
    let api = ReferrersApi::start(&a.host, Mode::Api);
    let work = tempdir();
    // No tag schema indexes at the source: only the API can find the referrers.
    let s = push_signed(&api.host, "lab/app", "v1", false, work.path());
    assert!(listed(&a.host, "lab/app", &s.image.digest).is_empty());
    let log = copy_debug(&api.url("lab/app:v1"), &b.url("m/app:v1"));
    let found = format!(
        "referrers of {}: referrers API: GET /v2/lab/app/referrers/{} answered 200 with 2 entries",
        s.image.digest, s.image.digest
    );
    assert!(log.contains(&found), "{log}");
    assert!(
        !api.requests().iter().any(
            |r| r.contains(&format!("manifests/sha256-{}", s.image.hex()))
                && !r.ends_with(".sig")
                && !r.ends_with(".att")
                && !r.ends_with(".sbom")
        ),
        "{:?}",
        api.requests()
    );
    // The destination has no API: the tag schema is written there.
    assert_all_landed(&b.host, "m/app", &s);
}

#[test]
fn a_registry_that_answers_oci_subject_gets_no_tag_index() {
    let (a, b) = (Registry::start(), Registry::start());
    let api = ReferrersApi::start(&b.host, Mode::Api);
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let log = copy_debug(&a.url("lab/app:v1"), &api.url("m/app:v1"));
    assert!(
        log.contains(&format!(
            "the registry answered OCI-Subject: {}",
            s.image.digest
        )),
        "{log}"
    );
    assert!(log.contains("recorded by the referrers API"), "{log}");
    assert!(
        listed(&b.host, "m/app", &s.image.digest).is_empty(),
        "no sha256-<hex> tag is written"
    );
    let a2 = request(
        &api.host,
        "GET",
        &format!("/v2/m/app/referrers/{}", s.image.digest),
        &[],
        b"",
    );
    let v: serde_json::Value = serde_json::from_slice(&a2.body).unwrap();
    let mut got: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want = vec![s.sbom.digest.as_str(), s.attestation.digest.as_str()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(get_manifest(&b.host, "m/app", &s.sig_tag).1, s.sig.bytes);
}

#[test]
fn a_404_from_the_referrers_api_falls_back_to_the_tag_schema() {
    let (a, b) = (Registry::start(), Registry::start());
    let none = ReferrersApi::start(&a.host, Mode::NotFound);
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let log = copy_debug(&none.url("lab/app:v1"), &b.url("m/app:v1"));
    assert!(
        log.contains(&format!(
            "answered 404: no referrers API, so the tag sha256-{} (2 entries)",
            s.image.hex()
        )),
        "{log}"
    );
    assert!(none
        .requests()
        .iter()
        .any(|r| r == &format!("GET /v2/lab/app/referrers/{}", s.image.digest)));
    assert_all_landed(&b.host, "m/app", &s);
}

#[test]
fn oras_pushes_an_artifact_and_reads_the_copy() {
    let (a, b) = (Registry::start(), Registry::start());
    let api = ReferrersApi::start(&a.host, Mode::Api);
    let work = tempdir();
    let s = push_signed(&api.host, "lab/app", "v1", false, work.path());
    let file = work.path().join("vex.json");
    std::fs::write(
        &file,
        br#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}"#,
    )
    .unwrap();
    let size = s.image.bytes.len().to_string();
    let header = oras(&[
        "push",
        &api.host,
        "lab/app:vex",
        &p(&file),
        "application/vnd.openvex+json",
        &s.image.digest,
        &size,
    ]);
    assert_eq!(
        header.trim(),
        s.image.digest,
        "the layer answers OCI-Subject to oras"
    );
    let (_, vex) = get_manifest(&a.host, "lab/app", "vex");
    let vex_digest = sha256(&vex);
    let log = copy_debug(&api.url("lab/app:v1"), &b.url("m/app:v1"));
    assert!(log.contains("5 referrers copied"), "{}", log);
    assert!(listed(&b.host, "m/app", &s.image.digest).contains(&vex_digest));
    let read = oras(&["manifest", &b.host, &format!("m/app@{vex_digest}")]);
    let got: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!(
        got,
        serde_json::from_slice::<serde_json::Value>(&vex).unwrap()
    );
}

#[test]
fn probe_reports_oci_subject_and_the_referrers_api_of_a_registry_that_has_them() {
    let reg = Registry::start();
    let api = ReferrersApi::start(&reg.host, Mode::Api);
    let home = tempdir();
    let out = crate::support::registry::oci_copy_env(
        &[
            "probe",
            "--tls-verify=false",
            "--json",
            &api.url("probe/app"),
        ],
        home.path(),
        &[],
    );
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let subject = &v["capabilities"]["subject"];
    assert_eq!(subject["supported"], true, "{subject}");
    assert!(
        subject["evidence"]
            .as_str()
            .unwrap()
            .contains("OCI-Subject: sha256:"),
        "{subject}"
    );
    assert_eq!(v["capabilities"]["referrers_api"]["supported"], true, "{v}");
}
