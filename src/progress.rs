//! Progress reporting on stderr. On a terminal: one indicatif bar per blob (bytes, rate,
//! ETA) under an overall line. Elsewhere (CI logs): a plain line when a blob starts and
//! ends, and a line with bytes and percent every few seconds. `--quiet` silences it all.
//! stdout is never written here, so `... docker-archive:/dev/stdout | docker load` works.

use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::digest::Digest;
use crate::human_bytes;

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

enum Mode {
    Quiet,
    Plain {
        last: Mutex<Instant>,
    },
    Bars {
        multi: MultiProgress,
        total: ProgressBar,
    },
}

/// The reporter for one run of oci-copy.
pub struct Progress {
    mode: Mode,
    done: AtomicU64,
    expected: AtomicU64,
}

static GLOBAL: OnceLock<Progress> = OnceLock::new();

/// Sets up progress reporting for this process; called once by `run`.
pub fn init(quiet: bool) {
    let _ = GLOBAL.set(Progress::new(quiet, std::io::stderr().is_terminal()));
}

/// The process's reporter (quiet if `init` was never called, as in unit tests).
pub fn global() -> &'static Progress {
    GLOBAL.get_or_init(|| Progress::new(true, false))
}

impl Progress {
    fn new(quiet: bool, tty: bool) -> Progress {
        let mode = match (quiet, tty) {
            (true, _) => Mode::Quiet,
            (false, false) => Mode::Plain {
                last: Mutex::new(Instant::now()),
            },
            (false, true) => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let total = multi.add(ProgressBar::new(0));
                total.set_style(
                    ProgressStyle::with_template(
                        "{msg:>14} {bytes}/{total_bytes} ({binary_bytes_per_sec}, {elapsed})",
                    )
                    .expect("the template is valid"),
                );
                total.set_message("total");
                Mode::Bars { multi, total }
            }
        };
        Progress {
            mode,
            done: AtomicU64::new(0),
            expected: AtomicU64::new(0),
        }
    }

    /// Announces a blob about to be copied; `what` is `layer 2` or `config`.
    pub fn start_blob(&'static self, what: &str, digest: &Digest, size: u64) -> BlobProgress {
        self.expected.fetch_add(size, Ordering::Relaxed);
        let bar = match &self.mode {
            Mode::Quiet => None,
            Mode::Plain { .. } => {
                eprintln!("Copying {what} {} ({})", digest.short(), human_bytes(size));
                None
            }
            Mode::Bars { multi, total } => {
                total.set_length(self.expected.load(Ordering::Relaxed));
                let bar = multi.insert_before(total, ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template("{msg:>14} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}")
                        .expect("the template is valid")
                        .progress_chars("=> "),
                );
                bar.set_message(format!("{what} {}", &digest.hex()[..8]));
                Some(bar)
            }
        };
        BlobProgress {
            owner: self,
            bar,
            what: what.to_string(),
            digest: digest.short(),
            started: Instant::now(),
            size,
        }
    }

    fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bars { total, .. } => total.set_position(done),
            Mode::Plain { last } => {
                let mut last = last.lock().expect("no panics while holding the lock");
                if last.elapsed() >= PLAIN_INTERVAL {
                    *last = Instant::now();
                    let expected = self.expected.load(Ordering::Relaxed).max(1);
                    eprintln!(
                        "Progress: {} of {} ({}%)",
                        human_bytes(done),
                        human_bytes(expected),
                        done.saturating_mul(100) / expected
                    );
                }
            }
        }
    }

    /// Removes the bars before the final summary is printed.
    pub fn finish(&self) {
        if let Mode::Bars { multi, total } = &self.mode {
            total.finish_and_clear();
            let _ = multi.clear();
        }
    }
}

/// Progress of one blob. Wrap its source stream with [`BlobProgress::reader`].
pub struct BlobProgress {
    owner: &'static Progress,
    bar: Option<ProgressBar>,
    what: String,
    digest: String,
    started: Instant,
    size: u64,
}

impl BlobProgress {
    /// Counts the bytes read through `r`.
    pub fn reader<R: Read>(&self, r: R) -> ProgressReader<'_, R> {
        ProgressReader {
            inner: r,
            progress: self,
        }
    }

    /// Reports the end of the blob: `copied` or `skipped`.
    pub fn done(self, outcome: &str) {
        match &self.owner.mode {
            Mode::Plain { .. } => eprintln!(
                "{} {} {} ({}, {:.1}s)",
                capitalise(outcome),
                self.what,
                self.digest,
                human_bytes(self.size),
                self.started.elapsed().as_secs_f64()
            ),
            Mode::Bars { multi, .. } => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                    multi.remove(bar);
                    let _ = multi.println(format!(
                        "{} {} {}",
                        capitalise(outcome),
                        self.what,
                        self.digest
                    ));
                }
            }
            Mode::Quiet => {}
        }
        if outcome == "skipped" {
            self.owner.advance(self.size);
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// A reader that reports the bytes read through it.
pub struct ProgressReader<'a, R> {
    inner: R,
    progress: &'a BlobProgress,
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(bar) = &self.progress.bar {
            bar.inc(n as u64);
        }
        self.progress.owner.advance(n as u64);
        Ok(n)
    }
}
