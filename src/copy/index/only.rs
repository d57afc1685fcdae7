//! `--multi-arch index-only`: the index is copied alone, byte for byte, into a destination
//! that holds each of its instances already (a registry answers a HEAD by digest, a
//! layout has the manifest blob). skopeo writes such an index whatever the destination
//! holds, and leaves a layout with entries that name nothing; oci-copy checks every
//! instance first and refuses, naming those missing, before writing anything.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::describe_entry;
use crate::convert;
use crate::copy::{CopyOptions, CopyReport, LoadedTop};
use crate::manifest::Index;
use crate::media_type::Format;
use crate::transport::ImageDestination;

/// Copies the index `idx` (of family `format`) without its instances.
pub(crate) fn copy_index_only(
    dst: Box<dyn ImageDestination>,
    top: &LoadedTop,
    format: Format,
    idx: &Index,
    opts: &CopyOptions,
    start: Instant,
) -> Result<CopyReport> {
    let caps = dst.caps();
    if !caps.stores_index {
        bail!(
            "--multi-arch index-only copies an index, and {} holds one image",
            dst.describe()
        );
    }
    let target = convert::choose_format(format, &caps, &opts.plan)?;
    if target != format {
        bail!(
            "--multi-arch index-only copies the index as it is, but {} would convert it to {}, \
             and with it every instance, which index-only does not copy; use --multi-arch all",
            match opts.plan.format {
                Some(f) => format!("--format {}", f.name()),
                None => format!("{}, which stores only {},", dst.describe(), target.name()),
            },
            target.name()
        );
    }
    check_instances(dst.as_ref(), idx)?;
    dst.put_manifest(&top.bytes, &top.descriptor)?;
    dst.commit(&top.bytes, &top.descriptor)?;
    let mut report = CopyReport::new(top.descriptor.clone(), top.descriptor.clone());
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Asks the destination for every distinct instance, and refuses when any is missing.
fn check_instances(dst: &dyn ImageDestination, idx: &Index) -> Result<()> {
    let mut asked = HashSet::new();
    let mut missing = Vec::new();
    for (n, e) in idx.manifests.iter().enumerate() {
        if !asked.insert(&e.digest) {
            continue;
        }
        let what = describe_entry(n, e);
        let present = dst
            .has_manifest(e)
            .with_context(|| format!("--multi-arch index-only: looking for {what}"))?;
        tracing::debug!("{what}: {}", if present { "present" } else { "missing" });
        if !present {
            missing.push(what);
        }
    }
    if !missing.is_empty() {
        bail!(
            "--multi-arch index-only copies the index without its instances, and {} lacks \
             {} of its {} instances: {}; copy them first, or use --multi-arch all",
            dst.describe(),
            missing.len(),
            asked.len(),
            missing.join(", ")
        );
    }
    Ok(())
}
