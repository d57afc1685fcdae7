//! Referrers in a registry. Reading: the referrers API first, then, when the registry has
//! none (404, 400, 405, 501), the referrers tag schema's `sha256-<hex>` index, as the
//! distribution-spec says. Writing: each referrer's manifest PUT with its `subject`; a
//! registry that indexes it answers `OCI-Subject`, and for one that does not, the
//! `sha256-<hex>` index is kept up to date here: the entries already there are merged with
//! the new ones and never dropped. Registries offer no conditional PUT (distribution 2.8
//! ignores `If-Match`), so after each PUT the tag is read again, twice, the second time
//! after a pause, and merged again while an entry is missing: two copies adding referrers
//! to one subject at once both land.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::direct::ApiAnswer;
use super::{RegistryDestination, RegistrySource};
use crate::digest::Digest;
use crate::manifest::{self, guess_media_type, Descriptor, Index, Parsed};
use crate::media_type as mt;
use crate::transport::referrers::{fallback_tag, How, Listing, ReferrerSink, ReferrerSource};
use crate::transport::TopManifest;

/// Rounds of merging into the `sha256-<hex>` tag before giving up on concurrent writers.
const MERGE_ROUNDS: u32 = 12;

impl ReferrerSource for RegistrySource {
    fn referrers(&self, subject: &Digest) -> Result<Listing> {
        let api = format!("GET /v2/{}/referrers/{subject}", self.name.path);
        let status = match self.client.referrers_api(subject)? {
            ApiAnswer::Listed(referrers) => {
                let why = format!("{api} answered 200 with {} entries", referrers.len());
                let how = How::Api;
                return Ok(Listing {
                    referrers,
                    how,
                    why,
                });
            }
            ApiAnswer::NotImplemented(status) => status,
        };
        let tag = fallback_tag(subject);
        let why = format!("{api} answered {status}: no referrers API, so the tag {tag}");
        let referrers = match self.client.manifest_if_tagged(&tag)? {
            None => Vec::new(),
            Some(bytes) => fallback_index(&bytes, &tag, &self.describe_tag(&tag))?.manifests,
        };
        let why = format!("{why} ({})", found(referrers.len()));
        let how = How::TagSchema;
        Ok(Listing {
            referrers,
            how,
            why,
        })
    }

    fn tagged(&self, tag: &str) -> Result<Option<TopManifest>> {
        let Some(bytes) = self.client.manifest_if_tagged(tag)? else {
            return Ok(None);
        };
        let media_type = guess_media_type(&bytes).with_context(|| self.describe_tag(tag))?;
        Ok(Some(TopManifest {
            bytes,
            media_type,
            descriptor: None,
        }))
    }
}

fn found(n: usize) -> String {
    match n {
        0 => "not found".to_string(),
        n => format!("{n} entries"),
    }
}

impl RegistrySource {
    fn describe_tag(&self, tag: &str) -> String {
        format!("docker://{}/{}:{tag}", self.name.domain, self.name.path)
    }
}

/// The referrers tag schema's index, which must be one: anything else is refused.
fn fallback_index(bytes: &[u8], tag: &str, name: &str) -> Result<Index> {
    let not_index = |why: String| anyhow!("the referrers tag {name} is not an image index: {why}");
    let media_type = guess_media_type(bytes).map_err(|e| not_index(format!("{e:#}")))?;
    match manifest::parse(bytes, &media_type) {
        Ok(Parsed::Index(_, idx)) => Ok(idx),
        Ok(Parsed::Image(..)) => Err(not_index(format!("it is an image manifest ({media_type})"))),
        Err(e) => Err(not_index(format!("{e:#}"))).context(tag.to_string()),
    }
}

impl ReferrerSink for RegistryDestination {
    fn check(&self, subjects: &[Digest]) -> Result<()> {
        for s in subjects {
            let tag = fallback_tag(s);
            if let Some(bytes) = self.client.manifest_if_tagged(&tag)? {
                fallback_index(&bytes, &tag, &self.describe_tag(&tag))?;
            }
        }
        Ok(())
    }

