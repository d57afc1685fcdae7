//! What a sync did, image by image: the `--report` JSON lines, the summary, the exit status
//! an engine can act on, and `--merge-reports` of several shards' reports.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::transport::registry::errors::RegistryError;

/// Exit statuses of `sync` (sysexits names where one fits).
pub const EXIT_SOME_FAILED: u8 = 1;
/// Every failure was temporary (network, 5xx, rate limit): run again later.
pub const EXIT_TEMPORARY: u8 = crate::retry::EXIT_TEMPFAIL;
/// A source repository or image does not exist (`EX_NOINPUT`).
pub const EXIT_NOT_FOUND: u8 = 66;
/// Credentials missing or refused (`EX_NOPERM`): do not retry.
pub const EXIT_AUTH: u8 = 77;
/// The configuration is wrong (`EX_CONFIG`): do not retry.
pub const EXIT_CONFIG: u8 = 78;

/// How an image ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Copied,
    /// The destination already had the source's digest.
    Skipped,
    /// `--dry-run`: would be copied.
    Planned,
    Failed,
}

/// Why an image failed, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    Temporary,
    /// The registry's rate limit is used up (`RateLimit-Remaining: 0`): the run stops.
    RateLimited,
    NotFound,
    Auth,
    Other,
}

/// One line of `--report`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub source: String,
    pub destination: String,
    pub source_digest: Option<String>,
    pub destination_digest: Option<String>,
    pub status: Status,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure: Option<Failure>,
}

/// The class of a failed image's error.
pub fn classify(e: &anyhow::Error) -> Failure {
    if crate::retry::find::<super::exec::NotFound>(e).is_some() {
        return Failure::NotFound;
    }
    if let Some(r) = crate::retry::find::<RegistryError>(e) {
        let code = r.code.as_deref();
        if matches!(r.status, Some(401 | 403)) || matches!(code, Some("UNAUTHORIZED" | "DENIED")) {
            return Failure::Auth;
        }
        if r.limit_used_up {
            return Failure::RateLimited;
        }
        if matches!(code, Some("NAME_UNKNOWN" | "MANIFEST_UNKNOWN")) || r.status == Some(404) {
            return Failure::NotFound;
        }
    }
    match crate::retry::is_temporary(e, crate::transport::registry::errors::classify) {
        true => Failure::Temporary,
        false => Failure::Other,
    }
}

/// Counts of a run (or of several merged).
#[derive(Debug, Default)]
pub struct Summary {
    pub copied: usize,
    pub skipped: usize,
    pub planned: usize,
    pub failures: Vec<Failure>,
    pub bytes: u64,
    /// The run stopped at a failure before every image was tried.
    pub stopped: bool,
}

impl Summary {
    pub fn add(&mut self, l: &Line) {
        match l.status {
            Status::Copied => self.copied += 1,
            Status::Skipped => self.skipped += 1,
            Status::Planned => self.planned += 1,
            Status::Failed => self.failures.push(l.failure.unwrap_or(Failure::Other)),
        }
        self.bytes += l.bytes;
    }

    /// 0 when nothing failed; else what the failures call for, the strongest first:
    /// credentials (do not retry), a missing source, temporary (retry later), or 1.
    pub fn exit_status(&self) -> u8 {
        let all = |f: Failure| self.failures.iter().all(|x| *x == f);
        if self.failures.is_empty() {
            0
        } else if self.failures.contains(&Failure::Auth) {
            EXIT_AUTH
        } else if all(Failure::NotFound) {
            EXIT_NOT_FOUND
        } else if self
            .failures
            .iter()
            .all(|f| matches!(f, Failure::Temporary | Failure::RateLimited))
        {
            EXIT_TEMPORARY
        } else {
            EXIT_SOME_FAILED
        }
    }

    /// `40 images: 35 copied, 5 skipped, 0 failed, 120 MiB`
    pub fn line(&self) -> String {
        let n = self.copied + self.skipped + self.planned + self.failures.len();
        let planned = match self.planned {
            0 => String::new(),
            p => format!(", {p} to copy"),
        };
        format!(
            "{n} images: {} copied, {} skipped{planned}, {} failed, {}",
            self.copied,
            self.skipped,
            self.failures.len(),
            crate::human_bytes(self.bytes)
        )
    }
}

/// Appends report lines to a file, one JSON object per line, as images finish.
pub struct Writer(Option<std::sync::Mutex<std::fs::File>>);

impl Writer {
    pub fn create(path: Option<&Path>) -> Result<Writer> {
        let Some(path) = path else {
            return Ok(Writer(None));
        };
        let f = std::fs::File::create(path)
            .with_context(|| format!("creating the report {}", path.display()))?;
        Ok(Writer(Some(std::sync::Mutex::new(f))))
    }

    pub fn write(&self, l: &Line) -> Result<()> {
        let Some(f) = &self.0 else { return Ok(()) };
        let mut text = serde_json::to_vec(l)?;
        text.push(b'\n');
        f.lock()
            .expect("not poisoned")
            .write_all(&text)
            .context("writing the report")
    }
}

/// Reads the reports of several shards into one summary.
pub fn merge(paths: &[std::path::PathBuf]) -> Result<Summary> {
    let mut s = Summary::default();
    for p in paths {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("reading the report {}", p.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let l: Line = serde_json::from_str(line).with_context(|| {
                format!("{}, line {}: not a sync report line", p.display(), i + 1)
            })?;
            s.add(&l);
        }
    }
    Ok(s)
}
