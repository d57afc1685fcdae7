//! An in-memory [`ImageSource`] and [`ImageDestination`] for unit tests of the copy engine,
//! and the small images they hold: one-layer images, and an index of two platforms with an
//! attestation. No registry, no file system.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use serde_json::Value;

use super::{copy_image, CopyOptions};
use crate::convert::{DestCaps, LayerPolicy, PlanOptions};
use crate::digest::Digest;
use crate::manifest::{Descriptor, Platform};
use crate::media_type::{self as mt, Format};
use crate::transport::{BlobWriter, ImageDestination, ImageSource, ManifestRejected, TopManifest};

/// An image source held in memory: the top manifest and every blob by digest.
pub(super) struct MemSource {
    pub(super) top: Vec<u8>,
    pub(super) top_type: String,
    pub(super) blobs: HashMap<Digest, Vec<u8>>,
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
pub(super) struct Held {
    pub(super) blobs: HashMap<Digest, Vec<u8>>,
    /// Every manifest type offered by `put_manifest`, in order.
    pub(super) offered: Vec<String>,
    /// The digest of every blob begun with its descriptor known, in the order begun.
    pub(super) begun: Vec<Digest>,
    pub(super) committed: Option<(Vec<u8>, Descriptor)>,
}

/// A destination in memory that refuses the manifest types in `refuse`.
pub(super) struct MemDest {
    caps: DestCaps,
    refuse: Vec<&'static str>,
    pub(super) held: Arc<Mutex<Held>>,
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

    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        if let Some(d) = expected {
            self.held.lock().unwrap().begun.push(d.digest.clone());
        }
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

pub(super) const BOTH: &[Format] = &[Format::Oci, Format::V2s2];
pub(super) const V2S2: &[Format] = &[Format::V2s2];

pub(super) fn dest(
    formats: &'static [Format],
    layers: LayerPolicy,
    refuse: &[&'static str],
) -> MemDest {
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
pub(super) fn run(src: &MemSource, dst: MemDest, opts: &CopyOptions) -> Result<Arc<Mutex<Held>>> {
    let held = dst.held.clone();
    copy_image(src, Box::new(dst), opts)?;
    Ok(held)
}

pub(super) fn opts() -> CopyOptions {
    CopyOptions {
        plan: PlanOptions::default(),
        jobs: 2,
        platforms: Vec::new(),
        all: false,
        index_only: false,
    }
}

/// A plain tar holding one file.
pub(super) fn layer_tar(text: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "etc/hello", text.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

pub(super) fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Adds a one-layer OCI image for `arch` to `blobs`; returns its manifest descriptor.
pub(super) fn image(blobs: &mut HashMap<Digest, Vec<u8>>, arch: &str) -> Descriptor {
    image_with(blobs, arch, |_| {})
}

/// As [`image`], with the config edited by `edit` before it is stored.
pub(super) fn image_with(
    blobs: &mut HashMap<Digest, Vec<u8>>,
    arch: &str,
    edit: impl FnOnce(&mut Value),
) -> Descriptor {
    let plain = layer_tar(&format!("hello from {arch}\n"));
    let layer = gzip(&plain);
    let mut config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&plain).to_string()]},
    });
    edit(&mut config);
    let config = config.to_string().into_bytes();
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

pub(super) fn single(arch: &str) -> MemSource {
    single_with(arch, |_| {})
}

/// One image whose config was edited by `edit`.
pub(super) fn single_with(arch: &str, edit: impl FnOnce(&mut Value)) -> MemSource {
    let mut blobs = HashMap::new();
    let d = image_with(&mut blobs, arch, edit);
    let top = blobs[&d.digest].clone();
    MemSource {
        top,
        top_type: mt::OCI_MANIFEST.into(),
        blobs,
    }
}

/// An index of amd64 and arm64 images and a BuildKit attestation for the amd64 one.
pub(super) fn index() -> (MemSource, Vec<Descriptor>) {
    let mut blobs = HashMap::new();
    let mut entries = platform_images(&mut blobs, |_, _| {});
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
    (index_source(&entries, blobs), entries)
}

/// An index of amd64 and arm64 images only, each config edited by `edit(arch, config)`.
pub(super) fn two_platforms(edit: impl Fn(&str, &mut Value)) -> (MemSource, Vec<Descriptor>) {
    let mut blobs = HashMap::new();
    let entries = platform_images(&mut blobs, edit);
    (index_source(&entries, blobs), entries)
}

/// Adds amd64 and arm64 images to `blobs`; returns their index entries.
fn platform_images(
    blobs: &mut HashMap<Digest, Vec<u8>>,
    edit: impl Fn(&str, &mut Value),
) -> Vec<Descriptor> {
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut d = image_with(blobs, arch, |c| edit(arch, c));
        d.platform = Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            ..Default::default()
        });
        entries.push(d);
    }
    entries
}

/// A source whose top manifest is an OCI index of `entries`.
fn index_source(entries: &[Descriptor], blobs: HashMap<Digest, Vec<u8>>) -> MemSource {
    let top = serde_json::json!({
        "schemaVersion": 2, "mediaType": mt::OCI_INDEX, "manifests": entries,
    })
    .to_string()
    .into_bytes();
    MemSource {
        top,
        top_type: mt::OCI_INDEX.into(),
        blobs,
    }
}
