//! Writing skopeo's directory format (`dir:PATH`; see `dir.rs`). As with skopeo, the
//! directory holds one image, and a copy into it replaces what it held; unlike skopeo,
//! which empties the directory first and writes into it, the new image is built in a
//! staging directory beside it (`.oci-copy-dir-XXXXXX`) and swapped into place whole on
//! commit (`renameat2(RENAME_EXCHANGE)`), so a reader sees the old image or the new one,
//! and a failed copy leaves the old one as it was and nothing beside it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::dir::{blob_name, describe, instance_manifest_name, VERSION};
use super::layout::{set_readable, sync_dir, umask, write_atomic};
use super::{BlobWriter, DestCaps, ImageDestination, LayerPolicy};
use crate::cleanup::{self, Tracked};
use crate::disk::Writing;
use crate::manifest::Descriptor;
use crate::media_type::Format;
use crate::sweep;

/// The staging directory's name: prefix and six random characters (see `sweep.rs`).
pub const STAGING_PREFIX: &str = ".oci-copy-dir-";

/// Writes one image (or one index with its instances) as a skopeo directory.
pub struct DirDestination {
    dir: PathBuf,
    name: String,
    staging: Tracked<tempfile::TempDir>,
}

impl DirDestination {
    /// Opens `dir:PATH` for writing: checks that PATH is missing, empty, or a skopeo
    /// directory (which the copy replaces), before anything is written.
    pub fn open(dir: &Path) -> Result<DirDestination> {
        let name = describe(dir);
        let dir = check_target(dir).with_context(|| name.clone())?;
        let parent = parent_of(&dir);
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        sweep::sweep_beside(&dir, sweep::BESIDE_LAYOUT);
        let staging =
            cleanup::temp_dir_in(tempfile::Builder::new().prefix(STAGING_PREFIX), &parent)
                .with_context(|| format!("creating a staging directory in {}", parent.display()))?;
        Ok(DirDestination { dir, name, staging })
    }
}

/// The directory to replace: PATH itself, or what a symbolic link at PATH points to (as
/// skopeo writes through the link). Refuses a file, and a non-empty directory whose
/// `version` is not skopeo's: it may hold data that is not an image.
fn check_target(dir: &Path) -> Result<PathBuf> {
    let meta = match fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dir.to_path_buf()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        Ok(m) => m,
    };
    if !meta.is_dir() {
        bail!("{} exists and is not a directory", dir.display());
    }
    let dir = fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let empty = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .next()
        .is_none();
    if empty {
        return Ok(dir);
    }
    match fs::read(dir.join("version")) {
        Ok(v) if v == VERSION.as_bytes() => Ok(dir),
        _ => bail!(
            "{} is not empty and not a dir: image (its version file does not say {:?}); \
             refusing to replace what it holds",
            dir.display(),
            VERSION.trim_end()
        ),
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl ImageDestination for DirDestination {
    fn describe(&self) -> String {
        self.name.clone()
    }

    /// Either family, kept as the source has it, layers as they are (skopeo's "preserve
    /// original"; `--dest-compress` and `--dest-decompress` change that in the plan).
    fn caps(&self) -> DestCaps {
        DestCaps {
            formats: &[Format::Oci, Format::V2s2],
            layers: LayerPolicy::AsIs,
            stores_index: true,
            sequential: false,
        }
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        let p = self.staging.path().join(blob_name(&desc.digest));
        Ok(matches!(fs::metadata(p), Ok(m) if m.is_file() && m.len() == desc.size))
    }

    /// A copy writes the directory anew, so it holds no instance the copy did not write.
    fn has_manifest(&self, _desc: &Descriptor) -> Result<bool> {
        bail!(
            "{} holds one image and each copy writes it anew, so no instance of an index \
             can be there before the copy writes it",
            self.name
        )
    }

    fn begin_blob(&self, _expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        let work = self.staging.path();
        let temp = cleanup::temp_file_in(tempfile::Builder::new().prefix(".oci-copy-blob-"), work)
            .with_context(|| format!("creating a temporary blob in {}", work.display()))?;
        Ok(Box::new(DirBlobWriter { root: work, temp }))
    }

    fn put_child_manifest(&self, manifest: &[u8], desc: &Descriptor) -> Result<()> {
        write_atomic(
            self.staging.path(),
            &instance_manifest_name(&desc.digest),
            manifest,
        )
    }

    fn commit(self: Box<Self>, manifest: &[u8], _desc: &Descriptor) -> Result<()> {
        let name = self.name.clone();
        self.finish(manifest)
            .with_context(|| format!("committing {name}"))
    }
}

impl DirDestination {
    /// Writes `manifest.json` and `version` into the staging directory and swaps it into
    /// place; what the directory held before is removed.
    fn finish(self, manifest: &[u8]) -> Result<()> {
        let work = self.staging.path();
        write_atomic(work, "manifest.json", manifest)?;
        write_atomic(work, "version", VERSION.as_bytes())?;
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(work, fs::Permissions::from_mode(0o755 & !umask()))?;
        }
        sync_dir(work)?;
        // Stays registered for removal on a signal until it has been renamed.
        let (staging, _registered) = self.staging.into_parts();
        let staged = staging.keep();
        let swapped = swap_into_place(&staged, &self.dir);
        if staged.exists() {
            // The new image if the swap failed, else the old one it replaced.
            let _ = fs::remove_dir_all(&staged);
        }
        swapped?;
        sync_dir(&parent_of(&self.dir))
    }
}

/// Puts the directory `staged` at `dir`: a rename when `dir` is missing or empty, else an
/// atomic exchange, after which `staged` names the old directory. A filesystem without
/// exchange gets two renames, with the old directory moved aside first.
fn swap_into_place(staged: &Path, dir: &Path) -> Result<()> {
    let err = match fs::rename(staged, dir) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if !matches!(err.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) {
        return Err(err).with_context(|| format!("renaming the new image to {}", dir.display()));
    }
    match exchange(staged, dir) {
        Ok(()) => return Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {}
        Err(e) => return Err(e).with_context(|| format!("replacing {}", dir.display())),
    }
    let aside = cleanup::temp_dir_in(
        tempfile::Builder::new().prefix(STAGING_PREFIX),
        &parent_of(dir),
    )?;
    fs::rename(dir, aside.path()).with_context(|| format!("moving {} aside", dir.display()))?;
    if let Err(e) = fs::rename(staged, dir) {
        let _ = fs::rename(aside.path(), dir);
        return Err(e).with_context(|| format!("renaming the new image to {}", dir.display()));
    }
    Ok(())
}

/// `renameat2(a, b, RENAME_EXCHANGE)`: `a` and `b` trade places in one step.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A blob staged under a temporary name in the staging directory.
struct DirBlobWriter<'a> {
    root: &'a Path,
    temp: Tracked<tempfile::NamedTempFile>,
}

impl Write for DirBlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let path = self.temp.path();
        self.temp.as_file().write(buf).writing(path)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for DirBlobWriter<'_> {
    fn commit(self: Box<Self>, desc: &Descriptor) -> Result<()> {
        let (temp, _registered) = self.temp.into_parts();
        temp.as_file().sync_data().writing(temp.path())?;
        set_readable(temp.as_file())?;
        temp.persist(self.root.join(blob_name(&desc.digest)))
            .with_context(|| format!("storing blob {}", desc.digest))?;
        Ok(())
    }
}
