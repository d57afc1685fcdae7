//! Loading an image from a source: the top-level manifest, the instance an index holds for
//! a platform, and the config. Each is checked against the digest that references it
//! before it is parsed.

use anyhow::{anyhow, bail, Context, Result};

use super::verify::VerifyingReader;
use crate::digest::Digest;
use crate::manifest::{
    self, Descriptor, ImageConfig, ImageManifest, Index, Parsed, Platform, MAX_DOCUMENT_SIZE,
};
use crate::media_type::Format;
use crate::transport::ImageSource;

/// A single image read from a source: its manifest (verified) and config (verified).
pub struct LoadedImage {
    pub format: Format,
    pub raw: Vec<u8>,
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config_raw: Vec<u8>,
    pub config: ImageConfig,
    /// The index the image was chosen from, if any.
    pub index: Option<(Descriptor, Vec<u8>)>,
}

/// Checks `bytes` against the descriptor that references them.
pub fn verify_bytes(bytes: &[u8], desc: &Descriptor, what: &str) -> Result<()> {
    if bytes.len() as u64 != desc.size {
        bail!(
            "{what} {}: size mismatch: the descriptor says {} bytes, got {}",
            desc.digest,
            desc.size,
            bytes.len()
        );
    }
    let actual = Digest::of(desc.digest.algorithm(), bytes);
    if actual != desc.digest {
        bail!(
            "{what}: digest mismatch: expected {}, got {actual}",
            desc.digest
        );
    }
    Ok(())
}

/// The platform of this machine, as OCI names it.
pub fn host_platform() -> Platform {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    Platform {
        architecture: arch.to_string(),
        os: "linux".to_string(),
        ..Default::default()
    }
}

/// The source's top-level manifest, verified against its descriptor and parsed.
pub struct LoadedTop {
    pub bytes: Vec<u8>,
    pub descriptor: Descriptor,
    pub parsed: Parsed,
}

/// Reads and verifies the source's top-level manifest (an image manifest or an index).
pub fn load_top(src: &dyn ImageSource) -> Result<LoadedTop> {
    let top = src.top_manifest()?;
    let descriptor = match &top.descriptor {
        Some(d) => {
            verify_bytes(&top.bytes, d, "manifest")?;
            d.clone()
        }
        None => Descriptor::of_bytes(&top.media_type, &top.bytes),
    };
    let parsed = manifest::parse(&top.bytes, &top.media_type)
        .with_context(|| format!("manifest {}", descriptor.digest))?;
    Ok(LoadedTop {
        bytes: top.bytes,
        descriptor,
        parsed,
    })
}

/// The entry of `idx` for `want` (see [`crate::platform::choose`]), or an error that lists
/// every entry the index has.
pub fn select_platform<'a>(idx: &'a Index, want: &Platform) -> Result<&'a Descriptor> {
    crate::platform::choose(idx, want).ok_or_else(|| {
        anyhow!(
            "the index has no image for {want}; it has: {}",
            list_platforms(idx)
        )
    })
}

/// `linux/amd64, linux/arm64/v8, unknown/unknown (attestation), (no platform)`
pub fn list_platforms(idx: &Index) -> String {
    crate::platform::list_entries(idx)
}

/// Reads and verifies the image manifest an index entry names.
pub fn load_child(
    src: &dyn ImageSource,
    child: &Descriptor,
) -> Result<(Format, ImageManifest, Vec<u8>)> {
    let bytes = src.manifest(child)?;
    verify_bytes(&bytes, child, "manifest")?;
    match manifest::parse(&bytes, &child.media_type)
        .with_context(|| format!("manifest {}", child.digest))?
    {
        Parsed::Image(f, m) => Ok((f, m, bytes)),
        Parsed::Index(..) => bail!(
            "index entry {} is itself an index; nested indexes are not supported",
            child.digest
        ),
    }
}

/// Reads the source's image: the top manifest, the instance for `platform` when it is an
/// index, and the config. Verifies all three.
pub fn load_image(src: &dyn ImageSource, platform: Option<&Platform>) -> Result<LoadedImage> {
    image_from_top(src, load_top(src)?, platform)
}

/// Completes [`load_image`] from an already loaded top-level manifest.
pub fn image_from_top(
    src: &dyn ImageSource,
    top: LoadedTop,
    platform: Option<&Platform>,
) -> Result<LoadedImage> {
    let (format, m, raw, desc, index) = match top.parsed {
        Parsed::Image(f, m) => (f, m, top.bytes, top.descriptor, None),
        Parsed::Index(_, idx) => {
            let want = platform.cloned().unwrap_or_else(host_platform);
            let child = select_platform(&idx, &want)?.clone();
            let (f, m, bytes) = load_child(src, &child)?;
            (f, m, bytes, child, Some((top.descriptor, top.bytes)))
        }
    };
    image_with_config(src, format, m, raw, desc, index)
}

/// Reads and verifies the config of manifest `m`.
pub fn image_with_config(
    src: &dyn ImageSource,
    format: Format,
    m: ImageManifest,
    raw: Vec<u8>,
    descriptor: Descriptor,
    index: Option<(Descriptor, Vec<u8>)>,
) -> Result<LoadedImage> {
    let mut m = m;
    let config_raw = read_config(src, &m.config)?;
    let config = if let Some(c) = manifest::adopt_legacy_config(format, &mut m, &config_raw) {
        c
    } else if manifest::is_image(&m) {
        ImageConfig::parse(&config_raw).with_context(|| format!("config {}", m.config.digest))?
    } else {
        ImageConfig::default()
    };
    Ok(LoadedImage {
        format,
        raw,
        descriptor,
        manifest: m,
        config_raw,
        config,
        index,
    })
}

fn read_config(src: &dyn ImageSource, desc: &Descriptor) -> Result<Vec<u8>> {
    if desc.size > MAX_DOCUMENT_SIZE {
        bail!(
            "config {} is {} bytes, over the 4 MiB limit",
            desc.digest,
            desc.size
        );
    }
    let mut r = VerifyingReader::new(src.blob(desc)?, &desc.digest, desc.size);
    let mut buf = Vec::with_capacity(desc.size as usize);
    std::io::Read::read_to_end(&mut r, &mut buf)
        .with_context(|| format!("config {}", desc.digest))?;
    Ok(buf)
}
