//! Read-ahead on a helper thread, so that the two halves of a layer transformation use two
//! cores: the helper reads, verifies and decompresses the source while the calling thread
//! hashes, compresses and writes what came before. At most `DEPTH` blocks of `BLOCK`
//! bytes wait between them, so memory stays bounded whatever the size of the layer.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::buffers::{self, Buffer};

const BLOCK: usize = 512 * 1024;
const DEPTH: usize = 2;

/// A block read ahead: the first `len` bytes of a pooled buffer, which goes back to the
/// pool when the consumer is done with it.
struct Block {
    buf: Buffer,
    len: usize,
}

/// The consuming end: a reader over the blocks the helper thread read.
pub struct ReadAhead {
    rx: Receiver<io::Result<Block>>,
    block: Option<Block>,
    pos: usize,
    done: bool,
}

/// Runs `consume` with a reader that yields what `source` yields, read ahead on a scoped
/// helper thread. `source` is dropped (and its borrows end) before this returns.
pub fn scoped<R, T>(source: R, consume: impl FnOnce(&mut ReadAhead) -> T) -> T
where
    R: Read + Send,
{
    let (tx, rx) = sync_channel(DEPTH);
    std::thread::scope(|s| {
        s.spawn(move || produce(source, tx));
        let mut reader = ReadAhead {
            rx,
            block: None,
            pos: 0,
            done: false,
        };
        let result = consume(&mut reader);
        // Stops a helper that is still reading (the consumer failed), before the join.
        drop(reader);
        result
    })
}

fn produce<R: Read>(mut source: R, tx: SyncSender<io::Result<Block>>) {
    loop {
        let mut buf = buffers::take(BLOCK);
        let mut n = 0;
        let result = loop {
            match source.read(&mut buf[n..]) {
                Ok(0) => break Ok(()),
                Ok(k) => {
                    n += k;
                    if n == BLOCK {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let end = n < BLOCK;
        if n > 0 && tx.send(Ok(Block { buf, len: n })).is_err() {
            return; // the consumer stopped
        }
        match result {
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
            Ok(()) if end => return,
            Ok(()) => {}
        }
    }
}

impl ReadAhead {
    /// The unread part of the current block.
    fn available(&self) -> &[u8] {
        match &self.block {
            Some(b) => &b.buf[self.pos..b.len],
            None => &[],
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.available().is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(block)) => {
                    // The block read before goes back to the pool here.
                    self.block = Some(block);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        let n = buf.len().min(self.available().len());
        buf[..n].copy_from_slice(&self.available()[..n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_everything_through_in_order() {
        let data: Vec<u8> = (0..3 * BLOCK + 123).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = Vec::new();
        scoped(&data[..], |r| r.read_to_end(&mut out)).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn errors_arrive_after_the_bytes_before_them() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("boom"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(1);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut out = Vec::new();
        let e = scoped(Failing(BLOCK + 10), |r| r.read_to_end(&mut out)).unwrap_err();
        assert_eq!(e.to_string(), "boom");
        assert_eq!(out.len(), BLOCK + 10);
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_helper() {
        let data = vec![0u8; 20 * BLOCK];
        let mut first = [0u8; 10];
        scoped(&data[..], |r| r.read_exact(&mut first)).unwrap();
    }
}
