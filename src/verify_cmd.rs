//! `oci-copy verify REF`: an fsck for images. It walks everything an image reaches (index
//! children, manifests, configs, layers) through any [`ImageSource`], re-hashes every blob
//! with the copy pipeline's [`VerifyingReader`], decompresses layers to check them against
//! the config's diff_ids, and names every missing or corrupt blob by digest. On a layout or
//! an oci-archive with no tag (or with `--all`) it checks every entry of `index.json`.

use std::collections::HashMap;
use std::io::{self, Read};

use anyhow::{bail, Context, Result};

use crate::copy::verify::{HashingReader, VerifyError, VerifyingReader};
use crate::copy::verify_bytes;
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, ImageConfig, Parsed, MAX_DOCUMENT_SIZE};
use crate::media_type::{self as mt, Kind};
use crate::reference::{ArchiveSelector, ImageRef};
use crate::transport::fs::{read_small, DirTree, FileTree};
use crate::transport::layout::{self, LayoutSource, REF_NAME};
use crate::transport::registry::RegistryOptions;
use crate::transport::tarball::TarTree;
use crate::transport::{self, docker_archive, ImageSource};

/// Index nesting deeper than this is refused rather than followed.
const MAX_DEPTH: usize = 4;

/// The outcome of checking one image.
#[derive(Debug, Clone)]
pub struct ImageResult {
    /// How the image is referred to: `oci:/srv/app:v1`.
    pub name: String,
    /// The top-level manifest digest, when it could be read.
    pub digest: Option<Digest>,
    /// One line per problem: the object (with its digest) and the reason.
    pub problems: Vec<String>,
    /// What was checked only in part, and why: a layer that is not a tar (an in-toto
    /// attestation, an artifact's blob) has its digest and size checked, not a diff_id.
    pub skipped: Vec<String>,
}

/// What `verify` found.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub images: Vec<ImageResult>,
    /// Distinct blobs (manifests included) hashed, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
}

impl VerifyReport {
    /// Every problem once, in the order found.
    pub fn problems(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.images
            .iter()
            .flat_map(|i| i.problems.iter())
            .filter(|p| seen.insert(p.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// The short human report: one line per image, its problems indented below it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for img in &self.images {
            let digest = img
                .digest
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_default();
            let status = if img.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            };
            out.push_str(&format!("{status:<7}{} {digest}\n", img.name));
            for p in &img.problems {
                out.push_str(&format!("  {p}\n"));
            }
            for p in &img.skipped {
                out.push_str(&format!("  skipped: {p}\n"));
            }
        }
        let n = self.problems().len();
        let failed = self
            .images
            .iter()
            .filter(|i| !i.problems.is_empty())
            .count();
        let failed = match failed {
            0 => String::new(),
            f => format!(" ({f} FAILED)"),
        };
        out.push_str(&format!(
            "checked {} image(s){failed}, {} blob(s), {}: {}\n",
            self.images.len(),
            self.blobs,
            crate::human_bytes(self.bytes),
            match n {
                0 => "no problems".to_string(),
                1 => "1 problem".to_string(),
                n => format!("{n} problems"),
            }
        ));
        out
    }
}

/// Runs `verify` on `reference`; `all` checks every image of a layout or archive even when
/// the reference names one. `reg` applies when the reference is a registry.
pub fn verify_reference(
    reference: &ImageRef,
    all: bool,
    reg: &RegistryOptions,
) -> Result<VerifyReport> {
    let mut checker = Checker::default();
    match reference {
        ImageRef::Layout { dir, tag } if all || tag.is_none() => {
            if !dir.is_dir() {
                bail!("oci:{}: no such directory", dir.display());
            }
            let tree = DirTree::new(dir);
            checker.every_entry(&tree, "oci", dir)?;
        }
        ImageRef::OciArchive { file, tag } if all || tag.is_none() => {
            let name = layout::describe("oci-archive", file, None);
            let tree = TarTree::open(file).with_context(|| name)?;
            checker.every_entry(&tree, "oci-archive", file)?;
        }
        ImageRef::DockerArchive { file, selector } if all || selector.is_none() => {
            for i in 0..docker_archive_images(file)? {
                let sel = ArchiveSelector::Index(i);
                match docker_archive::DockerArchiveSource::open(file, Some(&sel)) {
                    Ok(src) => checker.check_image(&src),
                    Err(e) => checker.report.images.push(ImageResult {
                        name: format!("docker-archive:{}:@{i}", file.display()),
                        digest: None,
                        problems: vec![without_outer_context(&e)],
                        skipped: Vec::new(),
                    }),
                }
            }
        }
        _ => {
            let src = transport::open_source_with(reference, reg)?;
            checker.check_image(src.as_ref());
        }
    }
    Ok(checker.report)
}

