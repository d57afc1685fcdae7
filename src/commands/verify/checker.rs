//! The walk behind `verify`: every manifest, config and blob an image reaches, each
//! re-hashed through the copy pipeline's verifying reader once per run, layers decompressed
//! to check their diff_ids, and every problem named by digest.

use std::collections::HashMap;
use std::io::{self, Read};

use anyhow::{bail, Result};

use super::{ImageResult, VerifyReport};
use crate::copy::verify_bytes;
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, ImageConfig, Parsed, MAX_DOCUMENT_SIZE};
use crate::media_type::{self as mt, Kind};
use crate::transport::ImageSource;
use crate::verify::{HashingReader, VerifyError, VerifyingReader};

/// Index nesting deeper than this is refused rather than followed.
const MAX_DEPTH: usize = 4;

/// Walks images, remembering every blob already checked so that shared blobs are hashed
/// once.
#[derive(Default)]
pub(super) struct Checker {
    pub(super) report: VerifyReport,
    /// (blob digest, diff_id it was checked against) → the problem found, if any.
    seen: HashMap<(Digest, Option<Digest>), Option<String>>,
    /// What the image being checked had checked only in part (see [`ImageResult::skipped`]).
    pub(super) skipped: Vec<String>,
    /// The true size of every manifest read, by digest.
    manifest_sizes: HashMap<Digest, u64>,
}

impl Checker {
    pub(super) fn check_image(&mut self, src: &dyn ImageSource) {
        let mut problems = Vec::new();
        let digest = match src.top_manifest() {
            Ok(top) => {
                let desc = top
                    .descriptor
                    .clone()
                    .unwrap_or_else(|| Descriptor::of_bytes(&top.media_type, &top.bytes));
                self.count(&desc);
                match &top.descriptor {
                    Some(d) => match verify_bytes(&top.bytes, d, "manifest") {
                        Ok(()) => self.check_manifest(src, &top.bytes, &desc, 0, &mut problems),
                        Err(e) => problems.push(format!("{e:#}")),
                    },
                    None => self.check_manifest(src, &top.bytes, &desc, 0, &mut problems),
                }
                Some(desc.digest)
            }
            Err(e) => {
                problems.push(format!("top-level manifest: {e:#}"));
                None
            }
        };
        match src.reread() {
            Ok(inconsistent) => problems.extend(inconsistent),
            Err(e) => problems.push(format!("reading it again: {e:#}")),
        }
        self.report.images.push(ImageResult {
            name: src.describe(),
            digest,
            problems,
            skipped: std::mem::take(&mut self.skipped),
        });
    }

    pub(super) fn count(&mut self, desc: &Descriptor) {
        self.report.blobs += 1;
        self.report.bytes += desc.size;
    }

    /// Checks a manifest or index whose bytes were verified against `desc`.
    pub(super) fn check_manifest(
        &mut self,
        src: &dyn ImageSource,
        bytes: &[u8],
        desc: &Descriptor,
        depth: usize,
        problems: &mut Vec<String>,
    ) {
        let parsed = match manifest::parse(bytes, &desc.media_type) {
            Ok(p) => p,
            Err(e) => return problems.push(format!("manifest {}: {e:#}", desc.digest)),
        };
        match parsed {
            Parsed::Index(..) if depth >= MAX_DEPTH => problems.push(format!(
                "index {}: nested more than {MAX_DEPTH} levels deep",
                desc.digest
            )),
            Parsed::Index(_, idx) => {
                for child in &idx.manifests {
                    self.check_child(src, child, depth + 1, problems);
                }
            }
            Parsed::Image(f, m) => self.check_image_manifest(src, f, m, problems),
        }
    }

    fn check_child(
        &mut self,
        src: &dyn ImageSource,
        child: &Descriptor,
        depth: usize,
        problems: &mut Vec<String>,
    ) {
        if !mt::is_manifest_like(&child.media_type) {
            // An index may list non-manifest blobs (rare); check their bytes only.
            return self.check_blob(src, child, None, "index entry", problems);
        }
        if self.seen.contains_key(&(child.digest.clone(), None)) {
            // Read once, but every entry naming it must say its true size.
            if let Some(&len) = self.manifest_sizes.get(&child.digest) {
                if len != child.size {
                    problems.push(format!(
                        "manifest {}: size mismatch: the descriptor says {} bytes, got {len}",
                        child.digest, child.size
                    ));
                }
            }
            return;
        }
        self.seen.insert((child.digest.clone(), None), None);
        self.count(child);
        let checked = src
            .manifest(child)
            .map_err(|e| format!("manifest {}: {}", child.digest, unreadable(&e)))
            .and_then(|b| {
                verify_bytes(&b, child, "manifest")
                    .map(|()| b)
                    .map_err(|e| format!("{e:#}"))
            });
        if let Ok(bytes) = &checked {
            self.manifest_sizes
                .insert(child.digest.clone(), bytes.len() as u64);
        }
        match checked {
            Ok(bytes) => self.check_manifest(src, &bytes, child, depth, problems),
            Err(p) => problems.push(p),
        }
    }

