//! skopeo sync's YAML file, read unchanged: per registry, `images` (repository → tags or
//! digests; an empty list means every tag), `images-by-tag-regex`, `images-by-semver`,
//! `credentials`, `tls-verify` and `cert-dir`. Additions, each per repository like the
//! regex: `exclude-tag-regex` (a deny regex applied after every allow rule),
//! `keep-newest` (only the N highest semver tags of what is left) and, per registry,
//! `platforms` (as `--platform`). Every error names the file, the line and the key, before
//! anything is copied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use regex::Regex;
use serde::Deserialize;

use crate::transport::registry::Credentials;

/// One registry's section.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Section {
    #[serde(default)]
    images: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    images_by_tag_regex: BTreeMap<String, String>,
    #[serde(default)]
    images_by_semver: BTreeMap<String, String>,
    #[serde(default)]
    exclude_tag_regex: BTreeMap<String, String>,
    #[serde(default)]
    keep_newest: BTreeMap<String, usize>,
    credentials: Option<YamlCreds>,
    tls_verify: Option<bool>,
    cert_dir: Option<PathBuf>,
    platforms: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlCreds {
    username: String,
    password: String,
}

/// What to take from one repository.
#[derive(Debug, Clone, Default)]
pub struct RepoRule {
    /// Every tag (`images: {repo: []}`).
    pub all_tags: bool,
    /// Tags and digests named in `images`.
    pub named: Vec<String>,
    pub allow: Vec<Regex>,
    pub semver: Vec<semver::VersionReq>,
    pub deny: Option<Regex>,
    pub keep_newest: Option<usize>,
}

/// One registry of the file, with its repositories.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub registry: String,
    pub repos: BTreeMap<String, RepoRule>,
    pub creds: Option<Credentials>,
    pub tls_verify: Option<bool>,
    pub cert_dir: Option<PathBuf>,
    pub platforms: Vec<String>,
}

/// Reads and checks `path`: every regex compiles, every semver range parses.
pub fn load(path: &Path) -> Result<Vec<RegistryConfig>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("reading the sync file {}: {e}", path.display()))?;
    parse(&text, path)
}

/// [`load`] on `text`, read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Vec<RegistryConfig>> {
    let file = path.display();
    let sections: BTreeMap<String, Section> = serde_yaml_ng::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(", line {}", l.line()))
            .unwrap_or_default();
        anyhow!("{file}{at}: {}", strip_location(&e.to_string()))
    })?;
    sections
        .into_iter()
        .map(|(registry, s)| section(text, path, registry, s))
        .collect()
}

/// serde_yaml_ng's message without its own `at line L column C`, which [`parse`] puts first.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn section(text: &str, path: &Path, registry: String, s: Section) -> Result<RegistryConfig> {
    let at = |key: &str, repo: &str| locate(text, path, &registry, key, repo);
    let mut repos: BTreeMap<String, RepoRule> = BTreeMap::new();
    for (repo, tags) in s.images {
        let r = repos.entry(repo).or_default();
        r.all_tags |= tags.is_empty();
        r.named.extend(tags);
    }
    for (repo, re) in s.images_by_tag_regex {
        let rx = Regex::new(&re).map_err(|e| {
            anyhow!(
                "{}: the regex {re:?} does not compile: {e}",
                at("images-by-tag-regex", &repo)
            )
        })?;
        repos.entry(repo).or_default().allow.push(rx);
    }
    for (repo, range) in s.images_by_semver {
        let req = semver::VersionReq::parse(&range).map_err(|e| {
            anyhow!(
                "{}: the semver range {range:?} does not parse: {e}",
                at("images-by-semver", &repo)
            )
        })?;
        repos.entry(repo).or_default().semver.push(req);
    }
    for (repo, re) in s.exclude_tag_regex {
        let rx = Regex::new(&re).map_err(|e| {
            anyhow!(
                "{}: the regex {re:?} does not compile: {e}",
                at("exclude-tag-regex", &repo)
            )
        })?;
        selected(&mut repos, &repo, &at("exclude-tag-regex", &repo))?.deny = Some(rx);
    }
    for (repo, n) in s.keep_newest {
        let where_ = at("keep-newest", &repo);
        if n == 0 {
            anyhow::bail!("{where_}: keep-newest must be at least 1");
        }
        selected(&mut repos, &repo, &where_)?.keep_newest = Some(n);
    }
    check_platforms(s.platforms.iter().flatten(), || {
        locate(text, path, &registry, "platforms", "")
    })?;
    Ok(RegistryConfig {
        registry,
        repos,
        creds: s.credentials.map(|c| Credentials {
            username: c.username,
            password: crate::transport::registry::Secret::new(c.password),
        }),
        tls_verify: s.tls_verify,
        cert_dir: s.cert_dir,
        platforms: s.platforms.unwrap_or_default(),
    })
}

