//! Blob uploads as the probe makes them, one request at a time, recording each status:
//! POST then PUT (monolithic), POST then PATCHes then PUT (chunked), and a single POST with
//! `?digest=`. Each request of a session is checked for the signs of a lost session: the
//! registry no longer knows it (`BLOB_UPLOAD_UNKNOWN`, 404), refuses its state
//! (`BLOB_UPLOAD_INVALID`), moves it to another host or session, or loses bytes.

use reqwest::{Method, Url};
use serde::Serialize;

use super::content::Blob;
use super::http::{Req, Resp};
use super::Prober;

/// What went wrong in an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lost {
    /// `BLOB_UPLOAD_UNKNOWN`: the registry does not know the session.
    SessionUnknown,
    /// `BLOB_UPLOAD_INVALID`: the registry refused the session's state.
    SessionInvalid,
    /// 404 on the session URL, without an error code.
    SessionNotFound,
    /// The `Location` moved to another host or session between requests.
    SessionMoved,
    /// The registry holds fewer bytes than were sent (its `Range`).
    BytesLost,
    /// The PUT succeeded, but the blob was not there right after (HEAD 404).
    NotVisible,
    /// Any other refusal.
    Refused,
    /// No HTTP answer at all.
    NoAnswer,
}

impl Lost {
    /// Whether this is a sign of a session that vanished between requests.
    pub fn is_session_loss(self) -> bool {
        matches!(
            self,
            Lost::SessionUnknown
                | Lost::SessionInvalid
                | Lost::SessionNotFound
                | Lost::BytesLost
                | Lost::NotVisible
        )
    }
}

/// One failed (or suspicious) request of an upload.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// `PATCH 2/3`
    pub step: String,
    pub kind: Lost,
    pub status: Option<u16>,
    pub code: Option<String>,
    /// `404 BLOB_UPLOAD_UNKNOWN: blob upload unknown to registry`
    pub evidence: String,
}

/// The requests of one upload and how it ended.
#[derive(Debug, Default)]
pub struct Trace {
    /// `POST 202`, `PATCH 202`, ...
    pub steps: Vec<String>,
    pub failure: Option<Failure>,
    /// Suspicious but not fatal: a `Location` that moved.
    pub warnings: Vec<Failure>,
    /// The status of the request that stored the blob (the PUT, or the single POST).
    pub stored: Option<u16>,
}

