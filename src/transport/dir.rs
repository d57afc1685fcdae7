//! skopeo's directory format (`dir:PATH`), as containers/image's `directory` transport
//! writes it: `version` (`Directory Transport Version: 1.1`), `manifest.json` (the image
//! manifest, or the index with `--all`), each instance manifest of an index as
//! `HEX.manifest.json`, and every blob (config, layers) as `HEX`: the digest's hex, with no
//! algorithm. Signature files (`signature-N`, `HEX.signature-N`) are ignored. The reader is
//! here; the writer, [`DirDestination`], is in `dir_dest.rs`.
//!
//! Nothing in the directory vouches for `manifest.json` (it has no descriptor, as a
//! registry tag has none); everything below it is checked against the digests it names.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::fs::{read_small, DirTree, FileTree};
use super::{ImageSource, TopManifest};
use crate::digest::Digest;
use crate::manifest::{guess_media_type, Descriptor, MAX_DOCUMENT_SIZE};

pub use super::dir_dest::DirDestination;

/// The `version` file skopeo writes, and the only one oci-copy reads and writes.
pub const VERSION: &str = "Directory Transport Version: 1.1\n";
/// What skopeo wrote before 2018, when blobs were still named `HEX.tar`.
const VERSION_1_0: &str = "Directory Transport Version: 1.0\n";

/// `dir:/path`, as the user would write it.
pub fn describe(dir: &Path) -> String {
    format!("dir:{}", dir.display())
}

/// Where a blob lives: its hex digest.
pub fn blob_name(d: &Digest) -> String {
    d.hex().to_string()
}

/// Where an instance manifest of an index lives: `HEX.manifest.json`.
pub fn instance_manifest_name(d: &Digest) -> String {
    format!("{}.manifest.json", d.hex())
}

/// Checks the `version` file of a directory being read. skopeo's reader does not look at
/// it, so a directory without one is read too; one of another version is refused.
fn check_version(tree: &DirTree) -> Result<()> {
    let bytes = match tree.size("version")? {
        None => {
            tracing::debug!("no version file; reading manifest.json as skopeo does");
            return Ok(());
        }
        Some(_) => read_small(tree, "version", 4096)?,
    };
    match String::from_utf8_lossy(&bytes) {
        v if v == VERSION => Ok(()),
        v if v == VERSION_1_0 => bail!(
            "the version file says {:?}: a directory written by skopeo before 2018, with \
             blobs named HEX.tar, which oci-copy does not read; copy it again with a current skopeo",
            VERSION_1_0.trim_end()
        ),
        v => bail!(
            "the version file says {:?}, not {:?}: not a dir: image that oci-copy knows",
            v.trim_end(),
            VERSION.trim_end()
        ),
    }
}

/// Reads the image in a skopeo directory.
pub struct DirSource {
    tree: DirTree,
    name: String,
}

impl DirSource {
    /// Opens `dir:PATH` for reading.
    pub fn open(dir: &Path) -> Result<DirSource> {
        let name = describe(dir);
        if !dir.is_dir() {
            bail!("{name}: no such directory");
        }
        let tree = DirTree::new(dir);
        check_version(&tree).with_context(|| name.clone())?;
        if tree
            .size("manifest.json")
            .with_context(|| name.clone())?
            .is_none()
        {
            bail!("{name}: manifest.json is missing: not a dir: image");
        }
        Ok(DirSource { tree, name })
    }
}

impl ImageSource for DirSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn top_manifest(&self) -> Result<TopManifest> {
        let bytes = read_small(&self.tree, "manifest.json", MAX_DOCUMENT_SIZE)
            .with_context(|| self.name.clone())?;
        let media_type =
            guess_media_type(&bytes).with_context(|| format!("{}: manifest.json", self.name))?;
        Ok(TopManifest {
            bytes,
            media_type,
            descriptor: None,
        })
    }

    fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        if desc.size > MAX_DOCUMENT_SIZE {
            bail!(
                "manifest {} is {} bytes, over the 4 MiB limit",
                desc.digest,
                desc.size
            );
        }
        let path = instance_manifest_name(&desc.digest);
        read_small(&self.tree, &path, MAX_DOCUMENT_SIZE)
            .with_context(|| format!("reading manifest {}", desc.digest))
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        self.tree
            .open(&blob_name(&desc.digest))
            .with_context(|| format!("blob {}", desc.digest))
    }
}

#[cfg(test)]
mod tests {
    use crate::reference::ImageRef;

    #[test]
    fn the_whole_rest_is_the_path() {
        let r = ImageRef::parse("dir:/srv/images/app:1").unwrap();
        assert_eq!(
            r,
            ImageRef::Dir {
                dir: "/srv/images/app:1".into()
            }
        );
        assert_eq!(r.transport(), "dir");
        assert!(ImageRef::parse("dir:").is_err());
    }
}
