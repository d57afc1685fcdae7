//! oci-copy: copy container images between registries, OCI layouts and docker archives,
//! converting between Docker v2s2 and OCI, and verifying every byte against its digest.
//! The binary (`main.rs`) is a thin shell over [`run`].

pub mod cleanup;
pub mod cli;
pub mod convert;
pub mod copy;
pub mod digest;
pub mod disk;
pub mod inspect;
pub mod manifest;
pub mod media_type;
pub mod platform;
pub mod probe_cmd;
pub mod progress;
pub mod reference;
pub mod retry;
pub mod sweep;
pub mod transport;
pub mod verify_cmd;

use std::io::Write;

use anyhow::{bail, Context, Result};

use cli::{Cli, Command, CopyArgs, InspectArgs};
use copy::{CopyOptions, CopyReport};
use manifest::Platform;
use reference::ImageRef;

/// stdout was closed by its reader (`oci-copy inspect … | head -c1`): not a failure of
/// oci-copy, so the binary exits 0 quietly, as ripgrep does.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct StdoutClosed;

/// Writes `bytes` to stdout and flushes; a reader that went away is [`StdoutClosed`].
pub fn print(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        r => Ok(r?),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Copy(args) => run_copy(args, cli.quiet),
        Command::Inspect(args) => run_inspect(args),
        Command::Completions(args) => {
            let mut out = Vec::new();
            cli::write_completions(args.shell, &mut out);
            print(&out)
        }
        Command::ListTags(args) => run_list_tags(args),
        Command::Verify(args) => run_verify(args, cli.quiet),
        Command::Probe(args) => probe_cmd::run(args),
    }
}

fn run_copy(args: CopyArgs, quiet: bool) -> Result<()> {
    let src_ref = ImageRef::parse(&args.source)?;
    let dst_ref = ImageRef::parse(&args.destination)?;
    let opts = CopyOptions {
        plan: convert::PlanOptions {
            format: args.format.map(Into::into),
            compress: args.dest_compress_format.map(Into::into),
            level: args.dest_compress_level,
            preserve_digests: args.preserve_digests,
            gzip_style: if args.single_member_gzip {
                convert::GzipStyle::Single
            } else {
                convert::GzipStyle::Members
            },
        },
        jobs: args.jobs as usize,
        platforms: args
            .platform
            .iter()
            .map(|p| parse_platform(p))
            .collect::<Result<_>>()?,
        all: args.all,
    };
    let src = transport::open_source_with(&src_ref, &args.registry.source())?;
    let dst =
        transport::open_destination_with(&dst_ref, &args.registry.destination(), Some(&src_ref))?;
    let dst_name = dst.describe();
    progress::init(quiet);
    let result = copy::copy_image(src.as_ref(), dst, &opts);
    progress::global().finish();
    let report = result.with_context(|| format!("copying {} to {dst_name}", src.describe()))?;
    if let Some(path) = &args.digestfile {
        std::fs::write(path, report.written_manifest.digest.to_string())
            .with_context(|| format!("writing the digest file {}", path.display()))?;
    }
    if !quiet {
        print_report(&report, &src.describe(), &dst_name);
    }
    Ok(())
}

fn print_report(r: &CopyReport, src: &str, dst: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "Copied {src} → {dst}");
    let _ = writeln!(e, "  manifest {}", r.written_manifest.digest);
    if r.source_manifest.digest != r.written_manifest.digest {
        let _ = writeln!(
            e,
            "  converted: manifest {} → {}",
            r.source_manifest.digest, r.written_manifest.digest
        );
        for (what, old, new) in &r.changed {
            let _ = writeln!(e, "  converted: {what} {old} → {new}");
        }
    }
    let _ = writeln!(
        e,
        "  {} blobs copied, {} skipped, {} mounted, {} in {:.2}s",
        r.copied,
        r.skipped,
        r.mounted,
        human_bytes(r.bytes),
        r.elapsed.as_secs_f64()
    );
}

/// `1.5 MiB`
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn run_inspect(args: InspectArgs) -> Result<()> {
    let r = ImageRef::parse(&args.image)?;
    let src = transport::open_source_with(&r, &args.registry.options())?;
    let mode = match (args.raw, args.config) {
        _ if args.platforms => inspect::InspectMode::Platforms,
        (true, _) => inspect::InspectMode::Raw,
        (_, true) => inspect::InspectMode::Config,
        _ => inspect::InspectMode::Summary,
    };
    let platform = args.platform.as_deref().map(parse_platform).transpose()?;
    let out = inspect::inspect(&r, src.as_ref(), mode, platform.as_ref())
        .with_context(|| format!("inspecting {}", src.describe()))?;
    print(&out)
}

/// `list-tags docker://HOST/REPO`: every tag, following pagination, as skopeo prints them.
fn run_list_tags(args: cli::ListTagsArgs) -> Result<()> {
    let r = ImageRef::parse(&args.repository)?;
    let ImageRef::Registry(d) = r else {
        bail!("list-tags reads a registry: use docker://HOST[:PORT]/REPO");
    };
    let name = args.repository.trim_start_matches("docker://");
    if name.contains('@')
        || name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        bail!(
            "list-tags takes a repository without a tag or digest: docker://{}",
            d.repository()
        );
    }
    let tags =
        transport::registry::list_tags(&d, &args.registry.options(), args.page_size as usize)
            .with_context(|| format!("listing the tags of docker://{}", d.repository()))?;
    let out = serde_json::json!({ "Repository": d.repository(), "Tags": tags });
    let mut text = serde_json::to_vec_pretty(&out)?;
    text.push(b'\n');
    print(&text)
}

/// `verify`: prints the report (problems only with `--quiet`) and fails on any problem.
fn run_verify(args: cli::VerifyArgs, quiet: bool) -> Result<()> {
    let r = ImageRef::parse(&args.image)?;
    let report = verify_cmd::verify_reference(&r, args.all, &args.registry.options())?;
    let problems = report.problems();
    let text = match quiet {
        false => report.render(),
        true => problems.iter().map(|p| format!("{p}\n")).collect(),
    };
    print(text.as_bytes())?;
    match problems.as_slice() {
        [] => Ok(()),
        [one] => bail!("{}: {one}", args.image),
        many if many.len() <= 3 => {
            bail!(
                "{}: {} problems: {}",
                args.image,
                many.len(),
                many.join("; ")
            )
        }
        many => bail!(
            "{}: {} problems: {}; and {} more (listed on stdout)",
            args.image,
            many.len(),
            many[..3].join("; "),
            many.len() - 3
        ),
    }
}

/// Parses `OS/ARCH[/VARIANT]`.
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: parts
                .get(2)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string()),
            ..Default::default()
        }),
        _ => bail!("invalid platform {s:?}: expected OS/ARCH[/VARIANT], e.g. linux/arm64/v8"),
    }
}
