//! The single integration test binary for oci-copy (ripgrep and uv style): one module per
//! area, sharing the `support` harness (runner, invariant checker, skopeo/umoci judges).

mod bad_input;
mod checker;
mod concurrency;
mod dest_checks;
mod disk_full;
mod error_text;
mod gzip_members;
mod hostile;
mod inspect;
mod local_copy;
mod malformed;
mod multiarch;
mod mutation;
mod podman;
mod probe;
mod probe_layer;
mod registry;
mod registry_auth;
mod registry_layer;
mod registry_mtls;
mod registry_redirect;
mod registry_tags;
mod registry_typed_errors;
mod reliability_registry;
mod repeats;
mod round_trip;
mod selection;
mod sha512;
mod signals;
mod stalls;
mod support;
mod sweep;
mod ux;
mod verify;
mod world;
