//! `oci-copy manifest-digest FILE`: the digest of a manifest file, as `skopeo
//! manifest-digest` prints it: the sha256 of its bytes. A Docker schema 1 manifest is
//! refused: its digest is taken over the bytes without their JWS signatures, which
//! oci-copy does not implement (it reads no schema 1 at all).

use std::io::Read;

use anyhow::{bail, Context, Result};

use crate::cli::ManifestDigestArgs;
use crate::digest::Digest;
use crate::manifest::{guess_media_type, MAX_DOCUMENT_SIZE};
use crate::media_type::{kind_of, Kind};

/// The digest of the manifest `bytes`, or why it has none oci-copy can give.
pub fn manifest_digest(bytes: &[u8]) -> Result<Digest> {
    let media_type = guess_media_type(bytes)?;
    if kind_of(&media_type) == Kind::Schema1 {
        bail!(
            "a Docker schema 1 manifest, whose digest is taken without its signatures; \
             oci-copy does not support schema 1 (deprecated since 2017)"
        );
    }
    Ok(Digest::sha256_of(bytes))
}

/// Runs `manifest-digest`.
pub(super) fn run(args: ManifestDigestArgs) -> Result<()> {
    let path = &args.file;
    let name = path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_DOCUMENT_SIZE + 1).read_to_end(&mut bytes))
        .with_context(|| format!("reading {name}"))?;
    if bytes.len() as u64 > MAX_DOCUMENT_SIZE {
        bail!("{name} is larger than the 4 MiB limit of a manifest");
    }
    let digest = manifest_digest(&bytes).with_context(|| format!("{name}"))?;
    super::print(format!("{digest}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_the_bytes_and_refuses_schema1() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert_eq!(manifest_digest(m).unwrap(), Digest::sha256_of(m));
        for s1 in [
            &br#"{"schemaVersion":1,"fsLayers":[],"signatures":[]}"#[..],
            br#"{"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#,
        ] {
            let e = format!("{:#}", manifest_digest(s1).unwrap_err());
            assert!(e.contains("schema 1"), "{e}");
        }
        assert!(manifest_digest(b"not json").is_err());
    }
}
