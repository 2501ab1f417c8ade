//! Image prefixes and the names a registry answers with. Pure.
//!
//! BinderHub names every image it builds `IMAGE_PREFIX` + a slug of the
//! repository, e.g. `lab/binder-` → `lab/binder-jupyterhub-2dbinder-…`. As
//! in Docker's references, the prefix's first component is a registry host
//! when it has a `.` or a `:` or is `localhost` (`registry.example:5000/lab/
//! binder-`); without one the images live on Docker Hub.
//!
//! Names from a registry's answers become parts of URLs, so they are
//! checked first: a repository path of lowercase components (no `.` or `..`
//! component, nothing that is not `[a-z0-9._-]`), a tag of `[A-Za-z0-9_.-]`
//! (at most 128, not starting with `.` or `-`), a digest `ALGORITHM:HEX`.

use anyhow::{bail, Result};

/// The longest repository path accepted (as distribution's).
pub const MAX_REPOSITORY_LENGTH: usize = 255;

/// A parsed `image_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePrefix {
    /// The registry host (with its port), when the prefix names one.
    pub host: Option<String>,
    /// What every repository path under the prefix starts with
    /// (`lab/binder-`), never empty.
    pub path: String,
}

/// Which repositories are under the prefix: those whose path starts with
/// `path`. For Docker Hub also split into namespace and name prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPrefix {
    pub path: String,
}

impl RepoPrefix {
    pub fn new(path: &str) -> Self {
        RepoPrefix {
            path: path.to_string(),
        }
    }

    /// Whether `repository` is under the prefix.
    pub fn covers(&self, repository: &str) -> bool {
        repository.starts_with(&self.path)
    }

    /// Docker Hub's namespace (user or organization) and the start of the
    /// repository names in it: `lab/binder-` → (`lab`, `binder-`).
    pub fn docker_hub_parts(&self) -> Result<(&str, &str)> {
        let Some((namespace, name)) = self.path.split_once('/') else {
            bail!(
                "the image prefix {:?} names no Docker Hub namespace (user or organization); \
                 BinderHub's images there are USER/NAME: write it like `lab/binder-`",
                self.path
            );
        };
        if namespace.is_empty() {
            bail!("the image prefix {:?} starts with `/`", self.path);
        }
        if name.contains('/') {
            bail!(
                "the image prefix {:?} has more than one `/`, but Docker Hub repositories are \
                 NAMESPACE/NAME; is the registry another one (pass --api v2 and --registry-url)?",
                self.path
            );
        }
        Ok((namespace, name))
    }
}

impl ImagePrefix {
    /// Parse `config.BinderHub.image_prefix` (or `--prefix`).
    pub fn parse(text: &str) -> Result<ImagePrefix> {
        let text = text.trim();
        if text.is_empty() {
            bail!("the image prefix is empty; it must name where BinderHub's images go, e.g. `lab/binder-`");
        }
        if text.contains('<') || text.contains('>') {
            bail!(
                "the image prefix still holds the template's placeholder (`<…>`); put the real \
                 value there"
            );
        }
        if let Some(bad) = text
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '?' | '#' | '\\'))
        {
            bail!(
                "the image prefix {:?} holds {bad:?}, which no image name can",
                crate::error::without_controls(text, "")
            );
        }
        if text.contains("://") {
            bail!(
                "the image prefix {text:?} is a URL; it is an image name's start, like \
                 `registry.example/lab/binder-` (the URL goes in registry.url or --registry-url)"
            );
        }
        if !text.contains('/') {
            bail!(
                "the image prefix {text:?} has no `/`: BinderHub's images go to \
                 USER/… on Docker Hub (`lab/binder-`) or HOST/… elsewhere \
                 (`registry.example/binder-`)"
            );
        }
        let (host, path) = match text.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), rest)
            }
            _ => (None, text),
        };
        if path.is_empty() {
            bail!(
                "the image prefix {text:?} names a whole registry; it must name where \
                 BinderHub's images start, like `registry.example/lab/binder-`"
            );
        }
        if path.starts_with('/') || path.contains("//") {
            bail!("the image prefix {text:?} has an empty path component");
        }
        if let Some(bad) = path
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(*c)))
        {
            bail!(
                "the image prefix {text:?} holds {bad:?}; repository names have lowercase \
                 letters, digits and `._-/` only"
            );
        }
        Ok(ImagePrefix {
            host,
            path: path.to_string(),
        })
    }

    pub fn repo_prefix(&self) -> RepoPrefix {
        RepoPrefix::new(&self.path)
    }

    /// The image reference for a tag: `[HOST/]REPOSITORY:TAG`.
    pub fn image(&self, repository: &str, tag: &str) -> String {
        match &self.host {
            Some(host) => format!("{host}/{repository}:{tag}"),
            None => format!("{repository}:{tag}"),
        }
    }

    /// The prefix as written (`[HOST/]PATH`).
    pub fn shown(&self) -> String {
        match &self.host {
            Some(host) => format!("{host}/{}", self.path),
            None => self.path.clone(),
        }
    }
}

