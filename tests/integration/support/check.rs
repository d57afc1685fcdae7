//! The one invariant checker every output goes through, modelled on go-containerregistry's
//! `validate.Image`: it re-hashes every reachable blob, checks sizes, media types (per role and
//! per family), and that each decompressed layer matches the config's `rootfs.diff_ids`.
//! `try_*` functions return the first violation; the plain ones panic with it.

mod archive;
mod registry;

pub use archive::{check_docker_archive, extract_archive, try_check_docker_archive};
pub use registry::{check_registry_image, try_check_registry_image};

use super::layout::read_json;
use serde_json::Value;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub type Checked<T> = Result<T, String>;

/// Facts about one verified image manifest.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    pub manifest_digest: String,
    pub media_type: String,
    pub config_digest: String,
    pub config_media_type: String,
    pub layer_media_types: Vec<String>,
    pub diff_ids: Vec<String>,
    pub architecture: String,
    pub os: String,
    /// A regular file from the last layer that has one: any unpacked rootfs must hold it.
    pub sample_file: Option<String>,
}

/// One entry of `index.json`, with every image reachable from it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub digest: String,
    pub media_type: String,
    pub tag: Option<String>,
    pub images: Vec<ImageFacts>,
}

/// What a verified OCI layout holds. The top-level fields describe the first entry.
#[derive(Debug, Clone)]
pub struct Report {
    pub manifest_digest: String,
    pub media_type: String,
    pub config_digest: String,
    pub diff_ids: Vec<String>,
    pub tags: Vec<String>,
    pub entries: Vec<Entry>,
}

impl Report {
    /// The unique entry carrying `tag` (panics if none or several).
    pub fn tagged(&self, tag: &str) -> &Entry {
        let found: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.tag.as_deref() == Some(tag))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected exactly one entry tagged {tag:?}: {:?}",
            self.tags
        );
        found[0]
    }

    /// Every image manifest reached from index.json.
    pub fn images(&self) -> impl Iterator<Item = &ImageFacts> {
        self.entries.iter().flat_map(|e| e.images.iter())
    }
}

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Family {
    Oci,
    Docker,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Verifies the OCI layout at `dir`, panicking with the violation.
pub fn check_oci_layout(dir: &Path) -> Report {
    try_check_oci_layout(dir)
        .unwrap_or_else(|e| panic!("invalid OCI layout {}: {e}", dir.display()))
}

/// Verifies an oci-archive file by extracting it safely and checking the layout inside.
pub fn check_oci_archive(file: &Path) -> Report {
    try_check_oci_archive(file)
        .unwrap_or_else(|e| panic!("invalid oci-archive {}: {e}", file.display()))
}

pub fn try_check_oci_archive(file: &Path) -> Checked<Report> {
    let tmp = super::tempdir();
    extract_archive(file, tmp.path())?;
    try_check_oci_layout(tmp.path())
}

pub fn try_check_oci_layout(dir: &Path) -> Checked<Report> {
    let marker = read_json(&dir.join("oci-layout"))?;
    if marker["imageLayoutVersion"].as_str().is_none() {
        return Err("oci-layout lacks imageLayoutVersion".into());
    }
    let index = read_json(&dir.join("index.json"))?;
    check_index_header(&index, OCI_INDEX, "index.json")?;
    let mut entries = Vec::new();
    for desc in as_array(&index["manifests"], "index.json manifests")? {
        entries.push(check_entry(dir, desc)?);
    }
    Ok(summarise(entries))
}

fn summarise(entries: Vec<Entry>) -> Report {
    let first = entries.first();
    let image = first.and_then(|e| e.images.first());
    Report {
        manifest_digest: first.map(|e| e.digest.clone()).unwrap_or_default(),
        media_type: first.map(|e| e.media_type.clone()).unwrap_or_default(),
        config_digest: image.map(|i| i.config_digest.clone()).unwrap_or_default(),
        diff_ids: image.map(|i| i.diff_ids.clone()).unwrap_or_default(),
        tags: entries.iter().filter_map(|e| e.tag.clone()).collect(),
        entries,
    }
}

fn check_entry(dir: &Path, desc: &Value) -> Checked<Entry> {
    let d = Descriptor::parse(desc)?;
    let tag = desc["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .map(String::from);
    let images = check_descriptor(dir, &d, 0)?;
    Ok(Entry {
        digest: d.digest,
        media_type: d.media_type,
        tag,
        images,
    })
}

/// A parsed descriptor: the three fields every descriptor must have, plus its platform.
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    platform: Value,
}

impl Descriptor {
    fn parse(v: &Value) -> Checked<Self> {
        let media_type = v["mediaType"]
            .as_str()
            .ok_or_else(|| format!("descriptor without mediaType: {v}"))?;
        let digest = v["digest"]
            .as_str()
            .ok_or_else(|| format!("descriptor without digest: {v}"))?;
        let size = v["size"]
            .as_u64()
            .ok_or_else(|| format!("descriptor without size: {v}"))?;
        Ok(Descriptor {
            media_type: media_type.into(),
            digest: digest.into(),
            size,
            platform: v["platform"].clone(),
        })
    }
}

fn check_descriptor(dir: &Path, d: &Descriptor, depth: usize) -> Checked<Vec<ImageFacts>> {
    if depth > 4 {
        return Err(format!("indexes nested too deeply at {}", d.digest));
    }
    let bytes = std::fs::read(verify_blob(dir, d)?).map_err(|e| e.to_string())?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", d.digest))?;
    match d.media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => check_index(dir, d, &doc, depth),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(vec![check_manifest(dir, d, &doc)?]),
        other => Err(format!(
            "{} has media type {other:?}, not a manifest or index type",
            d.digest
        )),
    }
}

