//! The capability checks, each a few requests whose statuses and error codes become the
//! evidence: the API base, the three upload forms, a manifest of each type, an artifact
//! with a subject, the referrers API, a mount, and tag listing with pagination.

use anyhow::{bail, Result};
use reqwest::Method;

use super::content::{self, Blob, Image};
use super::http::{AuthInfo, Req};
use super::upload::{describe, with_query, Trace};
use super::{Cap, Check, Prober, Written};
use crate::media_type as mt;
use crate::transport::registry::errors;

/// `GET /v2/`: the API version header and how the registry asks for credentials.
pub(crate) fn api_base(p: &mut Prober) -> Result<(Option<String>, String, AuthInfo)> {
    let r = p.send(&Req::new(Method::GET, "/v2/"))?;
    let mut auth = AuthInfo {
        scheme: "none".into(),
        credentials_from: p.http.creds_origin(),
        ..Default::default()
    };
    if let Some(ch) = p.http.first_challenge.clone() {
        auth.scheme = ch.scheme.clone();
        auth.realm = ch.params.get("realm").cloned();
        auth.service = ch.params.get("service").cloned();
    }
    if !r.is_success() {
        let hint = match r.status {
            401 => " (authentication failed: check --creds or log in)",
            403 => " (access denied: check --creds)",
            404 => " (no registry API here: check the host and port)",
            _ => "",
        };
        bail!("GET /v2/ → {}{hint}", describe(&r));
    }
    let version = r.header("docker-distribution-api-version");
    Ok((version, format!("GET /v2/ → {}", r.evidence()), auth))
}

/// Turns an upload trace into a check: a session lost between requests is not a verdict
/// on the upload form.
fn upload_check(t: &Trace, request: &str) -> Check {
    let mut c = Check {
        supported: Some(true),
        status: t.stored,
        code: None,
        message: None,
        evidence: format!("{request}: {}", t.summary()),
        note: None,
    };
    if let Some(f) = &t.failure {
        c.status = f.status;
        c.code = f.code.clone();
        c.evidence = format!("{request}: {} ({} → {})", t.summary(), f.step, f.evidence);
        if f.kind.is_session_loss() {
            c.supported = None;
            c.note =
                Some("the upload session was lost between requests: see upload sessions".into());
        } else {
            c.supported = Some(false);
        }
    }
    c
}

/// Monolithic (POST, PUT with the body), single POST `?digest=`, and chunked (POST, 3
/// PATCHes, PUT) uploads of small blobs of their own.
pub(crate) fn uploads(p: &mut Prober) {
    let blob = Blob::new(content::noise(&p.id, "monolithic", 200));
    let t = p.upload(&blob, 0, false);
    p.set(Cap::MonolithicUpload, upload_check(&t, "POST, PUT"));
    let blob = Blob::new(content::noise(&p.id, "single-post", 200));
    let (t, opened_session) = p.upload_single_post(&blob);
    let mut c = upload_check(&t, "POST ?digest=");
    if opened_session {
        c.supported = Some(false);
        c.note = Some(
            "the registry opened an upload session instead of taking the blob (cancelled)".into(),
        );
    }
    p.set(Cap::SinglePostUpload, c);
    let blob = Blob::new(content::noise(&p.id, "chunked", 300));
    let t = p.upload(&blob, 3, false);
    p.set(Cap::ChunkedUpload, upload_check(&t, "POST, PATCH ×3, PUT"));
}

/// Makes sure the repository has `blob`: left alone when it was there, else uploaded
/// (monolithic, then chunked, then a single POST). False when it could not be uploaded.
fn ensure_blob(p: &mut Prober, blob: &Blob) -> bool {
    let head = p.send(&Req::new(
        Method::HEAD,
        &p.v2(&format!("blobs/{}", blob.digest)),
    ));
    if matches!(&head, Ok(r) if r.status == 200) {
        if !p.blobs.contains(&blob.digest) && !p.left_alone.contains(&blob.digest) {
            p.left_alone.push(blob.digest.clone());
        }
        return true;
    }
    for attempt in 0..3 {
        let t = match attempt {
            0 => p.upload(blob, 0, false),
            1 => p.upload(blob, 2, false),
            _ => p.upload_single_post(blob).0,
        };
        if t.failure.is_none() && t.stored == Some(201) {
            return true;
        }
    }
    false
}

/// A manifest PUT's answer: accepted, refused for its type, or something else.
/// The check, the manifest when the registry took it, and its `OCI-Subject` header.
type PutOutcome = (Check, Option<Blob>, Option<String>);

