//! Names handed to kubectl and Helm as arguments: checked first, so a typo
//! or a stray option (`--all`) never reaches a tool. Pure.

use anyhow::{bail, Result};

/// A Kubernetes object name (DNS-1123 subdomain: lower-case letters,
/// digits, `-` and `.`, starting and ending with a letter or digit, at most
/// 253 characters). `what` names the argument in the error.
pub fn validate_object_name(what: &str, name: &str) -> Result<()> {
    let edges_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edges_ok(name.chars().next())
        && edges_ok(name.chars().last());
    if !ok {
        bail!(
            "{what} {name:?} is not a Kubernetes name (lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        for ok in ["hub-6d4f9c7b8-x2k9p", "jupyter-a.b", "a", "0"] {
            assert!(validate_object_name("pod", ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(254);
        for bad in [
            "",
            "-a",
            "a-",
            "--all",
            "Hub",
            "a b",
            "a/b",
            "a_b",
            long.as_str(),
        ] {
            let err = validate_object_name("pod", bad).unwrap_err().to_string();
            assert!(err.starts_with("pod "), "{err}");
        }
    }
}
