//! Blob transfers over oci-client, as synchronous I/O: [`BlobReader`] reads a download
//! (resuming it with a Range request when it breaks or stalls), and [`Upload`] feeds an
//! upload's body stream and waits for the registry's answer, each bounded by the retry
//! policy's stall timeout.

use std::io::{self, Read, Write};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use oci_client::client::BlobResponse;
use oci_client::errors::{DigestError, OciDistributionError};
use oci_client::{Client, Reference};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{rt, ErrCtx};
use crate::manifest::Descriptor;
use crate::retry::RetryPolicy;
use crate::transport::registry::errors::{error_chain, RegistryError};
use crate::transport::registry::pump::{pump, PumpedReader};

pub(super) type ChunkResult = std::result::Result<Bytes, OciDistributionError>;

/// A blob response as a synchronous reader: each `read` waits for the next chunk. When the
/// response breaks part-way (connection reset, early close), it asks again with
/// `Range: bytes=N-` from the last byte received, up to the retry policy's limit of
/// consecutive failures; a registry that ignores the range sends the whole blob again, and
/// the bytes already delivered are skipped. Whatever happens here, the verifying reader
/// above checks the whole blob's size and digest.
pub struct BlobReader {
    /// The response body, received ahead on the runtime (see [`super::pump`]).
    pub(super) pump: PumpedReader,
    pub(super) client: Client,
    pub(super) reference: Reference,
    pub(super) digest: String,
    pub(super) ctx: ErrCtx,
    pub(super) retry: RetryPolicy,
    /// Bytes delivered to the reader so far.
    pub(super) received: u64,
    /// Bytes still to drop from a full response to a range request.
    pub(super) skip: u64,
    /// Consecutive failures without progress.
    pub(super) retries: u32,
}

impl BlobReader {
    /// The failure once the retries are spent, naming the last reason.
    fn exhausted(&self, why: &str) -> io::Error {
        io::Error::other(crate::retry::Exhausted {
            attempts: self.retries + 1,
            last: format!(
                "registry {}, repository {}: pulling the blob {}: the download broke after {} bytes: {why}",
                self.ctx.host, self.ctx.repo, self.digest, self.received
            ),
        })
    }

    /// Asks for the rest of the blob, from `received`, within the stall timeout; `Err` says
    /// that the request stalled.
    fn reopen(&self) -> Result<oci_client::errors::Result<BlobResponse>, String> {
        let request = self.client.pull_blob_stream_partial(
            &self.reference,
            self.digest.as_str(),
            self.received,
            None,
        );
        match rt().block_on(super::super::stall::within(self.retry.stall, request)) {
            Some(r) => Ok(r),
            None => {
                let d = self.retry.stall.unwrap_or_default();
                Err(crate::retry::stalled("the resumed request", d).to_string())
            }
        }
    }

    /// Handles a broken stream: waits, then reopens the blob from `received`. Gives up with
    /// [`crate::retry::Exhausted`] after the policy's retries without progress.
    fn resume(&mut self, broke: String) -> io::Result<()> {
        let mut why = broke;
        loop {
            if self.retries >= self.retry.times {
                return Err(self.exhausted(&why));
            }
            self.retries += 1;
            let transient = crate::retry::Transient {
                reason: why.clone(),
                session_lost: false,
                rate_limited: false,
                retry_after: None,
            };
            let wait = self.retry.backoff(self.retries, &transient);
            tracing::debug!(
                "retry {}/{} of pulling the blob {} in {:.2}s: {why}; resuming with Range: bytes={}-",
                self.retries,
                self.retry.times,
                self.digest,
                wait.as_secs_f64(),
                self.received
            );
            std::thread::sleep(wait);
            let r = match self.reopen() {
                Ok(r) => r,
                Err(stalled) => {
                    why = stalled;
                    continue;
                }
            };
            match r {
                Ok(BlobResponse::Partial(s)) => {
                    self.pump = pump(rt(), s.stream, self.retry.stall);
                    self.skip = 0;
                    return Ok(());
                }
                Ok(BlobResponse::Full(s)) => {
                    tracing::debug!(
                        "the registry ignored the range; skipping the first {} bytes",
                        self.received
                    );
                    self.pump = pump(rt(), s.stream, self.retry.stall);
                    self.skip = self.received;
                    return Ok(());
                }
                Err(e) => {
                    let e = self
                        .ctx
                        .classify(&format!("resuming the blob {}", self.digest), e);
                    match e.transient() {
                        Some(t) => why = t.reason,
                        None => return Err(io::Error::other(e)),
                    }
                }
            }
        }
    }
}

