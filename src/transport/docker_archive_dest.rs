//! Writing a docker-archive (`docker-archive:FILE:NAME:TAG`) in the Docker 25+ hybrid form,
//! which `docker load`, skopeo and OCI tools all read: an OCI layout with uncompressed
//! layers, plus `manifest.json` and `repositories`, metadata last as `docker save` orders it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::archive_target::{ArchiveSink, ImageIds, Output};
use super::docker_archive::{describe, ArchiveEntry};
use super::layout::LayoutDestination;
use super::layout::{empty_index, single_entry_index, LAYOUT_CONTENT, LAYOUT_FILE, REF_NAME};
use super::oci_archive::{staging_in_system_temp, write_tree_as_tar, ArchiveStore};
use super::{BlobWriter, DestCaps, ImageDestination, LayerPolicy};
use crate::manifest::{self, rewrite_manifest, Descriptor};
use crate::media_type::{self as mt, Format};
use crate::reference::{ArchiveSelector, DockerRef};

/// Writes a single-image docker-archive in the Docker 25+ hybrid form.
///
/// From a local source into a regular file, the archive is streamed: blobs go straight into
/// the staged archive file, one at a time in the image's order (see [`TarStream`]). From a
/// registry, where downloading layers at once is what makes a pull fast, and into a pipe,
/// which cannot be rewound to fill in a header, the blobs are staged in a directory and the
/// archive is written from it at the end. Into a sink (the Docker daemon), too.
pub struct DockerArchiveDestination {
    output: Output,
    name: String,
    /// The names the image gets (`RepoTags`): the reference's, then `--additional-tag`'s.
    repo_tags: Vec<DockerRef>,
    store: ArchiveStore,
}

/// What the archive holds beside the blobs.
struct Metadata {
    oci_manifest: Vec<u8>,
    oci_desc: Descriptor,
    config: crate::digest::Digest,
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
        let repo_tags = match selector {
            None => Vec::new(),
            Some(ArchiveSelector::Name(r)) => vec![r.clone()],
            Some(ArchiveSelector::Index(_)) => {
                bail!("{name}: @N selects an image to read; to write, name it with :NAME:TAG")
            }
        };
        let store = ArchiveStore::open(file, None, stream).with_context(|| name.clone())?;
        Ok(DockerArchiveDestination {
            output: Output::File(file.to_path_buf()),
            name,
            repo_tags,
            store,
        })
    }

    /// A destination whose archive goes into `sink` rather than a file, named `repo_tag`;
    /// `name` describes it. Its blobs are staged in the system's temporary directory.
    pub(super) fn into_sink(
        name: String,
        repo_tag: DockerRef,
        sink: Box<dyn ArchiveSink>,
    ) -> Result<DockerArchiveDestination> {
        let stage = staging_in_system_temp()?;
        let store = ArchiveStore::Staged {
            layout: LayoutDestination::open(stage.path(), None)?.scratch(),
            _stage: stage,
        };
        Ok(DockerArchiveDestination {
            output: Output::Sink(sink),
            name,
            repo_tags: vec![repo_tag],
            store,
        })
    }

    /// The OCI view (manifest blob and index.json), `manifest.json` and `repositories`.
    fn metadata(&self, v2s2: &[u8]) -> Result<Metadata> {
        let mut m = match manifest::parse(v2s2, mt::DOCKER_MANIFEST)? {
            manifest::Parsed::Image(_, m) => m,
            manifest::Parsed::Index(..) => bail!("a docker-archive cannot hold an index"),
        };
        let names = &self.repo_tags;
        let entry = ArchiveEntry {
            config: m.config.digest.blob_path(),
            repo_tags: (!names.is_empty()).then(|| names.iter().map(|r| r.familiar()).collect()),
            layers: m.layers.iter().map(|l| l.digest.blob_path()).collect(),
        };
        let manifest_json = serde_json::to_vec(&[entry])?;
        let repositories = m.layers.last().and_then(|top| repositories(names, top));
        // The layers move into the OCI view rather than being copied: an image can have
        // thousands.
        let mut oci_layers = std::mem::take(&mut m.layers);
        for l in &mut oci_layers {
            l.media_type = mt::OCI_LAYER.to_string();
        }
        let oci = rewrite_manifest(&m, Format::Oci, oci_layers)?;
        let desc = Descriptor::of_bytes(mt::OCI_MANIFEST, &oci);
        Ok(Metadata {
            config: m.config.digest.clone(),
            index: index_json(&desc, names)?,
            oci_manifest: oci,
            oci_desc: desc,
            manifest_json,
            repositories,
        })
    }

    fn write(self, meta: Metadata) -> Result<()> {
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
                let ids = ImageIds {
                    config: meta.config.clone(),
                    manifest: meta.oci_desc.digest.clone(),
                };
                let dir = layout.work_dir();
                self.output
                    .deliver(&ids, &mut |target| write_tree_as_tar(dir, target, &extra))
            }
        }
    }
}

/// `repositories`, as `docker save` writes it: each repository's tags, naming the top
/// layer. `None` when the image has no name.
fn repositories(names: &[DockerRef], top: &Descriptor) -> Option<Vec<u8>> {
    let mut repos = serde_json::Map::new();
    for r in names {
        let familiar = r.familiar();
        let repo = familiar.rsplit_once(':').map_or("", |(n, _)| n);
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let tags = repos.entry(repo).or_insert_with(|| serde_json::json!({}));
        tags[tag] = top.digest.hex().into();
    }
    (!repos.is_empty()).then(|| serde_json::Value::Object(repos).to_string().into_bytes())
}

/// `index.json`: the image once per name, as Docker 25 writes it (`io.containerd.image.name`
/// and the tag as `ref.name`), or once untagged.
fn index_json(desc: &Descriptor, names: &[DockerRef]) -> Result<Vec<u8>> {
    let mut index = empty_index();
    index.manifests = names
        .iter()
        .map(|r| {
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            let mut d = desc.clone();
            d.annotations = Some(BTreeMap::from([
                ("io.containerd.image.name".to_string(), r.to_string()),
                (REF_NAME.to_string(), tag),
            ]));
            d
        })
        .collect();
    if names.is_empty() {
        return single_entry_index(desc, None);
    }
    Ok(serde_json::to_vec(&index)?)
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

    /// After the reference's own name, each once.
    fn add_names(&mut self, names: &[DockerRef]) -> Result<()> {
        for n in names {
            if !self.repo_tags.iter().any(|t| t.familiar() == n.familiar()) {
                self.repo_tags.push(n.clone());
            }
        }
        Ok(())
    }

    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.store.begin_blob(expected)
    }

    fn commit(self: Box<Self>, manifest: &[u8], _desc: &Descriptor) -> Result<()> {
        let meta = self.metadata(manifest).with_context(|| self.name.clone())?;
        let name = self.name.clone();
        self.write(meta).with_context(|| format!("writing {name}"))
    }
}
