//! `docker-daemon:NAME[:TAG]` and `docker-daemon:sha256:ID`: images of the Docker Engine,
//! through its API on the Unix socket (`engine.rs`). Reading asks for the image as a
//! `docker save` archive and reads it as a docker-archive, so it is verified as one; writing
//! produces a docker-archive and streams it into `POST /images/load`, then asks the daemon
//! which image the name now holds.
//!
//! The archive the daemon sends cannot be read as it arrives: entries come in name order,
//! blobs first and `manifest.json` last, so nothing says what the image is until its last
//! bytes. It is spooled into an anonymous temporary file (no name on disk, freed by the
//! kernel when oci-copy exits, however it exits) and read in place from there.

mod engine;

use std::fs::File;
use std::io::Read;

use anyhow::{bail, Context, Result};

use super::archive_target::{ArchiveSink, ArchiveTarget, ImageIds};
use super::docker_archive::{DockerArchiveDestination, DockerArchiveSource};
use super::tarball::TarTree;
use super::{BlobWriter, DestCaps, ImageDestination, ImageSource, TopManifest};
use crate::digest::{Algorithm, Digest};
use crate::manifest::{self, Descriptor};
use crate::media_type as mt;
use crate::reference::daemon::DaemonRef;
use crate::reference::{ArchiveSelector, DockerRef};
use engine::Engine;

/// Reads one image of the Docker daemon.
pub struct DockerDaemonSource {
    inner: DockerArchiveSource,
}

impl DockerDaemonSource {
    pub fn open(r: &DaemonRef) -> Result<DockerDaemonSource> {
        let name = r.to_string();
        Self::open_inner(r, name.clone()).with_context(|| name)
    }

    fn open_inner(r: &DaemonRef, name: String) -> Result<DockerDaemonSource> {
        let engine = Engine::from_env()?;
        let tree = export(&engine, r)?;
        let selector = match r {
            DaemonRef::Named(n) => Some(ArchiveSelector::Name(n.clone())),
            DaemonRef::Id(_) => None,
        };
        let inner = DockerArchiveSource::from_tree(tree, selector.as_ref(), name)
            .context("reading the archive the Docker daemon sent")?;
        if let DaemonRef::Id(id) = r {
            // The ID asked for is the config's digest: the daemon's word for the image must
            // be its bytes.
            let config = config_digest(&inner.top_manifest()?.bytes)?;
            if &config != id {
                bail!("the Docker daemon sent the image {config}, not {id}");
            }
        }
        Ok(DockerDaemonSource { inner })
    }
}

/// The daemon's archive of `r`, spooled into an anonymous temporary file and indexed.
fn export(engine: &Engine, r: &DaemonRef) -> Result<TarTree> {
    let dir = std::env::temp_dir();
    let mut spool = tempfile::tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let size = engine.export(&r.api_name(), &mut spool, &dir)?;
    tracing::debug!(
        "{r}: {size} bytes of archive from {}, spooled in {}",
        engine.host(),
        dir.display()
    );
    TarTree::from_plain_file(spool)
}

/// The config digest a v2s2 manifest names.
fn config_digest(manifest: &[u8]) -> Result<Digest> {
    match manifest::parse(manifest, mt::DOCKER_MANIFEST)? {
        manifest::Parsed::Image(_, m) => Ok(m.config.digest),
        manifest::Parsed::Index(..) => bail!("the archive holds an index"),
    }
}

impl ImageSource for DockerDaemonSource {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn top_manifest(&self) -> Result<TopManifest> {
        self.inner.top_manifest()
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        self.inner.manifest(desc)
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        self.inner.blob(desc)
    }

    fn repo_tags(&self) -> Vec<String> {
        self.inner.repo_tags()
    }
}

/// Writes an image into the Docker daemon, as `docker load` of a docker-archive would.
pub struct DockerDaemonDestination {
    inner: DockerArchiveDestination,
}

impl DockerDaemonDestination {
    /// Opens the daemon for writing `r`, which must be a name: an image ID is what the
    /// daemon computes, not what it is told. Fails at once when the daemon does not answer.
    pub fn open(r: &DaemonRef) -> Result<DockerDaemonDestination> {
        let name = r.to_string();
        let DaemonRef::Named(tag) = r else {
            bail!(
                "{name}: an image is written to the Docker daemon under NAME:TAG, not an image ID"
            );
        };
        let engine = Engine::from_env().with_context(|| name.clone())?;
        engine.ping().with_context(|| name.clone())?;
        let sink = DaemonLoad {
            engine,
            tag: tag.clone(),
        };
        let inner = DockerArchiveDestination::into_sink(name.clone(), tag.clone(), Box::new(sink))
            .with_context(|| name)?;
        Ok(DockerDaemonDestination { inner })
    }
}

impl ImageDestination for DockerDaemonDestination {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn caps(&self) -> DestCaps {
        self.inner.caps()
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        self.inner.has_blob(desc)
    }

    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.inner.begin_blob(expected)
    }

    fn commit(self: Box<Self>, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        Box::new(self.inner).commit(manifest, desc)
    }
}

/// `POST /images/load` as the sink of a docker-archive, then a look at what the name holds.
struct DaemonLoad {
    engine: Engine,
    tag: DockerRef,
}

impl ArchiveSink for DaemonLoad {
    fn deliver(
        self: Box<Self>,
        image: &ImageIds,
        write: &mut dyn FnMut(ArchiveTarget) -> Result<()>,
    ) -> Result<()> {
        let label = std::path::PathBuf::from(format!("the load request to {}", self.engine.host()));
        let said = self
            .engine
            .load(&mut |pipe: File| write(ArchiveTarget::direct(pipe, &label)))?;
        for line in &said {
            tracing::debug!("the Docker daemon: {line}");
        }
        let name = self.tag.familiar();
        match self.engine.image_id(&name)? {
            None => bail!(
                "the Docker daemon accepted the archive but holds no image {name} \
                 (it answered {:?})",
                said.join("; ")
            ),
            Some(id) if id == image.config || id == image.manifest => Ok(()),
            // docker names an image by the sha256 of its config, whatever its digest says.
            Some(_) if image.config.algorithm() != Algorithm::Sha256 => Ok(()),
            Some(id) => bail!(
                "after the load the Docker daemon holds {name} as the image {id}, not {}",
                image.config
            ),
        }
    }
}
