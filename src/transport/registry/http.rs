//! The one place the registry transport builds an HTTP client. Every client oci-copy makes
//! for a registry (the direct layer's, the probe's, the client-certificate bridge's) comes
//! from [`client`], built from the registry's TLS settings (extra CAs, client identity,
//! `--tls-verify`), with one user agent and one connect timeout. No client has an overall
//! request timeout: how long a request may wait for its answer, or a body for its next
//! bytes, is the stall guard's (`stall.rs`, `--stall-timeout`), so a long upload is never
//! cut for being long. oci-client builds its own client from the same settings (see
//! `client/setup.rs`); it cannot be given one of these.

use std::time::Duration;

use anyhow::{anyhow, Result};
use reqwest::redirect::Policy;
use reqwest::Client;

use super::errors::error_chain;
use super::once::PerKey;
use super::tls::TlsSettings;

/// How long a TCP (and TLS) connection may take to open.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every request's `User-Agent`.
pub(super) const USER_AGENT: &str = concat!("oci-copy/", env!("CARGO_PKG_VERSION"));

/// Whether a client keeps connections for the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Connections {
    /// Kept alive and reused, as pushing clients do.
    Pooled,
    /// A new connection for every request, so that a load balancer that spreads connections
    /// over replicas spreads these requests too.
    Fresh,
}

/// The HTTP client for registries with `tls`, following redirects as reqwest does (up to
/// 10): built once per run for each TLS setting and kind of connection, and shared (a
/// client is a handle on one connection pool; building one reads every trusted CA from
/// disk, which a sync of many images would otherwise do for each).
pub(super) fn shared(tls: &TlsSettings, conns: Connections) -> Result<Client> {
    static CLIENTS: std::sync::LazyLock<PerKey<(TlsSettings, Connections), Client>> =
        std::sync::LazyLock::new(PerKey::new);
    CLIENTS.get_or_try((tls.clone(), conns), || {
        client(tls, conns, Policy::default())
    })
}

/// A new HTTP client for a registry with `tls`; `redirect` is reqwest's default (follow up
/// to 10) unless a caller must see or police redirects itself.
pub(super) fn client(tls: &TlsSettings, conns: Connections, redirect: Policy) -> Result<Client> {
    let mut b = tls
        .reqwest_builder()?
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(redirect);
    if conns == Connections::Fresh {
        b = b.pool_max_idle_per_host(0);
    }
    b.build()
        .map_err(|e| anyhow!("setting up the HTTP client: {}", error_chain(&e)))
}
