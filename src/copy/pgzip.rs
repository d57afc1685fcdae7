//! Parallel gzip compression, block by block as pigz does: the input is cut into 1 MiB
//! blocks, each block is deflated (raw, primed with the previous block's last 32 KiB as the
//! dictionary) on a shared pool of worker threads, and the results are written in order
//! behind one gzip header, ending with a trailer whose CRC-32 is combined from the blocks'.
//! The output is one ordinary gzip member that every gzip reader accepts, and the same input
//! and level always give the same bytes, whatever the number of threads.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, OnceLock};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

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

/// One compressed block, with its input buffer handed back for reuse.
struct Done {
    deflated: Vec<u8>,
    crc: Crc,
    input: Vec<u8>,
}

/// A gzip encoder that compresses on the shared pool. Bytes written are cut into blocks;
/// at most as many blocks as the pool has threads are in flight per encoder, so memory
/// stays bounded (about 1.5 MiB per block in flight) whatever the size of the stream.
pub struct ParGzEncoder<W: Write> {
    out: Option<W>,
    level: u32,
    /// The block being filled.
    block: Vec<u8>,
    /// The last bytes of the previous block: the next block's dictionary.
    dict: Vec<u8>,
    /// Blocks handed to the pool, oldest first.
    pending: VecDeque<Receiver<io::Result<Done>>>,
    max_pending: usize,
    spare: Vec<Vec<u8>>,
    crc: Crc,
    header_written: bool,
}

impl<W: Write> ParGzEncoder<W> {
    /// A gzip stream at `level` (1 fastest … 9 smallest) into `out`.
    pub fn new(out: W, level: u32) -> Self {
        ParGzEncoder {
            out: Some(out),
            level: level.clamp(1, 9),
            block: Vec::with_capacity(BLOCK_SIZE),
            dict: Vec::new(),
            pending: VecDeque::new(),
            max_pending: pool().threads,
            spare: Vec::new(),
            crc: Crc::new(),
            header_written: false,
        }
    }

    fn out(&mut self) -> &mut W {
        self.out.as_mut().expect("the encoder is not finished")
    }

    /// Hands the full block to the pool; `last` ends the deflate stream.
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        if self.pending.len() >= self.max_pending {
            self.write_oldest()?;
        }
        let next = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BLOCK_SIZE));
        let input = std::mem::replace(&mut self.block, next);
        let dict = std::mem::take(&mut self.dict);
        self.dict = input[input.len().saturating_sub(DICT_SIZE)..].to_vec();
        let (tx, rx) = mpsc::sync_channel(1);
        let level = self.level;
        let job: Job = Box::new(move || compress_job(level, dict, input, last, tx));
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
        if !self.header_written {
            self.out().write_all(&HEADER)?;
            self.header_written = true;
        }
        self.out().write_all(&done.deflated)?;
        self.crc.combine(&done.crc);
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
        let (crc, len) = (self.crc.sum(), self.crc.amount());
        let mut out = self.out.take().expect("finish is called once");
        out.write_all(&crc.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        Ok(out)
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

thread_local! {
    /// Each worker keeps its deflate state between blocks, per level.
    static DEFLATE: std::cell::RefCell<Option<(u32, Compress)>> = const { std::cell::RefCell::new(None) };
}

fn compress_job(
    level: u32,
    dict: Vec<u8>,
    input: Vec<u8>,
    last: bool,
    tx: SyncSender<io::Result<Done>>,
) {
    let result = DEFLATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let c = match &mut *cell {
            Some((l, c)) if *l == level => c,
            slot => {
                &mut slot
                    .insert((level, Compress::new(Compression::new(level), false)))
                    .1
            }
        };
        let mut deflated = Vec::with_capacity(input.len() / 2 + 1024);
        deflate_block(c, &dict, &input, last, &mut deflated)?;
        let mut crc = Crc::new();
        crc.update(&input);
        Ok(Done {
            deflated,
            crc,
            input,
        })
    });
    // The encoder may have been dropped (the copy failed): nobody wants the result.
    let _ = tx.send(result);
}

/// Deflates one block as part of a longer raw deflate stream: primed with `dict`, ending on a
/// byte boundary (sync flush) unless `last`, which ends the stream.
fn deflate_block(
    c: &mut Compress,
    dict: &[u8],
    input: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    c.reset();
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let start = c.total_in();
    loop {
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(256 * 1024);
        }
        let consumed = (c.total_in() - start) as usize;
        let status = c
            .compress_vec(&input[consumed..], out, flush)
            .map_err(io::Error::other)?;
        let consumed = (c.total_in() - start) as usize;
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(()),
            _ if !last && consumed == input.len() && room_left => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn gzip(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut e = ParGzEncoder::new(Vec::new(), 6);
        for c in data.chunks(chunk.max(1)) {
            e.write_all(c).unwrap();
        }
        e.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // A single member: GzDecoder (not Multi) must read all of it.
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
            let gz = gzip(&data, 100_000);
            assert_eq!(gunzip(&gz), data, "length {len}");
            assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        }
    }

    #[test]
    fn output_does_not_depend_on_write_sizes() {
        let data = sample(2 * BLOCK_SIZE + 5000);
        assert_eq!(gzip(&data, 1 << 16), gzip(&data, 4097));
    }

    #[test]
    fn the_ratio_is_that_of_one_stream() {
        // Repeats across block boundaries are found through the dictionary.
        let unit = sample(20_000);
        let data: Vec<u8> = unit.iter().cycle().take(4 * BLOCK_SIZE).copied().collect();
        let par = gzip(&data, 1 << 16);
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
