//! Mutation testing of the parsers, in place of a `cargo fuzz` target (which needs a nightly
//! toolchain this project does not have): every manifest, config, index and archive in
//! `testdata/` is corrupted thousands of ways by a seeded generator (flipped bytes, cuts,
//! insertions, repeated spans), and each corruption must give an answer — a value or an
//! error — never a panic or a hang. The seed is fixed, so a failure reproduces.

use std::io::Read;
use std::path::Path;

use oci_copy::copy::load_image;
use oci_copy::manifest::{guess_media_type, parse, ImageConfig};
use oci_copy::transport::docker_archive::DockerArchiveSource;
use oci_copy::transport::{oci_archive, ImageSource};

use crate::support::{tempdir, testdata};

/// xorshift64*: small, deterministic, good enough to pick positions and bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One corruption of `input`.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len());
        match rng.below(6) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.below(8),
            1 if !v.is_empty() => {
                const SPICY: &[u8] = b"{}[]\":,0-9eE\\\0\xff";
                v[at] = SPICY[rng.below(SPICY.len())];
            }
            2 => v.truncate(at),
            3 => v.insert(at, rng.next() as u8),
            4 if !v.is_empty() => {
                let end = (at + rng.below(64)).min(v.len());
                let span = v[at..end].to_vec();
                v.splice(at..at, span);
            }
            _ if v.len() > at + 512 => {
                // A whole tar block: headers live on 512-byte boundaries.
                let block = at / 512 * 512;
                for b in &mut v[block..block + 512] {
                    *b = rng.next() as u8;
                }
            }
            _ => {}
        }
    }
    v
}

fn blobs_of(layout: &str) -> Vec<Vec<u8>> {
    let dir = testdata(layout).join("blobs/sha256");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .filter(|b| b.first() == Some(&b'{'))
        .collect();
    out.push(std::fs::read(testdata(&format!("{layout}/index.json"))).unwrap());
    out
}

#[test]
fn json_parsers_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seeds = blobs_of("oci-layout");
    seeds.extend(blobs_of("oci-index"));
    for entry in std::fs::read_dir(testdata("golden")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            seeds.push(std::fs::read(p).unwrap());
        }
    }
    let types = [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ];
    let mut refused = 0;
    for seed in &seeds {
        for _ in 0..1500 {
            let bad = mutate(&mut rng, seed);
            let _ = guess_media_type(&bad);
            for t in types {
                refused += usize::from(parse(&bad, t).is_err());
            }
            let _ = ImageConfig::parse(&bad);
        }
    }
    assert!(
        refused > 0,
        "the corruptions must be refused at least sometimes"
    );
}

/// Opens a mutated archive with `open` and reads everything the image reaches.
fn exercise(file: &Path, open: &dyn Fn(&Path) -> anyhow::Result<Box<dyn ImageSource>>) -> bool {
    let Ok(src) = open(file) else { return false };
    let Ok(img) = load_image(src.as_ref(), None) else {
        return false;
    };
    for layer in &img.manifest.layers {
        if let Ok(mut r) = src.blob(layer) {
            let mut sink = Vec::new();
            let _ = r.by_ref().take(1 << 20).read_to_end(&mut sink);
        }
    }
    true
}

#[test]
fn archive_readers_never_panic_or_hang() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let tmp = tempdir();
    let file = tmp.path().join("mutated.tar");
    let docker: &dyn Fn(&Path) -> anyhow::Result<Box<dyn ImageSource>> =
        &|p| Ok(Box::new(DockerArchiveSource::open(p, None)?));
    let oci: &dyn Fn(&Path) -> anyhow::Result<Box<dyn ImageSource>> =
        &|p| Ok(Box::new(oci_archive::open_source(p, None)?));
    let cases = [
        ("docker-legacy.tar", docker),
        ("docker25.tar", docker),
        ("docker-legacy.tar.gz", docker),
        ("oci-archive.tar", oci),
    ];
    let start = std::time::Instant::now();
    for (name, open) in cases {
        let seed = std::fs::read(testdata(name)).unwrap();
        assert!(exercise(&testdata(name), open), "{name} itself must open");
        let mut opened = 0;
        for _ in 0..500 {
            std::fs::write(&file, mutate(&mut rng, &seed)).unwrap();
            opened += usize::from(exercise(&file, open));
        }
        assert!(opened < 500, "{name}: some corruptions must be refused");
    }
    // Not a timing assertion on speed: a guard against a reader that loops forever.
    assert!(start.elapsed().as_secs() < 120, "the readers must not hang");
}
