//! Editing kubeadm's kubelet configuration (`/var/lib/kubelet/config.yaml`,
//! a `KubeletConfiguration`) to reserve resources for Kubernetes and system
//! daemons: its top-level `kubeReserved` and `systemReserved` mappings.
//! Pure: text in, text out.
//!
//! The edit is textual, so that every other line stays byte for byte (the
//! comments, the key order, kubeadm's layout): each of the two keys' blocks
//! (its line and the lines that belong to it: indented, blank, comments,
//! `- ` items of a compact sequence) is replaced in place by the same block
//! binderctl always writes, a missing key is appended. Both texts are then
//! read as YAML and must hold the same document but for those two keys,
//! which must hold the reservation: anything else is refused, the file
//! unchanged.

use serde_yaml::{Mapping, Value};

use crate::cluster::kubelet_args::{Hunk, KubeletEdit, Reserved};

/// The two keys this module owns, in the order they are appended.
pub const KEYS: [&str; 2] = ["kubeReserved", "systemReserved"];

/// Whether `text` is a `KubeletConfiguration` (YAML with that `kind`), as
/// opposed to a kubelet arguments file.
/// A file that says so on a line of its own counts even when it does not
/// parse, so that it is refused rather than edited as arguments.
pub fn is_kubelet_configuration(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_end() == "kind: KubeletConfiguration")
        || serde_yaml::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("kind").and_then(Value::as_str).map(str::to_string))
            .is_some_and(|kind| kind == "KubeletConfiguration")
}

/// The edit for either kind of kubelet file: a `KubeletConfiguration`
/// (kubeadm's `config.yaml`) or an arguments file (MicroK8s').
pub fn edit_kubelet_file(text: &str, reserved: &Reserved) -> Result<KubeletEdit, String> {
    if is_kubelet_configuration(text) {
        edit_reserved(text, reserved)
    } else {
        Ok(crate::cluster::kubelet_args::edit_reserved(text, reserved))
    }
}

/// What the file calls the two reservations, for messages.
pub fn setting_names(text: &str) -> [&'static str; 2] {
    if is_kubelet_configuration(text) {
        KEYS
    } else {
        ["--kube-reserved", "--system-reserved"]
    }
}

/// One physical line and its terminator (`""` for a last line without one).
struct Line<'a> {
    content: &'a str,
    ending: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, after) = match rest.find('\n') {
            Some(end) => rest.split_at(end + 1),
            None => (rest, ""),
        };
        let (content, ending) = match line.strip_suffix("\r\n") {
            Some(c) => (c, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(c) => (c, "\n"),
                None => (line, ""),
            },
        };
        lines.push(Line { content, ending });
        rest = after;
    }
    lines
}

