//! The names binderctl hands to kubectl and Helm: namespaces, releases,
//! nodes, pods. Pure. Each check follows the rule the cluster itself applies,
//! so anything refused here could never name a real object, and no name can
//! start with `-` (which a tool would read as an option:
//! `--namespace=-lkubernetes.io/metadata.name` once made `kubectl delete
//! namespace` select every namespace).

/// The longest DNS-1123 label (namespaces): 63 characters.
const LABEL_MAX: usize = 63;
/// The longest DNS-1123 subdomain (nodes, pods, service accounts).
const SUBDOMAIN_MAX: usize = 253;
/// Helm keeps release names to 53 characters (they become label values and
/// parts of object names).
const RELEASE_MAX: usize = 53;

/// A namespace name: a DNS-1123 label (lowercase letters, digits and `-`,
/// starting and ending with a letter or digit, at most 63 characters).
pub fn namespace(name: &str) -> Result<String, String> {
    label(name, LABEL_MAX).map_err(|why| format!("{name:?} is not a namespace name: {why}"))
}

/// A Helm release name: a DNS-1123 subdomain of at most 53 characters
/// (Helm's own rule).
pub fn release(name: &str) -> Result<String, String> {
    subdomain(name, RELEASE_MAX)
        .map_err(|why| format!("{name:?} is not a Helm release name: {why}"))
}

/// A node name: a DNS-1123 subdomain (`binderctl nodes ls` lists them).
pub fn node(name: &str) -> Result<String, String> {
    subdomain(name, SUBDOMAIN_MAX).map_err(|why| {
        format!("{name:?} is not a node name: {why}; `binderctl nodes ls` lists them")
    })
}

/// A pod name, or any other object named by a DNS-1123 subdomain
/// (service accounts).
pub fn object(name: &str) -> Result<String, String> {
    subdomain(name, SUBDOMAIN_MAX)
        .map_err(|why| format!("{name:?} is not a Kubernetes object name: {why}"))
}

/// [`object`] for code that names the argument itself (`what`: "pod",
/// "claim"), as an error that says which argument it was.
pub fn validate_object_name(what: &str, name: &str) -> anyhow::Result<()> {
    object(name)
        .map(drop)
        .map_err(|why| anyhow::anyhow!("{what} {why}"))
}

/// The start of a pod name (`jupyter-`): what a pod name may hold, ending
/// anywhere; empty matches every pod.
pub fn pod_prefix(prefix: &str) -> Result<String, String> {
    if prefix.is_empty() {
        return Ok(String::new());
    }
    let why = if prefix.len() > SUBDOMAIN_MAX {
        Some(format!("longer than {SUBDOMAIN_MAX} characters"))
    } else if !prefix.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        Some("pod names start with a lowercase letter or digit".to_string())
    } else {
        bad_char(prefix, true)
    };
    match why {
        None => Ok(prefix.to_string()),
        Some(why) => Err(format!("{prefix:?} cannot start a pod name: {why}")),
    }
}

/// Any other word handed to a tool as a value (a chart reference such as
/// `jupyterhub/binderhub`): not empty, not starting with `-`, no control
/// characters.
pub fn tool_word(word: &str) -> Result<String, String> {
    if word.is_empty() {
        return Err("it is empty".into());
    }
    if word.starts_with('-') {
        return Err(format!(
            "{word:?} starts with '-', which the tool would read as an option"
        ));
    }
    if word.chars().any(char::is_control) {
        return Err(format!("{word:?} holds a control character"));
    }
    Ok(word.to_string())
}

/// A container image reference (`docker.io/library/busybox:1.36`,
/// `registry.example/x@sha256:...`): at most 255 characters of what
/// references are made of, never starting with `-`.
pub fn image(reference: &str) -> Result<String, String> {
    let why = if reference.is_empty() {
        Some("it is empty".to_string())
    } else if reference.len() > 255 {
        Some("longer than 255 characters".to_string())
    } else if !reference.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("it must start with a letter or digit".to_string())
    } else {
        reference
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@".contains(*c)))
            .map(|c| format!("{c:?} cannot appear in an image reference"))
    };
    match why {
        None => Ok(reference.to_string()),
        Some(why) => Err(format!("{reference:?} is not an image reference: {why}")),
    }
}

