//! Destination layouts that cannot be written into: a bad `index.json` (garbage, a
//! directory, an unknown digest algorithm), an `oci-layout` that is a directory or declares
//! an unknown version. Each is refused when the destination is opened, with one line naming
//! the layout and the reason, and the directory stays byte for byte as it was: no blob and
//! no temporary appear in it or beside it. An empty directory still becomes a new layout.

use std::path::{Path, PathBuf};

use crate::support::check::check_oci_layout;
use crate::support::fixtures::Fixture;
use crate::support::layout::empty_layout;
use crate::support::{assert_failure, assert_success, oci_copy, p, tempdir};

/// Every entry under `dir` (the directory itself excluded), with a file's bytes or `None`
/// for a directory, sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.expect("dir entry").path();
        if path.is_dir() {
            out.push((path.clone(), None));
            out.extend(tree(&path));
        } else {
            out.push((path.clone(), Some(std::fs::read(&path).expect("read file"))));
        }
    }
    out.sort();
    out
}

/// Makes a layout at `parent/dest` with `spoil`, copies the fixture into it, and checks the
/// copy is refused with exit 1 and one line holding the path and `needles`, and that nothing
/// in `parent` changed.
fn refused(spoil: impl FnOnce(&Path), needles: &[&str]) -> String {
    let tmp = tempdir();
    let dest = tmp.path().join("dest");
    empty_layout(&dest);
    spoil(&dest);
    let before = tree(tmp.path());
    let out = oci_copy([
        &Fixture::OciLayout.reference(),
        &format!("oci:{}:new", p(&dest)),
    ]);
    let line = assert_failure(&out, 1, &[&[p(&dest).as_str()], needles].concat());
    assert_eq!(tree(tmp.path()), before, "the refused destination changed");
    line
}

fn write(dest: &Path, name: &str, bytes: &str) {
    std::fs::write(dest.join(name), bytes).expect("write layout file");
}

fn make_dir(dest: &Path, name: &str) {
    let path = dest.join(name);
    let _ = std::fs::remove_file(&path);
    std::fs::create_dir(path).expect("create directory");
}

#[test]
fn a_destination_index_json_that_is_not_json_is_refused_before_any_blob() {
    let line = refused(
        |d| write(d, "index.json", "garbage{"),
        &["invalid index.json: expected value at line 1 column 1"],
    );
    assert!(
        line.contains("not a valid OCI layout to write into"),
        "{line}"
    );
}

#[test]
fn a_destination_index_json_that_is_a_directory_is_refused_before_any_blob() {
    refused(
        |d| make_dir(d, "index.json"),
        &["index.json is a directory, not a file"],
    );
}

#[test]
fn a_destination_index_entry_with_an_unknown_digest_algorithm_is_refused_before_any_blob() {
    let index = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"md5:d41d8cd98f00b204e9800998ecf8427e","size":2}]}"#;
    refused(
        |d| write(d, "index.json", index),
        &[r#"invalid index.json: unsupported digest algorithm "md5""#],
    );
}

#[test]
fn a_destination_oci_layout_that_is_a_directory_is_refused() {
    refused(
        |d| make_dir(d, "oci-layout"),
        &["oci-layout is a directory, not a file"],
    );
}

#[test]
fn a_destination_oci_layout_of_an_unknown_version_is_refused() {
    refused(
        |d| write(d, "oci-layout", r#"{"imageLayoutVersion":"2.0.0"}"#),
        &[r#"oci-layout declares imageLayoutVersion "2.0.0"; only 1.0.0 can be written into"#],
    );
    refused(
        |d| write(d, "oci-layout", r#"{"version":"1.0.0"}"#),
        &["oci-layout has no imageLayoutVersion"],
    );
    refused(
        |d| write(d, "oci-layout", "1.0.0\n"),
        &["oci-layout is not valid JSON"],
    );
}

#[test]
fn a_non_empty_directory_that_is_not_a_layout_is_refused() {
    refused(
        |d| {
            std::fs::remove_file(d.join("oci-layout")).expect("remove oci-layout");
        },
        &["exists, is not empty and is not an OCI layout (no oci-layout file)"],
    );
}

#[test]
fn an_empty_directory_and_a_layout_without_index_json_are_written_into() {
    let tmp = tempdir();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("create empty dir");
    let no_index = tmp.path().join("no-index");
    empty_layout(&no_index);
    std::fs::remove_file(no_index.join("index.json")).expect("remove index.json");
    for dest in [&empty, &no_index] {
        let out = oci_copy([
            &Fixture::OciLayout.reference(),
            &format!("oci:{}:new", p(dest)),
        ]);
        assert_success(&out);
        let got = check_oci_layout(dest);
        let want = Fixture::OciLayout.expected();
        assert_eq!(
            got.tagged("new").images[0].config_digest,
            want.config_digest
        );
    }
}
