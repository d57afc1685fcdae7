//! TLS settings for one registry, as skopeo reads them: `--tls-verify` and a certificate
//! directory (`--cert-dir`, else `/etc/containers/certs.d/HOST` or `/etc/docker/certs.d/HOST`)
//! whose `*.crt` files are extra trusted CAs and whose `*.cert` + `*.key` pair is a client
//! certificate.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

/// What the client needs to know about TLS for one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// False: accept any certificate, and fall back to plain HTTP.
    pub verify: bool,
    /// PEM bundles of extra trusted CAs.
    pub extra_cas: Vec<(PathBuf, Vec<u8>)>,
    /// A client certificate and key (PEM), when the directory has one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsSettings {
    /// The client certificate and key as one identity, when the directory has a pair.
    /// Neither the key nor its bytes appear in an error.
    pub fn identity(&self) -> Result<Option<reqwest::Identity>> {
        let Some((cert, key)) = &self.client_cert else {
            return Ok(None);
        };
        let mut pem = std::fs::read(cert)
            .with_context(|| format!("reading the client certificate {}", cert.display()))?;
        pem.push(b'\n');
        pem.extend(
            std::fs::read(key)
                .with_context(|| format!("reading the client key {}", key.display()))?,
        );
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
            anyhow!(
                "the client certificate {} and key {} are not a usable PEM certificate and private key: {}",
                cert.display(),
                key.display(),
                std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string())
            )
        })?;
        Ok(Some(id))
    }

    /// A reqwest client builder that verifies (or not), trusts the extra CAs and presents
    /// the client certificate.
    pub fn reqwest_builder(&self) -> Result<reqwest::ClientBuilder> {
        install_provider();
        let mut b = reqwest::Client::builder().danger_accept_invalid_certs(!self.verify);
        for (path, pem) in &self.extra_cas {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| anyhow!("{} holds no usable PEM certificate: {e}", path.display()))?;
            b = b.tls_certs_merge(certs);
        }
        if let Some(id) = self.identity()? {
            b = b.identity(id);
        }
        Ok(b)
    }
}

/// Makes rustls's ring provider the process default, once, before any client is built:
/// every reqwest client (oci-client's too) takes its TLS primitives from it. ring seeds its
/// random generator from the kernel (getrandom); aws-lc-rs, reqwest's usual provider, from
/// CPU jitter, which cost 20-30 ms of CPU in every process that spoke to a registry.
pub fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when a default is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Reads the TLS settings for `host`.
pub fn settings(host: &str, verify: bool, cert_dir: Option<&Path>) -> Result<TlsSettings> {
    let dir = match cert_dir {
        Some(d) => Some(d.to_path_buf()),
        None => ["/etc/containers/certs.d", "/etc/docker/certs.d"]
            .iter()
            .map(|base| Path::new(base).join(host))
            .find(|d| d.is_dir()),
    };
    let mut out = TlsSettings {
        verify,
        ..Default::default()
    };
    let Some(dir) = dir else {
        return Ok(out);
    };
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("reading the certificate directory {}", dir.display()))?;
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for path in names {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let pem = std::fs::read(&path)
                    .with_context(|| format!("reading the CA certificate {}", path.display()))?;
                tracing::debug!("trusting the CA certificates in {}", path.display());
                out.extra_cas.push((path, pem));
            }
            Some("cert") => {
                let key = path.with_extension("key");
                if key.is_file() {
                    out.client_cert = Some((path, key));
                } else {
                    anyhow::bail!(
                        "the client certificate {} has no key {}",
                        path.display(),
                        key.display()
                    );
                }
            }
            _ => {}
        }
    }
    Ok(out)
}
