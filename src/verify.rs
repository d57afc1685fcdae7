//! The verifying reader: the one place where a blob's bytes are checked against the
//! descriptor that names them. It counts and hashes while it streams, refuses to read past
//! the declared size (so a lying source cannot make a copy read forever), and reports a
//! size or digest mismatch when the stream ends.

use std::io::{self, Read};

use crate::digest::{Algorithm, Digest, Hasher};

/// Why a blob failed verification. Carried inside `io::Error` through decoders, and turned
/// back into this type by [`VerifyError::find`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("digest mismatch: expected {expected}, got {actual}")]
    Digest { expected: Digest, actual: Digest },
    #[error("size mismatch: the descriptor says {expected} bytes, but there are more")]
    TooLong { expected: u64 },
    #[error(
        "size mismatch: the descriptor says {expected} bytes, but the blob ended after {actual}"
    )]
    TooShort { expected: u64, actual: u64 },
}

impl VerifyError {
    /// Finds a verification failure inside an error chain.
    pub fn find(e: &anyhow::Error) -> Option<&VerifyError> {
        e.chain().find_map(|c| {
            c.downcast_ref::<VerifyError>().or_else(|| {
                c.downcast_ref::<io::Error>()?
                    .get_ref()?
                    .downcast_ref::<VerifyError>()
            })
        })
    }
}

fn io_err(e: VerifyError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Wraps a source stream; yields at most `expected_size` bytes and fails at the end of the
/// stream unless both the size and the digest match.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    expected_size: u64,
    read: u64,
    verified: bool,
    /// Set once the check failed; every later read repeats the failure.
    failed: Option<VerifyError>,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: &Digest, expected_size: u64) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(expected.algorithm().hasher()),
            expected: expected.clone(),
            expected_size,
            read: 0,
            verified: false,
            failed: None,
        }
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.read
    }

    /// Reads whatever is left (a decoder may stop before the end of its input) and checks
    /// the blob. Must be called before trusting the data.
    pub fn finish(mut self) -> io::Result<()> {
        io::copy(&mut self, &mut io::sink())?;
        if self.verified {
            Ok(())
        } else {
            Err(io::Error::other("internal error: blob not verified"))
        }
    }

    fn check_end(&mut self) -> io::Result<()> {
        let result = self.end_result();
        match result {
            Ok(()) => self.verified = true,
            Err(ref e) => self.failed = Some(e.clone()),
        }
        result.map_err(io_err)
    }

    fn end_result(&mut self) -> Result<(), VerifyError> {
        if self.read != self.expected_size {
            return Err(VerifyError::TooShort {
                expected: self.expected_size,
                actual: self.read,
            });
        }
        let actual = self
            .hasher
            .take()
            .expect("the end is checked once")
            .finish();
        if actual != self.expected {
            return Err(VerifyError::Digest {
                expected: self.expected.clone(),
                actual,
            });
        }
        Ok(())
    }

    fn fail(&mut self, e: VerifyError) -> io::Error {
        self.failed = Some(e.clone());
        io_err(e)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io_err(e.clone()));
        }
        if self.verified || buf.is_empty() {
            return Ok(0);
        }
        let n = if self.read == self.expected_size {
            // Probe for extra bytes beyond the declared size.
            let mut probe = [0u8; 1];
            match self.inner.read(&mut probe)? {
                0 => 0,
                _ => {
                    return Err(self.fail(VerifyError::TooLong {
                        expected: self.expected_size,
                    }))
                }
            }
        } else {
            let room = (self.expected_size - self.read).min(buf.len() as u64) as usize;
            self.inner.read(&mut buf[..room])?
        };
        if n == 0 {
            self.check_end()?;
            return Ok(0);
        }
        self.hasher
            .as_mut()
            .expect("hasher present until the end")
            .update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Hashes and counts what passes through it, for the output side of a transformation.
