//! Images and archives as other tools make them (`testdata/world/`, made by
//! `make-world.py`, issue 13): BuildKit attestation indexes, artifacts in an index,
//! instances without a platform, docker 1.10-era configs, `./`-prefixed tars and archives
//! compressed with gzip, zstd, xz or bzip2.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::check::check_oci_layout;
use crate::support::judges::skopeo;
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir, testdata};

fn world(name: &str) -> PathBuf {
    testdata(&format!("world/{name}"))
}

fn expected() -> Value {
    let raw = std::fs::read(world("expected.json")).expect("testdata/world/expected.json");
    serde_json::from_slice(&raw).expect("expected.json is JSON")
}

/// Copies `src` into a new layout under `dir` and returns the config digest the checker
/// found there.
fn copied_config(src: &str, dir: &Path) -> String {
    let out = dir.join("out");
    assert_success(&oci_copy(["-q", src, &format!("oci:{}:t", p(&out))]));
    check_oci_layout(&out).config_digest
}

#[test]
fn archives_are_read_whatever_their_compression_and_dot_slash_names() {
    let tmp = tempdir();
    let plain = world("dot-slash-docker.tar");
    let zst = tmp.path().join("docker.tar.zst");
    let bytes = std::fs::read(&plain).expect("read the archive");
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).expect("zstd")).expect("write");
    let gz = tmp.path().join("docker.tar.gz");
    std::fs::write(&gz, gzip(&bytes)).expect("write");
    // Named for no compression at all: the magic bytes decide.
    let misnamed = tmp.path().join("really-xz.tar");
    std::fs::copy(world("docker.tar.xz"), &misnamed).expect("copy");
    let want = expected()["dot-slash-docker.tar"]["config"]
        .as_str()
        .expect("config digest")
        .to_string();
    // skopeo 1.9.3 reads plain, zstd, xz and bzip2 archives but stops with "unexpected
    // EOF" on gzip ones (its own docker-legacy.tar.gz too): it judges the others.
    for (file, judge) in [
        (plain, true),
        (world("docker.tar.xz"), true),
        (world("docker.tar.bz2"), true),
        (zst, true),
        (misnamed, true),
        (gz, false),
    ] {
        let dir = tempdir();
        let src = format!("docker-archive:{}", p(&file));
        assert_eq!(copied_config(&src, dir.path()), want, "{src}");
        if judge {
            let judged = skopeo(&["inspect", "--config", &src]);
            assert!(judged.status.success(), "skopeo cannot read {src}");
        }
    }
    let dir = tempdir();
    let src = format!("oci-archive:{}:v1", p(&world("dot-slash-oci.tar")));
    copied_config(&src, dir.path());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

#[test]
fn a_bare_layer_and_binary_junk_are_named_for_what_they_are() {
    let tmp = tempdir();
    let dest = format!("oci:{}:t", p(&tmp.path().join("out")));
    let layer = format!("docker-archive:{}", p(&world("bare-layer.tar")));
    assert_failure(&oci_copy([&layer, &dest]), 1, &["manifest.json is missing"]);
    let junk = format!("docker-archive:{}", p(&world("junk.bin")));
    let line = assert_failure(&oci_copy([&junk, &dest]), 1, &["not a tar archive"]);
    assert!(
        !line.contains("cksum") && !line.contains("numeric field"),
        "a tar-header parse message leaked: {line}"
    );
    let junk = format!("oci-archive:{}", p(&world("junk.bin")));
    assert_failure(&oci_copy([&junk, &dest]), 1, &["not a tar archive"]);
    assert!(
        !tmp.path().join("out").exists(),
        "{}",
        describe(&oci_copy(["inspect", &dest]))
    );
}

/// A docker 1.10-era v2s2 manifest whose config is typed `application/octet-stream`: read
/// as the image config its JSON is, inspected and converted like any other image, with the
/// config bytes (the image ID) unchanged.
#[test]
fn an_octet_stream_config_of_an_old_docker_push_is_an_image_config() {
    let src = format!("oci:{}:v1", p(&world("octet-config")));
    let out = oci_copy(["inspect", &src]);
    assert_success(&out);
    let summary: Value = serde_json::from_slice(&out.stdout).expect("inspect prints JSON");
    assert_eq!(summary["Architecture"], "amd64", "{summary}");
    assert_eq!(summary["Os"], "linux");
    assert_eq!(summary["Created"], "2016-03-01T10:00:00.000000000Z");
    assert_eq!(summary["DockerVersion"], "1.10.3");

    let tmp = tempdir();
    let dest = tmp.path().join("oci");
    assert_success(&oci_copy([
        "-q",
        "--format",
        "oci",
        &src,
        &format!("oci:{}:t", p(&dest)),
    ]));
    let facts = check_oci_layout(&dest);
    let want = expected()["octet-config"]["config"].clone();
    assert_eq!(facts.config_digest, want.as_str().expect("config digest"));
    let image = facts.images().next().expect("one image").clone();
    assert_eq!(
        image.config_media_type,
        "application/vnd.oci.image.config.v1+json"
    );
    assert_success(&oci_copy(["verify", &src]));
    crate::support::judges::umoci_unpacks(&dest, "t", "etc/hello");
}
