//! Moves a blob's response body off the async runtime: a task on the runtime gathers the
//! body's chunks (often only a few KiB each) into batches and hands them over a bounded
//! channel to the plain thread that reads the blob, which verifies, decompresses and
//! writes it. The network keeps receiving while that thread works, the thread wakes once
//! per batch rather than once per chunk, and at most `DEPTH` batches wait in memory.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes gathered before a batch is handed over.
const BATCH: usize = 256 * 1024;
/// Batches that may wait for the reader: with `BATCH`, about 1 MiB per blob.
const DEPTH: usize = 4;

type Batch = io::Result<Vec<Bytes>>;

/// A response body as a synchronous reader, fed by a task on the runtime.
pub struct PumpedReader {
    rx: mpsc::Receiver<Batch>,
    batch: std::collections::VecDeque<Bytes>,
    task: JoinHandle<()>,
    done: bool,
    /// A failure that came after bytes the last `read` returned; the next `read` reports it.
    error: Option<io::Error>,
}

/// Starts pumping `stream` on `rt`. A stream that yields nothing for `stall` ends with a
/// `TimedOut` error, as a reset connection would.
pub fn pump(
    rt: &Runtime,
    stream: BoxStream<'static, io::Result<Bytes>>,
    stall: Option<std::time::Duration>,
) -> PumpedReader {
    let (tx, rx) = mpsc::channel(DEPTH);
    let task = rt.spawn(run(stream, tx, stall));
    PumpedReader {
        rx,
        batch: Default::default(),
        task,
        done: false,
        error: None,
    }
}

async fn run(
    mut stream: BoxStream<'static, io::Result<Bytes>>,
    tx: mpsc::Sender<Batch>,
    stall: Option<std::time::Duration>,
) {
    let mut batch = Vec::new();
    let mut size = 0;
    loop {
        let item = match stall {
            None => stream.next().await,
            Some(d) => match tokio::time::timeout(d, stream.next()).await {
                Ok(item) => item,
                Err(_) => Some(Err(crate::retry::stalled("the download", d))),
            },
        };
        let end = match item {
            Some(Ok(b)) => {
                size += b.len();
                batch.push(b);
                false
            }
            Some(Err(e)) => {
                if !batch.is_empty() && tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                    return;
                }
                let _ = tx.send(Err(e)).await;
                return;
            }
            None => true,
        };
        if (size >= BATCH || end) && !batch.is_empty() {
            size = 0;
            if tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                return; // the reader is gone
            }
        }
        if end {
            return;
        }
    }
}

impl PumpedReader {
    /// The next batch, waiting for it when `wait`; false at the end of the body.
    fn refill(&mut self, wait: bool) -> io::Result<bool> {
        let next = if wait {
            self.rx.blocking_recv()
        } else {
            match self.rx.try_recv() {
                Ok(b) => Some(b),
                Err(mpsc::error::TryRecvError::Empty) => return Ok(false),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            }
        };
        match next {
            Some(batch) => {
                self.batch.extend(batch?);
                Ok(true)
            }
            None => {
                self.done = true;
                Ok(false)
            }
        }
    }
}

impl Read for PumpedReader {
    /// Fills as much of `buf` as the batches already received allow, waiting only when
    /// nothing at all has arrived.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut n = 0;
        while n < buf.len() {
            if let Some(front) = self.batch.front_mut() {
                let k = front.len().min(buf.len() - n);
                buf[n..n + k].copy_from_slice(&front[..k]);
                front.advance(k);
                if front.is_empty() {
                    self.batch.pop_front();
                }
                n += k;
                continue;
            }
            if self.done {
                break;
            }
            match self.refill(n == 0) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) if n == 0 => return Err(e),
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
        Ok(n)
    }
}

impl Drop for PumpedReader {
    fn drop(&mut self) {
        // A reader dropped early (a failed copy) stops the download at once.
        self.task.abort();
    }
}
