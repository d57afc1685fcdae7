//! `oci-copy probe`: what a registry really supports, found by trying it. The probe pushes
//! tiny blobs and manifests of each type to the one repository it is given, records every
//! status and error code as evidence, runs several multi-request uploads to catch sessions
//! that vanish between requests, and deletes what it wrote wherever the registry allows.
//! It speaks HTTP itself (`http.rs`), because oci-client hides the raw answers.

mod checks;
mod cleanup;
mod content;
mod http;
mod sessions;
mod tags;
mod upload;

use anyhow::{Context, Result};
use serde::Serialize;

use super::RegistryOptions;
use crate::digest::Digest;
use crate::reference::DockerRef;
pub use http::AuthInfo;
use http::{Http, Req, Resp};
pub use sessions::SessionReport;
pub use upload::{Failure, Lost};

/// A capability the probe tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    OciManifest,
    OciIndex,
    DockerManifest,
    DockerManifestList,
    OciArtifact,
    Subject,
    Referrers,
    ChunkedUpload,
    MonolithicUpload,
    SinglePostUpload,
    CrossRepoMount,
    BlobDelete,
    ManifestDelete,
    TagList,
    TagPagination,
}

impl Cap {
    pub const ALL: [Cap; 15] = [
        Cap::OciManifest,
        Cap::OciIndex,
        Cap::DockerManifest,
        Cap::DockerManifestList,
        Cap::OciArtifact,
        Cap::Subject,
        Cap::Referrers,
        Cap::ChunkedUpload,
        Cap::MonolithicUpload,
        Cap::SinglePostUpload,
        Cap::CrossRepoMount,
        Cap::BlobDelete,
        Cap::ManifestDelete,
        Cap::TagList,
        Cap::TagPagination,
    ];

    /// The key in the JSON report.
    pub fn key(self) -> &'static str {
        match self {
            Cap::OciManifest => "oci_manifest",
            Cap::OciIndex => "oci_index",
            Cap::DockerManifest => "docker_manifest",
            Cap::DockerManifestList => "docker_manifest_list",
            Cap::OciArtifact => "oci_artifact",
            Cap::Subject => "subject",
            Cap::Referrers => "referrers_api",
            Cap::ChunkedUpload => "chunked_upload",
            Cap::MonolithicUpload => "monolithic_upload",
            Cap::SinglePostUpload => "single_post_upload",
            Cap::CrossRepoMount => "cross_repo_mount",
            Cap::BlobDelete => "blob_delete",
            Cap::ManifestDelete => "manifest_delete",
            Cap::TagList => "tag_list",
            Cap::TagPagination => "tag_pagination",
        }
    }

    /// The row name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Cap::OciManifest => "OCI image manifest",
            Cap::OciIndex => "OCI image index",
            Cap::DockerManifest => "Docker v2s2 manifest",
            Cap::DockerManifestList => "Docker manifest list",
            Cap::OciArtifact => "OCI artifact (artifactType)",
            Cap::Subject => "subject (OCI-Subject header)",
            Cap::Referrers => "referrers API",
            Cap::ChunkedUpload => "chunked upload",
            Cap::MonolithicUpload => "monolithic upload",
            Cap::SinglePostUpload => "single-POST upload",
            Cap::CrossRepoMount => "cross-repository mount",
            Cap::BlobDelete => "blob DELETE",
            Cap::ManifestDelete => "manifest DELETE",
            Cap::TagList => "tag listing",
            Cap::TagPagination => "tag pagination",
        }
    }
}

/// One answer and its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `null` when the probe could not tell (see `note`).
    pub supported: Option<bool>,
    /// The status of the request that decided it.
    pub status: Option<u16>,
    /// The registry's error code, when it sent one.
    pub code: Option<String>,
    pub message: Option<String>,
    /// `PUT manifests/TAG → 400 MANIFEST_INVALID: manifest invalid`
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Check {
    fn answer(supported: Option<bool>, request: &str, r: &Resp) -> Check {
        Check {
            supported,
            status: Some(r.status),
            code: r.code.clone(),
            message: r.message.clone(),
            evidence: format!("{request} → {}", upload::describe(r)),
            note: None,
        }
    }

    fn unknown(evidence: String, note: &str) -> Check {
        Check {
            supported: None,
            status: None,
            code: None,
            message: None,
            evidence,
            note: Some(note.to_string()),
        }
    }

    fn note(mut self, note: impl Into<String>) -> Check {
        self.note = Some(note.into());
        self
    }
}

