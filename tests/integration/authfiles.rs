//! `--src-authfile` and `--dest-authfile` (skopeo's spelling): each side reads its own auth
//! file, falling back to `--authfile`, against two real htpasswd registries.

use crate::support::fixtures::Fixture;
use crate::support::registry::{oci_copy_env, Options, Registry, PASSWORD, USER};
use crate::support::{assert_failure, assert_success, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";

fn auth_file(dir: &std::path::Path, name: &str, host: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{token}"}}}}}}"#),
    )
    .unwrap();
    p(&path)
}

#[test]
fn each_side_reads_its_own_auth_file() {
    let opts = || Options {
        htpasswd: true,
        ..Default::default()
    };
    let (a, b) = (Registry::start_with(opts()), Registry::start_with(opts()));
    let home = tempdir();
    let src_auth = auth_file(home.path(), "src.json", &a.host);
    let dest_auth = auth_file(home.path(), "dest.json", &b.host);
    // Seed the source through its own file.
    let seed = [NO_TLS, "--dest-authfile", &src_auth];
    let mut args = seed.to_vec();
    let fixture = Fixture::OciLayout.reference();
    let (from, to) = (a.url("lab/app:1"), b.url("lab/app:1"));
    args.extend([fixture.as_str(), from.as_str()]);
    assert_success(&oci_copy_env(&args, home.path(), &[]));
    let copy = |src_file: &str, dest_file: &str| {
        let args = [
            NO_TLS,
            "--src-authfile",
            src_file,
            "--dest-authfile",
            dest_file,
            &from,
            &to,
        ];
        oci_copy_env(&args, home.path(), &[])
    };
    assert_success(&copy(&src_auth, &dest_auth));
    // Swapped, neither side finds its credentials.
    assert_failure(&copy(&dest_auth, &src_auth), 1, &["UNAUTHORIZED", &a.host]);
    // --authfile is the fallback of both.
    let both = [
        NO_TLS,
        "--authfile",
        &src_auth,
        "--dest-authfile",
        &dest_auth,
        &from,
        &to,
    ];
    assert_success(&oci_copy_env(&both, home.path(), &[]));
}
