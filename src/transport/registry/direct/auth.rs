//! The one authentication of the registry transport: the registry is pinged (`GET /v2/`)
//! once per run and its challenge remembered (for every connection to it); a request
//! authenticates only as that challenge asks: nothing, basic credentials, or a bearer token
//! from the realm, fetched with its reply read through the 4 MiB limit, cached by scope set
//! until shortly before its `expires_in`, and dropped on a 401; or the token the user gave
//! (`--registry-token`), sent as it is. oci-client's requests get
//! the same credentials through its token cache (see `client/`). Neither tokens nor
//! passwords are ever logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{StatusCode, Url};

use super::super::auth::{Credentials, Secret};
use super::super::challenge as www;
use super::super::errors;
use super::{Direct, MAX_DOCUMENT};

/// How the registry wants requests authenticated, from the challenge of `GET /v2/`.
#[derive(Debug, Clone)]
enum Challenge {
    Anonymous,
    Basic,
    Bearer { realm: Url, service: Option<String> },
}

#[derive(Default)]
pub(super) struct AuthState {
    challenge: Option<Challenge>,
    /// Scope set (space-separated) → token and when to stop using it.
    tokens: HashMap<String, (Secret, Instant)>,
}

/// What a request must carry, as the registry's challenge asks.
#[derive(Debug, Clone)]
pub enum Credential {
    None,
    Basic(Credentials),
    Bearer(Secret),
}

/// Challenges by registry base URL: one ping per registry per run.
fn pinged() -> &'static SyncMutex<HashMap<String, Arc<tokio::sync::OnceCell<Challenge>>>> {
    type Pinged = SyncMutex<HashMap<String, Arc<tokio::sync::OnceCell<Challenge>>>>;
    static PINGED: OnceLock<Pinged> = OnceLock::new();
    PINGED.get_or_init(Default::default)
}

impl Direct {
    /// What to send in `Authorization` for a request needing `scopes`.
    pub(super) async fn authorization(
        &self,
        scopes: &[String],
        action: &str,
    ) -> Result<Option<Secret>> {
        Ok(match self.credential(scopes, action).await? {
            Credential::None => None,
            Credential::Basic(c) => Some(basic(&c)),
            Credential::Bearer(t) => Some(Secret::new(format!("Bearer {}", t.expose()))),
        })
    }

    /// The credential for a request needing `scopes`: pings the registry the first time
    /// this run needs it, fetches a token the first time a scope set needs one.
    pub async fn credential(&self, scopes: &[String], action: &str) -> Result<Credential> {
        let mut st = self.auth.lock().await;
        if st.challenge.is_none() {
            st.challenge = Some(self.challenge(action).await?);
        }
        match st.challenge.clone().expect("pinged above") {
            Challenge::Anonymous => Ok(Credential::None),
            Challenge::Basic => Ok(self
                .creds
                .clone()
                .map_or(Credential::None, Credential::Basic)),
            Challenge::Bearer { .. } if self.token.is_some() => Ok(Credential::Bearer(
                self.token.clone().expect("checked above"),
            )),
            Challenge::Bearer { realm, service } => {
                let key = scopes.join(" ");
                if let Some((token, until)) = st.tokens.get(&key) {
                    if Instant::now() < *until {
                        return Ok(Credential::Bearer(token.clone()));
                    }
                }
                let (token, ttl) = self
                    .token(&realm, service.as_deref(), scopes, action)
                    .await?;
                st.tokens.insert(key, (token.clone(), Instant::now() + ttl));
                Ok(Credential::Bearer(token))
            }
        }
    }

    /// Drops the token cached for `scopes` (the registry refused it); true if there was one.
    pub async fn forget(&self, scopes: &[String]) -> bool {
        self.auth
            .lock()
            .await
            .tokens
            .remove(&scopes.join(" "))
            .is_some()
    }

