//! Shared harness for the integration tests: runs the built `oci-copy` binary, locates
//! fixtures under `testdata/`, makes temporary directories and asserts on exit status and
//! stderr. The invariant checker, the external judges and the layout helpers live in
//! submodules.

pub mod balancer;
pub mod busybox;
pub mod check;
pub mod docker;
pub mod fault_proxy;
pub mod fixtures;
pub mod http;
pub mod judges;
pub mod layout;
pub mod mutate;
pub mod peak;
pub mod push;
pub mod referrers;
pub mod referrers_api;
pub mod registry;
pub mod replicas;
pub mod token_server;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary under test with `args` and returns its output; never panics on failure.
pub fn oci_copy<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the test binary can always spawn the binary cargo built for it")
}

/// [`oci_copy`] with extra environment variables.
pub fn oci_copy_in_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args(args)
        .envs(envs.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .expect("the test binary can always spawn the binary cargo built for it")
}

/// Absolute path of `path` under the project's `testdata/` directory.
pub fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}

/// A fresh temporary directory, removed when the returned guard drops.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("oci-copy-test-")
        .tempdir()
        .expect("the system temp dir is writable")
}

/// Renders a path for use inside a transport reference (`oci:{}`).
pub fn p(path: &Path) -> String {
    path.to_str()
        .expect("temp and fixture paths are UTF-8")
        .to_string()
}

/// Human-readable dump of a process output, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that the process exited 0 and did not panic.
pub fn assert_success(out: &Output) {
    assert_no_panic(out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "expected success\n{}",
        describe(out)
    );
}

/// Progress lines that precede an error when stderr is not a terminal (see
/// `src/progress.rs`); everything else on stderr must be the one error line.
const PROGRESS_PREFIXES: &[&str] = &[
    "Copying blob ",
    "Copied blob ",
    "Skipped blob ",
    "Progress: ",
];

/// Asserts exit code `code`, a single stderr line (besides progress lines) starting with
/// `oci-copy: `, and that the line contains every needle (case-insensitive). Returns the
/// error line.
pub fn assert_failure(out: &Output, code: i32, needles: &[&str]) -> String {
    assert_no_panic(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "wrong exit code\n{}",
        describe(out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !PROGRESS_PREFIXES.iter().any(|p| l.starts_with(p)))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line\n{}", describe(out));
    let line = lines[0];
    assert!(
        line.starts_with("oci-copy: "),
        "error must start with `oci-copy: `\n{}",
        describe(out)
    );
    for needle in needles {
        assert!(
            line.to_lowercase().contains(&needle.to_lowercase()),
            "error line should mention {needle:?}\n{}",
            describe(out)
        );
    }
    line.to_string()
}

/// Asserts usage-error exit code 2 (clap formats these over several lines) without a panic.
pub fn assert_usage_error(out: &Output) {
    assert_no_panic(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected usage error\n{}",
        describe(out)
    );
}

fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "oci-copy panicked\n{}",
        describe(out)
    );
}

/// Recursively copies a directory tree (files and directories only).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("create copy target");
    for entry in std::fs::read_dir(src).expect("read fixture dir") {
        let entry = entry.expect("read fixture dir entry");
        let target = dst.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