    fn put_referrers(&self, subject: &Digest, referrers: &[(Vec<u8>, Descriptor)]) -> Result<How> {
        let mut indexed = true;
        for (bytes, desc) in referrers {
            let reference = desc.digest.to_string();
            let answer = self
                .client
                .put_manifest_answer(&reference, bytes, &desc.media_type)?;
            self.note_pushed(bytes, desc, None);
            let ok = answer.as_deref() == Some(subject.to_string().as_str());
            tracing::debug!(
                "referrer {reference} of {subject}: {}",
                match &answer {
                    Some(h) if ok => format!("the registry answered OCI-Subject: {h}"),
                    Some(h) => format!("the registry answered OCI-Subject: {h}, another digest"),
                    None => "the registry answered no OCI-Subject".to_string(),
                }
            );
            indexed &= ok;
        }
        if indexed {
            return Ok(How::Api);
        }
        let descs: Vec<Descriptor> = referrers.iter().map(|(_, d)| d.clone()).collect();
        self.merge_fallback(subject, &descs)?;
        Ok(How::TagSchema)
    }

    fn put_tagged(&self, tag: &str, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.client
            .put_manifest_answer(tag, manifest, &desc.media_type)?;
        self.note_pushed(manifest, desc, Some(tag));
        Ok(())
    }
}

impl RegistryDestination {
    fn describe_tag(&self, tag: &str) -> String {
        format!("docker://{}/{}:{tag}", self.name.domain, self.name.path)
    }

    fn note_pushed(&self, bytes: &[u8], desc: &Descriptor, tag: Option<&str>) {
        if let Some(p) = &self.pushed {
            p.lock().expect("not poisoned").manifest(bytes, desc, tag);
        }
    }

    /// The `sha256-<hex>` index as it is now: its entries, or none when there is no tag.
    fn read_fallback(&self, tag: &str) -> Result<Index> {
        match self.client.manifest_if_tagged(tag)? {
            Some(bytes) => fallback_index(&bytes, tag, &self.describe_tag(tag)),
            None => Ok(empty_index()),
        }
    }

    /// Adds `want` to the `sha256-<hex>` index of `subject`, keeping every entry there, and
    /// checks (twice) that they stayed; merges again while another writer dropped one.
    fn merge_fallback(&self, subject: &Digest, want: &[Descriptor]) -> Result<()> {
        let tag = fallback_tag(subject);
        let mut checks = 0;
        for round in 0..MERGE_ROUNDS {
            let mut index = self.read_fallback(&tag)?;
            let missing: Vec<&Descriptor> = want
                .iter()
                .filter(|w| !index.manifests.iter().any(|d| d.digest == w.digest))
                .collect();
            if missing.is_empty() && round > 0 {
                checks += 1;
                if checks == 2 {
                    tracing::debug!("the referrers tag {tag} lists every referrer of {subject}");
                    return Ok(());
                }
                std::thread::sleep(settle(round, 150));
                continue;
            }
            checks = 0;
            if !missing.is_empty() {
                tracing::debug!(
                    "the registry does not index referrers: adding {} to the tag {tag} \
                     (which lists {})",
                    missing.len(),
                    index.manifests.len()
                );
                index.manifests.extend(missing.into_iter().cloned());
                let bytes = serde_json::to_vec(&index)?;
                self.client
                    .put_manifest_answer(&tag, &bytes, mt::OCI_INDEX)?;
            }
            std::thread::sleep(settle(round, 20));
        }
        bail!(
            "the referrers tag {}: other writers replaced it {MERGE_ROUNDS} times while \
             referrers of {subject} were added; try again",
            self.describe_tag(&tag)
        )
    }
}

/// A pause of about `base` ms, longer each round and different for each process, so that
/// two writers stop meeting.
fn settle(round: u32, base: u64) -> Duration {
    let jitter = u64::from(std::process::id() % 37) + u64::from(round) * 17;
    Duration::from_millis(base + jitter + u64::from(round) * base / 2)
}

fn empty_index() -> Index {
    Index {
        schema_version: 2,
        media_type: Some(mt::OCI_INDEX.to_string()),
        artifact_type: None,
        manifests: Vec::new(),
        subject: None,
        annotations: None,
        extra: Default::default(),
    }
}
