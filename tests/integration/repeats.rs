//! Repeated layers and manifests are handled once per copy (issue 12, item 7): an image that
//! lists one layer several times is converted into an archive holding that blob once, with
//! the manifest still listing every occurrence; an index whose entries repeat a manifest
//! has it read and copied once, and keeps all its entries. The summary counts each blob
//! once and says how many repeats there were.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use sha2::Digest as _;

use crate::support::check::{
    check_docker_archive, check_oci_archive, check_oci_layout, extract_archive,
};
use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::judges::{skopeo, skopeo_reads, umoci_unpacks};
use crate::support::layout::{empty_layout, index, write_blob};
use crate::support::registry::Registry;
use crate::support::{assert_success, describe, oci_copy, p, tempdir};

const PLAIN: &str = "application/vnd.oci.image.layer.v1.tar";
const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A tar holding one file, `name`.
fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    b.append_data(&mut h, name, content).expect("tar entry");
    b.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// One layer as stored: its bytes, media type and the diff_id of its tar.
struct Layer {
    blob: Vec<u8>,
    media_type: &'static str,
    diff_id: String,
}

fn gzip_layer(name: &str) -> Layer {
    let tar = layer_tar(name, name.as_bytes());
    Layer {
        diff_id: sha256(&tar),
        blob: gzip(&tar),
        media_type: GZIP,
    }
}

fn plain_layer(name: &str) -> Layer {
    let tar = layer_tar(name, name.as_bytes());
    Layer {
        diff_id: sha256(&tar),
        blob: tar,
        media_type: PLAIN,
    }
}

/// Writes an image whose manifest lists `layers` in that order (repeats included) into the
/// layout `dir`; returns the manifest's descriptor, untagged.
fn write_image(dir: &Path, layers: &[&Layer]) -> Value {
    let config = json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let (config_digest, config_size) = write_blob(dir, &config);
    let descriptors: Vec<Value> = layers
        .iter()
        .map(|l| {
            let (digest, size) = write_blob(dir, &l.blob);
            json!({"mediaType": l.media_type, "digest": digest, "size": size})
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": descriptors,
    });
    let (digest, size) = write_blob(dir, &serde_json::to_vec(&manifest).unwrap());
    json!({"mediaType": MANIFEST, "digest": digest, "size": size})
}

fn write_index_json(dir: &Path, manifests: Vec<Value>) {
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A layout holding one image of `layers`, tagged `app`.
fn image_layout(dir: &Path, layers: &[&Layer]) {
    empty_layout(dir);
    let mut desc = write_image(dir, layers);
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": "app"});
    write_index_json(dir, vec![desc]);
}

/// How many times each entry name occurs in the tar `file`.
fn tar_entry_counts(file: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(file).expect("open archive"));
    for e in archive.entries().expect("tar entries") {
        let e = e.expect("tar entry");
        let name = e.path().unwrap().to_string_lossy().into_owned();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

fn blob_entry(digest: &str) -> String {
    format!("blobs/{}", digest.replace(':', "/"))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `docker load` takes the archive, and the image it loads has `layers` layers. The image
/// is removed again.
fn docker_loads(file: &Path, name: &str, layers: usize) {
    let run = |args: &[&str]| match Command::new("docker").args(args).output() {
        Ok(out) => out,
        Err(e) => {
            panic!("docker not found ({e}): install Docker Engine (apt-get install -y docker.io)")
        }
    };
    let load = run(&["load", "-i", &p(file)]);
    assert!(
        load.status.success(),
        "docker load failed\n{}",
        describe(&load)
    );
    let inspect = run(&[
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        name,
    ]);
    let _ = run(&["rmi", name]);
    assert!(
        inspect.status.success(),
        "docker image inspect\n{}",
        describe(&inspect)
    );
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        layers.to_string()
    );
}

#[test]
fn a_repeated_layer_is_converted_once_into_a_docker_archive() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let (a, b) = (gzip_layer("a"), gzip_layer("b"));
    image_layout(&src, &[&a, &b, &a, &a]);
    let file = tmp.path().join("out.tar");
    let name = format!("oci-copy-test/repeats:{}", std::process::id());
    let out = oci_copy([
        "copy".to_string(),
        format!("oci:{}:app", p(&src)),
        format!("docker-archive:{}:{name}", p(&file)),
    ]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("3 blobs copied, 0 skipped"),
        "config, a and b: {err}"
    );
    assert!(
        err.contains("repeats: 2 blobs and 0 manifests listed again"),
        "{err}"
    );

    // One copy of each blob; every entry name once.
    let counts = tar_entry_counts(&file);
    assert_eq!(counts[&blob_entry(&a.diff_id)], 1, "{counts:?}");
    assert!(
        counts.values().all(|&n| n == 1),
        "an entry twice: {counts:?}"
    );
    // Every occurrence is still listed, in order, by manifest.json and the OCI manifest.
    let report = check_docker_archive(&file);
    let image = report.only();
    let (pa, pb) = (blob_entry(&a.diff_id), blob_entry(&b.diff_id));
    assert_eq!(image.layer_paths, [&*pa, &pb, &pa, &pa]);
    assert_eq!(
        image.diff_ids,
        [&*a.diff_id, &b.diff_id, &a.diff_id, &a.diff_id]
    );
    let oci = report.layout.as_ref().expect("the Docker 25+ hybrid form");
    assert_eq!(oci.diff_ids.len(), 4);

    let reference = format!("docker-archive:{}", p(&file));
    let inspect = skopeo(&["inspect", &reference]);
    assert!(inspect.status.success(), "{}", describe(&inspect));
    let layers: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(layers["Layers"].as_array().map(Vec::len), Some(4));
    skopeo_reads(&reference);
    docker_loads(&file, &name, 4);
}

#[test]
fn a_repeated_plain_layer_is_gzipped_once_into_an_oci_archive() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let a = plain_layer("a");
    image_layout(&src, &[&a, &a, &a]);
    let file = tmp.path().join("out.tar");
    let out = oci_copy([
        "copy".to_string(),
        format!("oci:{}:app", p(&src)),
        format!("oci-archive:{}:app", p(&file)),
    ]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("2 blobs copied, 0 skipped"),
        "{}",
        stderr(&out)
    );

    let counts = tar_entry_counts(&file);
    assert!(
        counts.values().all(|&n| n == 1),
        "an entry twice: {counts:?}"
    );
    // config, one gzipped layer, the manifest
    let blobs = counts
        .keys()
        .filter(|k| k.starts_with("blobs/sha256/") && k.len() > 13);
    assert_eq!(blobs.count(), 3, "{counts:?}");
    let report = check_oci_archive(&file);
    assert_eq!(report.diff_ids, [&*a.diff_id, &a.diff_id, &a.diff_id]);
    skopeo_reads(&format!("oci-archive:{}:app", p(&file)));
    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    extract_archive(&file, &unpacked).expect("extract");
    umoci_unpacks(&unpacked, "app", "a");
}

