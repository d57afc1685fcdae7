//! A sync into a directory of layouts reads each blob from the source once per run, however
//! many images and repositories share it: a copy that needs a blob another copy is writing
//! waits for it, and one that needs a blob another layout got links it from there.

use std::collections::HashMap;

use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::fixtures::Fixture;
use crate::support::registry::Registry;
use crate::support::{assert_success, oci_copy, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";

#[test]
fn a_blob_shared_by_many_images_is_read_once_into_a_directory_of_layouts() {
    let reg = Registry::start();
    // One image under five tags of two repositories, then another image.
    let image = Fixture::OciLayout.reference();
    for (repo, tag) in [
        ("app", "1"),
        ("app", "2"),
        ("app", "3"),
        ("tool", "1"),
        ("tool", "2"),
    ] {
        let to = reg.url(&format!("lab/{repo}:{tag}"));
        assert_success(&oci_copy(["-q", NO_TLS, "--no-read-back", &image, &to]));
    }
    let other = Fixture::Docker25.reference();
    let to = reg.url("lab/tool:3");
    assert_success(&oci_copy(["-q", NO_TLS, "--no-read-back", &other, &to]));
    let proxy = FaultProxy::start(&reg.host, |_| Action::Pass);
    let tmp = tempdir();
    let yaml = tmp.path().join("sync.yml");
    let body = format!(
        "{}:\n  tls-verify: false\n  images:\n    lab/app: []\n    lab/tool: []\n",
        proxy.host
    );
    std::fs::write(&yaml, body).unwrap();
    let out_dir = tmp.path().join("out");
    let out = oci_copy([
        "sync",
        NO_TLS,
        "-q",
        "--src",
        "yaml",
        "--dest",
        "dir",
        yaml.to_str().unwrap(),
        &p(&out_dir),
    ]);
    assert_success(&out);
    let mut gets: HashMap<String, usize> = HashMap::new();
    for r in proxy.requests().into_iter().filter(|r| r.is_blob_get()) {
        let digest = r.path.rsplit('/').next().unwrap_or_default().to_string();
        *gets.entry(digest).or_default() += 1;
    }
    // Each layer once. (A config is read by every image that names it, to plan the copy.)
    let mut layers = Vec::new();
    for r in [reg.url("lab/app:1"), reg.url("lab/tool:3")] {
        let out = oci_copy(["inspect", "--raw", NO_TLS, r.as_str()]);
        assert_success(&out);
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for l in m["layers"].as_array().unwrap() {
            layers.push(l["digest"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(layers.len(), 4, "two images of two layers");
    for digest in &layers {
        assert_eq!(gets.get(digest), Some(&1), "{digest}: {gets:?}");
    }
    // Every image is whole in its layout, as skopeo and oci-copy read it.
    for (repo, tag) in [("app", "1"), ("app", "3"), ("tool", "2"), ("tool", "3")] {
        let layout = format!("oci:{}:{tag}", p(&out_dir.join(repo)));
        assert_success(&oci_copy(["verify", "-q", &layout]));
        crate::support::judges::skopeo_reads(&layout);
    }
}
