//! `inspect --referrers`: the tree of referrers of an image, and of each instance of an
//! index, as text (one line per referrer, its annotations below it) or as JSON.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::copy::load_top;
use crate::copy::referrers::{find, ReferrerOptions, Tree};
use crate::digest::Digest;
use crate::manifest::Parsed;
use crate::transport::ImageSource;

/// One manifest and what hangs from it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    /// The instance's platform, for an index entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    /// How it was found (`referrers API`, `cosign tag sha256-….sig`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    found_by: Option<String>,
    referrers: Vec<Node>,
}

/// The tree of `src`'s top manifest, with the instances of an index below it.
pub(super) fn render(src: &dyn ImageSource, json: bool) -> Result<Vec<u8>> {
    let top = load_top(src)?;
    let mut instances = Vec::new();
    if let Parsed::Index(_, idx) = &top.parsed {
        instances = idx.manifests.clone();
    }
    let mut subjects = vec![top.descriptor.digest.clone()];
    subjects.extend(instances.iter().map(|d| d.digest.clone()));
    let tree = find(src, &subjects, &ReferrerOptions::default())?;
    tree.refuse_problems()?;
    let mut root = plain(&top.descriptor, &tree);
    for d in &instances {
        let mut n = plain(d, &tree);
        n.platform = d.platform.as_ref().map(|p| p.to_string());
        root.referrers.push(n);
    }
    if json {
        let mut out = serde_json::to_vec_pretty(&root)?;
        out.push(b'\n');
        return Ok(out);
    }
    let mut out = format!("{} {}\n", root.digest, root.media_type);
    text(&root.referrers, "", &mut out);
    Ok(out.into_bytes())
}

/// A manifest of the image (not a referrer), with its referrers.
fn plain(d: &crate::manifest::Descriptor, tree: &Tree) -> Node {
    Node {
        artifact_type: None,
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        annotations: None,
        platform: None,
        found_by: None,
        referrers: children(&d.digest, tree),
    }
}

fn children(d: &Digest, tree: &Tree) -> Vec<Node> {
    tree.of(d)
        .map(|r| Node {
            artifact_type: r.descriptor.artifact_type.clone(),
            media_type: r.descriptor.media_type.clone(),
            digest: r.descriptor.digest.clone(),
            size: r.descriptor.size,
            annotations: r.descriptor.annotations.clone(),
            platform: None,
            found_by: Some(r.how.name()),
            referrers: children(&r.descriptor.digest, tree),
        })
        .collect()
}

/// `├── TYPE DIGEST SIZE (how)` lines, annotations indented below each.
fn text(nodes: &[Node], indent: &str, out: &mut String) {
    for (i, n) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let (branch, more) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let what = match (&n.platform, &n.found_by) {
            (Some(p), _) => format!("instance {p}"),
            (None, Some(how)) if how.starts_with("cosign tag") => how.clone(),
            _ => n
                .artifact_type
                .clone()
                .unwrap_or_else(|| n.media_type.clone()),
        };
        let how = match &n.found_by {
            Some(h) if !h.starts_with("cosign tag") => format!(" ({h})"),
            _ => String::new(),
        };
        let size = crate::human_bytes(n.size);
        out.push_str(&format!(
            "{indent}{branch}{what} {} {size}{how}\n",
            n.digest
        ));
        for (k, v) in n.annotations.iter().flatten() {
            out.push_str(&format!("{indent}{more}  {k}={v}\n"));
        }
        text(&n.referrers, &format!("{indent}{more}"), out);
    }
}
