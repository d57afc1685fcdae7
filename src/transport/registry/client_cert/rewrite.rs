//! The bridge's URL rewriting: absolute `https://` URLs in `Location`, `Link` and the
//! bearer `realm` of a registry's answer become `http://` ones that come back through the
//! bridge, which remembers each origin it rewrote and upgrades exactly those back.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::Response;
use reqwest::Url;

use super::proxy::strip_hop_by_hop;
use super::Shared;

impl Shared {
    /// The registry's response, with its URLs pointing back through the bridge.
    pub(super) fn relay(&self, resp: reqwest::Response) -> Response<reqwest::Body> {
        let (mut parts, body) = Response::from(resp).into_parts();
        strip_hop_by_hop(&mut parts.headers);
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            if let Some(v) = parts.headers.get(&name).and_then(|v| v.to_str().ok()) {
                if let Some(new) = self.rewrite_url(v).and_then(|s| s.parse().ok()) {
                    parts.headers.insert(name, new);
                }
            }
        }
        rewrite_all(&mut parts.headers, header::LINK, |v| self.rewrite_link(v));
        rewrite_all(&mut parts.headers, header::WWW_AUTHENTICATE, |v| {
            self.rewrite_realm(v)
        });
        Response::from_parts(parts, body)
    }

    /// Where a request for `target` (absolute-form, from oci-client) goes: the registry over
    /// HTTPS, an origin rewritten earlier over HTTPS, or anything else as it is (plain HTTP).
    pub(super) fn upstream(&self, target: &str) -> Option<Url> {
        let url = Url::parse(target).ok()?;
        if url.scheme() != "http" {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let port = url.port_or_known_default()?;
        let on = |base: &Url| {
            let mut u = base.clone();
            u.set_path(url.path());
            u.set_query(url.query());
            u
        };
        if Some(host.as_str()) == self.http_origin.host_str()
            && Some(port) == self.http_origin.port_or_known_default()
        {
            return Some(on(&self.https_origin));
        }
        let upgraded = self.upgraded.lock().expect("not poisoned");
        if url.port().is_some() && upgraded.contains(&(host.clone(), port)) {
            return Url::parse(&format!("https://{host}:{port}/"))
                .ok()
                .map(|b| on(&b));
        }
        Some(url)
    }

    /// `https://REGISTRY/x` → `http://REGISTRY/x`; another `https://h:p/x` → `http://h:p/x`
    /// (remembered, so that it is upgraded back). `None` for anything else (relative URLs,
    /// plain HTTP), which stays as it is.
    fn rewrite_url(&self, s: &str) -> Option<String> {
        let url = Url::parse(s).ok()?;
        if url.scheme() != "https" {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let port = url.port_or_known_default()?;
        let rest = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        if Some(host.as_str()) == self.https_origin.host_str()
            && Some(port) == self.https_origin.port_or_known_default()
        {
            return Some(format!("http://{}{rest}", self.registry));
        }
        self.upgraded
            .lock()
            .expect("not poisoned")
            .insert((host.clone(), port));
        Some(format!("http://{host}:{port}{rest}"))
    }

    /// Rewrites each `<URL>` of a `Link` header.
    fn rewrite_link(&self, v: &str) -> Option<String> {
        let mut out = String::with_capacity(v.len());
        let mut rest = v;
        let mut changed = false;
        while let Some(open) = rest.find('<') {
            let close = open + rest[open..].find('>')?;
            out.push_str(&rest[..=open]);
            match self.rewrite_url(&rest[open + 1..close]) {
                Some(u) => {
                    out.push_str(&u);
                    changed = true;
                }
                None => out.push_str(&rest[open + 1..close]),
            }
            rest = &rest[close..];
        }
        out.push_str(rest);
        changed.then_some(out)
    }

    /// Rewrites the `realm="URL"` of a bearer challenge.
    fn rewrite_realm(&self, v: &str) -> Option<String> {
        let start = v.to_ascii_lowercase().find("realm=\"")? + "realm=\"".len();
        let end = start + v[start..].find('"')?;
        let new = self.rewrite_url(&v[start..end])?;
        Some(format!("{}{new}{}", &v[..start], &v[end..]))
    }
}

/// Replaces every value of header `name` that `f` rewrites.
fn rewrite_all(headers: &mut HeaderMap, name: HeaderName, f: impl Fn(&str) -> Option<String>) {
    let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
    if values.is_empty() {
        return;
    }
    let new: Vec<HeaderValue> = values
        .iter()
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(&f)
                .and_then(|s| HeaderValue::from_str(&s).ok())
                .unwrap_or_else(|| v.clone())
        })
        .collect();
    headers.remove(&name);
    for v in new {
        headers.append(name.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::shared;

    #[test]
    fn registry_urls_come_back_through_the_bridge() {
        let s = shared("reg.example");
        assert_eq!(
            s.rewrite_url("https://reg.example:443/v2/a/blobs/uploads/u?_state=x")
                .as_deref(),
            Some("http://reg.example/v2/a/blobs/uploads/u?_state=x")
        );
        assert_eq!(s.rewrite_url("/v2/a/blobs/uploads/u"), None);
        assert_eq!(s.rewrite_url("http://plain.example/x"), None);
        assert_eq!(
            s.upstream("http://reg.example/v2/a/blobs/uploads/u?_state=x")
                .unwrap()
                .as_str(),
            "https://reg.example/v2/a/blobs/uploads/u?_state=x"
        );
        let s = shared("127.0.0.1:5000");
        assert_eq!(
            s.rewrite_url("https://127.0.0.1:5000/v2/").as_deref(),
            Some("http://127.0.0.1:5000/v2/")
        );
        assert_eq!(
            s.upstream("http://127.0.0.1:5000/v2/").unwrap().as_str(),
            "https://127.0.0.1:5000/v2/"
        );
        assert_eq!(s.upstream("https://127.0.0.1:5000/v2/"), None);
        assert_eq!(s.upstream("/v2/"), None);
    }

    #[test]
    fn other_https_origins_are_upgraded_only_once_rewritten() {
        let s = shared("reg.example");
        assert_eq!(
            s.upstream("http://auth.example:443/token")
                .unwrap()
                .as_str(),
            "http://auth.example:443/token"
        );
        assert_eq!(
            s.rewrite_realm(r#"Bearer realm="https://auth.example/token",service="reg""#)
                .as_deref(),
            Some(r#"Bearer realm="http://auth.example:443/token",service="reg""#)
        );
        assert_eq!(
            s.upstream("http://auth.example:443/token?scope=a")
                .unwrap()
                .as_str(),
            "https://auth.example/token?scope=a"
        );
        // Plain HTTP to the same host stays plain.
        assert_eq!(
            s.upstream("http://auth.example/token").unwrap().as_str(),
            "http://auth.example/token"
        );
        assert_eq!(s.rewrite_realm(r#"Basic realm="registry""#), None);
    }

    #[test]
    fn link_targets_are_rewritten() {
        let s = shared("reg.example");
        assert_eq!(
            s.rewrite_link(r#"<https://reg.example/v2/a/tags/list?n=2&last=b>; rel="next""#)
                .as_deref(),
            Some(r#"<http://reg.example/v2/a/tags/list?n=2&last=b>; rel="next""#)
        );
        assert_eq!(s.rewrite_link(r#"</v2/a/tags/list?n=2>; rel="next""#), None);
    }
}
