//! Writing a copied index: the instance manifests and then the index are offered to the
//! destination in each candidate family until one is accepted. An index whose instances
//! did not change keeps its exact bytes; otherwise a new one describes the instances
//! written.

use anyhow::{bail, Result};

use super::{Child, Selected};
use crate::convert::{self, PlanOptions};
use crate::copy::negotiate::{self, is_rejection};
use crate::copy::{CopyOptions, LoadedTop};
use crate::manifest::{Descriptor, Index};
use crate::media_type::Format;
use crate::transport::{DestCaps, ImageDestination};

/// Offers the instances and the index to the destination in each candidate family, until
/// one is accepted. Returns the index written.
#[allow(clippy::too_many_arguments)]
pub(super) fn put_all(
    dst: &dyn ImageDestination,
    top: &LoadedTop,
    format: Format,
    idx: &Index,
    children: &[Child],
    selected: &Selected,
    caps: &DestCaps,
    opts: &CopyOptions,
) -> Result<(Vec<u8>, Descriptor)> {
    let target = convert::choose_format(format, caps, &opts.plan)?;
    let candidates = negotiate::candidates(target, caps, &opts.plan);
    tracing::debug!(
        "index candidates for {}: {}",
        dst.describe(),
        negotiate::names(&candidates)
    );
    let mut attempts = Vec::new();
    for f in candidates {
        let attempt = build_all(top, format, idx, children, selected, f, caps, &opts.plan)
            .and_then(|(instances, index)| {
                for (bytes, desc) in &instances {
                    dst.put_child_manifest(bytes, desc)?;
                }
                dst.put_manifest(&index.0, &index.1)?;
                Ok(index)
            });
        match attempt {
            Ok(index) => return Ok(index),
            Err(e) if is_rejection(&e) => {
                tracing::debug!("the destination refused the index as {}: {e:#}", f.name());
                attempts.push(format!("{} rejected: {e:#}", f.name()));
            }
            Err(e) => return Err(e),
        }
    }
    bail!(
        "the destination refused every index type: {}",
        attempts.join("; ")
    )
}

type Written = (Vec<u8>, Descriptor);

/// The instance manifests and the index, written as family `f`.
#[allow(clippy::too_many_arguments)]
fn build_all(
    top: &LoadedTop,
    format: Format,
    idx: &Index,
    children: &[Child],
    selected: &Selected,
    f: Format,
    caps: &DestCaps,
    popts: &PlanOptions,
) -> Result<(Vec<Written>, Written)> {
    let mut instances = Vec::new();
    for c in children {
        let (bytes, desc) = match &c.plan {
            None => (c.img.raw.clone(), c.entry.clone()),
            Some(plan) => {
                let plan_opts = PlanOptions {
                    format: Some(f),
                    ..popts.clone()
                };
                negotiate::convert_to(f, &c.img, plan, &c.outcomes, caps, &plan_opts)?
            }
        };
        instances.push((bytes, desc));
    }
    let unchanged = instances
        .iter()
        .zip(children)
        .all(|((_, d), c)| d.digest == c.entry.digest);
    if f == format && !selected.subset && unchanged {
        return Ok((instances, (top.bytes.clone(), top.descriptor.clone())));
    }
    let bytes = rewrite_index(idx, f, selected, &instances)?;
    let desc = Descriptor::of_bytes(f.index_type(), &bytes);
    Ok((instances, (bytes, desc)))
}

/// A new index of family `f` whose entries, one for each selected entry, describe the
/// instances written.
fn rewrite_index(
    idx: &Index,
    f: Format,
    selected: &Selected,
    instances: &[Written],
) -> Result<Vec<u8>> {
    let mut out = idx.clone();
    out.schema_version = 2;
    out.media_type = Some(f.index_type().to_string());
    out.manifests = selected
        .entries
        .iter()
        .zip(selected.slots)
        .map(|((_, e), &k)| Descriptor {
            media_type: instances[k].1.media_type.clone(),
            digest: instances[k].1.digest.clone(),
            size: instances[k].1.size,
            ..e.clone()
        })
        .collect();
    if f == Format::V2s2 {
        if out.annotations.take().is_some() || out.subject.take().is_some() {
            tracing::warn!("a Docker manifest list has no annotations or subject; dropping them");
        }
        out.artifact_type = None;
        for m in &mut out.manifests {
            m.annotations = None;
            m.artifact_type = None;
        }
    }
    Ok(serde_json::to_vec(&out)?)
}
