//! `oci-copy sync`'s flags.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::args::{ConversionArgs, CopyRegistryArgs};

/// What `--src` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncSource {
    /// A registry repository, REGISTRY/REPO (every tag) or REGISTRY/REPO:TAG.
    Docker,
    /// skopeo sync's YAML file.
    Yaml,
    /// A directory of OCI layouts, one per repository.
    Dir,
    /// A bundle written by `--dest bundle`: one layout, or an oci-archive (.tar).
    Bundle,
}

/// What `--dest` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncDest {
    /// A registry and repository prefix: REGISTRY[/PREFIX].
    Docker,
    /// A directory: one OCI layout per repository.
    Dir,
    /// One OCI layout (or an oci-archive, for a path ending in .tar) holding every image,
    /// each named by its full source reference.
    Bundle,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// What SOURCE is.
    #[arg(
        long = "src",
        short = 's',
        value_enum,
        required_unless_present = "merge_reports"
    )]
    pub src: Option<SyncSource>,
    /// What DESTINATION is.
    #[arg(long = "dest", short = 'd', value_enum, required_unless_present_any = ["merge_reports", "plan"])]
    pub dest: Option<SyncDest>,
    /// The repository, YAML file, directory or bundle to read.
    #[arg(value_name = "SOURCE", required_unless_present = "merge_reports")]
    pub source: Option<String>,
    /// The registry prefix, directory or bundle path to write.
    #[arg(value_name = "DESTINATION", required_unless_present_any = ["merge_reports", "plan"])]
    pub destination: Option<String>,
    /// Name each repository at the destination by its full source name
    /// (REGISTRY/REPO), not its last component.
    #[arg(long)]
    pub scoped: bool,
    /// With an index as source, copy the whole index with every instance.
    #[arg(long, short = 'a')]
    pub all: bool,
    /// With an index as source, copy the instance for OS/ARCH[/VARIANT]; repeat it for an
    /// index of those platforms.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Vec<String>,
    /// Print what would be copied and what skipped, without copying.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (repositories and their tags) as JSON, without copying.
    #[arg(long)]
    pub plan: bool,
    /// Run only part I of N (0-based: 0/3, 1/3, 2/3); `k8s` reads JOB_COMPLETION_INDEX and
    /// JOB_COMPLETIONS, as a Kubernetes Indexed Job sets them.
    #[arg(long, value_name = "I/N|k8s")]
    pub shard: Option<String>,
    /// Go on after an image fails, and fail at the end.
    #[arg(long)]
    pub keep_going: bool,
    /// Images copied at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub image_jobs: u16,
    /// Write one JSON line per image to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print one summary of the reports of several runs (shards), and exit as they call for.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["src", "dest", "plan", "dry_run"])]
    pub merge_reports: Vec<PathBuf>,
    #[command(flatten)]
    pub conversion: ConversionArgs,
    /// Copy each image's referrers too (signatures, SBOMs, attestations), found and written
    /// as `copy --referrers` does; every image is then copied (its referrers may have
    /// changed), and the tags of referrers are not listed as images of their own.
    #[arg(long)]
    pub referrers: bool,
    /// With --referrers, copy only referrers of this artifact type; repeat for several.
    #[arg(long, value_name = "artifactType=TYPE", requires = "referrers", value_parser = crate::copy::referrers::parse_filter)]
    pub referrers_filter: Vec<String>,
    /// Blobs copied at once for each image.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    #[command(flatten)]
    pub registry: CopyRegistryArgs,
}
