//! Registry errors as users read them: one line naming the registry, the repository, what
//! was being done, the registry's own error code and message (`UNAUTHORIZED`,
//! `MANIFEST_UNKNOWN`, ...) and, for the common failures, a hint.

use std::fmt;

/// A failed registry request, already classified.
#[derive(Debug, Clone)]
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
}

impl std::error::Error for RegistryError {}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "registry {}, repository {}: {}: ",
            self.registry, self.repository, self.action
        )?;
        if let Some(c) = &self.code {
            write!(f, "{c}: ")?;
        } else if let Some(s) = self.status {
            write!(f, "HTTP {s}: ")?;
        }
        f.write_str(&one_line(&self.message))?;
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

/// The first error of a registry's error envelope, `{"errors":[{"code","message"}]}`.
pub fn parse_envelope(body: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = v.get("errors")?.as_array()?.first()?;
    let code = e.get("code")?.as_str()?.to_string();
    let msg = e
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_string();
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

/// A hint for the common failures. `creds` tells whether credentials were sent.
pub fn hint(code: Option<&str>, message: &str, creds: Option<&str>) -> Option<String> {
    let m = message.to_lowercase();
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
        _ if m.contains("unknownissuer")
            || m.contains("certificate")
            || m.contains("invalid peer") =>
        {
            "the registry's certificate is not trusted: use --cert-dir DIR with its CA, or --tls-verify=false"
                .to_string()
        }
        _ if m.contains("corrupt message") || m.contains("invalidcontenttype") => {
            "the registry may speak plain HTTP: use --tls-verify=false".to_string()
        }
        _ if m.contains("connection refused") || m.contains("dns error") => {
            "is the registry running, and are the host and port right?".to_string()
        }
        _ => return None,
    };
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            hint: hint(Some(&code), &message, None),
            code: Some(code),
            message,
        };
        let s = e.to_string();
        assert!(s.contains("registry r:5000, repository a/b"), "{s}");
        assert!(s.contains("UNAUTHORIZED: authentication required"), "{s}");
        assert!(s.contains("check --creds"), "{s}");
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
