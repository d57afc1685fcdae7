//! Command-line definitions (clap). `copy` is the default command: `oci-copy SRC DST` is
//! read as `oci-copy copy SRC DST`. The man page in `man/` is rendered from these
//! definitions by [`render_man`], and a test keeps it in sync.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::media_type::{Compression, Format};
use crate::transport::registry::{Credentials, RegistryOptions};

const TRANSPORT_HELP: &str = "\
Image references:
  docker://HOST[:PORT]/REPO[:TAG|@DIGEST]  a registry (`alpine`: docker.io/library/alpine)
  oci:DIR[:TAG]                            an OCI image layout directory
  oci-archive:FILE[:TAG]                   a tar of an OCI image layout
  docker-archive:FILE[:NAME:TAG|:@N]       a `docker save` / `docker load` tarball

A path ends at its first ':'; what follows is the tag or the image name.

Examples:
  oci-copy docker-archive:app.tar oci:layouts/app:1          # docker save → OCI layout
  oci-copy oci:layouts/app:1 docker://registry.example/lab/app:1
  oci-copy --all docker://quay.io/lab/app:1 oci-archive:app-all.tar:1
  oci-copy inspect docker-archive:app.tar
  oci-copy verify oci:layouts/app

Exit status: 0 success; 1 failure; 2 usage error; 75 temporary failure, worth retrying
later (the registry or network was unavailable and retries ran out, or the registry kept
losing upload sessions).

Registry requests that fail for a transient reason (connection refused or reset, timeout,
HTTP 408, 429, 500, 502, 503, 504) are retried --retry-times times, with exponential backoff
from 0.5s capped at 10s and jitter, or a fixed --retry-delay; --debug logs each retry and
why. A download that breaks resumes with a Range request; an upload whose session the
registry lost restarts in a fresh session. 401, 403, 404 and digest mismatches are not
retried.";

const COPY_EXAMPLES: &str = "\
Examples:
  oci-copy docker-archive:app.tar oci:layout:app        # docker save tarball → OCI layout
  oci-copy oci:layout:app docker-archive:app.tar:lab/app:1
  oci-copy oci:layout:app oci-archive:app-oci.tar:v1
  oci-copy docker-archive:multi.tar:@1 oci:layout:second
  oci-copy docker://alpine:3.20 oci:layout:alpine         # pull from Docker Hub
  oci-copy oci:layout:app docker://registry.example:5000/lab/app:1 --dest-creds me:secret
  oci-copy --tls-verify=false docker://127.0.0.1:5000/a:1 docker://127.0.0.1:5000/b:1
Credentials: --src-creds/--dest-creds/--creds, then --authfile or $REGISTRY_AUTH_FILE, then
containers auth.json, then $DOCKER_CONFIG/config.json or ~/.docker/config.json (with
credHelpers and credsStore).";

/// Copy container images between registries, OCI layouts and docker archives, checking
/// every digest on the way.
#[derive(Debug, Parser)]
#[command(
    name = "oci-copy",
    version,
    override_usage = "oci-copy [OPTIONS] SRC DST\n       oci-copy <COMMAND> [OPTIONS] ...",
    after_help = TRANSPORT_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log every decision and request (RUST_LOG=oci_copy=debug,oci_client=debug does the same).
    #[arg(long, global = true)]
    pub debug: bool,

    /// Print nothing but errors and the output asked for.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy an image from SRC to DST (the default command).
    #[command(after_help = COPY_EXAMPLES)]
    Copy(CopyArgs),
    /// Show an image's manifest summary, raw manifest or config.
    #[command(
        after_help = "Examples:\n  oci-copy inspect oci:layout:app\n  oci-copy inspect --raw docker-archive:app.tar\n  oci-copy inspect --config oci-archive:app.tar | jq .config.Env"
    )]
    Inspect(InspectArgs),
    /// Check an image like fsck: re-hash every blob it reaches, check sizes and diff_ids.
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// List the tags of a registry repository, as JSON.
    #[command(
        after_help = "Examples:\n  oci-copy list-tags docker://quay.io/podman/stable\n  oci-copy list-tags --tls-verify=false docker://127.0.0.1:5000/lab/app"
    )]
    ListTags(ListTagsArgs),
    /// Find out what a registry supports, and why pushes to it fail.
    #[command(after_help = crate::probe_cmd::PROBE_HELP)]
    Probe(crate::probe_cmd::ProbeArgs),
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    #[command(
        after_help = "Examples:\n  oci-copy completions bash > /etc/bash_completion.d/oci-copy\n  oci-copy completions zsh > \"${fpath[1]}/_oci-copy\"\n  oci-copy completions fish > ~/.config/fish/completions/oci-copy.fish"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

