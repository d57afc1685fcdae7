//! Reusable I/O buffers. Every blob copied needs a few buffers of a MiB or so; allocating
//! them per blob and freeing them when it is done, between the small allocations that live
//! on (descriptors, names, results), fragmented the allocator's heaps so that a copy of
//! 20,000 tiny layers grew to hundreds of MB. A [`Buffer`] goes back to a process-wide
//! pool when dropped and is handed out again: the process holds only as many buffers as
//! were ever in use at once, allocated once and zeroed once.

use std::io::{self, BufRead, Read};
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Spare buffers kept per size; more than that are freed (an unusual burst of jobs).
const MAX_SPARE: usize = 32;

/// Spare buffers by length. Only a few lengths are ever asked for (1 MiB, 512 KiB).
static SPARE: Mutex<Vec<(usize, Vec<Vec<u8>>)>> = Mutex::new(Vec::new());

/// A zero-initialised byte buffer of a fixed length, returned to the pool on drop.
pub struct Buffer {
    data: Vec<u8>,
}

/// A buffer of `len` bytes: a spare one if there is one (holding what its last user left
/// there), else a new one, zeroed.
pub fn take(len: usize) -> Buffer {
    let spare = lock()
        .iter_mut()
        .find(|(l, _)| *l == len)
        .and_then(|(_, v)| v.pop());
    Buffer {
        data: spare.unwrap_or_else(|| vec![0u8; len]),
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(usize, Vec<Vec<u8>>)>> {
    SPARE.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        let len = data.len();
        let mut spare = lock();
        let slot = match spare.iter().position(|(l, _)| *l == len) {
            Some(i) => &mut spare[i].1,
            None => {
                spare.push((len, Vec::new()));
                &mut spare.last_mut().expect("just pushed").1
            }
        };
        if slot.len() < MAX_SPARE {
            slot.push(data);
        }
    }
}

impl Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

/// A buffered reader over a pooled buffer: `std::io::BufReader` allocates its own each
/// time.
pub struct PooledBufReader<R> {
    inner: R,
    buf: Buffer,
    pos: usize,
    filled: usize,
}

impl<R: Read> PooledBufReader<R> {
    pub fn new(len: usize, inner: R) -> PooledBufReader<R> {
        PooledBufReader {
            inner,
            buf: take(len),
            pos: 0,
            filled: 0,
        }
    }
}

impl<R: Read> Read for PooledBufReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // A large read with nothing buffered goes straight through, as BufReader does.
        if self.pos == self.filled && out.len() >= self.buf.len() {
            return self.inner.read(out);
        }
        let n = self.fill_buf()?.read(out)?;
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for PooledBufReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            self.filled = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.filled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length no other test asks for, so that tests running at once do not share it.
    const ODD: usize = 12_345;

    #[test]
    fn a_dropped_buffer_is_handed_out_again() {
        let mut a = take(ODD);
        a[0] = 7;
        let addr = a.as_ptr();
        drop(a);
        let b = take(ODD);
        assert_eq!(b.as_ptr(), addr, "the same allocation comes back");
        assert_eq!(b.len(), ODD);
        let c = take(ODD);
        assert_ne!(c.as_ptr(), addr, "one in use is not handed out twice");
    }

    #[test]
    fn the_buffered_reader_passes_everything_through() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = PooledBufReader::new(ODD + 1, &data[..]);
        let mut out = Vec::new();
        let mut small = [0u8; 1000];
        let n = r.read(&mut small).unwrap();
        out.extend_from_slice(&small[..n]);
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
