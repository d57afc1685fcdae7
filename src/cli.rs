//! Command-line definitions (clap). `copy` is the default command: `oci-copy SRC DST` is
//! read as `oci-copy copy SRC DST`. The man page in `man/` is rendered from these
//! definitions by [`render_man`], and a test keeps it in sync.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::media_type::{Compression, Format};

const TRANSPORT_HELP: &str = "\
Image references:
  docker://HOST[:PORT]/REPO[:TAG|@DIGEST]   a registry (not available yet)
  oci:DIR[:TAG]                             an OCI image layout directory
  oci-archive:FILE[:TAG]                    a tar of an OCI image layout
  docker-archive:FILE[:NAME:TAG|:@N]        a `docker save` / `docker load` tarball

A path ends at its first ':'; what follows is the tag or the image name.

Exit status: 0 success, 1 failure, 2 usage error.";

const COPY_EXAMPLES: &str = "\
Examples:
  oci-copy docker-archive:app.tar oci:layout:app        # docker save tarball → OCI layout
  oci-copy oci:layout:app docker-archive:app.tar:lab/app:1
  oci-copy oci:layout:app oci-archive:app-oci.tar:v1
  oci-copy docker-archive:multi.tar:@1 oci:layout:second";

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

    /// Log every decision and request (same as RUST_LOG=oci_copy=debug).
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
    /// Recompress every layer with this algorithm.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub dest_compress_format: Option<CompressArg>,
    /// With an index as source, copy the instance for OS/ARCH[/VARIANT] (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Number of blobs to copy at once.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Write the digest of the manifest written to FILE.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image to inspect.
    #[arg(value_name = "REF")]
    pub image: String,
    /// Print the top-level manifest exactly as stored.
    #[arg(long, conflicts_with = "config")]
    pub raw: bool,
    /// Print the image config exactly as stored.
    #[arg(long)]
    pub config: bool,
    /// With an index, describe the instance for OS/ARCH[/VARIANT] (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
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

const SUBCOMMANDS: &[&str] = &["copy", "inspect", "help"];
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
