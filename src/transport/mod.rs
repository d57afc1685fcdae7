//! The transport model: an [`ImageSource`] yields manifests and blobs, an
//! [`ImageDestination`] stages blobs and commits an image. Transports never verify what
//! they serve: the copy pipeline (`copy/verify.rs`) checks every byte against its digest.
//! Transports do refuse unsafe names (path traversal) and enforce document size limits.

pub mod archive_target;
mod claims;
pub mod dir;
mod dir_dest;
pub mod docker_archive;
pub mod docker_archive_dest;
pub mod docker_daemon;
pub mod fs;
pub mod layout;
mod layout_check;
pub mod layout_dest;
mod layout_referrers;
mod local_ledger;
pub mod oci_archive;
mod packing;
pub mod referrers;
pub mod registry;
pub mod tar_header;
mod tar_index;
pub mod tar_stream;
pub mod tarball;

use std::io::{Read, Write};

use anyhow::{Context, Result};

pub use crate::convert::{DestCaps, LayerPolicy};
use crate::manifest::Descriptor;
use crate::reference::ImageRef;

/// A source of one selected image (a tag of a layout, an entry of an archive, ...).
///
/// Contract: nothing returned here has been verified. The caller checks every manifest
/// against the descriptor that references it and every blob against its descriptor.
pub trait ImageSource: Send + Sync {
    /// The reference as the user would write it, for messages: `oci:/srv/layout:v1`.
    fn describe(&self) -> String;

    /// The top-level manifest: its raw bytes, its media type and, when the transport holds
    /// one (an `index.json` entry), the descriptor that references it. Transports that
    /// synthesise a manifest (docker-archive) return `None` for the descriptor.
    fn top_manifest(&self) -> Result<TopManifest>;

    /// A manifest referenced by `desc` (an instance of an index), as raw bytes.
    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>>;

    /// Opens a blob for streaming. The caller verifies size and digest while reading.
    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>>;

    /// Names the source knows this image by (`RepoTags` of a docker-archive).
    fn repo_tags(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether blobs are best read several at once (a registry, over a network) rather than
    /// one after another in the image's order (a local file). An archive destination streams
    /// blobs from a sequential source straight into the archive, and stages those of a
    /// parallel one.
    fn reads_in_parallel(&self) -> bool {
        false
    }

    /// The registry repository the blobs come from, so that a destination on the same
    /// registry can mount them instead of receiving their bytes.
    fn mount_origin(&self) -> Option<&crate::reference::DockerRef> {
        None
    }

    /// Asks again, several times and each time on a new connection, for every object this
    /// source served or was asked for, and names each object the answers disagree on (one
    /// line each): only a registry can answer differently from one read to the next.
    fn reread(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Where the referrers of this image are found, when the transport can hold them.
    fn referrer_source(&self) -> Option<&dyn referrers::ReferrerSource> {
        None
    }
}

/// The top-level manifest of a source.
pub struct TopManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub descriptor: Option<Descriptor>,
}

/// A destination for one image.
///
/// Contract: blobs are staged with [`ImageDestination::begin_blob`] and become visible under
/// their digest only when [`BlobWriter::commit`] is called, which the pipeline does after
/// verifying them. Nothing is tagged, indexed or archived until [`ImageDestination::commit`].
/// Dropping a destination without committing leaves what was there before, apart from
/// verified blobs that nothing references yet.
pub trait ImageDestination: Send + Sync {
    fn describe(&self) -> String;
    fn caps(&self) -> DestCaps;

    /// Whether the destination already holds this blob, so that copying it can be skipped.
    fn has_blob(&self, desc: &Descriptor) -> Result<bool>;

    /// Whether the blob need not be copied: already present, or made present without moving
    /// its bytes (a registry's cross-repository mount). The default asks [`Self::has_blob`].
    fn reuse_blob(&self, desc: &Descriptor) -> Result<Reuse> {
        Ok(if self.has_blob(desc)? {
            Reuse::Present
        } else {
            Reuse::Absent
        })
    }

    /// Whether the destination holds the manifest `desc` already (an instance of an index
    /// that `--multi-arch index-only` copies without its instances). Local destinations
    /// store manifests as blobs; a registry is asked by digest.
    fn has_manifest(&self, desc: &Descriptor) -> Result<bool> {
        self.has_blob(desc)
    }

    /// Gives the image more names (`--additional-tag`), where the destination stores names
    /// of its own (a docker-archive's `RepoTags`); others refuse.
    fn add_names(&mut self, _names: &[crate::reference::DockerRef]) -> Result<()> {
        anyhow::bail!(
            "--additional-tag names an image in a docker-archive, and {} is not one",
            self.describe()
        )
    }

