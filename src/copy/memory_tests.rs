//! Unit tests of the copy engine over the in-memory source and destination of `memory.rs`:
//! verbatim copies, conversion, manifest-type fallback, a destination that refuses every
//! type, index and platform selection, artifacts, a source that lies, and configs whose
//! diff_ids do not match the layers.

use super::copy_image;
use super::memory::{
    dest, index, layer_tar, opts, run, single, single_with, two_platforms, MemSource, BOTH, V2S2,
};
use crate::convert::LayerPolicy;
use crate::digest::Digest;
use crate::manifest::{Descriptor, Platform};
use crate::media_type::{self as mt, Format};

#[test]
fn a_verbatim_copy_keeps_the_manifest_bytes_and_every_blob() {
    let src = single("amd64");
    let held = run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &opts()).unwrap();
    let held = held.lock().unwrap();
    let (bytes, desc) = held.committed.clone().expect("committed");
    assert_eq!(bytes, src.top);
    assert_eq!(desc.media_type, mt::OCI_MANIFEST);
    for (d, b) in &src.blobs {
        if *d != desc.digest {
            assert_eq!(held.blobs.get(d), Some(b), "blob {d}");
        }
    }
}

#[test]
fn a_refused_manifest_type_falls_back_to_the_other_family() {
    let src = single("amd64");
    let dst = dest(BOTH, LayerPolicy::AsIs, &[mt::OCI_MANIFEST]);
    let held = run(&src, dst, &opts()).unwrap();
    let held = held.lock().unwrap();
    assert_eq!(held.offered, [mt::OCI_MANIFEST, mt::DOCKER_MANIFEST]);
    let (bytes, desc) = held.committed.clone().expect("committed");
    assert_eq!(desc.media_type, mt::DOCKER_MANIFEST);
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["layers"][0]["mediaType"], mt::DOCKER_LAYER_GZIP);
    assert_eq!(m["config"]["mediaType"], mt::DOCKER_CONFIG);
}

#[test]
fn a_destination_that_refuses_every_type_fails_naming_each() {
    let src = single("amd64");
    let dst = dest(
        BOTH,
        LayerPolicy::AsIs,
        &[mt::OCI_MANIFEST, mt::DOCKER_MANIFEST],
    );
    let e = format!("{:#}", run(&src, dst, &opts()).err().expect("refused"));
    assert!(
        e.contains("oci") && e.contains("v2s2") && e.contains("not accepted"),
        "{e}"
    );
}

#[test]
fn into_uncompressed_v2s2_layers_are_decompressed_to_their_diff_ids() {
    let src = single("arm64");
    let held = run(&src, dest(V2S2, LayerPolicy::Uncompressed, &[]), &opts()).unwrap();
    let held = held.lock().unwrap();
    let (bytes, _) = held.committed.clone().expect("committed");
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let layer: Digest = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    assert_eq!(layer, Digest::sha256_of(&layer_tar("hello from arm64\n")));
    assert_eq!(m["layers"][0]["mediaType"], mt::DOCKER_LAYER);
    assert!(held.blobs.contains_key(&layer));
}

#[test]
fn one_platform_of_an_index_is_chosen_and_never_the_attestation() {
    let (src, entries) = index();
    let mut o = opts();
    o.platforms = vec![Platform {
        os: "linux".into(),
        architecture: "arm64".into(),
        variant: Some("v8".into()),
        ..Default::default()
    }];
    let held = run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &o).unwrap();
    let (_, desc) = held.lock().unwrap().committed.clone().expect("committed");
    assert_eq!(desc.digest, entries[1].digest, "arm64/v8 finds arm64");
    o.platforms[0].architecture = "s390x".into();
    let e = format!(
        "{:#}",
        run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &o)
            .err()
            .unwrap()
    );
    assert!(
        e.contains("linux/amd64, linux/arm64, unknown/unknown (attestation)"),
        "{e}"
    );
}

