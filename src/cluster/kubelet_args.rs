//! Editing MicroK8s' kubelet arguments file (`/var/snap/microk8s/current/args/kubelet`):
//! setting a few flags (the reservations of `nodes reserve`, the image
//! garbage collection of `nodes gc`: a [`KubeletSettings`]). Pure: text in,
//! text out.
//!
//! The file holds one flag per line, `--flag=value` or `--flag value`, with
//! `#` comments and blank lines. MicroK8s splits it into words like a shell
//! does, so a flag may also be alone on its line with its value on the next.
//! Only lines that start with one of the flags being set are touched; every
//! other line is kept byte for byte.

use crate::cluster::kubelet_settings::{KubeletSetting, KubeletSettings, SettingValue};
use crate::error::Problems;

/// The two flags (and configuration keys) `nodes reserve` sets.
pub const RESERVED_FLAGS: [&str; 2] = ["--kube-reserved", "--system-reserved"];
pub const RESERVED_KEYS: [&str; 2] = ["kubeReserved", "systemReserved"];

/// Resources to reserve, the same for `--kube-reserved` and `--system-reserved`.
/// Build it with [`Reserved::new`], which checks every quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    cpu: String,
    memory: String,
    ephemeral_storage: String,
}

impl Reserved {
    /// Check the three quantities (Kubernetes quantity syntax: `1`, `500m`,
    /// `512Mi`, `10Gi`, `1.5`, `2G`, `1e3`). Every bad one is reported, each
    /// naming its binderctl flag and value.
    pub fn new(cpu: &str, memory: &str, ephemeral_storage: &str) -> Result<Self, Problems> {
        let mut problems = Vec::new();
        for (flag, value) in [
            ("--cpu", cpu),
            ("--memory", memory),
            ("--ephemeral-storage", ephemeral_storage),
        ] {
            if let Err(why) = check_quantity(value) {
                problems.push(format!("{flag} {value:?}: {why}"));
            }
        }
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        Ok(Reserved {
            cpu: cpu.to_string(),
            memory: memory.to_string(),
            ephemeral_storage: ephemeral_storage.to_string(),
        })
    }

    /// Each resource's name and quantity, in the flag value's order.
    pub fn resources(&self) -> [(&'static str, &str); 3] {
        [
            ("cpu", self.cpu.as_str()),
            ("memory", self.memory.as_str()),
            ("ephemeral-storage", self.ephemeral_storage.as_str()),
        ]
    }

    /// The flag value: `cpu=1,memory=512Mi,ephemeral-storage=10Gi`.
    pub fn value(&self) -> String {
        format!(
            "cpu={},memory={},ephemeral-storage={}",
            self.cpu, self.memory, self.ephemeral_storage
        )
    }

    /// `--kube-reserved` and `--system-reserved` (`kubeReserved`,
    /// `systemReserved`), both set to the three resources.
    pub fn settings(&self) -> KubeletSettings {
        let value = SettingValue::Map(
            self.resources()
                .into_iter()
                .map(|(name, quantity)| (name.to_string(), quantity.to_string()))
                .collect(),
        );
        KubeletSettings(
            RESERVED_FLAGS
                .into_iter()
                .zip(RESERVED_KEYS)
                .map(|(flag, key)| KubeletSetting {
                    flag: Some(flag),
                    key,
                    value: value.clone(),
                })
                .collect(),
        )
    }
}

/// Check Kubernetes quantity syntax: an unsigned decimal number followed by
/// an optional suffix (binary `Ki Mi Gi Ti Pi Ei`, decimal `n u m k M G T P
/// E`, or an exponent `e3`/`E-2`). Negative values make no sense for a
/// reservation and are refused. The error says what is wrong and how to fix it.
pub fn check_quantity(value: &str) -> Result<(), String> {
    const HINT: &str = "write a Kubernetes quantity such as 1, 500m, 512Mi, 10Gi, 1.5 or 2G";
    if value.is_empty() {
        return Err(format!("empty; {HINT}"));
    }
    if value.starts_with('-') {
        return Err(format!("negative; {HINT}"));
    }
    let unsigned = value.strip_prefix('+').unwrap_or(value);
    let number_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_len);
    if !is_decimal(number) {
        return Err(format!("does not start with a number; {HINT}"));
    }
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || is_exponent(suffix);
    if !suffix_ok {
        let advice = match suffix {
            "KB" | "kB" | "Kb" | "kb" | "K" => " (use k for 1000 or Ki for 1024)",
            "MB" | "Mb" | "mb" | "mi" | "MiB" => " (use M for 10^6 or Mi for 2^20)",
            "GB" | "Gb" | "gb" | "g" | "gi" | "GiB" => " (use G for 10^9 or Gi for 2^30)",
            "TB" | "Tb" | "tb" | "t" | "ti" | "TiB" => " (use T for 10^12 or Ti for 2^40)",
            _ => "",
        };
        return Err(format!("unknown suffix {suffix:?}{advice}; {HINT}"));
    }
    Ok(())
}

