//! `docker-archive:FILE[:NAME:TAG|:@N]`, the tarballs of `docker save` and `docker load`.
//! Reading takes `manifest.json` as the truth (as `docker load` does), which covers the
//! legacy layout (`<id>/layer.tar`), the Docker 25+ layout (paths under `blobs/sha256/`)
//! and gzip-compressed archives, and presents the selected image as a v2s2 manifest whose
//! layer digests are the config's diff_ids. Writing (`docker_archive_dest.rs`) produces the
//! Docker 25+ hybrid form: an OCI layout with uncompressed layers plus `manifest.json` and
//! `repositories`.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::fs::{read_small, read_up_to, safe_path, FileTree};
use super::tarball::TarTree;
use super::{ImageSource, TopManifest};
use crate::digest::{Algorithm, Digest};
use crate::manifest::{Descriptor, ImageConfig, ImageManifest, MAX_DOCUMENT_SIZE};
use crate::media_type as mt;
use crate::reference::{ArchiveSelector, DockerRef};
use crate::verify::HashingReader;

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ArchiveEntry {
    #[serde(rename = "Config")]
    pub(super) config: String,
    #[serde(rename = "RepoTags", default)]
    pub(super) repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub(super) layers: Vec<String>,
}

impl ArchiveEntry {
    fn label(&self, i: usize) -> String {
        match self.repo_tags.as_deref() {
            Some(tags) if !tags.is_empty() => format!("@{i} ({})", tags.join(", ")),
            _ => format!("@{i} (untagged)"),
        }
    }

    fn matches(&self, want: &DockerRef) -> bool {
        self.repo_tags
            .iter()
            .flatten()
            .any(|t| DockerRef::parse(t).map(|r| &r == want).unwrap_or(false))
    }
}

/// Reads one image of a docker-archive.
pub struct DockerArchiveSource {
    tree: TarTree,
    name: String,
    manifest: Vec<u8>,
    repo_tags: Vec<String>,
    /// Where each blob of the synthesised manifest lives in the archive.
    paths: HashMap<Digest, String>,
}

impl DockerArchiveSource {
    pub fn open(file: &Path, selector: Option<&ArchiveSelector>) -> Result<DockerArchiveSource> {
        let name = describe(file, selector);
        let tree = TarTree::open(file).with_context(|| name.clone())?;
        Self::from_tree(tree, selector, name.clone()).with_context(|| name)
    }

