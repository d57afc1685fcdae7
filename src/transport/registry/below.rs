//! Failures below HTTP, classified from the typed errors in an error's chain: rustls'
//! `Error` (inside the `io::Error` that tokio-rustls returns), `io::ErrorKind`, and
//! reqwest's own predicates; never from the text of a message. The classification decides
//! whether a retry may help and which hint the user gets.

use std::error::Error as StdError;

use rustls::AlertDescription as Alert;

/// What failed below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Below {
    /// The registry sent a TLS alert about the client certificate: it wants one, or
    /// refused the one presented.
    ClientCertRefused,
    /// This side did not trust the registry's certificate.
    UntrustedServer,
    /// The answer to the TLS handshake was not TLS: the registry speaks plain HTTP.
    NotTls,
    /// Another TLS failure (another alert, a protocol error): a retry cannot cure it.
    Tls,
    /// No connection could be made (refused, no such host, timed out connecting).
    Unreachable,
    /// The connection broke or timed out after it was made: worth a retry.
    Network,
    /// The connection closed before the request went out or before its answer came, and
    /// nothing says why (hyper's "canceled" and "incomplete message"): worth a retry, and,
    /// over TLS, worth asking again on a fresh connection (a TLS 1.3 server refuses a client
    /// certificate after the client finished its handshake, so the request may not see the
    /// alert).
    Closed,
    /// Anything else (a malformed answer, an invalid request).
    Other,
}

impl Below {
    /// The class of a reqwest failure.
    pub fn of_reqwest(e: &reqwest::Error) -> Below {
        if let Some(tls) = tls_in_chain(e) {
            return tls;
        }
        if closed_unexplained(e) {
            Below::Closed
        } else if e.is_connect() {
            Below::Unreachable
        } else if e.is_timeout() || e.is_request() || e.is_body() || network_io(e) {
            Below::Network
        } else {
            Below::Other
        }
    }

    /// Whether a retry may help.
    pub fn transient(self) -> bool {
        matches!(self, Below::Unreachable | Below::Network | Below::Closed)
    }

    /// Whether it failed in TLS.
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            Below::ClientCertRefused | Below::UntrustedServer | Below::NotTls | Below::Tls
        )
    }

    /// The hint for the user; `presented` is the client certificate sent, if any.
    pub fn hint(self, presented: Option<&std::path::Path>) -> Option<String> {
        Some(match self {
            Below::ClientCertRefused => return Some(client_cert_hint(presented)),
            Below::UntrustedServer => "the registry's certificate is not trusted: use --cert-dir DIR with its CA, or --tls-verify=false".to_string(),
            Below::NotTls => "the registry may speak plain HTTP: use --tls-verify=false".to_string(),
            Below::Unreachable => "is the registry running, and are the host and port right?".to_string(),
            Below::Tls | Below::Network | Below::Closed | Below::Other => return None,
        })
    }
}

/// The hint for a registry that refused the TLS handshake over the client certificate.
pub fn client_cert_hint(presented: Option<&std::path::Path>) -> String {
    match presented {
        Some(cert) => format!(
            "the registry refused the TLS client certificate {}: is it signed by a CA the registry trusts, and still valid?",
            cert.display()
        ),
        None => "the registry requires a TLS client certificate: put NAME.cert and NAME.key in a directory and pass it with --cert-dir (or --src-cert-dir, --dest-cert-dir)".to_string(),
    }
}

/// Every error in the chain of `e`, looking inside `io::Error`s too (whose `source` skips
/// the error they wrap).
fn chain<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        out.push(err);
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
    }
    out
}

/// The TLS failure in the chain of `e`, if one is there.
pub fn tls_in_chain(e: &(dyn StdError + 'static)) -> Option<Below> {
    chain(e)
        .into_iter()
        .find_map(|c| c.downcast_ref::<rustls::Error>())
        .map(of_rustls)
}

fn of_rustls(e: &rustls::Error) -> Below {
    use rustls::Error as E;
    match e {
        E::AlertReceived(
            Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::UnsupportedCertificate,
        ) => Below::ClientCertRefused,
        E::InvalidCertificate(_) | E::UnsupportedNameType | E::InvalidCertRevocationList(_) => {
            Below::UntrustedServer
        }
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => Below::NotTls,
        _ => Below::Tls,
    }
}

/// Whether hyper, in the chain of `e`, says only that the connection closed: the request
/// was canceled (the connection was not ready), or the answer was cut off.
fn closed_unexplained(e: &(dyn StdError + 'static)) -> bool {
    chain(e)
        .into_iter()
        .filter_map(|c| c.downcast_ref::<hyper::Error>())
        .any(|h| h.is_canceled() || h.is_incomplete_message())
}

/// Whether an `io::Error` in the chain of `e` is of a kind a retry may cure.
fn network_io(e: &(dyn StdError + 'static)) -> bool {
    chain(e)
        .into_iter()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| crate::retry::transient_io(io).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: rustls::Error) -> std::io::Error {
        // As tokio-rustls reports it, and hyper then wraps it again.
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        std::io::Error::other(inner)
    }

    #[test]
    fn tls_failures_are_found_inside_io_errors() {
        let refused = wrapped(rustls::Error::AlertReceived(Alert::CertificateRequired));
        assert_eq!(tls_in_chain(&refused), Some(Below::ClientCertRefused));
        let bad = wrapped(rustls::Error::AlertReceived(Alert::BadCertificate));
        assert_eq!(tls_in_chain(&bad), Some(Below::ClientCertRefused));
        let untrusted = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(tls_in_chain(&untrusted), Some(Below::UntrustedServer));
        let plain = wrapped(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert_eq!(tls_in_chain(&plain), Some(Below::NotTls));
        let other = wrapped(rustls::Error::AlertReceived(Alert::HandshakeFailure));
        assert_eq!(tls_in_chain(&other), Some(Below::Tls));
        // The text says "alert" and "certificate", but no TLS error is there.
        let text = std::io::Error::other("received fatal alert: BadCertificate");
        assert_eq!(tls_in_chain(&text), None);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(network_io(&reset));
    }

    #[test]
    fn hints_and_retries_follow_the_class() {
        assert!(Below::ClientCertRefused
            .hint(None)
            .unwrap()
            .contains("requires a TLS client certificate"));
        let cert = std::path::Path::new("/d/c.cert");
        assert!(Below::ClientCertRefused
            .hint(Some(cert))
            .unwrap()
            .contains("refused the TLS client certificate /d/c.cert"));
        assert!(Below::UntrustedServer
            .hint(None)
            .unwrap()
            .contains("not trusted"));
        assert!(Below::Network.transient() && Below::Unreachable.transient());
        assert!(!Below::Tls.transient() && !Below::ClientCertRefused.transient());
    }
}
