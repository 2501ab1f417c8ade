//! What a deploy would change in the release's values: Helm's merge of the
//! values files, secrets masked on both sides, and a readable line diff of
//! the two as canonical YAML (keys sorted, as `helm get values` sorts them).
//! Pure.

use serde_yaml::{Mapping, Value};

use crate::values::write;

/// The masked form of a secret; a changed one says so without showing
/// either value.
pub const HIDDEN: &str = "(secret)";
pub const HIDDEN_CHANGED: &str = "(secret, changed)";

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// Helm's merge of values files: maps merge key by key, anything else in
/// `overlay` replaces what `base` had, and `null` removes the key.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                if value.is_null() {
                    base.remove(key);
                    continue;
                }
                match base.get_mut(key) {
                    Some(existing) if existing.is_mapping() && value.is_mapping() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// Whether a key names a secret: any key containing `password`, `token` or
/// `secret` (z2jh's `proxy.secretToken`, `hub.cookieSecret`, API tokens).
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "token", "secret"]
        .iter()
        .any(|word| key.contains(word))
}

/// Every leaf path of `value` (`registry.password`), for masking what came
/// from secret.yaml.
pub fn leaf_paths(value: &Value) -> Vec<Vec<String>> {
    fn walk(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match value {
            Value::Mapping(map) if !map.is_empty() => {
                for (key, child) in map {
                    path.push(key_text(key));
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => out.push(path.clone()),
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => write::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

/// Mask secrets in both sides alike: every value under a secret-named key
/// and at each of `secret_paths`. Where the two sides differ the new side
/// says [`HIDDEN_CHANGED`], so a changed token shows as one changed line.
pub fn mask_pair(old: &mut Value, new: &mut Value, secret_paths: &[Vec<String>]) {
    mask_at(Some(old), Some(new), &mut Vec::new(), secret_paths);
}

fn mask_at(
    old: Option<&mut Value>,
    new: Option<&mut Value>,
    path: &mut Vec<String>,
    secret_paths: &[Vec<String>],
) {
    let secret =
        path.last().is_some_and(|k| is_secret_key(k)) || secret_paths.iter().any(|p| p == path);
    if secret {
        let changed = match (&old, &new) {
            (Some(a), Some(b)) => a != b,
            _ => true,
        };
        if let Some(old) = old {
            *old = Value::String(HIDDEN.into());
        }
        if let Some(new) = new {
            let text = if changed { HIDDEN_CHANGED } else { HIDDEN };
            *new = Value::String(text.into());
        }
        return;
    }
    let (old_map, new_map) = (
        old.and_then(|v| v.as_mapping_mut()),
        new.and_then(|v| v.as_mapping_mut()),
    );
    let mut keys: Vec<Value> = Vec::new();
    for map in [&old_map, &new_map].into_iter().flatten() {
        for key in map.keys() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    let (mut old_map, mut new_map) = (old_map, new_map);
    for key in keys {
        path.push(key_text(&key));
        let old_child = old_map.as_mut().and_then(|m| m.get_mut(&key));
        let new_child = new_map.as_mut().and_then(|m| m.get_mut(&key));
        mask_at(old_child, new_child, path, secret_paths);
        path.pop();
    }
}

/// `value` with every mapping's keys sorted, as Helm prints values.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Mapping(map) => {
            let mut entries: Vec<(String, Value, Value)> = map
                .iter()
                .map(|(k, v)| (key_text(k), k.clone(), canonical(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut sorted = Mapping::new();
            for (_, k, v) in entries {
                sorted.insert(k, v);
            }
            Value::Mapping(sorted)
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(canonical).collect()),
        Value::Tagged(tagged) => canonical(&tagged.value),
        other => other.clone(),
    }
}

/// The YAML text that is compared (`{}` for no values at all).
pub fn yaml_text(value: &Value) -> String {
    match value {
        Value::Null => "{}\n".to_string(),
        Value::Mapping(m) if m.is_empty() => "{}\n".to_string(),
        other => write::to_string(&canonical(other)).unwrap_or_else(|e| format!("# {e}\n")),
    }
}

/// A unified diff of two texts (`similar`'s Myers diff): hunks headed
/// `@@ -old +new @@`, `-` and `+` lines with three lines of context; empty
/// when they are equal.
pub fn line_diff(old: &str, new: &str) -> String {
    similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(CONTEXT)
        .missing_newline_hint(false)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn merge_is_helms() {
        let mut base = yaml("a: {b: 1, c: [1, 2]}\nd: x\ne: keep\n");
        merge(&mut base, &yaml("a: {c: [3], f: 2}\nd: {g: 1}\ne: null\n"));
        assert_eq!(base, yaml("a: {b: 1, c: [3], f: 2}\nd: {g: 1}\n"));
    }

    #[test]
    fn secrets_are_masked_on_both_sides_and_a_change_still_shows() {
        let mut old = yaml(
            "registry: {username: lab, password: old-pass}\nproxy: {secretToken: abc}\nhub: {db: {url: sqlite://}}\n",
        );
        let mut new = yaml(
            "registry: {username: lab, password: new-pass}\nproxy: {secretToken: abc}\nhub: {db: {url: sqlite://}}\n",
        );
        let from_secret_yaml = leaf_paths(&yaml("registry: {username: lab, password: x}"));
        mask_pair(&mut old, &mut new, &from_secret_yaml);
        let diff = line_diff(&yaml_text(&old), &yaml_text(&new));
        assert!(
            !diff.contains("old-pass") && !diff.contains("new-pass"),
            "{diff}"
        );
        assert!(diff.contains("-  password: (secret)\n"), "{diff}");
        assert!(diff.contains("+  password: (secret, changed)\n"), "{diff}");
        let text = yaml_text(&new);
        assert!(text.contains("secretToken: (secret)\n"), "{text}");
        assert!(text.contains("username: (secret)\n"), "{text}");
        assert!(!text.contains("abc"), "{text}");
        // A secret only on one side.
        let mut old = yaml("a: 1\n");
        let mut new = yaml("a: 1\napi_token: t0ken\n");
        mask_pair(&mut old, &mut new, &[]);
        assert!(yaml_text(&new).contains("api_token: (secret, changed)"));
    }

    #[test]
    fn canonical_text_sorts_keys() {
        assert_eq!(
            yaml_text(&yaml("b: 1\na: {d: 2, c: 3}\n")),
            "a:\n  c: 3\n  d: 2\nb: 1\n"
        );
        assert_eq!(yaml_text(&Value::Null), "{}\n");
    }

    #[test]
    fn line_diff_shows_unified_hunks_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\nk\n";
        assert_eq!(
            line_diff(old, new),
            "@@ -2,9 +2,10 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n i\n j\n+k\n"
        );
        let far = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
        assert_eq!(
            line_diff(far, &far.replace("1\n2", "one\n2").replace("10", "ten")),
            "@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+ten\n"
        );
        assert_eq!(line_diff(old, old), "");
        assert_eq!(line_diff("", "x\n"), "@@ -0,0 +1 @@\n+x\n");
    }

    #[test]
    fn a_large_values_file_shows_only_what_changed() {
        // 2,500 lines with one change near each end: the hand-written
        // comparison gave up above 4 million cells and showed the whole
        // middle as removed and added.
        let old: String = (0..2500).map(|i| format!("  key{i}: value{i}\n")).collect();
        let new = old
            .replace("  key10: value10\n", "  key10: changed\n")
            .replace("  key2490: value2490\n", "  key2490: changed\n");
        let diff = line_diff(&old, &new);
        let count = |mark: char| diff.lines().filter(|l| l.starts_with(mark)).count();
        assert_eq!((count('-'), count('+'), count('@')), (2, 2, 2), "{diff}");
        assert!(
            diff.contains("-  key10: value10\n+  key10: changed\n"),
            "{diff}"
        );
    }

    #[test]
    fn completely_different_texts_are_all_removed_then_added() {
        let old: String = (0..3000).map(|i| format!("o{i}\n")).collect();
        let new: String = (0..3000).map(|i| format!("n{i}\n")).collect();
        let diff = line_diff(&old, &new);
        assert_eq!(diff.lines().filter(|l| l.starts_with('-')).count(), 3000);
        assert_eq!(diff.lines().filter(|l| l.starts_with('+')).count(), 3000);
    }
}
