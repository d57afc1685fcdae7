//! Runs the binary and reports its peak resident memory (`VmHWM` of `/proc/PID/status`,
//! read every few milliseconds while it runs: `wait4`'s `ru_maxrss` would carry over the
//! test process's own size from before `exec`), for the tests that bound memory on
//! pathological input. A bound, with a wide margin, on a case that would otherwise take gigabytes: not a
//! timing or benchmark figure.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output, Stdio};

/// The output of `oci-copy args`, and its peak RSS in KiB.
// The child is reaped by `waitpid` below, polled between reads of its status.
#[allow(clippy::zombie_processes)]
pub fn oci_copy_peak(args: &[&str]) -> (Output, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the binary under test");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut peak = 0;
    loop {
        peak = peak.max(vm_hwm(pid).unwrap_or(0));
        // SAFETY: waitpid only writes to `status`, which outlives the call.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        assert_eq!(r, 0, "waitpid: {}", std::io::Error::last_os_error());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let output = Output {
        status: ExitStatus::from_raw(status),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, peak)
}

/// The peak RSS so far of a running process, in KiB.
fn vm_hwm(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
