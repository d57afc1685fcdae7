//! The Kubernetes Indexed Job shipped in `deploy/kubernetes/sync-job.yaml`: valid against
//! the Kubernetes schemas (judged by `kubernetes-validate`, from PyPI, in strict mode), and
//! the shard it asks for (`--shard k8s`) is what the pod's environment says.

use std::path::Path;
use std::process::Command;

use crate::support::{assert_success, describe, oci_copy_in_env, tempdir};

fn validate(file: &Path) -> std::process::Output {
    match Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .arg(file)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "kubernetes-validate not found: install it with `pip install kubernetes-validate`"
        ),
        Err(e) => panic!("running kubernetes-validate: {e}"),
    }
}

#[test]
fn the_job_manifest_is_valid_and_a_broken_one_is_not() {
    let job = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/sync-job.yaml");
    let out = validate(&job);
    assert_success(&out);
    let text = std::fs::read_to_string(&job).unwrap();
    for key in [
        "completionMode: Indexed",
        "backoffLimitPerIndex",
        "podFailurePolicy",
        "--shard=k8s",
    ] {
        assert!(text.contains(key), "the Job lacks {key}");
    }
    // The judge can fail: a misspelt field is refused.
    let tmp = tempdir();
    let broken = tmp.path().join("job.yaml");
    std::fs::write(
        &broken,
        text.replace("backoffLimitPerIndex", "backoffLimitPerIdx"),
    )
    .unwrap();
    let out = validate(&broken);
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn shard_k8s_takes_the_index_and_count_from_the_environment() {
    let tmp = tempdir();
    // A directory of layouts needs no registry to plan.
    for name in ["a", "b", "c", "d", "e", "f"] {
        let dir = tmp.path().join("src").join(name);
        let src = crate::support::fixtures::Fixture::OciLayout.reference();
        let out = crate::support::oci_copy(["-q", &src, &format!("oci:{}:1", dir.display())]);
        assert_success(&out);
    }
    let src = tmp.path().join("src");
    let plan = |envs: &[(&str, &str)]| {
        let args = [
            "sync",
            "--src",
            "dir",
            "--plan",
            "--shard",
            "k8s",
            src.to_str().unwrap(),
        ];
        oci_copy_in_env(&args, envs)
    };
    let mut all = Vec::new();
    for i in ["0", "1", "2"] {
        let out = plan(&[("JOB_COMPLETION_INDEX", i), ("JOB_COMPLETIONS", "3")]);
        assert_success(&out);
        let units: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        all.extend(
            units
                .into_iter()
                .map(|u| u["name"].as_str().unwrap().to_string()),
        );
    }
    all.sort();
    assert_eq!(all, ["a", "b", "c", "d", "e", "f"]);
    let out = plan(&[("JOB_COMPLETION_INDEX", "0")]);
    assert_eq!(out.status.code(), Some(78), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("JOB_COMPLETIONS is not set"),
        "{}",
        describe(&out)
    );
}
