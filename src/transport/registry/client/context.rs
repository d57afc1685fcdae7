//! How oci-client's failures become [`RegistryError`]s: named by registry, repository and
//! action, classified from oci-client's typed errors (and the bridge's typed failures).

use std::path::PathBuf;
use std::sync::Arc;

use oci_client::errors::OciDistributionError;

use super::super::below::Below;
use super::super::client_cert::{Bridge, Failure};
use super::super::errors::{self, error_chain, RegistryError};

/// Names for errors: which registry and repository, and whose credentials were sent.
#[derive(Debug, Clone)]
pub(super) struct ErrCtx {
    pub(super) host: String,
    pub(super) repo: String,
    pub(super) creds_origin: Option<String>,
    /// The client certificate presented, if any.
    pub(super) client_cert: Option<PathBuf>,
    /// The bridge that presents it to the registry for oci-client; kept alive by every
    /// request, reader and upload that may still go through it.
    pub(super) bridge: Option<Arc<Bridge>>,
}

impl ErrCtx {
    /// Why the bridge answered a 502 itself (it could not reach the registry), if it did:
    /// the typed failure it recorded for that request's URL.
    fn bridge_failure(&self, e: &OciDistributionError) -> Option<Failure> {
        let bridge = self.bridge.as_ref()?;
        match e {
            OciDistributionError::ServerError { code: 502, url, .. } => bridge.failure(url),
            OciDistributionError::RequestError(e)
                if e.status().map(|s| s.as_u16()) == Some(502) =>
            {
                bridge.failure(e.url()?.as_str())
            }
            _ => None,
        }
    }

    pub(super) fn scope(&self) -> errors::ErrorScope<'_> {
        errors::ErrorScope {
            registry: &self.host,
            repository: &self.repo,
            creds_origin: self.creds_origin.as_deref(),
            client_cert: self.client_cert.as_deref(),
        }
    }

    pub(super) fn classify(&self, action: &str, e: OciDistributionError) -> RegistryError {
        if let Some(f) = self.bridge_failure(&e) {
            return self.scope().below_http(action, f.below, &f.message);
        }
        if let OciDistributionError::RequestError(r) = &e {
            if r.status().is_none() {
                let below = Below::of_reqwest(r);
                return self.scope().below_http(action, below, &error_chain(r));
            }
        }
        let mut network = false;
        let (status, code, message) = match e {
            OciDistributionError::RegistryError { envelope, .. } => {
                let entries = envelope.errors.iter().filter_map(|e| {
                    let code = serde_json::to_value(&e.code).ok()?.as_str()?.to_string();
                    Some((code, e.message.clone()))
                });
                match errors::pick_error(entries.collect()) {
                    Some((code, msg)) => (None, Some(code), msg),
                    None => (None, None, String::new()),
                }
            }
            OciDistributionError::ServerError { code, message, .. } => {
                match errors::parse_envelope(&message) {
                    Some((c, m)) => (Some(code), Some(c), m),
                    None if code == 401 => (
                        Some(code),
                        Some("UNAUTHORIZED".into()),
                        "authentication required".into(),
                    ),
                    None => (Some(code), None, message),
                }
            }
            OciDistributionError::UnauthorizedError { .. } => (
                Some(401),
                Some("UNAUTHORIZED".into()),
                "authentication required".into(),
            ),
            OciDistributionError::AuthenticationFailure(reason) => (
                None,
                Some("UNAUTHORIZED".into()),
                format!("the token server refused: {reason}"),
            ),
            OciDistributionError::IoError(e) => {
                network = crate::retry::transient_io(&e).is_some();
                (None, None, error_chain(&e))
            }
            OciDistributionError::RequestError(e) if e.status().is_some() => {
                let status = e.status().map(|s| s.as_u16());
                let (code, msg) = errors::status_code_and_message(status);
                let msg = msg.map_or_else(|| error_chain(&e), str::to_string);
                (status, code, msg)
            }
            OciDistributionError::ImageManifestNotFoundError(m) => {
                (Some(404), Some("MANIFEST_UNKNOWN".into()), m)
            }
            other => (None, None, error_chain(&other)),
        };
        self.scope().error(action, status, code, &message, network)
    }
}
