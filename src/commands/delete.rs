//! `oci-copy delete docker://HOST/REPO:TAG|@DIGEST`: deletes a manifest from a registry, by
//! digest (a tag is resolved to its digest first), as `skopeo delete` does.

use anyhow::{bail, Context, Result};

use crate::cli::DeleteArgs;
use crate::reference::ImageRef;
use crate::transport::registry;

/// Runs `delete`.
pub(super) fn run(args: DeleteArgs, quiet: bool) -> Result<()> {
    let ImageRef::Registry(d) = ImageRef::parse(&args.image)? else {
        bail!(
            "delete works on registries only: docker://HOST[:PORT]/REPO:TAG or @DIGEST, not {}",
            args.image
        );
    };
    let digest = registry::delete(&d, &args.registry.options())
        .with_context(|| format!("deleting docker://{d}"))?;
    if !quiet {
        eprintln!("Deleted docker://{}@{digest}", d.repository());
    }
    Ok(())
}
