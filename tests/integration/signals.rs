//! Interrupted copies. SIGTERM and SIGINT must remove every temporary oci-copy made (staged
//! blobs, staging directories, archive temporaries, the gzip spool) and exit 143 / 130,
//! leaving the destination byte for byte as it was. SIGKILL cannot be caught: a copy
//! killed at any moment must still leave every existing tag valid, and running it again
//! must complete the copy. The large source images are generated here, never committed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest as _;

use crate::support::check::check_oci_layout;
use crate::support::fixtures::host_architecture;
use crate::support::layout::{assert_no_stray_files, descriptor, walk_files};
use crate::support::mutate::layout_copy;
use crate::support::{assert_success, describe, oci_copy, p, tempdir};

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Writes an OCI layout at `dir` holding one image tagged `tag`, with one uncompressed
/// layer of pseudo-random (incompressible) data per entry of `layer_sizes`.
pub fn generated_layout(dir: &Path, tag: &str, layer_sizes: &[usize], seed: u64) {
    let layers: Vec<Vec<u8>> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| random_tar(&format!("data-{i}.bin"), size, seed + i as u64))
        .collect();
    layout_with_layers(dir, tag, &layers);
}

/// Writes an OCI layout at `dir` holding one image tagged `tag` whose uncompressed layers
/// are the tars `tars`.
pub fn layout_with_layers(dir: &Path, tag: &str, tars: &[Vec<u8>]) {
    crate::support::layout::empty_layout(dir);
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in tars {
        let d = store(dir, layer);
        diff_ids.push(d.clone());
        layers.push(serde_json::json!({"mediaType": OCI_LAYER, "digest": d, "size": layer.len()}));
    }
    let config = serde_json::json!({
        "architecture": host_architecture(), "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": store(dir, config.as_bytes()), "size": config.len()},
        "layers": layers,
    })
    .to_string();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": store(dir, manifest.as_bytes()), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).expect("write index.json");
}

fn store(dir: &Path, bytes: &[u8]) -> String {
    let hex = hex::encode(sha2::Sha256::digest(bytes));
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).expect("write blob");
    format!("sha256:{hex}")
}

/// A tar holding one file of `size` pseudo-random bytes (xorshift64*).
fn random_tar(name: &str, size: usize, seed: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(size + 8);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while data.len() < size {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        data.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    data.truncate(size);
    let mut h = tar::Header::new_ustar();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    let mut b = tar::Builder::new(Vec::with_capacity(size + 2048));
    b.append_data(&mut h, name, data.as_slice())
        .expect("append to an in-memory tar");
    b.into_inner().expect("finish an in-memory tar")
}

/// Starts a copy in the background; `tmpdir` becomes its TMPDIR, so that temporaries made
/// in the system's temporary directory can be found.
fn spawn_copy(src: &str, dst: &str, tmpdir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args([src, dst])
        .env("TMPDIR", tmpdir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oci-copy")
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// Waits until some file under `dir` whose name starts with `prefix` holds data: the copy
/// is then under way. Panics after 60 s.
fn wait_for_temp(dir: &Path, prefix: &str, child: &mut Child) {
    let start = Instant::now();
    loop {
        if find_named(dir, prefix)
            .iter()
            .any(|f| f.is_file() && f.metadata().map(|m| m.len() > 0).unwrap_or(false))
        {
            return;
        }
        if let Some(status) = child.try_wait().expect("poll child") {
            panic!("the copy ended ({status}) before a temporary {prefix}* appeared");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {prefix}* after 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every path under `dir` (files and directories) whose name starts with `prefix`.
pub fn find_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let path = e.path();
        if e.file_name().to_string_lossy().starts_with(prefix) {
            out.push(path.clone());
        }
        if path.is_dir() && !path.is_symlink() {
            out.extend(find_named(&path, prefix));
        }
    }
    out
}

/// Every temporary oci-copy names: staged blobs, index/oci-layout temporaries, staging
/// directories, archive temporaries, the gzip spool.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut t = find_named(dir, ".oci-copy-");
    t.extend(find_named(dir, "oci-copy-stage-"));
    t.extend(find_named(dir, ".index.json.tmp-"));
    t.extend(find_named(dir, ".oci-layout.tmp-"));
    t
}

/// A snapshot of a directory: every file with its bytes' digest.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut v: Vec<(PathBuf, String)> = walk_files(dir)
        .into_iter()
        .map(|f| {
            let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&f).expect("read")));
            (f, digest)
        })
        .collect();
    v.sort();
    v
}

/// Tars the layout at `dir` into a gzip-compressed oci-archive at `file`.
pub fn gzip_archive(dir: &Path, file: &Path) {
    let out = std::fs::File::create(file).expect("create archive");
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for f in walk_files(dir) {
        let name = f.strip_prefix(dir).expect("under dir");
        b.append_path_with_name(&f, name)
            .expect("append to archive");
    }
    b.into_inner()
        .expect("finish tar")
        .finish()
        .expect("finish gzip");
}