    fn check_image_manifest(
        &mut self,
        src: &dyn ImageSource,
        format: mt::Format,
        mut m: manifest::ImageManifest,
        problems: &mut Vec<String>,
    ) {
        if m.config.media_type == manifest::LEGACY_CONFIG {
            // A docker 1.10-era config: checked as an image's when its JSON is one.
            if let Ok(bytes) = read_config_bytes(src, &m.config) {
                manifest::adopt_legacy_config(format, &mut m, &bytes);
            }
        }
        let m = &m;
        if !manifest::is_image(m) {
            // An artifact: its blobs mean something to another tool; check their bytes.
            for d in std::iter::once(&m.config).chain(&m.layers) {
                self.check_blob(src, d, None, "blob", problems);
            }
            return;
        }
        let config = match read_config(src, &m.config) {
            Ok(c) => c,
            Err(e) => return problems.push(format!("config {}: {e:#}", m.config.digest)),
        };
        self.count(&m.config);
        if let Err(e) = config.check_layer_count(m.layers.len()) {
            problems.push(format!("config {}: {e}", m.config.digest));
        }
        let diff_ids = config.diff_ids();
        for (i, layer) in m.layers.iter().enumerate() {
            let what = format!("layer {}", i + 1);
            let mut diff_id = diff_ids.get(i);
            if !matches!(mt::kind_of(&layer.media_type), Kind::Layer(_)) {
                self.skipped.push(format!(
                    "{what} {} ({}) is not a tar layer: its digest and size were checked, \
                     not a diff_id",
                    layer.digest, layer.media_type
                ));
                diff_id = None;
            }
            self.check_blob(src, layer, diff_id, &what, problems);
        }
    }

    /// Re-hashes one blob (decompressing a layer to check its diff_id), once per process.
    fn check_blob(
        &mut self,
        src: &dyn ImageSource,
        desc: &Descriptor,
        diff_id: Option<&Digest>,
        what: &str,
        problems: &mut Vec<String>,
    ) {
        let key = (desc.digest.clone(), diff_id.cloned());
        let outcome = match self.seen.get(&key) {
            Some(o) => o.clone(),
            None => {
                let o = hash_blob(src, desc, diff_id).err();
                self.count(desc);
                self.seen.insert(key, o.clone());
                o
            }
        };
        if let Some(reason) = outcome {
            problems.push(format!("{what} {}: {reason}", desc.digest));
        }
    }
}

/// Reads and parses an image config, through the verifying reader, under the size cap.
fn read_config(src: &dyn ImageSource, desc: &Descriptor) -> Result<ImageConfig> {
    ImageConfig::parse(&read_config_bytes(src, desc)?)
}

/// A config's bytes, through the verifying reader, under the size cap.
fn read_config_bytes(src: &dyn ImageSource, desc: &Descriptor) -> Result<Vec<u8>> {
    if desc.size > MAX_DOCUMENT_SIZE {
        bail!("{} bytes, over the 4 MiB limit", desc.size);
    }
    let r = src
        .blob(desc)
        .map_err(|e| anyhow::anyhow!("{}", unreadable(&e)))?;
    let mut buf = Vec::new();
    VerifyingReader::new(r, &desc.digest, desc.size).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Streams a blob through the verifying reader; for a layer with a diff_id, also through
/// the decompressor and a hash of the plain tar. Returns the reason it is bad.
fn hash_blob(
    src: &dyn ImageSource,
    desc: &Descriptor,
    diff_id: Option<&Digest>,
) -> Result<(), String> {
    let r = src.blob(desc).map_err(|e| unreadable(&e))?;
    let mut verifying = VerifyingReader::new(r, &desc.digest, desc.size);
    let compression = match mt::kind_of(&desc.media_type) {
        Kind::Layer(t) => Some(t.compression),
        _ => None,
    };
    let (Some(compression), Some(want)) = (compression, diff_id) else {
        return match diff_id {
            Some(_) => Err(format!(
                "media type {:?} is not a layer type, so its diff_id cannot be checked",
                desc.media_type
            )),
            None => drain(&mut verifying).map(drop).map_err(|e| e.to_string()),
        };
    };
    let plain = (|| {
        let decoded = crate::copy::blob::decoder(compression, &mut verifying)?;
        let mut h = HashingReader::with_algorithm(decoded, want.algorithm());
        drain(&mut h)?;
        Ok::<_, io::Error>(h.finish().0)
    })();
    let verified = verifying.finish();
    // As in the copy: a blob that is not what its digest says breaks the decoder first;
    // the digest mismatch is the cause worth reporting.
    match (plain, verified) {
        (_, Err(e)) if e.get_ref().is_some_and(|i| i.is::<VerifyError>()) => Err(e.to_string()),
        (Err(e), _) => Err(format!(
            "cannot be decompressed as {}: {e}",
            compression.name()
        )),
        (Ok(_), Err(e)) => Err(e.to_string()),
        (Ok(plain), Ok(())) if &plain != want => Err(format!(
            "diff_id mismatch: the config says {want}, but the uncompressed layer is {plain}"
        )),
        (Ok(_), Ok(())) => Ok(()),
    }
}

/// Why a blob could not be opened: the transport's innermost reason, which says what is
/// missing (`blobs/sha256/… is missing`, a registry's `BLOB_UNKNOWN`).
fn unreadable(e: &anyhow::Error) -> String {
    format!("missing or unreadable ({})", e.root_cause())
}

fn drain(r: &mut impl Read) -> io::Result<u64> {
    io::copy(r, &mut io::sink())
}
