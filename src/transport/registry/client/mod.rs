//! The only module that uses oci-client (its API changes between versions). It owns the
//! tokio runtime and bridges to the synchronous transport traits: a blob read is a `Read`
//! that pulls the next chunk of the response stream, and a blob write is a bounded channel
//! that the upload future consumes as its body stream (both in [`transfer`]). Errors leave
//! here classified as [`RegistryError`], named by registry, repository and the registry's
//! own error code.

mod context;
mod login;
mod manifests;
mod referrers;
mod setup;
mod transfer;

use context::ErrCtx;
pub use login::check_login;
pub(super) use setup::speaks_https;
use setup::{reference, OciClients};

use std::sync::{Arc, OnceLock};

use anyhow::Result;
use oci_client::client::BlobResponse;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::token_cache::{RegistryToken, RegistryTokenType};
use oci_client::{Reference, RegistryOperation as Op};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use transfer::ChunkResult;
pub use transfer::{BlobReader, Upload};

use super::auth::{Found, Secret};
use super::below::Below;
use super::client_cert::{self, Bridge};
use super::direct::{Credential, Direct};
use super::errors::{self, RegistryError};
use super::pump::pump;
use super::stall;
use super::tls::TlsSettings;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::media_type as mt;
use crate::retry::RetryPolicy;

/// The manifest types we ask for: every image manifest and index type we can read.
const ACCEPTED: &[&str] = &[
    mt::OCI_MANIFEST,
    mt::OCI_INDEX,
    mt::DOCKER_MANIFEST,
    mt::DOCKER_LIST,
];

/// The one runtime for every registry connection in the process.
fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("oci-copy-registry")
            .enable_all()
            .build()
            .expect("the tokio runtime can start")
    })
}

/// A connection to one repository of one registry.
pub struct RegistryClient {
    /// oci-client, built on first use: chunked uploads (the digest is computed as the bytes
    /// go) and monolithic ones (the digest is known up front).
    oci: OciClients,
    /// Mounts and tag lists, which oci-client cannot do as the protocol wants.
    direct: Direct,
    reference: Reference,
    ctx: ErrCtx,
    /// How requests that fail for a transient reason are retried.
    retry: RetryPolicy,
    /// Where the API is (`registry-1.docker.io`), and over HTTPS with these settings (else
    /// `None`): for asking again why a connection closed without saying why.
    https: Option<(String, TlsSettings)>,
}

/// Whether `registry` is reached over plain HTTP (only with `--tls-verify=false`, when it
/// does not speak TLS), and the client-certificate bridge oci-client's requests go
/// through: oci-client cannot present a certificate itself (see `client_cert/`). Plain
/// HTTP needs no certificate.
fn scheme_and_bridge(
    registry: &str,
    t: &Target,
    tls: &TlsSettings,
    stall: Option<std::time::Duration>,
) -> Result<(bool, Option<Arc<Bridge>>)> {
    let bridge = match &tls.client_cert {
        Some((cert, _)) => {
            tracing::debug!("presenting the client certificate {}", cert.display());
            Some(Arc::new(Bridge::start(registry, tls, rt())?))
        }
        None => None,
    };
    let http = !tls.verify
        && !match &bridge {
            Some(b) => rt().block_on(b.speaks_https()),
            None => speaks_https(registry, t, tls, stall),
        };
    Ok((http, if http { None } else { bridge }))
}

/// How to reach a repository.
pub struct Target<'a> {
    /// The registry as the user wrote it: `docker.io`, `127.0.0.1:5000`.
    pub host: &'a str,
    pub repo: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a Digest>,
}

impl RegistryClient {
    /// Sets up a client for `t`, with `token` (and the flag it came from) as the bearer
    /// token where the registry asks for one. With `tls.verify` false, HTTPS is tried first (accepting
    /// any certificate) and plain HTTP when the registry does not speak TLS.
    pub fn connect(
        t: &Target,
        tls: &TlsSettings,
        creds: Option<Found>,
        token: Option<(Secret, String)>,
        retry: RetryPolicy,
    ) -> Result<RegistryClient> {
        let reference = reference(t.host, t.repo, t.tag, t.digest);
        let direct_creds = creds.as_ref().map(|f| (f.creds.clone(), f.origin.clone()));
        let registry = reference.resolve_registry().to_string();
        let (http, bridge) = scheme_and_bridge(&registry, t, tls, retry.stall)?;
        let ctx = ErrCtx {
            host: t.host.to_string(),
            repo: t.repo.to_string(),
            creds_origin: token
                .as_ref()
                .map(|(_, o)| o.clone())
                .or(creds.map(|f| f.origin)),
            client_cert: tls.client_cert.as_ref().map(|(c, _)| c.clone()),
            bridge: bridge.clone(),
        };
        let oci = OciClients::new(&registry, tls, http, bridge);
        let direct = Direct::new(
            http,
            &registry,
            t.host,
            t.repo,
            tls,
            direct_creds,
            retry.stall,
        )?
        .with_token(token);
        tracing::debug!(
            "registry {} ({}://{}), repository {}",
            t.host,
            if http { "http" } else { "https" },
            registry,
            t.repo
        );
        Ok(RegistryClient {
            oci,
            direct,
            reference,
            ctx,
            retry,
            https: (!http).then(|| (registry, tls.clone())),
        })
    }

