//! `oci-copy inspect`: a JSON summary with the fields `skopeo inspect` prints, or the raw
//! manifest or config bytes exactly as stored.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::inspect_format::Template;
use crate::cli::{parse_platform, InspectArgs};
use crate::transport;
use serde::Serialize;

use crate::copy::{image_from_top, load_image, load_top, LoadedImage};
use crate::digest::Digest;
use crate::manifest::Parsed;
use crate::manifest::Platform;
use crate::reference::{DockerRef, ImageRef};
use crate::transport::ImageSource;

/// What `inspect` prints by default. Field names follow `skopeo inspect`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    /// Omitted when there is no repository name (a layout), as skopeo omits it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub digest: Digest,
    pub repo_tags: Vec<String>,
    pub created: Option<String>,
    pub docker_version: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    pub layers: Vec<Digest>,
    pub layers_data: Vec<LayerData>,
    /// `null` when the config sets none, as skopeo prints it.
    pub env: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerData {
    #[serde(rename = "MIMEType")]
    pub mime_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectMode {
    Summary,
    Raw,
    Config,
    /// The platforms of an index (or the one platform of an image).
    Platforms,
}

/// One line of `inspect --platforms`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PlatformEntry {
    pub platform: String,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// Inspects `r` and returns the bytes to print.
pub fn inspect(
    r: &ImageRef,
    src: &dyn ImageSource,
    mode: InspectMode,
    platform: Option<&Platform>,
) -> Result<Vec<u8>> {
    if mode == InspectMode::Raw {
        return Ok(src.top_manifest()?.bytes);
    }
    if mode == InspectMode::Platforms {
        let mut out = serde_json::to_vec_pretty(&platforms(src)?)?;
        out.push(b'\n');
        return Ok(out);
    }
    let img = load_image(src, platform)?;
    match mode {
        InspectMode::Config => Ok(img.config_raw),
        _ => {
            let mut out = serde_json::to_vec_pretty(&summary(r, src, &img))?;
            out.push(b'\n');
            Ok(out)
        }
    }
}

fn summary(r: &ImageRef, src: &dyn ImageSource, img: &LoadedImage) -> Summary {
    let names = src.repo_tags();
    // As skopeo: the tags of the repository, which only a registry has; a docker-archive's
    // own names show as Name and Tag.
    let repo_tags = match r {
        ImageRef::Registry(_) => names.clone(),
        _ => Vec::new(),
    };
    let (name, tag) = match r {
        ImageRef::Registry(d) => (d.repository(), d.tag.clone()),
        ImageRef::Layout { tag, .. } | ImageRef::OciArchive { tag, .. } => {
            (String::new(), tag.clone())
        }
        ImageRef::Dir { .. } => (String::new(), None),
        ImageRef::DockerArchive { .. } | ImageRef::DockerDaemon(_) => {
            match names.first().and_then(|t| DockerRef::parse(t).ok()) {
                Some(d) => (d.repository(), d.tag.clone()),
                None => (String::new(), None),
            }
        }
    };
    let digest = img
        .index
        .as_ref()
        .map(|(d, _)| d.digest.clone())
        .unwrap_or_else(|| img.descriptor.digest.clone());
    let c = &img.config;
    let run = c.config.clone().unwrap_or_default();
    Summary {
        name,
        tag,
        digest,
        repo_tags,
        created: c.created.clone(),
        docker_version: c.docker_version.clone().unwrap_or_default(),
        labels: run.labels,
        architecture: c.architecture.clone(),
        variant: c.variant.clone(),
        os: c.os.clone(),
        layers: img
            .manifest
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .collect(),
        layers_data: img
            .manifest
            .layers
            .iter()
            .map(|l| LayerData {
                mime_type: l.media_type.clone(),
                digest: l.digest.clone(),
                size: l.size,
                annotations: l.annotations.clone(),
            })
            .collect(),
        env: run.env,
    }
}

/// Every platform the image offers: the entries of an index, or the image's own.
fn platforms(src: &dyn ImageSource) -> Result<Vec<PlatformEntry>> {
    let top = load_top(src)?;
    if let Parsed::Index(_, idx) = &top.parsed {
        return Ok(idx
            .manifests
            .iter()
            .map(|d| PlatformEntry {
                platform: d
                    .platform
                    .as_ref()
                    .map_or_else(|| "unknown".to_string(), |p| p.to_string()),
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                size: d.size,
            })
            .collect());
    }
    let img = image_from_top(src, top, None)?;
    let c = &img.config;
    let mut platform = format!("{}/{}", c.os, c.architecture);
    if let Some(v) = &c.variant {
        platform = format!("{platform}/{v}");
    }
    Ok(vec![PlatformEntry {
        platform,
        digest: img.descriptor.digest.clone(),
        media_type: img.descriptor.media_type.clone(),
        size: img.descriptor.size,
    }])
}

/// Runs `inspect`: prints the summary, the raw manifest or config, or the platforms.
pub(super) fn run(args: InspectArgs) -> Result<()> {
    let r = ImageRef::parse(&args.image)?;
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let src = transport::open_source_with(&r, &args.registry.options())?;
    let mode = match (args.raw, args.config) {
        _ if args.platforms => InspectMode::Platforms,
        (true, _) => InspectMode::Raw,
        (_, true) => InspectMode::Config,
        _ => InspectMode::Summary,
    };
    let platform = args.platform.as_deref().map(parse_platform).transpose()?;
    if args.referrers {
        let out = super::inspect_referrers::render(src.as_ref(), args.json)
            .with_context(|| format!("inspecting the referrers of {}", src.describe()))?;
        return super::print(&out);
    }
    // A short name's alias is the name shown.
    let r = match r {
        ImageRef::Registry(d) => ImageRef::Registry(transport::registry::resolve_alias(
            &d,
            &args.registry.options(),
        )?),
        r => r,
    };
    let what = || format!("inspecting {}", src.describe());
    if let Some(t) = template {
        let img = load_image(src.as_ref(), platform.as_ref()).with_context(what)?;
        let summary = serde_json::to_value(summary(&r, src.as_ref(), &img))?;
        return super::print(t.render(&summary).as_bytes());
    }
    let out = inspect(&r, src.as_ref(), mode, platform.as_ref()).with_context(what)?;
    super::print(&out)
}