/// Writes the completion script for `shell` to `out`.
pub fn write_completions(shell: ShellArg, out: &mut dyn std::io::Write) {
    use clap_complete::Shell;
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command(), "oci-copy", out);
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Image to read, e.g. docker-archive:app.tar or oci:dir:tag.
    #[arg(value_name = "SRC")]
    pub source: String,
    /// Where to write it, e.g. oci:dir:tag or docker-archive:out.tar:name:tag.
    #[arg(value_name = "DST")]
    pub destination: String,
    /// Manifest format to write; by default the source's, or what the destination takes.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<FormatArg>,
    /// Refuse the copy if any manifest digest would change.
    #[arg(long)]
    pub preserve_digests: bool,
    /// Recompress every layer with this algorithm (diff_ids stay the same).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub dest_compress_format: Option<CompressArg>,
    /// Compression level for layers this copy compresses (gzip 1-9, default 1; zstd 1-19,
    /// default 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=19))]
    pub dest_compress_level: Option<i32>,
    /// Write each gzip layer this copy compresses as one gzip member (zlib, default level
    /// 3), for readers that stop after the first member. By default a layer is a series of
    /// 1 MiB members (libdeflate, twice as fast), which Go, zlib, pigz, Python and Java read.
    #[arg(long)]
    pub single_member_gzip: bool,
    /// With an index as source, copy the instance for OS/ARCH[/VARIANT] (default: this
    /// machine's). Repeat it to copy an index of just those platforms.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Vec<String>,
    /// With an index as source, copy the whole index with every instance.
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Number of blobs to copy at once (an archive written from a local source takes its
    /// blobs one at a time, in order).
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Write the digest of the manifest written to FILE.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    #[command(flatten)]
    pub registry: CopyRegistryArgs,
}

/// Registry options of `copy`: per side, and shared ones that apply to both.
#[derive(Debug, Args)]
#[command(next_help_heading = "Registry options")]
pub struct CopyRegistryArgs {
    /// Credentials for the source registry.
    #[arg(long, value_name = "USER[:PASS]")]
    pub src_creds: Option<Credentials>,
    /// Credentials for the destination registry.
    #[arg(long, value_name = "USER[:PASS]")]
    pub dest_creds: Option<Credentials>,
    /// Credentials for both registries (when --src-creds or --dest-creds is not given).
    #[arg(long, value_name = "USER[:PASS]")]
    pub creds: Option<Credentials>,
    /// Auth file to read credentials from (default: $REGISTRY_AUTH_FILE, then containers'
    /// auth.json, then docker's config.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Verify the source registry's TLS certificate; =false also allows plain HTTP.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub src_tls_verify: Option<bool>,
    /// Verify the destination registry's TLS certificate; =false also allows plain HTTP.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub dest_tls_verify: Option<bool>,
    /// Verify both registries' TLS certificates (default true); =false also allows plain HTTP.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Certificates for the source registry: extra CAs (*.crt), and a TLS client certificate
    /// (NAME.cert with its key NAME.key) presented when the registry asks for one.
    #[arg(long, value_name = "DIR")]
    pub src_cert_dir: Option<PathBuf>,
    /// Certificates for the destination registry: extra CAs (*.crt), and a TLS client certificate
    /// (NAME.cert with its key NAME.key) presented when the registry asks for one.
    #[arg(long, value_name = "DIR")]
    pub dest_cert_dir: Option<PathBuf>,
    /// Certificates for both registries (when --src-cert-dir or --dest-cert-dir is not given).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    #[command(flatten)]
    pub retry: RetryArgs,
}