/// `12`, `1.5`, `1.` or `.5`: digits with at most one dot, at least one digit.
fn is_decimal(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit()) && s.chars().filter(|&c| c == '.').count() <= 1
}

/// `e3`, `E-2`, `e+6`.
fn is_exponent(s: &str) -> bool {
    let Some(rest) = s.strip_prefix(['e', 'E']) else {
        return false;
    };
    let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// Lines removed and added at one place, like a `diff -U0` hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// 1-based line number of the first removed line in the old text (for a
    /// pure insertion: the line after which the new lines go).
    pub old_start: usize,
    pub removed: Vec<String>,
    /// 1-based line number of the first added line in the new text (for a
    /// pure deletion: the line after which the old lines were).
    pub new_start: usize,
    pub added: Vec<String>,
}

/// The result of an edit: the new text and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletEdit {
    pub text: String,
    /// Empty when the text is unchanged.
    pub hunks: Vec<Hunk>,
}

impl KubeletEdit {
    pub fn is_unchanged(&self) -> bool {
        self.hunks.is_empty()
    }

    /// The changes as a unified diff without context, for `--dry-run`.
    pub fn diff(&self, label: &str) -> String {
        let mut out = format!("--- {label}\n+++ {label} (after)\n");
        for hunk in &self.hunks {
            out.push_str(&format!(
                "@@ -{} +{} @@\n",
                range(hunk.old_start, hunk.removed.len()),
                range(hunk.new_start, hunk.added.len())
            ));
            for line in &hunk.removed {
                out.push_str(&format!("-{line}\n"));
            }
            for line in &hunk.added {
                out.push_str(&format!("+{line}\n"));
            }
        }
        out
    }
}

/// A unified-diff range: `3` for one line, `3,2` for two, `3,0` for none.
fn range(start: usize, len: usize) -> String {
    if len == 1 {
        start.to_string()
    } else {
        format!("{start},{len}")
    }
}

/// Set `--kube-reserved` and `--system-reserved` to `reserved` in the
/// kubelet arguments `text`. See [`edit_settings`].
pub fn set_reserved(text: &str, reserved: &Reserved) -> String {
    edit_reserved(text, reserved).text
}

/// The values `text` gives `--kube-reserved` and `--system-reserved`, in
/// that order (see [`flag_values`]).
pub fn reserved_values(text: &str) -> [Option<String>; 2] {
    let mut values = flag_values(text, &RESERVED_FLAGS).into_iter();
    [values.next().flatten(), values.next().flatten()]
}

