//! Writing an OCI image layout (`oci:DIR[:TAG]`): blobs are staged under temporary names
//! and renamed once verified; `index.json` is updated under a lock by writing a new file
//! and renaming it; a layout that does not exist yet is built in a staging directory and
//! renamed into place on commit.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::layout::*;
use super::layout_referrers::Pending;
use super::local_ledger;
use super::referrers::ReferrerSink;
use super::{BlobWriter, DestCaps, ImageDestination, Reuse};
use crate::cleanup::{self, Tracked};
use crate::disk::Writing;
use crate::manifest::{Descriptor, Index};
use crate::sweep;

/// Writes one image into an OCI layout directory.
///
/// When the directory does not exist yet, everything is written into a hidden staging
/// directory beside it, which is renamed into place on commit: a failed copy then leaves
/// no directory behind. Opening sweeps what killed copies left in the layout and beside it
/// (see [`crate::sweep`]).
pub struct LayoutDestination {
    dir: PathBuf,
    /// Where blobs go: `dir` itself, or the staging directory.
    work: PathBuf,
    staging: Option<Tracked<tempfile::TempDir>>,
    tag: Option<String>,
    name: String,
    /// Whether committed blobs are synced to disk; see [`LayoutDestination::scratch`].
    durable: bool,
    /// Referrers and cosign tags to list in `index.json` on commit.
    pending: Pending,
    /// Its id in the run's ledger of layout blobs (see `local_ledger.rs`).
    owner: u64,
}

impl Drop for LayoutDestination {
    fn drop(&mut self) {
        local_ledger::release(self.owner);
    }
}

impl LayoutDestination {
    pub fn open(dir: &Path, tag: Option<String>) -> Result<LayoutDestination> {
        let name = describe("oci", dir, tag.as_deref());
        let staging = prepare_dir(dir).with_context(|| name.clone())?;
        if staging.is_none() {
            sweep::sweep(dir, sweep::IN_LAYOUT, sweep::STALE_AFTER);
        }
        sweep::sweep_beside(dir, sweep::BESIDE_LAYOUT);
        let work = staging
            .as_ref()
            .map(|t| t.path().to_path_buf())
            .unwrap_or_else(|| dir.to_path_buf());
        Ok(LayoutDestination {
            dir: dir.to_path_buf(),
            work,
            staging,
            tag,
            name,
            durable: true,
            pending: Pending::default(),
            owner: local_ledger::new_owner(),
        })
    }

    /// For a staging directory that an archive writer reads and then removes: its blobs are
    /// not synced to disk (the archive made from them is), so they need never be written
    /// out at all.
    pub fn scratch(mut self) -> Self {
        self.durable = false;
        self
    }

    /// The entries [`ReferrerSink`] calls noted, for `index.json`.
    pub(super) fn pending(&self) -> &Pending {
        &self.pending
    }

    /// The directory the blobs of this copy are written to.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// Records `desc` in `index.json` under the tag, without holding the lock; for
    /// destinations that own their directory (archive staging).
    pub fn write_index_unlocked(&self, desc: &Descriptor) -> Result<()> {
        write_layout_file(&self.work)?;
        update_index_file(&self.work, desc, self.tag.as_deref(), &self.pending)
    }

    /// Finishes writing into a staging directory that an archive writer owns: the manifest
    /// blob and index.json, with no rename.
    pub fn commit_in_place(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.put_bytes(manifest, desc)?;
        self.write_index_unlocked(desc)
    }
}

