//! The registry transport, `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`. [`RegistrySource`]
//! pulls manifests and streams blobs; [`RegistryDestination`] skips blobs the repository
//! has (HEAD), mounts them from the source repository when both are on one registry,
//! streams uploads that complete only after the pipeline verified them, and PUTs the
//! manifest, reporting a refused type as [`crate::transport::ManifestRejected`].
//! Every use of oci-client is in `client/`; `direct.rs` makes the few requests it cannot,
//! and `client_cert.rs` presents TLS client certificates on its behalf. Names pass through
//! `registries.conf` first (`mirrors.rs`): aliases, and for pulls the mirrors.

pub mod auth;
pub mod auth_file;
mod below;
mod challenge;
mod client;
mod client_cert;
mod destination;
mod direct;
pub mod errors;
mod http;
mod ledger;
mod mirrors;
mod once;
pub mod probe;
mod pump;
mod rate_limit;
mod read_back;
mod referrers;
mod registries_conf;
mod stall;
pub mod tls;

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{ImageSource, TopManifest};
use crate::manifest::{guess_media_type, Descriptor};
use crate::reference::DockerRef;
use crate::retry::RetryPolicy;
pub use auth::{Credentials, Secret};
pub use client::check_login;
use client::{RegistryClient, Target};
pub use destination::RegistryDestination;

/// How to reach and authenticate to a registry, from the command line.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `--creds USER[:PASS]` (or `--src-creds`, `--dest-creds`).
    pub creds: Option<Credentials>,
    /// The flag the credentials came from, for messages.
    pub creds_flag: String,
    /// `--authfile FILE`; `$REGISTRY_AUTH_FILE` when `None`.
    pub authfile: Option<PathBuf>,
    /// `--tls-verify`; true when `None`.
    pub tls_verify: Option<bool>,
    /// `--cert-dir DIR`.
    pub cert_dir: Option<PathBuf>,
    /// `--retry-times`, `--retry-delay`.
    pub retry: RetryPolicy,
    /// `--no-read-back`: a push is done when the registry accepted the manifest, without
    /// asking it back (see `read_back.rs`).
    pub no_read_back: bool,
    /// `--src-no-creds` (or `--dest-no-creds`, `--no-creds`): no credentials are looked up.
    pub no_creds: bool,
    /// `--src-registry-token` (or `--dest-registry-token`, `--registry-token`) and that flag:
    /// a bearer token sent as it is, without the token exchange.
    pub registry_token: Option<(Secret, String)>,
    /// `--registries-conf FILE`: mirrors and aliases (see `registries_conf.rs`).
    pub registries_conf: Option<PathBuf>,
}

/// The credentials (in skopeo's lookup order) and TLS settings for the registry `r`
/// names, as the options say.
fn credentials_and_tls(
    r: &DockerRef,
    opts: &RegistryOptions,
) -> Result<(Option<auth::Found>, tls::TlsSettings)> {
    let flag = match opts.creds_flag.as_str() {
        "" => "--creds",
        f => f,
    };
    let creds = match opts.no_creds {
        true => {
            tracing::debug!("{}: no credentials looked up (no-creds)", r.domain);
            None
        }
        false => auth::lookup(
            &r.domain,
            &r.path,
            opts.creds.as_ref(),
            flag,
            opts.authfile.as_deref(),
        )?,
    };
    let tls = tls::settings(
        &r.domain,
        opts.tls_verify.unwrap_or(true),
        opts.cert_dir.as_deref(),
    )?;
    Ok((creds, tls))
}

fn connect(r: &DockerRef, opts: &RegistryOptions) -> Result<RegistryClient> {
    let (creds, tls) = credentials_and_tls(r, opts)?;
    let target = Target {
        host: &r.domain,
        repo: &r.path,
        tag: r.tag.as_deref(),
        digest: r.digest.as_ref(),
    };
    let token = opts.registry_token.clone();
    RegistryClient::connect(&target, &tls, creds, token, opts.retry.clone())
}

/// An image in a registry, for reading.
pub struct RegistrySource {
    client: RegistryClient,
    name: DockerRef,
    /// The manifests served and the blobs they reference, for [`ImageSource::reread`].
    served: std::sync::Mutex<read_back::Objects>,
    /// The top manifest, when it was fetched to choose among mirrors: served once.
    prefetched: std::sync::Mutex<Option<Vec<u8>>>,
}

impl RegistrySource {
    /// Opens `r` (or its alias), through the mirrors `registries.conf` gives it.
    pub fn open(r: &DockerRef, opts: &RegistryOptions) -> Result<RegistrySource> {
        mirrors::open_source(r, opts)
    }

