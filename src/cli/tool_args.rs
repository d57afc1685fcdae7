//! The clap types of the registry tools: probe, delete, login, logout, and
//! manifest-digest (the copy-side flags are in `args.rs`).

use std::path::PathBuf;

use clap::Args;

use super::args::{ConnectionArgs, FormatArg, RegistryArgs};
use crate::reference::{DockerRef, ImageRef};
use crate::transport::registry::Secret;

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Image to delete: docker://HOST[:PORT]/REPO:TAG or docker://HOST[:PORT]/REPO@DIGEST.
    #[arg(value_name = "REF")]
    pub image: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry to log in to: HOST[:PORT], or HOST[:PORT]/NAMESPACE for credentials that
    /// apply only to the repositories under it.
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// User name (asked for when stdin is a terminal and it is not given).
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password from stdin: all of it, less one final newline.
    #[arg(long)]
    pub password_stdin: bool,
    /// The password on the command line, as skopeo takes it. Other users of the machine can
    /// read it in the process list: prefer --password-stdin or the prompt.
    #[arg(long, short = 'p', value_name = "PASSWORD", conflicts_with = "password_stdin",
          value_parser = secret)]
    pub password: Option<Secret>,
    /// Print the user name stored for REGISTRY and exit (1 when there is none).
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    pub get_login: bool,
    /// Auth file to write (default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Verify the registry's TLS certificate (default true); =false also allows plain HTTP.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Certificates for the registry: extra CAs (*.crt), and a TLS client certificate
    /// (NAME.cert with its key NAME.key) presented when the registry asks for one.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry whose credentials to remove, as given to login.
    #[arg(
        value_name = "REGISTRY",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub registry: Option<String>,
    /// Remove the credentials of every registry from the auth file.
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Auth file to edit (default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ManifestDigestArgs {
    /// The manifest file.
    #[arg(value_name = "MANIFEST-FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Repository to probe, and the only one written to: docker://HOST[:PORT]/REPO.
    #[arg(value_name = "REPO", value_parser = parse_repository)]
    pub repository: DockerRef,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The image format the exit status answers for.
    #[arg(long, short = 'f', value_enum, default_value_t = FormatArg::Oci)]
    pub format: FormatArg,
    /// Uploads in the upload-session test.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub uploads: u16,
    /// How long a request may wait for its answer, or an answer for its next bytes, before
    /// the probe gives up (exit 75). 0 waits for ever.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::retry::parse_duration)]
    pub stall_timeout: std::time::Duration,
    /// The registry options without retries: the probe reports every answer as it came.
    #[command(flatten)]
    pub registry: ConnectionArgs,
}

/// A password or token from the command line.
pub(super) fn secret(s: &str) -> Result<Secret, String> {
    Ok(Secret::new(s))
}

/// `docker://HOST[:PORT]/REPO`, without a tag or digest.
fn parse_repository(s: &str) -> Result<DockerRef, String> {
    let r = ImageRef::parse(s).map_err(|e| format!("{e:#}"))?;
    let ImageRef::Registry(d) = r else {
        return Err("probe needs a registry repository: docker://HOST[:PORT]/REPO".into());
    };
    let name = s.trim_start_matches("docker://");
    let last = name.rsplit('/').next().unwrap_or("");
    if name.contains('@') || last.contains(':') {
        return Err(format!(
            "probe takes a repository without a tag or digest: docker://{}",
            d.repository()
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_a_bare_registry_repository() {
        assert_eq!(
            parse_repository("docker://127.0.0.1:5000/a/b")
                .unwrap()
                .path,
            "a/b"
        );
        assert!(parse_repository("docker://127.0.0.1:5000/a/b:1").is_err());
        assert!(parse_repository("docker://127.0.0.1:5000/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000").is_err());
        assert!(parse_repository("oci:/tmp/x").is_err());
    }
}