/// Checks the destination directory, before anything is written into it. Returns a
/// staging directory when `dir` is missing.
fn prepare_dir(dir: &Path) -> Result<Option<Tracked<tempfile::TempDir>>> {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => bail!("{} exists and is not a directory", dir.display()),
        Ok(_) => {
            super::layout_check::check_existing(dir)?;
            Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = parent_of(dir);
            fs::create_dir_all(&parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            let t = cleanup::temp_dir_in(
                tempfile::Builder::new().prefix(".oci-copy-layout-"),
                &parent,
            )
            .with_context(|| format!("creating a staging directory in {}", parent.display()))?;
            Ok(Some(t))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl ImageDestination for LayoutDestination {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn caps(&self) -> DestCaps {
        LAYOUT_CAPS
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        let p = self.work.join(desc.digest.blob_path());
        Ok(matches!(fs::metadata(p), Ok(m) if m.is_file() && m.len() == desc.size))
    }

    /// Present, or linked from where this run wrote it (another layout, or another copy
    /// into this one, waited for), or to be copied: see `local_ledger.rs`.
    fn reuse_blob(&self, desc: &Descriptor) -> Result<Reuse> {
        let target = self.work.join(desc.digest.blob_path());
        local_ledger::reuse(
            &target,
            desc,
            self.owner,
            self.durable,
            self.has_blob(desc)?,
        )
    }

    fn begin_blob(&self, _expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        let temp = cleanup::temp_file_in(
            tempfile::Builder::new().prefix(".oci-copy-blob-"),
            &self.work,
        )
        .with_context(|| format!("creating a temporary blob in {}", self.work.display()))?;
        Ok(Box::new(LayoutBlobWriter {
            root: &self.work,
            temp,
            durable: self.durable,
        }))
    }

    fn commit(self: Box<Self>, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        self.put_bytes(manifest, desc)?;
        let name = self.name.clone();
        match &self.staging {
            Some(_) => (*self).commit_staged(desc),
            None => {
                let _lock = lock_layout(&self.dir)?;
                write_layout_file(&self.dir)?;
                update_index_file(&self.dir, desc, self.tag.as_deref(), &self.pending)
            }
        }
        .with_context(|| format!("committing {name}"))
    }

    fn referrer_sink(&self) -> Option<&dyn ReferrerSink> {
        Some(self)
    }
}

impl LayoutDestination {
    /// Renames the staging directory into place; if another writer created the layout in
    /// the meantime, merges into it instead.
    fn commit_staged(mut self, desc: &Descriptor) -> Result<()> {
        self.write_index_unlocked(desc)?;
        let staging = self
            .staging
            .take()
            .expect("commit_staged is called with a staging dir");
        // Stays registered for removal on a signal until the rename below.
        let (staging, _registered) = staging.into_parts();
        let path = staging.keep();
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755 & !umask()))?;
        }
        sync_dir(&path)?;
        match fs::rename(&path, &self.dir) {
            Ok(()) => sync_dir(&parent_of(&self.dir)),
            Err(_) if self.dir.is_dir() => {
                tracing::debug!(
                    "{} was created by another writer; merging into it",
                    self.name
                );
                let tag = self.tag.as_deref();
                let merged = merge_into(&path, &self.dir, (desc, tag), &self.pending);
                let _ = fs::remove_dir_all(&path);
                merged
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&path);
                Err(e).with_context(|| format!("renaming the new layout to {}", self.dir.display()))
            }
        }
    }
}

/// Moves staged blobs into an existing layout and records `desc` in its index.
fn merge_into(
    staged: &Path,
    dir: &Path,
    (desc, tag): (&Descriptor, Option<&str>),
    pending: &Pending,
) -> Result<()> {
    let _lock = lock_layout(dir)?;
    write_layout_file(dir)?;
    for alg in fs::read_dir(staged.join("blobs"))? {
        let alg = alg?;
        let target = dir.join("blobs").join(alg.file_name());
        fs::create_dir_all(&target)?;
        for blob in fs::read_dir(alg.path())? {
            let blob = blob?;
            fs::rename(blob.path(), target.join(blob.file_name()))?;
        }
        // The moved blobs must be durable before index.json refers to them.
        sync_dir(&target)?;
    }
    update_index_file(dir, desc, tag, pending)
}

/// A blob staged in the layout directory under a temporary name.
struct LayoutBlobWriter<'a> {
    root: &'a Path,
    temp: Tracked<tempfile::NamedTempFile>,
    durable: bool,
}