fn manifest_check(
    p: &mut Prober,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
    what: &'static str,
) -> PutOutcome {
    let url = p.v2(&format!("manifests/{reference}"));
    let req = Req::new(Method::PUT, &url)
        .header("content-type", media_type)
        .body(bytes.to_vec());
    let request = format!("PUT manifests/{reference}");
    let r = match p.send(&req) {
        Ok(r) => r,
        Err(e) => {
            return (
                Check::unknown(format!("{request}: {e:#}"), "no answer"),
                None,
                None,
            )
        }
    };
    let blob = Blob::new(bytes.to_vec());
    if r.is_success() {
        p.manifests.push(Written {
            what,
            digest: blob.digest.clone(),
        });
        let mut c = Check::answer(Some(true), &request, &r);
        if let Some(d) = r
            .header("docker-content-digest")
            .filter(|d| *d != blob.digest.to_string())
        {
            c = c.note(format!(
                "the registry reports the digest {d}, not {}",
                blob.digest
            ));
        }
        return (c, Some(blob), r.header("oci-subject"));
    }
    let c = if errors::is_manifest_type_rejection(Some(r.status), r.code.as_deref()) {
        Check::answer(Some(false), &request, &r)
    } else {
        let note = match r.code.as_deref() {
            Some("MANIFEST_BLOB_UNKNOWN") | Some("BLOB_UNKNOWN") | Some("MANIFEST_UNKNOWN") => {
                "not a verdict on the type: the registry did not find what the manifest references (see upload sessions)"
            }
            Some("UNAUTHORIZED") | Some("DENIED") => "not a verdict on the type: no permission to push",
            _ => "not a verdict on the type",
        };
        Check::answer(None, &request, &r).note(note)
    };
    (c, None, None)
}

/// What the manifest checks pushed, for the checks after them.
pub(crate) struct Pushed {
    /// The image's config and layer are in the repository.
    pub blobs_ok: bool,
    pub oci: Blob,
    pub oci_accepted: bool,
    pub artifact: Option<Blob>,
}

/// An image manifest of each type, an index and a list over them, and an artifact.
pub(crate) fn manifests(p: &mut Prober, image: &Image) -> Pushed {
    let empty = Blob::new(content::EMPTY_JSON.to_vec());
    // Every blob is tried, even after one fails (`all` would stop at the first).
    let uploaded: Vec<bool> = [&image.config, &image.layer, &empty]
        .into_iter()
        .map(|b| ensure_blob(p, b))
        .collect();
    let blobs_ok = uploaded.iter().all(|ok| *ok);
    let note = (!blobs_ok).then_some("a blob it references could not be uploaded");
    let (c, oci, _) = manifest_check(
        p,
        &p.tag("oci"),
        mt::OCI_MANIFEST,
        &image.manifest(true),
        "OCI manifest",
    );
    set_noted(p, Cap::OciManifest, c, note);
    let (c, docker, _) = manifest_check(
        p,
        &p.tag("v2s2"),
        mt::DOCKER_MANIFEST,
        &image.manifest(false),
        "Docker manifest",
    );
    set_noted(p, Cap::DockerManifest, c, note);
    indexes(
        p,
        [(mt::OCI_MANIFEST, &oci), (mt::DOCKER_MANIFEST, &docker)],
    );
    let subject = Blob::new(image.manifest(true));
    let art = content::artifact(&p.id, &subject);
    let digest = Blob::new(art.clone()).digest.to_string();
    let (c, artifact, header) = manifest_check(p, &digest, mt::OCI_MANIFEST, &art, "OCI artifact");
    let subject_check = match &artifact {
        Some(_) => subject_header(c.clone(), header, &subject),
        None => Check::unknown("not tried".into(), "the artifact was not accepted"),
    };
    p.set(Cap::OciArtifact, c);
    p.set(Cap::Subject, subject_check);
    Pushed {
        blobs_ok,
        oci: subject,
        oci_accepted: oci.is_some(),
        artifact,
    }
}

/// Pushes an OCI index and a Docker manifest list, each listing a manifest the registry
/// took (`children`: the OCI and the Docker one, if taken), preferring its own family.
fn indexes(p: &mut Prober, children: [(&str, &Option<Blob>); 2]) {
    for (cap, oci_index) in [(Cap::OciIndex, true), (Cap::DockerManifestList, false)] {
        let mut order = children;
        if !oci_index {
            order.reverse();
        }
        let Some((child_type, Some(child))) = order.into_iter().find(|(_, b)| b.is_some()) else {
            p.set(
                cap,
                Check::unknown(
                    "not tried".into(),
                    "no image manifest was accepted for it to list",
                ),
            );
            continue;
        };
        let (m, kind, what) = if oci_index {
            (mt::OCI_INDEX, "index", "OCI index")
        } else {
            (mt::DOCKER_LIST, "list", "Docker manifest list")
        };
        let bytes = content::index(oci_index, child_type, child);
        let (c, _, _) = manifest_check(p, &p.tag(kind), m, &bytes, what);
        p.set(cap, c);
    }
}

