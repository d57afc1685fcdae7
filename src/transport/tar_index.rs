//! Indexing a tar archive for [`TarTree`](super::tarball::TarTree): each entry's kind and
//! place in the file, read from its headers alone. Entries with unsafe names, sparse
//! entries, links that escape the archive and paths held twice with different contents are
//! refused here, and a header the tar reader cannot parse is named for what it means.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;

use anyhow::{bail, Context, Result};
use tar::EntryType;

use super::fs::safe_path;

#[derive(Debug, Clone)]
pub(super) enum Entry {
    File {
        offset: u64,
        size: u64,
    },
    /// A symbolic or hard link, resolved to the archive path it points at.
    Link(String),
    Dir,
}

/// Reads the headers of the tar `file` (its data is seeked past) into an index by safe
/// path.
pub(super) fn index_entries(file: &File) -> Result<HashMap<String, Entry>> {
    let len = file.metadata()?.len();
    if len < 512 {
        bail!("not a tar archive: only {len} bytes");
    }
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut entries = HashMap::new();
    // Which entry (counted from 1) first held each path, for messages about duplicates.
    let mut numbers = HashMap::new();
    let mut seen = 0usize;
    // Seeks past each entry's data instead of reading it: indexing a 700 MB archive reads
    // only its headers.
    let iter = archive.entries_with_seek().map_err(|e| not_a_tar(e, 0))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| not_a_tar(e, seen))?;
        let Some((path, kind)) = classify(&mut entry, len, seen)? else {
            continue;
        };
        seen += 1;
        match entries.get(&path) {
            None => {
                entries.insert(path.clone(), kind);
                numbers.insert(path, seen);
            }
            Some(first) => same_or_refuse(file, &path, first, &kind, (numbers[&path], seen))?,
        }
    }
    if entries.is_empty() {
        bail!("not a tar archive, or an empty one");
    }
    Ok(entries)
}

/// The safe path and kind of one entry of an archive of `len` bytes, after `seen` good
/// entries; `None` for what is no entry of its own (the `./` root, PAX extension headers).
fn classify<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    len: u64,
    seen: usize,
) -> Result<Option<(String, Entry)>> {
    let raw = entry
        .path()
        .map_err(|e| not_a_tar(e, seen))?
        .to_string_lossy()
        .into_owned();
    let kind = entry.header().entry_type();
    if (is_root(&raw) && kind == EntryType::Directory)
        || matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader)
    {
        // `tar -C dir -cf x.tar .` starts with `./`: the archive's own root.
        return Ok(None);
    }
    let path = safe_path(&raw).with_context(|| format!("archive entry {raw:?}"))?;
    if has_pax_sparse_map(entry)? {
        // GNU sparse formats 0.x/1.0 hide a sparse map in a regular entry's data:
        // reading it in place would return the map, not the file.
        bail!("archive entry {path} is a sparse file (PAX GNU.sparse headers), which is not supported");
    }
    let entry_kind = match kind {
        EntryType::Regular | EntryType::Continuous => {
            let (offset, size) = (entry.raw_file_position(), entry.size());
            if offset + size > len {
                bail!("the archive is truncated: entry {path} needs {} bytes past the end of the file", offset + size - len);
            }
            Entry::File { offset, size }
        }
        EntryType::Directory => Entry::Dir,
        EntryType::Symlink => Entry::Link(link_target(&path, entry, true)?),
        EntryType::Link => Entry::Link(link_target(&path, entry, false)?),
        EntryType::GNUSparse => {
            bail!("archive entry {path} is a sparse file, which is not supported")
        }
        other => bail!("archive entry {path} has unsupported type {other:?}"),
    };
    Ok(Some((path, entry_kind)))
}

/// A path the archive holds a second time. Readers disagree on which copy counts (Go's
/// readers, and so skopeo and docker, take the first; others the last), so the archive
/// would mean two things: refused unless both copies are the same.
fn same_or_refuse(
    file: &File,
    path: &str,
    first: &Entry,
    again: &Entry,
    n: (usize, usize),
) -> Result<()> {
    let same = match (first, again) {
        (Entry::Dir, Entry::Dir) => true,
        (Entry::Link(a), Entry::Link(b)) => a == b,
        (Entry::File { offset: a, size: n }, Entry::File { offset: b, size: m }) => {
            n == m && same_bytes(file, *a, *b, *n)?
        }
        _ => false,
    };
    if !same {
        bail!(
            "the archive holds {path} more than once, with different contents (entries {} and {}): \
             tools would disagree on which one counts",
            n.0,
            n.1
        );
    }
    Ok(())
}

/// Whether the `len` bytes at offsets `a` and `b` of `file` are equal.
fn same_bytes(file: &File, a: u64, b: u64, len: u64) -> Result<bool> {
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut done = 0;
    while done < len {
        let k = (len - done).min(x.len() as u64) as usize;
        file.read_exact_at(&mut x[..k], a + done)?;
        file.read_exact_at(&mut y[..k], b + done)?;
        if x[..k] != y[..k] {
            return Ok(false);
        }
        done += k as u64;
    }
    Ok(true)
}

/// Whether an entry name is the archive's root (`.`, `./`).
fn is_root(raw: &str) -> bool {
    raw.split('/').all(|c| c.is_empty() || c == ".")
}

/// Whether the entry's PAX headers describe a GNU sparse file.
fn has_pax_sparse_map<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<bool> {
    let Some(exts) = entry.pax_extensions().map_err(|e| not_a_tar(e, 1))? else {
        return Ok(false);
    };
    for ext in exts {
        if ext
            .map_err(|e| not_a_tar(e, 1))?
            .key_bytes()
            .starts_with(b"GNU.sparse.")
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The error for a header the tar reader could not parse, after `entries` good entries.
/// The reader's own message quotes header bytes and field names, which mean nothing to
/// the user: say what the file is instead.
fn not_a_tar(e: io::Error, entries: usize) -> anyhow::Error {
    match (entries, e.kind()) {
        (_, io::ErrorKind::UnexpectedEof) => {
            anyhow::anyhow!(
                "the archive is truncated: it ends inside a tar header after {entries} entries"
            )
        }
        (0, _) => anyhow::anyhow!("not a tar archive (its start is not a tar header)"),
        _ => {
            anyhow::anyhow!("not a valid tar archive: the header after entry {entries} is corrupt")
        }
    }
}

/// Resolves a link target to an archive path. Symlink targets are relative to the link's
/// directory; hard-link targets are archive paths. Targets outside the archive are refused.
fn link_target<R: Read>(path: &str, entry: &tar::Entry<'_, R>, symbolic: bool) -> Result<String> {
    let target = entry
        .link_name()
        .map_err(|e| not_a_tar(e, 1))?
        .ok_or_else(|| anyhow::anyhow!("archive entry {path} is a link without a target"))?;
    let target = target.to_string_lossy();
    let joined = if symbolic {
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        normalise_join(dir, &target)
    } else {
        Some(target.to_string())
    };
    match joined.map(|j| safe_path(&j)) {
        Some(Ok(p)) => Ok(p),
        _ => bail!("archive entry {path} links to {target:?}, outside the archive"),
    }
}

/// Joins a relative link target onto a directory, resolving `..` without leaving the root.
fn normalise_join(dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_stay_inside() {
        assert_eq!(
            normalise_join("a/b", "../c/layer.tar").as_deref(),
            Some("a/c/layer.tar")
        );
        assert_eq!(normalise_join("a", "../../etc/passwd"), None);
        assert_eq!(normalise_join("a", "/etc/passwd"), None);
    }
}
