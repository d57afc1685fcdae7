//! The image config: the parts of it oci-copy reads, and the adoption of the untyped
//! configs of docker 1.10-era pushes.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::{ImageManifest, MAX_DOCUMENT_SIZE};
use crate::digest::Digest;
use crate::media_type::{self as mt, Format};

/// The parts of an image config that oci-copy reads. The bytes themselves are never
/// rewritten, so the image ID (the config digest) survives every conversion.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub docker_version: Option<String>,
    #[serde(default)]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunConfig {
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig> {
        if bytes.len() as u64 > MAX_DOCUMENT_SIZE {
            bail!("config is {} bytes, over the 4 MiB limit", bytes.len());
        }
        serde_json::from_slice(bytes).context("invalid image config")
    }

    pub fn diff_ids(&self) -> &[Digest] {
        self.rootfs
            .as_ref()
            .map(|r| r.diff_ids.as_slice())
            .unwrap_or(&[])
    }

    /// Checks that the config names one diff_id for each of the `layers` of its manifest:
    /// lists of different lengths cannot both describe the image, whichever is wrong.
    pub fn check_layer_count(&self, layers: usize) -> Result<()> {
        let diff_ids = self.diff_ids().len();
        if diff_ids != layers {
            bail!("the manifest has {layers} layers but the config has {diff_ids} diff_ids");
        }
        Ok(())
    }
}

/// The config type of docker 1.10-era pushes, before `application/vnd.docker.container.
/// image.v1+json` was settled on.
pub const LEGACY_CONFIG: &str = "application/octet-stream";

/// Adopts the config of a docker 1.10-era v2s2 manifest: one typed
/// `application/octet-stream` whose JSON is an image config (a `rootfs` of `layers`, an
/// architecture and an OS) is read as the Docker image config it is, so that the image is
/// inspected, verified and converted like any other. Only this parsed view changes: the
/// manifest's bytes, and so its digest, stay as served. Returns the parsed config when it
/// adopted one.
pub fn adopt_legacy_config(
    format: Format,
    m: &mut ImageManifest,
    config: &[u8],
) -> Option<ImageConfig> {
    if format != Format::V2s2 || m.config.media_type != LEGACY_CONFIG {
        return None;
    }
    let parsed = ImageConfig::parse(config).ok()?;
    let image = parsed.rootfs.as_ref().is_some_and(|r| r.kind == "layers")
        && !parsed.architecture.is_empty()
        && !parsed.os.is_empty();
    if !image {
        return None;
    }
    tracing::debug!(
        "config {} is typed {LEGACY_CONFIG} but is an image config (a docker 1.10-era push): \
         reading it as {}",
        m.config.digest,
        mt::DOCKER_CONFIG
    );
    m.config.media_type = mt::DOCKER_CONFIG.to_string();
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_count_must_match_the_diff_ids() {
        let config = |n: usize| {
            let ids: Vec<String> = (0..n)
                .map(|i| Digest::sha256_of(&[i as u8]).to_string())
                .collect();
            let json = serde_json::json!({"rootfs": {"type": "layers", "diff_ids": ids}});
            ImageConfig::parse(json.to_string().as_bytes()).unwrap()
        };
        config(2).check_layer_count(2).unwrap();
        ImageConfig::default().check_layer_count(0).unwrap();
        let e = config(1).check_layer_count(2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the manifest has 2 layers but the config has 1 diff_ids"
        );
        let e = ImageConfig::default().check_layer_count(1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the manifest has 1 layers but the config has 0 diff_ids"
        );
    }
}