fn set_noted(p: &mut Prober, cap: Cap, c: Check, note: Option<&str>) {
    match (note, c.supported) {
        (Some(n), None) => p.set(cap, c.note(n)),
        _ => p.set(cap, c),
    }
}

/// Whether the artifact PUT answered with `OCI-Subject` (so the registry indexes referrers).
fn subject_header(put: Check, header: Option<String>, subject: &Blob) -> Check {
    let mut c = put;
    c.note = None;
    match header {
        Some(h) => {
            c.supported = Some(h == subject.digest.to_string());
            c.evidence = format!("{}, OCI-Subject: {h}", c.evidence);
        }
        None => {
            c.supported = Some(false);
            c.evidence = format!("{}, no OCI-Subject header", c.evidence);
            c.note =
                Some("clients fall back to the referrers tag schema (sha256-<hex> tags)".into());
        }
    }
    c
}

/// `GET /v2/REPO/referrers/<digest>`: 200 with an index, or 404.
pub(crate) fn referrers(p: &mut Prober, pushed: &Pushed) {
    let d = &pushed.oci.digest;
    let url = p.v2(&format!("referrers/{d}"));
    let request = format!("GET referrers/{d}");
    let r = p.send(&Req::new(Method::GET, &url).header("accept", mt::OCI_INDEX));
    let c = match r {
        Err(e) => Check::unknown(format!("{request}: {e:#}"), "no answer"),
        Ok(r) if r.status == 200 => {
            let v: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
            let list = v
                .as_ref()
                .and_then(|v| v.get("manifests"))
                .and_then(|m| m.as_array());
            match list {
                Some(items) => {
                    let listed = pushed
                        .artifact
                        .as_ref()
                        .is_some_and(|a| items.iter().any(|i| i["digest"] == a.digest.to_string()));
                    let c = Check::answer(Some(true), &request, &r);
                    match (&pushed.artifact, listed) {
                        (Some(_), true) => c.note("the probe's artifact is listed"),
                        (Some(_), false) => c.note("the probe's artifact is not listed (yet)"),
                        _ => c,
                    }
                }
                None => {
                    Check::answer(Some(false), &request, &r).note("200, but not an image index")
                }
            }
        }
        Ok(r) if r.status == 404 || r.status == 405 => {
            let c = Check::answer(Some(false), &request, &r);
            if pushed.oci_accepted {
                c
            } else {
                c.note("asked about a manifest the registry did not take")
            }
        }
        Ok(r) => Check::answer(None, &request, &r),
    };
    p.set(Cap::Referrers, c);
}

/// `POST ?mount=&from=`: 201 mounted, 202 a session instead (cancelled). The probe writes
/// to no other repository, so it mounts a blob of REPO into REPO itself.
pub(crate) fn mount(p: &mut Prober, image: &Image, pushed: &Pushed) {
    if !pushed.blobs_ok {
        let c = Check::unknown(
            "not tried".into(),
            "the blob to mount could not be uploaded",
        );
        p.set(Cap::CrossRepoMount, c);
        return;
    }
    let d = image.config.digest.to_string();
    let url = with_query(
        &p.http.base,
        &p.v2("blobs/uploads/"),
        &[("mount", &d), ("from", &p.repo.clone())],
    );
    let request = format!("POST ?mount={d}&from={}", p.repo);
    let note = "mounted from the repository into itself: the probe writes to no other repository";
    let c = match p.send(&Req::new(Method::POST, &url)) {
        Err(e) => Check::unknown(format!("{request}: {e:#}"), "no answer"),
        Ok(r) if r.status == 201 => Check::answer(Some(true), &request, &r).note(note),
        Ok(r) if r.status == 202 => {
            if let Some(loc) = r.header("location") {
                p.cancel_session(&loc);
            }
            Check::answer(Some(false), &request, &r)
                .note("the registry opened an upload session instead (cancelled)")
        }
        Ok(r) => Check::answer(None, &request, &r),
    };
    p.set(Cap::CrossRepoMount, c);
}
