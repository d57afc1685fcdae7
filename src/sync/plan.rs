//! The plan of a sync: the repositories to copy, each with its tags, expanded from the
//! source (a registry repository, skopeo's YAML file, a directory of layouts, a bundle),
//! and the share of it one worker runs (`--shard`). A unit is a repository, not a tag, so
//! that shared layers and mounts stay on one worker and a CI matrix stays under its limit.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::config::{RegistryConfig, RepoRule};
use crate::reference::{DockerRef, ImageRef};
use crate::transport::registry::{self, RegistryOptions};

/// Where the images come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A repository of a registry (`--src docker`); `settings` indexes the options.
    Registry { repo: DockerRef, settings: usize },
    /// A layout directory (`--src dir`).
    Layout(PathBuf),
    /// A bundle: one layout or oci-archive whose ref names are full references.
    Bundle { path: PathBuf, repo: String },
}

/// One repository to copy and the tags (or digests) to take from it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unit {
    /// `registry.example.com/lab/app`, or the layout's path.
    pub source: String,
    /// The repository name at the destination, before the destination's own prefix:
    /// `app`, or `registry.example.com/lab/app` with `--scoped`.
    pub name: String,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub from: Source,
}

/// The repository `name` of `repo` (`lab/app` of `registry.example.com`) at the destination:
/// its last component, or the full name with `--scoped` (as skopeo sync names them), where
/// a port's colon, which a repository name cannot hold, becomes `_`
/// (`127.0.0.1_5000/lab/app`).
pub fn dest_name(registry: &str, repo: &str, scoped: bool) -> String {
    match scoped {
        true => format!("{}/{repo}", registry.replace(':', "_")),
        false => repo.rsplit('/').next().unwrap_or(repo).to_string(),
    }
}

/// The units of `--src docker REPO[:TAG]`: the tag given, or every tag.
pub fn from_registry(arg: &str, opts: &RegistryOptions, scoped: bool) -> Result<Vec<Unit>> {
    let name = arg.trim_start_matches("docker://");
    let last = name.rsplit('/').next().unwrap_or(name);
    let mut r = DockerRef::parse(name)?;
    let tags = if last.contains(':') || name.contains('@') {
        vec![match (&r.digest, &r.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }]
    } else {
        r.tag = None;
        list_tags(&r, opts)?
    };
    r.tag = None;
    r.digest = None;
    Ok(vec![Unit {
        source: r.repository(),
        name: dest_name(&r.domain, &r.path, scoped),
        tags,
        from: Source::Registry {
            repo: r,
            settings: 0,
        },
    }])
}

fn list_tags(r: &DockerRef, opts: &RegistryOptions) -> Result<Vec<String>> {
    let mut tags = registry::list_tags(r, opts, 1000)
        .with_context(|| format!("listing the tags of {}", r.repository()))?;
    tags.sort();
    Ok(tags)
}

/// The units of a YAML file; `opts[i]` are the options of `configs[i]`. The tag lists are
/// asked for 8 repositories at a time.
pub fn from_yaml(
    configs: &[RegistryConfig],
    opts: &[RegistryOptions],
    scoped: bool,
) -> Result<Vec<Unit>> {
    let mut wanted = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        for (repo, rule) in &c.repos {
            let r = DockerRef::parse(&format!("{}/{repo}", c.registry))
                .with_context(|| format!("{}/{repo} is not a repository name", c.registry))?;
            let r = DockerRef {
                tag: None,
                digest: None,
                ..r
            };
            wanted.push((i, r, rule));
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let listed: Vec<std::sync::Mutex<Option<Result<Vec<String>>>>> =
        wanted.iter().map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for _ in 0..wanted.len().clamp(1, 8) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((i, r, rule)) = wanted.get(k) else {
                    return;
                };
                let needs = rule.all_tags || !rule.allow.is_empty() || !rule.semver.is_empty();
                let tags = if needs {
                    list_tags(r, &opts[*i])
                } else {
                    Ok(Vec::new())
                };
                *listed[k].lock().expect("not poisoned") = Some(tags);
            });
        }
    });
    let mut units = Vec::new();
    for ((i, r, rule), tags) in wanted.into_iter().zip(listed) {
        let tags = tags
            .into_inner()
            .expect("not poisoned")
            .expect("every repository was listed")?;
        units.push(Unit {
            source: r.repository(),
            name: dest_name(&r.domain, &r.path, scoped),
            tags: select(rule, &tags),
            from: Source::Registry {
                repo: r,
                settings: i,
            },
        });
    }
    Ok(units)
}

/// The tags `rule` takes from `listed` (the repository's tags, when the rule needs them).
pub fn select(rule: &RepoRule, listed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = rule.named.clone();
    for t in listed {
        let by_semver = semver_of(t).is_some_and(|v| rule.semver.iter().any(|r| r.matches(&v)));
        if rule.all_tags || rule.allow.iter().any(|rx| rx.is_match(t)) || by_semver {
            out.push(t.clone());
        }
    }
    if let Some(deny) = &rule.deny {
        out.retain(|t| !deny.is_match(t));
    }
    out.sort();
    out.dedup();
    if let Some(n) = rule.keep_newest {
        let mut versioned: Vec<(semver::Version, String)> = out
            .into_iter()
            .filter_map(|t| Some((semver_of(&t)?, t)))
            .collect();
        versioned.sort();
        out = versioned
            .into_iter()
            .rev()
            .take(n)
            .map(|(_, t)| t)
            .collect();
        out.sort();
    }
    out
}

