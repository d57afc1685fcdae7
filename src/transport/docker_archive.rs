//! `docker-archive:FILE[:NAME:TAG|:@N]`, the tarballs of `docker save` and `docker load`.
//! Reading takes `manifest.json` as the truth (as `docker load` does), which covers the
//! legacy layout (`<id>/layer.tar`), the Docker 25+ layout (paths under `blobs/sha256/`)
//! and gzip-compressed archives, and presents the selected image as a v2s2 manifest whose
//! layer digests are the config's diff_ids. Writing produces the Docker 25+ hybrid form: an
//! OCI layout with uncompressed layers plus `manifest.json` and `repositories`.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::fs::{read_small, safe_path, FileTree};
use super::layout::{single_entry_index, LAYOUT_CONTENT, LAYOUT_FILE, REF_NAME};
use super::oci_archive::{write_tree_as_tar, ArchiveStore};
use super::tarball::{ArchiveTarget, TarTree};
use super::{BlobWriter, DestCaps, ImageDestination, ImageSource, LayerPolicy, TopManifest};
use crate::convert::rewrite_manifest;
use crate::digest::{Algorithm, Digest};
use crate::manifest::{self, Descriptor, ImageConfig, ImageManifest, MAX_DOCUMENT_SIZE};
use crate::media_type::{self as mt, Format};
use crate::reference::{ArchiveSelector, DockerRef};

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ArchiveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
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
        Self::open_inner(file, selector, name.clone()).with_context(|| name)
    }

    fn open_inner(
        file: &Path,
        selector: Option<&ArchiveSelector>,
        name: String,
    ) -> Result<DockerArchiveSource> {
        let tree = TarTree::open(file)?;
        let bytes = read_small(&tree, "manifest.json", MAX_DOCUMENT_SIZE)
            .context("not a docker-archive (reading manifest.json)")?;
        let entries: Vec<ArchiveEntry> =
            serde_json::from_slice(&bytes).context("invalid manifest.json")?;
        let entry = select(&entries, selector)?;
        let config_path = safe_path(&entry.config).context("manifest.json: Config")?;
        let config = read_small(&tree, &config_path, MAX_DOCUMENT_SIZE)
            .context("reading the image config")?;
        let config_digest = Digest::of(algorithm_of_path(&config_path), &config);
        let config_desc = Descriptor::new(mt::DOCKER_CONFIG, config_digest, config.len() as u64);
        let parsed =
            ImageConfig::parse(&config).with_context(|| format!("config {config_path}"))?;
        let diff_ids = parsed.diff_ids();
        if diff_ids.len() != entry.layers.len() {
            bail!(
                "manifest.json lists {} layers but the config has {} diff_ids",
                entry.layers.len(),
                diff_ids.len()
            );
        }
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

/// The algorithm a blob path names (`blobs/sha512/HEX` in an archive oci-copy wrote from a
/// sha512 image), so that the config keeps its digest through a round trip; sha256, the
/// image ID's, for every other path (`HEX.json`, `blobs/sha256/HEX`).
fn algorithm_of_path(path: &str) -> Algorithm {
    match path.strip_prefix("blobs/sha512/") {
        Some(hex) if format!("sha512:{hex}").parse::<Digest>().is_ok() => Algorithm::Sha512,
        _ => Algorithm::Sha256,
    }
}

fn describe(file: &Path, selector: Option<&ArchiveSelector>) -> String {
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

/// Describes a layer file: a plain tar's digest is its diff_id; a compressed one (which
/// `docker save` never writes, but other tools do) is hashed to learn its digest.
fn layer_descriptor(tree: &TarTree, path: &str, diff_id: &Digest) -> Result<Descriptor> {
    let size = tree
        .size(path)?
        .ok_or_else(|| anyhow!("{path} is missing from the archive"))?;
    let mut magic = [0u8; 4];
    let n = tree.open(path)?.take(4).read(&mut magic)?;
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        let mut h = Algorithm::Sha256.hasher();
        let mut r = tree.open(path)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match r.read(&mut buf)? {
                0 => break,
                k => h.update(&buf[..k]),
            }
        }
        return Ok(Descriptor::new(mt::DOCKER_LAYER_GZIP, h.finish(), size));
    }
    if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        bail!("zstd-compressed layers in a docker-archive are not supported");
    }
    Ok(Descriptor::new(mt::DOCKER_LAYER, diff_id.clone(), size))
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

/// Writes a single-image docker-archive in the Docker 25+ hybrid form.
///
/// From a local source into a regular file, the archive is streamed: blobs go straight into
/// the staged archive file, one at a time in the image's order (see [`TarStream`]). From a
/// registry, where downloading layers at once is what makes a pull fast, and into a pipe,
/// which cannot be rewound to fill in a header, the blobs are staged in a directory and the
/// archive is written from it at the end.
pub struct DockerArchiveDestination {
    file: PathBuf,
    name: String,
    repo_tag: Option<DockerRef>,
    store: ArchiveStore,
}

