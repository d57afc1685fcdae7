//! Failures below HTTP are classified from the typed errors of their chain (rustls' errors,
//! I/O error kinds), never from the words in their text: a host whose name holds "tls" and
//! "handshake" is still an unreachable host, retried and reported as temporary (exit 75).

use crate::support::registry::oci_copy_env;
use crate::support::{assert_failure, tempdir};

#[test]
fn an_unresolvable_host_named_like_tls_is_retried_as_unreachable() {
    let home = tempdir();
    // `.invalid` never resolves (RFC 6761), so the lookup fails at once, offline or not.
    let url = "docker://tls-handshake-certificate.invalid/app:1";
    let out = oci_copy_env(
        &["inspect", "--retry-times", "1", "--retry-delay", "0s", url],
        home.path(),
        &[],
    );
    let line = assert_failure(
        &out,
        75,
        &[
            "tls-handshake-certificate.invalid",
            "dns error",
            "gave up after 2 attempts",
            "is the registry running",
        ],
    );
    assert!(!line.contains("--tls-verify"), "{line}");
}