impl CopyRegistryArgs {
    /// The options for the source registry.
    pub fn source(&self) -> RegistryOptions {
        self.side(
            &self.src_creds,
            "--src-creds",
            self.src_tls_verify,
            &self.src_cert_dir,
        )
    }

    /// The options for the destination registry.
    pub fn destination(&self) -> RegistryOptions {
        self.side(
            &self.dest_creds,
            "--dest-creds",
            self.dest_tls_verify,
            &self.dest_cert_dir,
        )
    }

    fn side(
        &self,
        creds: &Option<Credentials>,
        flag: &str,
        tls: Option<bool>,
        cert_dir: &Option<PathBuf>,
    ) -> RegistryOptions {
        RegistryOptions {
            creds_flag: if creds.is_some() { flag } else { "--creds" }.to_string(),
            creds: creds.clone().or_else(|| self.creds.clone()),
            authfile: self.authfile.clone(),
            tls_verify: tls.or(self.tls_verify),
            cert_dir: cert_dir.clone().or_else(|| self.cert_dir.clone()),
            retry: self.retry.policy(),
        }
    }
}

/// `--retry-times` and `--retry-delay`, for every command that talks to a registry.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Retries after a transient registry failure (connection refused or reset, timeout,
    /// 408, 429, 5xx) or a lost upload session.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry_times: u32,
    /// Fixed delay between retries: 500ms, 2s, 1m (default: exponential backoff from 0.5s,
    /// capped at 10s, with jitter).
    #[arg(long, value_name = "DURATION", value_parser = crate::retry::parse_duration)]
    pub retry_delay: Option<std::time::Duration>,
    /// A registry connection that makes no progress for DURATION (no answer to a request,
    /// no byte of a download, no byte of an upload taken) counts as broken: a download
    /// resumes, a request or upload is retried. 0 waits for ever.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::retry::parse_duration)]
    pub stall_timeout: std::time::Duration,
}

impl RetryArgs {
    pub fn policy(&self) -> crate::retry::RetryPolicy {
        crate::retry::RetryPolicy {
            times: self.retry_times,
            delay: self.retry_delay,
            stall: (!self.stall_timeout.is_zero()).then_some(self.stall_timeout),
        }
    }
}

/// How to reach one registry: credentials and TLS. `probe` takes these alone; `inspect`,
/// `verify` and `list-tags` take them with the retry options ([`RegistryArgs`]).
#[derive(Debug, Args)]
#[command(next_help_heading = "Registry options")]
pub struct ConnectionArgs {
    /// Credentials for the registry.
    #[arg(long, value_name = "USER[:PASS]")]
    pub creds: Option<Credentials>,
    /// Auth file to read credentials from (default: $REGISTRY_AUTH_FILE, then containers'
    /// auth.json, then docker's config.json).
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

impl ConnectionArgs {
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            creds: self.creds.clone(),
            creds_flag: "--creds".to_string(),
            authfile: self.authfile.clone(),
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            ..Default::default()
        }
    }
}

/// Registry options of `inspect`, `verify` and `list-tags`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub retry: RetryArgs,
}

impl RegistryArgs {
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            retry: self.retry.policy(),
            ..self.connection.options()
        }
    }
}

