//! Upload-session consistency: several uploads of several requests each (POST, 3 PATCHes,
//! PUT, then a HEAD), every request on a new connection so that a load balancer spreads
//! them, and a plain-words account of what sessions that vanish between requests mean.

use serde::Serialize;

use super::content::{self, Blob};
use super::upload::{Failure, Lost};
use super::Prober;

/// PATCH requests per upload.
const PATCHES: usize = 3;

/// What the session test found.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    pub uploads: usize,
    /// POST, PATCHes, PUT and HEAD.
    pub requests_per_upload: usize,
    pub completed: usize,
    pub consistent: bool,
    /// The first failure of each failed upload, with the upload's number (from 1).
    pub problems: Vec<SessionProblem>,
    /// Suspicious but not fatal: a `Location` that moved to another host or session.
    pub warnings: Vec<SessionProblem>,
    /// What it means, in plain words.
    pub diagnosis: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionProblem {
    pub upload: usize,
    #[serde(flatten)]
    pub failure: Failure,
}

/// Runs `uploads` uploads and explains the outcome.
pub(crate) fn run(p: &mut Prober, uploads: usize) -> SessionReport {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut completed = 0;
    for i in 1..=uploads {
        let blob = Blob::new(content::noise(&p.id, &format!("session-{i}"), 3 * 64));
        let t = p.upload(&blob, PATCHES, true);
        tracing::debug!("probe: upload {i}: {}", t.summary());
        warnings.extend(
            t.warnings
                .into_iter()
                .map(|failure| SessionProblem { upload: i, failure }),
        );
        match t.failure {
            Some(failure) => problems.push(SessionProblem { upload: i, failure }),
            None => completed += 1,
        }
    }
    let consistent = problems.is_empty();
    let diagnosis = diagnose(uploads, completed, &problems, &warnings);
    SessionReport {
        uploads,
        requests_per_upload: PATCHES + 3,
        completed,
        consistent,
        problems,
        warnings,
        diagnosis,
    }
}

fn count(problems: &[SessionProblem], kinds: &[Lost]) -> usize {
    problems
        .iter()
        .filter(|p| kinds.contains(&p.failure.kind))
        .count()
}

/// The plain-words account.
pub fn diagnose(
    uploads: usize,
    completed: usize,
    problems: &[SessionProblem],
    warnings: &[SessionProblem],
) -> String {
    let requests = PATCHES + 3;
    if problems.is_empty() {
        let mut s = format!(
            "Upload sessions are consistent: {uploads} uploads of {requests} requests each (POST, {PATCHES} PATCHes, PUT, HEAD), every request on a new connection, kept their sessions and their bytes."
        );
        if !warnings.is_empty() {
            s += &format!(
                " But the upload Location moved between requests {} times ({}); a client that keeps using the first Location would lose its session.",
                warnings.len(),
                warnings[0].failure.evidence
            );
        }
        return s;
    }
    let invalid = count(problems, &[Lost::SessionInvalid]);
    let unknown = count(problems, &[Lost::SessionUnknown, Lost::SessionNotFound]);
    let unseen = count(problems, &[Lost::NotVisible, Lost::BytesLost]);
    let lost = invalid + unknown + unseen;
    let first = &problems[0];
    let mut s = format!(
        "Upload sessions are NOT consistent: {} of {uploads} uploads failed part-way (the first: upload {} at {}: {}).",
        uploads - completed,
        first.upload,
        first.failure.step,
        first.failure.evidence
    );
    if lost == 0 {
        s += " The failures are not the signs of a lost session; they are listed above.";
        return s;
    }
    s += " A session the registry started was unknown or refused by a later request of the same upload.";
    s += " This is the signature of several registry replicas behind a load balancer that have neither shared storage nor a shared http.secret: each request can land on a different replica, and that replica does not know the upload.";
    if invalid > 0 {
        s += " BLOB_UPLOAD_INVALID means the replica could not verify the session's state: its http.secret (REGISTRY_HTTP_SECRET) differs from the replica that started the upload (a replica without one makes up its own at start). With one secret, replicas still need shared storage, or the next request fails with BLOB_UPLOAD_UNKNOWN instead.";
    }
    if unknown > 0 || unseen > 0 {
        s += " BLOB_UPLOAD_UNKNOWN, a 404 on the session URL or a blob missing right after its upload mean the replica has no such upload or blob in its storage: the replicas do not have shared storage, or an unreliable shared filesystem such as NFS lost or delayed the upload's files.";
    }
    s += " To confirm: push to one replica directly, bypassing the load balancer (it will work); compare REGISTRY_HTTP_SECRET (http.secret) and the storage configuration (REGISTRY_STORAGE_*, storage: in config.yml) across the replicas; and where they share a directory, check whether it is NFS (`stat -f -c %T DIR`, `mount | grep nfs`) and how it caches (lookupcache, actimeo).";
    s += " To fix: give every replica the same http.secret and the same storage (object storage such as S3 is safer than NFS), or make the load balancer send each client to one replica (sticky sessions).";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: Lost, code: &str) -> SessionProblem {
        SessionProblem {
            upload: 1,
            failure: Failure {
                step: "PATCH 1/3".into(),
                kind,
                status: Some(400),
                code: Some(code.into()),
                evidence: format!("400 {code}"),
            },
        }
    }

    #[test]
    fn names_the_causes() {
        let d = diagnose(
            5,
            0,
            &[problem(Lost::SessionInvalid, "BLOB_UPLOAD_INVALID")],
            &[],
        );
        for needle in [
            "load balancer",
            "replicas",
            "http.secret",
            "storage",
            "NFS",
            "push to one replica directly",
        ] {
            assert!(d.contains(needle), "{needle}: {d}");
        }
        let ok = diagnose(5, 5, &[], &[]);
        assert!(ok.starts_with("Upload sessions are consistent"), "{ok}");
    }
}
