//! `oci-copy login REGISTRY` and `oci-copy logout REGISTRY|--all`: credentials checked
//! against the registry, then stored in (or removed from) the auth file skopeo and podman
//! use. The password comes from a prompt with echo off, from stdin (`--password-stdin`), or
//! from `--password` with a warning; it never reaches a log, an error or the terminal.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{bail, Context, Result};

use crate::cli::{LoginArgs, LogoutArgs};
use crate::transport::registry::{auth, auth_file, check_login, tls, Credentials, Secret};

/// Runs `login`.
pub(super) fn login(args: LoginArgs, quiet: bool) -> Result<()> {
    let key = auth_file::key(&args.registry)?;
    let (host, namespace) = key.split_once('/').unwrap_or((&key, ""));
    if args.get_login {
        return get_login(&key, host, namespace, &args);
    }
    let file = auth_file::path(args.authfile.as_deref())?;
    let creds = credentials(&args)?;
    let tls = tls::settings(
        host,
        args.tls_verify.unwrap_or(true),
        args.cert_dir.as_deref(),
    )?;
    check_login(host, &tls, &creds, Some(crate::retry::DEFAULT_STALL))?;
    auth_file::store(&file, &key, &creds)
        .with_context(|| format!("storing the credentials for {key}"))?;
    tracing::debug!(
        "stored the credentials of {:?} for {key} in {}",
        creds.username,
        file.display()
    );
    if !quiet {
        super::print(b"Login Succeeded!\n")?;
    }
    Ok(())
}

/// `login --get-login`: the user name every command would use for `key`.
fn get_login(key: &str, host: &str, namespace: &str, args: &LoginArgs) -> Result<()> {
    let found = auth::lookup(host, namespace, None, "", args.authfile.as_deref())?;
    match found {
        Some(f) => super::print(format!("{}\n", f.creds.username).as_bytes()),
        None => bail!("not logged in to {key}"),
    }
}

/// The user name and password, from the flags, stdin or prompts.
fn credentials(args: &LoginArgs) -> Result<Credentials> {
    let terminal = std::io::stdin().is_terminal();
    let username = match &args.username {
        Some(u) => u.clone(),
        None if terminal && !args.password_stdin => prompt("Username: ")?,
        None => bail!("no user name: give --username (stdin is not a terminal to ask on)"),
    };
    if username.is_empty() || username.contains(':') {
        bail!("the user name {username:?} must be non-empty and hold no ':'");
    }
    let password = match &args.password {
        Some(p) => {
            tracing::warn!(
                "--password puts the password in the process list, where other users of this machine can read it; prefer --password-stdin"
            );
            p.clone()
        }
        None if args.password_stdin => password_from_stdin()?,
        None if terminal => Secret::new(prompt_hidden("Password: ")?),
        None => bail!("no password: give --password-stdin (stdin is not a terminal to ask on)"),
    };
    if password.expose().is_empty() {
        bail!("the password is empty");
    }
    Ok(Credentials { username, password })
}

/// All of stdin, less one final newline (`\n` or `\r\n`), as docker and skopeo read it.
fn password_from_stdin() -> Result<Secret> {
    let mut raw = String::new();
    std::io::stdin()
        .read_to_string(&mut raw)
        .context("reading the password from stdin")?;
    let trimmed = raw.strip_suffix('\n').unwrap_or(&raw);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(Secret::new(trimmed))
}

/// Asks on stderr and reads one line from stdin.
fn prompt(question: &str) -> Result<String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading from the terminal")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// [`prompt`] with the terminal's echo off while the line is typed (the newline still
/// echoes).
fn prompt_hidden(question: &str) -> Result<String> {
    let _echo = EchoOff::new();
    prompt(question)
}

/// Turns the echo of the terminal on stdin off, and back on when dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr and tcsetattr only read and write the termios struct given,
        // for fd 0; a failure (not a terminal) leaves everything as it was.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return EchoOff(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            t.c_lflag |= libc::ECHONL;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings tcgetattr returned, on the same fd.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}

/// Runs `logout`.
pub(super) fn logout(args: LogoutArgs, quiet: bool) -> Result<()> {
    let file = auth_file::path(args.authfile.as_deref())?;
    let message = match &args.registry {
        None => {
            auth_file::remove_all(&file)
                .with_context(|| format!("removing every login from {}", file.display()))?;
            "Removed login credentials for all registries\n".to_string()
        }
        Some(r) => {
            let key = auth_file::key(r)?;
            let removed = auth_file::remove(&file, &key)
                .with_context(|| format!("removing the login for {key}"))?;
            if !removed {
                bail!(
                    "not logged in to {key}: {} has no credentials for it",
                    file.display()
                );
            }
            format!("Removed login credentials for {key}\n")
        }
    };
    if !quiet {
        super::print(message.as_bytes())?;
    }
    Ok(())
}
