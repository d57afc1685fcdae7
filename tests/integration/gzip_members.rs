//! The gzip layers oci-copy writes. By default a layer is a series of gzip members (one per
//! 1 MiB of input, by libdeflate, or by ISA-L's igzip in a build with the `isal` feature:
//! `cargo test --features isal --test integration gzip_members` judges that encoder);
//! `--single-member-gzip` writes one member (zlib). Either must be read in full by the Go
//! readers the ecosystem runs (skopeo's and umoci's) and by zlib (flate2), and the single
//! member also by a reader that stops after the first member.

use std::io::Read;

use sha2::Digest as _;
use std::path::Path;

use crate::support::check::check_oci_layout;
use crate::support::judges::{skopeo, umoci};
use crate::support::layout::{diff_ids, manifest, read_blob};
use crate::support::{assert_success, describe, oci_copy, p, tempdir};

const FILE: &str = "data/words.txt";

/// Compressible text, `size` bytes: numbered lines with a changing word.
fn text(size: usize) -> Vec<u8> {
    let words = [
        "layer", "member", "deflate", "registry", "digest", "manifest",
    ];
    let mut out = Vec::with_capacity(size + 64);
    let mut i = 0u64;
    while out.len() < size {
        out.extend_from_slice(
            format!("{i:08} {} {}\n", words[i as usize % 6], i * 7919).as_bytes(),
        );
        i += 1;
    }
    out.truncate(size);
    out
}

/// An OCI layout at `dir` (tag `t`) with one uncompressed layer holding FILE = `content`.
fn plain_layout(dir: &Path, content: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut h, FILE, content).unwrap();
    let layer = b.into_inner().unwrap();
    crate::signals::layout_with_layers(dir, "t", &[layer]);
}

/// The gzip members of `gz`, each decompressed alone.
fn members(gz: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = gz;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut d = flate2::bufread::GzDecoder::new(rest);
        let mut m = Vec::new();
        d.read_to_end(&mut m).expect("a complete gzip member");
        out.push(m);
        rest = d.into_inner();
    }
    out
}

/// `size` bytes that no deflate can shrink (xorshift32), as in jars and compressed files.
fn random(size: usize) -> Vec<u8> {
    let mut x = 0x2545_f491u32;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Compresses the generated layer with `extra` options; returns the layout and the layer.
fn compress(extra: &[&str]) -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    compress_content(text(5 << 20), extra)
}

/// Compresses a layer holding FILE = `content` with `extra` options.
fn compress_content(content: Vec<u8>, extra: &[&str]) -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    plain_layout(&src, &content);
    let mut args = vec![
        format!("oci:{}:t", p(&src)),
        format!("oci:{}:t", p(&dst)),
        "--dest-compress-format".into(),
        "gzip".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    assert_success(&oci_copy(&args));
    check_oci_layout(&dst);
    let m = manifest(&dst, "t");
    let layer = &m["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let gz = read_blob(&dst, layer["digest"].as_str().unwrap());
    (tmp, gz, content)
}

/// Go's gzip reader (in skopeo) decompresses the whole layer: the plain layer skopeo writes
/// into a docker-archive hashes to the diff_id; and umoci unpacks the file byte for byte.
fn go_reads_all(layout: &Path, content: &[u8]) {
    let out_dir = tempdir();
    let archive = out_dir.path().join("plain.tar");
    let copy = skopeo(&[
        "--insecure-policy",
        "copy",
        "--quiet",
        &format!("oci:{}:t", p(layout)),
        &format!("docker-archive:{}:x/y:z", p(&archive)),
    ]);
    assert!(
        copy.status.success(),
        "skopeo copy failed\n{}",
        describe(&copy)
    );
    let mut tar = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let mut layer_digests = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if entry.header().entry_type().is_file() && name.ends_with(".tar") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            layer_digests.push(format!(
                "sha256:{}",
                hex::encode(sha2::Sha256::digest(&bytes))
            ));
        }
    }
    assert_eq!(layer_digests, diff_ids(layout, "t"), "skopeo's plain layer");

    let bundle = out_dir.path().join("bundle");
    let image = format!("{}:t", p(layout));
    let unpack = umoci(&["unpack", "--rootless", "--image", &image, &p(&bundle)]);
    assert!(
        unpack.status.success(),
        "umoci unpack failed\n{}",
        describe(&unpack)
    );
    let unpacked = std::fs::read(bundle.join("rootfs").join(FILE)).unwrap();
    assert!(unpacked == content, "umoci unpacked different bytes");
}

#[test]
fn default_gzip_is_one_member_per_mebibyte_and_go_reads_every_one() {
    let (tmp, gz, content) = compress(&[]);
    let parts = members(&gz);
    // The tar is 5 MiB of text plus headers: six 1 MiB blocks, the last one short.
    assert_eq!(parts.len(), 6, "members");
    assert!(parts[..5].iter().all(|m| m.len() == 1 << 20));
    let tar = parts.concat();
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let mut file = Vec::new();
    entry.read_to_end(&mut file).unwrap();
    assert!(file == content, "the members together are not the layer");
    assert!(gz.len() < content.len() / 3, "{} bytes of gzip", gz.len());
    go_reads_all(&tmp.path().join("dst"), &content);
}

#[test]
fn incompressible_blocks_are_members_that_go_and_zlib_read() {
    // Random, then text, then random again: blocks that cannot shrink between ones that do.
    let mut content = random(2 << 20);
    content.extend(text(2 << 20));
    content.extend(random((1 << 20) + 12345));
    let (tmp, gz, content) = compress_content(content, &[]);
    let parts = members(&gz);
    assert_eq!(parts.len(), 6, "members");
    let mut all = Vec::new();
    flate2::read::MultiGzDecoder::new(gz.as_slice())
        .read_to_end(&mut all)
        .unwrap();
    assert!(all == parts.concat(), "zlib's multi-member reader");
    // The random 3 MiB grow by a few bytes per block at most; the text shrinks.
    assert!(gz.len() < (3 << 20) + (2 << 20) / 3, "{} bytes", gz.len());
    assert!(gz.len() > 3 << 20, "{} bytes", gz.len());
    go_reads_all(&tmp.path().join("dst"), &content);
}

#[test]
fn version_names_the_deflate_of_this_build() {
    let out = oci_copy(["--version"]);
    assert_success(&out);
    let want = if cfg!(feature = "isal") {
        "ISA-L igzip"
    } else {
        "libdeflate"
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("oci-copy {} (gzip: {want})\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn single_member_gzip_is_one_member_that_any_reader_reads_whole() {
    let (tmp, gz, content) = compress(&["--single-member-gzip"]);
    let parts = members(&gz);
    assert_eq!(parts.len(), 1, "members");
    let mut first = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut first)
        .unwrap();
    assert_eq!(first, parts[0]);
    assert!(first.len() > 5 << 20);
    go_reads_all(&tmp.path().join("dst"), &content);
}

#[test]
fn both_styles_give_the_same_layer_content_and_level_changes_the_size() {
    let (_a, multi, _) = compress(&[]);
    let (_b, single, _) = compress(&["--single-member-gzip"]);
    let (_c, multi9, _) = compress(&["--dest-compress-level", "9"]);
    assert_eq!(members(&multi).concat(), members(&single).concat());
    assert_eq!(members(&multi9).concat(), members(&multi).concat());
    assert!(
        multi9.len() < multi.len(),
        "{} vs {}",
        multi9.len(),
        multi.len()
    );
    assert_ne!(multi, single);
}