    /// The registry's challenge: remembered from this run's ping, or pinged now. Requests
    /// that start together (a sync's tag lists, eight at a time) wait for the first one's
    /// ping rather than each sending its own; a failed ping is not remembered.
    async fn challenge(&self, action: &str) -> Result<Challenge> {
        let cell = {
            let mut pinged = pinged().lock().expect("not poisoned");
            pinged.entry(self.base.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| self.probe(action)).await.cloned()
    }

    /// Pings the registry now unless this run did (for `--tls-verify=false`: whether it
    /// answers at this scheme).
    pub async fn ping(&self) -> Result<()> {
        let mut st = self.auth.lock().await;
        if st.challenge.is_none() {
            st.challenge = Some(self.challenge("connecting").await?);
        }
        Ok(())
    }

    /// `GET /v2/`: which authentication scheme the registry asks for.
    async fn probe(&self, action: &str) -> Result<Challenge> {
        let url = self.base.join("v2/").expect("a constant path");
        let resp = self.guarded(action, self.client()?.get(url)).await?;
        let header = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok());
        let challenge = match (resp.status(), header.and_then(www::parse)) {
            (StatusCode::UNAUTHORIZED, Some(www::Challenge { scheme, params }))
                if scheme == "bearer" =>
            {
                let realm = params.get("realm").map(String::as_str).unwrap_or("");
                let realm = Url::parse(realm).map_err(|e| {
                    anyhow!("{action}: the registry's token realm {realm:?} is not a URL: {e}")
                })?;
                Challenge::Bearer {
                    realm,
                    service: params.get("service").cloned(),
                }
            }
            (StatusCode::UNAUTHORIZED, _) => Challenge::Basic,
            _ => Challenge::Anonymous,
        };
        tracing::debug!(
            "{} asks for {}",
            self.host,
            match &challenge {
                Challenge::Anonymous => "no authentication".to_string(),
                Challenge::Basic => "basic authentication".to_string(),
                Challenge::Bearer { realm, service } => format!(
                    "bearer tokens from {} (service {service:?})",
                    realm.as_str()
                ),
            }
        );
        Ok(challenge)
    }

    /// Asks the token server for a token granting `scopes`; returns it and how long to use it.
    /// The one token fetcher: the probe's tokens come from here too.
    pub(in crate::transport::registry) async fn token(
        &self,
        realm: &Url,
        service: Option<&str>,
        scopes: &[String],
        action: &str,
    ) -> Result<(Secret, Duration)> {
        let mut url = realm.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        tracing::debug!(
            "requesting a bearer token from {} for {} ({})",
            realm.as_str(),
            scopes.join(" "),
            match &self.creds {
                Some(c) => format!("as {:?}", c.username),
                None => "anonymously".to_string(),
            }
        );
        let mut req = self.client()?.get(url);
        if let Some(c) = &self.creds {
            req = req.basic_auth(&c.username, Some(c.password.expose()));
        }
        let resp = self.guarded(action, req).await?;
        let status = resp.status().as_u16();
        if status == 401 {
            let body = self.error_body(resp).await;
            let mut e = self.error(action, Some(status), &body);
            e.message = format!("the token server refused ({status}): {}", e.message);
            return Err(anyhow::Error::new(e));
        }
        let server = format!("the token server at {}", realm_text(realm));
        if !resp.status().is_success() {
            let body = self.error_body(resp).await;
            let why = format!("{server} answered HTTP {status}: {}", snippet(&body));
            let e = self.scope().error(action, None, None, &why, status >= 500);
            return Err(anyhow::Error::new(e));
        }
        let what = format!("the reply of {server}");
        let body = self.body(action, &what, resp, MAX_DOCUMENT).await?;
        let (token, expires_in) = parse_token(&body).ok_or_else(|| {
            let why = format!(
                "{server} answered {status} with a body that is not a token: {}",
                snippet(&body)
            );
            anyhow::Error::new(self.scope().error(action, None, None, &why, false))
        })?;
        // The spec's default lifetime is 60 s; stop using a token a little before it ends.
        let life = expires_in.unwrap_or(60).max(60);
        Ok((Secret::new(token), Duration::from_secs(life - 10)))
    }
}

/// `{"token": ...}` or `{"access_token": ...}`, non-empty, and its `expires_in`.
fn parse_token(body: &[u8]) -> Option<(String, Option<u64>)> {
    #[derive(serde::Deserialize)]
    struct Reply {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let r: Reply = serde_json::from_slice(body).ok()?;
    let token = r.token.or(r.access_token).filter(|t| !t.is_empty())?;
    Some((token, r.expires_in))
}

/// The realm for messages: no query, no user info.
fn realm_text(realm: &Url) -> String {
    let mut u = realm.clone();
    u.set_query(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// The start of a body, on one line, for a message: `(empty)` when there is none.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        "(empty)".to_string()
    } else {
        errors::redact(&line)
    }
}

/// `Basic base64(user:password)`.
pub(in crate::transport::registry) fn basic(c: &Credentials) -> Secret {
    use base64::Engine;
    let raw = format!("{}:{}", c.username, c.password.expose());
    Secret::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_replies() {
        let t = |s: &str| parse_token(s.as_bytes());
        assert_eq!(
            t(r#"{"token":"t","expires_in":300}"#),
            Some(("t".into(), Some(300)))
        );
        assert_eq!(t(r#"{"access_token":"a"}"#), Some(("a".into(), None)));
        assert_eq!(t(r#"{"token":""}"#), None);
        assert_eq!(t("<html>"), None);
        assert_eq!(snippet(b""), "(empty)");
        assert_eq!(snippet(b"<html>\n  nope </html>"), "<html> nope </html>");
    }
}