impl Write for LayoutBlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let path = self.temp.path();
        self.temp.as_file().write(buf).writing(path)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for LayoutBlobWriter<'_> {
    fn commit(self: Box<Self>, desc: &Descriptor) -> Result<()> {
        let dest = self.root.join(desc.digest.blob_path());
        let dir = dest.parent().expect("a blob path has a directory");
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (temp, _registered) = self.temp.into_parts();
        if self.durable {
            temp.as_file().sync_data().writing(temp.path())?;
        }
        set_readable(temp.as_file())?;
        temp.persist(&dest)
            .with_context(|| format!("storing blob {}", desc.digest))?;
        local_ledger::wrote(&desc.digest.to_string(), &dest);
        Ok(())
    }
}

/// Takes the lock that guards `index.json` of the layout at `dir`, for the guard's life.
fn lock_layout(dir: &Path) -> Result<File> {
    let f = File::open(dir).with_context(|| format!("opening {} to lock it", dir.display()))?;
    f.lock()
        .with_context(|| format!("locking {}", dir.display()))?;
    Ok(f)
}

fn write_layout_file(dir: &Path) -> Result<()> {
    if dir.join(LAYOUT_FILE).exists() {
        return Ok(());
    }
    write_atomic(dir, LAYOUT_FILE, LAYOUT_CONTENT)
}

/// Rewrites `dir/index.json` so that it records the `pending` entries and then `desc`
/// (see [`record`]). Every other entry is kept as it was.
fn update_index_file(
    dir: &Path,
    desc: &Descriptor,
    tag: Option<&str>,
    pending: &Pending,
) -> Result<()> {
    let path = dir.join("index.json");
    let mut index = match fs::read(&path) {
        Ok(bytes) => parse_index_json(&bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => empty_index(),
        Err(e) => return Err(e).context("reading index.json"),
    };
    for (d, t) in pending.lock().expect("not poisoned").iter() {
        record(&mut index, d, t.as_deref());
    }
    record(&mut index, desc, tag);
    let bytes = serde_json::to_vec(&index)?;
    write_atomic(dir, "index.json", &bytes)
}

/// Records `desc` in `index`: with a tag, the tag moves to `desc` (an older entry that held
/// it is dropped); without one, `desc` is added untagged unless an untagged entry of that
/// digest is there already.
pub(super) fn record(index: &mut Index, desc: &Descriptor, tag: Option<&str>) {
    let mut entry = desc.clone();
    entry.platform = None;
    match tag {
        Some(tag) => {
            entry
                .annotations
                .get_or_insert_with(Default::default)
                .insert(REF_NAME.into(), tag.into());
            index
                .manifests
                .retain(|d| d.annotation(REF_NAME) != Some(tag));
            index.manifests.push(entry);
        }
        None => {
            entry.annotations.as_mut().map(|a| a.remove(REF_NAME));
            if !index
                .manifests
                .iter()
                .any(|d| d.digest == entry.digest && d.annotation(REF_NAME).is_none())
            {
                index.manifests.push(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::media_type as mt;

    fn desc(b: &[u8]) -> Descriptor {
        Descriptor::new(mt::OCI_MANIFEST, Digest::sha256_of(b), b.len() as u64)
    }

    fn tags(dir: &Path) -> Vec<(String, Option<String>)> {
        let idx = parse_index_json(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        idx.manifests
            .iter()
            .map(|d| {
                (
                    d.digest.to_string(),
                    d.annotation(REF_NAME).map(String::from),
                )
            })
            .collect()
    }

    #[test]
    fn tags_move_and_other_entries_stay() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (desc(b"a"), desc(b"b"));
        let none = Pending::default();
        update_index_file(dir.path(), &a, Some("v1"), &none).unwrap();
        update_index_file(dir.path(), &a, Some("v2"), &none).unwrap();
        update_index_file(dir.path(), &b, Some("v1"), &none).unwrap();
        update_index_file(dir.path(), &b, None, &none).unwrap();
        update_index_file(dir.path(), &b, None, &none).unwrap();
        let got = tags(dir.path());
        assert_eq!(
            got,
            vec![
                (a.digest.to_string(), Some("v2".into())),
                (b.digest.to_string(), Some("v1".into())),
                (b.digest.to_string(), None),
            ]
        );
    }
}
