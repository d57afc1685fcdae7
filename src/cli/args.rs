//! The clap types of every command: flags as parsed, before they are resolved into
//! settings (see `settings.rs`), as ripgrep keeps its low-level arguments apart.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::tool_args::secret;
use crate::reference::DockerRef;
use crate::transport::registry::{Credentials, Secret};

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

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Image to read, e.g. docker-archive:app.tar or oci:dir:tag.
    #[arg(value_name = "SRC")]
    pub source: String,
    /// Where to write it, e.g. oci:dir:tag or docker-archive:out.tar:name:tag.
    #[arg(value_name = "DST")]
    pub destination: String,
    #[command(flatten)]
    pub conversion: ConversionArgs,
    /// Write each gzip layer this copy compresses as one gzip member (zlib, default level
    /// 3), for readers that stop after the first member. By default a layer is a series of
    /// 1 MiB members (libdeflate, twice as fast, or ISA-L's igzip in a build with the isal
    /// feature: --version says which), which Go, zlib, pigz, Python and Java read.
    #[arg(long)]
    pub single_member_gzip: bool,
    /// With an index as source, copy the instance for OS/ARCH[/VARIANT] (default: this
    /// machine's). Repeat it to copy an index of just those platforms.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Vec<String>,
    /// With an index as source, copy the whole index with every instance.
    #[arg(long, short = 'a')]
    pub all: bool,
    /// With an index as source: system copies this machine's instance (the default), all
    /// the whole index (as --all), index-only the index alone, whose instances the
    /// destination must hold already.
    #[arg(long, value_enum, value_name = "WHAT", conflicts_with = "all")]
    pub multi_arch: Option<MultiArchArg>,
    /// Number of blobs to copy at once (an archive written from a local source takes its
    /// blobs one at a time, in order).
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Another name for the image in a docker-archive destination (RepoTags); repeat it, or
    /// separate names with commas.
    #[arg(long, value_name = "NAME:TAG", value_delimiter = ',', value_parser = parse_tagged)]
    pub additional_tag: Vec<DockerRef>,
    /// Decompress every layer written to a dir: destination (skopeo's flag; elsewhere use
    /// --dest-compress-format none).
    #[arg(long, conflicts_with = "dest_compress")]
    pub dest_decompress: bool,
    /// Compress the uncompressed layers written to a dir: destination, with gzip or
    /// --dest-compress-format (skopeo's flag).
    #[arg(long)]
    pub dest_compress: bool,
    /// Keep uncompressed layers uncompressed in an oci: or oci-archive: destination, which
    /// otherwise gzips them (skopeo's flag).
    #[arg(long)]
    pub dest_oci_accept_uncompressed_layers: bool,
    /// Write the digest of the manifest written to FILE.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Copy the referrers too (signatures, SBOMs, attestations: OCI 1.1 subject, the
    /// referrers tag schema, cosign's sha256-<hex>.sig/.att/.sbom tags), recursively. Every
    /// digest is kept, so conversions are refused.
    #[arg(long)]
    pub referrers: bool,
    /// With --referrers, copy only referrers of this artifact type; repeat for several.
    #[arg(long, value_name = "artifactType=TYPE", requires = "referrers", value_parser = crate::copy::referrers::parse_filter)]
    pub referrers_filter: Vec<String>,
    #[command(flatten)]
    pub registry: CopyRegistryArgs,
}

