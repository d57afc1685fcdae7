//! Read-ahead on a helper thread, so that the two halves of a layer transformation use two
//! cores: the helper reads, verifies and decompresses the source while the calling thread
//! hashes, compresses and writes what came before. At most `DEPTH` blocks of `BLOCK`
//! bytes wait between them, so memory stays bounded whatever the size of the layer.
//!
//! The helpers are kept and reused from layer to layer, rather than started for each: a
//! copy of 20,000 tiny layers spent most of its time starting threads, and the allocator's
//! heaps grew with every one (to 260 MB, where reusing them stays flat).

use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

use crate::buffers::{self, Buffer};

const BLOCK: usize = 512 * 1024;
const DEPTH: usize = 2;
/// Idle helpers kept for reuse; one that finds this many waiting already exits.
const MAX_IDLE: usize = 16;

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

/// Runs `consume` with a reader that yields what the reader `open` returns yields, read
/// ahead on a helper thread. The helper opens, reads and drops that reader, so that what
/// it allocates is freed by the thread that allocated it: freed by another thread, it
/// went to that thread's caches, and the allocating thread's heap grew a little with every
/// layer. `open` and the reader are dropped (their borrows end) before this returns; a
/// panic on the helper is resumed here, as a scoped thread's would be.
pub fn scoped<F, R, T>(open: F, consume: impl FnOnce(&mut ReadAhead) -> T) -> T
where
    F: FnOnce() -> io::Result<R> + Send,
    R: Read,
{
    let (tx, rx) = sync_channel(DEPTH);
    let finished = Finished::new();
    let signal = finished.0.clone();
    let task: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| match open() {
            Ok(source) => produce(source, tx),
            Err(e) => drop(tx.send(Err(e))),
        }));
        // `open`, the reader and `tx` are gone (dropped above, or by the unwinding).
        signal.set(outcome);
    });
    // SAFETY: the task borrows what `open` borrows, for no longer than this call: it is
    // the last use of those borrows, and `finished` waits for the task's signal, sent
    // after `open` and its reader were dropped, on every way out of this function (its
    // `Drop` waits while unwinding from `consume`). So nothing borrowed outlives the
    // borrow; only the lifetime in the type is erased, as a scoped thread pool does.
    let task: Task = unsafe { std::mem::transmute(task) };
    if let Err(e) = run_on_helper(task) {
        // The task was dropped without running, here: nothing borrowed is in use, and the
        // wait in `finished`'s drop must not wait for a signal that will never come.
        finished.0.set(Ok(()));
        panic!("a read-ahead thread could not start: {e}");
    }
    let mut reader = ReadAhead {
        rx,
        block: None,
        pos: 0,
        done: false,
    };
    let result = consume(&mut reader);
    // Stops a helper that is still reading (the consumer failed), before the wait.
    drop(reader);
    if let Err(p) = finished.wait() {
        panic::resume_unwind(p);
    }
    result
}

type Task = Box<dyn FnOnce() + Send + 'static>;

/// Helpers waiting for a task, each on its own channel.
static IDLE: Mutex<Vec<SyncSender<Task>>> = Mutex::new(Vec::new());

fn idle() -> std::sync::MutexGuard<'static, Vec<SyncSender<Task>>> {
    IDLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands `task` to an idle helper, or to a new one when none is idle. When no thread can
/// be started, the task is dropped unrun.
fn run_on_helper(mut task: Task) -> io::Result<()> {
    loop {
        let Some(helper) = idle().pop() else { break };
        match helper.send(task) {
            Ok(()) => return Ok(()),
            Err(e) => task = e.0, // that helper exited: try the next
        }
    }
    let (tx, rx) = sync_channel::<Task>(1);
    std::thread::Builder::new()
        .name("oci-copy-readahead".into())
        .spawn(move || helper_loop(task, tx, rx))
        .map(drop)
}

/// Runs tasks until there are enough idle helpers without this one.
fn helper_loop(first: Task, me: SyncSender<Task>, tasks: Receiver<Task>) {
    let mut task = first;
    loop {
        task();
        {
            let mut idle = idle();
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(me.clone());
        }
        match tasks.recv() {
            Ok(t) => task = t,
            Err(_) => return,
        }
    }
}