    /// The retry policy, for the uploads that the pipeline restarts whole.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Runs one oci-client request with retries; `action` names it in errors and `--debug`
    /// logs. A 401 to a request that carried a cached token drops the token and tries once
    /// more with a fresh one.
    fn request<T, F>(&self, action: &str, operation: Op, op: impl Fn() -> F) -> Result<T>
    where
        F: std::future::Future<Output = std::result::Result<T, OciDistributionError>>,
    {
        let attempt = || self.attempt(action, operation, &op);
        crate::retry::run(&self.retry, action, errors::classify, || match attempt() {
            Err(e)
                if unauthorized(&e)
                    && rt().block_on(self.direct.forget(&self.scopes(operation))) =>
            {
                attempt()
            }
            r => r,
        })
    }

    /// One try of `op`, with its credential primed, through the stall guard.
    fn attempt<T, F>(&self, action: &str, operation: Op, op: &impl Fn() -> F) -> Result<T>
    where
        F: std::future::Future<Output = std::result::Result<T, OciDistributionError>>,
    {
        self.prime(operation, action)?;
        // The timer is made inside the runtime, which it needs.
        match rt().block_on(stall::within(self.retry.stall, op())) {
            Some(answer) => answer.map_err(|e| self.err(action, e)),
            None => {
                let what = format!(
                    "registry {}, repository {}: {action}",
                    self.ctx.host, self.ctx.repo
                );
                let d = self.retry.stall.unwrap_or_default();
                Err(crate::retry::stalled(&what, d).into())
            }
        }
    }

    /// The token scopes an operation needs.
    fn scopes(&self, operation: Op) -> [String; 1] {
        let repo = self.reference.repository();
        [match operation {
            Op::Pull => format!("repository:{repo}:pull"),
            Op::Push => format!("repository:{repo}:pull,push"),
        }]
    }

    /// Puts the credential `operation` needs (from the shared auth: the registry pinged
    /// once, tokens by scope set) in oci-client's token cache, so that oci-client neither
    /// pings nor fetches tokens itself. Nothing, for a registry that asks for none.
    fn prime(&self, operation: Op, action: &str) -> Result<()> {
        let scopes = self.scopes(operation);
        let token = match rt().block_on(self.direct.credential(&scopes, action))? {
            Credential::None => return Ok(()),
            Credential::Basic(c) => {
                RegistryTokenType::Basic(c.username, c.password.expose().to_string())
            }
            Credential::Bearer(t) => RegistryTokenType::Bearer(RegistryToken::Token {
                token: t.expose().to_string(),
            }),
        };
        let registry = self.reference.resolve_registry().to_string();
        let (client, mono) = self.oci.get()?;
        rt().block_on(async {
            // Without a stored auth oci-client never looks in its token cache.
            for c in [client, mono] {
                c.store_auth_if_needed(&registry, &RegistryAuth::Anonymous)
                    .await;
            }
            client
                .tokens
                .insert(&self.reference, operation, token)
                .await;
        });
        Ok(())
    }

    fn err(&self, action: &str, e: OciDistributionError) -> anyhow::Error {
        let mut e = self.ctx.classify(action, e);
        // A TLS 1.3 server refuses a client certificate after the client has finished its
        // handshake, so the request may fail only with a closed connection; fresh
        // connections tell why.
        if let Some((registry, tls)) = &self.https {
            if e.status.is_none() && e.below == Some(Below::Closed) {
                if let Some((below, why)) = rt().block_on(client_cert::tls_refusal(registry, tls)) {
                    let code = e.code.take();
                    e = self.ctx.scope().below_http(action, below, &why);
                    e.code = code;
                }
            }
        }
        anyhow::Error::new(e)
    }

