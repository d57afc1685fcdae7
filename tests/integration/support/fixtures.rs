//! The committed fixture images under `testdata/`, their transport references, and what a
//! faithful copy of each must preserve (config digest, diff_ids and, where no conversion is
//! needed, the manifest digest), read from the fixtures themselves by the checker.

use super::check::{
    check_docker_archive, check_oci_archive, check_oci_layout, Entry, OCI_LAYER_GZIP, OCI_MANIFEST,
};
use super::{p, testdata};

#[derive(Clone, Copy, Debug)]
pub enum Fixture {
    /// `testdata/oci-layout`, tag `latest`, OCI with gzip layers.
    OciLayout,
    /// `testdata/oci-archive.tar`, tag `v1`.
    OciArchive,
    /// `testdata/docker-legacy.tar`, legacy `docker save`, `lab/app:1`.
    DockerLegacy,
    /// `testdata/docker25.tar`, Docker 25+ hybrid form, `lab/app:2`.
    Docker25,
    /// `testdata/docker-legacy.tar.gz`, the legacy archive gzip-compressed.
    DockerLegacyGz,
    /// `testdata/docker-multi.tar`, `lab/app:1` and `docker.io/library/tool:3`; we select the first.
    DockerMulti,
    /// `testdata/oci-index`, tag `multi`, an index of linux/amd64 and linux/arm64/v8; a copy
    /// takes this machine's instance.
    OciIndex,
}

/// What a copy of a fixture must carry over.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Config digest (= image ID) of the image copied: for an index, this machine's instance.
    pub config_digest: String,
    pub diff_ids: Vec<String>,
    /// Manifest digest a copy into an OCI layout keeps, when the image needs no conversion.
    pub kept_digest: Option<String>,
}

impl Fixture {
    pub fn reference(self) -> String {
        match self {
            Fixture::OciLayout => format!("oci:{}:latest", p(&testdata("oci-layout"))),
            Fixture::OciArchive => format!("oci-archive:{}:v1", p(&testdata("oci-archive.tar"))),
            Fixture::DockerLegacy => {
                format!("docker-archive:{}", p(&testdata("docker-legacy.tar")))
            }
            Fixture::Docker25 => format!("docker-archive:{}", p(&testdata("docker25.tar"))),
            Fixture::DockerLegacyGz => {
                format!("docker-archive:{}", p(&testdata("docker-legacy.tar.gz")))
            }
            Fixture::DockerMulti => format!(
                "docker-archive:{}:lab/app:1",
                p(&testdata("docker-multi.tar"))
            ),
            Fixture::OciIndex => format!("oci:{}:multi", p(&testdata("oci-index"))),
        }
    }

    /// Facts read from the fixture itself (which must pass the checker).
    pub fn expected(self) -> Expected {
        match self {
            Fixture::OciLayout => {
                from_entry(check_oci_layout(&testdata("oci-layout")).tagged("latest"))
            }
            Fixture::OciArchive => {
                from_entry(check_oci_archive(&testdata("oci-archive.tar")).tagged("v1"))
            }
            Fixture::OciIndex => {
                from_entry(check_oci_layout(&testdata("oci-index")).tagged("multi"))
            }
            Fixture::DockerLegacy => docker("docker-legacy.tar", "lab/app:1"),
            Fixture::Docker25 => docker("docker25.tar", "lab/app:2"),
            Fixture::DockerLegacyGz => docker("docker-legacy.tar.gz", "lab/app:1"),
            Fixture::DockerMulti => docker("docker-multi.tar", "lab/app:1"),
        }
    }
}

/// The architecture name OCI uses for this machine (the default instance of an index).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn from_entry(entry: &Entry) -> Expected {
    let arch = host_architecture();
    let image = entry
        .images
        .iter()
        .find(|i| i.architecture == arch && i.os == "linux");
    let image =
        image.unwrap_or_else(|| panic!("fixture {} has no linux/{arch} image", entry.digest));
    let native = image.media_type == OCI_MANIFEST
        && image.layer_media_types.iter().all(|m| m == OCI_LAYER_GZIP);
    Expected {
        config_digest: image.config_digest.clone(),
        diff_ids: image.diff_ids.clone(),
        kept_digest: native.then(|| image.manifest_digest.clone()),
    }
}

fn docker(file: &str, repo_tag: &str) -> Expected {
    let report = check_docker_archive(&testdata(file));
    let image = report
        .images
        .iter()
        .find(|i| {
            i.repo_tags
                .iter()
                .any(|t| t == repo_tag || t.ends_with(&format!("/{repo_tag}")))
        })
        .unwrap_or_else(|| panic!("{file} has no image tagged {repo_tag}"));
    Expected {
        config_digest: image.config_digest.clone(),
        diff_ids: image.diff_ids.clone(),
        kept_digest: None,
    }
}
