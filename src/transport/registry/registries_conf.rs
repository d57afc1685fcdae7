//! `registries.conf` (containers-registries.conf(5), version 2), read as containers/image
//! reads the parts oci-copy supports: `[[registry]]` tables (`prefix`, `location`,
//! `insecure`, `blocked`, `mirror-by-digest-only`, and `[[registry.mirror]]` with
//! `location`, `insecure`, `pull-from-mirror`) and `[aliases]` for short names. Pure: the
//! file's text in, names out; `mirrors.rs` does the I/O.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::reference::DockerRef;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileV2 {
    #[serde(default)]
    registry: Vec<Entry>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    /// The version 1 format (`[registries.search]`, ...), which is not read.
    #[serde(default)]
    registries: Option<toml::Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Entry {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<Mirror>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Mirror {
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    pull_from_mirror: Option<String>,
}

/// A parsed `registries.conf`.
#[derive(Debug, Default)]
pub struct RegistriesConf {
    /// Where it was read from, for messages.
    pub file: PathBuf,
    entries: Vec<Entry>,
    /// Short name → fully-qualified repository.
    aliases: BTreeMap<String, DockerRef>,
}

/// One place to pull an image from: a mirror, or the primary location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSource {
    pub name: DockerRef,
    /// `insecure = true`: TLS is not verified and plain HTTP is allowed, unless the command
    /// line says otherwise.
    pub insecure: bool,
    pub mirror: bool,
}

impl RegistriesConf {
    /// Parses `text`, read from `file`. Invalid TOML, a table without prefix or location, a
    /// wildcard prefix with a location, an alias that is not short, or an alias value that
    /// is not fully qualified are refused; keys oci-copy does not use are ignored.
    pub fn parse(text: &str, file: &Path) -> Result<RegistriesConf> {
        let what = || format!("reading the registries configuration {}", file.display());
        let raw: FileV2 = toml::from_str(text).with_context(what)?;
        if raw.registries.is_some() {
            tracing::warn!(
                "{}: the version 1 format ([registries.search], [registries.insecure], [registries.block]) is not read; use [[registry]] tables",
                file.display()
            );
        }
        let mut entries = Vec::new();
        for e in raw.registry {
            entries.push(checked_entry(e).with_context(what)?);
        }
        let mut aliases = BTreeMap::new();
        for (k, v) in raw.aliases {
            let target = checked_alias(&k, &v).with_context(what)?;
            aliases.insert(k, target);
        }
        Ok(RegistriesConf {
            file: file.to_path_buf(),
            entries,
            aliases,
        })
    }

    /// `r` with its alias applied, when it was written as a short name that has one: the
    /// alias's repository, with `r`'s tag or digest.
    pub fn alias(&self, r: &DockerRef) -> Option<DockerRef> {
        let target = self.aliases.get(r.short_name.as_deref()?)?;
        Some(DockerRef {
            tag: r.tag.clone(),
            digest: r.digest.clone(),
            short_name: None,
            ..target.clone()
        })
    }

    /// Where to pull `r` from, in order: the mirrors that apply, then the primary location
    /// (`location` in place of the matched `prefix`). An error when it is `blocked`.
    pub fn pull_sources(&self, r: &DockerRef) -> Result<Vec<PullSource>> {
        let Some((e, matched)) = self.matching(r) else {
            return Ok(vec![PullSource {
                name: r.clone(),
                insecure: false,
                mirror: false,
            }]);
        };
        if e.blocked {
            bail!("docker://{r} is blocked by {}", self.file.display());
        }
        let full = r.to_string();
        let rest = &full[matched..];
        let mut out = Vec::new();
        for m in e.mirror.iter().filter(|m| mirror_applies(e, m, r)) {
            let name = rewrite(&m.location, rest, &self.file)?;
            out.push(PullSource {
                name,
                insecure: m.insecure,
                mirror: true,
            });
        }
        let primary = match e.location.as_str() {
            "" => r.clone(),
            l => rewrite(l, rest, &self.file)?,
        };
        out.push(PullSource {
            name: primary,
            insecure: e.insecure,
            mirror: false,
        });
        Ok(out)
    }

