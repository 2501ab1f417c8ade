//! Editing kubeadm's kubelet configuration (`/var/lib/kubelet/config.yaml`,
//! a `KubeletConfiguration`): setting a few top-level keys (the
//! reservations `kubeReserved` and `systemReserved` of `nodes reserve`, the
//! image garbage collection of `nodes gc`: a [`KubeletSettings`]); and
//! reading them back, from either kind of kubelet file. Pure: text in,
//! text out.
//!
//! The edit is textual, so that every other line stays byte for byte (the
//! comments, the key order, kubeadm's layout): each key's block (its line
//! and the lines that belong to it: indented, blank, comments, `- ` items
//! of a compact sequence) is replaced in place by the same block binderctl
//! always writes, a missing key is appended. Both texts are then read as
//! YAML and must hold the same document but for those keys, which must
//! hold the values set: anything else is refused, the file unchanged.

use serde_yaml::{Mapping, Value};

use crate::cluster::kubelet_args::{self, Hunk, KubeletEdit, Reserved};
use crate::cluster::kubelet_settings::{KubeletSettings, SettingValue};

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
/// (kubeadm's `config.yaml`) or an arguments file (MicroK8s'), which can
/// only take the settings that have a flag.
pub fn edit_kubelet_file(text: &str, settings: &KubeletSettings) -> Result<KubeletEdit, String> {
    if is_kubelet_configuration(text) {
        return edit_settings(text, settings);
    }
    let without = settings.without_flag();
    if !without.is_empty() {
        let config = kubelet_args::flag_values(text, &["--config"])
            .into_iter()
            .flatten()
            .next();
        let hint = match config {
            Some(path) => format!(
                "; this kubelet reads the configuration file {path} (--config): pass that \
                 file's path with --kubelet-args"
            ),
            None => String::new(),
        };
        return Err(format!(
            "a kubelet arguments file cannot set {}: the kubelet has no flag for it, only the \
             KubeletConfiguration field (a file given with --config){hint}",
            without.join(" or ")
        ));
    }
    Ok(kubelet_args::edit_settings(text, settings))
}

/// What the file calls each of `settings`, for messages: the keys of a
/// `KubeletConfiguration`, the flags of an arguments file.
pub fn setting_names(text: &str, settings: &KubeletSettings) -> Vec<&'static str> {
    let config = is_kubelet_configuration(text);
    settings
        .iter()
        .map(|s| match s.flag {
            Some(flag) if !config => flag,
            _ => s.key,
        })
        .collect()
}

