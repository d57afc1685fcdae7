//! `--additional-tag NAME:TAG` gives a docker-archive's image more names: its `RepoTags`,
//! `repositories` and Docker 25 `index.json` list each, in the order skopeo lists them, and
//! skopeo and oci-copy read the image back by every name. Elsewhere it is refused.

use std::path::Path;

use crate::support::judges::skopeo;
use crate::support::{assert_failure, assert_success, assert_usage_error, describe, oci_copy};
use crate::support::{p, tempdir, testdata};

fn src() -> String {
    format!("oci:{}:latest", p(&testdata("oci-layout")))
}

/// An entry of a tar file.
fn tar_entry(tar: &Path, name: &str) -> serde_json::Value {
    let mut a = tar::Archive::new(std::fs::File::open(tar).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            return serde_json::from_reader(&mut e).unwrap();
        }
    }
    panic!("{name} is not in {}", tar.display())
}

fn repo_tags(tar: &Path) -> Vec<String> {
    let m = tar_entry(tar, "manifest.json");
    let tags = m[0]["RepoTags"].as_array().expect("RepoTags");
    tags.iter()
        .map(|t| {
            t.as_str()
                .unwrap()
                .trim_start_matches("docker.io/")
                .to_string()
        })
        .collect()
}

#[test]
fn every_name_is_in_the_archive_and_reads_back() {
    let tmp = tempdir();
    let (ours, theirs) = (tmp.path().join("ours.tar"), tmp.path().join("theirs.tar"));
    let out = oci_copy([
        "--additional-tag",
        "lab/x:2",
        "--additional-tag",
        "quay.io/a/b:3,lab/app:1",
        &src(),
        &format!("docker-archive:{}:lab/app:1", p(&ours)),
    ]);
    assert_success(&out);
    let want = ["lab/app:1", "lab/x:2", "quay.io/a/b:3"];
    assert_eq!(repo_tags(&ours), want);
    let sk = skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        "--additional-tag",
        "lab/x:2",
        "--additional-tag",
        "quay.io/a/b:3",
        &src(),
        &format!("docker-archive:{}:lab/app:1", p(&theirs)),
    ]);
    assert!(sk.status.success(), "{}", describe(&sk));
    assert_eq!(
        repo_tags(&ours),
        repo_tags(&theirs),
        "skopeo lists the same names"
    );
    let repos = tar_entry(&ours, "repositories");
    for (repo, tag) in [("lab/app", "1"), ("lab/x", "2"), ("quay.io/a/b", "3")] {
        assert!(
            repos[repo][tag].is_string(),
            "repositories lacks {repo}:{tag}: {repos}"
        );
    }
    let index = tar_entry(&ours, "index.json");
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["io.containerd.image.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        names,
        ["docker.io/lab/app:1", "docker.io/lab/x:2", "quay.io/a/b:3"]
    );
    let config = |r: &str| {
        let out = oci_copy(["inspect", "--config", r]);
        assert_success(&out);
        out.stdout
    };
    let first = config(&format!("docker-archive:{}:lab/app:1", p(&ours)));
    for name in ["lab/x:2", "quay.io/a/b:3"] {
        let r = format!("docker-archive:{}:{name}", p(&ours));
        assert_eq!(config(&r), first, "{name}");
        let sk = skopeo(&["inspect", &r]);
        assert!(sk.status.success(), "skopeo reads {r}\n{}", describe(&sk));
    }
}

#[test]
fn an_unnamed_archive_gets_just_the_additional_names() {
    let tmp = tempdir();
    let tar = tmp.path().join("a.tar");
    let to = format!("docker-archive:{}", p(&tar));
    assert_success(&oci_copy(["--additional-tag", "lab/only:7", &src(), &to]));
    assert_eq!(repo_tags(&tar), ["lab/only:7"]);
}

#[test]
fn additional_tags_are_refused_where_they_mean_nothing() {
    let tmp = tempdir();
    let layout = tmp.path().join("l");
    let out = oci_copy([
        "--additional-tag",
        "lab/x:2",
        &src(),
        &format!("oci:{}:1", p(&layout)),
    ]);
    assert_failure(&out, 1, &["--additional-tag", "is not one"]);
    assert!(!layout.exists(), "nothing is written");
    let tar = format!("docker-archive:{}", p(&tmp.path().join("a.tar")));
    for bad in [
        "lab/x",
        "lab/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "Lab/X:1",
    ] {
        let out = oci_copy(["--additional-tag", bad, &src(), &tar]);
        assert_usage_error(&out);
        assert!(String::from_utf8_lossy(&out.stderr).contains("--additional-tag"));
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
