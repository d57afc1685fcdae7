//! ISA-L's igzip (the `isal` cargo feature): one block into one complete gzip member, by
//! `isal_deflate_stateless` through the raw bindings of `isal-sys`, linked against the
//! system's libisal (Debian's `libisal-dev`).
//!
//! ABI: isal-sys's bindings were generated from isa-l 2.31's `igzip_lib.h`; Debian 12 and 13
//! ship 2.30. The two headers declare the same structs and macros (they differ in
//! formatting and in one function, `isal_zlib_header_init`, which is not called here), and
//! a C program built against the system header prints the sizes, alignments and field
//! offsets that bindgen recorded for 2.31 (`isal_zstream` 82384 bytes, `internal_state` at
//! 64, `ISAL_DEF_LVL1_DEFAULT` 282624, …). The test `igzip_abi_matches` checks the sizes this
//! module relies on at every `cargo test --features isal`, and tests/abi/isal.c the
//! system header's (tests/run-all.sh compiles it before building the feature).
//!
//! Determinism: the same block gives the same member on one machine (tested); ISA-L picks
//! its SSE/AVX2/AVX-512 code at run time, and whether those give the same bytes on other
//! CPUs is not verified here.
//!
//! Levels: `--dest-compress-level` 1–9 maps onto ISA-L's 1–3 (its level 0 compresses less
//! than level 1 and is not used): 1–3 → 1, 4–6 → 2, 7–9 → 3.

use std::io;

use isal_sys::igzip_lib as sys;

/// A worker's igzip state, kept between blocks: the stream (82 KiB) and the level buffer.
pub(super) struct Igzip {
    level: u32,
    stream: Box<sys::isal_zstream>,
    level_buf: Vec<u8>,
}

/// ISA-L's level for `--dest-compress-level` `level` (1–9).
pub(super) fn isal_level(level: u32) -> u32 {
    match level {
        0..=3 => 1,
        4..=6 => 2,
        _ => 3,
    }
}

/// Room for the member of `n` input bytes: ISA-L falls back to stored blocks (5 bytes of
/// header per 64 KiB at most) when deflate would not fit, plus the gzip header and trailer.
pub(super) fn bound(n: usize) -> usize {
    n + 5 * (n / 16384 + 1) + 10 + 8 + 64
}

impl Igzip {
    /// State for `--dest-compress-level` `level`.
    pub(super) fn new(level: u32) -> Igzip {
        let isal = isal_level(level);
        let buf = match isal {
            1 => sys::ISAL_DEF_LVL1_DEFAULT,
            2 => sys::ISAL_DEF_LVL2_DEFAULT,
            _ => sys::ISAL_DEF_LVL3_DEFAULT,
        };
        // SAFETY: isal_zstream is plain C data (integers, raw pointers, arrays of them), for
        // which all zero bytes is a valid value. (82 KiB on the worker's stack, once.)
        let stream = Box::new(unsafe { std::mem::zeroed::<sys::isal_zstream>() });
        Igzip {
            level,
            stream,
            level_buf: vec![0u8; buf as usize],
        }
    }

    /// The `--dest-compress-level` this state was made for.
    pub(super) fn level(&self) -> u32 {
        self.level
    }