pub struct HashingReader<R> {
    inner: R,
    /// `None` when the caller knows the digest already (see [`HashingReader::counting`]).
    hasher: Option<Hasher>,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Hashes with sha256.
    pub fn new(inner: R) -> Self {
        HashingReader::with_algorithm(inner, Algorithm::Sha256)
    }

    /// Hashes with `algorithm`: that of the digest the result is compared with (a diff_id
    /// may be sha512).
    pub fn with_algorithm(inner: R, algorithm: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: Some(algorithm.hasher()),
            count: 0,
        }
    }

    /// Only counts: for bytes that are hashed elsewhere already, so that every byte is
    /// hashed once. [`HashingReader::finish`] must not be called; use `finish_counting`.
    pub fn counting(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: None,
            count: 0,
        }
    }

    pub fn finish(self) -> (Digest, u64, R) {
        let (d, n, r) = self.finish_counting();
        (d.expect("a hashing reader, not a counting one"), n, r)
    }

    /// The digest (`None` for a counting reader), the count and the inner reader.
    pub fn finish_counting(self) -> (Option<Digest>, u64, R) {
        (self.hasher.map(Hasher::finish), self.count, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes and counts what is written through it.
pub struct HashingWriter<W> {
    inner: W,
    /// `None` when the caller knows the digest already (see [`HashingWriter::counting`]).
    hasher: Option<Hasher>,
    count: u64,
}

impl<W: io::Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Some(Algorithm::Sha256.hasher()),
            count: 0,
        }
    }

    /// Only counts, for bytes that are hashed elsewhere already.
    pub fn counting(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: None,
            count: 0,
        }
    }

    /// The digest (`None` for a counting writer), the count and the inner writer.
    pub fn finish(self) -> (Option<Digest>, u64, W) {
        (self.hasher.map(Hasher::finish), self.count, self.inner)
    }
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], d: &Digest, size: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        VerifyingReader::new(data, d, size).read_to_end(&mut out)?;
        Ok(out)
    }

    fn verify_err(e: io::Error) -> VerifyError {
        e.get_ref()
            .and_then(|e| e.downcast_ref::<VerifyError>())
            .cloned()
            .expect("a VerifyError")
    }

    #[test]
    fn passes_good_blobs() {
        let d = Digest::sha256_of(b"hello");
        assert_eq!(read_all(b"hello", &d, 5).unwrap(), b"hello");
    }

    #[test]
    fn catches_tampering_and_lies_about_size() {
        let d = Digest::sha256_of(b"hello");
        let e = verify_err(read_all(b"hellO", &d, 5).unwrap_err());
        assert!(matches!(e, VerifyError::Digest { .. }));
        assert!(e.to_string().contains(&d.to_string()));
        assert_eq!(
            verify_err(read_all(b"hello!", &d, 5).unwrap_err()),
            VerifyError::TooLong { expected: 5 }
        );
        assert_eq!(
            verify_err(read_all(b"hell", &d, 5).unwrap_err()),
            VerifyError::TooShort {
                expected: 5,
                actual: 4
            }
        );
    }

    #[test]
    fn a_failure_repeats_instead_of_panicking() {
        let d = Digest::sha256_of(b"hello");
        let mut r = VerifyingReader::new(&b"hellx"[..], &d, 5);
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
        assert!(r.read(&mut [0u8; 4]).is_err());
        assert!(r.finish().is_err());
    }

    #[test]
    fn hashing_reader_hashes_in_the_algorithm_asked_for() {
        let mut r = HashingReader::with_algorithm(&b"abc"[..], Algorithm::Sha512);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.finish().0, Digest::of(Algorithm::Sha512, b"abc"));
    }

    #[test]
    fn finish_drains_and_checks() {
        let d = Digest::sha256_of(b"hello");
        let mut r = VerifyingReader::new(&b"hellx"[..], &d, 5);
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        assert!(r.finish().is_err());
    }
}