    /// Opens a blob for streaming. The pipeline verifies it. A download that breaks
    /// part-way resumes from the last byte received (see [`BlobReader`]).
    ///
    /// Asked as the range from byte 0: oci-client hashes a whole-blob answer itself (and
    /// again under the `Docker-Content-Digest` when that differs), on top of the pipeline's
    /// own check, and leaves a range unhashed. A registry that ignores ranges answers 200,
    /// which oci-client then hashes as before.
    pub fn blob(&self, digest: &Digest) -> Result<BlobReader> {
        let d = digest.to_string();
        tracing::debug!("GET blob {d} from {}/{}", self.ctx.host, self.ctx.repo);
        let client = &self.oci.get()?.0;
        let answer = self.request(&format!("pulling the blob {d}"), Op::Pull, || {
            client.pull_blob_stream_partial(&self.reference, d.as_str(), 0, None)
        })?;
        let (BlobResponse::Full(sized) | BlobResponse::Partial(sized)) = answer;
        Ok(BlobReader {
            pump: pump(rt(), sized.stream, self.retry.stall),
            client: client.clone(),
            reference: self.reference.clone(),
            digest: d,
            ctx: self.ctx.clone(),
            retry: self.retry.clone(),
            received: 0,
            skip: 0,
            retries: 0,
        })
    }

    /// Whether the repository has the blob (HEAD).
    pub fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        let d = digest.to_string();
        let client = &self.oci.get()?.0;
        let found = self.request(&format!("checking for the blob {d}"), Op::Pull, || {
            client.blob_exists(&self.reference, &d)
        })?;
        tracing::debug!(
            "HEAD blob {d} in {}/{}: {}",
            self.ctx.host,
            self.ctx.repo,
            if found { "present" } else { "absent" }
        );
        Ok(found)
    }

    /// Tries to mount `digest` from repository `from` of the same registry. A refusal is
    /// not an error: the caller uploads the blob instead. Not through oci-client: its
    /// token would grant push on this repository only, and a registry with token auth
    /// also wants pull on `from` (see `direct.rs`).
    pub fn mount(&self, from: &str, digest: &Digest) -> bool {
        let d = digest.to_string();
        match rt().block_on(self.direct.mount(from, &d)) {
            Ok(true) => {
                tracing::debug!("mounted blob {d} from {from} into {}", self.ctx.repo);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::debug!("mounting blob {d} from {from} failed ({e:#}); uploading it");
                false
            }
        }
    }

    /// Starts an upload. With `expected` (digest and size known) the blob goes in one
    /// monolithic PUT; without, in chunks whose digest is computed on the way. Either way
    /// the final request is only made by [`Upload::finish`].
    pub fn begin_upload(&self, expected: Option<&Descriptor>) -> Result<Upload> {
        self.prime(Op::Push, "uploading a blob")?;
        // Memory per upload is about (1 + channel + 1 in flight) × chunk: 1 MiB monolithic,
        // 3 MiB chunked (1 MiB PATCHes), so that `--jobs` uploads of layers of any size stay
        // inside the 64 MiB budget, beside the compressor's blocks.
        let (tx, rx) = mpsc::channel::<ChunkResult>(if expected.is_some() { 2 } else { 1 });
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let reference = self.reference.clone();
        let (task, chunk) = match expected {
            Some(d) => {
                let client = self.oci.get()?.1.clone();
                let (digest, size) = (d.digest.to_string(), d.size);
                tracing::debug!(
                    "monolithic upload of {digest} to {}/{}",
                    self.ctx.host,
                    self.ctx.repo
                );
                let task = rt().spawn(async move {
                    client
                        .push_blob_stream(&reference, body, &digest, Some(size))
                        .await
                        .map(|_| digest)
                });
                (task, 256 * 1024)
            }
            None => {
                let client = self.oci.get()?.0.clone();
                tracing::debug!("chunked upload to {}/{}", self.ctx.host, self.ctx.repo);
                let task = rt().spawn(async move {
                    client
                        .push_blob_stream_chunked(&reference, body)
                        .await
                        .map(|r| r.blob_digest)
                });
                (task, 1024 * 1024)
            }
        };
        Ok(Upload {
            tx: Some(tx),
            task: Some(task),
            buf: Vec::with_capacity(chunk),
            chunk,
            ctx: self.ctx.clone(),
            stall: self.retry.stall,
        })
    }

    /// Every tag of the repository, following pagination `page` tags at a time. Not
    /// through oci-client: it hides the `Link` header that names the next page.
    pub fn list_tags(&self, page: usize) -> Result<Vec<String>> {
        crate::retry::run(&self.retry, "listing tags", errors::classify, || {
            rt().block_on(self.direct.list_tags(page))
        })
    }
}

/// Whether a 401 answered the request (its token may have expired).
fn unauthorized(e: &anyhow::Error) -> bool {
    crate::retry::find::<RegistryError>(e).is_some_and(|r| r.status == Some(401))
}
