//! Registry errors as users read them: one line naming the registry, the repository, what
//! was being done, the registry's own error code and message (`UNAUTHORIZED`,
//! `MANIFEST_UNKNOWN`, ...) and, for the common failures, a hint.

use std::fmt;

use super::below::Below;
pub use crate::redact::redact;

/// A failed registry request, already classified.
#[derive(Debug, Clone, Default)]
pub struct RegistryError {
    /// `127.0.0.1:5000`
    pub registry: String,
    /// `library/alpine`
    pub repository: String,
    /// `pulling the manifest latest`
    pub action: String,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The registry's error code (`NAME_UNKNOWN`), or a code of ours for transport failures.
    pub code: Option<String>,
    pub message: String,
    pub hint: Option<String>,
    /// The request failed below HTTP: connection refused or reset, a timeout.
    pub network: bool,
    /// How long the registry asked us to wait (`Retry-After`), when it said.
    pub retry_after: Option<std::time::Duration>,
    /// What failed below HTTP, when the request did.
    pub below: Option<Below>,
    /// A refusal because the rate limit is used up (`RateLimit-Remaining: 0`): not retried.
    pub limit_used_up: bool,
}

impl std::error::Error for RegistryError {}

/// Who an error is about, and what bears on its hint: the registry and repository, where
/// the credentials came from, the client certificate presented. Every [`RegistryError`] is
/// built here, so each gets its hint and has its message redacted the same way.
pub struct ErrorScope<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub creds_origin: Option<&'a str>,
    pub client_cert: Option<&'a std::path::Path>,
}

impl ErrorScope<'_> {
    pub fn error(
        &self,
        action: &str,
        status: Option<u16>,
        code: Option<String>,
        message: &str,
        network: bool,
    ) -> RegistryError {
        RegistryError {
            registry: self.registry.to_string(),
            repository: self.repository.to_string(),
            action: action.to_string(),
            hint: nginx_client_cert_hint(status, message, self.client_cert)
                .or_else(|| hint(code.as_deref(), self.creds_origin)),
            status,
            code,
            message: redact(message),
            network,
            retry_after: None,
            below: None,
            limit_used_up: false,
        }
    }

    /// The error for a request that failed below HTTP, classified as `below` (from the
    /// typed errors of its chain, see [`super::below`]); `message` is that chain as text.
    pub fn below_http(&self, action: &str, below: Below, message: &str) -> RegistryError {
        RegistryError {
            hint: below.hint(self.client_cert),
            below: Some(below),
            ..self.error(action, None, None, message, below.transient())
        }
    }
}

/// For a refusal without an error envelope: the code its status implies, and the message
/// to show when that is all there is (`None`: keep the body or the error text).
pub fn status_code_and_message(status: Option<u16>) -> (Option<String>, Option<&'static str>) {
    let code = match status {
        Some(401) => Some("UNAUTHORIZED"),
        Some(403) => Some("DENIED"),
        Some(429) => Some("TOOMANYREQUESTS"),
        _ => None,
    };
    let message = (status == Some(401)).then_some("authentication required");
    (code.map(str::to_string), message)
}

impl RegistryError {
    /// Whether the upload session is gone (`BLOB_UPLOAD_UNKNOWN`, `BLOB_UPLOAD_INVALID`, or
    /// a bare 404 on the session URL), so that the upload must restart in a fresh session.
    pub fn session_lost(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("BLOB_UPLOAD_UNKNOWN") | Some("BLOB_UPLOAD_INVALID")
        ) || (self.status == Some(404)
            && self.code.is_none()
            && self.action.starts_with("uploading"))
    }

    /// Why this failure is worth another try, or `None` when it is permanent.
    pub fn transient(&self) -> Option<crate::retry::Transient> {
        let rate_limited =
            self.status == Some(429) || self.code.as_deref() == Some("TOOMANYREQUESTS");
        let status = matches!(self.status, Some(408 | 500 | 502 | 503 | 504));
        let unavailable = self.code.as_deref() == Some("UNAVAILABLE");
        let session_lost = self.session_lost();
        if self.limit_used_up
            || !(rate_limited || status || unavailable || session_lost || self.network)
        {
            return None;
        }
        let reason = match (self.status, &self.code) {
            _ if session_lost => "the registry lost the upload session".to_string(),
            (_, Some(c)) => c.clone(),
            (Some(s), None) => format!("HTTP {s}"),
            (None, None) => one_line(&self.message),
        };
        Some(crate::retry::Transient {
            reason,
            session_lost,
            rate_limited,
            retry_after: self.retry_after,
        })
    }
}

