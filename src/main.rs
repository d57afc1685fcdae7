//! The `oci-copy` binary: parses the command line, sets up logging, runs, and turns an
//! error into one line on stderr and a non-zero exit status.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use oci_copy::cli::{with_default_command, Cli};
use oci_copy::redact::redact;

fn main() -> ExitCode {
    let args = with_default_command(std::env::args().collect());
    let cli = Cli::parse_from(args);
    init_logging(cli.debug, cli.quiet);
    if let Err(e) = oci_copy::cleanup::install_signal_handlers() {
        tracing::warn!(
            "cannot install the signal handler (temporaries may be left on Ctrl-C): {e}"
        );
    }
    match oci_copy::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<oci_copy::StdoutClosed>().is_some() => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<oci_copy::Exit>().is_some() => {
            let exit = e.downcast_ref::<oci_copy::Exit>().expect("matched above");
            eprintln!("oci-copy: {}", redact(&exit.message.replace('\n', " ")));
            ExitCode::from(exit.code)
        }
        Err(e) => {
            let msg = redact(&format!("{e:#}").replace('\n', " "));
            eprintln!("oci-copy: {msg}");
            if oci_copy::retry::is_temporary(&e, oci_copy::transport::registry::errors::classify) {
                ExitCode::from(oci_copy::retry::EXIT_TEMPFAIL)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// `--debug` shows oci-copy's decisions; `--quiet` leaves only the error line (warnings
/// are dropped too); otherwise `RUST_LOG`, defaulting to oci-copy's own warnings.
fn init_logging(debug: bool, quiet: bool) {
    let filter = if debug {
        // oci-client logs each request it makes (method, URL, status), never credentials.
        EnvFilter::new("oci_copy=debug,oci_client=debug")
    } else if quiet {
        EnvFilter::new("off")
    } else {
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("oci_copy=info"))
    };
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactingStderr(Vec::new()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // Under --debug each line says when it happened, in seconds since the start, so that a
    // slow step shows where the time went; otherwise lines are plain.
    if debug {
        log.with_timer(tracing_subscriber::fmt::time::uptime())
            .init();
    } else {
        log.without_time().init();
    }
}

/// The log's writer: each event is buffered, cleaned of credentials in URLs (`user:pass@`,
/// signed-URL and token query parameters) and written to stderr whole. Third-party crates
/// log URLs too, so the cleaning happens here, once, for every line.
struct RedactingStderr(Vec<u8>);

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingStderr {
    fn drop(&mut self) {
        let line = redact(&String::from_utf8_lossy(&self.0));
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
}
