//! Image references: `transport:rest` strings parsed into [`ImageRef`], and Docker-style
//! names (`alpine`, `lab/app:1`, `host:5000/a/b@sha256:...`) normalised the way docker does.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::digest::Digest;
use crate::redact::redact;
mod short;

/// Where an image lives. The set is closed: adding a transport means a new variant here and
/// following the compiler to every `match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`
    Registry(DockerRef),
    /// `oci:DIR[:TAG]`
    Layout { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`
    OciArchive { file: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE[:NAME:TAG|:@N]`
    DockerArchive {
        file: PathBuf,
        selector: Option<ArchiveSelector>,
    },
    /// `dir:PATH`, skopeo's directory format; the whole rest is the path, as in skopeo.
    Dir { dir: PathBuf },
    /// `docker-daemon:NAME[:TAG]` or `docker-daemon:sha256:ID`: an image of the Docker Engine.
    DockerDaemon(daemon::DaemonRef),
}

/// Which image of a docker-archive to read, or which name to give the image written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSelector {
    Name(DockerRef),
    /// `@N`: the N-th entry of `manifest.json`, counting from 0.
    Index(usize),
}

pub mod daemon;

pub const TRANSPORTS: &str = "docker://, oci:, oci-archive:, docker-archive:, docker-daemon:, dir:";

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef> {
        parse_ref(s).with_context(|| {
            let shown = redact(s);
            format!("invalid image reference {shown:?}")
        })
    }

    /// The transport's name, as written before the colon.
    pub fn transport(&self) -> &'static str {
        match self {
            ImageRef::Registry(_) => "docker",
            ImageRef::Layout { .. } => "oci",
            ImageRef::OciArchive { .. } => "oci-archive",
            ImageRef::DockerArchive { .. } => "docker-archive",
            ImageRef::Dir { .. } => "dir",
            ImageRef::DockerDaemon(_) => "docker-daemon",
        }
    }
}

fn parse_ref(s: &str) -> Result<ImageRef> {
    let Some((transport, rest)) = s.split_once(':') else {
        bail!(
            "expected TRANSPORT:REFERENCE, with a transport of {TRANSPORTS}{}",
            suggest_transport(s)
        );
    };
    match transport {
        "docker" => {
            let Some(name) = rest.strip_prefix("//") else {
                bail!("a registry reference is written docker://HOST/REPO[:TAG]");
            };
            let host = name.split('/').next().unwrap_or_default();
            if host.contains('@') && name.contains('/') {
                bail!("credentials cannot be part of a reference: give them with --creds (or --src-creds, --dest-creds) or an auth file");
            }
            Ok(ImageRef::Registry(DockerRef::parse(name)?))
        }
        "oci" => {
            let (dir, tag) = split_path(rest)?;
            Ok(ImageRef::Layout { dir, tag })
        }
        "oci-archive" => {
            let (file, tag) = split_path(rest)?;
            Ok(ImageRef::OciArchive { file, tag })
        }
        "docker-archive" => {
            let (file, sel) = split_path(rest)?;
            let selector = sel.map(|s| parse_selector(&s)).transpose()?;
            Ok(ImageRef::DockerArchive { file, selector })
        }
        "dir" if rest.is_empty() => bail!("the path is empty"),
        "dir" => Ok(ImageRef::Dir { dir: rest.into() }),
        "docker-daemon" => Ok(ImageRef::DockerDaemon(daemon::DaemonRef::parse(rest)?)),
        other => bail!("unknown transport {other:?}; use one of {TRANSPORTS}"),
    }
}

/// A hint for a reference written without a transport: what the path looks like it is.
fn suggest_transport(s: &str) -> String {
    let path = std::path::Path::new(s);
    let guess = if path.join("oci-layout").is_file() || (s.ends_with('/') && !path.exists()) {
        format!("oci:{s}")
    } else if s.ends_with(".tar") || s.ends_with(".tar.gz") {
        format!("docker-archive:{s} (or oci-archive:{s})")
    } else if path.is_dir() {
        format!("oci:{s}")
    } else {
        return String::new();
    };
    format!(" (did you mean {guess}?)")
}

