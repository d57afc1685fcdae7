//! Manifest-type negotiation: the top-level manifest is offered to the destination in the
//! planned format first and, when the destination refuses the type ([`ManifestRejected`]),
//! converted to the next format the destination lists and offered again. There is no
//! fallback when the user fixed the format (`--format`) or the digests
//! (`--preserve-digests`). Only conversions that keep every layer's bytes are candidates,
//! so no blob is uploaded again.

use anyhow::{bail, Result};

use super::blob::BlobOutcome;
use super::LoadedImage;
use crate::convert::{self, Plan, PlanOptions};
use crate::manifest::Descriptor;
use crate::media_type::Format;
use crate::transport::{DestCaps, ImageDestination, ManifestRejected};

/// Whether an error chain says the destination refused the manifest's type.
pub fn is_rejection(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<ManifestRejected>())
}

/// The formats to offer, in order, for an image or an index: the planned one, `first`,
/// then (unless the user fixed the format or the digests) the other formats the
/// destination stores.
pub fn candidates(first: Format, caps: &DestCaps, opts: &PlanOptions) -> Vec<Format> {
    let mut out = vec![first];
    if opts.format.is_none() && !opts.preserve_digests {
        out.extend(caps.formats.iter().copied().filter(|f| *f != first));
    }
    out
}

/// `oci, v2s2`: the candidates, for the debug log.
pub fn names(formats: &[Format]) -> String {
    let names: Vec<&str> = formats.iter().map(|f| f.name()).collect();
    names.join(", ")
}

/// Offers the manifest `first` (in `plan.format`), falling back to other candidates.
/// Returns the bytes and descriptor the destination accepted.
pub fn put_manifest(
    dst: &dyn ImageDestination,
    img: &LoadedImage,
    plan: &Plan,
    outcomes: &[BlobOutcome],
    first: (Vec<u8>, Descriptor),
    opts: &PlanOptions,
) -> Result<(Vec<u8>, Descriptor)> {
    let caps = dst.caps();
    let formats = candidates(plan.format, &caps, opts);
    tracing::debug!(
        "manifest candidates for {}: {}",
        dst.describe(),
        names(&formats)
    );
    let mut attempts = Vec::new();
    for (i, &format) in formats.iter().enumerate() {
        let candidate = match i {
            0 => Ok(first.clone()),
            _ => convert_to(format, img, plan, outcomes, &caps, opts),
        };
        let (bytes, desc) = match candidate {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("candidate {} skipped: {e:#}", format.name());
                attempts.push(format!("{}: {e:#}", format.name()));
                continue;
            }
        };
        if offer(dst, i, format, &bytes, &desc, &mut attempts)? {
            return Ok((bytes, desc));
        }
    }
    let hint = if formats.len() == 1 {
        " (the format is fixed by --format or --preserve-digests, so no other was tried)"
    } else {
        ""
    };
    bail!(
        "the destination refused every manifest type{hint}: {}",
        attempts.join("; ")
    )
}

/// Offers one candidate, attempt `i` (from 0) in `format`. True when the destination
/// accepted it; a refusal of the type is noted in `attempts`, any other failure is
/// returned.
fn offer(
    dst: &dyn ImageDestination,
    i: usize,
    format: Format,
    bytes: &[u8],
    desc: &Descriptor,
    attempts: &mut Vec<String>,
) -> Result<bool> {
    tracing::debug!(
        "attempt {}: putting the manifest as {} ({}, {})",
        i + 1,
        format.name(),
        desc.media_type,
        desc.digest
    );
    match dst.put_manifest(bytes, desc) {
        Ok(()) => {
            if i > 0 {
                tracing::debug!(
                    "fell back to {}: the destination accepted {}",
                    format.name(),
                    desc.digest
                );
            }
            Ok(true)
        }
        Err(e) if is_rejection(&e) => {
            tracing::debug!("attempt {} ({}) rejected: {e:#}", i + 1, format.name());
            attempts.push(format!("{} rejected: {e:#}", format.name()));
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The manifest rewritten as `format`, provided every layer keeps its bytes.
pub(super) fn convert_to(
    format: Format,
    img: &LoadedImage,
    plan: &Plan,
    outcomes: &[BlobOutcome],
    caps: &DestCaps,
    opts: &PlanOptions,
) -> Result<(Vec<u8>, Descriptor)> {
    let forced = PlanOptions {
        format: Some(format),
        ..opts.clone()
    };
    let alt = convert::plan(img.format, &img.manifest, caps, &forced)?;
    let same_bytes = alt
        .layers
        .iter()
        .zip(&plan.layers)
        .all(|(a, b)| a.action == b.action);
    if !same_bytes {
        bail!("it would need different layer bytes");
    }
    let bytes = if alt.rewrite {
        let layers = outcomes
            .iter()
            .zip(&alt.layers)
            .map(|(o, lp)| Descriptor {
                media_type: lp.media_type.clone(),
                ..o.written.clone()
            })
            .collect();
        convert::rewrite_manifest(&img.manifest, format, layers)?
    } else {
        img.raw.clone()
    };
    let desc = Descriptor::of_bytes(format.manifest_type(), &bytes);
    Ok((bytes, desc))
}
