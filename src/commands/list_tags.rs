//! `oci-copy list-tags docker://HOST/REPO`: every tag of a repository, as JSON.

use anyhow::{bail, Context, Result};

use crate::cli;
use crate::reference::ImageRef;
use crate::transport;

/// `list-tags docker://HOST/REPO`: every tag, following pagination, as skopeo prints them.
pub(super) fn run(args: cli::ListTagsArgs) -> Result<()> {
    let r = ImageRef::parse(&args.repository)?;
    let ImageRef::Registry(d) = r else {
        bail!("list-tags reads a registry: use docker://HOST[:PORT]/REPO");
    };
    let name = args.repository.trim_start_matches("docker://");
    if name.contains('@')
        || name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        bail!(
            "list-tags takes a repository without a tag or digest: docker://{}",
            d.repository()
        );
    }
    let tags =
        transport::registry::list_tags(&d, &args.registry.options(), args.page_size as usize)
            .with_context(|| format!("listing the tags of docker://{}", d.repository()))?;
    let out = serde_json::json!({ "Repository": d.repository(), "Tags": tags });
    let mut text = serde_json::to_vec_pretty(&out)?;
    text.push(b'\n');
    super::print(&text)
}
