//! The conversion planner and rewriter. [`plan`] is a pure function of the source manifest,
//! the destination's capabilities and the options: it decides the manifest family to write
//! and what happens to each layer, and refuses impossible requests before any I/O.
//! [`rewrite_manifest`] (beside the manifest types, re-exported here) applies a plan: it
//! changes media types and layer descriptors, and never touches config bytes, so the image
//! ID survives every conversion. [`DestCaps`] lives here, beside the planner that reads it,
//! so that the planner depends on no transport.

use anyhow::{bail, Result};

pub use crate::manifest::rewrite_manifest;
use crate::manifest::{Descriptor, ImageManifest};
use crate::media_type::{self as mt, Compression, Format, Kind, LayerType};

/// What layer compression a destination wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerPolicy {
    /// Layers must be plain tars (docker-archive).
    Uncompressed,
    /// Compressed layers are kept; plain tars are gzipped (OCI layouts and archives).
    Compressed,
    /// Whatever the source has.
    AsIs,
}

/// What a destination accepts, as data, so that the planner can decide before any I/O.
#[derive(Debug, Clone)]
pub struct DestCaps {
    /// Manifest families the destination stores, the preferred one first.
    pub formats: &'static [Format],
    pub layers: LayerPolicy,
    /// Whether it can hold an image index (multi-platform image).
    pub stores_index: bool,
    /// Whether blobs must be written one at a time, in the order the image lists them
    /// (config, then layers): an archive streamed entry by entry, whose entries are in
    /// the order they were written.
    pub sequential: bool,
}

/// What the user asked for that bears on conversion.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--format`: the manifest family to write.
    pub format: Option<Format>,
    /// `--dest-compress-format`: recompress every layer to this.
    pub compress: Option<Compression>,
    /// `--dest-compress-level`: the level for layers this copy compresses.
    pub level: Option<i32>,
    /// `--preserve-digests`: refuse anything that changes a digest.
    pub preserve_digests: bool,
    /// `--single-member-gzip`: how gzip layers this copy compresses are written.
    pub gzip_style: GzipStyle,
    /// The layer compression to write instead of the destination's own policy
    /// (`--dest-decompress`, `--dest-compress`, `--dest-oci-accept-uncompressed-layers`).
    pub layers: Option<LayerPolicy>,
}

/// How the blocks of a gzip stream are written; see `copy::pgzip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GzipStyle {
    /// One gzip member per block, by libdeflate.
    #[default]
    Members,
    /// One gzip member for the whole stream, by zlib.
    Single,
}

impl GzipStyle {
    /// The level used when the user chose none: each style's level that compresses as well
    /// as skopeo's default for the least CPU (libdeflate 1: 48.0%; zlib 3: 47.5%).
    pub fn default_level(self) -> u32 {
        match self {
            GzipStyle::Members => 1,
            GzipStyle::Single => 3,
        }
    }
}

/// What happens to one layer on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerAction {
    /// Bytes pass through unchanged.
    Keep,
    /// Decompressed: the output is the plain tar, whose digest is the diff_id.
    Decompress(Compression),
    /// A plain tar, compressed.
    Compress(Compression),
    /// Decompressed and compressed again with another algorithm.
    Recompress(Compression, Compression),
}

impl LayerAction {
    pub fn changes_bytes(self) -> bool {
        self != LayerAction::Keep
    }
}

/// The plan for one layer: the action and the media type of the layer written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPlan {
    pub action: LayerAction,
    pub media_type: String,
    /// The compression level, when this copy compresses the layer and the user chose one.
    pub level: Option<i32>,
    /// How the layer is written if this copy gzips it.
    pub gzip_style: GzipStyle,
}

/// The plan for one image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub source_format: Format,
    pub format: Format,
    pub layers: Vec<LayerPlan>,
    /// Whether the manifest must be rewritten (its digest then changes).
    pub rewrite: bool,
}

impl Plan {
    /// Human-readable reasons the manifest changes, for logs and refusals.
    pub fn reasons(&self) -> Vec<String> {
        let mut r = Vec::new();
        if self.source_format != self.format {
            r.push(format!(
                "converting {} to {}",
                self.source_format.name(),
                self.format.name()
            ));
        }
        for (i, l) in self.layers.iter().enumerate() {
            match l.action {
                LayerAction::Keep => {}
                LayerAction::Decompress(c) => {
                    r.push(format!("decompressing layer {} ({})", i + 1, c.name()))
                }
                LayerAction::Compress(c) => {
                    r.push(format!("compressing layer {} with {}", i + 1, c.name()))
                }
                LayerAction::Recompress(a, b) => r.push(format!(
                    "recompressing layer {} from {} to {}",
                    i + 1,
                    a.name(),
                    b.name()
                )),
            }
        }
        r
    }
}

