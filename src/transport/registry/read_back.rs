//! The read-back after a push: a push is done only when the registry can serve it. After
//! the top-level manifest PUT succeeded, every manifest pushed (by digest), the tag, and
//! every blob they reference are asked for with a HEAD, each on a new connection: each blob
//! [`ROUNDS`] times, the tag and each manifest no tag names [`MANIFEST_READS`] times and the
//! manifest the tag names [`ROUNDS`] times (each read of the tag reads it too), in rounds
//! (forward, backward, forward, ..., so that behind a round-robin balancer each object is
//! asked of more than one replica whatever the number of objects). HEADs
//! do not count against Docker Hub's pull limit. If any answer says an object is missing
//! or has another digest, the push fails with what was missing on which read, and the
//! likely cause: replicas behind a load balancer without shared storage or without the
//! same `http.secret`, or a storage backend that loses writes.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;

use super::client::RegistryClient;
use super::direct::{Answer, Object};
use crate::manifest::{parse, Descriptor, Parsed};

/// How many times each blob is asked for.
pub const ROUNDS: usize = 3;

/// How many times the tag is asked for: a balancer that picks replicas at random sends `n`
/// reads of an object stored on one of two replicas to that replica with a chance of 1 in
/// 2^n, and the tag is what every pull by tag starts with. A registry serves a tag from its
/// manifest (distribution reads the tag's link, then the manifest's revision link and its
/// bytes), so each read of the tag also reads the manifest on the replica that answers it:
/// that manifest by digest needs only the blobs' [`ROUNDS`] of its own. The instances of an
/// index, which no tag names, get these reads themselves.
pub const MANIFEST_READS: usize = 8;

/// How many times `o` of `all` is asked for.
fn reads_of(o: &Object, all: &[Object]) -> usize {
    let Some(_) = &o.media_type else {
        return ROUNDS;
    };
    let is_tag = |x: &Object| x.media_type.is_some() && !x.path.ends_with(&x.digest);
    let named_by_a_tag = !is_tag(o) && all.iter().any(|t| is_tag(t) && t.digest == o.digest);
    if named_by_a_tag {
        ROUNDS
    } else {
        MANIFEST_READS
    }
}

/// The objects a registry must serve: those a push wrote, or those a read was served, in
/// that order.
#[derive(Debug, Default)]
pub struct Objects {
    objects: Vec<Object>,
}

impl Objects {
    /// Records the manifest `desc` (pushed by digest, or under `tag`) and the blobs it
    /// references.
    pub fn manifest(&mut self, bytes: &[u8], desc: &Descriptor, tag: Option<&str>) {
        let digest = desc.digest.to_string();
        if let Ok(Parsed::Image(_, m)) = parse(bytes, &desc.media_type) {
            for b in std::iter::once(&m.config).chain(&m.layers) {
                self.blob(b);
            }
        }
        self.add(Object {
            what: format!("the manifest {digest}"),
            path: format!("manifests/{digest}"),
            digest: digest.clone(),
            size: desc.size,
            media_type: Some(desc.media_type.clone()),
        });
        if let Some(tag) = tag {
            self.add(Object {
                what: format!("the tag {tag}"),
                path: format!("manifests/{tag}"),
                digest,
                size: desc.size,
                media_type: Some(desc.media_type.clone()),
            });
        }
    }

    fn blob(&mut self, b: &Descriptor) {
        let digest = b.digest.to_string();
        self.add(Object {
            what: format!("the blob {digest}"),
            path: format!("blobs/{digest}"),
            digest,
            size: b.size,
            media_type: None,
        });
    }

    /// Whether a manifest has been recorded.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn add(&mut self, o: Object) {
        if !self.objects.iter().any(|x| x.path == o.path) {
            self.objects.push(o);
        }
    }
}

/// What the reads found wrong: by object, the answer of each read that was not
/// [`Answer::Present`] (reads numbered from 1).
#[derive(Debug)]
pub struct Inconsistent {
    pub registry: String,
    pub repository: String,
    pub wrong: Wrong,
}

impl std::error::Error for Inconsistent {}

/// Each object's answers that were not [`Answer::Present`], by index in `objects`: its
/// name, how many times it was asked for, and the wrong answers by read (from 1).
type Wrong = BTreeMap<usize, (String, usize, Vec<(usize, Answer)>)>;

/// Asks for every object [`reads_of`] times, each on a new connection, in rounds (forward,
/// backward, forward, ...); `scope` is the token scope to ask with (`pull`, or `pull,push`
/// after a push).
fn ask(client: &RegistryClient, objects: &Objects, scope: &str) -> Result<Wrong> {
    let mut wrong = Wrong::new();
    let n = objects.objects.len();
    for round in 0..MANIFEST_READS {
        let order: Vec<usize> = match round % 2 {
            0 => (0..n).collect(),
            _ => (0..n).rev().collect(),
        };
        for i in order {
            let o = &objects.objects[i];
            let reads = reads_of(o, &objects.objects);
            if round >= reads {
                continue;
            }
            let answer = client.head_fresh(o, scope)?;
            tracing::debug!("read {}/{reads}: {}: {answer:?}", round + 1, o.what);
            if answer != Answer::Present {
                let entry = wrong
                    .entry(i)
                    .or_insert_with(|| (o.what.clone(), reads, Vec::new()));
                entry.2.push((round + 1, answer));
            }
        }
    }
    Ok(wrong)
}

