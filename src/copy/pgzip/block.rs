//! Compressing one block, on a worker of the pool: into a complete gzip member with
//! libdeflate, or ISA-L's igzip in a build with the `isal` feature (the
//! [`Members`](super::GzipStyle::Members) style), or with zlib into a piece
//! of one raw deflate stream primed with the previous block's last 32 KiB (the
//! [`Single`](super::GzipStyle::Single) style). Each worker keeps its compressor between
//! blocks.

use std::io;
use std::sync::mpsc::SyncSender;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// One compressed block (the first `len` bytes of `deflated`), with both buffers handed
/// back for reuse. `crc` is that of the input in the [`Single`](super::GzipStyle::Single)
/// style; a member carries its own.
pub(super) struct Done {
    pub(super) deflated: Vec<u8>,
    pub(super) len: usize,
    pub(super) crc: Option<Crc>,
    pub(super) input: Vec<u8>,
}

thread_local! {
    /// Each worker keeps its deflate state between blocks, per level.
    static DEFLATE: std::cell::RefCell<Option<(u32, Compress)>> = const { std::cell::RefCell::new(None) };
    /// And its libdeflate compressor, per level.
    static LIBDEFLATE: std::cell::RefCell<Option<(u32, libdeflater::Compressor)>> = const { std::cell::RefCell::new(None) };
}

/// Compresses one block into a complete gzip member, in `out`.
pub(super) fn member_job(
    level: u32,
    input: Vec<u8>,
    out: Vec<u8>,
    tx: SyncSender<io::Result<Done>>,
) {
    let result = if super::stored::incompressible(&input) {
        Ok(stored_member(input, out))
    } else {
        #[cfg(feature = "isal")]
        let result = igzip_member(level, input, out);
        #[cfg(not(feature = "isal"))]
        let result = libdeflate_member(level, input, out);
        result
    };
    // The encoder may have been dropped (the copy failed): nobody wants the result.
    let _ = tx.send(result);
}

/// One gzip member of stored blocks, for a block deflate would not shrink.
fn stored_member(input: Vec<u8>, mut out: Vec<u8>) -> Done {
    let bound = super::stored::bound(input.len());
    if out.len() < bound {
        out = vec![0u8; bound];
    }
    let len = super::stored::member(&input, &mut out);
    Done {
        deflated: out,
        len,
        crc: None,
        input,
    }
}

#[cfg(feature = "isal")]
thread_local! {
    /// Each worker keeps its igzip state between blocks, for one level.
    static IGZIP: std::cell::RefCell<Option<super::igzip::Igzip>> = const { std::cell::RefCell::new(None) };
}

/// One gzip member by ISA-L's igzip.
#[cfg(feature = "isal")]
fn igzip_member(level: u32, input: Vec<u8>, mut out: Vec<u8>) -> io::Result<Done> {
    use super::igzip::{bound, Igzip};
    IGZIP.with(|cell| {
        let mut cell = cell.borrow_mut();
        let z = match &mut *cell {
            Some(z) if z.level() == level => z,
            slot => slot.insert(Igzip::new(level)),
        };
        if out.len() < bound(input.len()) {
            // Zeroed by the allocator (fresh pages), as below.
            out = vec![0u8; bound(input.len())];
        }
        // Exactly the bound, whatever the buffer's length: how much room ISA-L is given
        // may change how it ends a block, and the member must depend on the input alone.
        let room = bound(input.len());
        let len = z.gzip(&input, &mut out[..room])?;
        Ok(Done {
            deflated: out,
            len,
            crc: None,
            input,
        })
    })
}

/// One gzip member by libdeflate.
#[cfg_attr(feature = "isal", allow(dead_code))]
fn libdeflate_member(level: u32, input: Vec<u8>, mut out: Vec<u8>) -> io::Result<Done> {
    LIBDEFLATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let c = match &mut *cell {
            Some((l, c)) if *l == level => c,
            slot => {
                let lvl = libdeflater::CompressionLvl::new(level as i32)
                    .map_err(|e| io::Error::other(format!("gzip level {level}: {e:?}")))?;
                &mut slot.insert((level, libdeflater::Compressor::new(lvl))).1
            }
        };
        let bound = c.gzip_compress_bound(input.len());
        if out.len() < bound {
            // Zeroed by the allocator (fresh pages), not by writing: the part libdeflate
            // does not write is never touched, and costs no resident memory.
            out = vec![0u8; bound];
        }
        let len = c
            .gzip_compress(&input, &mut out)
            .map_err(|e| io::Error::other(format!("gzip: {e}")))?;
        Ok(Done {
            deflated: out,
            len,
            crc: None,
            input,
        })
    })
}

/// Deflates one block as part of the single raw deflate stream.
pub(super) fn deflate_job(
    level: u32,
    dict: Vec<u8>,
    input: Vec<u8>,
    mut deflated: Vec<u8>,
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
        deflated.clear();
        deflate_block(c, &dict, &input, last, &mut deflated)?;
        let mut crc = Crc::new();
        crc.update(&input);
        Ok(Done {
            len: deflated.len(),
            deflated,
            crc: Some(crc),
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
