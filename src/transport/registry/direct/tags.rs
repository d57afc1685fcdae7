//! Tag lists, which oci-client cannot page as the protocol wants: follow the `Link`
//! header when the registry sends one (oci-client hides response headers), else ask for
//! the tags after the last one while pages come back full.

use std::collections::HashSet;

use anyhow::{anyhow, Result};
use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, Url};

use super::{Direct, MAX_REPLY};

impl Direct {
    /// Every tag of the repository, `page` at a time: follows `Link: <...>; rel="next"`
    /// when the registry sends one, else asks for the tags after the last one while pages
    /// come back full. A tag is listed once, and a page that adds none ends the list.
    pub async fn list_tags(&self, page: usize) -> Result<Vec<String>> {
        let action = "listing tags";
        let scopes = [format!("repository:{}:pull", self.repo)];
        let first = self
            .base
            .join(&format!("v2/{}/tags/list", self.repo))
            .map_err(|e| anyhow!("{action}: {e}"))?;
        let mut url = first.clone();
        url.query_pairs_mut().append_pair("n", &page.to_string());
        let (mut tags, mut seen, mut visited) = (Vec::new(), HashSet::new(), HashSet::new());
        loop {
            tracing::debug!("GET {}{}", url.path(), query_of(&url));
            visited.insert(url.clone());
            let resp = self.send(Method::GET, url.clone(), &scopes, action).await?;
            if !resp.status().is_success() {
                return Err(self.refused(action, resp).await);
            }
            let next = link_next(resp.headers());
            let body = self.body(action, "the tag list", resp, MAX_REPLY).await?;
            let page_tags = parse_tag_list(&body)
                .ok_or_else(|| anyhow!("{action}: the registry's reply is not a tag list"))?;
            let (n, last) = (page_tags.len(), page_tags.last().cloned());
            let before = tags.len();
            tags.extend(page_tags.into_iter().filter(|t| seen.insert(t.clone())));
            if tags.len() == before {
                return Ok(tags);
            }
            url = match (next, last) {
                (Some(link), _) => {
                    let u = url
                        .join(&link)
                        .map_err(|e| anyhow!("{action}: the Link {link:?} is not a URL: {e}"))?;
                    if !self.same_origin(&u) {
                        anyhow::bail!("{action}: the registry's next page {u} is on another host");
                    }
                    if visited.contains(&u) {
                        return Ok(tags);
                    }
                    u
                }
                (None, Some(last)) if n >= page => {
                    let mut u = first.clone();
                    u.query_pairs_mut()
                        .append_pair("n", &page.to_string())
                        .append_pair("last", &last);
                    u
                }
                _ => return Ok(tags),
            };
        }
    }
}

fn query_of(url: &Url) -> String {
    url.query().map(|q| format!("?{q}")).unwrap_or_default()
}

/// `{"name": ..., "tags": [...]}`; `tags` may be null on an empty repository.
fn parse_tag_list(body: &[u8]) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct TagList {
        tags: Option<Vec<String>>,
    }
    let list: TagList = serde_json::from_slice(body).ok()?;
    Some(list.tags.unwrap_or_default())
}

/// The `rel="next"` target of the `Link` headers (RFC 8288), as written.
pub(super) fn link_next(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let mut rest = value.to_str().ok()?;
        while let Some(open) = rest.find('<') {
            let close = open + rest[open..].find('>')?;
            let target = &rest[open + 1..close];
            let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
            let params = &rest[close + 1..params_end];
            let is_next = params.split(';').any(|p| {
                let Some((k, v)) = p.split_once('=') else {
                    return false;
                };
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            if is_next {
                return Some(target.to_string());
            }
            rest = &rest[params_end..];
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn finds_the_next_link() {
        let mut h = HeaderMap::new();
        h.append(
            LINK,
            HeaderValue::from_static(
                r#"</v2/a/tags/list?n=2&last=b>; rel="prev", </v2/a/tags/list?last=d&n=2>; rel="next""#,
            ),
        );
        assert_eq!(link_next(&h).as_deref(), Some("/v2/a/tags/list?last=d&n=2"));
        let mut h = HeaderMap::new();
        h.append(LINK, HeaderValue::from_static("</x>; rel=next"));
        assert_eq!(link_next(&h).as_deref(), Some("/x"));
        let mut h = HeaderMap::new();
        h.append(LINK, HeaderValue::from_static(r#"</x>; rel="prev""#));
        assert_eq!(link_next(&h), None);
        assert_eq!(link_next(&HeaderMap::new()), None);
    }

    #[test]
    fn tag_lists_may_be_null() {
        assert_eq!(
            parse_tag_list(br#"{"name":"a","tags":["x","y"]}"#),
            Some(vec!["x".to_string(), "y".to_string()])
        );
        assert_eq!(parse_tag_list(br#"{"name":"a","tags":null}"#), Some(vec![]));
        assert_eq!(parse_tag_list(b"<html>"), None);
    }
}
