//! `oci-copy sync` against real registries: every tag of a repository, skopeo's YAML with
//! the added filters, a directory of layouts, a bundle carried to another registry, the
//! rerun that only skips, blobs once per run, shards that cover the plan exactly, and the
//! exit statuses and report lines an engine reads.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::fixtures::Fixture;
use crate::support::judges::skopeo;
use crate::support::registry::Registry;
use crate::support::{assert_success, describe, oci_copy, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";

/// A registry with `lab/app` tagged 1, 2, v1.2.0 and v2.0.0-rc1, and `lab/tool:3` (an
/// image sharing every blob with `lab/app:1`).
fn source_registry() -> Registry {
    let reg = Registry::start();
    let push = |src: String, dest: &str| {
        assert_success(&oci_copy(["-q", NO_TLS, &src, &reg.url(dest)]));
    };
    push(Fixture::OciLayout.reference(), "lab/app:1");
    push(Fixture::DockerLegacy.reference(), "lab/app:2");
    push(Fixture::OciLayout.reference(), "lab/app:v1.2.0");
    push(Fixture::Docker25.reference(), "lab/app:v2.0.0-rc1");
    push(Fixture::OciLayout.reference(), "lab/tool:3");
    reg
}

fn sync(args: &[&str]) -> std::process::Output {
    let mut all = vec!["sync", NO_TLS];
    all.extend_from_slice(args);
    oci_copy(all)
}

fn report(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn statuses(lines: &[Value]) -> BTreeSet<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["destination"].as_str().unwrap().to_string(),
                l["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The digest `skopeo inspect` gives for `url` (a `docker://` or `oci:` reference).
fn digest_of(url: &str) -> String {
    let out = skopeo(&["inspect", "--raw", "--tls-verify=false", url]);
    assert!(out.status.success(), "{}", describe(&out));
    crate::support::sha256_hex(&out.stdout)
}

/// The config digest (image ID) of the image `url` names.
fn config_of(url: &str) -> String {
    let out = skopeo(&["inspect", "--config", "--raw", "--tls-verify=false", url]);
    assert!(out.status.success(), "{}", describe(&out));
    crate::support::sha256_hex(&out.stdout)
}

#[test]
fn every_tag_of_a_repository_then_a_rerun_that_only_skips() {
    let src = source_registry();
    let dst = Registry::start();
    let tmp = tempdir();
    let rep = tmp.path().join("r.jsonl");
    let from = format!("{}/lab/app", src.host);
    let to = format!("{}/mirror", dst.host);
    let out = sync(&[
        "--src",
        "docker",
        "--dest",
        "docker",
        "--report",
        &p(&rep),
        &from,
        &to,
    ]);
    assert_success(&out);
    let first = report(&rep);
    assert_eq!(first.len(), 4, "{first:?}");
    assert!(first.iter().all(|l| l["status"] == "copied"), "{first:?}");
    for l in &first {
        assert_eq!(l["source_digest"], l["destination_digest"], "{l}");
        let url = l["destination"].as_str().unwrap();
        assert_eq!(
            format!("sha256:{}", digest_of(url)),
            l["destination_digest"].as_str().unwrap()
        );
    }
    let out = sync(&[
        "--src",
        "docker",
        "--dest",
        "docker",
        "--report",
        &p(&rep),
        &from,
        &to,
    ]);
    assert_success(&out);
    let again = report(&rep);
    assert!(again.iter().all(|l| l["status"] == "skipped"), "{again:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("4 images: 0 copied, 4 skipped, 0 failed"),
        "{err}"
    );
}

#[test]
fn a_blob_shared_by_two_repositories_is_uploaded_once_and_mounted_once() {
    let src = source_registry();
    let dst = Registry::start();
    let proxy = FaultProxy::start(&dst.host, |_| Action::Pass);
    let yaml = format!(
        "{}:\n  tls-verify: false\n  images:\n    lab/app: [\"1\"]\n    lab/tool: [\"3\"]\n",
        src.host
    );
    let tmp = tempdir();
    let file = tmp.path().join("sync.yml");
    std::fs::write(&file, yaml).unwrap();
    let to = format!("{}/m", proxy.host);
    let out = sync(&[
        "--src",
        "yaml",
        "--dest",
        "docker",
        "--image-jobs",
        "2",
        &p(&file),
        &to,
    ]);
    assert_success(&out);
    let reqs = proxy.requests();
    let uploads = reqs
        .iter()
        .filter(|r| {
            r.method == "POST" && r.path.contains("/blobs/uploads/") && !r.path.contains("mount=")
        })
        .count();
    let mounts = reqs.iter().filter(|r| r.path.contains("mount=")).count();
    // Config and 2 layers: uploaded for one repository, mounted into the other.
    assert_eq!(uploads, 3, "{reqs:#?}");
    assert_eq!(mounts, 3, "{reqs:#?}");
}

#[test]
fn yaml_filters_select_exactly_the_tags_asked_for() {
    let src = source_registry();
    let yaml = format!(
        "{h}:\n  tls-verify: false\n  images-by-semver:\n    lab/app: \">= 1.0.0\"\n  exclude-tag-regex:\n    lab/app: rc\n  images-by-tag-regex:\n    lab/tool: ^3$\n",
        h = src.host
    );
    let tmp = tempdir();
    let file = tmp.path().join("sync.yml");
    std::fs::write(&file, yaml).unwrap();
    let out = sync(&["--src", "yaml", "--plan", &p(&file)]);
    assert_success(&out);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = serde_json::json!([
        // "1" and "2" are versions 1.0.0 and 2.0.0, as skopeo's semver reads them.
        {"source": format!("{}/lab/app", src.host), "name": "app", "tags": ["1", "2", "v1.2.0"]},
        {"source": format!("{}/lab/tool", src.host), "name": "tool", "tags": ["3"]},
    ]);
    assert_eq!(plan, want);
}

#[test]
fn a_bundle_carries_images_to_another_registry_with_their_digests() {
    let src = source_registry();
    let site = Registry::start();
    let tmp = tempdir();
    let bundle = tmp.path().join("bundle.tar");
    let from = format!("{}/lab/app", src.host);
    let out = sync(&["--src", "docker", "--dest", "bundle", &from, &p(&bundle)]);
    assert_success(&out);
    // skopeo reads the bundle as an oci-archive, each image by its full reference; an OCI
    // image keeps its digest, a Docker one becomes OCI (as in any OCI layout) and keeps its
    // image ID.
    let inside = |tag: &str| format!("oci-archive:{}:{}/lab/app:{tag}", p(&bundle), src.host);
    assert_eq!(digest_of(&inside("1")), digest_of(&src.url("lab/app:1")));
    assert_eq!(config_of(&inside("2")), config_of(&src.url("lab/app:2")));
    let to = format!("{}/site", site.host);
    let out = sync(&["--src", "bundle", "--dest", "docker", &p(&bundle), &to]);
    assert_success(&out);
    for tag in ["1", "v1.2.0"] {
        let (there, here) = (
            site.url(&format!("site/app:{tag}")),
            src.url(&format!("lab/app:{tag}")),
        );
        assert_eq!(digest_of(&there), digest_of(&here), "{tag}");
    }
    for tag in ["2", "v2.0.0-rc1"] {
        let (there, here) = (
            site.url(&format!("site/app:{tag}")),
            src.url(&format!("lab/app:{tag}")),
        );
        assert_eq!(config_of(&there), config_of(&here), "{tag}");
    }
    // Nothing changed: a second sync into the bundle copies nothing.
    let out = sync(&["--src", "docker", "--dest", "bundle", &from, &p(&bundle)]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("4 images: 0 copied, 4 skipped"), "{err}");
}

#[test]
fn a_directory_of_layouts_one_per_repository() {
    let src = source_registry();
    let tmp = tempdir();
    let dir = tmp.path().join("out");
    let from = format!("{}/lab/app", src.host);
    let out = sync(&["--src", "docker", "--dest", "dir", &from, &p(&dir)]);
    assert_success(&out);
    let layout = format!("oci:{}:1", p(&dir.join("app")));
    assert_eq!(digest_of(&layout), digest_of(&src.url("lab/app:1")));
    let layout = format!("oci:{}:2", p(&dir.join("app")));
    assert_eq!(config_of(&layout), config_of(&src.url("lab/app:2")));
    // And back, from the directory, into a registry.
    let back = Registry::start();
    let out = sync(&[
        "--src",
        "dir",
        "--dest",
        "docker",
        &p(&dir),
        &format!("{}/b", back.host),
    ]);
    assert_success(&out);
    assert_eq!(
        digest_of(&back.url("b/app:1")),
        digest_of(&src.url("lab/app:1"))
    );
}

#[test]
fn shards_cover_the_plan_exactly_and_three_workers_equal_one() {
    let src = source_registry();
    let yaml = format!(
        "{h}:\n  tls-verify: false\n  images:\n    lab/app: []\n    lab/tool: []\n",
        h = src.host
    );
    let tmp = tempdir();
    let file = tmp.path().join("sync.yml");
    std::fs::write(&file, yaml).unwrap();
    let plan = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["--src", "yaml", "--plan"];
        args.extend_from_slice(extra);
        args.push(file.to_str().unwrap());
        let out = sync(&args);
        assert_success(&out);
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    };
    let whole = plan(&[]);
    let mut union: Vec<Value> = (0..3)
        .flat_map(|i| plan(&["--shard", &format!("{i}/3")]))
        .collect();
    union.sort_by_key(|u| u["source"].as_str().unwrap().to_string());
    assert_eq!(union, whole, "the shards overlap or miss a unit");
    // Three concurrent workers into one registry, against one worker into another.
    let (one, three) = (Registry::start(), Registry::start());
    let run = |dest: &str, shard: Option<String>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_oci-copy"));
        c.args(["sync", NO_TLS, "-q", "--src", "yaml", "--dest", "docker"]);
        if let Some(s) = shard {
            c.args(["--shard", &s]);
        }
        c.args([file.to_str().unwrap(), dest]).spawn().unwrap()
    };
    let workers: Vec<_> = (0..3)
        .map(|i| run(&three.host, Some(format!("{i}/3"))))
        .collect();
    let single = run(&one.host, None);
    for mut w in workers.into_iter().chain([single]) {
        assert!(w.wait().unwrap().success());
    }
    for repo in ["app", "tool"] {
        let tags = |r: &Registry| {
            let out = oci_copy(["list-tags", NO_TLS, &r.url(repo)]);
            assert_success(&out);
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            let mut tags: Vec<String> = v["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            tags.sort();
            tags.iter()
                .map(|t| (t.clone(), digest_of(&r.url(&format!("{repo}:{t}")))))
                .collect::<Vec<_>>()
        };
        assert_eq!(tags(&three), tags(&one), "{repo}");
    }
}

#[test]
fn exit_statuses_and_report_lines_an_engine_can_act_on() {
    let src = source_registry();
    let tmp = tempdir();
    let dst = Registry::start();
    // A repository that does not exist is one failed entry: exit 66 (source not found).
    let file = tmp.path().join("missing.yml");
    let yaml = format!(
        "{}:\n  tls-verify: false\n  images:\n    lab/nope: [\"1\"]\n    lab/app: [\"1\"]\n",
        src.host
    );
    std::fs::write(&file, yaml).unwrap();
    let rep = tmp.path().join("r.jsonl");
    let to = format!("{}/m", dst.host);
    let out = sync(&[
        "--src",
        "yaml",
        "--dest",
        "docker",
        "--keep-going",
        "--report",
        &p(&rep),
        &p(&file),
        &to,
    ]);
    assert_eq!(out.status.code(), Some(66), "{}", describe(&out));
    let lines = report(&rep);
    let got = statuses(&lines);
    assert!(
        got.contains(&(format!("docker://{}/m/app:1", dst.host), "copied".into())),
        "{got:?}"
    );
    let failed: Vec<&Value> = lines.iter().filter(|l| l["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert_eq!(failed[0]["failure"], "not-found");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("lab/nope"),
        "{lines:?}"
    );
    // Two reports merged: the same summary and exit status.
    let out = oci_copy(["sync", "--merge-reports", &p(&rep), &p(&rep)]);
    assert_eq!(out.status.code(), Some(66), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 images: 2 copied, 0 skipped, 2 failed")
    );
    // A file that does not parse: exit 78, the file and line named, nothing copied.
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        format!("{}:\n  images:\n    lab/app: [\"1\"\n", src.host),
    )
    .unwrap();
    let out = sync(&["--src", "yaml", "--dest", "docker", &p(&bad), &to]);
    assert_eq!(out.status.code(), Some(78), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}, line ", p(&bad))), "{err}");
}

#[test]
fn a_used_up_rate_limit_stops_the_run_even_with_keep_going() {
    let src = source_registry();
    let proxy = FaultProxy::start(&src.host, |r| {
        if r.path.contains("/manifests/") {
            Action::error(
                429,
                "TOOMANYREQUESTS",
                &[
                    ("RateLimit-Limit", "100;w=21600"),
                    ("RateLimit-Remaining", "0;w=21600"),
                ],
            )
        } else {
            Action::Pass
        }
    });
    let dst = Registry::start();
    let tmp = tempdir();
    let rep = tmp.path().join("r.jsonl");
    let from = format!("{}/lab/app", proxy.host);
    let to = format!("{}/m", dst.host);
    let args = [
        "--src",
        "docker",
        "--dest",
        "docker",
        "--keep-going",
        "--image-jobs",
        "1",
    ];
    let mut all = args.to_vec();
    all.extend(["--report", rep.to_str().unwrap(), &from, &to]);
    let out = sync(&all);
    assert_eq!(out.status.code(), Some(75), "{}", describe(&out));
    let lines = report(&rep);
    assert_eq!(lines.len(), 1, "the run went on after the limit: {lines:?}");
    assert_eq!(lines[0]["failure"], "rate-limited");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rate limit is used up"), "{err}");
}

#[test]
fn sync_with_referrers_carries_signatures_and_leaves_their_tags_to_them() {
    use crate::referrers::{assert_all_landed, assert_signature_verifies};
    let (a, b) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = crate::support::referrers::push_signed(&a.host, "lab/app", "v1", true, work.path());
    let from = format!("{}/lab/app", a.host);
    let to = format!("{}/mirror", b.host);
    let rep = work.path().join("r.jsonl");
    let out = sync(&[
        "--src",
        "docker",
        "--dest",
        "docker",
        "--referrers",
        "--report",
        &p(&rep),
        &from,
        &to,
    ]);
    assert_success(&out);
    // One image: the .sig and sha256-<hex> tags came as its referrers, not as images.
    let lines = report(&rep);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_all_landed(&b.host, "mirror/app", &s);
    assert_signature_verifies(&b.host, "mirror/app", &s);
    // Through a bundle to a third registry, the referrers along.
    let c = Registry::start();
    let bundle = work.path().join("bundle.tar");
    let out = sync(&[
        "--src",
        "docker",
        "--dest",
        "bundle",
        "--referrers",
        &from,
        &p(&bundle),
    ]);
    assert_success(&out);
    let site = format!("{}/site", c.host);
    let out = sync(&[
        "--src",
        "bundle",
        "--dest",
        "docker",
        "--referrers",
        &p(&bundle),
        &site,
    ]);
    assert_success(&out);
    assert_all_landed(&c.host, "site/app", &s);
    // A conversion cannot go with it: refused before anything is read (exit 78).
    let out = sync(&[
        "--src",
        "docker",
        "--dest",
        "docker",
        "--referrers",
        "--format",
        "v2s2",
        &from,
        &to,
    ]);
    assert_eq!(out.status.code(), Some(78), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--referrers cannot go with --format"));
}
