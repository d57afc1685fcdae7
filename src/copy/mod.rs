//! Copying an image: load and verify the manifest and config, plan the conversion, copy
//! the blobs (several at once), rewrite the manifest if the plan says so, then commit.
//! Every manifest is checked against the digest that references it, and every blob
//! streams through the verifying reader.

pub mod blob;
mod dedup;
pub mod index;
mod load;
#[cfg(test)]
mod memory;
#[cfg(test)]
mod memory_tests;
pub mod negotiate;
pub mod pgzip;
mod readahead;
pub mod referrers;
mod report;
mod repush;
// The verifying reader sits below the transports, which use its hashing readers too.
pub use crate::verify;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::convert::{self, LayerAction, PlanOptions};
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, ImageManifest, Parsed, Platform};
use crate::media_type as mt;
use crate::transport::{ImageDestination, ImageSource, Reuse};
use blob::{copy_layer, copy_verbatim, BlobOutcome};
use dedup::{Seen, Step};
pub use load::{
    host_platform, image_from_top, image_with_config, list_platforms, load_child, load_image,
    load_top, select_platform, verify_bytes, LoadedImage, LoadedTop,
};
use report::changed_layers;
pub use report::CopyReport;

/// Options for one copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub plan: PlanOptions,
    /// How many blobs to copy at once.
    pub jobs: usize,
    /// Which instances of an index to copy: one gives a single image, several an index of
    /// just those; none means this machine's platform.
    pub platforms: Vec<Platform>,
    /// Copy the whole index (`--all`).
    pub all: bool,
    /// Copy the index alone, whose instances the destination must have already
    /// (`--multi-arch index-only`).
    pub index_only: bool,
}