#[test]
fn all_copies_the_index_with_its_attestation_keeping_its_digest() {
    let (src, entries) = index();
    let mut o = opts();
    o.all = true;
    let held = run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &o).unwrap();
    let held = held.lock().unwrap();
    let (bytes, _) = held.committed.clone().expect("committed");
    assert_eq!(bytes, src.top);
    for e in &entries {
        assert!(held.blobs.contains_key(&e.digest), "instance {}", e.digest);
    }
}

#[test]
fn an_artifact_is_copied_unchanged_and_never_converted() {
    let empty = b"{}".to_vec();
    let chart = b"a chart archive".to_vec();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "artifactType": "application/vnd.cncf.helm.chart.v1",
        "config": Descriptor::of_bytes("application/vnd.oci.empty.v1+json", &empty),
        "layers": [Descriptor::of_bytes("application/vnd.cncf.helm.chart.content.v1.tar+gzip", &chart)],
    })
    .to_string()
    .into_bytes();
    let src = MemSource {
        top: manifest.clone(),
        top_type: mt::OCI_MANIFEST.into(),
        blobs: [empty, chart]
            .into_iter()
            .map(|b| (Digest::sha256_of(&b), b))
            .collect(),
    };
    let held = run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &opts()).unwrap();
    assert_eq!(held.lock().unwrap().committed.clone().unwrap().0, manifest);
    let mut o = opts();
    o.plan.format = Some(Format::V2s2);
    let e = format!(
        "{:#}",
        run(&src, dest(BOTH, LayerPolicy::Compressed, &[]), &o)
            .err()
            .unwrap()
    );
    assert!(e.contains("artifact"), "{e}");
}

#[test]
fn a_source_blob_that_lies_is_never_committed() {
    let mut src = single("amd64");
    let layer = src
        .blobs
        .iter()
        .find(|(_, b)| b.starts_with(&[0x1f, 0x8b]))
        .map(|(d, _)| d.clone())
        .unwrap();
    src.blobs.get_mut(&layer).unwrap()[20] ^= 0xff;
    let dst = dest(BOTH, LayerPolicy::Compressed, &[]);
    let held = dst.held.clone();
    let e = format!(
        "{:#}",
        copy_image(&src, Box::new(dst), &opts()).err().unwrap()
    );
    assert!(e.contains("digest mismatch"), "{e}");
    let held = held.lock().unwrap();
    assert!(!held.blobs.contains_key(&layer) && held.committed.is_none());
}

#[test]
fn a_config_with_fewer_diff_ids_than_layers_is_refused_before_any_byte_moves() {
    let src = single_with("amd64", |c| c["rootfs"]["diff_ids"] = serde_json::json!([]));
    let dst = dest(BOTH, LayerPolicy::Compressed, &[]);
    let held = dst.held.clone();
    let e = copy_image(&src, Box::new(dst), &opts()).expect_err("refused");
    assert_eq!(
        format!("{e:#}"),
        "the manifest has 1 layers but the config has 0 diff_ids"
    );
    let held = held.lock().unwrap();
    assert!(held.blobs.is_empty() && held.committed.is_none());
}

#[test]
fn an_index_instance_with_more_diff_ids_than_layers_is_refused_by_name() {
    let (src, entries) = two_platforms(|arch, c| {
        if arch == "arm64" {
            let extra = Digest::sha256_of(b"no such layer").to_string();
            c["rootfs"]["diff_ids"]
                .as_array_mut()
                .unwrap()
                .push(extra.into());
        }
    });
    let mut o = opts();
    o.all = true;
    let dst = dest(BOTH, LayerPolicy::Compressed, &[]);
    let held = dst.held.clone();
    let e = copy_image(&src, Box::new(dst), &o).expect_err("refused");
    assert_eq!(
        format!("{e:#}"),
        format!(
            "index entry 2 (linux/arm64, {}): the manifest has 1 layers but the config has 2 \
             diff_ids",
            entries[1].digest
        )
    );
    assert!(held.lock().unwrap().committed.is_none());
}