fn check_index_header(doc: &Value, media_type: &str, what: &str) -> Checked<()> {
    if doc["schemaVersion"].as_u64() != Some(2) {
        return Err(format!("{what}: schemaVersion is not 2"));
    }
    match doc["mediaType"].as_str() {
        Some(m) if m != media_type => Err(format!(
            "{what}: mediaType {m:?} differs from {media_type:?}"
        )),
        _ => Ok(()),
    }
}

fn check_index(dir: &Path, d: &Descriptor, doc: &Value, depth: usize) -> Checked<Vec<ImageFacts>> {
    check_index_header(doc, &d.media_type, &d.digest)?;
    let mut images = Vec::new();
    for child in as_array(&doc["manifests"], "index manifests")? {
        let c = Descriptor::parse(child)?;
        if d.media_type == DOCKER_LIST
            && c.media_type != DOCKER_MANIFEST
            && c.media_type != DOCKER_LIST
        {
            return Err(format!(
                "Docker manifest list {} lists a {:?} media type",
                d.digest, c.media_type
            ));
        }
        images.extend(check_descriptor(dir, &c, depth + 1)?);
    }
    Ok(images)
}

fn check_manifest(dir: &Path, d: &Descriptor, doc: &Value) -> Checked<ImageFacts> {
    let family = if d.media_type == OCI_MANIFEST {
        Family::Oci
    } else {
        Family::Docker
    };
    check_index_header(doc, &d.media_type, &d.digest)?;
    if family == Family::Docker && doc["mediaType"].as_str().is_none() {
        return Err(format!(
            "Docker manifest {} lacks its mediaType field",
            d.digest
        ));
    }
    let config_desc = Descriptor::parse(&doc["config"])?;
    check_config_media_type(family, &config_desc)?;
    let config = read_json(&verify_blob(dir, &config_desc)?)?;
    let (diff_ids, architecture, os) = config_facts(&config, &config_desc.digest)?;
    check_platform(d, &architecture, &os)?;
    let layers = as_array(&doc["layers"], "manifest layers")?;
    if layers.len() != diff_ids.len() {
        return Err(format!(
            "{} has {} layers but its config has {} diff_ids",
            d.digest,
            layers.len(),
            diff_ids.len()
        ));
    }
    let mut layer_media_types = Vec::new();
    let mut sample_file = None;
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let l = Descriptor::parse(layer)?;
        sample_file = check_layer(dir, family, &l, diff_id)?.pop().or(sample_file);
        layer_media_types.push(l.media_type);
    }
    Ok(ImageFacts {
        manifest_digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        config_digest: config_desc.digest,
        config_media_type: config_desc.media_type,
        layer_media_types,
        diff_ids,
        architecture,
        os,
        sample_file,
    })
}

fn check_config_media_type(family: Family, c: &Descriptor) -> Checked<()> {
    let want = if family == Family::Oci {
        OCI_CONFIG
    } else {
        DOCKER_CONFIG
    };
    if c.media_type != want {
        return Err(format!(
            "config {} has media type {:?}, want {want:?} in a {family:?} manifest",
            c.digest, c.media_type
        ));
    }
    Ok(())
}

/// Returns (diff_ids, architecture, os) after checking the config's required fields.
pub fn config_facts(config: &Value, what: &str) -> Checked<(Vec<String>, String, String)> {
    if config["rootfs"]["type"].as_str() != Some("layers") {
        return Err(format!("config {what}: rootfs.type is not \"layers\""));
    }
    let diff_ids = as_array(&config["rootfs"]["diff_ids"], "rootfs.diff_ids")?
        .iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| format!("config {what}: non-string diff_id"))
        })
        .collect::<Checked<Vec<_>>>()?;
    let field = |name: &str| match config[name].as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(format!("config {what}: missing {name}")),
    };
    Ok((diff_ids, field("architecture")?, field("os")?))
}