/// The blobs read back whole in this run, by (registry, repository, digest).
fn confirmed() -> &'static std::sync::Mutex<std::collections::HashSet<(String, String, String)>> {
    static DONE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<(String, String, String)>>,
    > = std::sync::OnceLock::new();
    DONE.get_or_init(Default::default)
}

/// Reads back every object a push wrote: an [`Inconsistent`] error when one is missing or
/// has another digest on any read.
/// A blob of a repository read back whole once in this run is not asked for again by a
/// later push to it (a sync pushes a base layer with every image of a repository).
pub fn check(client: &RegistryClient, pushed: &Objects, scope: &str) -> Result<()> {
    let (registry, repository) = client.names();
    let key = |o: &Object| {
        (
            registry.to_string(),
            repository.to_string(),
            o.digest.clone(),
        )
    };
    let asked = Objects {
        objects: pushed
            .objects
            .iter()
            .filter(|o| {
                o.media_type.is_some()
                    || !confirmed().lock().expect("not poisoned").contains(&key(o))
            })
            .cloned()
            .collect(),
    };
    let wrong = ask(client, &asked, scope)?;
    if wrong.is_empty() {
        let mut done = confirmed().lock().expect("not poisoned");
        for o in asked.objects.iter().filter(|o| o.media_type.is_none()) {
            done.insert(key(o));
        }
        let n = asked.objects.len();
        tracing::debug!("read-back: {n} objects, each served every time it was asked for");
        return Ok(());
    }
    Err(anyhow::Error::new(Inconsistent {
        registry: registry.to_string(),
        repository: repository.to_string(),
        wrong,
    }))
}

/// For `verify`: asks again for every object a read was served, and names each object whose
/// answers disagree (served on some reads, missing or another digest on others), one line
/// each. An object missing on every read is no disagreement: the read already failed on it.
pub fn disagreements(client: &RegistryClient, served: &Objects) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (what, asked, reads) in ask(client, served, "pull")?.values() {
        let missing_each_time =
            reads.len() == *asked && reads.iter().all(|(_, a)| *a == Answer::Missing);
        if !missing_each_time {
            out.push(format!(
                "{what}: {}, served on the others",
                phrases(reads, *asked)
            ));
        }
    }
    if !out.is_empty() {
        out.insert(0, inconsistency(client));
    }
    Ok(out)
}

/// The line that heads the objects the answers disagree on: what it means.
pub fn inconsistency(client: &RegistryClient) -> String {
    let (registry, repository) = client.names();
    format!(
        "inconsistent answers: the registry serves some objects on some reads only, the mark \
         of registry replicas behind a load balancer without shared storage or without the \
         same http.secret (`oci-copy probe docker://{registry}/{repository}` confirms the cause)"
    )
}

impl fmt::Display for Inconsistent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut some_served = false;
        for (what, asked, reads) in self.wrong.values() {
            some_served |= reads.len() < *asked;
            parts.push(format!("{what}: {}", phrases(reads, *asked)));
        }
        let differ = if some_served {
            "the answers differ from read to read, the mark of "
        } else {
            "the likely cause is "
        };
        write!(
            f,
            "registry {}, repository {}: the push was accepted, but reading it back found {}: {}; \
             {differ}registry replicas behind a load balancer without shared storage or without \
             the same http.secret, or a storage backend that loses writes (NFS); other clients \
             may not be able to pull this image; `oci-copy probe docker://{}/{}` confirms the \
             cause; --no-read-back skips this check for a registry known to be only eventually \
             consistent",
            self.registry,
            self.repository,
            problems(self.wrong.len()),
            parts.join("; "),
            self.registry,
            self.repository,
        )
    }
}

/// One phrase per distinct answer: `missing (404) on reads 1, 3 of 3`.
fn phrases(reads: &[(usize, Answer)], rounds: usize) -> String {
    let mut each: Vec<(String, Vec<String>)> = Vec::new();
    for (read, a) in reads {
        let how = match a {
            Answer::Present => "present".to_string(),
            Answer::Missing => "missing (404)".to_string(),
            Answer::OtherDigest(d) => format!("answered with another digest {d}"),
            Answer::OtherSize(s) => format!("answered with another size {s}"),
        };
        match each.iter_mut().find(|(h, _)| *h == how) {
            Some((_, rs)) => rs.push(read.to_string()),
            None => each.push((how, vec![read.to_string()])),
        }
    }
    let each: Vec<String> = each
        .into_iter()
        .map(|(how, rs)| {
            let reads = if rs.len() == 1 { "read" } else { "reads" };
            format!("{how} on {reads} {} of {rounds}", rs.join(", "))
        })
        .collect();
    each.join(", ")
}

fn problems(n: usize) -> String {
    match n {
        1 => "1 object it cannot serve".to_string(),
        n => format!("{n} objects it cannot serve"),
    }
}