    /// Starts staging a blob under a temporary name. `expected` is the descriptor of the
    /// blob when the caller knows it before the bytes (a verbatim copy), so that a registry
    /// can push it in one request; it is `None` for a transformed layer. Either way, the
    /// bytes are unverified until [`BlobWriter::commit`].
    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>>;

    /// How an upload that fails for a transient reason, or whose session the destination
    /// lost, is retried: the pipeline restarts the whole blob, re-opening the source.
    /// Local destinations do not retry.
    fn upload_retries(&self) -> crate::retry::RetryPolicy {
        crate::retry::RetryPolicy::never()
    }

    /// Stores a small blob (config, manifest) whose bytes the caller already verified.
    /// Returns how: [`Reuse::Absent`] when the bytes were written, else how the destination
    /// came to hold it without them.
    fn put_bytes(&self, bytes: &[u8], desc: &Descriptor) -> Result<Reuse> {
        store_bytes(self, bytes, desc)
    }

    /// Offers the top-level manifest in one candidate format, before [`Self::commit`].
    /// A destination that can refuse a manifest type (a registry's PUT) writes it here and
    /// fails with [`ManifestRejected`] when the type is refused, so that the pipeline can
    /// convert to the next candidate and try again. Local destinations accept every format
    /// their [`DestCaps`] list, and write in `commit`: the default does nothing.
    fn put_manifest(&self, _manifest: &[u8], _desc: &Descriptor) -> Result<()> {
        Ok(())
    }

    /// Stores a manifest that an index references (one instance of a multi-platform
    /// image), by digest, before the index itself is offered with [`Self::put_manifest`].
    /// Fails with [`ManifestRejected`] when the destination refuses the type. Local
    /// destinations store it as a blob.
    fn put_child_manifest(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.put_bytes(manifest, desc).map(|_| ())
    }

    /// Makes the image visible: writes the top-level manifest and tags it, writes
    /// `index.json` or the archive file. The manifest bytes match `desc`.
    fn commit(self: Box<Self>, manifest: &[u8], desc: &Descriptor) -> Result<()>;

    /// Where referrers are written, when the transport can hold them (a docker-archive
    /// cannot).
    fn referrer_sink(&self) -> Option<&dyn referrers::ReferrerSink> {
        None
    }
}

/// [`ImageDestination::put_bytes`] done once: reuse the blob, or write it.
pub fn store_bytes<D: ImageDestination + ?Sized>(
    dst: &D,
    bytes: &[u8],
    desc: &Descriptor,
) -> Result<Reuse> {
    let reuse = dst.reuse_blob(desc)?;
    if reuse == Reuse::Absent {
        let mut w = dst.begin_blob(Some(desc))?;
        w.write_all(bytes)?;
        w.commit(desc)?;
    }
    Ok(reuse)
}

/// What [`ImageDestination::reuse_blob`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// The blob must be copied.
    Absent,
    /// The destination has it already.
    Present,
    /// The destination mounted it from another repository of the same registry, or (a
    /// layout) linked it from another layout this run wrote it into.
    Mounted,
}

/// The destination refused a manifest because of its type (a registry answering
/// `MANIFEST_INVALID`, or 400/415 to the manifest PUT). Another format may be accepted.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct ManifestRejected {
    pub reason: String,
}

/// The destination refused a manifest because it does not know a blob the manifest
/// references (a registry's `MANIFEST_BLOB_UNKNOWN`), though the copy had just uploaded
/// or found it: the context of the destination's own error.
#[derive(Debug, thiserror::Error)]
#[error("the destination does not know a blob the manifest references")]
pub struct BlobsUnknown;

/// A blob being staged. Dropping it without [`BlobWriter::commit`] deletes the staged bytes.
pub trait BlobWriter: Write + Send {
    /// Moves the verified bytes to their final name; `desc` gives their digest and size.
    fn commit(self: Box<Self>, desc: &Descriptor) -> Result<()>;
}

/// One image of [`open_every_image`]: its source, or its name and why it cannot be opened.
pub type OneImage = std::result::Result<Box<dyn ImageSource>, (String, anyhow::Error)>;

