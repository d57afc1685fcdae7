//! The `registries.conf` in force for a command (see `registries_conf.rs`) and what it does
//! to a registry name: a short name's alias resolved, `insecure` applied, and for a pull
//! the mirrors tried, in order, before the primary location, as containers/image tries
//! them: a source is taken when it serves the top manifest, and any failure moves on to
//! the next.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::registries_conf::{PullSource, RegistriesConf};
use super::{RegistryOptions, RegistrySource};
use crate::reference::DockerRef;

/// The file to read, and whether it must exist: `--registries-conf` or
/// `$CONTAINERS_REGISTRIES_CONF` (must), else `~/.config/containers/registries.conf`, else
/// `/etc/containers/registries.conf`.
fn conf_path(explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(f) = explicit
        .map(Path::to_path_buf)
        .or_else(|| env("CONTAINERS_REGISTRIES_CONF").map(PathBuf::from))
    {
        return Some((f, true));
    }
    let user = env("HOME").map(|h| PathBuf::from(h).join(".config/containers/registries.conf"));
    user.into_iter()
        .chain([PathBuf::from("/etc/containers/registries.conf")])
        .find(|p| p.is_file())
        .map(|p| (p, false))
}

/// The configuration the options name, or the one found where containers look; `None`
/// when there is none.
pub(super) fn load(opts: &RegistryOptions) -> Result<Option<RegistriesConf>> {
    let Some((file, required)) = conf_path(opts.registries_conf.as_deref()) else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => bail!(
            "reading the registries configuration {}: {e}",
            file.display()
        ),
    };
    tracing::debug!("registries configuration: {}", file.display());
    RegistriesConf::parse(&text, &file).map(Some)
}

/// `r`, or its alias when it is a short name with one.
fn aliased(r: &DockerRef, conf: Option<&RegistriesConf>) -> DockerRef {
    match conf.and_then(|c| c.alias(r)) {
        Some(a) => {
            tracing::debug!(
                "{} is an alias of {a} (in {})",
                r.familiar(),
                conf.map_or(String::new(), |c| c.file.display().to_string())
            );
            a
        }
        None => r.clone(),
    }
}

/// The options with `insecure` applied where the command line left `--tls-verify` unset.
fn with_insecure(opts: &RegistryOptions, insecure: bool) -> RegistryOptions {
    RegistryOptions {
        tls_verify: opts.tls_verify.or((insecure).then_some(false)),
        ..opts.clone()
    }
}

/// `r` with its alias applied, and the options with its `insecure`: for a push, a tag
/// list or a delete, which go to the name itself (mirrors serve pulls only).
pub(super) fn resolve(
    r: &DockerRef,
    opts: &RegistryOptions,
) -> Result<(DockerRef, RegistryOptions)> {
    let conf = load(opts)?;
    let r = aliased(r, conf.as_ref());
    let insecure = conf.as_ref().is_some_and(|c| c.insecure(&r));
    Ok((r.clone(), with_insecure(opts, insecure)))
}

/// Opens `r` for pulling: from the first of its mirrors that serves its manifest, else
/// from its primary location. Failing everywhere, the primary's error is the one
/// reported, with the mirrors' before it.
pub(super) fn open_source(r: &DockerRef, opts: &RegistryOptions) -> Result<RegistrySource> {
    let conf = load(opts)?;
    let r = aliased(r, conf.as_ref());
    let sources = match &conf {
        Some(c) => c.pull_sources(&r)?,
        None => vec![PullSource {
            name: r.clone(),
            insecure: false,
            mirror: false,
        }],
    };
    if let [only] = sources.as_slice() {
        return RegistrySource::open_direct(&only.name, &with_insecure(opts, only.insecure));
    }
    let mut failed = Vec::new();
    for s in &sources {
        let o = with_insecure(opts, s.insecure);
        let opened =
            RegistrySource::open_direct(&s.name, &o).and_then(|src| src.prefetch().map(|()| src));
        match opened {
            Ok(src) => {
                if s.mirror {
                    tracing::info!("pulling docker://{r} from its mirror docker://{}", s.name);
                }
                return Ok(src);
            }
            Err(e) if s.mirror => {
                tracing::debug!("the mirror docker://{} failed: {e:#}", s.name);
                failed.push(format!("docker://{}: {e:#}", s.name));
            }
            Err(e) => {
                return Err(e.context(format!("the mirrors failed first ({})", failed.join("; "))));
            }
        }
    }
    unreachable!("the primary location is the last source")
}