/// How a copy may change what it writes: `copy`'s and `sync`'s.
#[derive(Debug, Args)]
pub struct ConversionArgs {
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
    /// default 3). A build with ISA-L's igzip has three gzip levels: 1-3, 4-6 and 7-9.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=19))]
    pub dest_compress_level: Option<i32>,
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
    /// Access the source registry anonymously: no credentials are looked up or sent.
    #[arg(long, conflicts_with = "src_creds")]
    pub src_no_creds: bool,
    /// Access the destination registry anonymously: no credentials are looked up or sent.
    #[arg(long, conflicts_with = "dest_creds")]
    pub dest_no_creds: bool,
    /// A bearer token for the source registry, sent as it is where the registry asks for a
    /// bearer token (no token exchange). Like --src-creds, it shows in the process list.
    #[arg(long, value_name = "TOKEN", value_parser = secret)]
    pub src_registry_token: Option<Secret>,
    /// A bearer token for the destination registry, sent as it is where the registry asks
    /// for a bearer token (no token exchange). It shows in the process list.
    #[arg(long, value_name = "TOKEN", value_parser = secret)]
    pub dest_registry_token: Option<Secret>,
    /// Auth file to read credentials from (default: $REGISTRY_AUTH_FILE, then containers'
    /// auth.json, then docker's config.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Auth file for the source registry (default: --authfile's).
    #[arg(long, value_name = "FILE")]
    pub src_authfile: Option<PathBuf>,
    /// Auth file for the destination registry (default: --authfile's).
    #[arg(long, value_name = "FILE")]
    pub dest_authfile: Option<PathBuf>,
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
    /// registries.conf to read mirrors and short-name aliases from (default:
    /// $CONTAINERS_REGISTRIES_CONF, else ~/.config/containers/registries.conf, else
    /// /etc/containers/registries.conf, when it exists).
    #[arg(long, value_name = "FILE")]
    pub registries_conf: Option<PathBuf>,
    /// Do not read a pushed image back: by default a push is done only when the registry
    /// serves every manifest, tag and blob of it over 3 fresh connections (exit 1 if not).
    /// For registries known to be only eventually consistent.
    #[arg(long)]
    pub no_read_back: bool,
    #[command(flatten)]
    pub retry: RetryArgs,
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
    /// The longest a registry's Retry-After (on a 429 or 503) is waited for before a retry.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::retry::parse_duration)]
    pub retry_max_wait: std::time::Duration,
    /// A registry connection that makes no progress for DURATION (no answer to a request,
    /// no byte of a download, no byte of an upload taken) counts as broken: a download
    /// resumes, a request or upload is retried. 0 waits for ever.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::retry::parse_duration)]
    pub stall_timeout: std::time::Duration,
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

/// Registry options of `inspect`, `verify`, `list-tags` and `delete`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Access the registry anonymously: no credentials are looked up or sent.
    #[arg(long, conflicts_with = "creds")]
    pub no_creds: bool,
    /// A bearer token, sent as it is where the registry asks for a bearer token (no token
    /// exchange). It shows in the process list.
    #[arg(long, value_name = "TOKEN", value_parser = secret)]
    pub registry_token: Option<Secret>,
    /// registries.conf to read mirrors and short-name aliases from (default:
    /// $CONTAINERS_REGISTRIES_CONF, else ~/.config/containers/registries.conf, else
    /// /etc/containers/registries.conf, when it exists).
    #[arg(long, value_name = "FILE")]
    pub registries_conf: Option<PathBuf>,
    #[command(flatten)]
    pub retry: RetryArgs,
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

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Image to check; a layout or archive named without a tag means all its images.
    #[arg(value_name = "REF")]
    pub image: String,
    /// Check every image of the layout or archive, not only the one REF names.
    #[arg(long)]
    pub all: bool,
    /// Check the referrers too: each one's subject must name the manifest it hangs from,
    /// and its blobs must verify.
    #[arg(long)]
    pub referrers: bool,
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
    /// Print the tree of referrers (signatures, SBOMs, attestations) of the image and of
    /// each instance of an index: artifactType, digest, size, annotations.
    #[arg(long, conflicts_with_all = ["raw", "config", "platforms"])]
    pub referrers: bool,
    /// With --referrers, print the tree as JSON.
    #[arg(long, requires = "referrers")]
    pub json: bool,
    /// Print the summary through a Go-template-like TEMPLATE, e.g. '{{.Digest}}' or
    /// '{{.Os}}/{{.Architecture}} {{.Labels.version}}': field lookups (and index .Labels
    /// "KEY") only.
    #[arg(long, short = 'f', value_name = "TEMPLATE", conflicts_with_all = ["raw", "config", "platforms"])]
    pub format: Option<String>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MultiArchArg {
    System,
    All,
    IndexOnly,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressArg {
    Gzip,
    Zstd,
    None,
}

/// `NAME:TAG`, with the tag given, as skopeo wants it for `--additional-tag`.
fn parse_tagged(s: &str) -> Result<DockerRef, String> {
    let r = DockerRef::parse(s).map_err(|e| format!("{e:#}"))?;
    let last = s.rsplit('/').next().unwrap_or("");
    if r.digest.is_some() || !last.contains(':') {
        return Err(format!("{s:?} must be NAME:TAG, with a tag and no digest"));
    }
    Ok(r)
}
