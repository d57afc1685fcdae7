//! Unit tests of the copy engine over an in-memory [`ImageSource`] and [`ImageDestination`]:
//! verbatim copies, conversion, manifest-type fallback, a destination that refuses every
//! type, index and platform selection, artifacts, and a source that lies. No registry, no
//! file system.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};

use super::{copy_image, CopyOptions};
use crate::convert::{DestCaps, LayerPolicy, PlanOptions};
use crate::digest::Digest;
use crate::manifest::{Descriptor, Platform};
use crate::media_type::{self as mt, Format};
use crate::transport::{BlobWriter, ImageDestination, ImageSource, ManifestRejected, TopManifest};

/// An image source held in memory: the top manifest and every blob by digest.
struct MemSource {
    top: Vec<u8>,
    top_type: String,
    blobs: HashMap<Digest, Vec<u8>>,
}

impl ImageSource for MemSource {
    fn describe(&self) -> String {
        "memory:source".into()
    }

    fn top_manifest(&self) -> Result<TopManifest> {
        Ok(TopManifest {
            bytes: self.top.clone(),
            media_type: self.top_type.clone(),
            descriptor: Some(Descriptor::of_bytes(&self.top_type, &self.top)),
        })
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        self.bytes(&desc.digest)
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(std::io::Cursor::new(self.bytes(&desc.digest)?)))
    }
}

impl MemSource {
    fn bytes(&self, d: &Digest) -> Result<Vec<u8>> {
        match self.blobs.get(d) {
            Some(b) => Ok(b.clone()),
            None => bail!("blob {d} is missing"),
        }
    }
}

/// What a [`MemDest`] ended up holding, shared with the test after the destination is
/// consumed by its commit.
#[derive(Default)]
struct Held {
    blobs: HashMap<Digest, Vec<u8>>,
    /// Every manifest type offered by `put_manifest`, in order.
    offered: Vec<String>,
    committed: Option<(Vec<u8>, Descriptor)>,
}

/// A destination in memory that refuses the manifest types in `refuse`.
struct MemDest {
    caps: DestCaps,
    refuse: Vec<&'static str>,
    held: Arc<Mutex<Held>>,
}

struct MemWriter {
    buf: Vec<u8>,
    held: Arc<Mutex<Held>>,
}

impl Write for MemWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for MemWriter {
    fn commit(self: Box<Self>, desc: &Descriptor) -> Result<()> {
        let mut held = self.held.lock().unwrap();
        held.blobs.insert(desc.digest.clone(), self.buf);
        Ok(())
    }
}

impl ImageDestination for MemDest {
    fn describe(&self) -> String {
        "memory:destination".into()
    }

    fn caps(&self) -> DestCaps {
        self.caps.clone()
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        Ok(self.held.lock().unwrap().blobs.contains_key(&desc.digest))
    }

    fn begin_blob(&self, _expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        Ok(Box::new(MemWriter {
            buf: Vec::new(),
            held: self.held.clone(),
        }))
    }

    fn put_manifest(&self, _manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.held
            .lock()
            .unwrap()
            .offered
            .push(desc.media_type.clone());
        if self.refuse.contains(&desc.media_type.as_str()) {
            return Err(ManifestRejected {
                reason: format!("{} is not accepted here", desc.media_type),
            }
            .into());
        }
        Ok(())
    }

    fn commit(self: Box<Self>, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.held.lock().unwrap().committed = Some((manifest.to_vec(), desc.clone()));
        Ok(())
    }
}

const BOTH: &[Format] = &[Format::Oci, Format::V2s2];
const V2S2: &[Format] = &[Format::V2s2];

fn dest(formats: &'static [Format], layers: LayerPolicy, refuse: &[&'static str]) -> MemDest {
    MemDest {
        caps: DestCaps {
            formats,
            layers,
            stores_index: true,
            sequential: false,
        },
        refuse: refuse.to_vec(),
        held: Arc::default(),
    }
}

/// Runs a copy; returns what the destination holds.
fn run(src: &MemSource, dst: MemDest, opts: &CopyOptions) -> Result<Arc<Mutex<Held>>> {
    let held = dst.held.clone();
    copy_image(src, Box::new(dst), opts)?;
    Ok(held)
}

