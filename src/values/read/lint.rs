//! Values whose Helm reading is likely a surprise: binderctl reads as Helm
//! does, so nothing changes on the way through, but an unquoted `n`, `no`,
//! `off` or `010` where text was probably meant reaches the chart as a
//! boolean or a number. Ordinary booleans (`true`, `false`, and `yes`/`no`
//! under keys that name a switch, like `enabled`) are not reported.

use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::Number;

use super::scalar::{self, Resolved};
use super::Position;

/// One finding, ready to be worded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub at: Option<Position>,
    /// Where the value is, e.g. `config.BinderHub.use_registry`.
    pub path: String,
    /// The value as written.
    pub text: String,
    /// What Helm makes of it, e.g. `the boolean false`.
    pub reading: String,
    /// The kind only (`a boolean`), for messages that must not reveal it.
    pub kind: &'static str,
    pub is_key: bool,
}

impl Note {
    /// The warning, prefixed with `name:LINE:COLUMN`.
    pub fn describe(&self, name: &str) -> String {
        let at = self.at.map(|at| format!(":{at}")).unwrap_or_default();
        let path = self.where_();
        if self.is_key {
            return format!(
                "{name}{at}: {path}unquoted key {:?} reaches Helm as the key {}; quote it \
                 to keep the text",
                self.text, self.reading
            );
        }
        if self.kind == "an imprecise integer" {
            return format!(
                "{name}{at}: {path}the integer {} is beyond what Helm holds exactly (2^53): \
                 the chart gets {}; quote it if the digits matter",
                self.text, self.reading
            );
        }
        format!(
            "{name}{at}: {path}unquoted {:?} reaches Helm as {}, not as the text {:?}; quote \
             it if text was meant",
            self.text, self.reading, self.text
        )
    }

    /// The warning without the value (for secret.yaml).
    pub fn describe_hidden(&self, name: &str) -> String {
        let at = self.at.map(|at| format!(":{at}")).unwrap_or_default();
        let what = if self.is_key { "key" } else { "value" };
        format!(
            "{name}{at}: {}an unquoted {what} that Helm reads as {}, not as text; quote it if \
             text was meant",
            self.where_(),
            self.kind
        )
    }

    fn where_(&self) -> String {
        if self.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.path)
        }
    }

    /// An integer Helm holds only approximately (its numbers are floats).
    pub(super) fn imprecise(path: &str, n: &Number) -> Note {
        let approx = n.as_f64().map(|f| format!("{f}")).unwrap_or_default();
        Note {
            at: None,
            path: path.to_string(),
            text: n.to_string(),
            reading: approx,
            kind: "an imprecise integer",
            is_key: false,
        }
    }
}

/// The note for a plain scalar that Helm resolves to `resolved` (not text),
/// if its reading is likely a surprise. `key` is the key whose value it is
/// (empty in a list); the note's path is that key, for the caller to extend.
pub(super) fn plain_scalar(
    text: &str,
    resolved: &Resolved,
    key: &str,
    is_key: bool,
    at: Position,
) -> Option<Note> {
    let note = |reading: String| Note {
        at: Some(at),
        path: key.to_string(),
        text: text.to_string(),
        reading,
        kind: resolved.kind(),
        is_key,
    };
    if is_key {
        let key = scalar::key_text(&resolved.clone().into_value(text))?;
        return (key != text).then(|| note(format!("{key:?}")));
    }
    match resolved {
        Resolved::Bool(b) if !ordinary_boolean(text, key) => Some(note(format!("the boolean {b}"))),
        Resolved::Int(_) | Resolved::Uint(_) | Resolved::Float(_) if surprising_number(text) => {
            let value = resolved.clone().into_value(text);
            let shown = match value.as_f64() {
                Some(f) if value.is_f64() => format!("{f}"),
                _ => serde_yaml::to_string(&value)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            Some(note(format!("the number {shown}")))
        }
        _ => None,
    }
}

/// `true`/`false` always; `yes`/`no`/`on`/`off` under a key that names a
/// switch (`enabled`, `use_registry`, `allowPrivilegeEscalation`).
fn ordinary_boolean(text: &str, key: &str) -> bool {
    if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
        return true;
    }
    if text.len() == 1 {
        return false; // y, n: almost always text
    }
    let words = key_words(key);
    const FIRST: &[&str] = &[
        "enable", "enabled", "disable", "disabled", "use", "allow", "allowed", "deny", "is", "has",
        "should", "can", "create", "debug", "skip", "require", "required", "auto", "force",
        "strict", "insecure", "verify", "with", "no",
    ];
    const LAST: &[&str] = &[
        "enabled", "disabled", "allowed", "required", "enable", "disable",
    ];
    words.first().is_some_and(|w| FIRST.contains(&w.as_str()))
        || words.last().is_some_and(|w| LAST.contains(&w.as_str()))
}

