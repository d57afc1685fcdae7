//! What a user sees: stdout carries only the output asked for, stderr the progress and the
//! summary; plain lines without a terminal, bars under a pseudo-terminal; `--quiet`
//! silences everything; completions for every shell; `/dev/stdout` as an archive target.

use std::process::{Command, Stdio};

use crate::support::check::check_docker_archive;
use crate::support::docker::loads_archive;
use crate::support::{assert_success, oci_copy, p, tempdir, testdata};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn without_a_terminal_progress_is_plain_lines_on_stderr() {
    let tmp = tempdir();
    let src = format!("docker-archive:{}", p(&testdata("docker-legacy.tar")));
    let out = oci_copy([
        src.as_str(),
        &format!("oci:{}:app", p(&tmp.path().join("l"))),
    ]);
    assert_success(&out);
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert_eq!(err.matches("Copying blob sha256:").count(), 2, "{err}");
    assert_eq!(err.matches("Copied blob sha256:").count(), 2, "{err}");
    assert!(err.contains("manifest sha256:"), "{err}");
    assert!(
        err.contains("converted: layer 1 sha256:def3a641064f"),
        "{err}"
    );
    assert!(err.contains("3 blobs copied, 0 skipped"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no escape codes without a terminal: {err:?}"
    );
}

#[test]
fn a_second_copy_reports_skipped_blobs() {
    let tmp = tempdir();
    let dst = format!("oci:{}", p(&tmp.path().join("l")));
    let src = format!("oci:{}:latest", p(&testdata("oci-layout")));
    assert_success(&oci_copy([src.as_str(), &format!("{dst}:a")]));
    let out = oci_copy([src.as_str(), &format!("{dst}:b")]);
    assert_success(&out);
    let err = text(&out.stderr);
    assert_eq!(err.matches("Skipped blob").count(), 2, "{err}");
    // The config too: nothing was copied.
    assert!(err.contains("0 blobs copied, 3 skipped"), "{err}");
}

#[test]
fn quiet_prints_nothing_and_inspect_prints_only_json() {
    let tmp = tempdir();
    let src = format!("oci:{}:latest", p(&testdata("oci-layout")));
    let out = oci_copy([
        "--quiet",
        src.as_str(),
        &format!("oci:{}:q", p(&tmp.path().join("l"))),
    ]);
    assert_success(&out);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out.stderr)
    );
    // Not even the warning about dropped annotations (OCI → v2s2).
    let archive = format!("docker-archive:{}:lab/q:1", p(&tmp.path().join("q.tar")));
    let out = oci_copy(["--quiet", src.as_str(), &archive]);
    assert_success(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let out = oci_copy([src.as_str(), &archive]);
    assert!(text(&out.stderr).contains("dropping org.opencontainers.image.created"));
    let out = oci_copy(["inspect", src.as_str()]);
    assert_success(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON only");
    assert_eq!(v["Architecture"], "amd64");
}

#[test]
fn docker_archive_streams_to_stdout() {
    let tmp = tempdir();
    let file = tmp.path().join("piped.tar");
    let src = format!("oci:{}:latest", p(&testdata("oci-layout")));
    // Through a pipe, as in `oci-copy ... docker-archive:/dev/stdout | docker load`.
    let mut child = Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args(["-q", src.as_str(), "docker-archive:/dev/stdout:lab/piped:1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut bytes).unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::write(&file, &bytes).unwrap();
    let report = check_docker_archive(&file);
    assert_eq!(report.only().repo_tags, vec!["lab/piped:1".to_string()]);
    loads_archive(&file, &report.only().config_digest);
    // Redirected to a regular file (`> out.tar`): written through, /dev/stdout untouched.
    let redirected = tmp.path().join("redirected.tar");
    let status = Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args(["-q", src.as_str(), "docker-archive:/dev/stdout:lab/piped:1"])
        .stdout(std::fs::File::create(&redirected).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(&redirected).unwrap(),
        bytes,
        "the same archive either way"
    );
}

#[test]
fn under_a_terminal_bars_are_drawn_and_the_summary_printed() {
    let tmp = tempdir();
    let src = format!("docker-archive:{}", p(&testdata("docker-legacy.tar")));
    let dst = format!("oci:{}:tty", p(&tmp.path().join("l")));
    let cmd = format!("{} {src} {dst}", env!("CARGO_BIN_EXE_oci-copy"));
    // util-linux `script` runs the command under a pseudo-terminal.
    let out = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("`script` (util-linux, Debian's bsdutils) runs the command under a pty");
    let all = text(&out.stdout);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("Copied blob sha256:"), "{all}");
    assert!(all.contains("3 blobs copied"), "{all}");
    assert!(
        all.contains('\u{1b}'),
        "a terminal gets escape codes for the bars: {all:?}"
    );
}

#[test]
fn completions_are_generated_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef oci-copy"),
        ("fish", "complete -c oci-copy"),
    ] {
        let out = oci_copy(["completions", shell]);
        assert_success(&out);
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("inspect"), "{shell} completes subcommands");
        assert!(
            script.contains("preserve-digests"),
            "{shell} completes options"
        );
    }
}

#[test]
fn debug_shows_the_decisions() {
    let tmp = tempdir();
    let src = format!("docker-archive:{}", p(&testdata("docker-legacy.tar")));
    let dst = format!("oci:{}:dbg", p(&tmp.path().join("l")));
    let out = oci_copy(["--debug", src.as_str(), &dst]);
    assert_success(&out);
    let err = text(&out.stderr);
    assert!(err.contains("converting v2s2 to oci"), "{err}");
    assert!(err.contains("compressing layer 1 with gzip"), "{err}");
    assert!(out.stdout.is_empty());
    let again = oci_copy(["--debug", src.as_str(), &dst]);
    let err = text(&again.stderr);
    assert!(err.contains("skipped"), "{err}");
    // RUST_LOG works as --debug does; without either, no DEBUG lines.
    let quiet_log = oci_copy([src.as_str(), &dst]);
    assert!(!text(&quiet_log.stderr).contains("DEBUG"));
    let via_env = std::process::Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args([src.as_str(), &dst])
        .env("RUST_LOG", "oci_copy=debug")
        .output()
        .unwrap();
    assert!(
        text(&via_env.stderr).contains("DEBUG"),
        "{}",
        text(&via_env.stderr)
    );
}

/// A reader that closes stdout early (`oci-copy inspect … | head -c1`) is no failure of
/// oci-copy: exit 0, nothing on stderr. (It exited 75, "temporary, retry".)
#[test]
fn a_closed_stdout_pipe_exits_0_quietly() {
    for args in [
        vec![
            "inspect".to_string(),
            crate::support::fixtures::Fixture::OciLayout.reference(),
        ],
        vec![
            "verify".to_string(),
            crate::support::fixtures::Fixture::OciLayout.reference(),
        ],
        vec!["completions".to_string(), "bash".to_string()],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oci-copy"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oci-copy");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for oci-copy");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    }
}