type Outcome = std::thread::Result<()>;

/// Set by a task when it has finished with everything it borrowed.
struct Signal {
    outcome: Mutex<Option<Outcome>>,
    cond: Condvar,
}

impl Signal {
    fn set(&self, outcome: Outcome) {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        self.cond.notify_all();
    }
}

/// The waiting side of a [`Signal`]; dropping it waits too.
struct Finished(Arc<Signal>);

impl Finished {
    fn new() -> Finished {
        Finished(Arc::new(Signal {
            outcome: Mutex::new(None),
            cond: Condvar::new(),
        }))
    }

    /// Waits for the task, and returns how it ended.
    fn wait(&self) -> Outcome {
        let mut outcome = self.0.outcome.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(o) = outcome.take() {
                // Leaves a marker, so that the wait in `drop` returns at once.
                *outcome = Some(Ok(()));
                return o;
            }
            outcome = self.0.cond.wait(outcome).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        let _ = self.wait();
    }
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
        scoped(|| Ok(&data[..]), |r| r.read_to_end(&mut out)).unwrap();
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
        let e = scoped(|| Ok(Failing(BLOCK + 10)), |r| r.read_to_end(&mut out)).unwrap_err();
        assert_eq!(e.to_string(), "boom");
        assert_eq!(out.len(), BLOCK + 10);
    }

    #[test]
    fn helpers_are_reused_from_one_read_ahead_to_the_next() {
        /// Records the thread that reads it.
        struct Where<'a>(&'a Mutex<std::collections::HashSet<std::thread::ThreadId>>);
        impl Read for Where<'_> {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                self.0.lock().unwrap().insert(std::thread::current().id());
                Ok(0)
            }
        }
        let seen = Mutex::new(std::collections::HashSet::new());
        for _ in 0..200 {
            let mut out = Vec::new();
            scoped(|| Ok(Where(&seen)), |r| r.read_to_end(&mut out)).unwrap();
        }
        // One helper would do; other tests of this binary may hold a few at the same time.
        let threads = seen.lock().unwrap().len();
        assert!(threads <= 8, "200 read-aheads used {threads} threads");
    }

    #[test]
    fn a_panic_on_the_helper_reaches_the_caller() {
        struct Panics;
        impl Read for Panics {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("the source panicked");
            }
        }
        let caught = panic::catch_unwind(|| {
            let mut out = Vec::new();
            let _ = scoped(|| Ok(Panics), |r| r.read_to_end(&mut out));
        });
        let msg = caught.unwrap_err();
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"the source panicked"));
        // The helper survived its task's panic, or was replaced: read-ahead still works.
        let mut out = Vec::new();
        scoped(|| Ok(&b"abc"[..]), |r| r.read_to_end(&mut out)).unwrap();
        assert_eq!(out, b"abc");
    }

    #[test]
    fn the_reader_is_opened_read_and_dropped_on_one_thread() {
        use std::thread::{current, ThreadId};
        /// Records where it was made, read and dropped.
        struct Tracked<'a>(&'a Mutex<Vec<(&'static str, ThreadId)>>);
        impl Read for Tracked<'_> {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                self.0.lock().unwrap().push(("read", current().id()));
                Ok(0)
            }
        }
        impl Drop for Tracked<'_> {
            fn drop(&mut self) {
                self.0.lock().unwrap().push(("drop", current().id()));
            }
        }
        let events = Mutex::new(Vec::new());
        let open = || {
            events.lock().unwrap().push(("open", current().id()));
            Ok(Tracked(&events))
        };
        let mut out = Vec::new();
        scoped(open, |r| r.read_to_end(&mut out)).unwrap();
        let events = events.into_inner().unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.0).collect();
        assert_eq!(
            kinds,
            ["open", "read", "drop"],
            "dropped before scoped returned"
        );
        // What the reader allocates is freed by the thread that allocated it.
        assert!(events.iter().all(|e| e.1 == events[0].1), "{events:?}");
        assert_ne!(events[0].1, current().id(), "not on the caller");
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_helper() {
        let data = vec![0u8; 20 * BLOCK];
        let mut first = [0u8; 10];
        scoped(|| Ok(&data[..]), |r| r.read_exact(&mut first)).unwrap();
    }
}