fn check_platform(d: &Descriptor, architecture: &str, os: &str) -> Checked<()> {
    let p = &d.platform;
    if p.is_null() {
        return Ok(());
    }
    if p["architecture"].as_str() != Some(architecture) || p["os"].as_str() != Some(os) {
        return Err(format!(
            "{}: descriptor platform {p} disagrees with config {os}/{architecture}",
            d.digest
        ));
    }
    Ok(())
}

fn layer_compression(family: Family, media_type: &str) -> Option<Compression> {
    let oci = media_type
        .strip_prefix("application/vnd.oci.image.layer.v1.tar")
        .or_else(|| {
            media_type.strip_prefix("application/vnd.oci.image.layer.nondistributable.v1.tar")
        });
    let docker = match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        _ => None,
    };
    match (family, oci) {
        (Family::Oci, Some("")) => Some(Compression::None),
        (Family::Oci, Some("+gzip")) => Some(Compression::Gzip),
        (Family::Oci, Some("+zstd")) => Some(Compression::Zstd),
        (Family::Oci, _) => None,
        (Family::Docker, _) => docker,
    }
}

/// Verifies one layer blob and its diff_id; returns the regular files it holds.
fn check_layer(dir: &Path, family: Family, l: &Descriptor, diff_id: &str) -> Checked<Vec<String>> {
    // A blob that is no tar layer of either family (BuildKit's in-toto attestations) is
    // checked by digest and size only; a layer type of the other family is an error.
    let tar_like =
        l.media_type.contains(".image.layer.") || l.media_type.contains(".image.rootfs.");
    if !tar_like {
        verify_blob(dir, l)?;
        return Ok(Vec::new());
    }
    let compression = layer_compression(family, &l.media_type).ok_or_else(|| {
        format!(
            "layer {} has media type {:?}, not a {family:?} layer type",
            l.digest, l.media_type
        )
    })?;
    let path = verify_blob(dir, l)?;
    let file = File::open(&path).map_err(|e| e.to_string())?;
    let (digest, files) = walk_layer(decompress(file, compression)?)
        .map_err(|e| format!("layer {}: {e}", l.digest))?;
    if digest != diff_id {
        return Err(format!(
            "layer {}: uncompressed sha256 {digest} != config diff_id {diff_id}",
            l.digest
        ));
    }
    Ok(files)
}

pub(crate) fn decompress<'a, R: Read + 'a>(r: R, c: Compression) -> Checked<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::Decoder::new(r).map_err(|e| e.to_string())?),
    })
}

/// Reads an uncompressed tar stream to its end: returns its sha256 and its regular files.
pub fn walk_layer(r: Box<dyn Read + '_>) -> io::Result<(String, Vec<String>)> {
    let mut hashing = HashingReader {
        inner: r,
        hasher: sha2::Sha256::default(),
    };
    let mut files = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.to_string_lossy().into_owned();
            if entry.header().entry_type().is_file() && !path.contains(".wh.") {
                files.push(path);
            }
            io::copy(&mut entry, &mut io::sink())?;
        }
    }
    io::copy(&mut hashing, &mut io::sink())?;
    Ok((
        format!(
            "sha256:{}",
            hex::encode(sha2::Digest::finalize(hashing.hasher))
        ),
        files,
    ))
}

struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

/// Checks digest syntax, the blob's presence, size and hash; returns its path.
fn verify_blob(dir: &Path, d: &Descriptor) -> Checked<PathBuf> {
    let (alg, hex) = d
        .digest
        .split_once(':')
        .ok_or_else(|| format!("malformed digest {:?}", d.digest))?;
    let hex_len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm in {:?}", d.digest)),
    };
    if hex.len() != hex_len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("malformed digest {:?}", d.digest));
    }
    let path = dir.join("blobs").join(alg).join(hex);
    let len = std::fs::metadata(&path)
        .map_err(|e| format!("blob {} missing: {e}", d.digest))?
        .len();
    if len != d.size {
        return Err(format!(
            "blob {}: file size {len} != descriptor size {}",
            d.digest, d.size
        ));
    }
    let actual = super::layout::file_digest(&path, alg).map_err(|e| e.to_string())?;
    if actual != d.digest {
        return Err(format!("blob {}: content digest is {actual}", d.digest));
    }
    Ok(path)
}

pub(crate) fn as_array<'a>(v: &'a Value, what: &str) -> Checked<&'a Vec<Value>> {
    v.as_array()
        .ok_or_else(|| format!("{what} is not an array"))
}
