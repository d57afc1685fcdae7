//! Cleanup: deletes what the probe wrote, manifests by digest (indexes and the artifact
//! before the images they point at), any probe tag that survived that, then blobs; and
//! records each answer, so the report says what could not be deleted and why.

use anyhow::Result;
use reqwest::Method;

use super::http::{Req, Resp};
use super::{tags, upload, Cap, Check, Cleanup, NotDeleted, Prober};
use crate::digest::Digest;

impl Prober {
    /// Deletes what the probe wrote: manifests by digest (indexes and the artifact before
    /// the images they point at), any probe tag that survived, then blobs.
    pub(super) fn cleanup(&mut self) -> Cleanup {
        let mut out = Cleanup {
            left_alone: self
                .left_alone
                .iter()
                .map(|d| format!("blob {d}"))
                .collect(),
            ..Default::default()
        };
        let manifests: Vec<(&'static str, Digest)> = self
            .manifests
            .iter()
            .rev()
            .map(|w| (w.what, w.digest.clone()))
            .collect();
        let mut first = true;
        for (what, d) in manifests {
            let request = format!("DELETE manifests/{d}");
            let outcome = self.send(&Req::new(
                Method::DELETE,
                &self.v2(&format!("manifests/{d}")),
            ));
            let object = format!("{what} {d}");
            let check = self.record_delete(&mut out, object, &request, outcome);
            if first {
                self.set(Cap::ManifestDelete, check);
                first = false;
            }
        }
        if first {
            self.set(
                Cap::ManifestDelete,
                Check::unknown(
                    "not tried".into(),
                    "no manifest was accepted, so none could be deleted",
                ),
            );
        }
        self.delete_leftover_tags(&mut out);
        let mut first = true;
        for d in self.blobs.clone() {
            let request = format!("DELETE blobs/{d}");
            let outcome = self.send(&Req::new(Method::DELETE, &self.v2(&format!("blobs/{d}"))));
            let check = self.record_delete(&mut out, format!("blob {d}"), &request, outcome);
            if first {
                self.set(Cap::BlobDelete, check);
                first = false;
            }
        }
        if first {
            self.set(
                Cap::BlobDelete,
                Check::unknown(
                    "not tried".into(),
                    "no blob was uploaded, so none could be deleted",
                ),
            );
        }
        out
    }

    fn record_delete(
        &mut self,
        out: &mut Cleanup,
        object: String,
        request: &str,
        outcome: Result<Resp>,
    ) -> Check {
        match outcome {
            Ok(r) if r.is_success() || r.status == 404 => {
                out.deleted.push(object);
                let c = Check::answer(Some(true), request, &r);
                if r.status == 404 {
                    c.note("already gone")
                } else {
                    c
                }
            }
            Ok(r) => {
                out.not_deleted.push(NotDeleted {
                    object,
                    reason: upload::describe(&r),
                });
                let refused = r.status == 405 || r.code.as_deref() == Some("UNSUPPORTED");
                Check::answer(if refused { Some(false) } else { None }, request, &r)
            }
            Err(e) => {
                out.not_deleted.push(NotDeleted {
                    object,
                    reason: format!("{e:#}"),
                });
                Check::unknown(format!("{request}: {e:#}"), "no answer")
            }
        }
    }

    /// Probe tags still listed after the deletes by digest: delete them by tag.
    fn delete_leftover_tags(&mut self, out: &mut Cleanup) {
        let prefix = format!("oci-copy-probe-{}-", self.id);
        let Ok(tags) = tags::all_tags(self) else {
            return;
        };
        for t in tags.into_iter().filter(|t| t.starts_with(&prefix)) {
            let r = self.send(&Req::new(
                Method::DELETE,
                &self.v2(&format!("manifests/{t}")),
            ));
            match r {
                Ok(r) if r.is_success() || r.status == 404 => out.deleted.push(format!("tag {t}")),
                Ok(r) => out.not_deleted.push(NotDeleted {
                    object: format!("tag {t}"),
                    reason: upload::describe(&r),
                }),
                Err(e) => out.not_deleted.push(NotDeleted {
                    object: format!("tag {t}"),
                    reason: format!("{e:#}"),
                }),
            }
        }
    }
}