/// The values `text` gives each of `flags`, in their order: the last
/// occurrence of each, as the kubelet applies it (`None` when a flag is
/// not set, or set to nothing).
pub fn flag_values(text: &str, flags: &[&str]) -> Vec<Option<String>> {
    let lines = split_lines(text);
    let mut values: Vec<Option<String>> = vec![None; flags.len()];
    for (i, line) in lines.iter().enumerate() {
        let Some((flag_index, value_follows)) = flag_of(line.content, flags) else {
            continue;
        };
        let value = if value_follows {
            lines
                .get(i + 1)
                .filter(|l| is_value_line(l.content))
                .map(|l| l.content.trim().to_string())
        } else {
            let rest = line.content.trim_start();
            let flag_len = flags.get(flag_index).map_or(0, |f| f.len());
            let rest = rest.get(flag_len..).unwrap_or("");
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            let value = rest.split_whitespace().next().unwrap_or("");
            Some(value.trim_matches(['"', '\'']).to_string())
        };
        if let Some(slot) = values.get_mut(flag_index) {
            *slot = value.filter(|v| !v.is_empty());
        }
    }
    values
}

/// One physical line: its content and its terminator (`"\n"`, `"\r\n"`,
/// `"\r"` as in old Mac files, or `""` for a last line without one).
struct Line<'a> {
    content: &'a str,
    ending: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(end) = rest.find(['\n', '\r']) else {
            lines.push(Line {
                content: rest,
                ending: "",
            });
            break;
        };
        let ending_len = if rest.get(end..end + 2) == Some("\r\n") {
            2
        } else {
            1
        };
        let (line, after) = rest.split_at(end + ending_len);
        let (content, ending) = line.split_at(end);
        lines.push(Line { content, ending });
        rest = after;
    }
    lines
}

/// Which of `flags` a line sets, and whether its value is on the next
/// line (`--kube-reserved` alone on its line).
fn flag_of(content: &str, flags: &[&str]) -> Option<(usize, bool)> {
    let first_word = content.split_whitespace().next()?;
    flags.iter().enumerate().find_map(|(i, flag)| {
        if first_word == *flag {
            let value_follows = content.trim() == *flag;
            Some((i, value_follows))
        } else if first_word
            .strip_prefix(flag)
            .is_some_and(|rest| rest.starts_with('='))
        {
            Some((i, false))
        } else {
            None
        }
    })
}

/// A line that can be the value of a flag left alone on the line before it.
fn is_value_line(content: &str) -> bool {
    let trimmed = content.trim();
    !trimmed.is_empty() && !trimmed.starts_with('-') && !trimmed.starts_with('#')
}

/// Set `--kube-reserved` and `--system-reserved` to `reserved` (see
/// [`edit_settings`]).
pub fn edit_reserved(text: &str, reserved: &Reserved) -> KubeletEdit {
    edit_settings(text, &reserved.settings())
}

