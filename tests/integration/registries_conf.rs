//! Mirrors and short-name aliases from `registries.conf`, with two real registries, each
//! behind a recording proxy: the mirror holds one image under a tag and the primary
//! another, so the bytes pulled and the requests each saw tell which served. A mirror that
//! has the image serves it and the primary is not asked; a mirror without it, or down,
//! falls back to the primary.

use std::path::Path;

use crate::support::check::check_oci_layout;
use crate::support::fixtures::Fixture;
use crate::support::http::{Proxy, Tags};
use crate::support::registry::{oci_copy_env, Registry};
use crate::support::{assert_failure, assert_success, describe, p, tempdir};

/// The primary at `primary`, its mirror at `mirror` (both plain HTTP, so `insecure`).
fn conf(primary: &str, mirror: &str) -> String {
    format!(
        "unqualified-search-registries = [\"docker.io\"]\n\n[[registry]]\nprefix = \"{primary}\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"{mirror}/cache\"\ninsecure = true\n\n[aliases]\n\"myapp\" = \"{primary}/lab/app\"\n"
    )
}

/// Pulls `url` into a fresh layout with `args` and returns the config digest pulled.
fn pull(home: &Path, args: &[&str], url: &str) -> (String, String) {
    let layout = home.join(format!("pulled-{}", rand_suffix()));
    let dst = format!("oci:{}:x", p(&layout));
    let mut all = args.to_vec();
    all.extend([url, dst.as_str()]);
    let out = oci_copy_env(&all, home, &[]);
    assert_success(&out);
    let config = check_oci_layout(&layout).tagged("x").images[0]
        .config_digest
        .clone();
    (config, String::from_utf8_lossy(&out.stderr).to_string())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn asked(proxy: &Proxy, path: &str) -> bool {
    proxy.requests().iter().any(|r| r.contains(path))
}

/// A primary and a mirror, each behind a recording proxy, and a registries.conf naming
/// them: the primary holds `lab/app:1` and `:2` (DockerLegacy), the mirror only
/// `cache/lab/app:1`, another image (OciLayout).
struct Pair {
    _registries: (Registry, Registry),
    primary: Proxy,
    mirror: Proxy,
    home: tempfile::TempDir,
    conf: std::path::PathBuf,
    want_mirror: String,
    want_primary: String,
}

fn pair() -> Pair {
    let (primary, mirror) = (Registry::start(), Registry::start());
    let (pp, mp) = (
        Proxy::start(&primary.host, Tags::Pass),
        Proxy::start(&mirror.host, Tags::Pass),
    );
    let home = tempdir();
    let (on_mirror, on_primary) = (Fixture::OciLayout, Fixture::DockerLegacy);
    let push = |src: Fixture, url: String| {
        let out = oci_copy_env(
            &["--tls-verify=false", &src.reference(), &url],
            home.path(),
            &[],
        );
        assert_success(&out)
    };
    push(on_primary, primary.url("lab/app:1"));
    push(on_primary, primary.url("lab/app:2"));
    push(on_mirror, mirror.url("cache/lab/app:1"));
    let conf_file = home.path().join("registries.conf");
    std::fs::write(&conf_file, conf(&pp.host, &mp.host)).unwrap();
    let (want_mirror, want_primary) = (
        on_mirror.expected().config_digest,
        on_primary.expected().config_digest,
    );
    assert_ne!(want_mirror, want_primary);
    Pair {
        _registries: (primary, mirror),
        primary: pp,
        mirror: mp,
        home,
        conf: conf_file,
        want_mirror,
        want_primary,
    }
}

#[test]
fn a_pull_goes_to_the_mirror_first_and_falls_back_to_the_primary() {
    let w = pair();
    let (pp, mp, home) = (&w.primary, &w.mirror, w.home.path());
    let with_conf = ["--registries-conf", w.conf.to_str().unwrap()];

    // The mirror has it: pulled from there, and the primary never asked.
    let (got, stderr) = pull(home, &with_conf, &pp.url("lab/app:1"));
    assert_eq!(got, w.want_mirror, "{stderr}");
    assert!(
        asked(mp, "GET /v2/cache/lab/app/manifests/1"),
        "{:?}",
        mp.requests()
    );
    assert!(asked(mp, "/v2/cache/lab/app/blobs/"), "{:?}", mp.requests());
    assert!(
        !asked(pp, "/v2/lab/app/"),
        "the primary was asked: {:?}",
        pp.requests()
    );
    assert!(
        stderr.contains(&format!("docker://{}/cache/lab/app:1", mp.host)),
        "{stderr}"
    );

    // The mirror lacks it: asked, then the primary serves it.
    let (got, stderr) = pull(home, &with_conf, &pp.url("lab/app:2"));
    assert_eq!(got, w.want_primary, "{stderr}");
    assert!(
        asked(mp, "GET /v2/cache/lab/app/manifests/2"),
        "{:?}",
        mp.requests()
    );
    assert!(
        asked(pp, "GET /v2/lab/app/manifests/2"),
        "{:?}",
        pp.requests()
    );

    // Nowhere: the primary's error, after the mirror's.
    let out = oci_copy_env(
        &["inspect", with_conf[0], with_conf[1], &pp.url("lab/app:9")],
        home,
        &[],
    );
    let needles = [
        "the mirrors failed first",
        "cache/lab/app",
        "MANIFEST_UNKNOWN",
        &pp.host,
    ];
    assert_failure(&out, 1, &needles);
}

#[test]
fn a_mirror_that_is_down_or_only_for_digests_is_passed_over() {
    let w = pair();
    let (pp, home) = (&w.primary, w.home.path());
    let down = home.join("down.conf");
    std::fs::write(&down, conf(&pp.host, "127.0.0.1:1")).unwrap();
    let args = [
        "--retry-times",
        "0",
        "--registries-conf",
        down.to_str().unwrap(),
    ];
    assert_eq!(pull(home, &args, &pp.url("lab/app:1")).0, w.want_primary);

    let digest_only = home.join("digest-only.conf");
    let text = conf(&pp.host, &w.mirror.host).replace(
        "insecure = true\n\n[aliases]",
        "insecure = true\npull-from-mirror = \"digest-only\"\n\n[aliases]",
    );
    assert!(text.contains("digest-only"));
    std::fs::write(&digest_only, text).unwrap();
    let args = ["--registries-conf", digest_only.to_str().unwrap()];
    assert_eq!(pull(home, &args, &pp.url("lab/app:1")).0, w.want_primary);
    assert!(
        !asked(&w.mirror, "/manifests/"),
        "{:?}",
        w.mirror.requests()
    );
}

#[test]
fn short_name_aliases_and_the_users_registries_conf() {
    let primary = Registry::start();
    let home = tempdir();
    let url = primary.url("lab/app:3");
    assert_success(&oci_copy_env(
        &["--tls-verify=false", &Fixture::OciLayout.reference(), &url],
        home.path(),
        &[],
    ));
    // Found at ~/.config/containers/registries.conf, with no flag; the mirror is down.
    let user = home.path().join(".config/containers/registries.conf");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, conf(&primary.host, "127.0.0.1:1")).unwrap();
    let out = oci_copy_env(
        &["inspect", "--retry-times", "0", "docker://myapp:3"],
        home.path(),
        &[],
    );
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary["Name"],
        format!("{}/lab/app", primary.host),
        "{}",
        describe(&out)
    );
    assert_eq!(
        summary["Digest"].as_str(),
        Fixture::OciLayout.expected().kept_digest.as_deref()
    );

    // An explicit file that is missing, or broken, is an error naming it.
    let missing = home.path().join("nope.conf");
    let out = oci_copy_env(
        &[
            "inspect",
            "--registries-conf",
            missing.to_str().unwrap(),
            &url,
        ],
        home.path(),
        &[],
    );
    assert_failure(&out, 1, &["nope.conf"]);
    std::fs::write(&user, "[[registry]\n").unwrap();
    let out = oci_copy_env(&["inspect", "--tls-verify=false", &url], home.path(), &[]);
    assert_failure(&out, 1, &["registries configuration", "registries.conf"]);
}
