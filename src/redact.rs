//! The one redaction: removes secrets from any text that may hold a URL (error messages,
//! `--debug` lines, the probe's evidence, a reference that does not parse) before it is
//! shown. A support module below every layer that shows such text: references, the
//! registry layer and `main` all use it.

/// Removes secrets from text that may hold a URL: the `user:password@` of a URL, and the
/// values of query parameters that carry credentials (signed storage redirects, tokens).
pub fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == ')' || c == '"')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("REDACTED@");
                rest = &tail[at + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    redact_query(&out)
}

/// `?token=abc&x=1` → `?token=REDACTED&x=1` for the parameter names that carry secrets.
fn redact_query(s: &str) -> String {
    const SECRET_KEYS: &[&str] = &[
        "token",
        "access_token",
        "refresh_token",
        "password",
        "signature",
        "sig",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "_state",
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['?', '&']) {
        let (head, tail) = rest.split_at(i + 1);
        out.push_str(head);
        let key_end = tail.find('=').unwrap_or(0);
        let key = &tail[..key_end];
        let lower = key.to_ascii_lowercase();
        let secret = SECRET_KEYS.contains(&lower.as_str())
            || ["token", "sig", "credential"]
                .iter()
                .any(|k| lower.contains(k));
        if key_end > 0 && secret {
            let val_end = tail[key_end..]
                .find(|c: char| c == '&' || c.is_whitespace() || c == ')' || c == '"')
                .map_or(tail.len(), |e| key_end + e);
            out.push_str(key);
            out.push_str("=REDACTED");
            rest = &tail[val_end..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_urls() {
        let s = redact(
            "error sending request for url (https://me:s3cret@r.example/v2/a?_state=abc&x=1)",
        );
        assert!(!s.contains("s3cret") && !s.contains("abc"), "{s}");
        assert!(
            s.contains("https://REDACTED@r.example/v2/a?_state=REDACTED&x=1"),
            "{s}"
        );
        let s = redact("https://s3.example/b?X-Amz-Credential=AK&X-Amz-Signature=ff&n=2 failed");
        assert_eq!(
            s,
            "https://s3.example/b?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&n=2 failed"
        );
        assert_eq!(
            redact("a@b: plain text, user@host"),
            "a@b: plain text, user@host"
        );
    }
}
