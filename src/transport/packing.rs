//! How a whole archive is compressed (gzip, zstd, xz, bzip2, or not at all), told by its
//! magic bytes, and its decompression into a temporary file that can be read in place.

use std::fs::File;
use std::io::{self, BufReader, Read};

use anyhow::{Context, Result};

use crate::cleanup::{self, Tracked};
use crate::disk::{self, PathWriter};

/// How a whole archive is compressed, told by its first bytes, never by its file name:
/// what `docker load` and skopeo read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Packing {
    Plain,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl Packing {
    pub(super) fn sniff(magic: &[u8]) -> Packing {
        match magic {
            [0x1f, 0x8b, ..] => Packing::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Packing::Zstd,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00] => Packing::Xz,
            // "BZh" then the block size: a tar's first bytes are a file name, and one that
            // starts with "BZh1".."BZh9" is rarer than a bzip2 archive.
            [b'B', b'Z', b'h', b'1'..=b'9', ..] => Packing::Bzip2,
            _ => Packing::Plain,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Packing::Plain => "uncompressed",
            Packing::Gzip => "gzip",
            Packing::Zstd => "zstd",
            Packing::Xz => "xz",
            Packing::Bzip2 => "bzip2",
        }
    }

    fn decoder<'a>(self, r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        let r = BufReader::new(r);
        Ok(match self {
            Packing::Plain => Box::new(r),
            Packing::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Packing::Zstd => Box::new(zstd::Decoder::with_buffer(r)?),
            Packing::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
            Packing::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
        })
    }
}

/// Decompresses a whole archive into a temporary file, since a compressed stream cannot
/// seek. The file is in the system's temporary directory (`TMPDIR`); a failed write to it
/// (a full disk) is said as such, not blamed on the compressed data.
pub(super) fn decompress_to_temp(
    file: &File,
    packing: Packing,
) -> Result<Tracked<tempfile::NamedTempFile>> {
    crate::sweep::sweep_system_temp();
    let mut spool = cleanup::temp_file(tempfile::Builder::new().prefix(".oci-copy-archive-"))
        .with_context(|| {
            let dir = std::env::temp_dir();
            format!("creating a temporary file in {}", dir.display())
        })?;
    let mut dec = packing.decoder(file)?;
    let path = spool.path().to_path_buf();
    match io::copy(&mut dec, &mut PathWriter::new(spool.as_file_mut(), &path)) {
        Ok(_) => Ok(spool),
        Err(e) if disk::is_write_error(&e) => Err(e.into()),
        Err(e) => Err(e).with_context(|| format!("invalid {} data", packing.name())),
    }
}
