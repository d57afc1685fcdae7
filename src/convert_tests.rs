//! Unit tests of the planner and rewriter, with golden manifests from `testdata/golden/`.

use super::*;
use crate::manifest::{parse, Parsed};

fn golden(name: &str) -> (Format, ImageManifest, Vec<u8>) {
    let path = format!("{}/testdata/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mtype = crate::manifest::guess_media_type(&bytes).unwrap();
    match parse(&bytes, &mtype).unwrap() {
        Parsed::Image(f, m) => (f, m, bytes),
        Parsed::Index(..) => panic!("{name} is an index"),
    }
}

const LAYOUT: DestCaps = DestCaps {
    formats: &[Format::Oci],
    layers: LayerPolicy::Compressed,
    stores_index: true,
    sequential: false,
};
const ARCHIVE: DestCaps = DestCaps {
    formats: &[Format::V2s2],
    layers: LayerPolicy::Uncompressed,
    stores_index: false,
    sequential: false,
};
const REGISTRY: DestCaps = DestCaps {
    formats: &[Format::Oci, Format::V2s2],
    layers: LayerPolicy::AsIs,
    stores_index: true,
    sequential: false,
};

#[test]
fn identity_needs_no_rewrite() {
    let (f, m, _) = golden("oci-gzip.json");
    let p = plan(f, &m, &LAYOUT, &PlanOptions::default()).unwrap();
    assert!(!p.rewrite);
    assert!(p.layers.iter().all(|l| l.action == LayerAction::Keep));
}

#[test]
fn oci_to_docker_archive_decompresses() {
    let (f, m, _) = golden("oci-gzip.json");
    let p = plan(f, &m, &ARCHIVE, &PlanOptions::default()).unwrap();
    assert_eq!(p.format, Format::V2s2);
    assert!(p.rewrite);
    assert_eq!(
        p.layers[0].action,
        LayerAction::Decompress(Compression::Gzip)
    );
    assert_eq!(p.layers[0].media_type, mt::DOCKER_LAYER);
}

#[test]
fn v2s2_uncompressed_into_layout_gzips() {
    let (f, m, _) = golden("v2s2-uncompressed.json");
    let p = plan(f, &m, &LAYOUT, &PlanOptions::default()).unwrap();
    assert_eq!(
        (p.format, p.layers[0].action),
        (Format::Oci, LayerAction::Compress(Compression::Gzip))
    );
    assert_eq!(p.layers[0].media_type, mt::OCI_LAYER_GZIP);
}

#[test]
fn format_is_forced_or_refused() {
    let (f, m, _) = golden("oci-gzip.json");
    let opts = PlanOptions {
        format: Some(Format::V2s2),
        ..Default::default()
    };
    let p = plan(f, &m, &REGISTRY, &opts).unwrap();
    assert_eq!(
        (p.format, p.layers[0].action),
        (Format::V2s2, LayerAction::Keep)
    );
    assert_eq!(p.layers[0].media_type, mt::DOCKER_LAYER_GZIP);
    let e = plan(f, &m, &LAYOUT, &opts).unwrap_err().to_string();
    assert!(e.contains("stores only oci"), "{e}");
}

#[test]
fn preserve_digests_refuses_conversion_and_names_cause() {
    let (f, m, _) = golden("oci-gzip.json");
    let opts = PlanOptions {
        preserve_digests: true,
        ..Default::default()
    };
    let e = plan(f, &m, &ARCHIVE, &opts).unwrap_err().to_string();
    assert!(
        e.contains("--preserve-digests") && e.contains("stores only v2s2"),
        "{e}"
    );
    assert!(plan(f, &m, &REGISTRY, &opts).is_ok());
}

#[test]
fn zstd_into_v2s2_is_refused_unless_decompressed() {
    let (f, m, _) = golden("oci-zstd.json");
    let opts = PlanOptions {
        format: Some(Format::V2s2),
        ..Default::default()
    };
    let e = plan(f, &m, &REGISTRY, &opts).unwrap_err().to_string();
    assert!(e.contains("v2s2 cannot describe"), "{e}");
    let p = plan(f, &m, &ARCHIVE, &PlanOptions::default()).unwrap();
    assert_eq!(
        p.layers[0].action,
        LayerAction::Decompress(Compression::Zstd)
    );
}

#[test]
fn rewrite_matches_golden_and_keeps_config() {
    let (f, m, _) = golden("v2s2-gzip.json");
    let p = plan(f, &m, &LAYOUT, &PlanOptions::default()).unwrap();
    let layers = m
        .layers
        .iter()
        .zip(&p.layers)
        .map(|(l, lp)| Descriptor {
            media_type: lp.media_type.clone(),
            ..l.clone()
        })
        .collect();
    let out = rewrite_manifest(&m, p.format, layers).unwrap();
    let (_, _, want) = golden("v2s2-gzip.as-oci.json");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(want).unwrap().trim_end()
    );
}

#[test]
fn a_blob_that_is_not_a_tar_layer_passes_only_where_nothing_changes_it() {
    let (f, mut m, _) = golden("oci-gzip.json");
    m.layers[0].media_type = "application/vnd.in-toto+json".into();
    let p = plan(f, &m, &LAYOUT, &PlanOptions::default()).unwrap();
    assert_eq!(p.layers[0].action, LayerAction::Keep);
    assert_eq!(p.layers[0].media_type, "application/vnd.in-toto+json");
    assert!(!p.rewrite);
    let refused =
        |caps: &DestCaps, opts: PlanOptions| plan(f, &m, caps, &opts).unwrap_err().to_string();
    let e = refused(&ARCHIVE, PlanOptions::default());
    assert!(
        e.contains("layer 1") && e.contains("not a tar layer"),
        "{e}"
    );
    let v2s2 = PlanOptions {
        format: Some(Format::V2s2),
        ..Default::default()
    };
    let e = refused(&REGISTRY, v2s2);
    assert!(e.contains("Docker v2s2 describes only tar layers"), "{e}");
    let zstd = PlanOptions {
        compress: Some(Compression::Zstd),
        ..Default::default()
    };
    assert!(refused(&LAYOUT, zstd).contains("--dest-compress-format"));
}