/// Whether `namespace` belongs to Kubernetes itself (`default` and every
/// `kube-*` one): binderctl never deletes it.
pub fn is_system_namespace(namespace: &str) -> bool {
    namespace == "default" || namespace.starts_with("kube-")
}

fn label(name: &str, max: usize) -> Result<String, String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > max {
        return Err(format!("longer than {max} characters"));
    }
    if let Some(why) = bad_char(name, false) {
        return Err(why);
    }
    ends(name)?;
    Ok(name.to_string())
}

fn subdomain(name: &str, max: usize) -> Result<String, String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > max {
        return Err(format!("longer than {max} characters"));
    }
    if let Some(why) = bad_char(name, true) {
        return Err(why);
    }
    for part in name.split('.') {
        if part.is_empty() {
            return Err("it holds an empty part between dots".into());
        }
        ends(part)?;
    }
    Ok(name.to_string())
}

/// The first character outside `[a-z0-9-]` (and `.` when `dots`), described.
fn bad_char(name: &str, dots: bool) -> Option<String> {
    let allowed = if dots {
        "lowercase letters, digits, '-' and '.'"
    } else {
        "lowercase letters, digits and '-'"
    };
    name.chars()
        .find(|&c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.'))
        })
        .map(|c| format!("{c:?} is not allowed (only {allowed})"))
}

fn ends(part: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if part.starts_with(alnum) && part.ends_with(alnum) {
        Ok(())
    } else {
        Err("it must start and end with a lowercase letter or digit".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_dns_labels() {
        for ok in ["binder", "binder-2", "a", "0lab", &"a".repeat(63)] {
            assert_eq!(namespace(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            "-lkubernetes.io/metadata.name",
            "-n",
            "Binder",
            "binder-",
            "bin.der",
            "bin der",
            "binder\n",
            &"a".repeat(64),
        ] {
            let err = namespace(bad).unwrap_err();
            assert!(err.contains("is not a namespace name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn releases_follow_helms_rule() {
        for ok in ["binder", "bh.v2", "lab-1", &"a".repeat(53)] {
            assert!(release(ok).is_ok(), "{ok}");
        }
        for bad in ["", "--all", "Binder", "b_h", "bh.", "a..b", &"a".repeat(54)] {
            assert!(release(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nodes_and_pods_are_dns_subdomains() {
        for ok in ["u24worker", "node-1.lab.example", "jupyter-alice-2d3f"] {
            assert!(node(ok).is_ok(), "{ok}");
            assert!(object(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "--all",
            "Node1",
            "node_1",
            "node-",
            ".node",
            &"a".repeat(254),
        ] {
            assert!(node(bad).is_err(), "{bad:?}");
            assert!(object(bad).is_err(), "{bad:?}");
        }
        assert!(node("-x").unwrap_err().contains("binderctl nodes ls"));
    }

    #[test]
    fn pod_prefixes_may_end_anywhere_but_never_start_with_a_dash() {
        for ok in ["", "jupyter-", "jupyter-alice", "build."] {
            assert!(pod_prefix(ok).is_ok(), "{ok:?}");
        }
        for bad in ["-l", "Jupyter", "jupyter_", " x"] {
            assert!(pod_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tool_words_never_look_like_options() {
        assert!(tool_word("jupyterhub/binderhub").is_ok());
        assert!(tool_word("./charts/binderhub").is_ok());
        for bad in ["", "-x", "--set=a", "a\nb"] {
            assert!(tool_word(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn image_references() {
        for good in [
            "busybox",
            "docker.io/library/busybox:1.36",
            "registry.example:5000/a/b@sha256:00",
        ] {
            assert!(image(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "a;b", "a$(b)", &"a".repeat(256)] {
            assert!(image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn system_namespaces() {
        for system in [
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "kube-flannel",
        ] {
            assert!(is_system_namespace(system), "{system}");
        }
        for other in ["binder", "kubeflow", "defaults"] {
            assert!(!is_system_namespace(other), "{other}");
        }
    }
}
