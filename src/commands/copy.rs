//! `oci-copy [copy] SRC DST`: opens both ends, copies through the verifying pipeline, and
//! prints the summary (what was copied, skipped or mounted, and every digest that changed).

use std::io::Write;

use anyhow::{Context, Result};

use super::copy_referrers as with_referrers;
use crate::cli::CopyArgs;
use crate::copy::{self, CopyReport};
use crate::reference::ImageRef;
use crate::{human_bytes, progress, transport};

/// Runs `copy`.
pub(super) fn run(args: CopyArgs, quiet: bool) -> Result<()> {
    let src_ref = ImageRef::parse(&args.source)?;
    let dst_ref = ImageRef::parse(&args.destination)?;
    let mut opts = args.copy_options()?;
    if args.referrers {
        with_referrers::refuse_conversions(&args, &dst_ref)?;
        opts.plan.preserve_digests = true;
    }
    opts.plan.layers = args.layer_policy(&dst_ref)?;
    let src = transport::open_source_with(&src_ref, &args.registry.source())?;
    let mut dst = transport::open_destination_with(
        &dst_ref,
        &args.registry.destination(),
        Some(src.as_ref()),
    )?;
    if !args.additional_tag.is_empty() {
        dst.add_names(&args.additional_tag)?;
    }
    let dst_name = dst.describe();
    progress::init(quiet);
    let (dst, tree) = match args.referrers {
        true => {
            let filter = copy::referrers::ReferrerOptions {
                artifact_types: args.referrers_filter.clone(),
            };
            let (dst, tree) = with_referrers::prepare(src.as_ref(), dst, &opts, &filter)
                .with_context(|| {
                    format!("copying the referrers of {} to {dst_name}", src.describe())
                })?;
            (dst, Some(tree))
        }
        false => (dst, None),
    };
    let result = copy::copy_image(src.as_ref(), dst, &opts);
    progress::global().finish();
    let report = result.with_context(|| format!("copying {} to {dst_name}", src.describe()))?;
    if let Some(path) = &args.digestfile {
        std::fs::write(path, report.written_manifest.digest.to_string())
            .with_context(|| format!("writing the digest file {}", path.display()))?;
    }
    if !quiet {
        print_report(&report, &src.describe(), &dst_name);
        if let Some(tree) = &tree {
            with_referrers::print_summary(tree);
        }
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
    if r.repeated_blobs + r.repeated_manifests > 0 {
        let _ = writeln!(
            e,
            "  repeats: {} blobs and {} manifests listed again, each handled once",
            r.repeated_blobs, r.repeated_manifests
        );
    }
}