/// A tag as a version: `1.2.3`, `v1.2.3`, `1.2` (as `1.2.0`).
fn semver_of(tag: &str) -> Option<semver::Version> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    semver::Version::parse(t).ok().or_else(|| {
        let parts: Vec<&str> = t.split('.').collect();
        match parts.as_slice() {
            [a, b] => semver::Version::parse(&format!("{a}.{b}.0")).ok(),
            [a] if a.chars().all(|c| c.is_ascii_digit()) => {
                semver::Version::parse(&format!("{a}.0.0")).ok()
            }
            _ => None,
        }
    })
}

/// The units of `--src dir DIR`: every layout under `dir` (a directory with an
/// `oci-layout` file), named by its path below `dir`, with its tagged entries.
pub fn from_layouts(dir: &Path, scoped: bool) -> Result<Vec<Unit>> {
    let mut found = Vec::new();
    find_layouts(dir, &mut found)?;
    if found.is_empty() {
        bail!("{}: no OCI layout under it", dir.display());
    }
    found.sort();
    let mut units = Vec::new();
    for path in found {
        let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy();
        let rel = if rel.is_empty() {
            dir.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        } else {
            rel.to_string()
        };
        let r = ImageRef::Layout {
            dir: path.clone(),
            tag: None,
        };
        let tags = crate::transport::tagged_entries(&r)?
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        let name = match scoped {
            true => rel.clone(),
            false => rel.rsplit('/').next().unwrap_or(&rel).to_string(),
        };
        units.push(Unit {
            source: path.display().to_string(),
            name,
            tags,
            from: Source::Layout(path),
        });
    }
    Ok(units)
}

fn find_layouts(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if dir.join("oci-layout").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading the directory {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("reading the directory {}", dir.display()))?;
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            find_layouts(&e.path(), out)?;
        }
    }
    Ok(())
}

/// The units of `--src bundle PATH`: its entries grouped by repository (the ref names are
/// full references: `registry.example.com/lab/app:1`).
pub fn from_bundle(path: &Path, scoped: bool) -> Result<Vec<Unit>> {
    let r = super::endpoints::bundle_ref(path, None);
    let mut by_repo: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, _) in crate::transport::tagged_entries(&r)? {
        if is_referrer_tag(&name) {
            // cosign's tags, kept in the bundle beside their subject (--referrers).
            continue;
        }
        let (repo, tag) = split_full_ref(&name)
            .with_context(|| format!("{}: the entry {name:?}", path.display()))?;
        by_repo.entry(repo).or_default().push(tag);
    }
    if by_repo.is_empty() {
        bail!("{}: the bundle holds no named images", path.display());
    }
    Ok(by_repo
        .into_iter()
        .map(|(repo, tags)| {
            let (registry, rest) = repo.split_once('/').unwrap_or(("", &repo));
            Unit {
                source: repo.clone(),
                name: dest_name(registry, rest, scoped),
                tags,
                from: Source::Bundle {
                    path: path.to_path_buf(),
                    repo,
                },
            }
        })
        .collect())
}

/// `registry.example.com/lab/app:1` → (`registry.example.com/lab/app`, `1`); a digest
/// reference keeps its digest as the tag (`sha256:…`).
pub fn split_full_ref(name: &str) -> Result<(String, String)> {
    if let Some((repo, digest)) = name.split_once('@') {
        return Ok((repo.to_string(), digest.to_string()));
    }
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) if slash > 0 => Ok((
            name[..slash + i].to_string(),
            name[slash + i + 1..].to_string(),
        )),
        _ => bail!("not a full reference REGISTRY/REPO:TAG (a bundle names each image so)"),
    }
}

/// Drops the tags that hold referrers (`sha256-<hex>` tag-schema indexes, cosign's
/// `sha256-<hex>.sig`, `.att`, `.sbom`): with `--referrers` they travel with their subject.
pub fn drop_referrer_tags(unit: &mut Unit) {
    unit.tags.retain(|t| !is_referrer_tag(t));
}

/// `sha256-<hex>`, `sha256-<hex>.sig`, `.att` or `.sbom`.
fn is_referrer_tag(t: &str) -> bool {
    let Some(rest) = t.strip_prefix("sha256-") else {
        return false;
    };
    let hex = rest.split('.').next().unwrap_or("");
    let suffix = &rest[hex.len()..];
    let is_hex = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    is_hex && matches!(suffix, "" | ".sig" | ".att" | ".sbom")
}

/// Which of `n` shards runs `unit`: rendezvous hashing of the repository, so that a unit
/// moves only when the shard it was on goes away, and every worker computes the same.
pub fn shard_of(unit: &Unit, n: usize) -> usize {
    (0..n)
        .max_by_key(|i| {
            let mut h = Sha256::new();
            h.update(unit.source.as_bytes());
            h.update([0]);
            h.update(i.to_le_bytes());
            let d = h.finalize();
            u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
        })
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
