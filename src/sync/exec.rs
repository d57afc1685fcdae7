//! Running a sync: images in flight `--image-jobs` at a time, each skipped with one HEAD
//! (or one read of `index.json`) when the destination already holds the source's digest,
//! else copied through the same pipeline as `copy`. A line per image on stderr and in the
//! report; without `--keep-going` the first failure stops the rest from starting.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};

use super::endpoints::{current_digest, dest_ref, source_ref, Dest};
use super::plan::{Source, Unit};
use super::report::{classify, Line, Status, Summary, Writer};
use crate::copy::{self, CopyOptions};
use crate::digest::Digest;
use crate::reference::ImageRef;
use crate::transport::{self, registry::RegistryOptions};

/// What a run needs besides the plan.
pub struct Job<'a> {
    pub dest: &'a Dest,
    /// The source options by the unit's settings index (one per YAML registry).
    pub src_opts: &'a [RegistryOptions],
    pub dest_opts: &'a RegistryOptions,
    /// The copy options by settings index (a YAML registry may name its platforms).
    pub copy: &'a [CopyOptions],
    pub image_jobs: usize,
    pub dry_run: bool,
    pub keep_going: bool,
    pub report: &'a Writer,
    pub quiet: bool,
    /// `--referrers`: each image's referrers are copied with it.
    pub referrers: Option<crate::copy::referrers::ReferrerOptions>,
}

fn settings(unit: &Unit) -> usize {
    match unit.from {
        Source::Registry { settings, .. } => settings,
        _ => 0,
    }
}

/// Runs every image of `units`; the summary counts each once.
pub fn run(job: &Job, units: &[Unit]) -> Summary {
    let images: Vec<(&Unit, &str)> = units
        .iter()
        .flat_map(|u| u.tags.iter().map(move |t| (u, t.as_str())))
        .collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let summary = Mutex::new(Summary::default());
    std::thread::scope(|s| {
        for _ in 0..job.image_jobs.clamp(1, images.len().max(1)) {
            s.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((unit, tag)) = images.get(i) else {
                    return;
                };
                let line = one(job, unit, tag);
                // A used-up rate limit stops the run even with --keep-going: every other
                // image would be refused too, until the window ends.
                let limit = line.failure == Some(super::report::Failure::RateLimited);
                if line.status == Status::Failed && (!job.keep_going || limit) {
                    stop.store(true, Ordering::SeqCst);
                }
                if let Err(e) = job.report.write(&line) {
                    tracing::warn!("{e:#}");
                }
                summary.lock().expect("not poisoned").add(&line);
            });
        }
    });
    let mut s = summary.into_inner().expect("not poisoned");
    s.stopped = stop.load(Ordering::SeqCst) && next.load(Ordering::SeqCst) < images.len();
    s
}

/// Copies (or skips) image `tag` of `unit`, and says so on stderr.
fn one(job: &Job, unit: &Unit, tag: &str) -> Line {
    let start = Instant::now();
    let mut line = Line {
        source: format!("{}:{tag}", unit.source),
        destination: String::new(),
        source_digest: None,
        destination_digest: None,
        status: Status::Failed,
        bytes: 0,
        error: None,
        failure: None,
    };
    if let Err(e) = attempt(job, unit, tag, &mut line) {
        line.failure = Some(classify(&e));
        line.error = Some(format!("{e:#}"));
    }
    if !job.quiet {
        let took = start.elapsed().as_secs_f64();
        let what = match line.status {
            Status::Copied => format!(
                "copied {} ({}, {took:.1}s)",
                arrow(&line),
                crate::human_bytes(line.bytes)
            ),
            Status::Skipped => format!("skipped {} (unchanged)", arrow(&line)),
            Status::Planned => format!(
                "would copy {} ({})",
                arrow(&line),
                crate::human_bytes(line.bytes)
            ),
            Status::Failed => format!(
                "FAILED {}: {}",
                arrow(&line),
                line.error.as_deref().unwrap_or_default()
            ),
        };
        eprintln!("sync: {what}");
    }
    line
}

fn arrow(l: &Line) -> String {
    format!("{} → {}", l.source, l.destination)
}

