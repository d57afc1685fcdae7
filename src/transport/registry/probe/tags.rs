//! Tag listing and pagination: `GET tags/list`, then `?n=1` and the page after it, named
//! by the `Link` header or else by `last=`; and every tag, for the cleanup.

use anyhow::Result;
use reqwest::Method;

use super::http::{Req, Resp};
use super::upload::with_query;
use super::{Cap, Check, Prober};

/// One page of tags: the tags and the `Link` header.
fn tag_page(p: &mut Prober, url: &str) -> Result<(Vec<String>, Option<String>, Resp)> {
    let r = p.send(&Req::new(Method::GET, url))?;
    let tags = serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v.get("tags").and_then(|t| t.as_array()).cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let link = r.header("link");
    Ok((tags, link, r))
}

/// Every tag, following `Link` headers (for the cleanup).
pub(crate) fn all_tags(p: &mut Prober) -> Result<Vec<String>> {
    let mut url = p.v2("tags/list");
    let mut out = Vec::new();
    for _ in 0..100 {
        let (tags, link, _) = tag_page(p, &url)?;
        out.extend(tags);
        match link.as_deref().and_then(next_link) {
            Some(next) => url = next,
            None => break,
        }
    }
    Ok(out)
}

/// `</v2/a/tags/list?last=x&n=1>; rel="next"` → `/v2/a/tags/list?last=x&n=1`
fn next_link(h: &str) -> Option<String> {
    h.split(',')
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
        .and_then(|part| Some(part.split_once('<')?.1.split_once('>')?.0.to_string()))
}

/// `GET tags/list`, then `?n=1` and the `Link` it returns.
pub(crate) fn tags(p: &mut Prober) {
    let request = "GET tags/list".to_string();
    let (all, _, r) = match tag_page(p, &p.v2("tags/list")) {
        Ok(x) => x,
        Err(e) => {
            p.set(
                Cap::TagList,
                Check::unknown(format!("{request}: {e:#}"), "no answer"),
            );
            p.set(
                Cap::TagPagination,
                Check::unknown("not tried".into(), "tags could not be listed"),
            );
            return;
        }
    };
    let ours = all.iter().filter(|t| t.starts_with(&p.tag(""))).count();
    let list = match (r.status, r.code.as_deref()) {
        (200, _) => Check::answer(Some(true), &request, &r)
            .note(format!("{} tags, {ours} of them the probe's", all.len())),
        (404, Some("NAME_UNKNOWN")) => Check::answer(None, &request, &r)
            .note("the repository does not exist: nothing could be pushed to it"),
        (404 | 405, _) => Check::answer(Some(false), &request, &r),
        _ => Check::answer(None, &request, &r),
    };
    p.set(Cap::TagList, list);
    if r.status != 200 || all.len() < 2 {
        p.set(
            Cap::TagPagination,
            Check::unknown("not tried".into(), "fewer than 2 tags to page through"),
        );
        return;
    }
    let first_url = with_query(&p.http.base, &p.v2("tags/list"), &[("n", "1")]);
    let request = "GET tags/list?n=1".to_string();
    let c = match tag_page(p, &first_url) {
        Err(e) => Check::unknown(format!("{request}: {e:#}"), "no answer"),
        Ok((page, _, r)) if page.len() != 1 => Check::answer(Some(false), &request, &r)
            .note(format!("asked for 1 tag, got {}", page.len())),
        Ok((page, link, r)) => pagination(p, &page[0], link, &request, &r),
    };
    p.set(Cap::TagPagination, c);
}

/// The second page, by the `Link` header or else by `last=`.
fn pagination(p: &mut Prober, first: &str, link: Option<String>, request: &str, r: &Resp) -> Check {
    let (next_url, how) = match link.as_deref().and_then(next_link) {
        Some(u) => (u, "Link rel=\"next\""),
        None => (
            with_query(
                &p.http.base,
                &p.v2("tags/list"),
                &[("n", "1"), ("last", first)],
            ),
            "no Link header; last=",
        ),
    };
    match tag_page(p, &next_url) {
        Ok((page, _, r2)) if r2.status == 200 && page.len() == 1 && page[0] != first => {
            let mut c = Check::answer(Some(true), request, r);
            c.evidence = format!("{}, {how} → {}", c.evidence, r2.evidence());
            c
        }
        Ok((page, _, r2)) => {
            let mut c = Check::answer(Some(false), request, r);
            c.evidence = format!(
                "{}, {how} → {} with {} tags",
                c.evidence,
                r2.evidence(),
                page.len()
            );
            c
        }
        Err(e) => Check::unknown(format!("{request}, {how}: {e:#}"), "no answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_link_headers() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=x&n=1>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=1")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
