//! Leftovers of copies killed with SIGKILL: the archive temporary beside an archive, the
//! staging directory of a new layout or of an archive pulled from a registry, the gzip
//! spool in TMPDIR. Each is made by a real `kill -9` of a real copy, aged past the one-hour
//! threshold, and must be gone after the next copy to the same place; leftovers younger
//! than the threshold and names that are not oci-copy's stay. A live copy's temporaries
//! survive another copy's sweep however old they look, and that copy then completes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::signals::{find_named, generated_layout, gzip_archive};
use crate::support::check::{check_oci_archive, check_oci_layout};
use crate::support::fixtures::Fixture;
use crate::support::judges::skopeo_reads;
use crate::support::registry::Registry;
use crate::support::{assert_success, describe, oci_copy, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";

/// A running copy; killed (even when stopped) if the test ends before it does.
struct Copy(Option<Child>);

impl Copy {
    /// Starts `oci-copy ARGS` with `tmpdir` as its TMPDIR.
    fn start(args: &[&str], tmpdir: &Path) -> Copy {
        let child = Command::new(env!("CARGO_BIN_EXE_oci-copy"))
            .args(args)
            .env("TMPDIR", tmpdir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn oci-copy");
        Copy(Some(child))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the copy is running")
    }

    fn signal(&mut self, signal: &str) {
        let pid = self.child().id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Waits until a file named `prefix*` that was not there before the copy started
    /// appears under `watch` and holds data: the copy is then under way.
    fn wait_for_new(&mut self, watch: &Path, prefix: &str, before: &[PathBuf]) {
        let start = Instant::now();
        while !find_named(watch, prefix)
            .iter()
            .any(|f| !before.contains(f) && f.is_file() && f.metadata().is_ok_and(|m| m.len() > 0))
        {
            if let Some(status) = self.child().try_wait().expect("poll child") {
                panic!("the copy ended ({status}) before a temporary {prefix}* appeared");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no {prefix}* after 60 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts it, waits until it writes a new temporary `prefix*` under `watch`, kills it.
    fn killed_midway(args: &[&str], tmpdir: &Path, watch: &Path, prefix: &str) {
        let before = find_named(watch, prefix);
        let mut copy = Copy::start(args, tmpdir);
        copy.wait_for_new(watch, prefix, &before);
        copy.signal("KILL");
        let status = copy.0.take().expect("running").wait().expect("wait");
        assert_eq!(status.code(), None, "the copy ended before it was killed");
    }

    fn wait(mut self) -> std::process::Output {
        let child = self.0.take().expect("the copy is running");
        child.wait_with_output().expect("wait for oci-copy")
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sets the modification time of `path` and everything under it two hours back.
fn age(path: &Path) {
    if path.is_dir() && !path.is_symlink() {
        for e in std::fs::read_dir(path).expect("read dir") {
            age(&e.expect("dir entry").path());
        }
    }
    let then = SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(then))
        .unwrap_or_else(|e| panic!("ageing {}: {e}", path.display()));
}

/// The entries of `dir` (not below) named like oci-copy's temporaries.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|path| {
            let name = path.file_name().expect("a name").to_string_lossy();
            name.starts_with(".oci-copy-") || name.starts_with("oci-copy-stage-")
        })
        .collect();
    v.sort();
    v
}

/// Entries whose names look like oci-copy's but are not: they must never be removed.
fn decoys(dir: &Path) -> Vec<PathBuf> {
    let names = [
        ".oci-copy-notes",
        ".oci-copy-backup.tmp.old",
        ".oci-copy-layout-mine",
        "oci-copy-abcdef.tmp",
    ];
    let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    for path in &paths {
        std::fs::write(path, b"keep me").expect("write decoy");
        age(path);
    }
    let dir_named_like_a_file = dir.join(".oci-copy-abcdef.tmp");
    std::fs::create_dir(&dir_named_like_a_file).expect("create decoy dir");
    age(&dir_named_like_a_file);
    [paths, vec![dir_named_like_a_file]].concat()
}

/// A generated 96 MiB image at `tmp/src`, as `oci:` reference.
fn big_source(tmp: &Path, seed: u64) -> String {
    let src = tmp.join("src");
    generated_layout(&src, "big", &[96 << 20], seed);
    format!("oci:{}:big", p(&src))
}

/// Kills one copy to `dst`, ages what it left, kills a second one; the next copy to `dst`
/// must remove the first leftover and keep the second (too young) and the decoys.
fn swept_after_kills(src: &[&str], dst: &str, out: &Path, watch_prefix: &str) -> PathBuf {
    let keep = decoys(out);
    let sys_tmp = out.join("sys-tmp");
    std::fs::create_dir_all(&sys_tmp).expect("create TMPDIR");
    let args = [src, &[dst]].concat();
    Copy::killed_midway(&args, &sys_tmp, out, watch_prefix);
    let old: Vec<PathBuf> = leftovers(out)
        .into_iter()
        .filter(|l| !keep.contains(l))
        .collect();
    assert_eq!(old.len(), 1, "one leftover after the kill: {old:?}");
    age(&old[0]);
    Copy::killed_midway(&args, &sys_tmp, out, watch_prefix);
    let young: Vec<PathBuf> = leftovers(out)
        .into_iter()
        .filter(|l| !keep.contains(l) && !old.contains(l))
        .collect();
    assert_eq!(young.len(), 1, "one more leftover: {young:?}");
    assert_success(&oci_copy(&args));
    assert!(
        !old[0].exists(),
        "the old leftover {:?} is still there",
        old[0]
    );
    assert!(
        young[0].exists(),
        "the young leftover {:?} was removed",
        young[0]
    );
    for decoy in &keep {
        assert!(
            decoy.exists(),
            "{decoy:?} is not oci-copy's, but was removed"
        );
    }
    old[0].clone()
}

#[test]
fn an_archive_temporary_left_by_sigkill_is_swept_by_the_next_copy() {
    let tmp = tempdir();
    let src = big_source(tmp.path(), 21);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).expect("create out");
    let file = out.join("a.tar");
    let dst = format!("oci-archive:{}:big", p(&file));
    let gone = swept_after_kills(&[&src], &dst, &out, ".oci-copy-");
    assert!(gone.to_string_lossy().ends_with(".tmp"), "{gone:?}");
    check_oci_archive(&file).tagged("big");
    skopeo_reads(&dst);
}

#[test]
fn a_new_layouts_staging_directory_left_by_sigkill_is_swept_by_the_next_copy() {
    let tmp = tempdir();
    let src = big_source(tmp.path(), 22);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).expect("create out");
    let layout = out.join("new");
    let dst = format!("oci:{}:big", p(&layout));
    let gone = swept_after_kills(&[&src], &dst, &out, ".oci-copy-blob-");
    assert!(
        gone.to_string_lossy().contains(".oci-copy-layout-"),
        "{gone:?}"
    );
    check_oci_layout(&layout).tagged("big");
}

#[test]
fn an_archive_staging_directory_left_by_sigkill_during_a_pull_is_swept_by_the_next_copy() {
    let reg = Registry::start();
    let tmp = tempdir();
    let url = reg.url("lab/big:1");
    assert_success(&oci_copy([NO_TLS, &big_source(tmp.path(), 23), &url]));
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).expect("create out");
    let file = out.join("pulled.tar");
    let dst = format!("oci-archive:{}:big", p(&file));
    let gone = swept_after_kills(&[NO_TLS, &url], &dst, &out, ".oci-copy-blob-");
    assert!(
        gone.to_string_lossy().contains(".oci-copy-stage-"),
        "{gone:?}"
    );
    check_oci_archive(&file).tagged("big");
}

#[test]
fn a_gzip_spool_left_in_tmpdir_by_sigkill_is_swept_by_the_next_gzip_read() {
    let tmp = tempdir();
    let layout = tmp.path().join("src");
    generated_layout(&layout, "big", &[96 << 20], 24);
    let archive = tmp.path().join("src.tar.gz");
    gzip_archive(&layout, &archive);
    let src = format!("oci-archive:{}:big", p(&archive));
    let sys_tmp = tmp.path().join("sys-tmp");
    std::fs::create_dir(&sys_tmp).expect("create TMPDIR");
    let dst = format!("oci:{}:big", p(&tmp.path().join("out")));
    Copy::killed_midway(&[&src, &dst], &sys_tmp, &sys_tmp, ".oci-copy-archive-");
    let spools = leftovers(&sys_tmp);
    assert_eq!(spools.len(), 1, "the kill left the spool: {spools:?}");
    age(&spools[0]);
    let out = Copy::start(&[&src, &dst], &sys_tmp).wait();
    assert_success(&out);
    assert_eq!(
        leftovers(&sys_tmp),
        Vec::<PathBuf>::new(),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_live_copys_temporaries_survive_another_copys_sweep_however_old() {
    let tmp = tempdir();
    let src = big_source(tmp.path(), 25);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).expect("create out");
    let layout = out.join("a");
    let archive = out.join("b.tar");
    let mut live = Vec::new();
    for (dst, prefix) in [
        (format!("oci:{}:big", p(&layout)), ".oci-copy-blob-"),
        (format!("oci-archive:{}:big", p(&archive)), ".oci-copy-"),
    ] {
        let before = find_named(&out, prefix);
        let mut copy = Copy::start(&[&src, &dst], tmp.path());
        copy.wait_for_new(&out, prefix, &before);
        copy.signal("STOP");
        live.push(copy);
    }
    let held = leftovers(&out);
    assert_eq!(
        held.len(),
        2,
        "a staging directory and an archive: {held:?}"
    );
    held.iter().for_each(|t| age(t));
    // Another copy into a new layout and into an archive beside them sweeps `out` twice.
    for dst in [
        format!("oci:{}:c", p(&out.join("c"))),
        format!("oci-archive:{}:d", p(&out.join("d.tar"))),
    ] {
        assert_success(&oci_copy([&Fixture::OciLayout.reference(), &dst]));
    }
    assert_eq!(
        leftovers(&out),
        held,
        "a live copy's temporaries were removed"
    );
    for mut copy in live {
        copy.signal("CONT");
        assert_success(&copy.wait());
    }
    check_oci_layout(&layout).tagged("big");
    check_oci_archive(&archive).tagged("big");
    assert_eq!(leftovers(&out), Vec::<PathBuf>::new());
}

#[test]
fn an_archive_written_to_stdout_is_staged_in_tmpdir_where_the_sweep_looks() {
    let tmp = tempdir();
    let src = big_source(tmp.path(), 26);
    let sys_tmp = tmp.path().join("sys-tmp");
    std::fs::create_dir(&sys_tmp).expect("create TMPDIR");
    let mut copy = Copy::start(&[&src, "oci-archive:/dev/stdout:big"], &sys_tmp);
    // Not in /dev, which is a small tmpfs in RAM, writable by root, and never swept.
    copy.wait_for_new(&sys_tmp, ".oci-copy-blob-", &[]);
    let stages = leftovers(&sys_tmp);
    assert_eq!(stages.len(), 1, "{stages:?}");
    assert!(stages[0].to_string_lossy().contains("oci-copy-stage-"));
    let out = copy.wait();
    assert_success(&out);
    let file = tmp.path().join("piped.tar");
    std::fs::write(&file, &out.stdout).expect("write the piped archive");
    check_oci_archive(&file).tagged("big");
    assert_eq!(leftovers(&sys_tmp), Vec::<PathBuf>::new());
}