/// How many images a docker-archive's `manifest.json` lists.
fn docker_archive_images(file: &std::path::Path) -> Result<usize> {
    let name = format!("docker-archive:{}", file.display());
    let tree = TarTree::open(file).with_context(|| name.clone())?;
    let bytes = read_small(&tree, "manifest.json", MAX_DOCUMENT_SIZE)
        .context("not a docker-archive (reading manifest.json)")
        .with_context(|| name.clone())?;
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
        .context("invalid manifest.json")
        .with_context(|| name.clone())?;
    if entries.is_empty() {
        bail!("{name}: manifest.json lists no images");
    }
    Ok(entries.len())
}

/// Walks images, remembering every blob already checked so that shared blobs are hashed
/// once.
#[derive(Default)]
struct Checker {
    report: VerifyReport,
    /// (blob digest, diff_id it was checked against) → the problem found, if any.
    seen: HashMap<(Digest, Option<Digest>), Option<String>>,
    /// What the image being checked had checked only in part (see [`ImageResult::skipped`]).
    skipped: Vec<String>,
}

impl Checker {
    /// Checks every entry of the layout in `tree`, each under its tag.
    fn every_entry(
        &mut self,
        tree: &dyn FileTree,
        transport: &str,
        path: &std::path::Path,
    ) -> Result<()> {
        let base = layout::describe(transport, path, None);
        let index = layout::read_index(tree).with_context(|| base.clone())?;
        if index.manifests.is_empty() {
            bail!("{base}: the layout holds no images");
        }
        for entry in &index.manifests {
            let name = match entry.annotation(REF_NAME) {
                Some(tag) => layout::describe(transport, path, Some(tag)),
                None => format!("{base} (untagged {})", entry.digest),
            };
            let src = LayoutSource::for_entry(tree, name, entry.clone());
            self.check_image(&src);
        }
        Ok(())
    }

    fn check_image(&mut self, src: &dyn ImageSource) {
        let mut problems = Vec::new();
        let digest = match src.top_manifest() {
            Ok(top) => {
                let desc = top
                    .descriptor
                    .clone()
                    .unwrap_or_else(|| Descriptor::of_bytes(&top.media_type, &top.bytes));
                self.count(&desc);
                match &top.descriptor {
                    Some(d) => match verify_bytes(&top.bytes, d, "manifest") {
                        Ok(()) => self.check_manifest(src, &top.bytes, &desc, 0, &mut problems),
                        Err(e) => problems.push(format!("{e:#}")),
                    },
                    None => self.check_manifest(src, &top.bytes, &desc, 0, &mut problems),
                }
                Some(desc.digest)
            }
            Err(e) => {
                problems.push(format!("top-level manifest: {e:#}"));
                None
            }
        };
        self.report.images.push(ImageResult {
            name: src.describe(),
            digest,
            problems,
            skipped: std::mem::take(&mut self.skipped),
        });
    }

    fn count(&mut self, desc: &Descriptor) {
        self.report.blobs += 1;
        self.report.bytes += desc.size;
    }

    /// Checks a manifest or index whose bytes were verified against `desc`.
    fn check_manifest(
        &mut self,
        src: &dyn ImageSource,
        bytes: &[u8],
        desc: &Descriptor,
        depth: usize,
        problems: &mut Vec<String>,
    ) {
        let parsed = match manifest::parse(bytes, &desc.media_type) {
            Ok(p) => p,
            Err(e) => return problems.push(format!("manifest {}: {e:#}", desc.digest)),
        };
        match parsed {
            Parsed::Index(..) if depth >= MAX_DEPTH => problems.push(format!(
                "index {}: nested more than {MAX_DEPTH} levels deep",
                desc.digest
            )),
            Parsed::Index(_, idx) => {
                for child in &idx.manifests {
                    self.check_child(src, child, depth + 1, problems);
                }
            }
            Parsed::Image(f, m) => self.check_image_manifest(src, f, m, problems),
        }
    }

