//! `oci-copy verify docker://…` through nginx in front of two replicas (issue 15): an image
//! stored on one replica only is "inconsistent answers" (exit 1), whichever replica each
//! request lands on; the same image on a healthy pair is "no problems" (exit 0).

use std::process::Output;

use crate::support::balancer::{Balancer, Scheme, Setup};
use crate::support::registry::oci_copy_env;
use crate::support::{assert_success, describe, tempdir};

use super::balancer::push;

/// How many times verify runs on each setup: each run must give the same verdict.
const RUNS: usize = 3;

fn verify(url: &str) -> Output {
    let home = tempdir();
    oci_copy_env(&["verify", "--tls-verify=false", url], home.path(), &[])
}

/// The two-layer fixture pushed to the first replica directly, not through the balancer.
fn on_first_replica(bal: &Balancer, path: &str) {
    let (out, _) = push(&bal.replicas[0].url(path));
    assert_success(&out);
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn split_brain_is_inconsistent(scheme: Scheme) {
    let bal = Balancer::start(Setup::SplitBrain, scheme);
    on_first_replica(&bal, "lab/app:1");
    for run in 1..=RUNS {
        let out = verify(&bal.url("lab/app:1"));
        assert!(
            !out.status.success() && text(&out).contains("inconsistent"),
            "{scheme:?}, run {run}: verify must report inconsistent answers\n{}",
            describe(&out)
        );
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(!text(&out).contains("panicked"), "{}", describe(&out));
    }
}

#[test]
fn verify_round_robin_split_brain_reports_inconsistent_answers() {
    split_brain_is_inconsistent(Scheme::RoundRobin);
}

#[test]
fn verify_random_split_brain_reports_inconsistent_answers() {
    split_brain_is_inconsistent(Scheme::Random);
}

#[test]
fn verify_healthy_replicas_reports_no_problems() {
    for scheme in Scheme::ALL {
        let bal = Balancer::start(Setup::Healthy, scheme);
        on_first_replica(&bal, "lab/app:1");
        for run in 1..=RUNS {
            let out = verify(&bal.url("lab/app:1"));
            assert_success(&out);
            let t = text(&out);
            assert!(
                t.contains("no problems") && !t.contains("inconsistent"),
                "{scheme:?}, run {run}\n{}",
                describe(&out)
            );
        }
    }
}