/// The registry transport's classifier, for [`crate::retry::run`]: a [`RegistryError`]
/// (also inside an `io::Error`) is transient as its status and code say, else a broken
/// connection (`io::Error` of a reset, refused, timed out kind) is; the rest is permanent.
pub fn classify(e: &anyhow::Error) -> Option<crate::retry::Transient> {
    if let Some(r) = crate::retry::find::<RegistryError>(e) {
        return r.transient();
    }
    e.chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .and_then(crate::retry::transient_io)
}

/// An error and its sources as one line, `outer: inner: innermost`, skipping a source
/// whose text an outer one already holds (reqwest nests a TLS failure several levels deep).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.repository.as_str() {
            "" => write!(f, "registry {}: {}: ", self.registry, self.action)?,
            repo => write!(
                f,
                "registry {}, repository {repo}: {}: ",
                self.registry, self.action
            )?,
        }
        if let Some(c) = &self.code {
            write!(f, "{c}: ")?;
        } else if let Some(s) = self.status {
            write!(f, "HTTP {s}: ")?;
        }
        f.write_str(&redact(&one_line(&self.message)))?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

/// The error of a registry's error envelope, `{"errors":[{"code","message"}]}`, that says
/// the most: its code and message, with the other errors' after it.
pub fn parse_envelope(body: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let entries: Vec<(String, String)> = v
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| {
            let code = e.get("code")?.as_str()?.to_string();
            let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
            Some((code, msg.to_string()))
        })
        .collect();
    pick_error(entries)
}

/// The error that says the most of several a registry sent at once: a blob it does not
/// know, when it names one, over a general refusal. Distribution answers a manifest PUT
/// whose blob it could not stat (a storage hiccup, a link file being rewritten by a
/// concurrent upload) with `MANIFEST_INVALID` first and `MANIFEST_BLOB_UNKNOWN` after it;
/// read by its first entry alone, that looks like a refusal of the manifest's type, and the
/// copy would convert the image to another format. The others follow in the message.
pub fn pick_error(entries: Vec<(String, String)>) -> Option<(String, String)> {
    let rank = |code: &str| match code {
        "MANIFEST_BLOB_UNKNOWN" | "BLOB_UNKNOWN" => 0,
        _ => 1,
    };
    let best = (0..entries.len()).min_by_key(|&i| rank(&entries[i].0))?;
    let (code, mut msg) = entries[best].clone();
    let others: Vec<String> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, (c, m))| {
            if m.is_empty() {
                c.clone()
            } else {
                format!("{c}: {m}")
            }
        })
        .collect();
    if !others.is_empty() {
        msg = format!("{msg} (also {})", others.join("; "));
    }
    Some((code, msg))
}

/// Whether the registry refused a manifest because of its type, so that another
/// format may be tried.
pub fn is_manifest_type_rejection(status: Option<u16>, code: Option<&str>) -> bool {
    matches!(code, Some("MANIFEST_INVALID") | Some("UNSUPPORTED"))
        || (matches!(status, Some(400) | Some(415))
            && !matches!(
                code,
                Some("MANIFEST_BLOB_UNKNOWN") | Some("BLOB_UNKNOWN") | Some("TAG_INVALID")
            ))
}

/// The hint for nginx's answer when it terminates TLS for a registry and wants a client
/// certificate it did not get or could not verify: HTTP 400 with this page, and nothing
/// typed to tell it by.
fn nginx_client_cert_hint(
    status: Option<u16>,
    body: &str,
    presented: Option<&std::path::Path>,
) -> Option<String> {
    let m = body.to_lowercase();
    let nginx = m.contains("no required ssl certificate was sent")
        || m.contains("the ssl certificate error");
    (status == Some(400) && nginx).then(|| super::below::client_cert_hint(presented))
}