fn opts() -> CopyOptions {
    CopyOptions {
        plan: PlanOptions::default(),
        jobs: 2,
        platforms: Vec::new(),
        all: false,
    }
}

/// A plain tar holding one file.
fn layer_tar(text: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "etc/hello", text.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Adds a one-layer OCI image for `arch` to `blobs`; returns its manifest descriptor.
fn image(blobs: &mut HashMap<Digest, Vec<u8>>, arch: &str) -> Descriptor {
    let plain = layer_tar(&format!("hello from {arch}\n"));
    let layer = gzip(&plain);
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&plain).to_string()]},
    })
    .to_string()
    .into_bytes();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "config": Descriptor::of_bytes(mt::OCI_CONFIG, &config),
        "layers": [Descriptor::of_bytes(mt::OCI_LAYER_GZIP, &layer)],
    })
    .to_string()
    .into_bytes();
    let desc = Descriptor::of_bytes(mt::OCI_MANIFEST, &manifest);
    for b in [layer, config, manifest] {
        blobs.insert(Digest::sha256_of(&b), b);
    }
    desc
}

fn single(arch: &str) -> MemSource {
    let mut blobs = HashMap::new();
    let d = image(&mut blobs, arch);
    let top = blobs[&d.digest].clone();
    MemSource {
        top,
        top_type: mt::OCI_MANIFEST.into(),
        blobs,
    }
}

/// An index of amd64 and arm64 images and a BuildKit attestation for the amd64 one.
fn index() -> (MemSource, Vec<Descriptor>) {
    let mut blobs = HashMap::new();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut d = image(&mut blobs, arch);
        d.platform = Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            ..Default::default()
        });
        entries.push(d);
    }
    let mut att = image(&mut blobs, "unknown");
    att.platform = Some(Platform {
        os: "unknown".into(),
        architecture: "unknown".into(),
        ..Default::default()
    });
    att.annotations = Some(
        [
            (
                "vnd.docker.reference.type".to_string(),
                "attestation-manifest".to_string(),
            ),
            (
                "vnd.docker.reference.digest".to_string(),
                entries[0].digest.to_string(),
            ),
        ]
        .into(),
    );
    entries.push(att);
    let top = serde_json::json!({
        "schemaVersion": 2, "mediaType": mt::OCI_INDEX, "manifests": entries,
    })
    .to_string()
    .into_bytes();
    let src = MemSource {
        top,
        top_type: mt::OCI_INDEX.into(),
        blobs,
    };
    (src, entries)
}

#[test]
fn a_verbatim_copy_keeps_the_manifest_bytes_and_every_blob() {
    let src = single("amd64");
    let held = run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &opts()).unwrap();
    let held = held.lock().unwrap();
    let (bytes, desc) = held.committed.clone().expect("committed");
    assert_eq!(bytes, src.top);
    assert_eq!(desc.media_type, mt::OCI_MANIFEST);
    for (d, b) in &src.blobs {
        if *d != desc.digest {
            assert_eq!(held.blobs.get(d), Some(b), "blob {d}");
        }
    }
}

#[test]
fn a_refused_manifest_type_falls_back_to_the_other_family() {
    let src = single("amd64");
    let dst = dest(BOTH, LayerPolicy::AsIs, &[mt::OCI_MANIFEST]);
    let held = run(&src, dst, &opts()).unwrap();
    let held = held.lock().unwrap();
    assert_eq!(held.offered, [mt::OCI_MANIFEST, mt::DOCKER_MANIFEST]);
    let (bytes, desc) = held.committed.clone().expect("committed");
    assert_eq!(desc.media_type, mt::DOCKER_MANIFEST);
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["layers"][0]["mediaType"], mt::DOCKER_LAYER_GZIP);
    assert_eq!(m["config"]["mediaType"], mt::DOCKER_CONFIG);
}