/// A layout whose index tags one manifest three times over, as `all` (the index itself is
/// the tagged entry's target).
fn repeating_index_layout(dir: &Path) -> (Value, Layer) {
    empty_layout(dir);
    let a = gzip_layer("a");
    let image = write_image(dir, &[&a]);
    let mut entries = Vec::new();
    for n in ["1", "2", "3"] {
        let mut e = image.clone();
        e["platform"] = json!({"architecture": "amd64", "os": "linux"});
        e["annotations"] = json!({"test.entry": n});
        entries.push(e);
    }
    let idx = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries});
    let (digest, size) = write_blob(dir, &serde_json::to_vec(&idx).unwrap());
    write_index_json(
        dir,
        vec![json!({"mediaType": INDEX, "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": "all"}})],
    );
    (image, a)
}

/// The entries of the index tagged `all` in the layout `dir`.
fn index_entries(dir: &Path) -> Vec<Value> {
    let top = &index(dir)["manifests"][0];
    let bytes = crate::support::layout::read_blob(dir, top["digest"].as_str().unwrap());
    let idx: Value = serde_json::from_slice(&bytes).unwrap();
    idx["manifests"].as_array().unwrap().clone()
}

#[test]
fn an_index_repeating_one_manifest_copies_it_once() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let (image, _) = repeating_index_layout(&src);
    let dst = tmp.path().join("dst");
    let out = oci_copy([
        "copy".to_string(),
        "--all".to_string(),
        format!("oci:{}:all", p(&src)),
        format!("oci:{}:all", p(&dst)),
    ]);
    assert_success(&out);
    let err = stderr(&out);
    // The config and the layer, once: not skipped twice more for the other two entries.
    assert!(err.contains("2 blobs copied, 0 skipped"), "{err}");
    assert!(
        err.contains("repeats: 0 blobs and 2 manifests listed again"),
        "{err}"
    );
    let entries = index_entries(&dst);
    assert_eq!(entries.len(), 3, "every entry is kept");
    assert!(entries.iter().all(|e| e["digest"] == image["digest"]));
    let numbers: Vec<&str> = entries
        .iter()
        .map(|e| e["annotations"]["test.entry"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["1", "2", "3"], "each entry keeps its annotations");
    check_oci_layout(&dst);
}

#[test]
fn an_index_repeating_one_manifest_is_read_once_from_a_registry() {
    let reg = Registry::start();
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let (image, _) = repeating_index_layout(&src);
    let pushed = reg.url("repeats/app:all");
    assert_success(&oci_copy([
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:all", p(&src)),
        &pushed,
    ]));
    let proxy = FaultProxy::start(&reg.host, |_| Action::Pass);
    let dst = tmp.path().join("dst");
    let out = oci_copy([
        "copy",
        "--all",
        "--src-tls-verify=false",
        &proxy.url("repeats/app:all"),
        &format!("oci:{}:all", p(&dst)),
    ]);
    assert_success(&out);
    let child = format!("/manifests/{}", image["digest"].as_str().unwrap());
    let reads: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&child))
        .collect();
    assert_eq!(reads.len(), 1, "the manifest is read once: {reads:?}");
    let blob_reads = proxy.requests().iter().filter(|r| r.is_blob_get()).count();
    assert_eq!(blob_reads, 2, "the config and the layer, once each");
    assert_eq!(index_entries(&dst).len(), 3);
    check_oci_layout(&dst);
}
