//! The OCI image layout (`oci:DIR[:TAG]`): `oci-layout`, `index.json` and
//! `blobs/<alg>/<hex>`. The reader works over any [`FileTree`], so oci-archive and the
//! Docker 25+ docker-archive reuse it. The writer ([`LayoutDestination`], in
//! `layout_dest.rs`) shares the index and file helpers here.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use super::fs::{read_small, DirTree, FileTree};
use super::referrers::{Listing, ReferrerSource};
use super::{DestCaps, ImageSource, LayerPolicy, TopManifest};
use crate::cleanup;
use crate::disk::Writing;
use crate::manifest::{Descriptor, Index, MAX_DOCUMENT_SIZE};
use crate::media_type::{self as mt, Format};

/// The annotation that carries a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// What an OCI layout (and an OCI archive) stores.
pub const LAYOUT_CAPS: DestCaps = DestCaps {
    formats: &[Format::Oci],
    layers: LayerPolicy::Compressed,
    stores_index: true,
    sequential: false,
};
pub const LAYOUT_FILE: &str = "oci-layout";
pub const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Reads and parses `index.json` of a layout, after checking its `oci-layout` file.
pub fn read_index(tree: &dyn FileTree) -> Result<Index> {
    let layout = read_small(tree, LAYOUT_FILE, 64 * 1024)
        .context("not an OCI image layout (reading oci-layout)")?;
    let v: serde_json::Value =
        serde_json::from_slice(&layout).context("invalid oci-layout file: not JSON")?;
    match v.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(ver) if ver.starts_with("1.") => {}
        other => bail!("unsupported oci-layout imageLayoutVersion {other:?}"),
    }
    let bytes = read_small(tree, "index.json", MAX_DOCUMENT_SIZE)?;
    parse_index_json(&bytes)
}

pub(super) fn parse_index_json(bytes: &[u8]) -> Result<Index> {
    let index: Index = serde_json::from_slice(bytes).context("invalid index.json")?;
    if index.schema_version != 2 {
        bail!(
            "invalid index.json: schemaVersion {} (expected 2)",
            index.schema_version
        );
    }
    Ok(index)
}

/// The tags of an index, for messages: `latest, v1, (1 untagged)`.
pub fn list_tags(index: &Index) -> String {
    let mut tags: Vec<String> = Vec::new();
    let mut untagged = 0;
    for d in &index.manifests {
        match d.annotation(REF_NAME) {
            Some(t) => tags.push(t.to_string()),
            None => untagged += 1,
        }
    }
    if untagged > 0 {
        tags.push(format!("({untagged} untagged)"));
    }
    if tags.is_empty() {
        "none".to_string()
    } else {
        tags.join(", ")
    }
}

/// Picks the entry of `index.json` that `tag` names, or the only entry when there is no tag.
pub fn select_entry(index: &Index, tag: Option<&str>) -> Result<Descriptor> {
    match tag {
        Some(tag) => {
            let mut found = index
                .manifests
                .iter()
                .filter(|d| d.annotation(REF_NAME) == Some(tag));
            let first = found.next().ok_or_else(|| {
                anyhow!(
                    "tag {tag:?} not found; the layout has: {}",
                    list_tags(index)
                )
            })?;
            if found.next().is_some() {
                bail!("tag {tag:?} names more than one image in index.json");
            }
            Ok(first.clone())
        }
        None => match index.manifests.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!("the layout holds no images"),
            _ => bail!(
                "the layout holds {} images; name one with :TAG (tags: {})",
                index.manifests.len(),
                list_tags(index)
            ),
        },
    }
}

/// Reads one image of a layout held in any file tree.
pub struct LayoutSource<T: FileTree> {
    tree: T,
    name: String,
    entry: Descriptor,
}

impl<T: FileTree> LayoutSource<T> {
    /// Opens `tree` as a layout and selects the image `tag` names. `name` is how messages
    /// refer to it.
    pub fn new(tree: T, name: String, tag: Option<&str>) -> Result<LayoutSource<T>> {
        let index = read_index(&tree)?;
        let entry = select_entry(&index, tag)?;
        Ok(LayoutSource { tree, name, entry })
    }

    /// Reads the image that `entry`, one entry of the layout's `index.json`, names; for
    /// callers that walk every entry (`verify`).
    pub fn for_entry(tree: T, name: String, entry: Descriptor) -> LayoutSource<T> {
        LayoutSource { tree, name, entry }
    }
}

/// Opens `oci:DIR[:TAG]` for reading.
pub fn open_layout_source(dir: &Path, tag: Option<&str>) -> Result<LayoutSource<DirTree>> {
    let name = describe("oci", dir, tag);
    if !dir.is_dir() {
        bail!("{name}: no such directory");
    }
    LayoutSource::new(DirTree::new(dir), name.clone(), tag).with_context(|| name)
}

/// `oci:/path:tag`, as the user would write it.
pub fn describe(transport: &str, path: &Path, tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!("{transport}:{}:{t}", path.display()),
        None => format!("{transport}:{}", path.display()),
    }
}