/// Every image a layout, an oci-archive or a docker-archive holds, in order, each through
/// the same [`ImageSource`] a copy reads (for `verify --all`). `None` for a registry
/// or the Docker daemon, which name one image.
pub fn open_every_image(r: &ImageRef) -> Result<Option<Vec<OneImage>>> {
    let boxed = |s: Box<dyn ImageSource>| Ok(s);
    Ok(Some(match r {
        ImageRef::Layout { dir, .. } => {
            if !dir.is_dir() {
                anyhow::bail!("oci:{}: no such directory", dir.display());
            }
            let tree = fs::DirTree::new(dir);
            let sources = layout::every_entry(tree, "oci", dir)?;
            sources.into_iter().map(|s| boxed(Box::new(s))).collect()
        }
        ImageRef::OciArchive { file, .. } => {
            let name = layout::describe("oci-archive", file, None);
            let tree = std::sync::Arc::new(tarball::TarTree::open(file).context(name)?);
            let sources = layout::every_entry(tree, "oci-archive", file)?;
            sources.into_iter().map(|s| boxed(Box::new(s))).collect()
        }
        ImageRef::DockerArchive { file, .. } => (0..docker_archive::image_count(file)?)
            .map(|i| {
                let sel = crate::reference::ArchiveSelector::Index(i);
                match docker_archive::DockerArchiveSource::open(file, Some(&sel)) {
                    Ok(s) => boxed(Box::new(s)),
                    Err(e) => Err((format!("docker-archive:{}:@{i}", file.display()), e)),
                }
            })
            .collect(),
        ImageRef::Dir { dir } => vec![boxed(Box::new(dir::DirSource::open(dir)?))],
        ImageRef::Registry(_) | ImageRef::DockerDaemon(_) => return Ok(None),
    }))
}

/// The tagged entries of a layout or an oci-archive: each `ref.name` with the digest and
/// media type of the manifest it names, in `index.json`'s order. An absent layout has none.
pub fn tagged_entries(r: &ImageRef) -> Result<Vec<(String, crate::manifest::Descriptor)>> {
    let index = match r {
        ImageRef::Layout { dir, .. } => {
            if !dir.join("index.json").exists() {
                return Ok(Vec::new());
            }
            layout::read_index(&fs::DirTree::new(dir))
                .with_context(|| layout::describe("oci", dir, None))?
        }
        ImageRef::OciArchive { file, .. } => {
            let name = layout::describe("oci-archive", file, None);
            let tree = tarball::TarTree::open(file).with_context(|| name.clone())?;
            layout::read_index(&tree).context(name)?
        }
        _ => anyhow::bail!("{} holds no tagged entries", r.transport()),
    };
    Ok(index
        .manifests
        .into_iter()
        .filter_map(|d| Some((d.annotation(layout::REF_NAME)?.to_string(), d)))
        .collect())
}

/// Opens the image `r` names for reading; `reg` applies when `r` is a registry.
pub fn open_source_with(
    r: &ImageRef,
    reg: &registry::RegistryOptions,
) -> Result<Box<dyn ImageSource>> {
    Ok(match r {
        ImageRef::Layout { dir, tag } => Box::new(layout::open_layout_source(dir, tag.as_deref())?),
        ImageRef::OciArchive { file, tag } => {
            Box::new(oci_archive::open_source(file, tag.as_deref())?)
        }
        ImageRef::DockerArchive { file, selector } => Box::new(
            docker_archive::DockerArchiveSource::open(file, selector.as_ref())?,
        ),
        ImageRef::Registry(d) => Box::new(registry::RegistrySource::open(d, reg)?),
        ImageRef::Dir { dir } => Box::new(dir::DirSource::open(dir)?),
        ImageRef::DockerDaemon(d) => Box::new(docker_daemon::DockerDaemonSource::open(d)?),
    })
}

/// Opens `r` for writing; `reg` applies when `r` is a registry. `source`, the image being
/// copied, says how its blobs arrive ([`ImageSource::reads_in_parallel`]) and where a
/// registry could mount them from ([`ImageSource::mount_origin`]).
pub fn open_destination_with(
    r: &ImageRef,
    reg: &registry::RegistryOptions,
    source: Option<&dyn ImageSource>,
) -> Result<Box<dyn ImageDestination>> {
    let stream = !source.is_some_and(|s| s.reads_in_parallel());
    Ok(match r {
        ImageRef::Layout { dir, tag } => {
            Box::new(layout::LayoutDestination::open(dir, tag.clone())?)
        }
        ImageRef::OciArchive { file, tag } => Box::new(oci_archive::OciArchiveDestination::open(
            file,
            tag.clone(),
            stream,
        )?),
        ImageRef::DockerArchive { file, selector } => Box::new(
            docker_archive::DockerArchiveDestination::open(file, selector.as_ref(), stream)?,
        ),
        ImageRef::Registry(d) => {
            let from = source.and_then(|s| s.mount_origin());
            Box::new(registry::RegistryDestination::open(d, reg, from)?)
        }
        ImageRef::Dir { dir } => Box::new(dir::DirDestination::open(dir)?),
        ImageRef::DockerDaemon(d) => Box::new(docker_daemon::DockerDaemonDestination::open(d)?),
    })
}
