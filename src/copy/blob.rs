//! Copying one blob from a source to a destination, through the verifying reader, with the
//! layer transformation the plan asks for (decompress, compress, recompress). The staged
//! blob is committed only after the source digest and size, and the diff_id of any layer
//! that was decompressed, have been checked.

use std::io::{self, Read, Write};

use anyhow::{bail, Context, Result};

use super::verify::{HashingReader, HashingWriter, VerifyError, VerifyingReader};
use crate::buffers::{self, PooledBufReader};
use crate::convert::{LayerAction, LayerPlan};
use crate::digest::{Algorithm, Digest};
use crate::disk;
use crate::manifest::Descriptor;
use crate::media_type::{self as mt, Compression};
use crate::progress;
use crate::transport::{ImageDestination, ImageSource, Reuse};

const BUF_SIZE: usize = 1 << 20;

/// What happened to one blob.
#[derive(Debug, Clone)]
pub struct BlobOutcome {
    /// The descriptor of the blob as written (new digest and size if transformed).
    pub written: Descriptor,
    /// False when the destination already had it.
    pub copied: bool,
    /// True when a registry mounted it from another repository.
    pub mounted: bool,
    /// Bytes read from the source.
    pub bytes: u64,
    /// True when it repeats a blob handled earlier in this copy, which was not handled
    /// again: the summary counts each blob once.
    pub repeated: bool,
}

impl BlobOutcome {
    /// A blob copied whole: `bytes` read from the source, `written` as the destination
    /// holds it.
    fn copied(written: Descriptor, bytes: u64) -> BlobOutcome {
        BlobOutcome {
            written,
            copied: true,
            mounted: false,
            bytes,
            repeated: false,
        }
    }
}

/// Copies the layer `desc` as `plan` says. `diff_id` is the config's entry for it.
pub fn copy_layer(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    desc: &Descriptor,
    plan: &LayerPlan,
    diff_id: Option<&Digest>,
) -> Result<BlobOutcome> {
    match plan.action {
        LayerAction::Keep => {
            let out = Descriptor {
                media_type: plan.media_type.clone(),
                ..desc.clone()
            };
            let check =
                diff_id.filter(|d| is_plain(desc) && d.algorithm() != desc.digest.algorithm());
            with_upload_retries(dst, desc, || {
                copy_verbatim_once(src, dst, desc, out.clone(), check)
            })
        }
        LayerAction::Decompress(from) => {
            transform(src, dst, desc, plan, from, Compression::None, diff_id)
        }
        LayerAction::Compress(to) => {
            transform(src, dst, desc, plan, Compression::None, to, diff_id)
        }
        LayerAction::Recompress(from, to) => transform(src, dst, desc, plan, from, to, diff_id),
    }
}

/// Copies a blob byte for byte, verifying it against `desc`; `out` is how it is described
/// in the destination (the media type may differ).
pub fn copy_verbatim(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    desc: &Descriptor,
    out: Descriptor,
) -> Result<BlobOutcome> {
    with_upload_retries(dst, desc, || {
        copy_verbatim_once(src, dst, desc, out.clone(), None)
    })
}

/// Whether `desc` is an uncompressed layer, whose digest names its plain bytes.
fn is_plain(desc: &Descriptor) -> bool {
    matches!(mt::kind_of(&desc.media_type), mt::Kind::Layer(t) if t.compression == Compression::None)
}

/// Runs one whole blob copy, and again from a re-opened source when the upload failed for
/// a transient reason or the destination lost the upload session: a stream cannot be
/// replayed into a new session, so the retry lives here, around the whole copy. A download
/// that broke was already resumed below the verifying reader; a digest mismatch is never
/// retried.
fn with_upload_retries(
    dst: &dyn ImageDestination,
    desc: &Descriptor,
    copy: impl FnMut() -> Result<BlobOutcome>,
) -> Result<BlobOutcome> {
    let what = format!("the copy of blob {}", desc.digest);
    crate::retry::run(
        &dst.upload_retries(),
        &what,
        crate::transport::registry::errors::classify,
        copy,
    )
}