#[test]
fn a_destination_that_refuses_every_type_fails_naming_each() {
    let src = single("amd64");
    let dst = dest(
        BOTH,
        LayerPolicy::AsIs,
        &[mt::OCI_MANIFEST, mt::DOCKER_MANIFEST],
    );
    let e = format!("{:#}", run(&src, dst, &opts()).err().expect("refused"));
    assert!(
        e.contains("oci") && e.contains("v2s2") && e.contains("not accepted"),
        "{e}"
    );
}

#[test]
fn into_uncompressed_v2s2_layers_are_decompressed_to_their_diff_ids() {
    let src = single("arm64");
    let held = run(&src, dest(V2S2, LayerPolicy::Uncompressed, &[]), &opts()).unwrap();
    let held = held.lock().unwrap();
    let (bytes, _) = held.committed.clone().expect("committed");
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let layer: Digest = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    assert_eq!(layer, Digest::sha256_of(&layer_tar("hello from arm64\n")));
    assert_eq!(m["layers"][0]["mediaType"], mt::DOCKER_LAYER);
    assert!(held.blobs.contains_key(&layer));
}

#[test]
fn one_platform_of_an_index_is_chosen_and_never_the_attestation() {
    let (src, entries) = index();
    let mut o = opts();
    o.platforms = vec![Platform {
        os: "linux".into(),
        architecture: "arm64".into(),
        variant: Some("v8".into()),
        ..Default::default()
    }];
    let held = run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &o).unwrap();
    let (_, desc) = held.lock().unwrap().committed.clone().expect("committed");
    assert_eq!(desc.digest, entries[1].digest, "arm64/v8 finds arm64");
    o.platforms[0].architecture = "s390x".into();
    let e = format!(
        "{:#}",
        run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &o)
            .err()
            .unwrap()
    );
    assert!(
        e.contains("linux/amd64, linux/arm64, unknown/unknown (attestation)"),
        "{e}"
    );
}

#[test]
fn all_copies_the_index_with_its_attestation_keeping_its_digest() {
    let (src, entries) = index();
    let mut o = opts();
    o.all = true;
    let held = run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &o).unwrap();
    let held = held.lock().unwrap();
    let (bytes, _) = held.committed.clone().expect("committed");
    assert_eq!(bytes, src.top);
    for e in &entries {
        assert!(held.blobs.contains_key(&e.digest), "instance {}", e.digest);
    }
}

#[test]
fn an_artifact_is_copied_unchanged_and_never_converted() {
    let empty = b"{}".to_vec();
    let chart = b"a chart archive".to_vec();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "artifactType": "application/vnd.cncf.helm.chart.v1",
        "config": Descriptor::of_bytes("application/vnd.oci.empty.v1+json", &empty),
        "layers": [Descriptor::of_bytes("application/vnd.cncf.helm.chart.content.v1.tar+gzip", &chart)],
    })
    .to_string()
    .into_bytes();
    let src = MemSource {
        top: manifest.clone(),
        top_type: mt::OCI_MANIFEST.into(),
        blobs: [empty, chart]
            .into_iter()
            .map(|b| (Digest::sha256_of(&b), b))
            .collect(),
    };
    let held = run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &opts()).unwrap();
    assert_eq!(held.lock().unwrap().committed.clone().unwrap().0, manifest);
    let mut o = opts();
    o.plan.format = Some(Format::V2s2);
    let e = format!(
        "{:#}",
        run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &o)
            .err()
            .unwrap()
    );
    assert!(e.contains("artifact"), "{e}");
}

#[test]
fn a_source_blob_that_lies_is_never_committed() {
    let mut src = single("amd64");
    let layer = src
        .blobs
        .iter()
        .find(|(_, b)| b.starts_with(&[0x1f, 0x8b]))
        .map(|(d, _)| d.clone())
        .unwrap();
    src.blobs.get_mut(&layer).unwrap()[20] ^= 0xff;
    let dst = dest(BOTH, LayerPolicy::Compressed, &[]);
    let held = dst.held.clone();
    let e = format!(
        "{:#}",
        copy_image(&src, Box::new(dst), &opts()).err().unwrap()
    );
    assert!(e.contains("digest mismatch"), "{e}");
    let held = held.lock().unwrap();
    assert!(!held.blobs.contains_key(&layer) && held.committed.is_none());
}
