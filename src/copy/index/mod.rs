//! Copying a multi-platform image: the whole index (`--all`) or an index of just the
//! platforms named (several `--platform`). Every instance is loaded, verified and planned
//! before any byte moves, so `--preserve-digests` and impossible conversions fail first.
//! An index whose instances did not change is written with its exact bytes and digest;
//! otherwise a new index (or Docker manifest list) is written with the new descriptors.
//! A destination that refuses the index's type gets the other family, as for one image.

mod only;
mod write;

use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::blob::BlobOutcome;
use super::dedup::Seen;
use super::{
    check_plain_layers, config_descriptor, copy_as_is, copy_layers, image_with_config,
    list_platforms, load_child, select_platform, CopyOptions, CopyReport, LoadedImage, LoadedTop,
};
use crate::convert::{self, Plan, PlanOptions};
use crate::manifest::{self, Descriptor, Index};
use crate::media_type::Format;
use crate::platform;
use crate::transport::{DestCaps, ImageDestination, ImageSource, Reuse};
pub(crate) use only::copy_index_only;
use write::put_all;

/// One distinct instance of the index being copied: entries that name the same manifest
/// share one.
struct Child {
    /// The first index entry (platform, annotations) naming it, as the source has it.
    entry: Descriptor,
    /// Its position in the source index, from 0.
    number: usize,
    img: LoadedImage,
    /// `None` for an artifact (signature, attestation), which is copied unchanged.
    plan: Option<Plan>,
    /// How the destination came to hold the config; `None` when an earlier instance has the
    /// same one.
    config: Option<Reuse>,
    outcomes: Vec<BlobOutcome>,
}

/// Copies the index `idx` (of family `format`), or the instances `opts` selects.
pub(super) fn copy_index(
    src: &dyn ImageSource,
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
            "{} holds one image, not an index (this one has: {}); copy without --all for this \
             machine's platform, choose one with --platform OS/ARCH[/VARIANT], or use oci-archive",
            dst.describe(),
            list_platforms(idx)
        );
    }
    let entries = select_entries(idx, opts)?;
    let subset = entries.len() != idx.manifests.len();
    let target = convert::choose_format(format, &caps, &opts.plan)?;
    let (mut children, slots) = load_instances(src, &entries, target, &caps, &opts.plan)?;
    refuse_digest_changes(format, target, subset, opts)?;
    tracing::debug!(
        "copying {} of {} entries of the index ({} distinct manifests) as {}",
        entries.len(),
        idx.manifests.len(),
        children.len(),
        target.name()
    );
    let mut seen = Seen::default();
    for child in &mut children {
        (child.config, child.outcomes) =
            copy_instance_blobs(src, dst.as_ref(), child, opts.jobs, &mut seen)
                .with_context(|| describe_entry(child.number, &child.entry))?;
    }
    let selected = Selected {
        entries: &entries,
        slots: &slots,
        subset,
    };
    let (bytes, desc) = put_all(
        dst.as_ref(),
        top,
        format,
        idx,
        &children,
        &selected,
        &caps,
        opts,
    )?;
    dst.commit(&bytes, &desc)?;
    let mut report = report(top, desc, &children, start);
    report.repeated_manifests = entries.len() - children.len();
    Ok(report)
}

/// The entries of the index being copied, and for each the instance (in `children`) that
/// its manifest is.
struct Selected<'a> {
    entries: &'a [(usize, Descriptor)],
    slots: &'a [usize],
    /// Only some of the index's entries are copied.
    subset: bool,
}

/// Loads, verifies and plans each distinct manifest the entries name, once: an index
/// whose entries repeat one manifest has it read and copied once. Returns the instances
/// and, for each entry, its instance.
fn load_instances(
    src: &dyn ImageSource,
    entries: &[(usize, Descriptor)],
    target: Format,
    caps: &DestCaps,
    popts: &PlanOptions,
) -> Result<(Vec<Child>, Vec<usize>)> {
    let mut children: Vec<Child> = Vec::new();
    let mut by_digest = std::collections::HashMap::new();
    let mut slots = Vec::with_capacity(entries.len());
    for (n, e) in entries {
        check_entry(*n, e, target)?;
        // The same digest with another size or type is another claim: verified on its own.
        let key = (e.digest.clone(), e.size, e.media_type.clone());
        let slot = match by_digest.get(&key) {
            Some(&k) => k,
            None => {
                children.push(load_instance(src, *n, e.clone(), target, caps, popts)?);
                by_digest.insert(key, children.len() - 1);
                children.len() - 1
            }
        };
        slots.push(slot);
    }
    Ok((children, slots))
}

/// Refuses, before any I/O, an entry the index cannot hold as `target`.
fn check_entry(number: usize, entry: &Descriptor, target: Format) -> Result<()> {
    if target == Format::V2s2 && platform::is_attestation(entry) {
        bail!(
            "{}: a Docker manifest list cannot hold an attestation manifest (its layers are \
             in-toto statements, not tars); copy the index as OCI, or copy one platform",
            describe_entry(number, entry)
        );
    }
    Ok(())
}