    fn check_child(
        &mut self,
        src: &dyn ImageSource,
        child: &Descriptor,
        depth: usize,
        problems: &mut Vec<String>,
    ) {
        if !mt::is_manifest_like(&child.media_type) {
            // An index may list non-manifest blobs (rare); check their bytes only.
            return self.check_blob(src, child, None, "index entry", problems);
        }
        if self.seen.contains_key(&(child.digest.clone(), None)) {
            return;
        }
        self.seen.insert((child.digest.clone(), None), None);
        self.count(child);
        let checked = src
            .manifest(child)
            .map_err(|e| format!("manifest {}: {}", child.digest, unreadable(&e)))
            .and_then(|b| {
                verify_bytes(&b, child, "manifest")
                    .map(|()| b)
                    .map_err(|e| format!("{e:#}"))
            });
        match checked {
            Ok(bytes) => self.check_manifest(src, &bytes, child, depth, problems),
            Err(p) => problems.push(p),
        }
    }

    fn check_image_manifest(
        &mut self,
        src: &dyn ImageSource,
        format: mt::Format,
        mut m: manifest::ImageManifest,
        problems: &mut Vec<String>,
    ) {
        if m.config.media_type == manifest::LEGACY_CONFIG {
            // A docker 1.10-era config: checked as an image's when its JSON is one.
            if let Ok(bytes) = read_config_bytes(src, &m.config) {
                manifest::adopt_legacy_config(format, &mut m, &bytes);
            }
        }
        let m = &m;
        if !manifest::is_image(m) {
            // An artifact: its blobs mean something to another tool; check their bytes.
            for d in std::iter::once(&m.config).chain(&m.layers) {
                self.check_blob(src, d, None, "blob", problems);
            }
            return;
        }
        let config = match read_config(src, &m.config) {
            Ok(c) => c,
            Err(e) => return problems.push(format!("config {}: {e:#}", m.config.digest)),
        };
        self.count(&m.config);
        let diff_ids = config.diff_ids();
        if diff_ids.len() != m.layers.len() {
            problems.push(format!(
                "config {}: the manifest has {} layers but the config has {} diff_ids",
                m.config.digest,
                m.layers.len(),
                diff_ids.len()
            ));
        }
        for (i, layer) in m.layers.iter().enumerate() {
            let what = format!("layer {}", i + 1);
            let mut diff_id = diff_ids.get(i);
            if !matches!(mt::kind_of(&layer.media_type), Kind::Layer(_)) {
                self.skipped.push(format!(
                    "{what} {} ({}) is not a tar layer: its digest and size were checked, \
                     not a diff_id",
                    layer.digest, layer.media_type
                ));
                diff_id = None;
            }
            self.check_blob(src, layer, diff_id, &what, problems);
        }
    }

    /// Re-hashes one blob (decompressing a layer to check its diff_id), once per process.
    fn check_blob(
        &mut self,
        src: &dyn ImageSource,
        desc: &Descriptor,
        diff_id: Option<&Digest>,
        what: &str,
        problems: &mut Vec<String>,
    ) {
        let key = (desc.digest.clone(), diff_id.cloned());
        let outcome = match self.seen.get(&key) {
            Some(o) => o.clone(),
            None => {
                let o = hash_blob(src, desc, diff_id).err();
                self.count(desc);
                self.seen.insert(key, o.clone());
                o
            }
        };
        if let Some(reason) = outcome {
            problems.push(format!("{what} {}: {reason}", desc.digest));
        }
    }
}

/// Reads and parses an image config, through the verifying reader, under the size cap.
fn read_config(src: &dyn ImageSource, desc: &Descriptor) -> Result<ImageConfig> {
    ImageConfig::parse(&read_config_bytes(src, desc)?)
}