/// What the archive holds beside the blobs.
struct Metadata {
    oci_manifest: Vec<u8>,
    oci_desc: Descriptor,
    index: Vec<u8>,
    manifest_json: Vec<u8>,
    repositories: Option<Vec<u8>>,
}

impl DockerArchiveDestination {
    /// Opens `file` for writing; `stream` allows streaming (the source is local).
    pub fn open(
        file: &Path,
        selector: Option<&ArchiveSelector>,
        stream: bool,
    ) -> Result<DockerArchiveDestination> {
        let name = describe(file, selector);
        let repo_tag = match selector {
            None => None,
            Some(ArchiveSelector::Name(r)) => Some(r.clone()),
            Some(ArchiveSelector::Index(_)) => {
                bail!("{name}: @N selects an image to read; to write, name it with :NAME:TAG")
            }
        };
        let store = ArchiveStore::open(file, None, stream).with_context(|| name.clone())?;
        Ok(DockerArchiveDestination {
            file: file.to_path_buf(),
            name,
            repo_tag,
            store,
        })
    }

    /// The OCI view (manifest blob and index.json), `manifest.json` and `repositories`.
    fn metadata(&self, v2s2: &[u8]) -> Result<Metadata> {
        let m = match manifest::parse(v2s2, mt::DOCKER_MANIFEST)? {
            manifest::Parsed::Image(_, m) => m,
            manifest::Parsed::Index(..) => bail!("a docker-archive cannot hold an index"),
        };
        let oci_layers = m
            .layers
            .iter()
            .map(|l| Descriptor {
                media_type: mt::OCI_LAYER.to_string(),
                ..l.clone()
            })
            .collect();
        let oci = rewrite_manifest(&m, Format::Oci, oci_layers)?;
        let mut desc = Descriptor::of_bytes(mt::OCI_MANIFEST, &oci);
        if let Some(r) = &self.repo_tag {
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            desc.annotations = Some(BTreeMap::from([
                ("io.containerd.image.name".to_string(), r.to_string()),
                (REF_NAME.to_string(), tag),
            ]));
        }
        let entry = ArchiveEntry {
            config: m.config.digest.blob_path(),
            repo_tags: self.repo_tag.as_ref().map(|r| vec![r.familiar()]),
            layers: m.layers.iter().map(|l| l.digest.blob_path()).collect(),
        };
        let manifest_json = serde_json::to_vec(&[entry])?;
        let repositories = self.repo_tag.as_ref().zip(m.layers.last()).map(|(r, top)| {
            let repo = r
                .familiar()
                .rsplit_once(':')
                .map(|(n, _)| n.to_string())
                .unwrap_or_default();
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            serde_json::json!({ repo: { tag: top.digest.hex() } })
                .to_string()
                .into_bytes()
        });
        Ok(Metadata {
            index: single_entry_index(&desc, None)?,
            oci_manifest: oci,
            oci_desc: desc,
            manifest_json,
            repositories,
        })
    }

    fn write(&self, meta: Metadata) -> Result<()> {
        let mut extra: Vec<(&str, &[u8])> = vec![
            ("index.json", &meta.index),
            ("manifest.json", &meta.manifest_json),
        ];
        if let Some(r) = &meta.repositories {
            extra.push(("repositories", r));
        }
        extra.push((LAYOUT_FILE, LAYOUT_CONTENT));
        match &self.store {
            ArchiveStore::Streamed(tar) => {
                self.put_bytes(&meta.oci_manifest, &meta.oci_desc)?;
                for (name, bytes) in extra {
                    tar.put(name, bytes)?;
                }
                tar.finish()
            }
            ArchiveStore::Staged { layout, .. } => {
                layout.put_bytes(&meta.oci_manifest, &meta.oci_desc)?;
                let target = ArchiveTarget::create(&self.file)?;
                write_tree_as_tar(layout.work_dir(), target, &extra)
            }
        }
    }
}

impl ImageDestination for DockerArchiveDestination {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn caps(&self) -> DestCaps {
        DestCaps {
            formats: &[Format::V2s2],
            layers: LayerPolicy::Uncompressed,
            stores_index: false,
            sequential: self.store.sequential(),
        }
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        self.store.has_blob(desc)
    }

    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.store.begin_blob(expected)
    }

    fn commit(self: Box<Self>, manifest: &[u8], _desc: &Descriptor) -> Result<()> {
        let meta = self.metadata(manifest).with_context(|| self.name.clone())?;
        self.write(meta)
            .with_context(|| format!("writing {}", self.name))
    }
}
