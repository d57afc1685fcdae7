//! Unit tests of the archive written entry by entry: commit order, abandoned entries, long
//! names, waiting turns, and a dropped archive.

use super::*;
use std::io::Read;

fn entries(file: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(File::open(file).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
fn entries_are_written_in_commit_order_and_abandoned_ones_vanish() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.tar");
    let tar = TarStream::create(&dest).unwrap().expect("a regular file");
    let mut w = tar.begin(None).unwrap();
    w.write_all(&[7u8; 1000]).unwrap();
    w.finish("blobs/sha256/aa").unwrap();
    // A failed blob: written, then dropped.
    let mut w = tar.begin(None).unwrap();
    w.write_all(&[9u8; 5000]).unwrap();
    drop(w);
    tar.put("index.json", b"{}").unwrap();
    assert!(tar.contains("blobs/sha256/aa"));
    assert!(
        !dest.exists(),
        "nothing is at the destination before finish"
    );
    tar.finish().unwrap();
    let got = entries(&dest);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["blobs/", "blobs/sha256/", "blobs/sha256/aa", "index.json"]
    );
    assert_eq!(got[2].1, vec![7u8; 1000]);
    assert_eq!(got[3].1, b"{}");
    // Headers (4 × 512), 1000 bytes padded to 1024, "{}" padded to 512, end blocks.
    let len = std::fs::metadata(&dest).unwrap().len();
    assert_eq!(len, 4 * 512 + 1024 + 512 + 1024);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the archive is left");
}

#[test]
fn long_names_get_pax_headers_whether_or_not_they_were_known_in_advance() {
    use crate::digest::{Algorithm, Digest};
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.tar");
    let tar = TarStream::create(&dest).unwrap().unwrap();
    let long = |b: &[u8]| Digest::of(Algorithm::Sha512, b).blob_path();
    let short = Digest::of(Algorithm::Sha256, b"c").blob_path();
    // Unknown at first: the data moves forward to make room for the PAX header.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = tar.begin(None).unwrap();
    w.write_all(&data).unwrap();
    w.finish(&long(b"a")).unwrap();
    // Known: the room is left in advance.
    let mut w = tar.begin(Some(&long(b"b"))).unwrap();
    w.write_all(b"bb").unwrap();
    w.finish(&long(b"b")).unwrap();
    // Room for a long name that turns out short: the data moves back.
    let mut w = tar.begin(Some(&long(b"c"))).unwrap();
    w.write_all(b"ccc").unwrap();
    w.finish(&short).unwrap();
    tar.finish().unwrap();
    let got = entries(&dest);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[2..], [long(b"a"), long(b"b"), short.clone()]);
    assert!(got[2].1 == data, "the moved data is intact");
    assert_eq!(got[3].1, b"bb");
    assert_eq!(got[4].1, b"ccc");
    // Three blocks of headers for each long name, one for the short one.
    let data_blocks = data.len().div_ceil(512) + 1 + 1;
    let len = std::fs::metadata(&dest).unwrap().len() as usize;
    assert_eq!(len, (2 + 3 + 3 + 1 + data_blocks + 2) * 512);
}

#[test]
fn a_second_entry_waits_for_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.tar");
    let tar = TarStream::create(&dest).unwrap().unwrap();
    std::thread::scope(|s| {
        let mut first = tar.begin(None).unwrap();
        let second = s.spawn(|| tar.put("second", b"2"));
        std::thread::sleep(std::time::Duration::from_millis(50));
        first.write_all(b"1").unwrap();
        first.finish("first").unwrap();
        second.join().unwrap().unwrap();
    });
    tar.finish().unwrap();
    let names: Vec<String> = entries(&dest).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[2..], ["first", "second"]);
}

#[test]
fn dropping_an_unfinished_archive_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.tar");
    std::fs::write(&dest, b"previous").unwrap();
    {
        let tar = TarStream::create(&dest).unwrap().unwrap();
        tar.put("a", b"a").unwrap();
    }
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