/// Plans the copy of an image manifest of family `source` into a destination with `caps`.
pub fn plan(
    source: Format,
    m: &ImageManifest,
    caps: &DestCaps,
    opts: &PlanOptions,
) -> Result<Plan> {
    let caps = &DestCaps {
        layers: opts.layers.unwrap_or(caps.layers),
        ..caps.clone()
    };
    let format = choose_format(source, caps, opts)?;
    let layers = m
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| plan_layer(i, l, (source, format), caps, opts))
        .collect::<Result<Vec<_>>>()?;
    let config_same = m.config.media_type == format.config_type();
    let layers_same = layers
        .iter()
        .zip(&m.layers)
        .all(|(p, l)| p.action == LayerAction::Keep && p.media_type == l.media_type);
    let plan = Plan {
        source_format: source,
        format,
        rewrite: format != source || !config_same || !layers_same,
        layers,
    };
    if opts.preserve_digests && plan.rewrite {
        bail!(
            "--preserve-digests: the copy would change the manifest digest ({}); {}",
            plan.reasons().join(", "),
            cause_hint(source, caps, opts)
        );
    }
    Ok(plan)
}

fn cause_hint(source: Format, caps: &DestCaps, opts: &PlanOptions) -> String {
    if let Some(f) = opts.format.filter(|f| *f != source) {
        return format!("--format {} forces the conversion", f.name());
    }
    if opts.compress.is_some() {
        return "--dest-compress-format forces the recompression".to_string();
    }
    if !caps.formats.contains(&source) {
        return format!("the destination stores only {}", caps.formats[0].name());
    }
    "the destination needs different layer compression".to_string()
}

pub fn choose_format(source: Format, caps: &DestCaps, opts: &PlanOptions) -> Result<Format> {
    match opts.format {
        Some(f) if caps.formats.contains(&f) => Ok(f),
        Some(f) => bail!(
            "--format {}: this destination stores only {} images",
            f.name(),
            caps.formats
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        None if caps.formats.contains(&source) => Ok(source),
        None => Ok(caps.formats[0]),
    }
}

/// `formats`: the manifest family of the source and the one written.
fn plan_layer(
    i: usize,
    l: &Descriptor,
    formats: (Format, Format),
    caps: &DestCaps,
    opts: &PlanOptions,
) -> Result<LayerPlan> {
    let format = formats.1;
    let Kind::Layer(from) = mt::kind_of(&l.media_type) else {
        return plan_other_blob(i, l, formats, caps, opts);
    };
    let to = match (opts.compress, caps.layers) {
        (_, LayerPolicy::Uncompressed) => Compression::None,
        (Some(c), _) => c,
        (None, LayerPolicy::Compressed) if from.compression == Compression::None => {
            Compression::Gzip
        }
        (None, _) => from.compression,
    };
    let action = match (from.compression, to) {
        (a, b) if a == b => LayerAction::Keep,
        (Compression::None, b) => LayerAction::Compress(b),
        (a, Compression::None) => LayerAction::Decompress(a),
        (a, b) => LayerAction::Recompress(a, b),
    };
    let out = LayerType {
        format,
        compression: to,
        foreign: from.foreign,
    };
    let Some(media_type) = out.media_type() else {
        bail!(
            "layer {} ({}) is {}{}, which Docker v2s2 cannot describe; copy it as OCI (--format oci) or choose --dest-compress-format gzip",
            i + 1,
            l.digest,
            if from.foreign { "a non-distributable " } else { "" },
            to.name()
        );
    };
    if let (Compression::Gzip, Some(n)) = (to, opts.level) {
        if !(1..=9).contains(&n) {
            bail!("--dest-compress-level {n}: gzip levels are 1 to 9");
        }
    }
    let level = match action {
        LayerAction::Compress(_) | LayerAction::Recompress(..) => opts.level,
        _ => None,
    };
    Ok(LayerPlan {
        action,
        media_type: media_type.to_string(),
        level,
        gzip_style: opts.gzip_style,
    })
}

/// A "layer" that is not a layer type oci-copy knows (an in-toto attestation, a Helm
/// chart, a wasm module): its bytes mean something to another tool, so it is copied as it
/// is, and only where nothing would need to change it. Converting the manifest, or a
/// destination or option that wants its compression changed, is refused: neither the
/// media type to write nor how to (de)compress it can be known.
fn plan_other_blob(
    i: usize,
    l: &Descriptor,
    (source, format): (Format, Format),
    caps: &DestCaps,
    opts: &PlanOptions,
) -> Result<LayerPlan> {
    let why = if format == Format::V2s2 && source != Format::V2s2 {
        Some("Docker v2s2 describes only tar layers")
    } else if opts.compress.is_some() {
        Some("--dest-compress-format asks for every layer to be recompressed")
    } else if caps.layers == LayerPolicy::Uncompressed {
        Some("the destination wants every layer as an uncompressed tar")
    } else {
        None
    };
    if let Some(why) = why {
        bail!(
            "layer {} ({}) has media type {:?}, which is not a tar layer, and {why}; \
             copy it unchanged, as OCI",
            i + 1,
            l.digest,
            l.media_type
        );
    }
    Ok(LayerPlan {
        action: LayerAction::Keep,
        media_type: l.media_type.clone(),
        level: None,
        gzip_style: opts.gzip_style,
    })
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
