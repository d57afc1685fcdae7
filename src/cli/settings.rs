//! Parsed flags resolved into the settings the commands run with: registry options per
//! side, retry policies, manifest formats and compressions (ripgrep's high-level arguments).

use std::path::PathBuf;

use super::args::*;
use crate::media_type::{Compression, Format};
use crate::transport::registry::{Credentials, RegistryOptions, Secret};

impl CopyRegistryArgs {
    /// The options for the source registry.
    pub fn source(&self) -> RegistryOptions {
        self.side(Side {
            creds: &self.src_creds,
            flag: "--src-creds",
            no_creds: self.src_no_creds,
            token: self
                .src_registry_token
                .as_ref()
                .map(|t| (t, "--src-registry-token")),
            tls: self.src_tls_verify,
            cert_dir: &self.src_cert_dir,
            authfile: &self.src_authfile,
        })
    }

    /// The options for the destination registry.
    pub fn destination(&self) -> RegistryOptions {
        self.side(Side {
            creds: &self.dest_creds,
            flag: "--dest-creds",
            no_creds: self.dest_no_creds,
            token: self
                .dest_registry_token
                .as_ref()
                .map(|t| (t, "--dest-registry-token")),
            tls: self.dest_tls_verify,
            cert_dir: &self.dest_cert_dir,
            authfile: &self.dest_authfile,
        })
    }

    fn side(&self, s: Side) -> RegistryOptions {
        RegistryOptions {
            creds_flag: if s.creds.is_some() { s.flag } else { "--creds" }.to_string(),
            creds: s.creds.clone().or_else(|| self.creds.clone()),
            authfile: s.authfile.clone().or_else(|| self.authfile.clone()),
            tls_verify: s.tls.or(self.tls_verify),
            cert_dir: s.cert_dir.clone().or_else(|| self.cert_dir.clone()),
            retry: self.retry.policy(),
            no_read_back: self.no_read_back,
            no_creds: s.no_creds,
            registry_token: s.token.map(|(t, f)| (t.clone(), f.to_string())),
            registries_conf: self.registries_conf.clone(),
        }
    }
}

/// One side's flags of `copy`.
struct Side<'a> {
    creds: &'a Option<Credentials>,
    flag: &'static str,
    no_creds: bool,
    token: Option<(&'a Secret, &'static str)>,
    tls: Option<bool>,
    cert_dir: &'a Option<PathBuf>,
    authfile: &'a Option<PathBuf>,
}

impl RetryArgs {
    pub fn policy(&self) -> crate::retry::RetryPolicy {
        crate::retry::RetryPolicy {
            times: self.retry_times,
            delay: self.retry_delay,
            stall: (!self.stall_timeout.is_zero()).then_some(self.stall_timeout),
            max_wait: self.retry_max_wait,
        }
    }
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

impl RegistryArgs {
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            retry: self.retry.policy(),
            no_creds: self.no_creds,
            registries_conf: self.registries_conf.clone(),
            registry_token: self
                .registry_token
                .clone()
                .map(|t| (t, "--registry-token".to_string())),
            ..self.connection.options()
        }
    }
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Oci => Format::Oci,
            FormatArg::V2s2 => Format::V2s2,
        }
    }
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

impl ConversionArgs {
    /// The planner's options these flags ask for; `layers` is left to the destination.
    pub fn plan_options(
        &self,
        gzip_style: crate::convert::GzipStyle,
    ) -> crate::convert::PlanOptions {
        crate::convert::PlanOptions {
            format: self.format.map(Into::into),
            compress: self.dest_compress_format.map(Into::into),
            level: self.dest_compress_level,
            preserve_digests: self.preserve_digests,
            gzip_style,
            layers: None,
        }
    }

    /// `--referrers` keeps every manifest digest: refuses the flags that would change them.
    pub fn refuse_with_referrers(&self) -> anyhow::Result<()> {
        let keep = "every referrer names its subject by digest, so a copy with --referrers \
                    keeps every manifest digest";
        if self.format.is_some() {
            anyhow::bail!("--referrers cannot go with --format: a conversion changes the manifest digests the signatures and attestations name; {keep}");
        }
        if self.dest_compress_format.is_some() {
            anyhow::bail!("--referrers cannot go with --dest-compress-format: a recompression changes the manifest digests the signatures and attestations name; {keep}");
        }
        Ok(())
    }
}

impl CopyArgs {
    /// What the copy is asked to do: the conversion plan's options, jobs and platforms.
    pub fn copy_options(&self) -> anyhow::Result<crate::copy::CopyOptions> {
        use crate::convert::GzipStyle;
        let index_only = self.multi_arch == Some(MultiArchArg::IndexOnly);
        if index_only && !self.platform.is_empty() {
            anyhow::bail!(
                "--multi-arch index-only copies no instance, so --platform has nothing to choose"
            );
        }
        Ok(crate::copy::CopyOptions {
            plan: self.conversion.plan_options(match self.single_member_gzip {
                true => GzipStyle::Single,
                false => GzipStyle::Members,
            }),
            jobs: self.jobs as usize,
            platforms: self
                .platform
                .iter()
                .map(|p| parse_platform(p))
                .collect::<anyhow::Result<_>>()?,
            all: self.all || self.multi_arch == Some(MultiArchArg::All),
            index_only,
        })
    }
}

impl CopyArgs {
    /// The layer compression the destination flags ask for instead of `dst`'s own, each
    /// refused where skopeo gives it no meaning.
    pub fn layer_policy(
        &self,
        dst: &crate::reference::ImageRef,
    ) -> anyhow::Result<Option<crate::convert::LayerPolicy>> {
        use crate::convert::LayerPolicy;
        use crate::reference::ImageRef;
        let is_dir = matches!(dst, ImageRef::Dir { .. });
        let is_oci = matches!(dst, ImageRef::Layout { .. } | ImageRef::OciArchive { .. });
        let (flag, policy, applies) = if self.dest_decompress {
            ("--dest-decompress", LayerPolicy::Uncompressed, is_dir)
        } else if self.dest_compress {
            ("--dest-compress", LayerPolicy::Compressed, is_dir)
        } else if self.dest_oci_accept_uncompressed_layers {
            (
                "--dest-oci-accept-uncompressed-layers",
                LayerPolicy::AsIs,
                is_oci,
            )
        } else {
            return Ok(None);
        };
        if !applies {
            let (wants, hint) = match policy {
                LayerPolicy::AsIs => ("oci: and oci-archive:", ""),
                _ => (
                    "dir:",
                    "; --dest-compress-format sets the layers' compression anywhere",
                ),
            };
            let to = dst.transport();
            anyhow::bail!("{flag} is for {wants} destinations, and this one is {to}:{hint}");
        }
        if self.dest_decompress
            && matches!(self.conversion.dest_compress_format, Some(c) if !matches!(c, CompressArg::None))
        {
            anyhow::bail!("--dest-decompress and --dest-compress-format contradict each other");
        }
        Ok(Some(policy))
    }
}

/// Parses `OS/ARCH[/VARIANT]`.
pub fn parse_platform(s: &str) -> anyhow::Result<crate::manifest::Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => {
            Ok(crate::manifest::Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts
                    .get(2)
                    .filter(|v| !v.is_empty())
                    .map(|v| v.to_string()),
                ..Default::default()
            })
        }
        _ => {
            anyhow::bail!("invalid platform {s:?}: expected OS/ARCH[/VARIANT], e.g. linux/arm64/v8")
        }
    }
}
