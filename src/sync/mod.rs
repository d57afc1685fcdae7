//! `oci-copy sync`: mirror many images, in parallel, resumable (an unchanged image is
//! skipped with one HEAD, so a rerun copies only what is missing, with no state file), and
//! shardable (`--plan`, `--shard I/N`, `--shard k8s`). The plan is in `plan.rs`, the run in
//! `exec.rs`, where each image is read and written in `endpoints.rs`, and what happened in
//! `report.rs`.

pub mod config;
pub mod endpoints;
pub mod exec;
pub mod plan;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::{SyncArgs, SyncDest, SyncSource};
use crate::commands::Exit;
use crate::copy::CopyOptions;
use crate::transport::registry::RegistryOptions;
use endpoints::Dest;
use plan::Unit;
use report::{Summary, EXIT_CONFIG};

/// Runs `sync`.
pub fn run(args: SyncArgs, quiet: bool) -> Result<()> {
    if !args.merge_reports.is_empty() {
        let s = report::merge(&args.merge_reports)?;
        println!("{}", s.line());
        return finish(&s);
    }
    refuse_with_referrers(&args).map_err(config_error)?;
    let (mut units, src_opts, copy) = plan_units(&args).map_err(config_error)?;
    if args.referrers {
        units.iter_mut().for_each(plan::drop_referrer_tags);
    }
    let units = shard(units, args.shard.as_deref()).map_err(config_error)?;
    if args.plan {
        let text = serde_json::to_string_pretty(&units)? + "\n";
        return crate::commands::print(text.as_bytes());
    }
    let dest = destination(&args).map_err(config_error)?;
    let writer = report::Writer::create(args.report.as_deref())?;
    crate::progress::init(true);
    let start = Instant::now();
    let job = exec::Job {
        dest: &dest,
        src_opts: &src_opts,
        dest_opts: &args.registry.destination(),
        copy: &copy,
        image_jobs: args.image_jobs as usize,
        dry_run: args.dry_run,
        keep_going: args.keep_going,
        report: &writer,
        quiet,
        referrers: args
            .referrers
            .then(|| crate::copy::referrers::ReferrerOptions {
                artifact_types: args.referrers_filter.clone(),
            }),
    };
    let summary = exec::run(&job, &units);
    if let Dest::Bundle(path) = &dest {
        if !args.dry_run && path.extension().is_some_and(|e| e == "tar") {
            pack_bundle(path)?;
        }
    }
    if !quiet {
        let stopped = match summary.stopped {
            true => " (stopped at the first failure; --keep-going runs the rest)",
            false => "",
        };
        eprintln!(
            "sync: {} in {:.1}s{stopped}",
            summary.line(),
            start.elapsed().as_secs_f64()
        );
    }
    finish(&summary)
}

/// Exit as the summary calls for.
fn finish(s: &Summary) -> Result<()> {
    match s.exit_status() {
        0 => Ok(()),
        code => Err(anyhow::Error::new(Exit {
            code,
            message: format!("sync: {}", s.line()),
        })),
    }
}

/// A mistake in what the user asked for: exit 78, do not retry. A failure to reach a
/// registry while planning (listing tags) keeps its own class.
fn config_error(e: anyhow::Error) -> anyhow::Error {
    let reached = crate::retry::find::<crate::transport::registry::errors::RegistryError>(&e)
        .is_some()
        || crate::retry::is_temporary(&e, crate::transport::registry::errors::classify);
    if reached {
        return e;
    }
    anyhow::Error::new(Exit {
        code: EXIT_CONFIG,
        message: format!("{e:#}"),
    })
}

type Planned = (Vec<Unit>, Vec<RegistryOptions>, Vec<CopyOptions>);

