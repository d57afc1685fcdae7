//! The one stall guard of the registry transport: every request of every command waits at
//! most `--stall-timeout` ([`crate::retry::RetryPolicy::stall`]) for its answer, and every
//! body at most that long for its next bytes; bodies are read through a size limit, so a
//! reply is never held whole before it is refused.

use std::future::Future;
use std::time::Duration;

/// `fut`'s output, or `None` when it did not finish within `stall`.
pub async fn within<F: Future>(stall: Option<Duration>, fut: F) -> Option<F::Output> {
    match stall {
        None => Some(fut.await),
        Some(d) => tokio::time::timeout(d, fut).await.ok(),
    }
}

/// Why a body was not read whole.
#[derive(Debug)]
pub enum BodyError {
    Http(reqwest::Error),
    /// No bytes came for the stall timeout.
    Stalled,
    /// More than the limit came; reading stopped there.
    Over,
}

/// The body of `resp`, refused once it passes `limit` bytes (with `truncate`, cut there
/// instead: for error bodies, which only feed a message), each chunk within `stall`.
pub async fn read_body(
    mut resp: reqwest::Response,
    limit: usize,
    truncate: bool,
    stall: Option<Duration>,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    loop {
        let chunk = match within(stall, resp.chunk()).await {
            None => return Err(BodyError::Stalled),
            Some(Err(e)) => return Err(BodyError::Http(e)),
            Some(Ok(None)) => return Ok(out),
            Some(Ok(Some(c))) => c,
        };
        if out.len() + chunk.len() > limit {
            if truncate {
                out.extend_from_slice(&chunk[..limit - out.len()]);
                return Ok(out);
            }
            return Err(BodyError::Over);
        }
        out.extend_from_slice(&chunk);
    }
}
