//! `oci-copy login`'s check of credentials, on the runtime every registry connection uses,
//! through the HTTP layer (see `direct/login.rs`).

use anyhow::Result;

use super::super::auth::Credentials;
use super::super::direct::Direct;
use super::super::errors::RegistryError;
use super::super::tls::TlsSettings;
use super::setup::{api_host, speaks_https};
use super::{rt, Target};

/// Checks `creds` against the registry `host` (`registry.example:5000`, `docker.io`). A
/// refusal says the credentials were refused, with the registry's own words, and never the
/// password.
pub fn check_login(
    host: &str,
    tls: &TlsSettings,
    creds: &Credentials,
    stall: Option<std::time::Duration>,
) -> Result<()> {
    let registry = api_host(host);
    let target = Target {
        host,
        repo: "",
        tag: None,
        digest: None,
    };
    let http = !tls.verify && !speaks_https(registry, &target, tls, stall);
    let origin = format!("the login of {:?}", creds.username);
    let direct = Direct::new(
        http,
        registry,
        host,
        "",
        tls,
        Some((creds.clone(), origin)),
        stall,
    )?;
    let action = format!("logging in as {:?}", creds.username);
    rt().block_on(direct.check_credentials(&action))
        .map_err(|e| refused(e, &creds.username))
}

/// A 401 or `UNAUTHORIZED` from the registry or its token server: the credentials were
/// refused (and no hint to check `--creds`, which login does not take).
fn refused(e: anyhow::Error, user: &str) -> anyhow::Error {
    match e.downcast::<RegistryError>() {
        Ok(mut r) if r.status == Some(401) || r.code.as_deref() == Some("UNAUTHORIZED") => {
            r.message = format!(
                "the user {user:?} and the password given were refused ({})",
                r.message
            );
            r.hint = Some("check the user name and password".into());
            anyhow::Error::new(r)
        }
        Ok(r) => anyhow::Error::new(r),
        Err(e) => e,
    }
}
