//! oci-copy: copy container images between registries, OCI layouts and docker archives,
//! converting between Docker v2s2 and OCI, and verifying every byte against its digest.
//! The binary (`main.rs`) is a thin shell over [`run`].

pub mod buffers;
pub mod cleanup;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod convert;
pub mod copy;
pub(crate) mod digest;
pub(crate) mod disk;
pub mod manifest;
pub(crate) mod media_type;
pub(crate) mod platform;
pub(crate) mod progress;
pub mod redact;
pub(crate) mod reference;
pub mod retry;
pub(crate) mod sweep;
pub(crate) mod sync;
pub mod transport;
pub mod verify;

pub use commands::{print, run, Exit, StdoutClosed};

/// `1.5 MiB`
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