    /// Compresses `input` into one gzip member at the start of `out`, whose length must be
    /// at least [`bound`]`(input.len())`; returns the member's length.
    pub(super) fn gzip(&mut self, input: &[u8], out: &mut [u8]) -> io::Result<usize> {
        let too_big = || io::Error::other("gzip: a block over 4 GiB");
        let avail_in = u32::try_from(input.len()).map_err(|_| too_big())?;
        let avail_out = u32::try_from(out.len()).map_err(|_| too_big())?;
        let s: *mut sys::isal_zstream = &mut *self.stream;
        // SAFETY: `s` points to a live, exclusively borrowed isal_zstream, zeroed and then
        // initialised by ISA-L. next_in/next_out point to `input` and `out`, which outlive
        // the call, with their true lengths; ISA-L only reads next_in (the *mut is the C
        // signature's). level_buf is this state's own buffer, of the size ISA-L asks for
        // the level, and lives as long as the stream.
        let ret = unsafe {
            std::ptr::write_bytes(s, 0, 1);
            sys::isal_deflate_stateless_init(s);
            let st = &mut *s;
            st.level = isal_level(self.level);
            st.level_buf = self.level_buf.as_mut_ptr();
            st.level_buf_size = self.level_buf.len() as u32;
            st.gzip_flag = sys::IGZIP_GZIP as u16;
            st.flush = sys::NO_FLUSH as u16;
            st.end_of_stream = 1;
            st.next_in = input.as_ptr().cast_mut();
            st.avail_in = avail_in;
            st.next_out = out.as_mut_ptr();
            st.avail_out = avail_out;
            sys::isal_deflate_stateless(s)
        };
        let st = &*self.stream;
        if ret != sys::COMP_OK as i32 || st.avail_in != 0 {
            return Err(io::Error::other(format!(
                "gzip: ISA-L igzip failed (code {ret})"
            )));
        }
        Ok(st.total_out as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn igzip_abi_matches() {
        // The sizes bindgen recorded from isa-l 2.31 must be those of the linked 2.30;
        // tests/abi/isal.c checks the C header's at build time in tests/run-all.sh.
        assert_eq!(std::mem::size_of::<sys::isal_zstream>(), 82384);
        assert_eq!(std::mem::offset_of!(sys::isal_zstream, internal_state), 64);
        assert_eq!(std::mem::offset_of!(sys::isal_zstream, gzip_flag), 60);
        assert_eq!(sys::ISAL_DEF_LVL3_DEFAULT, 348160);
    }

    #[test]
    fn same_block_same_member_whatever_came_before_and_the_room_left() {
        let block: Vec<u8> = (0..120_000u32)
            .flat_map(|i| format!("{} {}\n", i * 7919 % 1000, i % 13).into_bytes())
            .collect();
        let other: Vec<u8> = (0..100_000u32)
            .flat_map(|i| format!("x{} y{}\n", i % 977, i * 31).into_bytes())
            .collect();
        let mut fresh = Igzip::new(1);
        let mut out = vec![0u8; bound(block.len())];
        let n = fresh.gzip(&block, &mut out).unwrap();
        let want = out[..n].to_vec();
        let mut used = Igzip::new(1);
        let mut big = vec![0u8; bound(block.len()) + (3 << 20) + 12345];
        used.gzip(&other, &mut big).unwrap();
        let n = used.gzip(&block, &mut big).unwrap();
        assert!(big[..n] == want[..], "after another block, with more room");
        let mut tight = vec![0u8; bound(block.len())];
        let n = used.gzip(&block, &mut tight).unwrap();
        assert!(tight[..n] == want[..], "after itself");
        // Nearly incompressible (as jar members): whether the deflate attempt fits the room
        // left must not change the member.
        let mut x = 0x9e37_79b9u32;
        let dense: Vec<u8> = (0..(1 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 251) as u8
            })
            .collect();
        let mut a = vec![0u8; bound(dense.len())];
        let na = used.gzip(&dense, &mut a).unwrap();
        for extra in [1, 100, 1000, 5000, 1 << 20] {
            let mut b = vec![0u8; bound(dense.len()) + extra];
            let nb = used.gzip(&dense, &mut b).unwrap();
            assert!(
                a[..na] == b[..nb],
                "{extra} more bytes of room: {na} vs {nb}"
            );
        }
    }

    fn gunzip_all(mut gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&mut gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn members_decompress_with_zlib_at_every_level() {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {i} of {}\n", i % 97).into_bytes())
            .collect();
        let mut random = vec![0u8; 200_000];
        let mut x = 0x9e37_79b9u32;
        for b in &mut random {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        for level in 1..=9 {
            for input in [&text[..], &random[..], &b""[..]] {
                let mut z = Igzip::new(level);
                let mut out = vec![0u8; bound(input.len())];
                let n = z.gzip(input, &mut out).unwrap();
                assert_eq!(&out[..3], &[0x1f, 0x8b, 8]);
                assert_eq!(gunzip_all(&out[..n]), input, "level {level}");
                if input.len() == text.len() {
                    assert!(n < input.len() / 4, "level {level}: {n} bytes");
                }
            }
        }
    }
}
