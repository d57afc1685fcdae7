//! `--referrers` with a multi-platform image: with `--all`, the referrers of the index and
//! of every instance; with one platform, those of that instance only.

use crate::support::push::{get_manifest, manifest_json, sha256};
use crate::support::referrers::{artifact, listed, tag_index, Doc};
use crate::support::registry::Registry;
use crate::support::{assert_success, oci_copy, p, testdata};

/// testdata/oci-index pushed as `lab/multi:v1`, with one artifact hanging from the index,
/// from this machine's instance and from the other: (subject, its referrer) each.
fn multi_with_referrers(a: &Registry) -> [(Doc, Doc); 3] {
    let src = format!("oci:{}:multi", p(&testdata("oci-index")));
    let dst = a.url("lab/multi:v1");
    assert_success(&oci_copy([
        "--quiet",
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &src,
        &dst,
    ]));
    let doc = |d: &str| {
        let bytes = get_manifest(&a.host, "lab/multi", d).1;
        Doc {
            digest: sha256(&bytes),
            bytes,
        }
    };
    let idx = manifest_json(&a.host, "lab/multi", "v1");
    let host = crate::support::fixtures::host_architecture();
    let instance = |want_host: bool| {
        let e = idx["manifests"].as_array().unwrap().iter();
        let mut e = e.filter(|e| (e["platform"]["architecture"] == host) == want_host);
        doc(e.next().unwrap()["digest"].as_str().unwrap())
    };
    let subjects = [
        (doc("v1"), "index"),
        (instance(true), "mine"),
        (instance(false), "other"),
    ];
    subjects.map(|(subject, kind)| {
        let kind = format!("application/x.{kind}");
        let d = artifact(&a.host, "lab/multi", &kind, kind.as_bytes(), &subject, &[]);
        tag_index(&a.host, "lab/multi", &subject, &[d.listed(&kind)]);
        (subject, d)
    })
}

#[test]
fn with_all_the_index_and_every_instance_bring_their_referrers() {
    let (a, b) = (Registry::start(), Registry::start());
    let made = multi_with_referrers(&a);
    let src = a.url("lab/multi:v1");
    let out = oci_copy([
        "--quiet",
        "copy",
        "--all",
        "--referrers",
        "--tls-verify=false",
        &src,
        &b.url("m/multi:v1"),
    ]);
    assert_success(&out);
    for (subject, d) in &made {
        assert_eq!(
            listed(&b.host, "m/multi", &subject.digest),
            vec![d.digest.clone()]
        );
    }
    // One platform: the instance for this machine, with its referrers only.
    let out = oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        "--tls-verify=false",
        &src,
        &b.url("m/one:v1"),
    ]);
    assert_success(&out);
    let [(index, _), (mine, mine_ref), (other, _)] = &made;
    assert_eq!(
        listed(&b.host, "m/one", &mine.digest),
        vec![mine_ref.digest.clone()]
    );
    assert!(listed(&b.host, "m/one", &other.digest).is_empty());
    assert!(listed(&b.host, "m/one", &index.digest).is_empty());
}