#[test]
fn a_refused_index_type_falls_back_to_a_manifest_list_unless_the_format_is_fixed() {
    let (src, _) = two_platforms(|_, _| {});
    let mut o = opts();
    o.all = true;
    let held = run(&src, dest(BOTH, LayerPolicy::AsIs, &[mt::OCI_INDEX]), &o).unwrap();
    let held = held.lock().unwrap();
    assert_eq!(held.offered, [mt::OCI_INDEX, mt::DOCKER_LIST]);
    let (_, desc) = held.committed.clone().expect("committed");
    assert_eq!(desc.media_type, mt::DOCKER_LIST);
    o.plan.format = Some(Format::Oci);
    let dst = dest(BOTH, LayerPolicy::AsIs, &[mt::OCI_INDEX]);
    let held = dst.held.clone();
    let e = copy_image(&src, Box::new(dst), &o).expect_err("refused");
    assert_eq!(
        format!("{e:#}"),
        format!(
            "the destination refused every index type: oci rejected: {} is not accepted here",
            mt::OCI_INDEX
        )
    );
    assert_eq!(held.lock().unwrap().offered, [mt::OCI_INDEX]);
}

/// One image of three layers of `sizes` bytes (before gzip, of incompressible bytes).
fn three_layers(sizes: [usize; 3]) -> (MemSource, Vec<Descriptor>, Descriptor) {
    let mut blobs = std::collections::HashMap::new();
    let (mut layers, mut diff_ids) = (Vec::new(), Vec::new());
    for (i, n) in sizes.into_iter().enumerate() {
        let noise: String = (0..n)
            .map(|k| char::from(b'a' + ((k * 7 + i * 13) % 26) as u8))
            .collect();
        let plain = layer_tar(&noise);
        let gz = super::memory::gzip(&plain);
        diff_ids.push(Digest::sha256_of(&plain).to_string());
        layers.push(Descriptor::of_bytes(mt::OCI_LAYER_GZIP, &gz));
        blobs.insert(Digest::sha256_of(&gz), gz);
    }
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    .to_string()
    .into_bytes();
    let config_desc = Descriptor::of_bytes(mt::OCI_CONFIG, &config);
    blobs.insert(Digest::sha256_of(&config), config);
    let top = serde_json::json!({"schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "config": config_desc, "layers": layers})
    .to_string()
    .into_bytes();
    let src = MemSource {
        top,
        top_type: mt::OCI_MANIFEST.into(),
        blobs,
    };
    (src, layers, config_desc)
}

#[test]
fn with_jobs_the_largest_layers_start_first_and_with_one_job_in_manifest_order() {
    let (src, layers, config) = three_layers([2_000, 90_000, 30_000]);
    let layers_begun = |jobs: usize| -> Vec<Digest> {
        let held = run(&src, dest(BOTH, LayerPolicy::AsIs, &[]), &with_jobs(jobs)).unwrap();
        let begun = held.lock().unwrap().begun.clone();
        assert!(begun.contains(&config.digest), "the config is stored");
        begun.into_iter().filter(|d| *d != config.digest).collect()
    };
    // Two jobs: the two largest take the two workers first, the smallest comes last.
    let two = layers_begun(2);
    assert_eq!(two.len(), 3);
    let first_two: std::collections::HashSet<_> = two[..2].iter().cloned().collect();
    assert_eq!(
        first_two,
        [layers[1].digest.clone(), layers[2].digest.clone()]
            .into_iter()
            .collect()
    );
    assert_eq!(two[2], layers[0].digest);
    // One job: the config, then each layer in the manifest's order.
    let held = run(&src, dest(BOTH, LayerPolicy::AsIs, &[]), &with_jobs(1)).unwrap();
    let begun = held.lock().unwrap().begun.clone();
    let want: Vec<Digest> = std::iter::once(config.digest.clone())
        .chain(layers.iter().map(|l| l.digest.clone()))
        .collect();
    assert_eq!(begun, want);
}

fn with_jobs(jobs: usize) -> super::CopyOptions {
    super::CopyOptions { jobs, ..opts() }
}
