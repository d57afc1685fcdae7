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

fn digest_of(reference: &str) -> String {
    let out = oci_copy(["inspect", "--tls-verify=false", "--raw", reference]);
    assert_success(&out);
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&out.stdout))
    )
}

fn buildkit() -> (String, Value) {
    let e = expected()["buildkit-index"].clone();
    (format!("oci:{}:v1", p(&world("buildkit-index"))), e)
}

/// `docker buildx --provenance` output, copied whole with `--all` through every transport
/// that stores an index and between registries: the digest is kept at every step, and
/// skopeo copies the result keeping it too.
#[test]
fn a_buildkit_index_with_attestations_copies_whole_everywhere() {
    let (src, e) = buildkit();
    let want = e["digest"].as_str().expect("digest").to_string();
    let tmp = tempdir();
    let reg = crate::support::registry::Registry::start();
    let hops = [
        format!("oci:{}:a", p(&tmp.path().join("layout"))),
        format!("oci-archive:{}:a", p(&tmp.path().join("archive.tar"))),
        reg.url("lab/buildx:1"),
        reg.url("other/buildx:1"),
        format!("oci:{}:b", p(&tmp.path().join("back"))),
    ];
    let mut from = src;
    for to in &hops {
        let out = oci_copy(["-q", "--all", "--tls-verify=false", &from, to]);
        assert_success(&out);
        assert_eq!(digest_of(to), want, "{from} → {to}");
        from = to.clone();
    }
    // The checker reads the pushed index from the registry itself, by HTTP.
    for repo in ["lab/buildx", "other/buildx"] {
        let pushed = crate::support::check::check_registry_image(&reg.host, repo, "1");
        assert_eq!(pushed.tagged("1").digest, want, "{repo}");
    }
    let back = check_oci_layout(&tmp.path().join("back"));
    assert_eq!(back.tagged("b").digest, want);
    assert_success(&oci_copy(["verify", "--all", &hops[4]]));
    let judged = tmp.path().join("skopeo");
    let out = skopeo(&[
        "--insecure-policy",
        "copy",
        "--all",
        "--src-tls-verify=false",
        &hops[3],
        &format!("oci:{}:s", p(&judged)),
    ]);
    assert!(
        out.status.success(),
        "skopeo copy --all\n{}",
        describe(&out)
    );
    assert_eq!(check_oci_layout(&judged).tagged("s").digest, want);
}