impl<T: FileTree> ImageSource for LayoutSource<T> {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn top_manifest(&self) -> Result<TopManifest> {
        let bytes = self.manifest(&self.entry)?;
        Ok(TopManifest {
            bytes,
            media_type: self.entry.media_type.clone(),
            descriptor: Some(self.entry.clone()),
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
        read_small(&self.tree, &desc.digest.blob_path(), MAX_DOCUMENT_SIZE)
            .with_context(|| format!("reading manifest {}", desc.digest))
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        self.tree
            .open(&desc.digest.blob_path())
            .with_context(|| format!("blob {}", desc.digest))
    }

    fn referrer_source(&self) -> Option<&dyn ReferrerSource> {
        Some(self)
    }
}

/// Referrers as oras stores them in a layout (see `layout_referrers.rs`).
impl<T: FileTree> ReferrerSource for LayoutSource<T> {
    fn referrers(&self, subject: &crate::digest::Digest) -> Result<Listing> {
        super::layout_referrers::list(&self.tree, subject)
    }

    fn tagged(&self, tag: &str) -> Result<Option<TopManifest>> {
        super::layout_referrers::tagged(&self.tree, tag)
    }
}

pub use super::layout_dest::LayoutDestination;

/// A source for every entry of the layout in `tree`, each named by its tag (or as
/// untagged, with its digest), in `index.json`'s order.
pub fn every_entry<T: FileTree + Clone>(
    tree: T,
    transport: &str,
    path: &Path,
) -> Result<Vec<LayoutSource<T>>> {
    let base = describe(transport, path, None);
    let index = read_index(&tree).with_context(|| base.clone())?;
    if index.manifests.is_empty() {
        bail!("{base}: the layout holds no images");
    }
    Ok(index
        .manifests
        .into_iter()
        .map(|entry| {
            let name = match entry.annotation(REF_NAME) {
                Some(tag) => describe(transport, path, Some(tag)),
                None => format!("{base} (untagged {})", entry.digest),
            };
            LayoutSource::for_entry(tree.clone(), name, entry)
        })
        .collect())
}

/// The `index.json` of a layout holding just `desc` (an archive written from scratch),
/// tagged `tag` when there is one.
pub fn single_entry_index(desc: &Descriptor, tag: Option<&str>) -> Result<Vec<u8>> {
    let mut entry = Descriptor {
        platform: None,
        ..desc.clone()
    };
    if let Some(tag) = tag {
        entry
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REF_NAME.into(), tag.into());
    }
    let mut index = empty_index();
    index.manifests.push(entry);
    Ok(serde_json::to_vec(&index)?)
}

pub(super) fn empty_index() -> Index {
    Index {
        schema_version: 2,
        media_type: Some(mt::OCI_INDEX.to_string()),
        artifact_type: None,
        manifests: Vec::new(),
        subject: None,
        annotations: None,
        extra: Default::default(),
    }
}

/// Writes `dir/name` whole under a temporary name, syncs it and renames it into place.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let (t, _registered) = cleanup::temp_file_in(
        tempfile::Builder::new().prefix(&format!(".{name}.tmp-")),
        dir,
    )
    .with_context(|| format!("creating a temporary file in {}", dir.display()))?
    .into_parts();
    t.as_file().write_all(bytes).writing(t.path())?;
    set_readable(t.as_file())?;
    t.as_file().sync_all().writing(t.path())?;
    t.persist(dir.join(name))
        .with_context(|| format!("writing {name} in {}", dir.display()))?;
    Ok(())
}

/// Temporary files are created 0600; what is committed gets the usual 0644, less the umask
/// that the filesystem applies to new files anyway.
pub fn set_readable(f: &File) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(0o644 & !umask()))?;
    Ok(())
}

pub(super) fn umask() -> u32 {
    // The umask cannot be read without setting it; ask the filesystem instead, once.
    static MASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MASK.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let probe = tempfile::tempdir().ok();
        probe
            .and_then(|d| {
                let p = d.path().join("probe");
                fs::write(&p, b"").ok()?;
                Some(!fs::metadata(&p).ok()?.permissions().mode() & 0o666)
            })
            .unwrap_or(0o022)
    })
}

pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn desc(b: &[u8]) -> Descriptor {
        Descriptor::new(mt::OCI_MANIFEST, Digest::sha256_of(b), b.len() as u64)
    }

    #[test]
    fn selecting_lists_tags() {
        let mut idx = empty_index();
        idx.manifests.push(desc(b"a"));
        assert!(select_entry(&idx, None).is_ok());
        let mut t = desc(b"b");
        t.annotations = Some([(REF_NAME.to_string(), "v9".to_string())].into());
        idx.manifests.push(t);
        let e = format!("{:#}", select_entry(&idx, None).unwrap_err());
        assert!(e.contains("v9") && e.contains("1 untagged"), "{e}");
        let e = format!("{:#}", select_entry(&idx, Some("nope")).unwrap_err());
        assert!(e.contains("\"nope\" not found") && e.contains("v9"), "{e}");
    }
}