/// Copies the image `src` selects into `dst` and commits it.
pub fn copy_image(
    src: &dyn ImageSource,
    dst: Box<dyn ImageDestination>,
    opts: &CopyOptions,
) -> Result<CopyReport> {
    let start = Instant::now();
    let top = load_top(src)?;
    if let Parsed::Index(format, idx) = &top.parsed {
        if opts.index_only {
            return index::copy_index_only(dst, &top, *format, idx, opts, start);
        }
        if opts.all || opts.platforms.len() > 1 {
            return index::copy_index(src, dst, &top, *format, idx, opts, start);
        }
    }
    let img = image_from_top(src, top, opts.platforms.first())?;
    if !manifest::is_image(&img.manifest) {
        return copy_artifact(src, dst, &img, opts, start);
    }
    let plan = plan_image(src, dst.as_ref(), &img, &opts.plan)?;
    let (config, outcomes, (bytes, desc)) = repush::with_repush(dst.as_ref(), |dst| {
        let (config, outcomes) = config_and_layers(src, dst, &img, &plan, opts.jobs)?;
        let first = planned_manifest(&img, &plan, &outcomes)?;
        let put = negotiate::put_manifest(dst, &img, &plan, &outcomes, first, &opts.plan)?;
        Ok((config, outcomes, put))
    })?;
    let mut report = CopyReport::new(img.descriptor.clone(), desc.clone());
    report.count_config(Some(config), img.config_raw.len());
    outcomes.iter().for_each(|o| report.count(o));
    report.changed = changed_layers(&img.manifest.layers, &outcomes);
    // The destination's commit writes its metadata, the peak of memory for an image of
    // thousands of layers: what the copy holds of the image goes first.
    drop((outcomes, plan, img));
    dst.commit(&bytes, &desc)?;
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Stores the config and copies the layers: the config beside the layers where the
/// destination takes blobs in any order and several blobs may be in flight (its round trips
/// are then off the longest layer's path), before them where it takes them in order or
/// `--jobs 1` asked for one blob at a time.
fn config_and_layers(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    img: &LoadedImage,
    plan: &convert::Plan,
    jobs: usize,
) -> Result<(Reuse, Vec<BlobOutcome>)> {
    let put_config = || {
        dst.put_bytes(&img.config_raw, &config_descriptor(img, plan))
            .context("storing the config")
    };
    if dst.caps().sequential || jobs <= 1 {
        let config = put_config()?;
        return Ok((
            config,
            copy_layers(src, dst, img, plan, jobs, &Seen::default())?,
        ));
    }
    std::thread::scope(|s| {
        let config = s.spawn(put_config);
        let layers = copy_layers(src, dst, img, plan, jobs, &Seen::default());
        let config = config.join().expect("storing the config does not panic")?;
        Ok((config, layers?))
    })
}

/// Plans the copy of `img` into `dst` and checks the plan against the config, before any
/// byte moves.
fn plan_image(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    img: &LoadedImage,
    opts: &PlanOptions,
) -> Result<convert::Plan> {
    let plan = convert::plan(img.format, &img.manifest, &dst.caps(), opts)?;
    img.config.check_layer_count(img.manifest.layers.len())?;
    check_plain_layers(img, &plan)?;
    tracing::debug!(
        "plan for {} → {}: {}",
        src.describe(),
        dst.describe(),
        if plan.rewrite {
            plan.reasons().join(", ")
        } else {
            "copy as is".to_string()
        }
    );
    Ok(plan)
}

/// The config's descriptor at the destination: its bytes stay, its type is the plan's.
pub(super) fn config_descriptor(img: &LoadedImage, plan: &convert::Plan) -> Descriptor {
    Descriptor {
        media_type: plan.format.config_type().to_string(),
        ..img.manifest.config.clone()
    }
}

/// The manifest to offer first: the source's own bytes, or its rewrite in the planned
/// format with the layers as written.
fn planned_manifest(
    img: &LoadedImage,
    plan: &convert::Plan,
    outcomes: &[BlobOutcome],
) -> Result<(Vec<u8>, Descriptor)> {
    if !plan.rewrite {
        return Ok((img.raw.clone(), img.descriptor.clone()));
    }
    let layers = outcomes.iter().map(|o| o.written.clone()).collect();
    let bytes = convert::rewrite_manifest(&img.manifest, plan.format, layers)?;
    let desc = Descriptor::of_bytes(plan.format.manifest_type(), &bytes);
    Ok((bytes, desc))
}

/// An uncompressed layer's digest is its diff_id: check that before moving any bytes. A
/// digest in another algorithm than the diff_id (a sha512 layer, a sha256 diff_id) cannot
/// be compared: the copy hashes the layer in the diff_id's algorithm and checks it then.
pub(super) fn check_plain_layers(img: &LoadedImage, plan: &convert::Plan) -> Result<()> {
    for (i, ((l, lp), diff_id)) in img
        .manifest
        .layers
        .iter()
        .zip(&plan.layers)
        .zip(img.config.diff_ids())
        .enumerate()
    {
        let plain = matches!(mt::kind_of(&l.media_type), mt::Kind::Layer(t) if t.compression == mt::Compression::None);
        let comparable = l.digest.algorithm() == diff_id.algorithm();
        if plain && comparable && lp.action == LayerAction::Keep && &l.digest != diff_id {
            bail!("layer {} is uncompressed, so its digest {} must equal the config's diff_id {diff_id}", i + 1, l.digest);
        }
    }
    Ok(())
}

/// Copies the layers, `jobs` at a time (one at a time, in order, into a destination that
/// takes blobs in order). Stops starting new ones after the first failure. A layer that
/// repeats one listed before, or one `seen` has (from another image of this copy), is not
/// copied again: it gets the digest and size written for the first.
pub(super) fn copy_layers(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    img: &LoadedImage,
    plan: &convert::Plan,
    jobs: usize,
    seen: &Seen,
) -> Result<Vec<BlobOutcome>> {
    let jobs = if dst.caps().sequential { 1 } else { jobs };
    let layers = &img.manifest.layers;
    let diff_ids = img.config.diff_ids();
    let steps = seen.steps(layers, &plan.layers, diff_ids);
    // Only first occurrences are copied, so no two workers ever write the same blob.
    let mut todo: Vec<usize> = (0..steps.len())
        .filter(|&i| steps[i] == Step::Copy)
        .collect();
    // Several at a time, the largest first: a copy lasts at least as long as its largest
    // layer's one stream, so that one starts at once and the small ones fill in beside it.
    if jobs > 1 {
        todo.sort_by_key(|&i| std::cmp::Reverse(layers[i].size));
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<BlobOutcome>>>> =
        Mutex::new((0..layers.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, todo.len().max(1)) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= todo.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let i = todo[k];
                let layer = &layers[i];
                let r = copy_layer(src, dst, layer, &plan.layers[i], diff_ids.get(i))
                    .with_context(|| layer_name(i, layer, diff_ids.get(i), src));
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                results.lock().expect("no thread panics holding the lock")[i] = Some(r);
            });
        }
    });
    let results = results
        .into_inner()
        .expect("no thread panics holding the lock");
    outcomes(layers, plan, steps, results)
}

