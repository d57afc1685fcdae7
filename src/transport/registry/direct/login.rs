//! The check `oci-copy login` makes before it stores credentials: `GET /v2/` sent with
//! them as the registry's challenge asks (basic, or a bearer token fetched with them from
//! the realm, for no repository), as containers/image checks a login.

use anyhow::{anyhow, Result};
use reqwest::Method;

use super::Direct;

impl Direct {
    /// Whether the registry takes this connection's credentials: `Ok` when `GET /v2/`
    /// with them succeeds (also where the registry asks for none), the registry's or token
    /// server's refusal otherwise.
    pub async fn check_credentials(&self, action: &str) -> Result<()> {
        let url = self
            .base
            .join("v2/")
            .map_err(|e| anyhow!("{action}: {e}"))?;
        let resp = self.send(Method::GET, url, &[], action).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self.refused(action, resp).await)
    }
}
