//! `oci-copy inspect`: the JSON summary agrees with the manifest and config it describes,
//! `--raw` prints the stored manifest bytes exactly, and `--config` prints the config.

use crate::support::check::extract_archive;
use crate::support::fixtures::Fixture;
use crate::support::layout::{config, descriptor, manifest, manifest_bytes, read_blob, read_json};
use crate::support::{assert_success, oci_copy, testdata};
use serde_json::Value;

fn inspect(args: &[&str]) -> Vec<u8> {
    let out = oci_copy([&["inspect"], args].concat());
    assert_success(&out);
    out.stdout
}

fn summary(reference: &str) -> Value {
    serde_json::from_slice(&inspect(&[reference])).expect("inspect prints JSON")
}

#[test]
fn summary_matches_manifest_and_config() {
    let layout = testdata("oci-layout");
    let s = summary(&Fixture::OciLayout.reference());
    let cfg = config(&layout, "latest");
    assert!(
        s.get("Name").is_none(),
        "a layout has no name; skopeo omits it: {s}"
    );
    for key in [
        "Digest",
        "Created",
        "DockerVersion",
        "Labels",
        "Architecture",
        "Os",
        "Layers",
        "LayersData",
        "Env",
    ] {
        assert!(s.get(key).is_some(), "inspect output lacks {key}: {s}");
    }
    assert_eq!(s["Digest"], descriptor(&layout, "latest")["digest"]);
    assert_eq!(s["Architecture"], "amd64");
    assert_eq!(s["Os"], "linux");
    assert_eq!(s["Architecture"], cfg["architecture"]);
    assert_eq!(s["Created"], cfg["created"]);
    assert_eq!(s["Env"], cfg["config"]["Env"]);
    assert_same_labels(&s["Labels"], &cfg["config"]["Labels"]);
}

fn assert_same_labels(shown: &Value, stored: &Value) {
    let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
    assert!(
        shown == stored || (empty(shown) && empty(stored)),
        "Labels {shown} != config {stored}"
    );
}

#[test]
fn summary_lists_layers_with_their_data() {
    let layout = testdata("oci-layout");
    let s = summary(&Fixture::OciLayout.reference());
    let layers = manifest(&layout, "latest")["layers"]
        .as_array()
        .expect("layers")
        .clone();
    let digests: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let shown: Vec<&Value> = s["Layers"]
        .as_array()
        .expect("Layers is an array")
        .iter()
        .collect();
    assert_eq!(shown, digests);
    let data = s["LayersData"].as_array().expect("LayersData is an array");
    assert_eq!(data.len(), layers.len());
    for (d, l) in data.iter().zip(&layers) {
        assert_eq!(d["Digest"], l["digest"]);
        assert_eq!(d["Size"], l["size"]);
    }
}

#[test]
fn summary_of_docker_archive_matches_its_config() {
    let s = summary(&Fixture::DockerLegacy.reference());
    let tmp = crate::support::tempdir();
    extract_archive(&testdata("docker-legacy.tar"), tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    let manifest = read_json(&tmp.path().join("manifest.json")).unwrap_or_else(|e| panic!("{e}"));
    let config_path = manifest[0]["Config"].as_str().expect("Config path");
    let cfg = read_json(&tmp.path().join(config_path)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s["Architecture"], cfg["architecture"]);
    assert_eq!(s["Os"], cfg["os"]);
    assert_eq!(s["Env"], cfg["config"]["Env"]);
    assert_eq!(s["DockerVersion"], cfg["docker_version"]);
    assert_same_labels(&s["Labels"], &cfg["config"]["Labels"]);
}

#[test]
fn raw_prints_the_stored_manifest_bytes() {
    let raw = inspect(&["--raw", &Fixture::OciLayout.reference()]);
    assert_eq!(raw, manifest_bytes(&testdata("oci-layout"), "latest"));
}

#[test]
fn raw_prints_the_stored_index_bytes() {
    let raw = inspect(&["--raw", &Fixture::OciIndex.reference()]);
    assert_eq!(raw, manifest_bytes(&testdata("oci-index"), "multi"));
}

#[test]
fn config_prints_the_config_blob() {
    let layout = testdata("oci-layout");
    let printed: Value =
        serde_json::from_slice(&inspect(&["--config", &Fixture::OciLayout.reference()]))
            .expect("JSON");
    let digest = manifest(&layout, "latest")["config"]["digest"]
        .as_str()
        .expect("config digest")
        .to_string();
    let stored: Value = serde_json::from_slice(&read_blob(&layout, &digest)).expect("config JSON");
    assert_eq!(printed, stored);
}