/// One verbatim copy. `diff_id` is given for an uncompressed layer whose diff_id is in
/// another algorithm than its digest (a sha512 layer, a sha256 diff_id): the bytes are then
/// hashed in the diff_id's algorithm too, and must match it.
fn copy_verbatim_once(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    desc: &Descriptor,
    out: Descriptor,
    diff_id: Option<&Digest>,
) -> Result<BlobOutcome> {
    let reuse = dst.reuse_blob(desc)?;
    if reuse != Reuse::Absent {
        let how = if reuse == Reuse::Mounted {
            "mounted"
        } else {
            "skipped"
        };
        tracing::debug!(
            "blob {} {how}: {} has it without a copy",
            desc.digest,
            dst.describe()
        );
        progress::global()
            .start_blob("blob", &desc.digest, desc.size)
            .done(how);
        return Ok(BlobOutcome {
            written: out,
            copied: false,
            mounted: reuse == Reuse::Mounted,
            bytes: 0,
            repeated: false,
        });
    }
    let progress = progress::global().start_blob("blob", &desc.digest, desc.size);
    let reader = VerifyingReader::new(progress.reader(src.blob(desc)?), &desc.digest, desc.size);
    let alg = diff_id.map_or(Algorithm::Sha256, Digest::algorithm);
    let mut reader = match diff_id {
        Some(_) => HashingReader::with_algorithm(reader, alg),
        None => HashingReader::counting(reader),
    };
    let mut w = dst.begin_blob(Some(&out))?;
    copy_stream(&mut reader, &mut w)?;
    let (plain, _, reader) = reader.finish_counting();
    reader.finish()?;
    if let (Some(want), Some(plain)) = (diff_id, plain) {
        check_diff_id(want, &plain)?;
    }
    w.commit(&out)?;
    progress.done("copied");
    Ok(BlobOutcome::copied(out, desc.size))
}

fn copy_stream(r: &mut impl Read, w: &mut impl Write) -> io::Result<u64> {
    let mut buf = buffers::take(BUF_SIZE);
    let mut total = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// A decompressing reader for `from`; `verify` uses it too.
pub(crate) fn decoder<'a>(
    from: Compression,
    r: impl Read + Send + 'a,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match from {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(PooledBufReader::new(
            BUF_SIZE, r,
        ))),
        Compression::Zstd => Box::new(zstd::Decoder::with_buffer(PooledBufReader::new(
            BUF_SIZE, r,
        ))?),
    })
}

/// [`transform_once`], restarted whole when the upload fails for a transient reason.
fn transform(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    desc: &Descriptor,
    plan: &LayerPlan,
    from: Compression,
    to: Compression,
    diff_id: Option<&Digest>,
) -> Result<BlobOutcome> {
    with_upload_retries(dst, desc, || {
        transform_once(src, dst, desc, plan, from, to, diff_id)
    })
}

/// Streams source → verify → decompress → hash (diff_id) → compress → hash → staged blob.
fn transform_once(
    src: &dyn ImageSource,
    dst: &dyn ImageDestination,
    desc: &Descriptor,
    plan: &LayerPlan,
    from: Compression,
    to: Compression,
    diff_id: Option<&Digest>,
) -> Result<BlobOutcome> {
    let progress = progress::global().start_blob("blob", &desc.digest, desc.size);
    let mut verifying =
        VerifyingReader::new(progress.reader(src.blob(desc)?), &desc.digest, desc.size);
    let w = dst.begin_blob(None)?;
    let plain_alg = diff_id.map_or(Algorithm::Sha256, Digest::algorithm);
    let converted = convert_stream(&mut verifying, w, desc, plan, (from, to), plain_alg);
    // A write that failed (a full disk) is the destination's fault, whatever stage of the
    // conversion met it: say so now, without reading the rest of the source.
    let converted = match converted {
        Err(e) if disk::is_write_error(&e) => return Err(e.into()),
        other => other,
    };
    let (plain_digest, out) = mismatch_first(converted, verifying.finish(), from, to)?;
    if let Some(want) = diff_id {
        check_diff_id(want, &plain_digest)?;
    }
    let (digest, size, w) = out.finish();
    let written = Descriptor {
        media_type: plan.media_type.clone(),
        digest: digest.unwrap_or(plain_digest),
        size,
        ..desc.clone()
    };
    w.commit(&written)?;
    progress.done("copied");
    Ok(BlobOutcome::copied(written, desc.size))
}