/// Splits `PATH[:REST]` at the first colon, as skopeo does: the path cannot contain one,
/// but the rest can (`docker-archive:a.tar:lab/app:1`).
fn split_path(rest: &str) -> Result<(PathBuf, Option<String>)> {
    let (path, tail) = match rest.split_once(':') {
        Some((p, t)) => (p, Some(t.to_string())),
        None => (rest, None),
    };
    if path.is_empty() {
        bail!("the path is empty");
    }
    if let Some(t) = &tail {
        if t.is_empty() {
            bail!("the tag after ':' is empty");
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("tag {t:?} contains whitespace");
        }
    }
    Ok((PathBuf::from(path), tail))
}

fn parse_selector(s: &str) -> Result<ArchiveSelector> {
    if let Some(n) = s.strip_prefix('@') {
        let n = n
            .parse()
            .with_context(|| format!("@{n} is not an image number"))?;
        return Ok(ArchiveSelector::Index(n));
    }
    let r = DockerRef::parse(s)?;
    if r.digest.is_some() {
        bail!("a docker-archive image is named NAME:TAG, not by digest");
    }
    Ok(ArchiveSelector::Name(r))
}

/// A normalised Docker image name: `docker.io/library/alpine:latest`.
#[derive(Debug, Clone)]
pub struct DockerRef {
    /// `docker.io`, `quay.io`, `localhost:5000`, `127.0.0.1:5000`
    pub domain: String,
    /// `library/alpine`, `lab/app`
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
    /// `alpine`, as written, when it named no registry (see `reference/short.rs`).
    pub short_name: Option<String>,
}

pub const DEFAULT_DOMAIN: &str = "docker.io";

