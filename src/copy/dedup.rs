//! Each distinct blob is handled once per copy. An image may list one layer several times
//! (empty layers often repeat), and the instances of an index may share layers or be the
//! same manifest; converting or writing such a blob again wastes the time and, in an
//! archive, stores it twice. [`Seen::steps`] says which layers of a list must be copied and
//! which repeat another; [`Seen`] remembers what the earlier images of an index wrote. A
//! repeat is described as the blob was written the first time (digest, size, media type),
//! with its own annotations and other fields.
//!
//! Two layers are the same copy when the source blob (digest and size), the plan for it and
//! the diff_id it is checked against all agree: a manifest that lists one blob with two
//! different diff_ids has each checked.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::blob::BlobOutcome;
use crate::convert::LayerPlan;
use crate::digest::Digest;
use crate::manifest::Descriptor;

/// What to do with one layer of a list.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The first time this copy meets it: copy it.
    Copy,
    /// The same as the earlier layer at this position of the list, copied with it.
    SameAs(usize),
    /// Handled earlier in this copy (another image of the index); written with this
    /// digest and size.
    Written(Digest, u64),
}

/// How a blob is handled: its plan (none for a config or an artifact's blob, which are
/// copied as they are) and the diff_id it is checked against.
type How = (Option<LayerPlan>, Option<Digest>);

/// A source blob: its digest and size.
type Blob = (Digest, u64);

/// The blobs one copy has handled: for each, how, and the blob it was written as.
#[derive(Debug, Default)]
pub struct Seen {
    blobs: HashMap<Blob, Vec<(How, Blob)>>,
}

impl Seen {
    /// The digest and size `desc` was written as, if this copy handled it the same way
    /// already.
    pub fn written(
        &self,
        desc: &Descriptor,
        plan: Option<&LayerPlan>,
        diff_id: Option<&Digest>,
    ) -> Option<(&Digest, u64)> {
        self.blobs
            .get(&(desc.digest.clone(), desc.size))?
            .iter()
            .find(|((p, d), _)| p.as_ref() == plan && d.as_ref() == diff_id)
            .map(|(_, (digest, size))| (digest, *size))
    }

    /// Records that `desc`, handled as `plan` says, was written as `written`.
    pub fn record(
        &mut self,
        desc: &Descriptor,
        plan: Option<&LayerPlan>,
        diff_id: Option<&Digest>,
        written: &Descriptor,
    ) {
        if self.written(desc, plan, diff_id).is_none() {
            let entry = (
                (plan.cloned(), diff_id.cloned()),
                (written.digest.clone(), written.size),
            );
            match self.blobs.entry((desc.digest.clone(), desc.size)) {
                Entry::Occupied(mut e) => e.get_mut().push(entry),
                // Room for one: a blob is nearly always handled one way only.
                Entry::Vacant(e) => drop(e.insert(vec![entry])),
            }
        }
    }

    /// Records the layers of an image as `outcomes` says they were written, for the images
    /// copied after it.
    pub fn record_layers(
        &mut self,
        layers: &[Descriptor],
        plans: &[LayerPlan],
        diff_ids: &[Digest],
        outcomes: &[BlobOutcome],
    ) {
        for (i, (l, o)) in layers.iter().zip(outcomes).enumerate() {
            if !o.repeated {
                self.record(l, plans.get(i), diff_ids.get(i), &o.written);
            }
        }
    }

    /// For each of `layers` (with their plans and diff_ids), whether to copy it or what it
    /// repeats. The first of several equal layers is the one copied.
    pub fn steps(
        &self,
        layers: &[Descriptor],
        plans: &[LayerPlan],
        diff_ids: &[Digest],
    ) -> Vec<Step> {
        let mut first: HashMap<(&Digest, u64), Vec<usize>> = HashMap::new();
        let mut steps = Vec::with_capacity(layers.len());
        for (i, (layer, plan)) in layers.iter().zip(plans).enumerate() {
            if let Some((digest, size)) = self.written(layer, Some(plan), diff_ids.get(i)) {
                steps.push(Step::Written(digest.clone(), size));
                continue;
            }
            let same = first.entry((&layer.digest, layer.size)).or_default();
            match same
                .iter()
                .find(|&&j| plans[j] == *plan && diff_ids.get(j) == diff_ids.get(i))
            {
                Some(&j) => steps.push(Step::SameAs(j)),
                None => {
                    same.push(i);
                    steps.push(Step::Copy);
                }
            }
        }
        steps
    }
}

impl BlobOutcome {
    /// The outcome of `desc`, which repeats a blob handled before in this copy and written
    /// as `digest` and `size` with `media_type`; its other fields are its own.
    pub fn repeat(desc: &Descriptor, media_type: &str, digest: &Digest, size: u64) -> BlobOutcome {
        BlobOutcome {
            written: Descriptor {
                media_type: media_type.to_string(),
                digest: digest.clone(),
                size,
                ..desc.clone()
            },
            copied: false,
            mounted: false,
            bytes: 0,
            repeated: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{GzipStyle, LayerAction};
    use crate::media_type::Compression;

    fn layer(n: u8) -> Descriptor {
        Descriptor::of_bytes("application/vnd.oci.image.layer.v1.tar+gzip", &[n])
    }

    fn plan(action: LayerAction) -> LayerPlan {
        LayerPlan {
            action,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            level: None,
            gzip_style: GzipStyle::Members,
        }
    }

    fn diff_id(n: u8) -> Digest {
        Digest::sha256_of(&[n, n])
    }

    #[test]
    fn a_repeated_layer_is_copied_once() {
        let gunzip = plan(LayerAction::Decompress(Compression::Gzip));
        let layers = [layer(1), layer(2), layer(1), layer(1)];
        let plans = vec![gunzip; 4];
        let diff_ids = [diff_id(1), diff_id(2), diff_id(1), diff_id(1)];
        let steps = Seen::default().steps(&layers, &plans, &diff_ids);
        use Step::*;
        assert_eq!(steps, [Copy, Copy, SameAs(0), SameAs(0)]);
    }

    #[test]
    fn the_same_blob_checked_against_another_diff_id_is_copied_again() {
        let gunzip = plan(LayerAction::Decompress(Compression::Gzip));
        let layers = [layer(1), layer(1)];
        let diff_ids = [diff_id(1), diff_id(9)];
        let steps = Seen::default().steps(&layers, &[gunzip.clone(), gunzip], &diff_ids);
        assert_eq!(steps, [Step::Copy, Step::Copy]);
    }

    #[test]
    fn what_an_earlier_image_wrote_is_reused() {
        let gunzip = plan(LayerAction::Decompress(Compression::Gzip));
        let mut seen = Seen::default();
        let written = layer(7);
        seen.record(&layer(1), Some(&gunzip), Some(&diff_id(1)), &written);
        let keep = plan(LayerAction::Keep);
        let steps = seen.steps(
            &[layer(1), layer(1)],
            &[gunzip, keep],
            &[diff_id(1), diff_id(1)],
        );
        // Kept as it is, the blob is another copy: not the decompressed one written before.
        assert_eq!(steps, [Step::Written(written.digest, 1), Step::Copy]);
    }
}