/// A hint for the registry's common error codes. `creds` tells whether credentials were
/// sent. (Failures below HTTP get theirs from [`Below::hint`].)
pub fn hint(code: Option<&str>, creds: Option<&str>) -> Option<String> {
    let h = match code {
        Some("UNAUTHORIZED") => match creds {
            Some(origin) => format!(
                "the credentials from {origin} were refused; check --creds or log in again"
            ),
            None => "no credentials were found for this registry; check --creds or log in"
                .to_string(),
        },
        Some("DENIED") => {
            "the credentials lack access to this repository; check --creds or the repository name"
                .to_string()
        }
        Some("NAME_UNKNOWN") => "the repository does not exist; check the name".to_string(),
        Some("MANIFEST_UNKNOWN") => {
            "no such tag or digest; `oci-copy list-tags` shows the tags".to_string()
        }
        Some("TOOMANYREQUESTS") => "rate limited; wait, or log in".to_string(),
        Some("MANIFEST_BLOB_UNKNOWN") => {
            "the registry does not know a blob this copy uploaded or found there: if it runs as several replicas behind a load balancer, check that they share one storage backend and the same http.secret; `oci-copy probe` on the repository confirms the cause"
                .to_string()
        }
        _ => return None,
    };
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_unknown_among_several_errors_is_the_code_not_a_type_refusal() {
        // Distribution's answer to a manifest PUT whose blob it could not stat.
        let body = r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:ab"}]}"#;
        let (code, msg) = parse_envelope(body).unwrap();
        assert_eq!(code, "MANIFEST_BLOB_UNKNOWN");
        assert_eq!(
            msg,
            "blob unknown to registry (also MANIFEST_INVALID: manifest invalid)"
        );
        assert!(!is_manifest_type_rejection(Some(400), Some(&code)));
        // One error alone is taken as it is.
        let one = r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#;
        let (code, msg) = parse_envelope(one).unwrap();
        assert_eq!(
            (code.as_str(), msg.as_str()),
            ("MANIFEST_INVALID", "manifest invalid")
        );
        assert!(is_manifest_type_rejection(Some(400), Some(&code)));
        assert_eq!(parse_envelope(r#"{"errors":[]}"#), None);
    }

    #[test]
    fn displays_one_line_with_code_and_hint() {
        let (code, message) = parse_envelope(
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
        )
        .unwrap();
        let e = RegistryError {
            registry: "r:5000".into(),
            repository: "a/b".into(),
            action: "pulling the manifest latest".into(),
            status: Some(401),
            hint: hint(Some(&code), None),
            code: Some(code),
            message,
            network: false,
            retry_after: None,
            below: None,
            limit_used_up: false,
        };
        let s = e.to_string();
        assert!(s.contains("registry r:5000, repository a/b"), "{s}");
        assert!(s.contains("UNAUTHORIZED: authentication required"), "{s}");
        assert!(s.contains("check --creds"), "{s}");
    }

    #[test]
    fn nginx_asking_for_a_client_certificate_gets_its_hint() {
        let nginx = "<html><center><h1>400 Bad Request</h1></center><center>No required SSL certificate was sent</center></html>";
        let h = nginx_client_cert_hint(Some(400), nginx, None).unwrap();
        assert!(h.contains("requires a TLS client certificate"), "{h}");
        assert_eq!(nginx_client_cert_hint(Some(200), nginx, None), None);
        // Text that merely mentions an alert is not a TLS failure (see `below.rs`).
        let text = "received fatal alert: BadCertificate";
        assert_eq!(nginx_client_cert_hint(None, text, None), None);
        assert_eq!(hint(None, None), None);
    }

    #[test]
    fn manifest_rejections() {
        assert!(is_manifest_type_rejection(
            Some(400),
            Some("MANIFEST_INVALID")
        ));
        assert!(is_manifest_type_rejection(Some(415), None));
        assert!(!is_manifest_type_rejection(
            Some(400),
            Some("MANIFEST_BLOB_UNKNOWN")
        ));
        assert!(!is_manifest_type_rejection(Some(401), Some("UNAUTHORIZED")));
    }
}