    /// Opens `r` itself.
    fn open_direct(r: &DockerRef, opts: &RegistryOptions) -> Result<RegistrySource> {
        Ok(RegistrySource {
            client: connect(r, opts)?,
            name: r.clone(),
            served: Default::default(),
            prefetched: Default::default(),
        })
    }

    /// Fetches the top manifest now (whether this source serves the image decides which
    /// mirror is used); [`ImageSource::top_manifest`] then returns it.
    fn prefetch(&self) -> Result<()> {
        let bytes = self.client.manifest()?;
        *self.prefetched.lock().expect("not poisoned") = Some(bytes);
        Ok(())
    }
}

impl ImageSource for RegistrySource {
    fn describe(&self) -> String {
        format!("docker://{}", self.name)
    }

    fn reads_in_parallel(&self) -> bool {
        true
    }

    fn mount_origin(&self) -> Option<&DockerRef> {
        Some(&self.name)
    }

    fn top_manifest(&self) -> Result<TopManifest> {
        let prefetched = self.prefetched.lock().expect("not poisoned").take();
        let bytes = match prefetched {
            Some(b) => b,
            None => self.client.manifest()?,
        };
        let media_type = guess_media_type(&bytes)
            .with_context(|| format!("the manifest of {}", self.describe()))?;
        // Pulled by digest: the pipeline checks the bytes against it.
        let descriptor = self
            .name
            .digest
            .as_ref()
            .map(|d| Descriptor::new(&media_type, d.clone(), bytes.len() as u64));
        let served = Descriptor::of_bytes(&media_type, &bytes);
        self.served()
            .manifest(&bytes, &served, self.name.tag.as_deref());
        Ok(TopManifest {
            bytes,
            media_type,
            descriptor,
        })
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let bytes = self.client.manifest_by_digest(&desc.digest)?;
        self.served().manifest(&bytes, desc, None);
        Ok(bytes)
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(self.client.blob(&desc.digest)?))
    }

    fn referrer_source(&self) -> Option<&dyn crate::transport::referrers::ReferrerSource> {
        Some(self)
    }

    /// Every object served, asked for again (see `read_back.rs`). When the top manifest was
    /// not found, it is asked for again too: found on a later read, it is a disagreement.
    fn reread(&self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        if self.served().is_empty() {
            let Some(read) = self.found_later() else {
                return Ok(lines);
            };
            lines.push(read_back::inconsistency(&self.client));
            lines.push(format!(
                "the manifest {}: missing (404) on read 1, served on read {read}",
                self.name
            ));
        }
        let served = std::mem::take(&mut *self.served());
        let more = read_back::disagreements(&self.client, &served)?;
        // The heading line once.
        lines.extend(more.into_iter().skip(usize::from(!lines.is_empty())));
        Ok(lines)
    }
}

impl RegistrySource {
    fn served(&self) -> std::sync::MutexGuard<'_, read_back::Objects> {
        self.served.lock().expect("not poisoned")
    }

    /// The read (2 or later) on which the top manifest, missing on the first, was served:
    /// asked as often as the read-back asks for a manifest.
    fn found_later(&self) -> Option<usize> {
        (2..=read_back::MANIFEST_READS).find(|_| self.top_manifest().is_ok())
    }
}

/// The digest and media type of the manifest `r` names, by a HEAD; `None` when the
/// registry has none.
pub fn head_digest(
    r: &DockerRef,
    opts: &RegistryOptions,
) -> Result<Option<(crate::digest::Digest, String)>> {
    connect(r, opts)?.head_manifest()
}

/// Every tag of the repository `r` names, `page` at a time.
pub fn list_tags(r: &DockerRef, opts: &RegistryOptions, page: usize) -> Result<Vec<String>> {
    let (r, opts) = mirrors::resolve(r, opts)?;
    connect(&r, &opts)?.list_tags(page.max(1))
}

/// Deletes the manifest `r` names (a tag is resolved to its digest first) and returns its
/// digest. Every tag pointing at it goes with it; the registry's garbage collector frees
/// the blobs.
pub fn delete(r: &DockerRef, opts: &RegistryOptions) -> Result<crate::digest::Digest> {
    let (r, opts) = &mirrors::resolve(r, opts)?;
    let client = connect(r, opts)?;
    let digest = client.manifest_digest()?;
    tracing::debug!("deleting {}@{digest}", r.repository());
    client.delete_manifest(&digest)?;
    Ok(digest)
}

/// `r`, or the repository its short name is an alias of in `registries.conf`.
pub fn resolve_alias(r: &DockerRef, opts: &RegistryOptions) -> Result<DockerRef> {
    Ok(mirrors::resolve(r, opts)?.0)
}