/// What the probe deleted, and what it could not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    pub deleted: Vec<String>,
    pub not_deleted: Vec<NotDeleted>,
    /// Blobs the repository had before the probe used them: left alone.
    pub left_alone: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotDeleted {
    /// `manifest sha256:…`, `blob sha256:…`, `tag oci-copy-probe-…`
    pub object: String,
    pub reason: String,
}

/// Everything the probe found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub registry: String,
    pub repository: String,
    /// `http://127.0.0.1:5000/`
    pub url: String,
    /// The `Docker-Distribution-API-Version` header of `GET /v2/`.
    pub api_version: Option<String>,
    /// `GET /v2/ → 200`
    pub api_evidence: String,
    pub auth: AuthInfo,
    /// The prefix of every tag the probe pushed.
    pub probe_tag: String,
    pub capabilities: Vec<(Cap, Check)>,
    pub upload_sessions: SessionReport,
    pub cleanup: Cleanup,
    /// The rate limit the registry announced (`76 of 100 requests left in a 6h window`).
    pub rate_limit: Option<String>,
}

impl ProbeReport {
    pub fn get(&self, cap: Cap) -> Option<&Check> {
        self.capabilities
            .iter()
            .find(|(c, _)| *c == cap)
            .map(|(_, c)| c)
    }
}

/// A manifest the probe pushed.
struct Written {
    what: &'static str,
    digest: Digest,
}

/// The probe's state: the connection, the repository, and what it wrote.
pub(crate) struct Prober {
    http: Http,
    repo: String,
    id: String,
    caps: Vec<(Cap, Check)>,
    manifests: Vec<Written>,
    blobs: Vec<Digest>,
    left_alone: Vec<Digest>,
}

impl Prober {
    /// `/v2/REPO/rest`
    fn v2(&self, rest: &str) -> String {
        format!("/v2/{}/{rest}", self.repo)
    }

    fn send(&mut self, req: &Req) -> Result<Resp> {
        self.http.send(req)
    }

    fn set(&mut self, cap: Cap, check: Check) {
        self.caps.retain(|(c, _)| *c != cap);
        self.caps.push((cap, check));
    }

    fn wrote_blob(&mut self, d: &Digest) {
        if !self.blobs.contains(d) {
            self.blobs.push(d.clone());
        }
    }

    /// The tag the probe pushes a manifest of kind `kind` under.
    fn tag(&self, kind: &str) -> String {
        format!("oci-copy-probe-{}-{kind}", self.id)
    }
}

/// docker.io's registry API lives at registry-1.docker.io.
fn api_host(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        h => h,
    }
}

/// Probes the repository `r` names, running `uploads` uploads in the session test.
pub fn probe(r: &DockerRef, opts: &RegistryOptions, uploads: usize) -> Result<ProbeReport> {
    let (creds, tls) = super::credentials_and_tls(r, opts)?;
    let http = Http::connect(api_host(&r.domain), &r.path, &tls, creds, opts.retry.stall)?;
    let mut p = Prober {
        http,
        repo: r.path.clone(),
        id: content::unique_id(),
        caps: Vec::new(),
        manifests: Vec::new(),
        blobs: Vec::new(),
        left_alone: Vec::new(),
    };
    let (api_version, api_evidence, auth) =
        checks::api_base(&mut p).with_context(|| format!("probing docker://{}", r.repository()))?;
    checks::uploads(&mut p);
    let image = content::Image::new(&p.id);
    let pushed = checks::manifests(&mut p, &image);
    checks::referrers(&mut p, &pushed);
    checks::mount(&mut p, &image, &pushed);
    tags::tags(&mut p);
    let upload_sessions = sessions::run(&mut p, uploads);
    let cleanup = p.cleanup();
    let mut capabilities = Vec::new();
    for cap in Cap::ALL {
        let found = p
            .caps
            .iter()
            .find(|(c, _)| *c == cap)
            .map(|(_, c)| c.clone());
        let check = found.unwrap_or_else(|| {
            Check::unknown("not tried".into(), "the probe stopped before this check")
        });
        capabilities.push((cap, check));
    }
    Ok(ProbeReport {
        registry: r.domain.clone(),
        repository: r.path.clone(),
        url: p.http.base.to_string(),
        api_version,
        api_evidence,
        auth,
        probe_tag: format!("oci-copy-probe-{}", p.id),
        capabilities,
        upload_sessions,
        cleanup,
        rate_limit: p.http.rate_limit.map(|l| l.to_string()),
    })
}
