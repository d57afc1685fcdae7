//! The few Docker Engine API requests the `docker-daemon:` transport makes, over the daemon's
//! Unix socket (`DOCKER_HOST=unix:///path`, else `/var/run/docker.sock`): `GET /_ping`,
//! `GET /images/{name}/get` (the image as a `docker save` archive), `POST /images/load`
//! (an archive to load) and `GET /images/{name}/json` (the image ID it holds). HTTP/1.1 is
//! spoken by hyper's client over tokio's `UnixStream`, one connection per request.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty, Limited, StreamBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::runtime::Runtime;

use crate::digest::Digest;
use crate::disk::Writing;
use crate::redact::redact;

/// The socket docker uses when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How much of an error answer or a load answer is read.
const ANSWER_LIMIT: usize = 1 << 20;

/// A connection to the Docker Engine API; each request opens its own connection.
pub struct Engine {
    socket: PathBuf,
    /// Its own runtime, of one worker: a load's request body is sent from it while the
    /// calling thread writes the archive.
    rt: Runtime,
}

impl Engine {
    /// The daemon `DOCKER_HOST` names, or the default socket. A `tcp://` or `ssh://` host is
    /// refused: only a local Unix socket is spoken to.
    pub fn from_env() -> Result<Engine> {
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let socket = socket_of(host.as_deref())?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the runtime for the Docker daemon's API")?;
        Ok(Engine { socket, rt })
    }

    /// `unix:///var/run/docker.sock`, for messages.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Checks that the daemon answers, before anything is copied.
    pub fn ping(&self) -> Result<()> {
        self.rt.block_on(async {
            let answer = self.send(get("/_ping")?).await?;
            checked(answer, "GET /_ping").await.map(drop)
        })
    }

    /// Streams the `docker save` archive of `name` into `out` (a file at `path`, for errors).
    pub fn export(&self, name: &str, out: &mut File, path: &Path) -> Result<u64> {
        let request = format!("/images/{name}/get");
        let what = format!("GET {request}");
        self.rt.block_on(async {
            let answer = self.send(get(&request)?).await?;
            let mut body = checked(answer, &what).await?;
            let mut total = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.with_context(|| format!("reading the answer to {what}"))?;
                if let Ok(data) = frame.into_data() {
                    out.write_all(&data).writing(path)?;
                    total += data.len() as u64;
                }
            }
            Ok(total)
        })
    }

    /// The image ID the daemon holds under `name`, or `None` when it holds no such image.
    pub fn image_id(&self, name: &str) -> Result<Option<Digest>> {
        let path = format!("/images/{name}/json");
        let what = format!("GET {path}");
        self.rt.block_on(async {
            let answer = self.send(get(&path)?).await?;
            if answer.status() == hyper::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let body = checked(answer, &what).await?;
            let doc: Value = serde_json::from_slice(&read_limited(body).await?)
                .with_context(|| format!("the answer to {what} is not JSON"))?;
            let id = doc["Id"].as_str().context("the image has no Id")?;
            Ok(Some(
                id.parse().with_context(|| format!("image Id {id:?}"))?,
            ))
        })
    }

    /// Loads an archive: `write` writes it into the pipe it is given, whose other end is the
    /// body of `POST /images/load`. Returns the daemon's messages (`Loaded image: …`); fails
    /// with the daemon's own message when it refuses the archive. When `write` fails, the
    /// request is abandoned before its end, so that the daemon loads nothing.
    pub fn load(&self, write: &mut dyn FnMut(File) -> Result<()>) -> Result<Vec<String>> {
        let (reader, writer) = std::io::pipe().context("creating a pipe")?;
        let socket = self.socket.clone();
        let posting = self.rt.spawn(async move {
            let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
            post_load(&socket, reader).await
        });
        let written = write(File::from(OwnedFd::from(writer)));
        if let Err(e) = written {
            let e = e.context("sending the archive to the Docker daemon");
            if !is_broken_pipe(&e) {
                posting.abort();
                return Err(e);
            }
            // The daemon stopped reading: its answer says why.
            return match self.rt.block_on(posting) {
                Ok(Err(why)) => Err(why),
                Ok(Ok(answer)) => load_answer(&answer).and(Err(e)),
                Err(_) => Err(e),
            };
        }
        let answer = self
            .rt
            .block_on(posting)
            .map_err(|e| anyhow!("the load request stopped: {e}"))??;
        load_answer(&answer)
    }

    async fn send<B>(&self, req: Request<B>) -> Result<Response<Incoming>>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        send_on(&self.socket, req).await
    }
}

