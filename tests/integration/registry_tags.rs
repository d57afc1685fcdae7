//! `list-tags` pagination against a proxy that serves a real registry's tags in pages
//! (Debian's registry ignores `n`): with `Link` headers the client follows them, without
//! them it asks for the tags after the last one; every tag comes back exactly once.

use crate::support::fixtures::Fixture;
use crate::support::http::{Proxy, Tags};
use crate::support::registry::Registry;
use crate::support::{assert_success, describe, oci_copy};

const NO_TLS: &str = "--tls-verify=false";

fn list(proxy: &Proxy) -> Vec<String> {
    let out = oci_copy([
        "list-tags",
        "--page-size",
        "3",
        NO_TLS,
        &proxy.url("lab/tags"),
    ]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["Repository"],
        format!("{}/lab/tags", proxy.host),
        "{}",
        describe(&out)
    );
    serde_json::from_value(v["Tags"].clone()).unwrap()
}

#[test]
fn list_tags_follows_link_headers_and_last_across_pages() {
    let reg = Registry::start();
    let first = reg.url("lab/tags:t0");
    assert_success(&oci_copy([NO_TLS, &Fixture::OciLayout.reference(), &first]));
    let mut want = vec!["t0".to_string()];
    for i in 1..8 {
        let tag = format!("t{i}");
        assert_success(&oci_copy([
            NO_TLS,
            &first,
            &reg.url(&format!("lab/tags:{tag}")),
        ]));
        want.push(tag);
    }

    // With Link: the pages are named by a cursor that only the Link header carries.
    let linked = Proxy::start(&reg.host, Tags::PagesWithLink);
    assert_eq!(
        list(&linked),
        want,
        "every tag once, in the registry's order"
    );
    let asked: Vec<String> = linked
        .requests()
        .into_iter()
        .filter(|r| r.contains("/tags/list"))
        .collect();
    assert_eq!(
        asked,
        [
            "GET /v2/lab/tags/tags/list?n=3",
            "GET /v2/lab/tags/tags/list?n=3&cursor=3",
            "GET /v2/lab/tags/tags/list?n=3&cursor=6",
        ],
        "the client must follow the Link header"
    );

    // Without Link: full pages lead to `last`, a short page ends the list.
    let paged = Proxy::start(&reg.host, Tags::Pages);
    assert_eq!(list(&paged), want);
    let asked: Vec<String> = paged
        .requests()
        .into_iter()
        .filter(|r| r.contains("/tags/list"))
        .collect();
    assert_eq!(
        asked,
        [
            "GET /v2/lab/tags/tags/list?n=3",
            "GET /v2/lab/tags/tags/list?n=3&last=t2",
            "GET /v2/lab/tags/tags/list?n=3&last=t5",
        ]
    );
}