fn attempt(job: &Job, unit: &Unit, tag: &str, line: &mut Line) -> Result<()> {
    line.destination = format!("{}:{tag}", unit.name);
    let src_ref = source_ref(unit, tag)?;
    let dst_ref = dest_ref(job.dest, unit, tag)?;
    line.source = describe(&src_ref);
    line.destination = describe(&dst_ref);
    let sopts = &job.src_opts[settings(unit)];
    let copts = &job.copy[settings(unit)];
    // Both ends are asked at once: on a rerun these two HEADs are all an image costs.
    let (src_digest, at_dest) = std::thread::scope(|s| {
        let dest = s.spawn(|| current_digest(&dst_ref, job.dest_opts));
        let src = source_digest(&src_ref, sopts, copts);
        let dest = dest
            .join()
            .expect("the HEAD of the destination does not panic");
        (src, dest)
    });
    let src_digest = src_digest?;
    line.source_digest = src_digest.as_ref().map(Digest::to_string);
    let at_dest = at_dest?.map(|(d, _)| d);
    line.destination_digest = at_dest.as_ref().map(Digest::to_string);
    let unchanged = match (&src_digest, &at_dest) {
        (Some(s), Some(d)) if s == d => true,
        (Some(_), Some(_)) => same_image(&src_ref, sopts, &dst_ref, job.dest_opts, copts)?,
        _ => false,
    };
    // With --referrers an unchanged image may have new signatures: it is copied again (its
    // blobs are found at the destination, so this costs HEADs).
    if unchanged && job.referrers.is_none() {
        line.status = Status::Skipped;
        return Ok(());
    }
    if job.dry_run {
        line.status = Status::Planned;
        line.bytes = image_bytes(&src_ref, sopts, copts)?;
        return Ok(());
    }
    let src = transport::open_source_with(&src_ref, sopts)?;
    let mut dst = transport::open_destination_with(&dst_ref, job.dest_opts, Some(src.as_ref()))?;
    if let Some(filter) = &job.referrers {
        dst = crate::commands::copy_referrers::prepare(src.as_ref(), dst, copts, filter)
            .map(|(dst, _)| dst)
            .with_context(|| format!("copying the referrers of {}", line.source))?;
    }
    let report = copy::copy_image(src.as_ref(), dst, copts)
        .with_context(|| format!("copying {} to {}", line.source, line.destination))?;
    line.destination_digest = Some(report.written_manifest.digest.to_string());
    line.bytes = report.bytes;
    line.status = Status::Copied;
    Ok(())
}

/// `docker://r.example/lab/app:1`, `oci:/mirror/app:1`.
fn describe(r: &ImageRef) -> String {
    match r {
        ImageRef::Registry(d) => format!("docker://{d}"),
        ImageRef::Layout { dir, tag } | ImageRef::OciArchive { file: dir, tag } => format!(
            "{}:{}{}",
            r.transport(),
            dir.display(),
            tag.as_deref().map(|t| format!(":{t}")).unwrap_or_default()
        ),
        ImageRef::DockerArchive { file, .. } => format!("docker-archive:{}", file.display()),
        ImageRef::Dir { dir } => format!("dir:{}", dir.display()),
        ImageRef::DockerDaemon(d) => format!("docker-daemon:{d}"),
    }
}

/// The digest a copy of `r` would write unconverted: its manifest's, or, for an index of
/// which one platform is copied, that instance's.
fn source_digest(
    r: &ImageRef,
    opts: &RegistryOptions,
    copts: &CopyOptions,
) -> Result<Option<Digest>> {
    let Some((digest, media_type)) = current_digest(r, opts)? else {
        return Err(anyhow::Error::new(NotFound(describe(r))));
    };
    let index = matches!(
        media_type.as_str(),
        "application/vnd.oci.image.index.v1+json"
            | "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    if !index || copts.all || copts.platforms.len() > 1 {
        return Ok(Some(digest));
    }
    let src = transport::open_source_with(r, opts)?;
    let top = copy::load_top(src.as_ref())?;
    let crate::manifest::Parsed::Index(_, idx) = &top.parsed else {
        return Ok(Some(digest));
    };
    let want = copts
        .platforms
        .first()
        .cloned()
        .unwrap_or_else(copy::host_platform);
    Ok(Some(copy::select_platform(idx, &want)?.digest.clone()))
}

/// A source image that is not there.
#[derive(Debug, thiserror::Error)]
#[error("{0}: no such image")]
pub struct NotFound(pub String);

/// Whether the destination holds what a copy would write, under another digest: a copy
/// that converts (a Docker image into a layout becomes OCI) writes another manifest, but
/// the same config (the image ID, which names every layer's content) in the format asked
/// for. Reads both manifests; asked only when both ends have an image and the digests
/// differ.
fn same_image(
    src_ref: &ImageRef,
    sopts: &RegistryOptions,
    dst_ref: &ImageRef,
    dopts: &RegistryOptions,
    copts: &CopyOptions,
) -> Result<bool> {
    if copts.all {
        return Ok(false);
    }
    let config_and_format = |r: &ImageRef, o: &RegistryOptions| -> Result<_> {
        let src = transport::open_source_with(r, o)?;
        let top = copy::load_top(src.as_ref())?;
        let img = copy::image_from_top(src.as_ref(), top, copts.platforms.first())?;
        Ok((img.manifest.config.digest.clone(), img.format))
    };
    let (src_config, _) = config_and_format(src_ref, sopts)?;
    let (dst_config, dst_format) = config_and_format(dst_ref, dopts)?;
    let format_ok = copts.plan.format.is_none_or(|f| f == dst_format);
    Ok(src_config == dst_config && format_ok)
}

/// The bytes of the image a copy of `r` would read: its config and layers (for an index
/// copied whole, those of every instance).
fn image_bytes(r: &ImageRef, opts: &RegistryOptions, copts: &CopyOptions) -> Result<u64> {
    let src = transport::open_source_with(r, opts)?;
    let top = copy::load_top(src.as_ref())?;
    let sum = |m: &crate::manifest::ImageManifest| {
        m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>()
    };
    if let (crate::manifest::Parsed::Index(_, idx), true) = (&top.parsed, copts.all) {
        let mut total = 0;
        for child in &idx.manifests {
            let (_, m, _) = copy::load_child(src.as_ref(), child)?;
            total += sum(&m);
        }
        return Ok(total);
    }
    let img = copy::image_from_top(src.as_ref(), top, copts.platforms.first())?;
    Ok(sum(&img.manifest))
}
