//! The one parser of `WWW-Authenticate` challenges (RFC 7235), for the HTTP layer's auth
//! and for the probe, which reports what the registry asked for.

use std::collections::HashMap;

/// A parsed challenge: its scheme in lower case (`bearer`, `basic`) and its parameters,
/// keys in lower case (`realm`, `service`, `scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: HashMap<String, String>,
}

/// `Bearer realm="...",service="..."` → scheme `bearer` and its parameters. Quoted values may hold commas
/// and backslash escapes.
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, mut rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let mut params = HashMap::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let mut value = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        params.insert(key, value);
    }
    if scheme.is_empty() {
        return None;
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let Challenge { scheme, params: p } = parse(
            r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull,push repository:c:pull""#,
        )
        .unwrap();
        assert_eq!(scheme, "bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "reg.example");
        assert_eq!(p["scope"], "repository:a/b:pull,push repository:c:pull");
        let Challenge { scheme, params: p } = parse(r#"Basic realm="a \"q\", b""#).unwrap();
        assert_eq!(
            (scheme.as_str(), p["realm"].as_str()),
            ("basic", r#"a "q", b"#)
        );
        let p = parse("Bearer realm=https://x/t, service=s").unwrap().params;
        assert_eq!(
            (p["realm"].as_str(), p["service"].as_str()),
            ("https://x/t", "s")
        );
    }

    #[test]
    fn an_empty_header_is_no_challenge() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("Basic").unwrap().params.len(), 0);
    }
}
