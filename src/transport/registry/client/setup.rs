//! Setting up oci-client for a registry: the reference it wants, its configuration (the
//! CAs, the bridge as its proxy), and for `--tls-verify=false` whether the registry
//! speaks HTTPS, asked once per run.

use anyhow::{anyhow, Result};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::{Client, Reference};

use super::super::client_cert::Bridge;
use super::super::direct::Direct;
use super::super::errors::error_chain;
use super::super::once::PerKey;
use super::super::tls::TlsSettings;
use super::{rt, Target};
use crate::digest::Digest;

/// docker.io's registry API lives at registry-1.docker.io.
pub(super) fn api_host(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        h => h,
    }
}

pub(super) fn reference(
    host: &str,
    repo: &str,
    tag: Option<&str>,
    digest: Option<&Digest>,
) -> Reference {
    let (h, r) = (api_host(host).to_string(), repo.to_string());
    match (tag, digest) {
        (_, Some(d)) => Reference::with_digest(h, r, d.to_string()),
        (Some(t), None) => Reference::with_tag(h, r, t.to_string()),
        (None, None) => Reference::with_tag(h, r, "latest".to_string()),
    }
}

/// oci-client's settings. With `bridge` (a proxy URL), every request goes to it over plain
/// HTTP, and it makes the HTTPS request with the client certificate (`client_cert.rs`).
fn config(
    tls: &TlsSettings,
    http: bool,
    monolithic: bool,
    bridge: Option<&Bridge>,
) -> Result<ClientConfig> {
    let mut extra = Vec::new();
    for (path, pem) in &tls.extra_cas {
        let text = String::from_utf8_lossy(pem);
        let certs: Vec<&str> = text
            .split_inclusive("-----END CERTIFICATE-----")
            .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
            .collect();
        if certs.is_empty() {
            anyhow::bail!("{} holds no PEM certificate", path.display());
        }
        for c in certs {
            extra.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: c.trim().as_bytes().to_vec(),
            });
        }
    }
    Ok(ClientConfig {
        protocol: if http || bridge.is_some() {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        accept_invalid_certificates: !tls.verify,
        use_monolithic_push: monolithic,
        extra_root_certificates: extra,
        // The settings of every other registry client (`http.rs`); oci-client's read timeout
        // stays off, as theirs: the stall guard bounds each wait.
        connect_timeout: Some(super::super::http::CONNECT_TIMEOUT),
        user_agent: super::super::http::USER_AGENT,
        http_proxy: bridge.map(|b| b.proxy_url().to_string()),
        ..Default::default()
    })
}

/// oci-client's client for `registry`: built once per run for each setting and shared
/// (clones share their connection pool and token cache; building one reads every trusted
/// CA from disk). A client going through a client-certificate bridge is that bridge's own.
pub(super) fn make_client(
    registry: &str,
    tls: &TlsSettings,
    http: bool,
    monolithic: bool,
    bridge: Option<&Bridge>,
) -> Result<Client> {
    type Key = (String, TlsSettings, bool, bool);
    static CLIENTS: std::sync::LazyLock<PerKey<Key, Client>> =
        std::sync::LazyLock::new(PerKey::new);
    let build = || {
        super::super::tls::install_provider();
        Client::try_from(config(tls, http, monolithic, bridge)?)
            .map_err(|e| anyhow!("setting up the HTTP client: {}", error_chain(&e)))
    };
    if bridge.is_some() {
        return build();
    }
    let key = (registry.to_string(), tls.clone(), http, monolithic);
    CLIENTS.get_or_try(key, build)
}

/// Decides whether a registry speaks HTTPS, for `--tls-verify=false`: the run's one ping
/// (which the shared auth keeps) failing at HTTPS means plain HTTP. Asked once per run and
/// registry; image jobs that start together wait for the first one's answer.
pub(in crate::transport::registry) fn speaks_https(
    registry: &str,
    t: &Target,
    tls: &TlsSettings,
    stall: Option<std::time::Duration>,
) -> bool {
    static ANSWERS: std::sync::LazyLock<PerKey<String, bool>> =
        std::sync::LazyLock::new(PerKey::new);
    let ask = || {
        let ping = Direct::new(false, registry, t.host, t.repo, tls, None, stall)
            .and_then(|d| rt().block_on(d.ping()));
        if let Err(e) = &ping {
            tracing::debug!("HTTPS to {registry} failed ({e:#}); using plain HTTP");
        }
        Ok::<_, std::convert::Infallible>(ping.is_ok())
    };
    match ANSWERS.get_or_try(registry.to_string(), ask) {
        Ok(https) => https,
        Err(never) => match never {},
    }
}

/// oci-client's two clients for one registry (chunked and monolithic uploads, one token
/// cache), built on first use: a run that only asks for digests and tag lists (a sync's
/// rerun, `inspect`, `list-tags`) speaks through the direct layer alone and never builds
/// them (each build reads every trusted CA from disk, twice).
pub(super) struct OciClients {
    registry: String,
    tls: TlsSettings,
    http: bool,
    bridge: Option<std::sync::Arc<Bridge>>,
    made: std::sync::OnceLock<(Client, Client)>,
}

impl OciClients {
    pub(super) fn new(
        registry: &str,
        tls: &TlsSettings,
        http: bool,
        bridge: Option<std::sync::Arc<Bridge>>,
    ) -> OciClients {
        OciClients {
            registry: registry.to_string(),
            tls: tls.clone(),
            http,
            bridge,
            made: std::sync::OnceLock::new(),
        }
    }

    /// The chunked-upload client and the monolithic one.
    pub(super) fn get(&self) -> Result<&(Client, Client)> {
        if let Some(made) = self.made.get() {
            return Ok(made);
        }
        let bridge = self.bridge.as_deref();
        let client = make_client(&self.registry, &self.tls, self.http, false, bridge)?;
        let mut mono = make_client(&self.registry, &self.tls, self.http, true, bridge)?;
        // One token cache for both, fed by the shared auth (see `prime`).
        mono.tokens = client.tokens.clone();
        Ok(self.made.get_or_init(|| (client, mono)))
    }
}
