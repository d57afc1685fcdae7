//! One module per command. Each takes its parsed arguments (`crate::cli`), resolves them
//! into settings, runs, and prints only what was asked for on stdout; progress and the
//! summary go to stderr. Commands depend on `cli`, never the reverse.

mod copy;
pub(crate) mod copy_referrers;
mod delete;
mod inspect;
mod inspect_format;
mod inspect_referrers;
mod list_tags;
mod login;
mod manifest_digest;
mod probe;
pub mod verify;

use std::io::Write;

use anyhow::Result;

use crate::cli::{self, Cli, Command};

/// stdout was closed by its reader (`oci-copy inspect … | head -c1`): not a failure of
/// oci-copy, so the binary exits 0 quietly, as ripgrep does.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct StdoutClosed;

/// A command's own exit status (`sync` has several an engine can act on), and the line to
/// print for it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

/// Writes `bytes` to stdout and flushes; a reader that went away is [`StdoutClosed`].
pub fn print(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        r => Ok(r?),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let Some(command) = cli.command else {
        // `oci-copy SRC DST`, when the default command was not inserted.
        let args = cli
            .copy
            .ok_or_else(|| anyhow::anyhow!("nothing to do: see oci-copy --help"))?;
        return copy::run(args, cli.quiet);
    };
    match command {
        Command::Copy(args) => copy::run(args, cli.quiet),
        Command::Inspect(args) => inspect::run(args),
        Command::Completions(args) => {
            let mut out = Vec::new();
            cli::write_completions(args.shell, &mut out);
            print(&out)
        }
        Command::ListTags(args) => list_tags::run(args),
        Command::Verify(args) => verify::run(args, cli.quiet),
        Command::Probe(args) => probe::run(args),
        Command::Sync(args) => crate::sync::run(args, cli.quiet),
        Command::Delete(args) => delete::run(args, cli.quiet),
        Command::Login(args) => login::login(args, cli.quiet),
        Command::Logout(args) => login::logout(args, cli.quiet),
        Command::ManifestDigest(args) => manifest_digest::run(args),
    }
}