/// Starts a copy of a 96 MiB generated image (as a layout, or as a gzipped oci-archive,
/// which is spooled into TMPDIR), sends `signal` once a blob is being written, and checks
/// that no temporary is left and that nothing that was there changed.
fn interrupted(
    signal: &str,
    code: i32,
    gzipped: bool,
    dst_of: impl FnOnce(&Path) -> (String, PathBuf),
) {
    let tmp = tempdir();
    let layout = tmp.path().join("src");
    generated_layout(&layout, "big", &[96 << 20], 7);
    let src = match gzipped {
        false => format!("oci:{}:big", p(&layout)),
        true => {
            let file = tmp.path().join("src.tar.gz");
            gzip_archive(&layout, &file);
            format!("oci-archive:{}:big", p(&file))
        }
    };
    let sys_tmp = tmp.path().join("sys-tmp");
    std::fs::create_dir(&sys_tmp).expect("create TMPDIR");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).expect("create out");
    let (dst, watch) = dst_of(&out);
    let before = snapshot(&out);
    let mut child = spawn_copy(&src, &dst, &sys_tmp);
    // A staged blob in a layout, the streamed archive file beside an archive.
    wait_for_temp(&watch, ".oci-copy-", &mut child);
    send(&child, signal);
    let result = child.wait_with_output().expect("wait for oci-copy");
    assert_eq!(result.status.code(), Some(code), "{}", describe(&result));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains(&format!("interrupted by SIG{signal}")),
        "{}",
        describe(&result)
    );
    assert!(!stderr.contains("panicked"), "{}", describe(&result));
    let left: Vec<PathBuf> = [temporaries(&out), temporaries(&sys_tmp)].concat();
    assert!(left.is_empty(), "{signal} left temporaries: {left:?}");
    // Every file that was there is unchanged (index.json included); the only new files
    // allowed are verified blobs that nothing references yet (the config goes first).
    let after = snapshot(&out);
    for file in &before {
        assert!(
            after.contains(file),
            "{signal} changed {}",
            file.0.display()
        );
    }
    if watch != out {
        assert_no_stray_files(&watch);
    } else {
        assert!(after.is_empty(), "{signal} left {after:?}");
    }
}

#[test]
fn sigterm_into_an_existing_layout_removes_temporaries_and_leaves_it_unchanged() {
    interrupted("TERM", 143, false, |out| {
        let dest = layout_copy("oci-layout", out);
        (format!("oci:{}:big", p(&dest)), dest)
    });
}

#[test]
fn sigint_from_a_gzip_archive_into_a_new_archive_removes_spool_and_staging() {
    interrupted("INT", 130, true, |out| {
        let file = out.join("new.tar");
        (format!("oci-archive:{}:big", p(&file)), out.to_path_buf())
    });
}

/// Kills a copy into a layout that holds other tags at many moments; after each kill every
/// tag must be valid and unchanged, and a final run must complete the copy.
#[test]
fn sigkill_at_any_moment_leaves_existing_tags_valid_and_a_rerun_completes() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    generated_layout(&src, "big", &[6 << 20, 6 << 20, 6 << 20], 11);
    let dest = layout_copy("oci-layout", tmp.path());
    let latest = descriptor(&dest, "latest");
    let src_ref = format!("oci:{}:big", p(&src));
    let dst_ref = format!("oci:{}:big", p(&dest));
    for delay_ms in [0, 5, 20, 50, 100, 200, 400, 700, 1000, 1500] {
        let mut child = spawn_copy(&src_ref, &dst_ref, tmp.path());
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL; the copy may have finished already
        let _ = child.wait();
        let report = check_oci_layout(&dest);
        assert_eq!(
            descriptor(&dest, "latest"),
            latest,
            "the existing tag moved after a kill at {delay_ms} ms"
        );
        assert!(report.tags.contains(&"latest".to_string()));
    }
    assert_success(&oci_copy([&src_ref, &dst_ref]));
    let report = check_oci_layout(&dest);
    report.tagged("big");
    assert_eq!(descriptor(&dest, "latest"), latest);
    let image = &report.tagged("big").images[0];
    let want = check_oci_layout(&src);
    assert_eq!(image.config_digest, want.config_digest, "image ID");
    assert_eq!(image.diff_ids, want.diff_ids);
}

/// The same into a layout that does not exist yet: after a kill there is either no layout
/// or a valid one, and a re-run completes.
#[test]
fn sigkill_while_creating_a_layout_leaves_none_or_a_valid_one() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    generated_layout(&src, "big", &[4 << 20, 4 << 20], 13);
    let src_ref = format!("oci:{}:big", p(&src));
    for delay_ms in [0, 10, 50, 150, 400, 800] {
        let dest = tmp.path().join(format!("new-{delay_ms}"));
        let dst_ref = format!("oci:{}:big", p(&dest));
        let mut child = spawn_copy(&src_ref, &dst_ref, tmp.path());
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        if dest.exists() {
            check_oci_layout(&dest).tagged("big");
        }
        assert_success(&oci_copy([&src_ref, &dst_ref]));
        check_oci_layout(&dest).tagged("big");
    }
}
