//! Media-type constants for the Docker v2 schema 2 and OCI families, and what each one is:
//! its role (manifest, index, config, layer), its family and, for layers, its compression.
//! Conversion between the families is a table lookup here; `convert.rs` decides when to use it.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_FOREIGN: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const OCI_FOREIGN_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_FOREIGN_ZSTD: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The two manifest families oci-copy reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OCI image-spec media types.
    Oci,
    /// Docker image manifest v2, schema 2.
    V2s2,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::V2s2 => "v2s2",
        }
    }

    pub fn manifest_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_MANIFEST,
            Format::V2s2 => DOCKER_MANIFEST,
        }
    }

    pub fn index_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_INDEX,
            Format::V2s2 => DOCKER_LIST,
        }
    }

    pub fn config_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_CONFIG,
            Format::V2s2 => DOCKER_CONFIG,
        }
    }
}

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// What a media type denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Manifest(Format),
    Index(Format),
    Config(Format),
    Layer(LayerType),
    /// A Docker schema 1 manifest: recognised so that it can be refused by name.
    Schema1,
    /// Anything else (artifact configs and blobs, the empty descriptor).
    Other,
}

/// A layer media type, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerType {
    pub format: Format,
    pub compression: Compression,
    pub foreign: bool,
}

impl LayerType {
    /// The media type string for this layer type, or `None` where the family has no such
    /// type (zstd and uncompressed foreign layers do not exist in v2s2).
    pub fn media_type(self) -> Option<&'static str> {
        use Compression::*;
        Some(match (self.format, self.compression, self.foreign) {
            (Format::Oci, None, false) => OCI_LAYER,
            (Format::Oci, Gzip, false) => OCI_LAYER_GZIP,
            (Format::Oci, Zstd, false) => OCI_LAYER_ZSTD,
            (Format::Oci, None, true) => OCI_FOREIGN,
            (Format::Oci, Gzip, true) => OCI_FOREIGN_GZIP,
            (Format::Oci, Zstd, true) => OCI_FOREIGN_ZSTD,
            (Format::V2s2, None, false) => DOCKER_LAYER,
            (Format::V2s2, Gzip, false) => DOCKER_LAYER_GZIP,
            (Format::V2s2, Gzip, true) => DOCKER_FOREIGN_GZIP,
            (Format::V2s2, Zstd, _) | (Format::V2s2, None, true) => return Option::None,
        })
    }
}

/// Classifies a media type string. Parameters after `;` are ignored.
pub fn kind_of(media_type: &str) -> Kind {
    let base = media_type.split(';').next().unwrap_or("").trim();
    let layer = |format, compression, foreign| {
        Kind::Layer(LayerType {
            format,
            compression,
            foreign,
        })
    };
    use Compression::*;
    match base {
        OCI_MANIFEST => Kind::Manifest(Format::Oci),
        DOCKER_MANIFEST => Kind::Manifest(Format::V2s2),
        OCI_INDEX => Kind::Index(Format::Oci),
        DOCKER_LIST => Kind::Index(Format::V2s2),
        OCI_CONFIG => Kind::Config(Format::Oci),
        DOCKER_CONFIG => Kind::Config(Format::V2s2),
        OCI_LAYER => layer(Format::Oci, None, false),
        OCI_LAYER_GZIP => layer(Format::Oci, Gzip, false),
        OCI_LAYER_ZSTD => layer(Format::Oci, Zstd, false),
        OCI_FOREIGN => layer(Format::Oci, None, true),
        OCI_FOREIGN_GZIP => layer(Format::Oci, Gzip, true),
        OCI_FOREIGN_ZSTD => layer(Format::Oci, Zstd, true),
        DOCKER_LAYER => layer(Format::V2s2, None, false),
        DOCKER_LAYER_GZIP => layer(Format::V2s2, Gzip, false),
        DOCKER_FOREIGN_GZIP => layer(Format::V2s2, Gzip, true),
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Kind::Schema1,
        _ => Kind::Other,
    }
}

/// True for the media types of manifests and indexes (what a registry serves at /manifests/).
pub fn is_manifest_like(media_type: &str) -> bool {
    matches!(
        kind_of(media_type),
        Kind::Manifest(_) | Kind::Index(_) | Kind::Schema1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_family_member() {
        assert_eq!(kind_of(OCI_MANIFEST), Kind::Manifest(Format::Oci));
        assert_eq!(kind_of(DOCKER_LIST), Kind::Index(Format::V2s2));
        assert_eq!(kind_of(DOCKER_CONFIG), Kind::Config(Format::V2s2));
        let Kind::Layer(l) = kind_of(DOCKER_FOREIGN_GZIP) else {
            panic!("foreign gzip is a layer")
        };
        assert!(l.foreign && l.compression == Compression::Gzip && l.format == Format::V2s2);
        assert_eq!(
            kind_of("application/vnd.cncf.helm.config.v1+json"),
            Kind::Other
        );
        assert_eq!(kind_of(DOCKER_SCHEMA1_SIGNED), Kind::Schema1);
    }

    #[test]
    fn ignores_parameters() {
        assert_eq!(
            kind_of("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            Kind::Manifest(Format::Oci)
        );
    }

    #[test]
    fn layer_types_round_trip_through_strings() {
        for mt in [
            OCI_LAYER,
            OCI_LAYER_GZIP,
            OCI_LAYER_ZSTD,
            OCI_FOREIGN,
            OCI_FOREIGN_GZIP,
            OCI_FOREIGN_ZSTD,
            DOCKER_LAYER,
            DOCKER_LAYER_GZIP,
            DOCKER_FOREIGN_GZIP,
        ] {
            let Kind::Layer(l) = kind_of(mt) else {
                panic!("{mt} is a layer")
            };
            assert_eq!(l.media_type(), Some(mt));
        }
    }

    #[test]
    fn v2s2_has_no_zstd() {
        let l = LayerType {
            format: Format::V2s2,
            compression: Compression::Zstd,
            foreign: false,
        };
        assert_eq!(l.media_type(), None);
    }
}