/// Set each of `settings` that has a flag (a setting without one is not
/// the arguments file's: `kubelet_config::edit_kubelet_file` refuses it):
/// - the first occurrence of each flag, in any form (`--flag=v`, `--flag v`,
///   or `--flag` with its value on the next line), is replaced in place by
///   `--flag=VALUE`, keeping its indentation;
/// - later occurrences (duplicates) are removed;
/// - a flag that is missing is appended at the end, in the settings' order;
/// - every other line is kept byte for byte, and so is the file's convention
///   for the last line (with or without a newline; CRLF if the file uses it).
///
/// Running it again on its own output changes nothing.
pub fn edit_settings(text: &str, settings: &KubeletSettings) -> KubeletEdit {
    let (flags, values): (Vec<&str>, Vec<String>) = settings
        .iter()
        .filter_map(|s| Some((s.flag?, s.value.flag_value())))
        .unzip();
    let lines = split_lines(text);
    let eol = lines
        .first()
        .map(|l| if l.ending.is_empty() { "\n" } else { l.ending })
        .unwrap_or("\n");
    let ends_with_newline = text.is_empty() || text.ends_with(['\n', '\r']);

    // Output lines with their endings; a missing ending (last line) becomes
    // `eol` here and is stripped again at the very end if the file had none.
    let mut out: Vec<(String, String)> = Vec::with_capacity(lines.len() + flags.len());
    let mut hunks: Vec<Hunk> = Vec::new();
    let mut seen = vec![false; flags.len()];
    let mut i = 0;
    while i < lines.len() {
        let Some(line) = lines.get(i) else { break };
        let ending = if line.ending.is_empty() {
            eol
        } else {
            line.ending
        };
        let Some((flag_index, value_follows)) = flag_of(line.content, &flags) else {
            out.push((line.content.to_string(), ending.to_string()));
            i += 1;
            continue;
        };
        // The lines this occurrence spans: itself, plus its value line.
        let mut span = 1;
        if value_follows && lines.get(i + 1).is_some_and(|l| is_value_line(l.content)) {
            span = 2;
        }
        let removed: Vec<String> = lines
            .iter()
            .skip(i)
            .take(span)
            .map(|l| l.content.to_string())
            .collect();
        let last_ending = lines
            .get(i + span - 1)
            .map(|l| if l.ending.is_empty() { eol } else { l.ending })
            .unwrap_or(eol);
        let old_start = i + 1;
        let new_start_before = out.len();
        let mut added = Vec::new();
        if let Some(already) = seen.get_mut(flag_index) {
            if !*already {
                *already = true;
                let indent_len = line.content.len() - line.content.trim_start().len();
                let indent = line.content.get(..indent_len).unwrap_or("");
                let flag = flags.get(flag_index).copied().unwrap_or_default();
                let value = values.get(flag_index).map_or("", String::as_str);
                let new_line = format!("{indent}{flag}={value}");
                out.push((new_line.clone(), last_ending.to_string()));
                added.push(new_line);
            }
        }
        if removed != added {
            hunks.push(Hunk {
                old_start,
                removed,
                new_start: if added.is_empty() {
                    new_start_before
                } else {
                    new_start_before + 1
                },
                added,
            });
        }
        i += span;
    }

    let mut appended = Vec::new();
    for ((flag, value), present) in flags.iter().zip(&values).zip(seen) {
        if !present {
            appended.push(format!("{flag}={value}"));
        }
    }
    if !appended.is_empty() {
        hunks.push(Hunk {
            old_start: lines.len(),
            removed: Vec::new(),
            new_start: out.len() + 1,
            added: appended.clone(),
        });
        out.extend(appended.into_iter().map(|l| (l, eol.to_string())));
    }

    let mut new_text: String = out
        .iter()
        .flat_map(|(content, ending)| [content.as_str(), ending.as_str()])
        .collect();
    if !ends_with_newline {
        if let Some((_, ending)) = out.last() {
            new_text.truncate(new_text.len() - ending.len());
        }
    }
    if new_text == text {
        hunks.clear();
    }
    KubeletEdit {
        text: new_text,
        hunks,
    }
}

/// The kubelet's settings, relative to `--root`: MicroK8s' arguments file,
/// and kubeadm's configuration file (plain tools).
pub const MICROK8S_KUBELET_ARGS: &str = "var/snap/microk8s/current/args/kubelet";
pub const KUBEADM_KUBELET_CONFIG: &str = "var/lib/kubelet/config.yaml";