/// Whether `name` is a repository path a registry may answer with: `/`-
/// separated components of `[a-z0-9._-]`, each starting and ending with a
/// letter or digit, at most [`MAX_REPOSITORY_LENGTH`] in all.
pub fn is_repository(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REPOSITORY_LENGTH
        && name.split('/').all(|part| {
            let bytes = part.as_bytes();
            match (bytes.first(), bytes.last()) {
                (Some(first), Some(last)) => {
                    first.is_ascii_alphanumeric()
                        && last.is_ascii_alphanumeric()
                        && bytes.iter().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b)
                        })
                }
                _ => false,
            }
        })
}

/// Whether `tag` is a tag name: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
}

/// Whether `digest` is a content digest: `ALGORITHM:ENCODED`, the
/// algorithm lowercase letters and digits (with `+._-` between them), the
/// encoded part hexadecimal (or base64url), 32 to 256 characters.
pub fn is_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = (32..=256).contains(&encoded.len())
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b));
    algorithm_ok && encoded_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Option<String>, String) {
        let prefix = ImagePrefix::parse(text).unwrap_or_else(|e| panic!("{text}: {e:#}"));
        (prefix.host, prefix.path)
    }

    #[test]
    fn a_first_component_with_a_dot_colon_or_localhost_is_the_host() {
        assert_eq!(parsed("lab/binder-"), (None, "lab/binder-".into()));
        assert_eq!(
            parsed("registry.example/lab/binder-"),
            (Some("registry.example".into()), "lab/binder-".into())
        );
        assert_eq!(
            parsed("192.0.2.7:5000/binder-"),
            (Some("192.0.2.7:5000".into()), "binder-".into())
        );
        assert_eq!(
            parsed("localhost/binder-"),
            (Some("localhost".into()), "binder-".into())
        );
        assert_eq!(parsed(" lab/ "), (None, "lab/".into()));
        assert_eq!(
            ImagePrefix::parse("registry.example/lab/binder-")
                .unwrap()
                .image("lab/binder-x", "abc"),
            "registry.example/lab/binder-x:abc"
        );
        assert_eq!(
            ImagePrefix::parse("lab/binder-")
                .unwrap()
                .image("lab/binder-x", "1"),
            "lab/binder-x:1"
        );
    }

    #[test]
    fn prefixes_that_name_no_images_or_odd_ones_are_refused() {
        for (text, expected) in [
            ("", "empty"),
            ("   ", "empty"),
            ("<registry user>/binder-", "placeholder"),
            ("registry.example/", "whole registry"),
            ("registry.example", "has no `/`"),
            ("binder-", "has no `/`"),
            ("https://registry.example/lab/", "is a URL"),
            ("Lab/binder-", "lowercase"),
            ("lab binder-", "holds ' '"),
            ("lab/\nbinder-", "holds '\\n'"),
            ("lab//binder-", "empty path component"),
            ("lab/binder-@sha256", "holds '@'"),
        ] {
            let err = ImagePrefix::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn docker_hub_prefixes_are_namespace_and_name() {
        let prefix = RepoPrefix::new("lab/binder-");
        assert_eq!(prefix.docker_hub_parts().unwrap(), ("lab", "binder-"));
        assert_eq!(
            RepoPrefix::new("lab/").docker_hub_parts().unwrap(),
            ("lab", "")
        );
        assert!(RepoPrefix::new("binder-").docker_hub_parts().is_err());
        assert!(RepoPrefix::new("lab/x/binder-").docker_hub_parts().is_err());
        assert!(prefix.covers("lab/binder-abc"));
        assert!(!prefix.covers("lab/other"));
        assert!(!prefix.covers("lab2/binder-abc"));
    }

    #[test]
    fn only_plain_names_pass() {
        for good in ["lab/binder-x", "a", "a/b/c", "lab/binder-x.y_z", "0"] {
            assert!(is_repository(good), "{good}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "../a", "a/..", "a/./b", "A/b", "a b", "a?b", "a%2fb", "-a",
            "a-", "a/-b",
        ] {
            assert!(!is_repository(bad), "{bad}");
        }
        assert!(!is_repository(&"a".repeat(256)));
        for good in ["latest", "1.0", "_x", "a-b.c_d", &"a".repeat(128)] {
            assert!(is_tag(good), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", "..", &"a".repeat(129)] {
            assert!(!is_tag(bad), "{bad}");
        }
        let hex = "0123456789abcdef".repeat(4);
        assert!(is_digest(&format!("sha256:{hex}")));
        assert!(is_digest(&format!("sha512+b64u:{hex}")));
        for bad in [
            "sha256".to_string(),
            format!("sha256:{}", &hex[..16]),
            format!("SHA256:{hex}"),
            format!("sha256:{hex}/x"),
            format!(":{hex}"),
            format!("sha256:../{hex}"),
        ] {
            assert!(!is_digest(&bad), "{bad}");
        }
    }
}
