//! Typed, read-only views of manifests, indexes and image configs (`config.rs`) over their
//! raw bytes. Parsing never changes the bytes a copy writes: a manifest is only
//! re-serialised by [`rewrite_manifest`], when the plan says so. Unknown fields are kept so
//! that a rewrite loses nothing.

mod config;

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::media_type::{self as mt, Format, Kind};
pub use config::{adopt_legacy_config, ImageConfig, RootFs, RunConfig, LEGACY_CONFIG};

/// The most a manifest, index or config may weigh. Larger documents are refused, so a lying
/// source cannot make oci-copy buffer without bound.
pub const MAX_DOCUMENT_SIZE: u64 = 4 * 1024 * 1024;

/// An OCI content descriptor (also the shape Docker v2s2 uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
            extra: Map::new(),
        }
    }

    /// The descriptor of `bytes` with this media type.
    pub fn of_bytes(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor::new(media_type, Digest::sha256_of(bytes), bytes.len() as u64)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// The platform an index entry runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest, OCI or Docker v2s2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A parsed top-level document: an image manifest or an index.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per copy; boxing would buy nothing
pub enum Parsed {
    Image(Format, ImageManifest),
    Index(Format, Index),
}

/// Works out the media type of manifest bytes when no trustworthy one was given: the
/// `mediaType` field if present, else the shape (`manifests` means an index).
pub fn guess_media_type(bytes: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<u32>,
        media_type: Option<String>,
        manifests: Option<Value>,
        config: Option<Value>,
        fs_layers: Option<Value>,
    }
    let p: Probe = serde_json::from_slice(bytes).context("manifest is not valid JSON")?;
    if let Some(m) = p.media_type {
        return Ok(m);
    }
    Ok(
        match (p.schema_version, p.manifests, p.config, p.fs_layers) {
            (Some(1), ..) | (_, _, _, Some(_)) => mt::DOCKER_SCHEMA1.to_string(),
            (_, Some(_), _, _) => mt::OCI_INDEX.to_string(),
            (_, _, Some(_), _) => mt::OCI_MANIFEST.to_string(),
            _ => bail!(
                "cannot tell what kind of manifest this is (no mediaType, config or manifests)"
            ),
        },
    )
}

/// Parses manifest bytes whose media type is `media_type` (from the descriptor or the
/// transport). A `mediaType` field inside the document must agree with it.
pub fn parse(bytes: &[u8], media_type: &str) -> Result<Parsed> {
    if bytes.len() as u64 > MAX_DOCUMENT_SIZE {
        bail!("manifest is {} bytes, over the 4 MiB limit", bytes.len());
    }
    let parsed = match mt::kind_of(media_type) {
        Kind::Manifest(f) => {
            let mut m: ImageManifest =
                serde_json::from_slice(bytes).context("invalid image manifest")?;
            // The list grew by doubling while it was read: up to half of it is spare room,
            // megabytes for an image of thousands of layers.
            m.layers.shrink_to_fit();
            check_inner_type(m.media_type.as_deref(), media_type)?;
            Parsed::Image(f, m)
        }
        Kind::Index(f) => {
            let mut i: Index = serde_json::from_slice(bytes).context("invalid image index")?;
            i.manifests.shrink_to_fit();
            check_inner_type(i.media_type.as_deref(), media_type)?;
            Parsed::Index(f, i)
        }
        Kind::Schema1 => bail!(
            "Docker schema 1 manifests are not supported (deprecated since 2017); \
             rebuild or re-push the image with a current client"
        ),
        _ => bail!("unknown manifest media type {media_type:?}"),
    };
    let version = match &parsed {
        Parsed::Image(_, m) => m.schema_version,
        Parsed::Index(_, i) => i.schema_version,
    };
    if version != 2 {
        bail!("unsupported schemaVersion {version} (expected 2)");
    }
    Ok(parsed)
}

fn check_inner_type(inner: Option<&str>, outer: &str) -> Result<()> {
    match inner {
        Some(inner) if inner != outer => {
            bail!("manifest says its mediaType is {inner:?} but it was referenced as {outer:?}")
        }
        _ => Ok(()),
    }
}

