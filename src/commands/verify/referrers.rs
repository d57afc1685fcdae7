//! `verify --referrers`: the referrers of each image checked (of the index and of every
//! instance), each reported on its own line. A referrer's `subject` must name the manifest
//! it hangs from (checked as it is found, see `copy::referrers`), its blobs must verify,
//! and a cosign simple-signing payload must name that manifest's digest as well.

use std::io::Read;

use serde_json::Value;

use super::checker::Checker;
use super::ImageResult;
use crate::copy::load_top;
use crate::copy::referrers::{find, Referrer, ReferrerOptions};
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed, MAX_DOCUMENT_SIZE};
use crate::transport::referrers::How;
use crate::transport::ImageSource;
use crate::verify::VerifyingReader;

/// The layer type of a cosign signature's payload.
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

impl Checker {
    /// Checks every referrer of the image `src` selects.
    pub(super) fn check_referrers(&mut self, src: &dyn ImageSource) {
        let name = src.describe();
        // When the top manifest cannot be read, the image's own line says so.
        let Ok(top) = load_top(src) else { return };
        let mut subjects = vec![top.descriptor.digest.clone()];
        if let Parsed::Index(_, idx) = &top.parsed {
            subjects.extend(idx.manifests.iter().map(|d| d.digest.clone()));
        }
        let tree = match find(src, &subjects, &ReferrerOptions::default()) {
            Ok(t) => t,
            Err(e) => return self.referrer_problems(&name, vec![format!("{e:#}")]),
        };
        if !tree.problems.is_empty() {
            self.referrer_problems(&name, tree.problems.clone());
        }
        for r in &tree.referrers {
            let mut problems = Vec::new();
            self.count(&r.descriptor);
            self.check_manifest(src, &r.bytes, &r.descriptor, 0, &mut problems);
            problems.extend(payload_problems(src, r));
            let kind = match &r.how {
                How::LegacyTag(t) => format!("cosign tag {t}"),
                _ => r.descriptor.artifact_type.clone().unwrap_or_default(),
            };
            self.report.images.push(ImageResult {
                name: format!("{name} referrer {kind} of {}", r.subject.short()),
                digest: Some(r.descriptor.digest.clone()),
                problems,
                skipped: std::mem::take(&mut self.skipped),
            });
        }
    }

    fn referrer_problems(&mut self, name: &str, problems: Vec<String>) {
        self.report.images.push(ImageResult {
            name: format!("{name} referrers"),
            digest: None,
            problems,
            skipped: Vec::new(),
        });
    }
}

/// A simple-signing payload must sign the manifest the signature hangs from.
fn payload_problems(src: &dyn ImageSource, r: &Referrer) -> Vec<String> {
    let Ok(Parsed::Image(_, m)) = manifest::parse(&r.bytes, &r.descriptor.media_type) else {
        return Vec::new();
    };
    m.layers
        .iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING)
        .filter_map(|l| {
            let signed = match read_payload(src, l) {
                Ok(d) => d,
                // A blob that does not verify is named by the blob check already.
                Err(None) => return None,
                Err(Some(why)) => return Some(format!("signature payload {}: {why}", l.digest)),
            };
            (signed != r.subject).then(|| {
                format!(
                    "signature payload {}: signs {signed}, not {} which it hangs from",
                    l.digest, r.subject
                )
            })
        })
        .collect()
}

/// The digest a simple-signing payload names (`critical.image.docker-manifest-digest`).
fn read_payload(src: &dyn ImageSource, l: &Descriptor) -> Result<Digest, Option<String>> {
    if l.size > MAX_DOCUMENT_SIZE {
        return Err(Some("over the 4 MiB limit".into()));
    }
    let r = src.blob(l).map_err(|_| None)?;
    let mut bytes = Vec::new();
    VerifyingReader::new(r, &l.digest, l.size)
        .read_to_end(&mut bytes)
        .map_err(|_| None)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| Some(format!("not JSON: {e}")))?;
    v["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .ok_or_else(|| Some("names no critical.image.docker-manifest-digest".to_string()))?
        .parse()
        .map_err(|e| Some(format!("its digest: {e}")))
}