/// The units, and the source and copy options by settings index.
fn plan_units(args: &SyncArgs) -> Result<Planned> {
    let source = args.source.as_deref().expect("clap requires SOURCE");
    let base_opts = args.registry.source();
    let base_copy = copy_options(args, &args.platform)?;
    Ok(match args.src.expect("clap requires --src") {
        SyncSource::Docker => {
            let units = plan::from_registry(source, &base_opts, args.scoped)?;
            (units, vec![base_opts], vec![base_copy])
        }
        SyncSource::Yaml => {
            let configs = config::load(Path::new(source))?;
            let mut opts = Vec::new();
            let mut copies = Vec::new();
            for c in &configs {
                opts.push(RegistryOptions {
                    creds: c.creds.clone().or_else(|| base_opts.creds.clone()),
                    tls_verify: c.tls_verify.or(base_opts.tls_verify),
                    cert_dir: c.cert_dir.clone().or_else(|| base_opts.cert_dir.clone()),
                    ..base_opts.clone()
                });
                copies.push(match c.platforms.is_empty() {
                    true => base_copy.clone(),
                    false => copy_options(args, &c.platforms)?,
                });
            }
            (plan::from_yaml(&configs, &opts, args.scoped)?, opts, copies)
        }
        SyncSource::Dir => {
            let units = plan::from_layouts(Path::new(source), args.scoped)?;
            (units, vec![base_opts], vec![base_copy])
        }
        SyncSource::Bundle => {
            let units = plan::from_bundle(Path::new(source), args.scoped)?;
            (units, vec![base_opts], vec![base_copy])
        }
    })
}

fn copy_options(args: &SyncArgs, platforms: &[String]) -> Result<CopyOptions> {
    use crate::convert::{GzipStyle, PlanOptions};
    Ok(CopyOptions {
        plan: PlanOptions {
            // Referrers name their subjects by digest: none may change.
            preserve_digests: args.conversion.preserve_digests || args.referrers,
            ..args.conversion.plan_options(GzipStyle::Members)
        },
        jobs: args.jobs as usize,
        platforms: platforms
            .iter()
            .map(|p| crate::cli::parse_platform(p))
            .collect::<Result<_>>()?,
        all: args.all,
        index_only: false,
    })
}

/// What `--referrers` cannot go with, refused before anything is read.
fn refuse_with_referrers(args: &SyncArgs) -> Result<()> {
    match args.referrers {
        true => args.conversion.refuse_with_referrers(),
        false => Ok(()),
    }
}

fn destination(args: &SyncArgs) -> Result<Dest> {
    let d = args.destination.clone().expect("clap requires DESTINATION");
    Ok(match args.dest.expect("clap requires --dest") {
        SyncDest::Docker => Dest::Registry(d),
        SyncDest::Dir => Dest::Layouts(PathBuf::from(d)),
        SyncDest::Bundle => Dest::Bundle(PathBuf::from(d)),
    })
}

/// The units of `--shard I/N` or `--shard k8s`; all of them without `--shard`.
fn shard(units: Vec<Unit>, arg: Option<&str>) -> Result<Vec<Unit>> {
    let Some(arg) = arg else { return Ok(units) };
    let (i, n) = match arg {
        "k8s" => {
            let var = |name: &str| -> Result<usize> {
                let v = std::env::var(name)
                    .map_err(|_| anyhow!("--shard k8s: {name} is not set (a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX; set JOB_COMPLETIONS to the Job's completions)"))?;
                v.parse()
                    .map_err(|_| anyhow!("--shard k8s: {name}={v:?} is not a number"))
            };
            (var("JOB_COMPLETION_INDEX")?, var("JOB_COMPLETIONS")?)
        }
        s => {
            let parsed = s
                .split_once('/')
                .and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
            parsed.ok_or_else(|| anyhow!("--shard {s:?}: expected I/N (0/3, 1/3, 2/3) or k8s"))?
        }
    };
    if n == 0 || i >= n {
        bail!("--shard {i}/{n}: I must be below N (shards count from 0)");
    }
    Ok(units
        .into_iter()
        .filter(|u| plan::shard_of(u, n) == i)
        .collect())
}

/// Archives the bundle's staging layout into the `.tar`, written beside it and renamed.
fn pack_bundle(path: &Path) -> Result<()> {
    let dir = endpoints::staging(path);
    if !dir.join("index.json").exists() {
        return Ok(());
    }
    let tmp = path.with_extension("tar.partial");
    let write = || -> Result<()> {
        let f = std::fs::File::create(&tmp)?;
        let mut b = tar::Builder::new(std::io::BufWriter::new(f));
        b.mode(tar::HeaderMode::Deterministic);
        b.follow_symlinks(false);
        for name in ["oci-layout", "index.json"] {
            b.append_path_with_name(dir.join(name), name)?;
        }
        b.append_dir_all("blobs", dir.join("blobs"))?;
        let w = b.into_inner()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    };
    write()
        .with_context(|| {
            format!(
                "writing the bundle {} from {}",
                path.display(),
                dir.display()
            )
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}
