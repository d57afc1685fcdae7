//! `oci-archive:FILE[:TAG]`: an OCI layout inside a tar. Reading indexes the tar and reads
//! blobs in place through [`LayoutSource`]. Writing stages a layout in a temporary directory
//! beside the file, then writes the whole tar under a temporary name and renames it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::archive_target::{append_dir, append_file, ArchiveTarget};
use super::layout::{self, LayoutDestination, LayoutSource};
use super::layout_dest::record;
use super::layout_referrers::{self, Pending};
use super::referrers::{How, ReferrerSink};
use super::tar_stream::{StreamBlobWriter, TarStream};
use super::tarball::TarTree;
use super::{BlobWriter, DestCaps, ImageDestination};
use crate::cleanup::{self, Tracked};
use crate::digest::Digest;
use crate::disk::{self, PathWriter, Writing};
use crate::manifest::Descriptor;
use crate::sweep;

/// Opens `oci-archive:FILE[:TAG]` for reading.
pub fn open_source(file: &Path, tag: Option<&str>) -> Result<LayoutSource<TarTree>> {
    let name = layout::describe("oci-archive", file, tag);
    let tree = TarTree::open(file).with_context(|| name.clone())?;
    LayoutSource::new(tree, name.clone(), tag).with_context(|| name)
}

/// A directory to stage an archive's content in: beside the archive when possible, so that
/// no other filesystem fills up, else in the system's temporary directory. A device
/// (`/dev/stdout`) has nothing beside it but other devices: as root, `/dev` is writable,
/// but it is a small tmpfs in RAM, and no sweep looks there.
pub fn staging_dir(file: &Path) -> Result<Tracked<tempfile::TempDir>> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let beside = if is_device(file) {
        None
    } else {
        cleanup::temp_dir_in(tempfile::Builder::new().prefix(".oci-copy-stage-"), &parent).ok()
    };
    match beside {
        Some(stage) => Ok(stage),
        None => staging_in_system_temp(),
    }
}

/// A staging directory `oci-copy-stage-*` in the system's temporary directory, after
/// sweeping what killed copies left there.
pub fn staging_in_system_temp() -> Result<Tracked<tempfile::TempDir>> {
    sweep::sweep_system_temp();
    cleanup::temp_dir(tempfile::Builder::new().prefix("oci-copy-stage-"))
        .context("creating a staging directory")
}

/// Whether `file` names a device or a process's descriptor (`/dev/stdout`, `/proc/self/fd/1`),
/// which is written through, never staged beside or renamed over.
fn is_device(file: &Path) -> bool {
    file.starts_with("/dev") || file.starts_with("/proc")
}

/// Writes an OCI archive. From a local source into a regular file, blobs are streamed into
/// the archive one at a time in the image's order (see [`TarStream`]); from a registry,
/// whose layers download at once, and into a pipe, they are staged in a directory and the
/// archive is written from it at the end.
pub struct OciArchiveDestination {
    file: PathBuf,
    name: String,
    tag: Option<String>,
    store: ArchiveStore,
    /// Referrers and cosign tags for `index.json`, when the archive is streamed.
    pending: Pending,
}

/// Where an archive destination keeps its blobs until the archive is complete: streamed
/// into the archive file itself, or staged in a layout directory beside it.
pub enum ArchiveStore {
    Streamed(TarStream),
    Staged {
        layout: LayoutDestination,
        _stage: Tracked<tempfile::TempDir>,
    },
}

impl ArchiveStore {
    /// Streams into `file` when `stream` allows it (a local source) and `file` is a regular
    /// file; else stages, recording `tag` in the staged layout's index. First sweeps what
    /// killed copies left beside `file` (see [`crate::sweep`]).
    pub fn open(file: &Path, tag: Option<String>, stream: bool) -> Result<ArchiveStore> {
        if !is_device(file) {
            sweep::sweep_beside(file, sweep::BESIDE_ARCHIVE);
        }
        if stream {
            if let Some(s) = TarStream::create(file)? {
                return Ok(ArchiveStore::Streamed(s));
            }
        }
        let stage = staging_dir(file)?;
        Ok(ArchiveStore::Staged {
            layout: LayoutDestination::open(stage.path(), tag)?.scratch(),
            _stage: stage,
        })
    }

    /// Whether blobs must come one at a time, in order.
    pub fn sequential(&self) -> bool {
        matches!(self, ArchiveStore::Streamed(_))
    }

    pub fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        match self {
            ArchiveStore::Streamed(tar) => Ok(tar.contains(&desc.digest.blob_path())),
            ArchiveStore::Staged { layout, .. } => layout.has_blob(desc),
        }
    }

    /// Starts a blob; `expected` is as [`ImageDestination::begin_blob`] takes it.
    pub fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        match self {
            ArchiveStore::Streamed(tar) => Ok(Box::new(StreamBlobWriter::begin(tar, expected)?)),
            ArchiveStore::Staged { layout, .. } => layout.begin_blob(expected),
        }
    }
}

impl OciArchiveDestination {
    /// Opens `file` for writing; `stream` allows streaming (the source is local).
    pub fn open(file: &Path, tag: Option<String>, stream: bool) -> Result<OciArchiveDestination> {
        let name = layout::describe("oci-archive", file, tag.as_deref());
        let store = ArchiveStore::open(file, tag.clone(), stream).with_context(|| name.clone())?;
        Ok(OciArchiveDestination {
            file: file.to_path_buf(),
            name,
            tag,
            store,
            pending: Pending::default(),
        })
    }
}