/// The conversion proper: decompresses `verifying` (reading, verifying and decompressing
/// run on a helper thread, ahead of the rest), hashes the plain bytes in `plain_alg`, and
/// compresses them into `w`. Returns the plain digest and the output, not yet finished.
fn convert_stream<W: Write>(
    verifying: &mut (impl Read + Send),
    w: W,
    desc: &Descriptor,
    plan: &LayerPlan,
    (from, to): (Compression, Compression),
    plain_alg: Algorithm,
) -> io::Result<(Digest, HashingWriter<W>)> {
    // Every byte is hashed once: plain input is what the verifying reader hashes, and
    // plain output is what the plain side hashes. The plain side hashes in the algorithm
    // of the diff_id it is checked against.
    let plain_is_input = from == Compression::None && desc.digest.algorithm() == plain_alg;
    let out = match to {
        Compression::None => HashingWriter::counting(w),
        _ => HashingWriter::new(w),
    };
    super::readahead::scoped(
        || decoder(from, verifying),
        |r| {
            let mut plain = match plain_is_input {
                true => HashingReader::counting(r),
                false => HashingReader::with_algorithm(r, plain_alg),
            };
            let out = encode(&mut plain, out, to, plan)?;
            let plain = plain.finish_counting().0;
            Ok((plain.unwrap_or_else(|| desc.digest.clone()), out))
        },
    )
}

/// The result of a conversion, given the verifying reader's verdict on the source. A
/// source that is not what its digest says usually breaks the decoder first; report the
/// digest mismatch, which is the cause, rather than the decoder's complaint.
fn mismatch_first<T>(
    converted: io::Result<T>,
    verified: io::Result<()>,
    from: Compression,
    to: Compression,
) -> Result<T> {
    match (converted, verified) {
        (_, Err(e)) if e.get_ref().is_some_and(|i| i.is::<VerifyError>()) => Err(e.into()),
        (Err(e), _) => Err(e).with_context(|| format!("{} → {}", from.name(), to.name())),
        (Ok(_), Err(e)) => Err(e.into()),
        (Ok(v), Ok(())) => Ok(v),
    }
}

fn check_diff_id(want: &Digest, plain: &Digest) -> Result<()> {
    if plain != want {
        bail!("diff_id mismatch: the config says {want}, but the uncompressed layer is {plain}");
    }
    Ok(())
}

/// Compresses `r` into `out` with `to`, at the level and in the style `plan` asks for,
/// returning `out` once the stream is complete.
fn encode<W: Write>(r: &mut impl Read, out: W, to: Compression, plan: &LayerPlan) -> io::Result<W> {
    let level = plan.level;
    match to {
        Compression::None => {
            let mut out = out;
            copy_stream(r, &mut out)?;
            Ok(out)
        }
        Compression::Gzip => {
            let style = plan.gzip_style;
            let level = level.map_or(style.default_level(), |n| n.clamp(1, 9) as u32);
            let mut enc = super::pgzip::ParGzEncoder::new(out, style, level);
            copy_stream(r, &mut enc)?;
            enc.finish()
        }
        Compression::Zstd => {
            let mut enc = zstd::Encoder::new(out, level.unwrap_or(3))?;
            copy_stream(r, &mut enc)?;
            enc.finish()
        }
    }
}
