//! A [`DockerRef`]'s `short_name`: the name as written when it named no registry
//! (`alpine`, `lab/app`), which a registries.conf alias may replace. It is not part of the
//! name's identity: `alpine` and `docker.io/library/alpine` are equal.

use super::DockerRef;

impl PartialEq for DockerRef {
    fn eq(&self, o: &DockerRef) -> bool {
        (&self.domain, &self.path, &self.tag, &self.digest)
            == (&o.domain, &o.path, &o.tag, &o.digest)
    }
}

impl Eq for DockerRef {}

/// Whether the first component of `name` is a registry (`quay.io/`, `host:5000/`,
/// `localhost/`), as docker tells them.
pub(super) fn names_registry(name: &str) -> bool {
    matches!(name.split_once('/'), Some((first, _))
        if first.contains('.') || first.contains(':') || first == "localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept_but_do_not_count_for_equality() {
        let short = DockerRef::parse("alpine:3").unwrap();
        let long = DockerRef::parse("docker.io/library/alpine:3").unwrap();
        assert_eq!(short.short_name.as_deref(), Some("alpine"));
        assert_eq!(long.short_name, None);
        assert_eq!(short, long);
        assert_eq!(
            DockerRef::parse("lab/app").unwrap().short_name.as_deref(),
            Some("lab/app")
        );
        assert_eq!(DockerRef::parse("localhost/app").unwrap().short_name, None);
    }
}