/// True when this manifest describes a container image (as opposed to an artifact such as a
/// Helm chart or a signature, whose config is not an image config).
pub fn is_image(m: &ImageManifest) -> bool {
    matches!(mt::kind_of(&m.config.media_type), Kind::Config(_)) && m.artifact_type.is_none()
}

/// Writes the manifest `m` as family `format`, with `layers` as the new layer descriptors
/// (same order; their digests and sizes reflect any recompression). The config descriptor
/// keeps its digest and size: only its media type changes. Returns the new bytes.
///
/// Going to v2s2, manifest annotations and `subject` have nowhere to go: they are dropped
/// with a warning, and the caller refuses artifacts before getting here.
pub fn rewrite_manifest(
    m: &ImageManifest,
    format: Format,
    layers: Vec<Descriptor>,
) -> Result<Vec<u8>> {
    // Field by field rather than `m.clone()`, which would copy the old layer list too
    // (megabytes for an image of thousands of layers) only to drop it.
    let mut out = ImageManifest {
        schema_version: 2,
        media_type: Some(format.manifest_type().to_string()),
        artifact_type: m.artifact_type.clone(),
        config: Descriptor {
            media_type: format.config_type().to_string(),
            ..m.config.clone()
        },
        layers,
        subject: m.subject.clone(),
        annotations: m.annotations.clone(),
        extra: m.extra.clone(),
    };
    if format == Format::V2s2 {
        if let Some(a) = out.annotations.take() {
            let keys: Vec<_> = a.keys().cloned().collect();
            tracing::warn!(
                "Docker v2s2 has no manifest annotations; dropping {}",
                keys.join(", ")
            );
        }
        if out.subject.take().is_some() {
            tracing::warn!("Docker v2s2 has no subject field; dropping the manifest's subject");
        }
        for l in &mut out.layers {
            l.annotations = None;
        }
    }
    Ok(serde_json::to_vec(&out)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[],"x-extra":1}"#;

    #[test]
    fn guesses_types_from_shape() {
        assert_eq!(guess_media_type(OCI.as_bytes()).unwrap(), mt::OCI_MANIFEST);
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(guess_media_type(idx).unwrap(), mt::OCI_INDEX);
        let v1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        assert_eq!(guess_media_type(v1).unwrap(), mt::DOCKER_SCHEMA1);
        assert!(guess_media_type(b"{}").is_err());
        assert!(guess_media_type(b"not json").is_err());
    }

    #[test]
    fn keeps_unknown_fields() {
        let Parsed::Image(Format::Oci, m) = parse(OCI.as_bytes(), mt::OCI_MANIFEST).unwrap() else {
            panic!("an OCI manifest")
        };
        assert_eq!(m.extra.get("x-extra"), Some(&Value::from(1)));
        let again = serde_json::to_string(&m).unwrap();
        assert!(again.contains("\"x-extra\":1"));
    }

    #[test]
    fn refuses_mismatched_inner_type() {
        let err = parse(OCI.as_bytes(), mt::DOCKER_MANIFEST).unwrap_err();
        assert!(format!("{err:#}").contains("mediaType"), "{err:#}");
    }

    #[test]
    fn refuses_negative_sizes_and_bad_digests() {
        let neg = OCI.replace("\"size\":0", "\"size\":-1");
        assert!(parse(neg.as_bytes(), mt::OCI_MANIFEST).is_err());
        let md5 = OCI.replace("sha256:e3b0", "md5:e3b0");
        assert!(parse(md5.as_bytes(), mt::OCI_MANIFEST).is_err());
    }

    #[test]
    fn refuses_unknown_types_and_schema1() {
        assert!(format!("{:#}", parse(b"{}", "text/plain").unwrap_err()).contains("unknown"));
        let s1 = parse(br#"{"schemaVersion":1}"#, mt::DOCKER_SCHEMA1).unwrap_err();
        assert!(format!("{s1:#}").contains("schema 1"));
    }
}