/// The entries to copy, in index order, each with its position in the source index: all
/// of them, or those the platforms name together with the attestation manifests that
/// describe them (BuildKit's provenance and SBOMs: `vnd.docker.reference.digest` names the
/// image an attestation is about). Attestations of platforms left out are left out too.
fn select_entries(idx: &Index, opts: &CopyOptions) -> Result<Vec<(usize, Descriptor)>> {
    let numbered = idx.manifests.iter().cloned().enumerate();
    if opts.platforms.is_empty() {
        return Ok(numbered.collect());
    }
    let mut chosen: Vec<&Descriptor> = Vec::new();
    for want in &opts.platforms {
        let d = select_platform(idx, want)?;
        if !chosen.iter().any(|c| c.digest == d.digest) {
            chosen.push(d);
        }
    }
    let kept = |d: &Descriptor| chosen.iter().any(|c| c.digest == d.digest);
    let describes_kept = |d: &Descriptor| {
        platform::is_attestation(d)
            && d.annotation(ATTESTATION_SUBJECT)
                .is_some_and(|s| chosen.iter().any(|c| c.digest.to_string() == s))
    };
    Ok(numbered
        .filter(|(_, d)| kept(d) || describes_kept(d))
        .collect())
}

/// The annotation of an attestation manifest's index entry that names its image.
const ATTESTATION_SUBJECT: &str = "vnd.docker.reference.digest";

/// `index entry 3 (linux/arm64, sha256:…)`, `index entry 4 (an attestation manifest, …)`.
fn describe_entry(n: usize, d: &Descriptor) -> String {
    let what = if platform::is_attestation(d) {
        "an attestation manifest".to_string()
    } else if let Some(t) = &d.artifact_type {
        format!("an artifact of type {t}")
    } else {
        match &d.platform {
            Some(p) => p.to_string(),
            None => "no platform".to_string(),
        }
    };
    format!("index entry {} ({what}, {})", n + 1, d.digest)
}

/// Loads, verifies and plans one instance, converting it to the family `target`.
fn load_instance(
    src: &dyn ImageSource,
    number: usize,
    entry: Descriptor,
    target: Format,
    caps: &DestCaps,
    popts: &PlanOptions,
) -> Result<Child> {
    let what = describe_entry(number, &entry);
    let (f, m, raw) = load_child(src, &entry).with_context(|| what.clone())?;
    let img =
        image_with_config(src, f, m, raw, entry.clone(), None).with_context(|| what.clone())?;
    let plan = if manifest::is_image(&img.manifest) {
        let forced = PlanOptions {
            format: Some(target),
            ..popts.clone()
        };
        Some(convert::plan(f, &img.manifest, caps, &forced).with_context(|| what.clone())?)
    } else if f != target {
        bail!(
            "{what} is an artifact (config type {:?}); artifacts are copied unchanged and \
             cannot be converted to {}",
            img.manifest.config.media_type,
            target.name()
        );
    } else {
        None
    };
    Ok(Child {
        entry,
        number,
        img,
        plan,
        config: None,
        outcomes: Vec::new(),
    })
}

/// `--preserve-digests` with a copy that writes a different index: refuse before any I/O.
/// (Instance conversions were refused by the planner already.)
fn refuse_digest_changes(
    format: Format,
    target: Format,
    subset: bool,
    opts: &CopyOptions,
) -> Result<()> {
    if !opts.plan.preserve_digests {
        return Ok(());
    }
    if subset {
        bail!("--preserve-digests: copying only some platforms (--platform) writes a new index with a new digest; use --all");
    }
    if format != target {
        bail!(
            "--preserve-digests: the index would be converted from {} to {} ({}), which changes its digest",
            format.name(),
            target.name(),
            match opts.plan.format {
                Some(f) => format!("--format {} forces it", f.name()),
                None => "the destination stores only that family".to_string(),
            }
        );
    }
    Ok(())
}

/// Copies the config and layers of one instance, except those `seen` has already; returns
/// how the destination came to hold the config, and what happened to each layer.
fn copy_instance_blobs(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    child: &Child,
    jobs: usize,
    seen: &mut Seen,
) -> Result<(Option<Reuse>, Vec<BlobOutcome>)> {
    let img = &child.img;
    let Some(plan) = &child.plan else {
        let mut outcomes = copy_as_is(src, dst, &img.manifest, seen)?;
        let config = outcomes.remove(0);
        let how = match (config.repeated, config.copied, config.mounted) {
            (true, ..) => None,
            (_, true, _) => Some(Reuse::Absent),
            (_, _, true) => Some(Reuse::Mounted),
            _ => Some(Reuse::Present),
        };
        return Ok((how, outcomes));
    };
    img.config.check_layer_count(img.manifest.layers.len())?;
    check_plain_layers(img, plan)?;
    let config = config_descriptor(img, plan);
    let how = match seen.written(&config, None, None) {
        Some(_) => None,
        None => Some(
            dst.put_bytes(&img.config_raw, &config)
                .context("storing the config")?,
        ),
    };
    seen.record(&config, None, None, &config);
    let outcomes = copy_layers(src, dst, img, plan, jobs, seen)?;
    let diff_ids = img.config.diff_ids();
    seen.record_layers(&img.manifest.layers, &plan.layers, diff_ids, &outcomes);
    Ok((how, outcomes))
}

fn report(top: &LoadedTop, written: Descriptor, children: &[Child], start: Instant) -> CopyReport {
    let mut report = CopyReport::new(top.descriptor.clone(), written);
    for c in children {
        report.count_config(c.config, c.img.config_raw.len());
        c.outcomes.iter().for_each(|o| report.count(o));
    }
    report.changed = children
        .iter()
        .flat_map(|c| {
            let what = describe_entry(c.number, &c.entry);
            c.img
                .manifest
                .layers
                .iter()
                .zip(&c.outcomes)
                .enumerate()
                .filter(|(_, (a, b))| a.digest != b.written.digest)
                .map(move |(i, (a, b))| {
                    (
                        format!("{what} layer {}", i + 1),
                        a.digest.clone(),
                        b.written.digest.clone(),
                    )
                })
        })
        .collect();
    report.elapsed = start.elapsed();
    report
}