/// A config's bytes, through the verifying reader, under the size cap.
fn read_config_bytes(src: &dyn ImageSource, desc: &Descriptor) -> Result<Vec<u8>> {
    if desc.size > MAX_DOCUMENT_SIZE {
        bail!("{} bytes, over the 4 MiB limit", desc.size);
    }
    let r = src
        .blob(desc)
        .map_err(|e| anyhow::anyhow!("{}", unreadable(&e)))?;
    let mut buf = Vec::new();
    VerifyingReader::new(r, &desc.digest, desc.size).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Streams a blob through the verifying reader; for a layer with a diff_id, also through
/// the decompressor and a hash of the plain tar. Returns the reason it is bad.
fn hash_blob(
    src: &dyn ImageSource,
    desc: &Descriptor,
    diff_id: Option<&Digest>,
) -> Result<(), String> {
    let r = src.blob(desc).map_err(|e| unreadable(&e))?;
    let mut verifying = VerifyingReader::new(r, &desc.digest, desc.size);
    let compression = match mt::kind_of(&desc.media_type) {
        Kind::Layer(t) => Some(t.compression),
        _ => None,
    };
    let (Some(compression), Some(want)) = (compression, diff_id) else {
        return match diff_id {
            Some(_) => Err(format!(
                "media type {:?} is not a layer type, so its diff_id cannot be checked",
                desc.media_type
            )),
            None => drain(&mut verifying).map(drop).map_err(|e| e.to_string()),
        };
    };
    let plain = (|| {
        let decoded = crate::copy::blob::decoder(compression, &mut verifying)?;
        let mut h = HashingReader::with_algorithm(decoded, want.algorithm());
        drain(&mut h)?;
        Ok::<_, io::Error>(h.finish().0)
    })();
    let verified = verifying.finish();
    // As in the copy: a blob that is not what its digest says breaks the decoder first;
    // the digest mismatch is the cause worth reporting.
    match (plain, verified) {
        (_, Err(e)) if e.get_ref().is_some_and(|i| i.is::<VerifyError>()) => Err(e.to_string()),
        (Err(e), _) => Err(format!(
            "cannot be decompressed as {}: {e}",
            compression.name()
        )),
        (Ok(_), Err(e)) => Err(e.to_string()),
        (Ok(plain), Ok(())) if &plain != want => Err(format!(
            "diff_id mismatch: the config says {want}, but the uncompressed layer is {plain}"
        )),
        (Ok(_), Ok(())) => Ok(()),
    }
}

/// Why a blob could not be opened: the transport's innermost reason, which says what is
/// missing (`blobs/sha256/… is missing`, a registry's `BLOB_UNKNOWN`).
fn unreadable(e: &anyhow::Error) -> String {
    format!("missing or unreadable ({})", e.root_cause())
}

/// `{e:#}` without its outermost context (the image name, printed beside it already).
fn without_outer_context(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

fn drain(r: &mut impl Read) -> io::Result<u64> {
    io::copy(r, &mut io::sink())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name)
    }

    #[test]
    fn fixtures_are_clean() {
        for r in [
            format!("oci:{}", fixture("oci-index").display()),
            format!("oci:{}", fixture("oci-layout").display()),
            format!("oci-archive:{}", fixture("oci-archive.tar").display()),
            format!("docker-archive:{}", fixture("docker-multi.tar").display()),
            format!("docker-archive:{}", fixture("docker25.tar").display()),
        ] {
            let report =
                verify_reference(&ImageRef::parse(&r).unwrap(), false, &Default::default())
                    .unwrap();
            assert!(report.problems().is_empty(), "{r}: {}", report.render());
            assert!(report.blobs >= 3, "{r}: {}", report.render());
        }
    }

    #[test]
    fn names_a_corrupt_layer_by_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("l");
        copy_dir(&fixture("oci-layout"), &dir);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let mdigest: Digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(mdigest.blob_path())).unwrap()).unwrap();
        let layer: Digest = m["layers"][1]["digest"].as_str().unwrap().parse().unwrap();
        let path = dir.join(layer.blob_path());
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let r = ImageRef::parse(&format!("oci:{}", dir.display())).unwrap();
        let report = verify_reference(&r, false, &Default::default()).unwrap();
        let problems = report.problems();
        assert_eq!(problems.len(), 1, "{}", report.render());
        assert!(
            problems[0].starts_with(&format!("layer 2 {layer}: digest mismatch")),
            "{}",
            problems[0]
        );
    }

    fn copy_dir(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &dst.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
    }
}