/// The socket a `DOCKER_HOST` value names.
fn socket_of(host: Option<&str>) -> Result<PathBuf> {
    let Some(host) = host else {
        return Ok(PathBuf::from(DEFAULT_SOCKET));
    };
    match host.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => bail!(
            "DOCKER_HOST={}: only a local Unix socket (unix:///PATH) is supported; \
             to copy from a remote daemon, run oci-copy on its host",
            redact(host)
        ),
    }
}

/// Sends one request on a new connection to `socket`.
async fn send_on<B>(socket: &Path, req: Request<B>) -> Result<Response<Incoming>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let what = format!("{} {}", req.method(), req.uri());
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| unreachable(socket, e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("{what}: the Docker daemon's socket does not speak HTTP"))?;
    tokio::spawn(async move {
        // Its errors reach the request, below.
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .with_context(|| format!("{what} to the Docker daemon at unix://{}", socket.display()))
}

/// The error for a daemon that cannot be reached, with the usual remedy.
fn unreachable(socket: &Path, e: std::io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "; run as root or as a member of the docker group"
        }
        _ => "; is dockerd running? (install it with `apt-get install -y docker.io`, start it with `dockerd &`)",
    };
    anyhow!(
        "cannot connect to the Docker daemon at unix://{}: {e}{hint}",
        socket.display()
    )
}

fn get(path: &str) -> Result<Request<Empty<Bytes>>> {
    Ok(Request::get(path)
        .header(hyper::header::HOST, "docker")
        .body(Empty::new())?)
}

/// The body of a successful answer; else the daemon's `message` as an error.
async fn checked(answer: Response<Incoming>, what: &str) -> Result<Incoming> {
    let status = answer.status();
    if status.is_success() {
        return Ok(answer.into_body());
    }
    let body = read_limited(answer.into_body()).await.unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    bail!("the Docker daemon answered {what} with {status}: {message}")
}

async fn read_limited(body: Incoming) -> Result<Bytes> {
    Ok(Limited::new(body, ANSWER_LIMIT)
        .collect()
        .await
        .map_err(|e| anyhow!("reading the Docker daemon's answer: {e}"))?
        .to_bytes())
}

/// `POST /images/load?quiet=1` with the pipe's bytes as its body; returns the answer's body.
async fn post_load(socket: &Path, pipe: tokio::net::unix::pipe::Receiver) -> Result<Bytes> {
    let chunks = futures_util::stream::unfold(pipe, |mut pipe| async move {
        let mut buf = BytesMut::with_capacity(256 << 10);
        match pipe.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(Frame::data(buf.freeze())), pipe)),
            Err(e) => Some((Err(e), pipe)),
        }
    });
    let req = Request::post("/images/load?quiet=1")
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONTENT_TYPE, "application/x-tar")
        .body(StreamBody::new(chunks))?;
    let answer = send_on(socket, req).await?;
    read_limited(checked(answer, "POST /images/load").await?).await
}

/// The messages of a load's answer, a stream of JSON objects; an `error` or `errorDetail`
/// in any of them is the daemon refusing the archive.
fn load_answer(body: &[u8]) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for doc in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
        let doc = doc.context("the Docker daemon's answer to the load is not JSON")?;
        let error = doc["errorDetail"]["message"]
            .as_str()
            .or_else(|| doc["error"].as_str());
        if let Some(error) = error {
            bail!("the Docker daemon refused the image: {}", error.trim());
        }
        if let Some(s) = doc["stream"].as_str() {
            lines.extend(
                s.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            );
        }
    }
    Ok(lines)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_is_a_unix_socket_or_refused() {
        assert_eq!(socket_of(None).unwrap(), PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            socket_of(Some("unix:///run/user/1000/docker.sock")).unwrap(),
            PathBuf::from("/run/user/1000/docker.sock")
        );
        let e = format!(
            "{:#}",
            socket_of(Some("tcp://me:secret@10.0.0.1:2376")).unwrap_err()
        );
        assert!(e.contains("only a local Unix socket"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        assert!(socket_of(Some("unix://relative.sock")).is_err());
    }

    #[test]
    fn a_load_answer_with_an_error_detail_is_a_refusal() {
        let ok = br#"{"stream":"Loaded image: lab/app:1\n"}"#;
        assert_eq!(load_answer(ok).unwrap(), ["Loaded image: lab/app:1"]);
        // What docker 20.10 sends when the archive fails after the answer began.
        let refused = concat!(
            r#"{"stream":"Loading layer\n"}"#,
            "\r\n",
            r#"{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}"#
        );
        let e = format!("{:#}", load_answer(refused.as_bytes()).unwrap_err());
        assert_eq!(e, "the Docker daemon refused the image: unexpected EOF");
        let e = format!("{:#}", load_answer(br#"{"error":"no space"}"#).unwrap_err());
        assert!(e.ends_with("no space"), "{e}");
        assert!(load_answer(b"<html>").is_err());
    }
}