/// The rule of `repo`, which a filter may only narrow: an error at `where_` if no allow
/// rule selects it.
fn selected<'a>(
    repos: &'a mut BTreeMap<String, RepoRule>,
    repo: &str,
    where_: &str,
) -> Result<&'a mut RepoRule> {
    repos.get_mut(repo).ok_or_else(|| {
        anyhow!(
            "{where_}: {repo:?} is not selected by images, images-by-tag-regex or images-by-semver"
        )
    })
}

fn check_platforms<'a>(
    platforms: impl Iterator<Item = &'a String>,
    at: impl Fn() -> String,
) -> Result<()> {
    for p in platforms {
        crate::cli::parse_platform(p).map_err(|e| anyhow!("{}: {e:#}", at()))?;
    }
    Ok(())
}

/// `sync.yml, line 7, registry.example.com: images-by-tag-regex: nginx`: where a key is,
/// found in the text (the YAML parser keeps no positions once it has read the values).
fn locate(text: &str, path: &Path, registry: &str, key: &str, repo: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let is_key = |l: &str, k: &str| {
        let t = l.trim_start().trim_start_matches("- ");
        let t = t.trim_start_matches(['"', '\'']);
        t.starts_with(k)
            && t[k.len()..]
                .trim_start_matches(['"', '\''])
                .starts_with(':')
    };
    let reg = lines.iter().position(|l| is_key(l, registry)).unwrap_or(0);
    let sec = (reg..lines.len())
        .find(|&i| is_key(lines[i], key))
        .unwrap_or(reg);
    let line = match repo {
        "" => sec,
        r => (sec..lines.len())
            .find(|&i| is_key(lines[i], r))
            .unwrap_or(sec),
    };
    let what = if repo.is_empty() {
        key.to_string()
    } else {
        format!("{key}: {repo}")
    };
    format!("{}, line {}, {registry}: {what}", path.display(), line + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKOPEO_EXAMPLE: &str = r#"
registry.example.com:
    images:
        busybox: []
        redis:
            - "1.0"
            - "2.0"
            - "sha256:0000000000000000000000000000000011111111111111111111111111111111"
    images-by-tag-regex:
        nginx: ^1\.13\.[12]-alpine-perl$
    credentials:
        username: john
        password: this is a secret
    tls-verify: true
    cert-dir: /home/john/certs
quay.io:
    tls-verify: false
    images:
        coreos/etcd:
            - latest
"#;

    #[test]
    fn reads_the_skopeo_example_unchanged() {
        let c = parse(SKOPEO_EXAMPLE, Path::new("sync.yml")).unwrap();
        assert_eq!(c.len(), 2);
        let quay = c.iter().find(|r| r.registry == "quay.io").unwrap();
        assert_eq!(quay.tls_verify, Some(false));
        assert_eq!(quay.repos["coreos/etcd"].named, vec!["latest"]);
        let ex = c
            .iter()
            .find(|r| r.registry == "registry.example.com")
            .unwrap();
        assert!(ex.repos["busybox"].all_tags);
        assert_eq!(ex.repos["redis"].named.len(), 3);
        assert!(ex.repos["nginx"].allow[0].is_match("1.13.2-alpine-perl"));
        assert_eq!(ex.creds.as_ref().unwrap().username, "john");
        assert_eq!(ex.cert_dir.as_deref(), Some(Path::new("/home/john/certs")));
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let e = |t: &str| format!("{:#}", parse(t, Path::new("s.yml")).unwrap_err());
        let bad_regex = "r.example:\n  images-by-tag-regex:\n    app: \"[\"\n";
        assert!(
            e(bad_regex).starts_with("s.yml, line 3, r.example: images-by-tag-regex: app: the regex \"[\" does not compile"),
            "{}",
            e(bad_regex)
        );
        let bad_semver = "r.example:\n  images-by-semver:\n    app: \">= one\"\n";
        assert!(
            e(bad_semver)
                .starts_with("s.yml, line 3, r.example: images-by-semver: app: the semver range"),
            "{}",
            e(bad_semver)
        );
        let unknown = "r.example:\n  imagez:\n    app: []\n";
        assert!(
            e(unknown).starts_with("s.yml, line 2: r.example: unknown field `imagez`"),
            "{}",
            e(unknown)
        );
        let malformed = "r.example:\n  images: [\n";
        assert!(e(malformed).starts_with("s.yml, line "), "{}", e(malformed));
        let deny_alone = "r.example:\n  exclude-tag-regex:\n    app: rc\n";
        assert!(
            e(deny_alone)
                .contains("line 3, r.example: exclude-tag-regex: app: \"app\" is not selected"),
            "{}",
            e(deny_alone)
        );
    }
}