    /// Reads the image `selector` chooses from an archive already indexed; `name` describes
    /// it in messages.
    pub fn from_tree(
        tree: TarTree,
        selector: Option<&ArchiveSelector>,
        name: String,
    ) -> Result<DockerArchiveSource> {
        let entries = read_entries(&tree)?;
        let entry = select(&entries, selector)?;
        let config_path = safe_path(&entry.config).context("manifest.json: Config")?;
        let config = read_small(&tree, &config_path, MAX_DOCUMENT_SIZE)
            .context("reading the image config")?;
        check_named_digest(&config_path, &config)?;
        // A config named by its sha512 (a sha512 image that oci-copy wrote) keeps that digest
        // through a round trip; any other is named by its sha256, the image ID.
        let config_desc = match named_digest(&config_path) {
            Some(d) if d.algorithm() == Algorithm::Sha512 => {
                Descriptor::new(mt::DOCKER_CONFIG, d, config.len() as u64)
            }
            _ => Descriptor::of_bytes(mt::DOCKER_CONFIG, &config),
        };
        let parsed =
            ImageConfig::parse(&config).with_context(|| format!("config {config_path}"))?;
        parsed
            .check_layer_count(entry.layers.len())
            .context("manifest.json")?;
        let diff_ids = parsed.diff_ids();
        let mut paths = HashMap::from([(config_desc.digest.clone(), config_path)]);
        let mut layers = Vec::new();
        for (i, (layer, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
            let path =
                safe_path(layer).with_context(|| format!("manifest.json: layer {}", i + 1))?;
            let desc = layer_descriptor(&tree, &path, diff_id)
                .with_context(|| format!("layer {} ({path})", i + 1))?;
            paths.insert(desc.digest.clone(), path);
            layers.push(desc);
        }
        let manifest = synthesise_manifest(config_desc, layers)?;
        Ok(DockerArchiveSource {
            tree,
            name,
            manifest,
            repo_tags: entry.repo_tags.clone().unwrap_or_default(),
            paths,
        })
    }
}

/// The digest a path names: `blobs/<alg>/<hex>` (Docker 25+) or `<hex>.json` (the image ID,
/// in the legacy layout).
fn named_digest(path: &str) -> Option<Digest> {
    let named = match path.strip_prefix("blobs/") {
        Some(rest) => rest.replacen('/', ":", 1),
        None => format!("sha256:{}", path.strip_suffix(".json")?),
    };
    named.parse().ok()
}

/// The config is vouched for by `manifest.json` alone, by path; but where that path names a
/// digest, the bytes must be that digest: an archive whose config was swapped is refused.
fn check_named_digest(path: &str, bytes: &[u8]) -> Result<()> {
    if let Some(named) = named_digest(path) {
        let actual = Digest::of(named.algorithm(), bytes);
        if actual != named {
            bail!("the config {path} is named for digest {named}, but its bytes are {actual}");
        }
    }
    Ok(())
}

/// The entries of `manifest.json`.
fn read_entries(tree: &TarTree) -> Result<Vec<ArchiveEntry>> {
    let bytes = read_small(tree, "manifest.json", MAX_DOCUMENT_SIZE)
        .context("not a docker-archive (reading manifest.json)")?;
    serde_json::from_slice(&bytes).context("invalid manifest.json")
}

/// How many images the docker-archive `file` holds.
pub fn image_count(file: &Path) -> Result<usize> {
    let name = describe(file, None);
    let entries = read_entries(&TarTree::open(file).with_context(|| name.clone())?)
        .with_context(|| name.clone())?;
    if entries.is_empty() {
        bail!("{name}: manifest.json lists no images");
    }
    Ok(entries.len())
}

pub(super) fn describe(file: &Path, selector: Option<&ArchiveSelector>) -> String {
    match selector {
        None => format!("docker-archive:{}", file.display()),
        Some(ArchiveSelector::Index(n)) => format!("docker-archive:{}:@{n}", file.display()),
        Some(ArchiveSelector::Name(r)) => {
            format!("docker-archive:{}:{}", file.display(), r.familiar())
        }
    }
}

fn select<'a>(
    entries: &'a [ArchiveEntry],
    selector: Option<&ArchiveSelector>,
) -> Result<&'a ArchiveEntry> {
    let list = || {
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| e.label(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match selector {
        None => match entries {
            [one] => Ok(one),
            [] => bail!("manifest.json lists no images"),
            _ => bail!(
                "the archive holds {} images; choose one with :NAME:TAG or :@N: {}",
                entries.len(),
                list()
            ),
        },
        Some(ArchiveSelector::Index(n)) => entries
            .get(*n)
            .ok_or_else(|| anyhow!("no image @{n}; the archive holds: {}", list())),
        Some(ArchiveSelector::Name(want)) => {
            let mut found = entries.iter().filter(|e| e.matches(want));
            let first = found.next().ok_or_else(|| {
                anyhow!(
                    "no image named {}; the archive holds: {}",
                    want.familiar(),
                    list()
                )
            })?;
            if found.next().is_some() {
                bail!(
                    "{} names several images; choose one with :@N: {}",
                    want.familiar(),
                    list()
                );
            }
            Ok(first)
        }
    }
}

/// Describes a layer file. A plain tar's digest is its diff_id, which the copy checks as it
/// streams. A compressed one (which `docker save` never writes, but other tools do) has no
/// digest anyone vouches for but the diff_id of what it decompresses to: so it is hashed and
/// decompressed here, in one pass, and refused unless the plain tar is the config's diff_id.
/// The copy then checks every byte it reads against the compressed digest learned here, so
/// what reaches a destination (or is found there already) is what was checked.
fn layer_descriptor(tree: &TarTree, path: &str, diff_id: &Digest) -> Result<Descriptor> {
    let size = tree
        .size(path)?
        .ok_or_else(|| anyhow!("{path} is missing from the archive"))?;
    let mut magic = [0u8; 10];
    let n = read_up_to(&mut tree.open(path)?, &mut magic)?;
    match compression_of(&magic[..n]) {
        Some("gzip") => {
            let digest = vouched_gzip_digest(tree, path, diff_id)?;
            Ok(Descriptor::new(mt::DOCKER_LAYER_GZIP, digest, size))
        }
        Some(other) => bail!("{other}-compressed layers in a docker-archive are not supported"),
        None => Ok(Descriptor::new(mt::DOCKER_LAYER, diff_id.clone(), size)),
    }
}

/// The compression the first bytes of a layer file announce (the formats `docker load`
/// detects), or `None` for a plain tar.
fn compression_of(magic: &[u8]) -> Option<&'static str> {
    match magic {
        [0x1f, 0x8b, ..] => Some("gzip"),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some("zstd"),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some("xz"),
        // "BZh", the block size, then the first block's magic: a tar whose first entry's
        // name starts with "BZh" is not mistaken for bzip2.
        [b'B', b'Z', b'h', b'1'..=b'9', 0x31, 0x41, 0x59, 0x26, 0x53, 0x59] => Some("bzip2"),
        _ => None,
    }
}

/// The sha256 of the gzip file at `path`, after checking that it decompresses to `diff_id`.
fn vouched_gzip_digest(tree: &TarTree, path: &str, diff_id: &Digest) -> Result<Digest> {
    let mut packed = HashingReader::new(tree.open(path)?);
    let mut plain = diff_id.algorithm().hasher();
    let mut dec = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(&mut packed));
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => plain.update(&buf[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("decompressing the layer (gzip)"),
        }
    }
    // The decoder reads to the end of the file; whatever its buffer still holds is hashed.
    std::io::copy(&mut dec.into_inner(), &mut std::io::sink())?;
    let plain = plain.finish();
    if &plain != diff_id {
        bail!("diff_id mismatch: the config says {diff_id}, but the uncompressed layer is {plain}");
    }
    Ok(packed.finish().0)
}

fn synthesise_manifest(config: Descriptor, layers: Vec<Descriptor>) -> Result<Vec<u8>> {
    let m = ImageManifest {
        schema_version: 2,
        media_type: Some(mt::DOCKER_MANIFEST.to_string()),
        artifact_type: None,
        config,
        layers,
        subject: None,
        annotations: None,
        extra: Default::default(),
    };
    Ok(serde_json::to_vec(&m)?)
}

impl ImageSource for DockerArchiveSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn top_manifest(&self) -> Result<TopManifest> {
        Ok(TopManifest {
            bytes: self.manifest.clone(),
            media_type: mt::DOCKER_MANIFEST.to_string(),
            descriptor: None,
        })
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        bail!("a docker-archive holds no manifest {}", desc.digest)
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        let path = self
            .paths
            .get(&desc.digest)
            .ok_or_else(|| anyhow!("blob {} is not part of this image", desc.digest))?;
        self.tree
            .open(path)
            .with_context(|| format!("blob {}", desc.digest))
    }

    fn repo_tags(&self) -> Vec<String> {
        self.repo_tags.clone()
    }
}

pub use super::docker_archive_dest::DockerArchiveDestination;
