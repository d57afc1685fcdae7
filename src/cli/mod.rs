//! Command-line definitions (clap). `copy` is the default command: `oci-copy SRC DST` is
//! read as `oci-copy copy SRC DST`. The man page in `man/` is rendered from these
//! definitions by [`render_man`], and a test keeps it in sync.

mod args;
mod help;
mod settings;
mod sync_args;
mod tool_args;

use clap::{CommandFactory, Parser, Subcommand};

pub use args::*;
use help::{
    COPY_EXAMPLES, DELETE_HELP, LOGIN_HELP, LOGOUT_HELP, PROBE_HELP, SYNC_HELP, TRANSPORT_HELP,
    VERIFY_HELP,
};
pub use settings::parse_platform;
pub use sync_args::{SyncArgs, SyncDest, SyncSource};
pub use tool_args::*;

/// What `--version` prints: the version and the deflate that compresses gzip layers
/// (libdeflate, or ISA-L's igzip in a build with the `isal` feature).
#[cfg(not(feature = "isal"))]
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (gzip: libdeflate)");
#[cfg(feature = "isal")]
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (gzip: ISA-L igzip)");

/// Copy container images between registries, OCI layouts and docker archives, checking
/// every digest on the way.
#[derive(Debug, Parser)]
#[command(
    name = "oci-copy",
    version = VERSION,
    override_usage = "oci-copy [OPTIONS] SRC DST\n       oci-copy <COMMAND> [OPTIONS] ...",
    after_help = TRANSPORT_HELP,
    subcommand_negates_reqs = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Log every decision and request, each line with the seconds since the start
    /// (RUST_LOG=oci_copy=debug,oci_client=debug logs the same, without the times).
    #[arg(long, global = true)]
    pub debug: bool,

    /// Print nothing but errors and the output asked for.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// The options of `copy`, the default command, here so that `oci-copy --help`, the man
    /// page and the completions list them. [`with_default_command`] puts `copy` before
    /// them, so the parser hands them to the subcommand.
    #[command(flatten)]
    pub copy: Option<CopyArgs>,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run; boxing would buy nothing
pub enum Command {
    /// Copy an image from SRC to DST (the default command).
    #[command(after_help = COPY_EXAMPLES)]
    Copy(CopyArgs),
    /// Show an image's manifest summary, raw manifest or config.
    #[command(
        after_help = "Examples:\n  oci-copy inspect oci:layout:app\n  oci-copy inspect --raw docker-archive:app.tar\n  oci-copy inspect --config oci-archive:app.tar | jq .config.Env\n  oci-copy inspect --referrers --json docker://ghcr.io/acme/app:1\n  oci-copy inspect -f '{{.Digest}} {{index .Labels \"org.example.version\"}}' oci:layout:app"
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
    #[command(after_help = PROBE_HELP)]
    Probe(ProbeArgs),
    /// Mirror many images: repositories, a YAML list, layouts or a bundle, in parallel.
    #[command(after_help = SYNC_HELP)]
    Sync(SyncArgs),
    /// Delete an image from a registry, by digest (a tag is resolved to its digest first).
    #[command(after_help = DELETE_HELP)]
    Delete(DeleteArgs),
    /// Check credentials against a registry and store them in the auth file.
    #[command(after_help = LOGIN_HELP)]
    Login(LoginArgs),
    /// Remove a registry's credentials from the auth file.
    #[command(after_help = LOGOUT_HELP)]
    Logout(LogoutArgs),
    /// Print the digest of a manifest file (the sha256 of its bytes), as skopeo does.
    #[command(
        after_help = "Docker schema 1 manifests are refused: their digest is taken without their signatures.\n\nExamples:\n  oci-copy manifest-digest manifest.json\n  oci-copy inspect --raw docker://quay.io/podman/stable > m.json && oci-copy manifest-digest m.json"
    )]
    ManifestDigest(ManifestDigestArgs),
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    #[command(
        after_help = "Examples:\n  oci-copy completions bash > /etc/bash_completion.d/oci-copy\n  oci-copy completions zsh > \"${fpath[1]}/_oci-copy\"\n  oci-copy completions fish > ~/.config/fish/completions/oci-copy.fish"
    )]
    Completions(CompletionsArgs),
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
        // Every subcommand clap knows (and `help`), so that a new one needs no list here.
        let subcommand = a == "help" || command().get_subcommands().any(|c| c.get_name() == a);
        let passthrough = subcommand || ["-h", "--help", "-V", "--version"].contains(&a);
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

/// Renders `man/oci-copy.1` from the clap definitions: with the bare version, so that the
/// page is the same whichever deflate the build carries.
pub fn render_man() -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command().version(env!("CARGO_PKG_VERSION")))
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

    /// The copy options show at the top level, and reach `copy` whatever their order.
    #[test]
    fn top_level_copy_options_reach_copy() {
        let help = command().render_long_help().to_string();
        for flag in [
            "--format",
            "--all",
            "--dest-compress-format",
            "--src-creds",
            "--retry-times",
        ] {
            assert!(help.contains(flag), "{flag} missing from oci-copy --help");
        }
        let args = with_default_command(v(&["x", "-q", "--all", "oci:a", "--jobs", "2", "oci:b"]));
        let cli = Cli::try_parse_from(args).unwrap();
        let Some(Command::Copy(copy)) = cli.command else {
            panic!("not a copy")
        };
        assert_eq!(
            (copy.source.as_str(), copy.all, copy.jobs),
            ("oci:a", true, 2)
        );
        assert!(cli.quiet);
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
