//! Parallel gzip compression. The input is cut into 1 MiB blocks, compressed on a shared
//! pool of worker threads and written in order, in one of two styles:
//!
//! - [`GzipStyle::Members`] (the default): each block becomes a complete gzip member,
//!   compressed by libdeflate. RFC 1952 defines a gzip file as a series of members, and every
//!   reader of image layers reads them all: Go's `compress/gzip` (docker, containerd, podman,
//!   skopeo, umoci, crane), klauspost/pgzip, zlib's `gunzip`, pigz, Python and Java. eStargz
//!   layers are multi-member gzip too, so registries and runtimes already meet them. libdeflate
//!   at level 1 compresses as well as skopeo's default (48.0% of a 350 MB JDK layer, the same
//!   as skopeo) for half the CPU of zlib at level 3, but it cannot continue a deflate
//!   stream across blocks, hence the members. A build with the `isal` feature compresses
//!   them with ISA-L's igzip instead (see `igzip.rs`), about twice as fast. A block whose
//!   sampled entropy says deflate cannot shrink it (jar members, compressed files) is
//!   written as a member of stored blocks instead (see `stored.rs`).
//! - [`GzipStyle::Single`] (`--single-member-gzip`): as pigz does, each block is deflated by
//!   zlib as a raw stream primed with the previous block's last 32 KiB, and the results are
//!   written behind one gzip header with a trailer whose CRC-32 is combined from the blocks'.
//!   This is one ordinary member, for readers that stop after the first one (Rust's
//!   `flate2::read::GzDecoder`, for one).
//!
//! Either way, the same input, style and level always give the same bytes, whatever the
//! number of threads.

mod block;
#[cfg(feature = "isal")]
mod igzip;
mod stored;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, OnceLock};

use flate2::Crc;

pub use crate::convert::GzipStyle;
use block::{deflate_job, member_job, Done};

/// Input bytes per block.
pub const BLOCK_SIZE: usize = 1 << 20;
/// Deflate's window: how much of the previous block primes the next.
const DICT_SIZE: usize = 32 * 1024;
/// gzip header: magic, deflate, no flags, no mtime, no extra flags, unknown OS (as flate2).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

type Job = Box<dyn FnOnce() + Send>;

/// The worker threads every encoder of the process shares: one per core, so that several
/// layers compressed at once do not oversubscribe the machine.
struct Pool {
    tx: Mutex<mpsc::Sender<Job>>,
    threads: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("oci-copy-gzip-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("a worker thread can start");
        }
        Pool {
            tx: Mutex::new(tx),
            threads,
        }
    })
}

/// A gzip encoder that compresses on the shared pool. Bytes written are cut into blocks;
/// at most as many blocks as the pool has threads are in flight per encoder, so memory
/// stays bounded (about 1.5 MiB per block in flight) whatever the size of the stream.
pub struct ParGzEncoder<W: Write> {
    out: Option<W>,
    style: GzipStyle,
    level: u32,
    /// The block being filled.
    block: Vec<u8>,
    /// The last bytes of the previous block: the next block's dictionary.
    dict: Vec<u8>,
    /// Blocks handed to the pool, oldest first.
    pending: VecDeque<Receiver<io::Result<Done>>>,
    spare: Vec<Vec<u8>>,
    /// Output buffers handed back, kept at their full length so that reuse costs nothing.
    spare_out: Vec<Vec<u8>>,
    crc: Crc,
    header_written: bool,
}

impl<W: Write> ParGzEncoder<W> {
    /// A gzip stream in `style` at `level` (1 fastest … 9 smallest) into `out`.
    pub fn new(out: W, style: GzipStyle, level: u32) -> Self {
        LIVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ParGzEncoder {
            out: Some(out),
            style,
            level: level.clamp(1, 9),
            block: Vec::with_capacity(BLOCK_SIZE),
            dict: Vec::new(),
            pending: VecDeque::new(),
            spare: Vec::new(),
            spare_out: Vec::new(),
            crc: Crc::new(),
            header_written: false,
        }
    }

    fn out(&mut self) -> &mut W {
        self.out.as_mut().expect("the encoder is not finished")
    }

    /// Hands the full block to the pool; `last` ends the deflate stream.
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        if self.pending.len() >= max_pending() {
            self.write_oldest()?;
        }
        let next = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BLOCK_SIZE));
        let input = std::mem::replace(&mut self.block, next);
        let (tx, rx) = mpsc::sync_channel(1);
        let level = self.level;
        let out = self.spare_out.pop().unwrap_or_default();
        let job: Job = match self.style {
            GzipStyle::Members => Box::new(move || member_job(level, input, out, tx)),
            GzipStyle::Single => {
                let dict = std::mem::take(&mut self.dict);
                self.dict = input[input.len().saturating_sub(DICT_SIZE)..].to_vec();
                Box::new(move || deflate_job(level, dict, input, out, last, tx))
            }
        };
        pool()
            .tx
            .lock()
            .map_err(|_| io::Error::other("the compression pool is gone"))?
            .send(job)
            .map_err(|_| io::Error::other("the compression pool is gone"))?;
        self.pending.push_back(rx);
        Ok(())
    }

    /// Waits for the oldest block in flight and writes it.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let done = rx
            .recv()
            .map_err(|_| io::Error::other("a compression worker stopped"))??;
        if !self.header_written && self.style == GzipStyle::Single {
            self.out().write_all(&HEADER)?;
            self.header_written = true;
        }
        self.out().write_all(&done.deflated[..done.len])?;
        self.spare_out.push(done.deflated);
        if let Some(crc) = &done.crc {
            self.crc.combine(crc);
        }
        let mut input = done.input;
        input.clear();
        self.spare.push(input);
        Ok(())
    }

    /// Compresses what is left, writes the trailer and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        let mut out = self.out.take().expect("finish is called once");
        if self.style == GzipStyle::Single {
            let (crc, len) = (self.crc.sum(), self.crc.amount());
            out.write_all(&crc.to_le_bytes())?;
            out.write_all(&len.to_le_bytes())?;
        }
        Ok(out)
    }
}