#[derive(Debug, Args)]
pub struct ListTagsArgs {
    /// Repository to list: docker://HOST[:PORT]/REPO.
    #[arg(value_name = "REPO")]
    pub repository: String,
    /// Tags to ask for per request (the registry's pagination).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

const VERIFY_HELP: &str = "\
Reads every manifest, config and layer the image reaches (every instance of an index),
re-hashes each blob, checks its size, and decompresses each layer (gzip, zstd or none)
to check it against the config's diff_id. Prints one line per image, each problem below
it naming the blob by digest, and a summary. Exit status: 0 clean, 1 any problem, 75 the
registry was unavailable (retries ran out).

Examples:
  oci-copy verify oci:layout              # every image of the layout
  oci-copy verify oci:layout:app          # one tag (--all: every image)
  oci-copy verify docker-archive:app.tar
  oci-copy verify docker://registry.example/lab/app:1";

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Image to check; a layout or archive named without a tag means all its images.
    #[arg(value_name = "REF")]
    pub image: String,
    /// Check every image of the layout or archive, not only the one REF names.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image to inspect.
    #[arg(value_name = "REF")]
    pub image: String,
    /// Print the top-level manifest exactly as stored (an index, for a multi-platform image).
    #[arg(long, conflicts_with_all = ["config", "platforms"])]
    pub raw: bool,
    /// Print the image config exactly as stored.
    #[arg(long, conflicts_with = "platforms")]
    pub config: bool,
    /// List every platform of a multi-platform image (OS/ARCH[/VARIANT], digest, media type).
    #[arg(long)]
    pub platforms: bool,
    /// With an index, describe the instance for OS/ARCH[/VARIANT] (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// OCI image-spec media types.
    Oci,
    /// Docker image manifest v2, schema 2.
    V2s2,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Oci => Format::Oci,
            FormatArg::V2s2 => Format::V2s2,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressArg {
    Gzip,
    Zstd,
    None,
}

impl From<CompressArg> for Compression {
    fn from(c: CompressArg) -> Compression {
        match c {
            CompressArg::Gzip => Compression::Gzip,
            CompressArg::Zstd => Compression::Zstd,
            CompressArg::None => Compression::None,
        }
    }
}

const SUBCOMMANDS: &[&str] = &[
    "copy",
    "inspect",
    "verify",
    "list-tags",
    "probe",
    "completions",
    "help",
];
const GLOBAL_FLAGS: &[&str] = &["--debug", "--quiet", "-q"];

/// Inserts the default `copy` command where the user left it out: before the first
/// argument that is not a global flag, unless that is a command or `--help`/`--version`.
pub fn with_default_command(args: Vec<String>) -> Vec<String> {
    let mut args = args;
    let pos = args
        .iter()
        .skip(1)
        .position(|a| !GLOBAL_FLAGS.contains(&a.as_str()))
        .map(|p| p + 1);
    if let Some(p) = pos {
        let a = args[p].as_str();
        let passthrough =
            SUBCOMMANDS.contains(&a) || ["-h", "--help", "-V", "--version"].contains(&a);
        if !passthrough {
            args.insert(p, "copy".to_string());
        }
    }
    args
}

/// The clap command, for the man page and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Renders `man/oci-copy.1` from the clap definitions.
pub fn render_man() -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command())
        .render(&mut out)
        .expect("rendering into a Vec cannot fail");
    for sub in command().get_subcommands() {
        let name = format!("oci-copy-{}", sub.get_name());
        let sub = sub.clone().name(name);
        clap_mangen::Man::new(sub)
            .render(&mut out)
            .expect("rendering into a Vec cannot fail");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn copy_is_the_default_command() {
        assert_eq!(
            with_default_command(v(&["x", "a", "b"])),
            v(&["x", "copy", "a", "b"])
        );
        assert_eq!(
            with_default_command(v(&["x", "--debug", "--format", "oci", "a", "b"])),
            v(&["x", "--debug", "copy", "--format", "oci", "a", "b"])
        );
        assert_eq!(
            with_default_command(v(&["x", "--debug", "inspect", "a"])),
            v(&["x", "--debug", "inspect", "a"])
        );
        assert_eq!(
            with_default_command(v(&["x", "--help"])),
            v(&["x", "--help"])
        );
        assert_eq!(with_default_command(v(&["x"])), v(&["x"]));
    }

    /// `man/oci-copy.1` must be what the clap definitions render. Regenerate it with
    /// `OCI_COPY_UPDATE_MAN=1 cargo test --lib man_page`.
    #[test]
    fn man_page_is_in_sync() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/oci-copy.1");
        let want = render_man();
        if std::env::var_os("OCI_COPY_UPDATE_MAN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read(&path).unwrap_or_default();
        assert!(
            have == want,
            "man/oci-copy.1 is out of date with the CLI: run `OCI_COPY_UPDATE_MAN=1 cargo test --lib man_page`"
        );
    }

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }
}