impl Trace {
    /// `POST 202 → PATCH 202 ×3 → PUT 201`
    pub fn summary(&self) -> String {
        let mut out: Vec<(String, usize)> = Vec::new();
        for s in &self.steps {
            match out.last_mut() {
                Some((last, n)) if last == s => *n += 1,
                _ => out.push((s.clone(), 1)),
            }
        }
        out.iter()
            .map(|(s, n)| {
                if *n > 1 {
                    format!("{s} ×{n}")
                } else {
                    s.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" → ")
    }

    fn record(&mut self, verb: &str, r: &Resp) {
        self.steps.push(format!("{verb} {}", r.evidence()));
    }

    fn fail(mut self, step: &str, kind: Lost, r: &Resp) -> Trace {
        self.failure = Some(Failure {
            step: step.to_string(),
            kind,
            status: Some(r.status),
            code: r.code.clone(),
            evidence: describe(r),
        });
        self
    }

    fn fail_with(mut self, step: &str, kind: Lost, evidence: String) -> Trace {
        self.steps.push(format!("{step} failed"));
        self.failure = Some(Failure {
            step: step.to_string(),
            kind,
            status: None,
            code: None,
            evidence,
        });
        self
    }
}

/// `404 BLOB_UPLOAD_UNKNOWN: blob upload unknown to registry`
pub fn describe(r: &Resp) -> String {
    match r.message.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => format!("{}: {m}", r.evidence()),
        None => r.evidence(),
    }
}

/// What a refusal on a session URL means.
fn classify(r: &Resp) -> Lost {
    match r.code.as_deref() {
        Some("BLOB_UPLOAD_UNKNOWN") => Lost::SessionUnknown,
        Some("BLOB_UPLOAD_INVALID") => Lost::SessionInvalid,
        _ if r.status == 404 => Lost::SessionNotFound,
        _ => Lost::Refused,
    }
}

/// The host and path of a session URL: what must stay the same between requests.
fn session_of(base: &Url, loc: &str) -> Option<(String, String)> {
    let u = base.join(loc).ok()?;
    let host = format!("{}:{}", u.host_str()?, u.port_or_known_default()?);
    Some((host, u.path().to_string()))
}

/// `url` with `key=value` added to its query.
pub fn with_query(base: &Url, url: &str, pairs: &[(&str, &str)]) -> String {
    match base.join(url) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// Splits `n` bytes into `parts` nearly equal ranges.
fn ranges(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.clamp(1, n.max(1));
    let size = n.div_ceil(parts);
    (0..n)
        .step_by(size.max(1))
        .map(|s| (s, (s + size).min(n)))
        .collect()
}

impl Prober {
    /// Uploads `blob` in a session: POST, `patches` PATCH requests (0: the PUT carries the
    /// body), PUT, then HEAD to see it. `fresh`: every request on a new connection.
    pub(crate) fn upload(&mut self, blob: &Blob, patches: usize, fresh: bool) -> Trace {
        let mut t = Trace::default();
        let start = self.v2("blobs/uploads/");
        let r = match self.send(&Req::new(Method::POST, &start).fresh(fresh)) {
            Ok(r) => r,
            Err(e) => return t.fail_with("POST", Lost::NoAnswer, format!("{e:#}")),
        };
        t.record("POST", &r);
        if r.status != 202 {
            return t.fail("POST", Lost::Refused, &r);
        }
        let Some(mut loc) = r.header("location") else {
            return t.fail_with("POST", Lost::Refused, "202 without a Location".into());
        };
        let first = session_of(&self.http.base, &loc);
        let pieces = if patches == 0 {
            Vec::new()
        } else {
            ranges(blob.bytes.len(), patches)
        };
        let n = pieces.len();
        for (i, range) in pieces.into_iter().enumerate() {
            let step = format!("PATCH {}/{n}", i + 1);
            match self.patch(&mut t, &step, blob, &loc, range, fresh) {
                Err(()) => return t,
                Ok(next) => loc = self.follow(&mut t, &step, &first, loc, next),
            }
        }
        let digest = blob.digest.to_string();
        let url = with_query(&self.http.base, &loc, &[("digest", &digest)]);
        let mut req = Req::new(Method::PUT, &url).fresh(fresh);
        if patches == 0 {
            req = req
                .header("content-type", "application/octet-stream")
                .body(blob.bytes.clone());
        }
        let r = match self.send(&req) {
            Ok(r) => r,
            Err(e) => return t.fail_with("PUT", Lost::NoAnswer, format!("{e:#}")),
        };
        t.record("PUT", &r);
        if r.status != 201 {
            return t.fail("PUT", classify(&r), &r);
        }
        t.stored = Some(r.status);
        self.wrote_blob(&blob.digest);
        self.check_visible(t, blob, fresh)
    }

    /// PATCHes the bytes `s..e` of `blob` to the session at `loc`: the `Location` of the
    /// answer, if any (the trace has the failure when `Err`).
    fn patch(
        &mut self,
        t: &mut Trace,
        step: &str,
        blob: &Blob,
        loc: &str,
        (s, e): (usize, usize),
        fresh: bool,
    ) -> Result<Option<(String, u16)>, ()> {
        let req = Req::new(Method::PATCH, loc)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{s}-{}", e - 1))
            .body(blob.bytes[s..e].to_vec())
            .fresh(fresh);
        let r = match self.send(&req) {
            Ok(r) => r,
            Err(err) => {
                *t = std::mem::take(t).fail_with(step, Lost::NoAnswer, format!("{err:#}"));
                return Err(());
            }
        };
        t.record("PATCH", &r);
        if r.status != 202 {
            *t = std::mem::take(t).fail(step, classify(&r), &r);
            return Err(());
        }
        if let Some(range) = r.header("range") {
            let end = range
                .rsplit('-')
                .next()
                .and_then(|x| x.trim().parse::<usize>().ok());
            if end.is_some_and(|end| end + 1 < e) {
                let ev = format!("202 with Range: {range} after {e} bytes were sent");
                *t = std::mem::take(t).fail_with(step, Lost::BytesLost, ev);
                return Err(());
            }
        }
        Ok(r.header("location").map(|l| (l, r.status)))
    }

    /// The session URL after a PATCH answered with `next` (a `Location` and its status): a
    /// move to another host or session is warned about.
    fn follow(
        &self,
        t: &mut Trace,
        step: &str,
        first: &Option<(String, String)>,
        loc: String,
        next: Option<(String, u16)>,
    ) -> String {
        let Some((next, status)) = next else {
            return loc;
        };
        let now = session_of(&self.http.base, &next);
        if &now != first {
            t.warnings.push(Failure {
                step: step.to_string(),
                kind: Lost::SessionMoved,
                status: Some(status),
                code: None,
                evidence: format!("the Location moved from {} to {}", show(first), show(&now)),
            });
        }
        next
    }

    /// HEAD right after an upload: the blob must be there.
    fn check_visible(&mut self, mut t: Trace, blob: &Blob, fresh: bool) -> Trace {
        let url = self.v2(&format!("blobs/{}", blob.digest));
        match self.send(&Req::new(Method::HEAD, &url).fresh(fresh)) {
            Ok(r) => {
                t.record("HEAD", &r);
                if r.status == 404 {
                    return t.fail("HEAD", Lost::NotVisible, &r);
                }
                t
            }
            Err(e) => t.fail_with("HEAD", Lost::NoAnswer, format!("{e:#}")),
        }
    }

    /// A single `POST ?digest=` carrying the blob. Returns the trace and whether the
    /// registry opened a session instead (it does not support this form).
    pub(crate) fn upload_single_post(&mut self, blob: &Blob) -> (Trace, bool) {
        let mut t = Trace::default();
        let digest = blob.digest.to_string();
        let url = with_query(
            &self.http.base,
            &self.v2("blobs/uploads/"),
            &[("digest", &digest)],
        );
        let req = Req::new(Method::POST, &url)
            .header("content-type", "application/octet-stream")
            .body(blob.bytes.clone());
        let r = match self.send(&req) {
            Ok(r) => r,
            Err(e) => return (t.fail_with("POST", Lost::NoAnswer, format!("{e:#}")), false),
        };
        t.record("POST", &r);
        match r.status {
            201 => {
                t.stored = Some(r.status);
                self.wrote_blob(&blob.digest);
                (self.check_visible(t, blob, false), false)
            }
            202 => {
                t.stored = Some(r.status);
                if let Some(loc) = r.header("location") {
                    self.cancel_session(&loc);
                }
                (t, true)
            }
            _ => (t.fail("POST", Lost::Refused, &r), false),
        }
    }

    /// Cancels an upload session; best effort (registries purge stale sessions anyway).
    pub(crate) fn cancel_session(&mut self, loc: &str) {
        if let Ok(r) = self.send(&Req::new(Method::DELETE, loc)) {
            tracing::debug!("probe: cancelling an upload session: {}", r.evidence());
        }
    }
}

fn show(s: &Option<(String, String)>) -> String {
    match s {
        Some((h, p)) => format!("{h}{p}"),
        None => "(unparseable)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_ranges_and_summarises() {
        assert_eq!(ranges(10, 3), vec![(0, 4), (4, 8), (8, 10)]);
        assert_eq!(ranges(2, 3), vec![(0, 1), (1, 2)]);
        let t = Trace {
            steps: vec!["POST 202".into(), "PATCH 202".into(), "PATCH 202".into()],
            ..Default::default()
        };
        assert_eq!(t.summary(), "POST 202 → PATCH 202 ×2");
    }

    #[test]
    fn sessions_compare_by_host_and_path() {
        let base = Url::parse("http://r:5000/").unwrap();
        let a = session_of(&base, "/v2/a/blobs/uploads/1?_state=x");
        let b = session_of(&base, "http://r:5000/v2/a/blobs/uploads/1?_state=y");
        assert_eq!(a, b);
        assert_ne!(a, session_of(&base, "http://s:5000/v2/a/blobs/uploads/1"));
    }
}