    /// Whether the table matching `r` says `insecure = true`.
    pub fn insecure(&self, r: &DockerRef) -> bool {
        self.matching(r).is_some_and(|(e, _)| e.insecure)
    }

    /// The table whose prefix matches `r` longest, and how much of `r`'s name it matched.
    fn matching(&self, r: &DockerRef) -> Option<(&Entry, usize)> {
        let full = r.to_string();
        self.entries
            .iter()
            .filter_map(|e| prefix_match(&e.prefix, &full, &r.domain).map(|n| (e, n)))
            .max_by_key(|(_, n)| *n)
    }
}

/// How much of `full` (`host/path:tag`) the prefix matches, as containers/image matches
/// it: the whole of it, or up to a `/`, `:` or `@`. `*.example.com` matches the host of any
/// subdomain, and then stands for that host.
fn prefix_match(prefix: &str, full: &str, domain: &str) -> Option<usize> {
    if let Some(suffix) = prefix.strip_prefix("*.") {
        return domain
            .ends_with(&format!(".{suffix}"))
            .then_some(domain.len());
    }
    let rest = full.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with(['/', ':', '@'])).then_some(prefix.len())
}

/// Whether mirror `m` of `e` serves `r`: `mirror-by-digest-only` and `pull-from-mirror`
/// (`all`, `digest-only`, `tag-only`) say for pulls by digest or by tag.
fn mirror_applies(e: &Entry, m: &Mirror, r: &DockerRef) -> bool {
    let by_digest = r.digest.is_some();
    if e.mirror_by_digest_only && !by_digest {
        return false;
    }
    match m.pull_from_mirror.as_deref() {
        Some("digest-only") => by_digest,
        Some("tag-only") => !by_digest,
        _ => true,
    }
}

/// `location` + the rest of the name after the matched prefix, parsed.
fn rewrite(location: &str, rest: &str, file: &Path) -> Result<DockerRef> {
    let name = format!("{location}{rest}");
    DockerRef::parse(&name).with_context(|| format!("{}: rewriting to {name:?}", file.display()))
}

fn checked_entry(mut e: Entry) -> Result<Entry> {
    if e.prefix.is_empty() {
        e.prefix = e.location.clone();
    }
    if e.prefix.is_empty() {
        bail!("a [[registry]] table has neither prefix nor location");
    }
    if e.prefix.starts_with("*.") {
        if !e.location.is_empty() {
            bail!(
                "[[registry]] prefix {:?}: a wildcard prefix takes no location",
                e.prefix
            );
        }
        if e.prefix.contains('/') {
            bail!(
                "[[registry]] prefix {:?}: a wildcard prefix is a host only",
                e.prefix
            );
        }
    } else if e.prefix.contains('*') {
        bail!(
            "[[registry]] prefix {:?}: only a leading \"*.\" is a wildcard",
            e.prefix
        );
    }
    for m in &e.mirror {
        if m.location.is_empty() {
            bail!(
                "[[registry]] prefix {:?}: a mirror has no location",
                e.prefix
            );
        }
        if let Some(p) = &m.pull_from_mirror {
            if !["all", "digest-only", "tag-only"].contains(&p.as_str()) {
                bail!("pull-from-mirror = {p:?}: expected all, digest-only or tag-only");
            }
        }
    }
    Ok(e)
}