/// Each layer's outcome: its copy's, or for a repeat the first occurrence's blob.
fn outcomes(
    layers: &[Descriptor],
    plan: &convert::Plan,
    steps: Vec<Step>,
    results: Vec<Option<Result<BlobOutcome>>>,
) -> Result<Vec<BlobOutcome>> {
    let mut out: Vec<BlobOutcome> = Vec::with_capacity(layers.len());
    for (i, (r, step)) in results.into_iter().zip(steps).enumerate() {
        let media_type = &plan.layers[i].media_type;
        let outcome = match (step, r) {
            (Step::Written(digest, size), _) => {
                BlobOutcome::repeat(&layers[i], media_type, &digest, size)
            }
            (Step::SameAs(j), _) => {
                let first = &out[j].written;
                BlobOutcome::repeat(&layers[i], media_type, &first.digest, first.size)
            }
            (Step::Copy, Some(r)) => r?,
            (Step::Copy, None) => bail!("copy aborted"),
        };
        out.push(outcome);
    }
    Ok(out)
}

fn layer_name(i: usize, l: &Descriptor, diff_id: Option<&Digest>, src: &dyn ImageSource) -> String {
    let is_diff_id = diff_id == Some(&l.digest);
    format!(
        "layer {} ({}{}) of {}",
        i + 1,
        l.digest,
        if is_diff_id {
            ", named by the config's diff_id"
        } else {
            ""
        },
        src.describe()
    )
}

/// Copies a non-image artifact (Helm chart, signature, SBOM) unchanged. Artifacts are
/// never converted: their media types mean something to another tool.
fn copy_artifact(
    src: &dyn ImageSource,
    dst: Box<dyn ImageDestination>,
    img: &LoadedImage,
    opts: &CopyOptions,
    start: Instant,
) -> Result<CopyReport> {
    let caps = dst.caps();
    let forced = opts.plan.format.is_some_and(|f| f != img.format);
    if forced || !caps.formats.contains(&img.format) {
        bail!(
            "{} is an artifact (config type {:?}), not a container image; artifacts are copied unchanged and cannot be converted to {}",
            src.describe(),
            img.manifest.config.media_type,
            opts.plan.format.unwrap_or(caps.formats[0]).name()
        );
    }
    let mut report = CopyReport::new(img.descriptor.clone(), img.descriptor.clone());
    for o in copy_as_is(src, dst.as_ref(), &img.manifest, &mut Seen::default())? {
        report.count(&o);
    }
    dst.put_manifest(&img.raw, &img.descriptor)?;
    dst.commit(&img.raw, &img.descriptor)?;
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Copies the config and then the layers of `m` byte for byte, one at a time, each
/// distinct blob once (an artifact's config and layer are often the same `{}`).
pub(super) fn copy_as_is(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    m: &ImageManifest,
    seen: &mut Seen,
) -> Result<Vec<BlobOutcome>> {
    let mut outcomes = Vec::new();
    for d in std::iter::once(&m.config).chain(&m.layers) {
        let outcome = match seen.written(d, None, None) {
            Some(_) => BlobOutcome::repeat(d, &d.media_type, &d.digest, d.size),
            None => copy_verbatim(src, dst, d, d.clone())
                .with_context(|| format!("blob {} of {}", d.digest, src.describe()))?,
        };
        seen.record(d, None, None, &outcome.written);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