/// Which of [`KEYS`] a top-level line starts (`kubeReserved:` at column 0,
/// its value on the line or below).
fn key_of(content: &str) -> Option<usize> {
    KEYS.iter().position(|key| {
        content
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

/// Whether a line after a top-level key still belongs to its value.
fn continues_block(content: &str) -> bool {
    content.trim().is_empty()
        || content.starts_with([' ', '\t', '#'])
        || content == "-"
        || content.starts_with("- ")
}

/// The block binderctl writes for `key`, one line per resource, every
/// value quoted (the kubelet reads them as strings: `cpu: 1` unquoted is
/// a number it refuses).
fn block(key: &str, reserved: &Reserved) -> Vec<String> {
    let mut lines = vec![format!("{key}:")];
    for (name, value) in reserved.resources() {
        lines.push(format!("  {name}: \"{value}\""));
    }
    lines
}

/// Set `kubeReserved` and `systemReserved` to `reserved` in the
/// `KubeletConfiguration` `text` (see the module's description). Running it
/// again on its own output changes nothing. An error (naming the key or
/// the problem) when the text cannot be edited safely.
pub fn edit_reserved(text: &str, reserved: &Reserved) -> Result<KubeletEdit, String> {
    let before: Value =
        serde_yaml::from_str(text).map_err(|e| format!("not a YAML kubelet configuration: {e}"))?;
    if !before.is_mapping() {
        return Err("not a YAML mapping (a KubeletConfiguration)".to_string());
    }
    let lines = split_lines(text);
    let eol = lines
        .iter()
        .map(|l| l.ending)
        .find(|e| !e.is_empty())
        .unwrap_or("\n");

    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 8);
    let mut hunks = Vec::new();
    let mut seen = [false; 2];
    let mut i = 0;
    while i < lines.len() {
        let Some(index) = key_of(lines[i].content) else {
            out.push(lines[i].content.to_string());
            i += 1;
            continue;
        };
        if seen[index] {
            return Err(format!("{} is set twice", KEYS[index]));
        }
        seen[index] = true;
        let start = i;
        i += 1;
        while i < lines.len() && continues_block(lines[i].content) {
            i += 1;
        }
        // Trailing blank and comment lines belong to what follows.
        let mut end = i;
        while end > start + 1 {
            let c = lines[end - 1].content;
            if c.trim().is_empty() || c.starts_with('#') {
                end -= 1;
            } else {
                break;
            }
        }
        let old: Vec<String> = lines[start..end]
            .iter()
            .map(|l| l.content.to_string())
            .collect();
        let new = block(KEYS[index], reserved);
        if old != new {
            hunks.push(Hunk {
                old_start: start + 1,
                removed: old,
                new_start: out.len() + 1,
                added: new.clone(),
            });
        }
        out.extend(new);
        out.extend(lines[end..i].iter().map(|l| l.content.to_string()));
    }
    for (index, key) in KEYS.iter().enumerate() {
        if !seen[index] {
            let new = block(key, reserved);
            hunks.push(Hunk {
                old_start: lines.len(),
                removed: Vec::new(),
                new_start: out.len() + 1,
                added: new.clone(),
            });
            out.extend(new);
        }
    }
    let mut new_text = out.join(eol);
    let last_has_ending = lines.last().is_none_or(|l| !l.ending.is_empty());
    if last_has_ending || out.len() > lines.len() {
        new_text.push_str(eol);
    }
    if hunks.is_empty() {
        return Ok(KubeletEdit {
            text: text.to_string(),
            hunks,
        });
    }
    verify(&before, &new_text, reserved)?;
    Ok(KubeletEdit {
        text: new_text,
        hunks,
    })
}

/// The edited text must read as the original but for the two keys, which
/// must hold exactly the reservation.
fn verify(before: &Value, new_text: &str, reserved: &Reserved) -> Result<(), String> {
    let after: Value = serde_yaml::from_str(new_text)
        .map_err(|e| format!("the edit would not be valid YAML ({e}); the file is unchanged"))?;
    let without = |v: &Value| -> Mapping {
        let mut m = v.as_mapping().cloned().unwrap_or_default();
        for key in KEYS {
            m.remove(key);
        }
        m
    };
    if without(before) != without(&after) {
        return Err(
            "the edit would change more than kubeReserved and systemReserved (an unusual \
             layout); the file is unchanged: set them by hand"
                .to_string(),
        );
    }
    let wanted: Mapping = reserved
        .resources()
        .into_iter()
        .map(|(k, v)| (Value::from(k), Value::from(v)))
        .collect();
    for key in KEYS {
        if after.get(key).and_then(Value::as_mapping) != Some(&wanted) {
            return Err(format!(
                "the edit would not set {key} as intended (an unusual layout); the file is \
                 unchanged: set it by hand"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubeadm's config.yaml, abridged (its layout: top-level keys at column
    /// 0, compact sequences).
    const KUBEADM: &str = "apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
";

    fn reserved() -> Reserved {
        Reserved::new("1", "512Mi", "10Gi").unwrap()
    }

    const BLOCKS: &str = "kubeReserved:
  cpu: \"1\"
  memory: \"512Mi\"
  ephemeral-storage: \"10Gi\"
systemReserved:
  cpu: \"1\"
  memory: \"512Mi\"
  ephemeral-storage: \"10Gi\"
";

    #[test]
    fn missing_keys_are_appended_and_a_second_run_changes_nothing() {
        assert!(is_kubelet_configuration(KUBEADM));
        assert!(!is_kubelet_configuration("--kube-reserved=cpu=1\n"));
        let edit = edit_reserved(KUBEADM, &reserved()).unwrap();
        assert_eq!(edit.text, format!("{KUBEADM}{BLOCKS}"));
        assert_eq!(edit.hunks.len(), 2);
        assert!(edit
            .diff("config.yaml")
            .contains("@@ -14,0 +15,4 @@\n+kubeReserved:\n+  cpu: \"1\"\n"));
        let again = edit_reserved(&edit.text, &reserved()).unwrap();
        assert!(again.is_unchanged(), "{:?}", again.hunks);
        assert_eq!(again.text, edit.text);
    }

    #[test]
    fn existing_values_are_replaced_in_place_in_any_form() {
        let text = KUBEADM.replace(
            "kind: KubeletConfiguration\n",
            "kind: KubeletConfiguration\nkubeReserved: {cpu: 200m}\n# the system's share\n\
             systemReserved:\n  cpu: 500m\n\n  memory: 1Gi\n\n# kept\nrotate: true\n",
        );
        let edit = edit_reserved(&text, &reserved()).unwrap();
        let expected = KUBEADM.replace(
            "kind: KubeletConfiguration\n",
            &format!(
                "kind: KubeletConfiguration\n{}# the system's share\n{}\n# kept\nrotate: true\n",
                &BLOCKS[..BLOCKS.find("systemReserved").unwrap()],
                &BLOCKS[BLOCKS.find("systemReserved").unwrap()..]
            ),
        );
        assert_eq!(edit.text, expected);
        assert!(edit_reserved(&edit.text, &reserved())
            .unwrap()
            .is_unchanged());
    }

    #[test]
    fn crlf_and_a_missing_last_newline_are_kept() {
        let text = KUBEADM.replace('\n', "\r\n");
        let edit = edit_reserved(&text, &reserved()).unwrap();
        assert_eq!(
            edit.text,
            format!("{KUBEADM}{BLOCKS}").replace('\n', "\r\n")
        );
        let bare = KUBEADM.trim_end();
        let edit = edit_reserved(bare, &reserved()).unwrap();
        assert_eq!(edit.text, format!("{KUBEADM}{BLOCKS}"));
    }

    #[test]
    fn what_cannot_be_edited_safely_is_refused() {
        let twice = format!("{KUBEADM}kubeReserved:\n  cpu: 1\n");
        let err = edit_reserved(&format!("{twice}kubeReserved: {{}}\n"), &reserved()).unwrap_err();
        assert!(err.contains("YAML") || err.contains("twice"), "{err}");
        let err = edit_reserved("- a\n", &reserved()).unwrap_err();
        assert!(err.contains("mapping"), "{err}");
        // A key indented as a whole document would be: the check refuses.
        let nested = "kind: KubeletConfiguration\nkubeReserved:\nx: 1\n  cpu: 1\n";
        assert!(edit_reserved(nested, &reserved()).is_err());
    }
}
