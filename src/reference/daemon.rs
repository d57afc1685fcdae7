//! `docker-daemon:` references: an image of the Docker Engine, named `NAME[:TAG]` as docker
//! names it, or `sha256:ID` by its image ID (the config digest), as skopeo writes them.

use std::fmt;

use anyhow::{bail, Result};

use super::DockerRef;
use crate::digest::{Algorithm, Digest};

/// An image the Docker Engine holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonRef {
    /// `NAME[:TAG]`, normalised as docker does (`:latest` when no tag is given).
    Named(DockerRef),
    /// `sha256:ID`: the full image ID.
    Id(Digest),
}

impl DaemonRef {
    /// Parses what follows `docker-daemon:`.
    pub fn parse(s: &str) -> Result<DaemonRef> {
        if s.is_empty() {
            bail!("docker-daemon: needs NAME[:TAG] or sha256:ID");
        }
        if let Some(hex) = s.strip_prefix("sha256:") {
            return match s.parse::<Digest>() {
                Ok(d) if d.algorithm() == Algorithm::Sha256 => Ok(DaemonRef::Id(d)),
                _ => bail!(
                    "an image ID is sha256: and 64 hex digits, not sha256:{hex} \
                     (docker's short IDs are not accepted)"
                ),
            };
        }
        let r = DockerRef::parse(s)?;
        if r.digest.is_some() {
            bail!("a docker-daemon image is named NAME[:TAG] or sha256:ID, not by manifest digest");
        }
        Ok(DaemonRef::Named(r))
    }

    /// The name the Engine API takes in `/images/{name}/...`: `lab/app:1`, `sha256:…`.
    pub fn api_name(&self) -> String {
        match self {
            DaemonRef::Named(r) => r.familiar(),
            DaemonRef::Id(d) => d.to_string(),
        }
    }
}

impl fmt::Display for DaemonRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "docker-daemon:{}", self.api_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ImageRef;

    fn daemon(s: &str) -> Result<DaemonRef> {
        match ImageRef::parse(s)? {
            ImageRef::DockerDaemon(d) => Ok(d),
            other => panic!("not a daemon reference: {other:?}"),
        }
    }

    #[test]
    fn names_and_ids() {
        let r = daemon("docker-daemon:lab/app:1").unwrap();
        assert_eq!(r.api_name(), "lab/app:1");
        assert_eq!(r.to_string(), "docker-daemon:lab/app:1");
        let r = daemon("docker-daemon:localhost:5000/a/b").unwrap();
        assert_eq!(r.api_name(), "localhost:5000/a/b:latest");
        assert_eq!(
            daemon("docker-daemon:busybox").unwrap().api_name(),
            "busybox:latest"
        );
        let id = format!("sha256:{}", "ab".repeat(32));
        let r = daemon(&format!("docker-daemon:{id}")).unwrap();
        assert_eq!(r, DaemonRef::Id(id.parse().unwrap()));
        assert_eq!(r.api_name(), id);
        assert_eq!(
            ImageRef::parse("docker-daemon:x").unwrap().transport(),
            "docker-daemon"
        );
    }

    #[test]
    fn refuses_short_ids_digests_and_nothing() {
        let e = format!("{:#}", daemon("docker-daemon:sha256:abc").unwrap_err());
        assert!(e.contains("64 hex digits"), "{e}");
        let d = format!("sha256:{}", "a".repeat(64));
        let e = format!(
            "{:#}",
            daemon(&format!("docker-daemon:app@{d}")).unwrap_err()
        );
        assert!(e.contains("not by manifest digest"), "{e}");
        assert!(daemon("docker-daemon:").is_err());
        assert!(daemon("docker-daemon:Upper:1").is_err());
    }
}