/// The value `text` (either kind of kubelet file) gives a setting: its
/// `flag` in an arguments file (the last occurrence), its top-level `key`
/// in a `KubeletConfiguration` (scalars as written, a mapping as
/// `k=v,k=v`); `None` when not set.
pub fn setting_value(text: &str, flag: Option<&str>, key: &str) -> Option<String> {
    if !is_kubelet_configuration(text) {
        return kubelet_args::flag_values(text, &[flag?])
            .into_iter()
            .flatten()
            .next();
    }
    let config: Value = serde_yaml::from_str(text).ok()?;
    match config.get(key)? {
        Value::Null => None,
        Value::Mapping(m) => Some(
            m.iter()
                .map(|(k, v)| format!("{}={}", scalar(k), scalar(v)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        v => Some(scalar(v)),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Whether the file turns feature gate `gate` on or off: `featureGates:`
/// in a `KubeletConfiguration`, `--feature-gates=A=true,B=false` in an
/// arguments file; `None` when it does not say.
pub fn feature_gate(text: &str, gate: &str) -> Option<bool> {
    if is_kubelet_configuration(text) {
        let config: Value = serde_yaml::from_str(text).ok()?;
        return match config.get("featureGates")?.get(gate)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
    }
    let gates = kubelet_args::flag_values(text, &["--feature-gates"])
        .into_iter()
        .flatten()
        .next()?;
    gates.split(',').rev().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name.trim() == gate).then(|| value.trim().parse().ok())?
    })
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

/// Which of `keys` a top-level line starts (`kubeReserved:` at column 0,
/// its value on the line or below).
fn key_of(content: &str, keys: &[&str]) -> Option<usize> {
    keys.iter().position(|key| {
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

/// The block binderctl writes for `key`: one line for a scalar, one line
/// per entry for a mapping, every mapping value quoted (the kubelet reads
/// them as strings: `cpu: 1` unquoted is a number it refuses).
fn block(key: &str, value: &SettingValue) -> Vec<String> {
    match value {
        SettingValue::Int(n) => vec![format!("{key}: {n}")],
        SettingValue::Plain(s) => vec![format!("{key}: {s}")],
        SettingValue::Map(pairs) => {
            let mut lines = vec![format!("{key}:")];
            for (name, value) in pairs {
                lines.push(format!("  {name}: \"{value}\""));
            }
            lines
        }
    }
}

/// The value as YAML reads the block.
fn wanted(value: &SettingValue) -> Value {
    match value {
        SettingValue::Int(n) => Value::from(*n),
        SettingValue::Plain(s) => Value::from(s.as_str()),
        SettingValue::Map(pairs) => Value::Mapping(
            pairs
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
                .collect(),
        ),
    }
}

/// Set `kubeReserved` and `systemReserved` to `reserved` in the
/// `KubeletConfiguration` `text` (see [`edit_settings`]).
pub fn edit_reserved(text: &str, reserved: &Reserved) -> Result<KubeletEdit, String> {
    edit_settings(text, &reserved.settings())
}

/// Set each of `settings`' keys in the `KubeletConfiguration` `text` (see
/// the module's description). Running it again on its own output changes
/// nothing. An error (naming the key or the problem) when the text cannot
/// be edited safely.
pub fn edit_settings(text: &str, settings: &KubeletSettings) -> Result<KubeletEdit, String> {
    let before: Value =
        serde_yaml::from_str(text).map_err(|e| format!("not a YAML kubelet configuration: {e}"))?;
    if !before.is_mapping() {
        return Err("not a YAML mapping (a KubeletConfiguration)".to_string());
    }
    let keys = settings.keys();
    let values: Vec<&SettingValue> = settings.iter().map(|s| &s.value).collect();
    let lines = split_lines(text);
    let eol = lines
        .iter()
        .map(|l| l.ending)
        .find(|e| !e.is_empty())
        .unwrap_or("\n");

    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 8);
    let mut hunks = Vec::new();
    let mut seen = vec![false; keys.len()];
    let mut i = 0;
    while i < lines.len() {
        let Some(index) = key_of(lines[i].content, &keys) else {
            out.push(lines[i].content.to_string());
            i += 1;
            continue;
        };
        if seen[index] {
            return Err(format!("{} is set twice", keys[index]));
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
        let new = block(keys[index], values[index]);
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
    for (index, key) in keys.iter().enumerate() {
        if !seen[index] {
            let new = block(key, values[index]);
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
    verify(&before, &new_text, settings)?;
    Ok(KubeletEdit {
        text: new_text,
        hunks,
    })
}

/// The edited text must read as the original but for the keys set, which
/// must hold exactly their values.
fn verify(before: &Value, new_text: &str, settings: &KubeletSettings) -> Result<(), String> {
    let after: Value = serde_yaml::from_str(new_text)
        .map_err(|e| format!("the edit would not be valid YAML ({e}); the file is unchanged"))?;
    let keys = settings.keys();
    let without = |v: &Value| -> Mapping {
        let mut m = v.as_mapping().cloned().unwrap_or_default();
        for key in &keys {
            m.remove(*key);
        }
        m
    };
    if without(before) != without(&after) {
        return Err(format!(
            "the edit would change more than {} (an unusual layout); the file is unchanged: set \
             them by hand",
            and_list(&keys)
        ));
    }
    for setting in settings.iter() {
        if after.get(setting.key) != Some(&wanted(&setting.value)) {
            return Err(format!(
                "the edit would not set {} as intended (an unusual layout); the file is \
                 unchanged: set it by hand",
                setting.key
            ));
        }
    }
    Ok(())
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
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

    fn image_gc(high: u32, low: u32, max_age_secs: Option<u64>) -> KubeletSettings {
        crate::cluster::kubelet_settings::ImageGc::new(
            high,
            low,
            max_age_secs.map(std::time::Duration::from_secs),
        )
        .unwrap()
        .settings()
    }

    #[test]
    fn image_gc_keys_are_appended_typed_and_a_second_run_changes_nothing() {
        let settings = image_gc(90, 70, Some(14 * 86_400));
        let edit = edit_settings(KUBEADM, &settings).unwrap();
        assert_eq!(
            edit.text,
            format!(
                "{KUBEADM}imageGCHighThresholdPercent: 90\nimageGCLowThresholdPercent: 70\n\
                 imageMaximumGCAge: 336h\n"
            )
        );
        let parsed: Value = serde_yaml::from_str(&edit.text).unwrap();
        assert_eq!(parsed["imageGCHighThresholdPercent"], Value::from(90));
        assert_eq!(parsed["imageMaximumGCAge"], Value::from("336h"));
        assert!(edit_settings(&edit.text, &settings).unwrap().is_unchanged());
        assert_eq!(
            setting_value(
                &edit.text,
                Some("--image-gc-low-threshold"),
                "imageGCLowThresholdPercent"
            ),
            Some("70".to_string())
        );
        assert_eq!(
            setting_names(&edit.text, &settings),
            [
                "imageGCHighThresholdPercent",
                "imageGCLowThresholdPercent",
                "imageMaximumGCAge"
            ]
        );
    }

    #[test]
    fn image_gc_keys_are_updated_in_place_and_comments_kept() {
        let text = KUBEADM.replace(
            "cgroupDriver: systemd\n",
            "# image garbage collection, tuned by hand\nimageGCHighThresholdPercent: 95\n\
             imageGCLowThresholdPercent: \"60\"  # a string: the kubelet refuses it\n\
             # kept\nimageMinimumGCAge: 2m0s\ncgroupDriver: systemd\n",
        );
        let edit = edit_settings(&text, &image_gc(90, 70, None)).unwrap();
        assert_eq!(
            edit.text,
            KUBEADM.replace(
                "cgroupDriver: systemd\n",
                "# image garbage collection, tuned by hand\nimageGCHighThresholdPercent: 90\n\
                 imageGCLowThresholdPercent: 70\n# kept\nimageMinimumGCAge: 2m0s\n\
                 cgroupDriver: systemd\n",
            )
        );
        assert_eq!(edit.hunks.len(), 2);
        // Without --max-age, a maximum age already there stays as it is.
        let with_age = format!("{}imageMaximumGCAge: 48h\n", edit.text);
        assert!(edit_settings(&with_age, &image_gc(90, 70, None))
            .unwrap()
            .is_unchanged());
        let replaced = edit_settings(&with_age, &image_gc(90, 70, Some(7 * 86_400))).unwrap();
        assert_eq!(
            replaced.text,
            format!("{}imageMaximumGCAge: 168h\n", edit.text)
        );
        // The reservations' keys are another edit's: left alone.
        let both = edit_reserved(&replaced.text, &reserved()).unwrap();
        assert!(
            edit_settings(&both.text, &image_gc(90, 70, Some(7 * 86_400)))
                .unwrap()
                .is_unchanged()
        );
    }

    #[test]
    fn arguments_files_take_only_settings_with_flags() {
        let args = "--cert-dir=/x\n";
        let edit = edit_kubelet_file(args, &image_gc(85, 80, None)).unwrap();
        assert_eq!(
            edit.text,
            "--cert-dir=/x\n--image-gc-high-threshold=85\n--image-gc-low-threshold=80\n"
        );
        let err = edit_kubelet_file(args, &image_gc(85, 80, Some(3600))).unwrap_err();
        assert!(
            err.contains("imageMaximumGCAge") && err.contains("no flag"),
            "{err}"
        );
        assert!(
            !err.contains("reads the configuration file"),
            "no configuration file to name: {err}"
        );
        let err = edit_kubelet_file(
            "--config /var/snap/microk8s/current/args/kubelet.yaml\n",
            &image_gc(85, 80, Some(3600)),
        )
        .unwrap_err();
        assert!(
            err.contains("/var/snap/microk8s/current/args/kubelet.yaml"),
            "{err}"
        );
        // A KubeletConfiguration takes all three.
        assert!(edit_kubelet_file(KUBEADM, &image_gc(85, 80, Some(3600))).is_ok());
    }

    #[test]
    fn feature_gates_are_read_from_either_kind_of_file() {
        let config = format!("{KUBEADM}featureGates:\n  ImageMaximumGCAge: true\n  Other: false\n");
        assert_eq!(feature_gate(&config, "ImageMaximumGCAge"), Some(true));
        assert_eq!(feature_gate(&config, "Other"), Some(false));
        assert_eq!(feature_gate(KUBEADM, "ImageMaximumGCAge"), None);
        let args = "--feature-gates=A=true,ImageMaximumGCAge=false\n";
        assert_eq!(feature_gate(args, "ImageMaximumGCAge"), Some(false));
        assert_eq!(feature_gate(args, "A"), Some(true));
        assert_eq!(feature_gate(args, "B"), None);
    }
}
