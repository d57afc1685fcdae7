//! The probe speaks through the registry HTTP layer: its bearer tokens come from the one
//! token fetcher, so a token server answering garbage is named as such, as for a copy.

use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::registry::{oci_copy_env, Registry, PASSWORD, USER};
use crate::support::token_server::TokenServer;
use crate::support::{describe, tempdir};

#[test]
fn the_probe_names_a_token_server_that_answers_garbage() {
    let tokens = TokenServer::start();
    let proxy = FaultProxy::start(&tokens.host, move |r| {
        if r.path.starts_with("/token") {
            Action::Respond {
                status: 200,
                headers: vec![],
                body: "<html>maintenance</html>".to_string(),
            }
        } else {
            Action::Pass
        }
    });
    let reg = Registry::start_with_token_realm(&tokens, &proxy.host);
    let home = tempdir();
    let creds = format!("{USER}:{PASSWORD}");
    let url = reg.url("probe/garbage");
    let args = ["probe", "--tls-verify=false", "--creds", &creds, &url];
    let out = oci_copy_env(&args, home.path(), &[]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!(
        "the token server at http://{}/token answered 200 with a body that is not a token: <html>maintenance</html>",
        proxy.host
    );
    assert!(all.contains(&want), "wanted {want:?}\n{}", describe(&out));
    assert!(!all.contains(PASSWORD), "the password leaked\n{all}");
}

/// The probe of a registry behind a proxy that answers `GET /v2/` with `answer`.
fn probe_with_v2_answering(answer: Action, extra: &[&str]) -> (std::process::Output, u64) {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host, move |r| {
        if r.method == "GET" && r.path == "/v2/" {
            answer.clone()
        } else {
            Action::Pass
        }
    });
    let url = format!("docker://{}/probe/layer", proxy.host);
    let mut args = vec!["probe", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&url);
    crate::support::peak::oci_copy_peak(&args)
}

#[test]
fn the_probe_reads_a_huge_reply_only_up_to_its_limit() {
    let huge = |status| Action::Huge {
        status,
        content_type: "application/json".to_string(),
        size: 1 << 30,
    };
    // A 1 GiB answer held whole peaks at over 1 GB; read through the limit, it stops at 4 MiB.
    let (out, peak) = probe_with_v2_answering(huge(200), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        err.contains("/v2/: the answer is over the 4 MiB limit"),
        "{err}"
    );
    assert!(peak < 64 << 10, "peak RSS {peak} KiB");
    // An error body is read for its message only: 64 KiB of it.
    let (out, peak) = probe_with_v2_answering(huge(500), &["--json"]);
    assert!(peak < 64 << 10, "peak RSS {peak} KiB\n{}", describe(&out));
}

#[test]
fn the_probe_gives_up_on_a_silent_registry_after_the_stall_timeout() {
    // The proxy keeps the connection open for 30 s without answering; the probe waited up to
    // its own 60 s request timeout before, whatever --stall-timeout said.
    let (out, _) = probe_with_v2_answering(Action::Stall, &["--stall-timeout", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{}", describe(&out));
    assert!(
        err.contains("/v2/ stalled: nothing for 1s (--stall-timeout)"),
        "{err}"
    );
}