/// One platform, chosen by default or by `--platform`, is an image and never an
/// attestation; several platforms make an index that keeps their own attestations and
/// drops those of the platforms left out.
#[test]
fn platform_choice_skips_attestations_and_keeps_only_those_of_kept_platforms() {
    let (src, e) = buildkit();
    let images: Vec<String> = e["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|v| v.as_str().expect("digest").to_string())
        .collect();
    let attestations = e["attestations"].as_array().expect("attestations").clone();
    let tmp = tempdir();
    for (i, arch) in ["amd64", "arm64"].iter().enumerate() {
        let dest = format!("oci:{}:t", p(&tmp.path().join(arch)));
        let platform = format!("linux/{arch}");
        assert_success(&oci_copy(["-q", "--platform", &platform, &src, &dest]));
        assert_eq!(digest_of(&dest), images[i], "{platform}");
    }
    let arch = crate::support::fixtures::host_architecture();
    if let Some(i) = ["amd64", "arm64"].iter().position(|a| *a == arch) {
        let dest = format!("oci:{}:t", p(&tmp.path().join("default")));
        assert_success(&oci_copy(["-q", &src, &dest]));
        assert_eq!(digest_of(&dest), images[i], "this machine's platform");
    }
    // linux/arm64 and linux/arm64/v8 both name the arm64 image: an index of one image.
    let sub = tmp.path().join("subset");
    assert_success(&oci_copy([
        "-q",
        "--platform",
        "linux/arm64",
        "--platform",
        "linux/arm64/v8",
        &src,
        &format!("oci:{}:t", p(&sub)),
    ]));
    let index: Value = serde_json::from_slice(
        &oci_copy(["inspect", "--raw", &format!("oci:{}:t", p(&sub))]).stdout,
    )
    .expect("an index");
    let kept: Vec<&str> = index["manifests"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|m| m["digest"].as_str().expect("digest"))
        .collect();
    assert_eq!(
        kept,
        [images[1].as_str(), attestations[1].as_str().expect("d")]
    );
    check_oci_layout(&sub);

    let none = format!("oci:{}:t", p(&tmp.path().join("none")));
    assert_failure(
        &oci_copy(["--platform", "linux/s390x", &src, &none]),
        1,
        &["no image for linux/s390x", "linux/amd64, linux/arm64, unknown/unknown (attestation), unknown/unknown (attestation)"],
    );
}

/// What a destination cannot hold is refused before anything is written, naming the entry.
#[test]
fn an_attestation_index_into_one_image_or_a_manifest_list_is_refused_by_name() {
    let (src, _) = buildkit();
    let tmp = tempdir();
    let archive = tmp.path().join("x.tar");
    assert_failure(
        &oci_copy([
            "--all",
            &src,
            &format!("docker-archive:{}:lab/x:1", p(&archive)),
        ]),
        1,
        &[
            "holds one image",
            "unknown/unknown (attestation)",
            "use oci-archive",
        ],
    );
    assert!(!archive.exists());
    let reg = crate::support::registry::Registry::start();
    assert_failure(
        &oci_copy([
            "--all",
            "--format",
            "v2s2",
            "--tls-verify=false",
            &src,
            &reg.url("lab/x:1"),
        ]),
        1,
        &[
            "index entry 3 (an attestation manifest",
            "Docker manifest list cannot hold",
        ],
    );
    let out = oci_copy(["inspect", "--tls-verify=false", &reg.url("lab/x:1")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "nothing was tagged\n{}",
        describe(&out)
    );
}

/// An index of an image, a Helm chart and an `artifactType` manifest with the empty config:
/// copied whole with its digest, and the default choice is the image.
#[test]
fn an_index_of_artifacts_copies_whole_and_the_image_is_the_default_choice() {
    let e = expected();
    let src = format!("oci:{}:v1", p(&world("artifact-index")));
    let tmp = tempdir();
    let all = format!("oci:{}:t", p(&tmp.path().join("all")));
    assert_success(&oci_copy(["-q", "--all", &src, &all]));
    assert_eq!(
        digest_of(&all),
        e["artifact-index"]["digest"].as_str().expect("d")
    );
    assert_success(&oci_copy(["verify", "--all", &all]));
    // skopeo 1.9 reads it all back (it rewrites the index, so its copy has another digest).
    let judged = format!("oci:{}:s", p(&tmp.path().join("skopeo")));
    let out = skopeo(&["--insecure-policy", "copy", "--all", &all, &judged]);
    assert!(
        out.status.success(),
        "skopeo copy --all\n{}",
        describe(&out)
    );
    let one = format!("oci:{}:t", p(&tmp.path().join("one")));
    assert_success(&oci_copy(["-q", "--platform", "linux/amd64", &src, &one]));
    let facts = check_oci_layout(&tmp.path().join("one"));
    assert_eq!(
        facts.images().next().expect("an image").architecture,
        "amd64"
    );

    // An index whose one instance has no platform: that instance is the image.
    let src = format!("oci:{}:v1", p(&world("no-platform")));
    let dest = format!("oci:{}:t", p(&tmp.path().join("np")));
    assert_success(&oci_copy(["-q", "--platform", "linux/arm64", &src, &dest]));
    assert_eq!(
        digest_of(&dest),
        e["no-platform"]["image"].as_str().expect("d")
    );
}

/// For every field `skopeo inspect` prints, `oci-copy inspect` prints the same value
/// (`null` and `[]` alike), on images of every local transport. oci-copy prints more
/// (Name and Tag of an archive, LayersData, Variant); the one known difference is the
/// Digest of a docker-archive, whose manifest both tools synthesise: skopeo 1.9 labels
/// its uncompressed layers `.tar.gzip` (and compresses them when pushing), which oci-copy
/// does not, so the bytes differ.
#[test]
fn inspect_prints_what_skopeo_prints_field_by_field() {
    let refs = [
        format!("oci:{}:latest", p(&testdata("oci-layout"))),
        format!("oci-archive:{}:v1", p(&testdata("oci-archive.tar"))),
        format!("docker-archive:{}", p(&testdata("docker-legacy.tar"))),
        format!("docker-archive:{}", p(&testdata("docker25.tar"))),
        format!("docker-archive:{}", p(&world("dot-slash-docker.tar"))),
        format!("oci:{}:v1", p(&world("no-platform"))),
        format!("oci:{}:v1", p(&world("buildkit-index"))),
    ];
    for r in &refs {
        let ours = oci_copy(["inspect", r]);
        assert_success(&ours);
        let ours: Value = serde_json::from_slice(&ours.stdout).expect("JSON");
        let theirs = skopeo(&["inspect", r]);
        assert!(
            theirs.status.success(),
            "skopeo inspect {r}\n{}",
            describe(&theirs)
        );
        let theirs: Value = serde_json::from_slice(&theirs.stdout).expect("JSON");
        for (key, want) in theirs.as_object().expect("an object") {
            if key == "Digest" && r.starts_with("docker-archive:") {
                continue;
            }
            assert_eq!(ours.get(key), Some(want), "{r}: {key}");
        }
    }
}