/// Encoders alive in the process (layers being compressed at once).
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many blocks one encoder may have in flight: twice the threads when one or two
/// layers are compressed at once, so that a worker that finishes a block finds the next
/// one queued; fewer, down to one per thread, when more layers share the pool, so that
/// the blocks in flight (about 1.5 MiB each) stay about 4 per thread whatever `--jobs` is.
fn max_pending() -> usize {
    let threads = pool().threads;
    let live = LIVE.load(std::sync::atomic::Ordering::Relaxed).max(1);
    (4 * threads / live).clamp(threads, 2 * threads)
}

impl<W: Write> Drop for ParGzEncoder<W> {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl<W: Write> Write for ParGzEncoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full block is sent only once more data arrives, so that the last block is the
        // one that ends the stream.
        if self.block.len() == BLOCK_SIZE {
            self.dispatch(false)?;
        }
        let n = data.len().min(BLOCK_SIZE - self.block.len());
        self.block.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: text-like runs with a changing pattern.
        let mut x: u32 = 12345;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                if i % 7 == 0 {
                    (x >> 24) as u8
                } else {
                    b"the quick brown fox "[i % 20]
                }
            })
            .collect()
    }

    fn gzip_with(style: GzipStyle, level: u32, data: &[u8], chunk: usize) -> Vec<u8> {
        let mut e = ParGzEncoder::new(Vec::new(), style, level);
        for c in data.chunks(chunk.max(1)) {
            e.write_all(c).unwrap();
        }
        e.finish().unwrap()
    }

    fn gzip(style: GzipStyle, data: &[u8], chunk: usize) -> Vec<u8> {
        gzip_with(style, 6, data, chunk)
    }

    /// Every member, as flate2's multi-member reader sees them.
    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// The first member only, as a single-member reader sees it.
    fn gunzip_first(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn round_trips_at_every_block_boundary() {
        for len in [
            0,
            1,
            DICT_SIZE,
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            3 * BLOCK_SIZE + 777,
        ] {
            let data = sample(len);
            for style in [GzipStyle::Members, GzipStyle::Single] {
                let gz = gzip(style, &data, 100_000);
                assert_eq!(gunzip(&gz), data, "length {len}, {style:?}");
                assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "length {len}, {style:?}");
            }
        }
    }

    #[test]
    fn single_is_one_member_and_members_are_one_per_block() {
        let data = sample(3 * BLOCK_SIZE + 777);
        // A reader that stops after the first member gets everything from Single...
        assert_eq!(gunzip_first(&gzip(GzipStyle::Single, &data, 1 << 16)), data);
        // ...and one block from Members, each of whose members is a complete gzip file.
        let members = gzip(GzipStyle::Members, &data, 1 << 16);
        assert_eq!(gunzip_first(&members), &data[..BLOCK_SIZE]);
        let mut rest = &members[..];
        let mut count = 0;
        while !rest.is_empty() {
            let mut d = flate2::bufread::GzDecoder::new(rest);
            let mut block = Vec::new();
            d.read_to_end(&mut block).unwrap();
            let start = count * BLOCK_SIZE;
            assert_eq!(block, &data[start..(start + BLOCK_SIZE).min(data.len())]);
            rest = d.into_inner();
            count += 1;
        }
        assert_eq!(count, 4);
    }

    #[test]
    fn output_does_not_depend_on_write_sizes() {
        let data = sample(2 * BLOCK_SIZE + 5000);
        for style in [GzipStyle::Members, GzipStyle::Single] {
            assert_eq!(gzip(style, &data, 1 << 16), gzip(style, &data, 4097));
        }
    }

    #[test]
    fn levels_trade_size_for_time() {
        let data = sample(BLOCK_SIZE);
        for style in [GzipStyle::Members, GzipStyle::Single] {
            let fast = gzip_with(style, 1, &data, 1 << 16);
            let small = gzip_with(style, 9, &data, 1 << 16);
            assert_eq!(gunzip(&small), data);
            assert!(
                small.len() < fast.len(),
                "{style:?}: {} vs {}",
                small.len(),
                fast.len()
            );
        }
    }

    #[test]
    fn the_ratio_is_that_of_one_stream() {
        // Repeats across block boundaries are found through the dictionary.
        let unit = sample(20_000);
        let data: Vec<u8> = unit.iter().cycle().take(4 * BLOCK_SIZE).copied().collect();
        let par = gzip(GzipStyle::Single, &data, 1 << 16);
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        one.write_all(&data).unwrap();
        let one = one.finish().unwrap();
        assert!(
            par.len() < one.len() + one.len() / 20 + 1024,
            "{} vs {}",
            par.len(),
            one.len()
        );
    }
}