/// `use_registry`, `use-registry`, `useRegistry` → `["use", "registry"]`.
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        let boundary = c == '_' || c == '-' || (c.is_uppercase() && previous_lower);
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        if c != '_' && c != '-' {
            current.extend(c.to_lowercase());
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Numbers written so that Helm's reading drops what was probably meant:
/// a leading zero (`010` is 8, `08` is 8) or trailing zeros of a version
/// (`1.10` is 1.1).
fn surprising_number(text: &str) -> bool {
    static LEADING_ZERO: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^[-+]?0[0-9_]*[0-9]").ok());
    static VERSION_LIKE: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^[-+]?[0-9_]*\.[0-9_]*[1-9][0-9_]*0$").ok());
    let is = |re: &LazyLock<Option<Regex>>| re.as_ref().is_some_and(|re| re.is_match(text));
    is(&LEADING_ZERO) || is(&VERSION_LIKE)
}

#[cfg(test)]
mod tests {
    fn found(yaml: &str) -> Vec<(String, String)> {
        super::super::parse_values(yaml, "f.yaml")
            .unwrap()
            .notes
            .into_iter()
            .map(|n| (n.text, n.reading))
            .collect()
    }

    #[test]
    fn surprising_readings_are_noted() {
        let yaml = "a: n\nb: no\nc: off\nd: 010\ne: 08\nf: 1.10\ng: Y\nyes: 1\n010: x\n";
        let got = found(yaml);
        let want: Vec<(String, String)> = [
            ("n", "the boolean false"),
            ("no", "the boolean false"),
            ("off", "the boolean false"),
            ("010", "the number 8"),
            ("08", "the number 8"),
            ("1.10", "the number 1.1"),
            ("Y", "the boolean true"),
            ("yes", "\"true\""),
            ("010", "\"8\""),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn ordinary_values_are_quiet() {
        let yaml = "a: true\nb: False\nenabled: yes\nuse_registry: no\nuseRegistry: on\n\
                    x: {https: {enabled: off}}\nc: 3\nd: 1.5\ne: 0x1F\nf: 2024-01-01\ng: null\n\
                    h: ~\ni: 1_000\nj: '010'\nk: 1.0\nl: 0\nm: 0.5\n1: one\ntrue: t\n";
        assert_eq!(found(yaml), Vec::<(String, String)>::new());
    }

    #[test]
    fn warnings_name_file_position_key_and_fix() {
        let reading = super::super::parse_values("x:\n  name: no\n", "binder.yaml").unwrap();
        assert_eq!(
            reading.notes[0].describe("binder.yaml"),
            "binder.yaml:2:9: x.name: unquoted \"no\" reaches Helm as the boolean false, not \
             as the text \"no\"; quote it if text was meant"
        );
        assert_eq!(
            reading.notes[0].describe_hidden("secret.yaml"),
            "secret.yaml:2:9: x.name: an unquoted value that Helm reads as a boolean, not as \
             text; quote it if text was meant"
        );
    }

    #[test]
    fn integers_beyond_2_pow_53_are_noted() {
        let reading =
            super::super::parse_values("a:\n  b: [12345678901234567890, 9007199254740992]\n", "f")
                .unwrap();
        assert_eq!(reading.notes.len(), 1);
        assert_eq!(
            reading.notes[0].describe("f"),
            "f: a.b[0]: the integer 12345678901234567890 is beyond what Helm holds exactly \
             (2^53): the chart gets 12345678901234567000; quote it if the digits matter"
        );
    }
}
