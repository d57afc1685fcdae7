//! `inspect --format TEMPLATE`: the field lookups of a Go template print what `skopeo
//! inspect --format` prints for the same image, byte for byte; everything else a Go
//! template can do is refused before the image is read.

use crate::support::judges::skopeo;
use crate::support::{assert_failure, assert_success, assert_usage_error, describe, oci_copy};
use crate::support::{p, testdata};

/// Templates skopeo 1.9 evaluates as oci-copy does.
const TEMPLATES: &[&str] = &[
    "{{.Digest}}",
    "{{ .Os }}/{{.Architecture}}",
    "digest={{.Digest}} created={{.Created}}\\n",
    "{{.Labels}}",
    "{{.Labels.nope}}",
    "{{index .Labels \"org.example.name\"}}",
    "{{.Layers}}",
    "{{.Env}}",
    "{{.RepoTags}}",
    "{{.DockerVersion}}|{{.Created}}",
];

fn images() -> Vec<String> {
    vec![
        format!("oci:{}:latest", p(&testdata("oci-layout"))),
        format!("oci:{}:multi", p(&testdata("oci-index"))),
        format!("docker-archive:{}", p(&testdata("docker-legacy.tar"))),
        format!("docker-archive:{}:tool:3", p(&testdata("docker-multi.tar"))),
    ]
}

#[test]
fn field_lookups_print_what_skopeo_prints() {
    for image in images() {
        // A docker-archive's manifest is synthesised, and skopeo's differs (see README).
        let synthesised = image.starts_with("docker-archive:");
        for t in TEMPLATES
            .iter()
            .filter(|t| !(synthesised && t.contains("Digest")))
        {
            let ours = oci_copy(["inspect", "--format", t, &image]);
            assert_success(&ours);
            let theirs = skopeo(&["inspect", "--format", t, &image]);
            assert!(theirs.status.success(), "{}", describe(&theirs));
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&theirs.stdout),
                "{t} on {image}"
            );
        }
    }
}

#[test]
fn a_label_and_the_digest_come_out_as_text() {
    let image = format!("oci:{}:latest", p(&testdata("oci-layout")));
    let out = oci_copy(["inspect", "-f", "{{.Labels.version}}:{{.Digest}}", &image]);
    assert_success(&out);
    let digest = "sha256:e56b88a81c6e21fbde1a63ed5284a3fe183af19f84d1b231ce51960e2f5fa796";
    assert_eq!(out.stdout, format!("<no value>:{digest}\n").as_bytes());
    let out = oci_copy(["inspect", "-f", "{{.LayersData}}", &image]);
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("[{application/vnd.oci.image.layer.v1.tar+gzip sha256:"),
        "{text}"
    );
}

#[test]
fn anything_but_a_field_lookup_is_refused_before_reading() {
    // The source does not exist: the template is refused first.
    let missing = "oci:/nonexistent/layout:x";
    for (t, want) in [
        (
            "{{.Nope}}",
            "no field Nope (the fields are Name, Tag, Digest",
        ),
        ("{{json .Labels}}", "is not a field lookup"),
        ("{{range .Layers}}{{.}}{{end}}", "is not a field lookup"),
        ("{{.Digest | printf \"%s\"}}", "is not a field lookup"),
        ("{{.Layers.x}}", "Layers has no field x"),
        ("{{.Digest", "is not closed"),
    ] {
        let out = oci_copy(["inspect", "--format", t, missing]);
        let line = assert_failure(&out, 1, &["--format", want]);
        assert!(!line.contains("nonexistent"), "{line}");
    }
    let out = oci_copy(["inspect", "--raw", "--format", "{{.Digest}}", missing]);
    assert_usage_error(&out);
}