impl BlobReader {
    fn warn_if_header_lied(&self, e: Option<&DigestError>) {
        if let Some(DigestError::VerificationError { expected, actual }) = e {
            if *expected != self.digest {
                tracing::warn!(
                    "registry {} sent Docker-Content-Digest {expected} with the blob {} of {}, \
                     but its bytes are {actual}; the bytes are checked against {} instead",
                    self.ctx.host,
                    self.digest,
                    self.ctx.repo,
                    self.digest
                );
            }
        }
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = match self.pump.read(buf) {
                Ok(n) => n,
                // oci-client's own digest check of a full response: the verifying reader
                // above makes the same check over every byte and reports the mismatch. A
                // check against the registry's `Docker-Content-Digest` header instead of
                // the digest asked for is only the registry's word: a warning, no more.
                Err(e) if e.get_ref().is_some_and(|i| i.is::<DigestError>()) => {
                    self.warn_if_header_lied(e.get_ref().and_then(|i| i.downcast_ref()));
                    return Ok(0);
                }
                Err(e) => {
                    self.resume(error_chain(&e))?;
                    continue;
                }
            };
            if n == 0 {
                return Ok(0);
            }
            // A full response to a range request: drop what was delivered already.
            let drop = self.skip.min(n as u64) as usize;
            self.skip -= drop as u64;
            if drop == n {
                continue;
            }
            buf.copy_within(drop..n, 0);
            let n = n - drop;
            self.received += n as u64;
            self.retries = 0;
            return Ok(n);
        }
    }
}

/// An upload in progress: bytes written here become the body stream of the upload future.
/// The stream ends (and the registry commits the blob) only in [`Upload::finish`];
/// dropping an unfinished upload sends an error into the stream, which aborts it.
pub struct Upload {
    pub(super) tx: Option<mpsc::Sender<ChunkResult>>,
    pub(super) task: Option<JoinHandle<oci_client::errors::Result<String>>>,
    pub(super) buf: Vec<u8>,
    pub(super) chunk: usize,
    pub(super) ctx: ErrCtx,
    /// How long a chunk may wait for the registry to take it.
    pub(super) stall: Option<std::time::Duration>,
}

impl Upload {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(self.chunk),
        ));
        let tx = self.tx.as_ref().expect("not finished");
        let sent = match self.stall {
            None => tx.blocking_send(Ok(data)).map_err(|_| ()),
            Some(d) => match rt().block_on(tx.send_timeout(Ok(data), d)) {
                Ok(()) => Ok(()),
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                    // The registry took nothing for `d`: abort this upload; the pipeline
                    // restarts the blob in a new session.
                    let what = format!(
                        "registry {}, repository {}: the upload",
                        self.ctx.host, self.ctx.repo
                    );
                    return Err(crate::retry::stalled(&what, d));
                }
                Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(()),
            },
        };
        if sent.is_err() {
            // The upload future stopped early: report why, keeping the classified error
            // so that the pipeline can tell a lost session or a 503 from a refusal.
            return Err(match self.join() {
                Err(e) => match e.downcast::<RegistryError>() {
                    Ok(e) => io::Error::other(e),
                    Err(e) => io::Error::other(format!("{e:#}")),
                },
                Ok(_) => io::Error::other("the upload ended early"),
            });
        }
        Ok(())
    }

    fn join(&mut self) -> Result<String> {
        let task = self
            .task
            .take()
            .ok_or_else(|| anyhow!("the upload already ended"))?;
        let done = match self.stall {
            None => rt().block_on(task),
            Some(d) => {
                let abort = task.abort_handle();
                match rt().block_on(async { tokio::time::timeout(d, task).await }) {
                    Ok(done) => done,
                    Err(_) => {
                        abort.abort();
                        let what = format!(
                            "registry {}, repository {}: the answer to the upload",
                            self.ctx.host, self.ctx.repo
                        );
                        return Err(crate::retry::stalled(&what, d).into());
                    }
                }
            }
        };
        match done {
            Ok(Ok(digest)) => Ok(digest),
            Ok(Err(e)) => Err(anyhow::Error::new(self.ctx.classify("uploading a blob", e))),
            Err(e) => Err(anyhow!("the upload task failed: {e}")),
        }
    }

    /// Ends the body stream, so that the registry commits the blob, and checks that it
    /// stored it under `desc.digest`.
    pub fn finish(mut self, desc: &Descriptor) -> Result<()> {
        self.send()?;
        drop(self.tx.take());
        let digest = self
            .join()
            .with_context(|| format!("uploading the blob {}", desc.digest))?;
        if digest != desc.digest.to_string() {
            anyhow::bail!(
                "uploading the blob {}: the registry stored it as {digest}",
                desc.digest
            );
        }
        tracing::debug!("uploaded blob {} ({} bytes)", desc.digest, desc.size);
        Ok(())
    }
}

impl Write for Upload {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.chunk - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= self.chunk {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            // An error item ends the body stream before any final request is made. It may
            // not fit (the registry stopped taking bytes and the channel is full), and
            // waiting for room could wait for ever: the task is cancelled first, then the
            // sender dropped, so that the stream is not simply ended and committed.
            let abort = OciDistributionError::GenericError(Some("upload aborted".into()));
            let _ = tx.try_send(Err(abort));
            if let Some(task) = self.task.take() {
                task.abort();
            }
            drop(tx);
        }
    }
}