impl DockerRef {
    /// Parses and normalises a name: adds `docker.io` and `library/` as docker does, and
    /// `:latest` when neither a tag nor a digest is given.
    pub fn parse(s: &str) -> Result<DockerRef> {
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        let (name, tag) = split_tag(name);
        let (domain, path) = split_domain(name);
        validate_path(&path).with_context(|| format!("invalid repository name {name:?}"))?;
        if let Some(t) = &tag {
            validate_tag(t)?;
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(DockerRef {
            short_name: (!short::names_registry(name)).then(|| name.to_string()),
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `docker.io/library/alpine`
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form docker shows: `alpine:latest`, `lab/app:1`, `quay.io/a/b:2`.
    pub fn familiar(&self) -> String {
        let short = self.path.strip_prefix("library/").unwrap_or(&self.path);
        let mut s = match self.domain == DEFAULT_DOMAIN {
            true => short.to_string(),
            false => self.repository(),
        };
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

impl fmt::Display for DockerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.repository();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

fn split_tag(name: &str) -> (&str, Option<String>) {
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].rfind(':') {
        Some(i) => (
            &name[..last_slash + i],
            Some(name[last_slash + i + 1..].to_string()),
        ),
        None => (name, None),
    }
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some(("index.docker.io", rest)) => (DEFAULT_DOMAIN.to_string(), rest.to_string()),
        Some((first, rest)) if short::names_registry(name) => (first.to_string(), rest.to_string()),
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    (domain, path)
}

fn validate_path(path: &str) -> Result<()> {
    if path.is_empty() || path.len() > 255 {
        bail!("the repository must be 1 to 255 characters");
    }
    for comp in path.split('/') {
        let ok = !comp.is_empty()
            && comp
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && comp.as_bytes()[0].is_ascii_alphanumeric()
            && comp.as_bytes()[comp.len() - 1].is_ascii_alphanumeric();
        if !ok {
            bail!(
                "path component {comp:?} must be lower-case letters, digits and separators (._-)"
            );
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && tag.as_bytes()[0] != b'.'
        && tag.as_bytes()[0] != b'-';
    if !ok {
        bail!("invalid tag {tag:?}: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dref(s: &str) -> String {
        DockerRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(dref("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(dref("lab/app:1"), "docker.io/lab/app:1");
        assert_eq!(dref("docker.io/lab/app:1"), "docker.io/lab/app:1");
        assert_eq!(
            dref("index.docker.io/library/tool:3"),
            "docker.io/library/tool:3"
        );
        assert_eq!(dref("library/tool:3"), dref("tool:3"));
        assert_eq!(dref("localhost/app"), "localhost/app:latest");
        assert_eq!(dref("127.0.0.1:5000/a/b:c"), "127.0.0.1:5000/a/b:c");
        assert_eq!(DockerRef::parse("tool:3").unwrap().familiar(), "tool:3");
        assert_eq!(
            DockerRef::parse("quay.io/x/y").unwrap().familiar(),
            "quay.io/x/y:latest"
        );
    }

    #[test]
    fn digests_and_tags() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = DockerRef::parse(&format!("host:5000/a@{d}")).unwrap();
        assert_eq!((r.domain.as_str(), r.tag.as_deref()), ("host:5000", None));
        assert_eq!(r.digest.unwrap().to_string(), d);
        assert!(DockerRef::parse("Upper/case").is_err());
        assert!(DockerRef::parse("a:-bad").is_err());
        assert!(DockerRef::parse("a@md5:00").is_err());
    }

    #[test]
    fn paths_end_at_the_first_colon() {
        let r = ImageRef::parse("oci:/tmp/lay out:v1").unwrap();
        assert_eq!(
            r,
            ImageRef::Layout {
                dir: "/tmp/lay out".into(),
                tag: Some("v1".into())
            }
        );
        let r = ImageRef::parse("oci:dir:ns/name:tag").unwrap();
        assert_eq!(
            r,
            ImageRef::Layout {
                dir: "dir".into(),
                tag: Some("ns/name:tag".into())
            }
        );
        let (file, tag) = ("/a/b.tar".into(), None);
        let r = ImageRef::parse("oci-archive:/a/b.tar").unwrap();
        assert_eq!(r, ImageRef::OciArchive { file, tag });
    }

    #[test]
    fn docker_archive_selectors() {
        let r = ImageRef::parse("docker-archive:/x/y.tar:docker.io/lab/app:1").unwrap();
        let ImageRef::DockerArchive {
            file,
            selector: Some(ArchiveSelector::Name(n)),
        } = r
        else {
            panic!("a named selector")
        };
        assert_eq!(file, PathBuf::from("/x/y.tar"));
        assert_eq!(n.familiar(), "lab/app:1");
        let r = ImageRef::parse("docker-archive:y.tar:@2").unwrap();
        assert!(matches!(
            r,
            ImageRef::DockerArchive {
                selector: Some(ArchiveSelector::Index(2)),
                ..
            }
        ));
        assert!(ImageRef::parse("docker-archive:y.tar:@x").is_err());
    }

    #[test]
    fn a_missing_transport_gets_a_suggestion() {
        let e = format!("{:#}", ImageRef::parse("app.tar").unwrap_err());
        assert!(e.contains("did you mean docker-archive:app.tar"), "{e}");
        let layout = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/oci-layout");
        let e = format!("{:#}", ImageRef::parse(layout).unwrap_err());
        assert!(e.contains(&format!("did you mean oci:{layout}?")), "{e}");
        let e = format!("{:#}", ImageRef::parse("plainword").unwrap_err());
        assert!(!e.contains("did you mean"), "{e}");
    }

    #[test]
    fn registry_and_errors() {
        let r = ImageRef::parse("docker://alpine").unwrap();
        assert_eq!(r.transport(), "docker");
        assert!(ImageRef::parse("docker:alpine").is_err());
        let e = format!("{:#}", ImageRef::parse("dirx:/x").unwrap_err());
        assert!(e.contains("unknown transport \"dirx\""), "{e}");
        assert!(ImageRef::parse("oci:").is_err());
        assert!(ImageRef::parse("oci:/x:").is_err());
        assert!(ImageRef::parse("nocolon").is_err());
    }
}