impl ImageDestination for OciArchiveDestination {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn caps(&self) -> DestCaps {
        DestCaps {
            sequential: self.store.sequential(),
            ..layout::LAYOUT_CAPS
        }
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        self.store.has_blob(desc)
    }

    fn begin_blob(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.store.begin_blob(expected)
    }

    fn commit(self: Box<Self>, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        let written = match &self.store {
            ArchiveStore::Streamed(tar) => (|| {
                self.put_bytes(manifest, desc)?;
                let mut index = layout::empty_index();
                for (d, t) in self.pending.lock().expect("not poisoned").iter() {
                    record(&mut index, d, t.as_deref());
                }
                record(&mut index, desc, self.tag.as_deref());
                tar.put("index.json", &serde_json::to_vec(&index)?)?;
                tar.put(layout::LAYOUT_FILE, layout::LAYOUT_CONTENT)?;
                tar.finish()
            })(),
            ArchiveStore::Staged { layout, .. } => (|| {
                layout.commit_in_place(manifest, desc)?;
                let target = ArchiveTarget::create(&self.file)?;
                write_tree_as_tar(layout.work_dir(), target, &[])
            })(),
        };
        written.with_context(|| format!("writing {}", self.name))
    }

    fn referrer_sink(&self) -> Option<&dyn ReferrerSink> {
        Some(self)
    }
}

/// Referrers go where the image goes: the staged layout, or the streamed archive's index.
impl ReferrerSink for OciArchiveDestination {
    fn put_referrers(&self, subject: &Digest, referrers: &[(Vec<u8>, Descriptor)]) -> Result<How> {
        match &self.store {
            ArchiveStore::Staged { layout, .. } => layout.put_referrers(subject, referrers),
            ArchiveStore::Streamed(_) => {
                layout_referrers::put_referrers(self, &self.pending, referrers)
            }
        }
    }

    fn put_tagged(&self, tag: &str, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        match &self.store {
            ArchiveStore::Staged { layout, .. } => layout.put_tagged(tag, manifest, desc),
            ArchiveStore::Streamed(_) => {
                layout_referrers::put_tagged(self, &self.pending, tag, manifest, desc)
            }
        }
    }
}

/// Writes the files under `dir` into a tar, in a stable order: `blobs/` with its algorithm
/// directories and blobs by name, then `index.json` and `oci-layout` where `dir` has them,
/// then `extra` (name, bytes) entries. Metadata last, as `docker save` writes it.
pub fn write_tree_as_tar(
    dir: &Path,
    mut target: ArchiveTarget,
    extra: &[(&str, &[u8])],
) -> Result<()> {
    {
        // Unbuffered: the few headers are small writes, and the blobs are copied in the
        // kernel (see `append_blob`).
        let path = target.path().to_path_buf();
        let mut tar = tar::Builder::new(PathWriter::new(target.file(), &path));
        append_dir(&mut tar, "blobs/")?;
        for alg in sorted_entries(&dir.join("blobs"))? {
            let alg_name = alg
                .file_name()
                .expect("a directory entry has a name")
                .to_string_lossy()
                .into_owned();
            append_dir(&mut tar, &format!("blobs/{alg_name}/"))?;
            for blob in sorted_entries(&alg)? {
                let blob_name = blob
                    .file_name()
                    .expect("a directory entry has a name")
                    .to_string_lossy()
                    .into_owned();
                append_blob(&mut tar, &format!("blobs/{alg_name}/{blob_name}"), &blob)?;
            }
        }
        for name in ["index.json", "oci-layout"] {
            let path = dir.join(name);
            if path.exists() {
                let bytes = fs::read(path)?;
                append_file(&mut tar, name, bytes.len() as u64, bytes.as_slice())?;
            }
        }
        for (name, bytes) in extra {
            append_file(&mut tar, name, bytes.len() as u64, *bytes)?;
        }
        let mut out = tar.into_inner()?;
        std::io::Write::flush(&mut out)?;
    }
    target.finish()
}

/// Appends the file at `path` as `name`. The header goes through the tar builder; the bytes
/// are copied file to file by `std::io::copy`, which lets the kernel copy them
/// (`copy_file_range`, a reflink where the filesystem can) instead of passing every byte
/// through this process, and falls back to read and write (a pipe, another filesystem).
fn append_blob(tar: &mut tar::Builder<ArchiveWriter<'_>>, name: &str, path: &Path) -> Result<()> {
    let file = fs::File::open(path)?;
    let size = file.metadata()?.len();
    append_file(tar, name, size, std::io::empty())?;
    let writer = tar.get_mut();
    let archive = writer.path().to_path_buf();
    let out: &mut fs::File = writer.get_mut();
    // None for a pipe (`/dev/stdout`), which has no position and nothing to write back.
    let start = std::io::Seek::stream_position(out).ok();
    // The kernel's copy fails for a full archive and for an unreadable blob alike: only
    // the first is the archive's.
    let copied = std::io::copy(&mut file.take(size), out)
        .map_err(|e| match disk::is_out_of_space(&e) {
            true => disk::writing(e, &archive),
            false => e,
        })
        .with_context(|| format!("writing {name} into the archive"))?;
    if copied != size {
        anyhow::bail!("{} changed size while it was archived", path.display());
    }
    let pad = (512 - size % 512) % 512;
    std::io::Write::write_all(out, &[0u8; 512][..pad as usize]).writing(&archive)?;
    // As a streamed archive does: the final sync then has little left to wait for.
    if let Some(start) = start {
        super::tar_stream::start_writeback(out, start, start + size + pad);
    }
    Ok(())
}

/// The archive file being written, whose errors name it.
type ArchiveWriter<'a> = PathWriter<&'a mut fs::File>;

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    v.sort();
    Ok(v)
}