/// Where the kubelet's settings live on a node, relative to `/`.
pub fn kubelet_file(flavor: crate::cluster::target::ToolFlavor) -> &'static str {
    match flavor {
        crate::cluster::target::ToolFlavor::Microk8s => MICROK8S_KUBELET_ARGS,
        crate::cluster::target::ToolFlavor::Plain => KUBEADM_KUBELET_CONFIG,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved() -> Reserved {
        Reserved::new("1", "512Mi", "10Gi").unwrap()
    }

    const KUBE: &str = "--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi";
    const SYSTEM: &str = "--system-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi";

    /// An excerpt of the file as MicroK8s ships it.
    const MICROK8S: &str = "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n\
        --cert-dir=${SNAP_DATA}/certs\n\
        --client-ca-file=${SNAP_DATA}/certs/ca.crt\n\
        --anonymous-auth=false\n\
        --root-dir=${SNAP_COMMON}/var/lib/kubelet\n\
        --fail-swap-on=false\n\
        --eviction-hard=\"memory.available<100Mi,nodefs.available<1Gi,imagefs.available<1Gi\"\n\
        --container-runtime-endpoint=${SNAP_COMMON}/run/containerd.sock\n\
        --node-labels=\"microk8s.io/cluster=true,node.kubernetes.io/microk8s-controlplane=microk8s-controlplane\"\n\
        --authentication-token-webhook=true\n\
        --read-only-port=0\n";

    #[test]
    fn appends_both_flags_to_the_stock_file_and_keeps_it_otherwise() {
        let out = set_reserved(MICROK8S, &reserved());
        assert_eq!(out, format!("{MICROK8S}{KUBE}\n{SYSTEM}\n"));
    }

    #[test]
    fn is_idempotent() {
        let once = set_reserved(MICROK8S, &reserved());
        let twice = set_reserved(&once, &reserved());
        assert_eq!(once, twice);
        assert!(edit_reserved(&once, &reserved()).is_unchanged());
    }

    #[test]
    fn replaces_existing_values_in_place() {
        let text = "--a=1\n--kube-reserved=cpu=200m,memory=1Gi\n--b=2\n--system-reserved=cpu=100m\n--c=3\n";
        let out = set_reserved(text, &reserved());
        assert_eq!(out, format!("--a=1\n{KUBE}\n--b=2\n{SYSTEM}\n--c=3\n"));
    }

    #[test]
    fn new_values_replace_old_ones_on_a_second_run() {
        let first = set_reserved(MICROK8S, &reserved());
        let bigger = Reserved::new("2", "1Gi", "20Gi").unwrap();
        let second = set_reserved(&first, &bigger);
        assert_eq!(second.matches("--kube-reserved").count(), 1);
        assert_eq!(second.matches("--system-reserved").count(), 1);
        assert!(second.contains("--kube-reserved=cpu=2,memory=1Gi,ephemeral-storage=20Gi\n"));
        assert!(!second.contains("512Mi"));
        assert!(second.starts_with(MICROK8S));
    }

    #[test]
    fn duplicates_collapse_into_the_first_occurrence() {
        let text = "--kube-reserved=cpu=1\n--a=1\n--kube-reserved cpu=3\n--system-reserved=x\n--kube-reserved=cpu=2\n--b=2\n--system-reserved=y\n";
        let edit = edit_reserved(text, &reserved());
        assert_eq!(edit.text, format!("{KUBE}\n--a=1\n{SYSTEM}\n--b=2\n"));
        let removed: Vec<_> = edit.hunks.iter().flat_map(|h| h.removed.clone()).collect();
        assert_eq!(removed.len(), 5);
    }

    #[test]
    fn space_separated_form_is_replaced() {
        let text = "--a=1\n--kube-reserved cpu=2,memory=1Gi\n--system-reserved   \"cpu=2\"\n";
        assert_eq!(
            set_reserved(text, &reserved()),
            format!("--a=1\n{KUBE}\n{SYSTEM}\n")
        );
    }

    #[test]
    fn value_on_the_next_line_is_replaced_with_its_flag() {
        let text = "--kube-reserved\ncpu=2,memory=1Gi\n--b=2\n--system-reserved\n--c=3\n";
        // The second flag has no value line (the next line is a flag): only
        // the flag line itself is replaced.
        assert_eq!(
            set_reserved(text, &reserved()),
            format!("{KUBE}\n--b=2\n{SYSTEM}\n--c=3\n")
        );
    }

    #[test]
    fn similar_flags_and_comments_are_left_alone() {
        let text = "# --kube-reserved=cpu=9\n--kube-reserved-cgroup=/kube.slice\n\
            --system-reserved-cgroup=/system.slice\n  # comment\n\n--enforce-node-allocatable=pods\n";
        let out = set_reserved(text, &reserved());
        assert_eq!(out, format!("{text}{KUBE}\n{SYSTEM}\n"));
    }

    #[test]
    fn commented_out_flag_is_not_a_setting() {
        let text = "#--kube-reserved=cpu=9\n--kube-reserved=cpu=9\n";
        assert_eq!(
            set_reserved(text, &reserved()),
            format!("#--kube-reserved=cpu=9\n{KUBE}\n{SYSTEM}\n")
        );
    }

    #[test]
    fn keeps_indentation_of_a_replaced_line() {
        let text = "  --kube-reserved=cpu=2\n";
        assert_eq!(
            set_reserved(text, &reserved()),
            format!("  {KUBE}\n{SYSTEM}\n")
        );
    }

    #[test]
    fn file_without_trailing_newline_keeps_that_convention() {
        let text = "--a=1\n--b=2";
        let once = set_reserved(text, &reserved());
        assert_eq!(once, format!("--a=1\n--b=2\n{KUBE}\n{SYSTEM}"));
        assert_eq!(set_reserved(&once, &reserved()), once);

        let replaced_last = set_reserved("--a=1\n--system-reserved=cpu=2", &reserved());
        assert_eq!(replaced_last, format!("--a=1\n{SYSTEM}\n{KUBE}"));
    }

    #[test]
    fn removing_a_duplicate_last_line_keeps_no_trailing_newline() {
        let text = format!("{KUBE}\n{SYSTEM}\n--kube-reserved=cpu=7");
        let out = set_reserved(&text, &reserved());
        assert_eq!(out, format!("{KUBE}\n{SYSTEM}"));
        assert_eq!(set_reserved(&out, &reserved()), out);
    }

    #[test]
    fn empty_file_gets_both_flags() {
        let edit = edit_reserved("", &reserved());
        assert_eq!(edit.text, format!("{KUBE}\n{SYSTEM}\n"));
        assert_eq!(edit.hunks.len(), 1);
        assert_eq!(set_reserved(&edit.text, &reserved()), edit.text);
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let text = "--a=1\r\n--kube-reserved=cpu=2\r\n--b=2\r\n";
        let out = set_reserved(text, &reserved());
        assert_eq!(out, format!("--a=1\r\n{KUBE}\r\n--b=2\r\n{SYSTEM}\r\n"));
        assert_eq!(set_reserved(&out, &reserved()), out);
    }

    #[test]
    fn cr_only_files_stay_cr_only_and_the_edit_is_idempotent() {
        let text = "--a=1\r--kube-reserved=cpu=2\r--b=2\r";
        let out = set_reserved(text, &reserved());
        assert_eq!(out, format!("--a=1\r{KUBE}\r--b=2\r{SYSTEM}\r"));
        assert_eq!(set_reserved(&out, &reserved()), out);
        assert!(edit_reserved(&out, &reserved()).is_unchanged());
        let stock = MICROK8S.replace('\n', "\r");
        let once = set_reserved(&stock, &reserved());
        assert_eq!(once, format!("{stock}{KUBE}\r{SYSTEM}\r"));
        assert_eq!(set_reserved(&once, &reserved()), once);
    }

    #[test]
    fn hunks_describe_the_change_with_line_numbers() {
        let text = "--a=1\n--kube-reserved=cpu=2\n--b=2\n";
        let edit = edit_reserved(text, &reserved());
        assert_eq!(
            edit.hunks,
            vec![
                Hunk {
                    old_start: 2,
                    removed: vec!["--kube-reserved=cpu=2".into()],
                    new_start: 2,
                    added: vec![KUBE.into()],
                },
                Hunk {
                    old_start: 3,
                    removed: vec![],
                    new_start: 4,
                    added: vec![SYSTEM.into()]
                },
            ]
        );
        let diff = edit.diff("kubelet");
        assert_eq!(
            diff,
            format!(
                "--- kubelet\n+++ kubelet (after)\n@@ -2 +2 @@\n---kube-reserved=cpu=2\n+{KUBE}\n\
                 @@ -3,0 +4 @@\n+{SYSTEM}\n"
            )
        );
    }

    #[test]
    fn an_already_correct_line_is_not_a_hunk() {
        let text = format!("{KUBE}\n--a=1\n");
        let edit = edit_reserved(&text, &reserved());
        assert_eq!(edit.hunks.len(), 1);
        assert_eq!(edit.hunks[0].added, vec![SYSTEM.to_string()]);
    }

    /// Every combination of a few awkward fragments: the edit is idempotent,
    /// leaves exactly one of each flag, and keeps the other lines in order.
    #[test]
    fn idempotent_and_faithful_on_combinations() {
        let fragments = [
            "--a=1\n",
            "--kube-reserved=cpu=3\n",
            "--system-reserved cpu=3\n",
            "--kube-reserved\ncpu=4\n",
            "# note\n",
            "\n",
            "--kube-reserved-cgroup=/k\n",
            "--b=2",
        ];
        for a in fragments {
            for b in fragments {
                for c in fragments {
                    let text = format!("{a}{b}{c}");
                    let once = set_reserved(&text, &reserved());
                    assert_eq!(set_reserved(&once, &reserved()), once, "{text:?}");
                    assert_eq!(once.lines().filter(|l| *l == KUBE).count(), 1, "{text:?}");
                    assert_eq!(once.lines().filter(|l| *l == SYSTEM).count(), 1, "{text:?}");
                    assert_eq!(once.ends_with('\n'), text.ends_with('\n'), "{text:?}");
                    let others = |t: &str| -> Vec<String> {
                        t.lines()
                            .filter(|l| {
                                flag_of(l, &RESERVED_FLAGS).is_none()
                                    && *l != "cpu=3"
                                    && *l != "cpu=4"
                            })
                            .map(str::to_string)
                            .collect()
                    };
                    assert_eq!(others(&once), others(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn accepts_kubernetes_quantities() {
        for q in [
            "1", "500m", "512Mi", "10Gi", "1.5", "2G", "0", ".5", "1.", "+1", "1e3", "1E-2",
            "100k", "1Ei", "5u",
        ] {
            assert_eq!(check_quantity(q), Ok(()), "{q}");
        }
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for q in [
            "", "-1", "512MB", "1gi", "Mi", "1.2.3", "1 Gi", "1,5", "cpu=1", "1e", "1e1.5", "abc",
            ".",
        ] {
            assert!(check_quantity(q).is_err(), "{q:?} should be refused");
        }
        assert!(check_quantity("512MB").unwrap_err().contains("Mi"));
        assert!(check_quantity("-1").unwrap_err().contains("negative"));
    }

    #[test]
    fn bad_values_are_all_reported_with_their_flags() {
        let err = Reserved::new("one", "512MB", "10Gi").unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert!(err.0[0].starts_with("--cpu \"one\""), "{}", err.0[0]);
        assert!(err.0[1].starts_with("--memory \"512MB\""), "{}", err.0[1]);
    }

    #[test]
    fn value_lists_all_three_resources() {
        let r = Reserved::new("500m", "1Gi", "20G").unwrap();
        assert_eq!(r.value(), "cpu=500m,memory=1Gi,ephemeral-storage=20G");
    }

    #[test]
    fn reserved_values_are_read_as_the_kubelet_applies_them() {
        assert_eq!(reserved_values("--cert-dir=/x\n"), [None, None]);
        assert_eq!(
            reserved_values(
                "--kube-reserved=cpu=1\n# --system-reserved=cpu=9\n--system-reserved\ncpu=2\n"
            ),
            [Some("cpu=1".into()), Some("cpu=2".into())]
        );
        assert_eq!(
            reserved_values("--kube-reserved cpu=1\r\n--kube-reserved=\"cpu=3\"\r\n"),
            [Some("cpu=3".into()), None],
            "the last occurrence wins"
        );
        assert_eq!(reserved_values("--kube-reserved=\n"), [None, None]);
        let edited = set_reserved(
            "--cert-dir=/x\n",
            &Reserved::new("1", "512Mi", "10Gi").unwrap(),
        );
        let value = "cpu=1,memory=512Mi,ephemeral-storage=10Gi".to_string();
        assert_eq!(reserved_values(&edited), [Some(value.clone()), Some(value)]);
    }

    fn image_gc(high: u32, low: u32) -> KubeletSettings {
        crate::cluster::kubelet_settings::ImageGc::new(high, low, None)
            .unwrap()
            .settings()
    }

    const HIGH: &str = "--image-gc-high-threshold=90";
    const LOW: &str = "--image-gc-low-threshold=70";

    #[test]
    fn image_gc_flags_are_appended_then_left_alone() {
        let edit = edit_settings(MICROK8S, &image_gc(90, 70));
        assert_eq!(edit.text, format!("{MICROK8S}{HIGH}\n{LOW}\n"));
        assert_eq!(edit.hunks.len(), 1);
        let again = edit_settings(&edit.text, &image_gc(90, 70));
        assert!(again.is_unchanged(), "{:?}", again.hunks);
        assert_eq!(again.text, edit.text);
        assert_eq!(
            flag_values(
                &edit.text,
                &["--image-gc-high-threshold", "--image-gc-low-threshold"]
            ),
            [Some("90".to_string()), Some("70".to_string())]
        );
    }

    #[test]
    fn image_gc_flags_are_updated_in_any_form_and_other_lines_kept_byte_for_byte() {
        // The high mark with its value on the next line, the low one with a
        // space, a duplicate, the reservations (another command's flags),
        // a comment and CRLF endings: only the image GC lines change.
        let text = "--a=1\r\n--image-gc-high-threshold\r\n95\r\n# --image-gc-low-threshold=1\r\n\
            --kube-reserved=cpu=1\r\n  --image-gc-low-threshold 60\r\n--image-gc-high-threshold=99\r\n\
            --b=\"x y\"\r\n";
        let edit = edit_settings(text, &image_gc(90, 70));
        assert_eq!(
            edit.text,
            format!(
                "--a=1\r\n{HIGH}\r\n# --image-gc-low-threshold=1\r\n--kube-reserved=cpu=1\r\n  \
                 {LOW}\r\n--b=\"x y\"\r\n"
            )
        );
        let removed: Vec<String> = edit.hunks.iter().flat_map(|h| h.removed.clone()).collect();
        assert_eq!(
            removed,
            [
                "--image-gc-high-threshold",
                "95",
                "  --image-gc-low-threshold 60",
                "--image-gc-high-threshold=99"
            ]
        );
        assert!(edit_settings(&edit.text, &image_gc(90, 70)).is_unchanged());
        // New values replace the old ones in place, and nothing else moves.
        let lower = edit_settings(&edit.text, &image_gc(80, 50));
        assert_eq!(
            lower.text,
            edit.text
                .replace(HIGH, "--image-gc-high-threshold=80")
                .replace(LOW, "--image-gc-low-threshold=50")
        );
        assert_eq!(lower.hunks.len(), 2);
        // The reservations' editor leaves the image GC flags alone, and
        // the other way round.
        let reserved = set_reserved(&edit.text, &reserved());
        assert!(
            reserved.contains(HIGH) && reserved.contains(LOW),
            "{reserved}"
        );
        assert!(edit_settings(&reserved, &image_gc(90, 70)).is_unchanged());
    }

    #[test]
    fn a_setting_without_a_flag_is_not_written_as_one() {
        let gc = crate::cluster::kubelet_settings::ImageGc::new(
            85,
            80,
            Some(std::time::Duration::from_secs(3600)),
        )
        .unwrap();
        let edit = edit_settings("--a=1\n", &gc.settings());
        assert_eq!(
            edit.text,
            "--a=1\n--image-gc-high-threshold=85\n--image-gc-low-threshold=80\n"
        );
        assert!(!edit.text.contains("maximum"), "{}", edit.text);
    }
}
