//! `copy --referrers`: refusals before any I/O, then the referrers found and checked, and
//! their blobs copied, before the image; the destination wrapped so that its commit writes
//! the referrer manifests (see `copy::referrers`).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{bail, Context, Result};

use crate::cli::CopyArgs;
use crate::copy::referrers::{self, ReferrerOptions, Tree};
use crate::copy::CopyOptions;
use crate::reference::ImageRef;
use crate::transport::referrers::How;
use crate::transport::{ImageDestination, ImageSource};

/// What `--referrers` cannot go with, refused before anything is opened.
pub(super) fn refuse_conversions(args: &CopyArgs, dst: &ImageRef) -> Result<()> {
    if let ImageRef::DockerArchive { .. } = dst {
        bail!(
            "--referrers: a docker-archive cannot hold referrers (signatures, SBOMs, \
             attestations): it stores images and their tags only; copy to oci: or \
             oci-archive: to keep them"
        );
    }
    args.conversion.refuse_with_referrers()
}

/// Finds the referrers of what the copy writes, refuses on any problem, checks that the
/// destination can record them, copies their blobs, and wraps `dst` to write the rest.
pub(crate) fn prepare(
    src: &dyn ImageSource,
    dst: Box<dyn ImageDestination>,
    opts: &CopyOptions,
    filter: &ReferrerOptions,
) -> Result<(Box<dyn ImageDestination>, Tree)> {
    let Some(sink) = dst.referrer_sink() else {
        bail!("{} cannot hold referrers", dst.describe());
    };
    let subjects = referrers::subjects_of(src, opts)?;
    let tree = referrers::find(src, &subjects, filter)?;
    tree.refuse_problems()
        .map_err(|e| anyhow::anyhow!("{e:#}; nothing was written"))?;
    let mut listed: Vec<_> = tree
        .referrers
        .iter()
        .filter(|r| !matches!(r.how, How::LegacyTag(_)))
        .map(|r| r.subject.clone())
        .collect();
    listed.dedup();
    sink.check(&listed)
        .context("checking the destination before writing")?;
    referrers::copy_blobs(src, dst.as_ref(), &tree)?;
    Ok((referrers::attach(dst, tree.clone()), tree))
}

/// `  3 referrers copied: 1 application/spdx+json, 1 cosign tag, ...`
pub(super) fn print_summary(tree: &Tree) {
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for r in &tree.referrers {
        let kind = match &r.how {
            How::LegacyTag(t) => format!("cosign tag .{}", t.rsplit('.').next().unwrap_or("")),
            _ => r
                .descriptor
                .artifact_type
                .clone()
                .unwrap_or_else(|| "(no artifactType)".into()),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let _ = writeln!(
        std::io::stderr().lock(),
        "  {} referrers copied{}{}",
        tree.referrers.len(),
        if list.is_empty() { "" } else { ": " },
        list.join(", ")
    );
}
