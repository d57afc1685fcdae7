//! oci-copy: copy container images between registries, OCI layouts and docker archives,
//! converting between Docker v2s2 and OCI, and verifying every byte against its digest.
//! The binary (`main.rs`) is a thin shell over [`run`].

pub mod cleanup;
pub mod cli;
pub mod commands;
pub mod convert;
pub mod copy;
pub mod digest;
pub mod disk;
pub mod manifest;
pub mod media_type;
pub mod platform;
pub mod progress;
pub mod reference;
pub mod retry;
pub mod sweep;
pub mod transport;

pub use commands::{print, run, StdoutClosed};

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
