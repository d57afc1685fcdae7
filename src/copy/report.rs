//! What a copy did, for the summary line and the conversion report: each distinct blob
//! counted once, as copied, skipped or mounted, the repeats counted apart, and every layer
//! whose digest changed.

use std::time::Duration;

use super::blob::BlobOutcome;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::transport::Reuse;

/// What a copy did, for the summary and the conversion report. Every distinct blob is
/// counted once: as copied, skipped (the destination had it) or mounted.
#[derive(Debug, Clone)]
pub struct CopyReport {
    pub source_manifest: Descriptor,
    pub written_manifest: Descriptor,
    pub copied: usize,
    pub skipped: usize,
    /// Blobs a registry mounted from another repository instead of receiving them.
    pub mounted: usize,
    /// Layers and configs that repeat a blob this copy handled already, which were not
    /// handled again.
    pub repeated_blobs: usize,
    /// Index entries that repeat a manifest this copy handled already.
    pub repeated_manifests: usize,
    pub bytes: u64,
    pub elapsed: Duration,
    /// (what, old digest, new digest) for every blob whose digest changed.
    pub changed: Vec<(String, Digest, Digest)>,
}

impl CopyReport {
    /// A report with nothing counted yet.
    pub(super) fn new(source_manifest: Descriptor, written_manifest: Descriptor) -> CopyReport {
        CopyReport {
            source_manifest,
            written_manifest,
            copied: 0,
            skipped: 0,
            mounted: 0,
            repeated_blobs: 0,
            repeated_manifests: 0,
            bytes: 0,
            elapsed: Duration::ZERO,
            changed: Vec::new(),
        }
    }

    /// Counts what happened to one blob.
    pub(super) fn count(&mut self, o: &BlobOutcome) {
        match (o.repeated, o.copied, o.mounted) {
            (true, ..) => self.repeated_blobs += 1,
            (_, true, _) => self.copied += 1,
            (_, _, true) => self.mounted += 1,
            _ => self.skipped += 1,
        }
        self.bytes += o.bytes;
    }

    /// Counts a config stored with `put_bytes` (`None`: it repeats one stored before).
    pub(super) fn count_config(&mut self, how: Option<Reuse>, size: usize) {
        match how {
            None => self.repeated_blobs += 1,
            Some(Reuse::Absent) => self.copied += 1,
            Some(Reuse::Present) => self.skipped += 1,
            Some(Reuse::Mounted) => self.mounted += 1,
        }
        self.bytes += size as u64;
    }
}

/// (`layer N`, old digest, new digest) for every layer whose digest changed.
pub(super) fn changed_layers(
    layers: &[Descriptor],
    outcomes: &[BlobOutcome],
) -> Vec<(String, Digest, Digest)> {
    layers
        .iter()
        .zip(outcomes)
        .enumerate()
        .filter(|(_, (a, b))| a.digest != b.written.digest)
        .map(|(i, (a, b))| {
            (
                format!("layer {}", i + 1),
                a.digest.clone(),
                b.written.digest.clone(),
            )
        })
        .collect()
}
