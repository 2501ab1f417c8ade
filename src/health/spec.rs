//! The repository `check --launch` builds: `OWNER/REPO[@REF]` on GitHub,
//! asked of BinderHub as `build/gh/OWNER/REPO/REF` (its GitHub provider
//! reads the spec `owner/repo/ref`, the ref may hold `/`; `HEAD` is the
//! default branch).

use std::fmt;

/// The longest ref accepted (a branch name, tag or commit).
const MAX_REF_BYTES: usize = 255;

/// A GitHub repository and the ref to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    pub owner: String,
    pub repo: String,
    pub git_ref: String,
}

impl RepoSpec {
    /// `OWNER/REPO` or `OWNER/REPO@REF`. Only names GitHub allows, and refs
    /// as git allows them and a URL path can carry unescaped.
    pub fn parse(text: &str) -> Result<RepoSpec, String> {
        let (path, git_ref) = match text.split_once('@') {
            Some((path, git_ref)) => (path, git_ref),
            None => (text, "HEAD"),
        };
        let mut parts = path.split('/');
        let (Some(owner), Some(repo), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("write the repository as OWNER/REPO or OWNER/REPO@REF \
                        (binder-examples/requirements@main)"
                .into());
        };
        check_name("owner", owner)?;
        check_name("repository", repo)?;
        check_ref(git_ref)?;
        Ok(RepoSpec {
            owner: owner.to_string(),
            repo: repo.to_string(),
            git_ref: git_ref.to_string(),
        })
    }

    /// The path of the build request, relative to BinderHub's address.
    pub fn build_path(&self) -> String {
        format!("build/{self}")
    }
}

impl fmt::Display for RepoSpec {
    /// `gh/OWNER/REPO/REF`, as BinderHub's launch links write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gh/{}/{}/{}", self.owner, self.repo, self.git_ref)
    }
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {what} name is empty (OWNER/REPO[@REF])"));
    }
    if name.len() > 100 {
        return Err(format!("the {what} name is longer than 100 characters"));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a {what} name"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "the {what} name has {bad:?}; GitHub names have letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// git's rules (`git check-ref-format`), and no character a URL path
/// would need escaped.
fn check_ref(git_ref: &str) -> Result<(), String> {
    if git_ref.is_empty() {
        return Err(
            "the ref after @ is empty (a branch, tag or commit; HEAD when left out)".into(),
        );
    }
    if git_ref.len() > MAX_REF_BYTES {
        return Err(format!("the ref is longer than {MAX_REF_BYTES} bytes"));
    }
    if let Some(bad) = git_ref.chars().find(|c| {
        !c.is_ascii_graphic()
            || matches!(
                c,
                '~' | '^'
                    | ':'
                    | '?'
                    | '*'
                    | '['
                    | '\\'
                    | '#'
                    | '%'
                    | '"'
                    | '<'
                    | '>'
                    | '{'
                    | '}'
                    | '|'
                    | '`'
                    | '@'
            )
    }) {
        return Err(format!(
            "the ref has {bad:?}, which a git ref or a URL path cannot carry as it is"
        ));
    }
    if git_ref.starts_with('/')
        || git_ref.ends_with('/')
        || git_ref.ends_with('.')
        || git_ref.contains("//")
        || git_ref.contains("..")
        || git_ref.split('/').any(|part| part.starts_with('.'))
    {
        return Err(format!("{git_ref:?} is not a git ref"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_repo_and_an_optional_ref() {
        let spec = RepoSpec::parse("binder-examples/requirements").unwrap();
        assert_eq!(spec.to_string(), "gh/binder-examples/requirements/HEAD");
        assert_eq!(
            spec.build_path(),
            "build/gh/binder-examples/requirements/HEAD"
        );
        let spec = RepoSpec::parse("lab/course_2024.v2@feature/new-env").unwrap();
        assert_eq!(spec.owner, "lab");
        assert_eq!(spec.repo, "course_2024.v2");
        assert_eq!(spec.git_ref, "feature/new-env");
        assert_eq!(
            spec.build_path(),
            "build/gh/lab/course_2024.v2/feature/new-env"
        );
        let sha = "596b52f10efb0c9befc0c4ae850cc5175297d71c";
        assert_eq!(RepoSpec::parse(&format!("a/b@{sha}")).unwrap().git_ref, sha);
    }

    #[test]
    fn refuses_what_is_not_a_repository() {
        for bad in [
            "",
            "requirements",
            "a/b/c",
            "/b",
            "a/",
            "a/..",
            "a b/c",
            "a/b?x=1",
            "a/b#frag",
            "https://github.com/a/b",
            "a/b@",
            "a/b@x y",
            "a/b@x..y",
            "a/b@/x",
            "a/b@x/",
            "a/b@x//y",
            "a/b@.hidden",
            "a/b@x.",
            "a/b@x%2fy",
            "a/b@x@{1}",
            "a/b@a?b",
            "a/b@naïve",
            "a/b@x\u{1b}[2J",
        ] {
            assert!(RepoSpec::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RepoSpec::parse(&format!("a/b@{}", "x".repeat(256))).is_err());
        assert!(RepoSpec::parse(&format!("{}/b", "x".repeat(101))).is_err());
        let err = RepoSpec::parse("requirements").unwrap_err();
        assert!(err.contains("OWNER/REPO"), "{err}");
    }
}