/// An alias: the key a short name, the value a repository with its registry, neither with
/// a tag or digest.
fn checked_alias(key: &str, value: &str) -> Result<DockerRef> {
    let bare = |s: &str| !s.contains('@') && !s.rsplit('/').next().unwrap_or("").contains(':');
    let k = DockerRef::parse(key).map_err(|e| anyhow!("alias {key:?}: {e:#}"))?;
    if k.short_name.is_none() || !bare(key) {
        bail!("alias {key:?}: the key must be a short name, without registry, tag or digest");
    }
    let v = DockerRef::parse(value).map_err(|e| anyhow!("alias {key:?}: {e:#}"))?;
    if v.short_name.is_some() || !bare(value) {
        bail!("alias {key:?} = {value:?}: the value must name its registry, without tag or digest");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
prefix = "example.com/foo"
location = "internal.example:5000/bar"
[[registry.mirror]]
location = "mirror-a.example/cache"
[[registry.mirror]]
location = "mirror-b.example"
insecure = true
pull-from-mirror = "digest-only"

[[registry]]
prefix = "example.com"
blocked = true

[[registry]]
prefix = "*.corp.example"
insecure = true

[aliases]
"app" = "example.com/foo/app"
"#;

    fn conf() -> RegistriesConf {
        RegistriesConf::parse(CONF, Path::new("/r.conf")).unwrap()
    }

    fn names(r: &str) -> Vec<(String, bool, bool)> {
        let sources = conf().pull_sources(&DockerRef::parse(r).unwrap()).unwrap();
        sources
            .into_iter()
            .map(|s| (s.name.to_string(), s.mirror, s.insecure))
            .collect()
    }

    #[test]
    fn mirrors_then_the_rewritten_location() {
        assert_eq!(
            names("example.com/foo/app:1"),
            [
                ("mirror-a.example/cache/app:1".into(), true, false),
                ("internal.example:5000/bar/app:1".into(), false, false),
            ]
        );
        let d = "sha256:".to_string() + &"a".repeat(64);
        let by_digest = names(&format!("example.com/foo/app@{d}"));
        assert_eq!(by_digest.len(), 3);
        assert_eq!(
            by_digest[1],
            (format!("mirror-b.example/app@{d}"), true, true)
        );
        // Not a match: another registry; a longer component (caught by the blocked table).
        let longer = DockerRef::parse("example.com/foobar/x:1").unwrap();
        assert!(conf().pull_sources(&longer).is_err());
        assert_eq!(
            names("quay.io/foo/app:1"),
            [("quay.io/foo/app:1".into(), false, false)]
        );
    }

    #[test]
    fn blocked_wildcards_and_aliases() {
        let c = conf();
        let err = c
            .pull_sources(&DockerRef::parse("example.com/other:1").unwrap())
            .unwrap_err();
        assert!(format!("{err:#}").contains("blocked by /r.conf"), "{err:#}");
        assert!(c.insecure(&DockerRef::parse("git.corp.example/a:1").unwrap()));
        assert!(!c.insecure(&DockerRef::parse("corp.example/a:1").unwrap()));
        let short = DockerRef::parse("app:2").unwrap();
        assert_eq!(
            c.alias(&short).unwrap().to_string(),
            "example.com/foo/app:2"
        );
        // Written with its registry, the same name is no short name.
        assert!(c
            .alias(&DockerRef::parse("docker.io/library/app:2").unwrap())
            .is_none());
    }

    #[test]
    fn refuses_what_it_cannot_mean() {
        let bad = [
            "[[registry]]\ninsecure = true\n",
            "[[registry]]\nprefix = \"*.x.example\"\nlocation = \"y.example\"\n",
            "[[registry]]\nprefix = \"a.example\"\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"sometimes\"\n",
            "[aliases]\n\"quay.io/x\" = \"quay.io/y\"\n",
            "[aliases]\n\"x\" = \"y\"\n",
            "[aliases]\n\"x\" = \"quay.io/y:1\"\n",
            "this is not toml",
        ];
        for text in bad {
            assert!(
                RegistriesConf::parse(text, Path::new("/r.conf")).is_err(),
                "{text}"
            );
        }
    }
}
