//! Reading values files. binderctl reads YAML 1.2 (serde_yaml), while Helm
//! and the script binderctl replaces read YAML 1.1, where a plain `yes`,
//! `on`, `off`, `y`, `n`, `010`, `1:30`, `12_000` or `2024-01-01` is a
//! boolean, a number or a timestamp, not text. Such a value would silently
//! change meaning on the way through binderctl (it writes the string it read,
//! quoted), so every one is reported with its line, for the operator to
//! write it unambiguously.

use std::sync::LazyLock;

use anyhow::{Context, Result};
use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_yaml::Value;

/// Parse a values file's text; `name` is the file, for messages. `<<` merge
/// keys are resolved, as Helm does.
pub fn parse_values(text: &str, name: &str) -> Result<Value> {
    let mut values: Value =
        serde_yaml::from_str(text).with_context(|| format!("{name}: not valid YAML"))?;
    values
        .apply_merge()
        .with_context(|| format!("{name}: bad merge key (<<)"))?;
    Ok(values)
}

/// A plain scalar that YAML 1.1 reads as something other than the text
/// binderctl reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguity {
    /// 1-based line and column.
    pub line: usize,
    pub column: usize,
    pub text: String,
    /// What YAML 1.1 makes of it: "a boolean", "an integer", ...
    pub yaml11: &'static str,
}

impl Ambiguity {
    /// The warning, prefixed with `name:LINE:COLUMN`.
    pub fn describe(&self, name: &str) -> String {
        let fix = if self.yaml11 == "a boolean" {
            "write true or false for a boolean, or quote it for text"
        } else {
            "quote it for text, or write the value plainly"
        };
        format!(
            "{name}:{}:{}: unquoted {:?} is {} to Helm (YAML 1.1) but text to binderctl, which \
             passes it on as the text {:?}; {fix}",
            self.line, self.column, self.text, self.yaml11, self.text
        )
    }
}

/// Every plain scalar (keys included) whose YAML 1.1 type is not text while
/// serde_yaml reads it as text. Text that is not valid YAML gives nothing
/// here: parsing reports that.
pub fn yaml11_ambiguities(text: &str) -> Vec<Ambiguity> {
    let mut found = Vec::new();
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else {
            break;
        };
        let Event::Scalar(value, ScalarStyle::Plain, _, None) = event else {
            continue;
        };
        let Some(yaml11) = yaml11_type(&value) else {
            continue;
        };
        let read_as_text = matches!(serde_yaml::from_str::<Value>(&value), Ok(Value::String(_)));
        if read_as_text {
            found.push(Ambiguity {
                line: span.start.line(),
                column: span.start.col() + 1,
                text: value.into_owned(),
                yaml11,
            });
        }
    }
    found
}

/// The YAML 1.1 type of a plain scalar other than text, following the
/// yaml.org 1.1 type definitions as PyYAML and go-yaml apply them.
fn yaml11_type(s: &str) -> Option<&'static str> {
    static BOOL: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$").ok()
    });
    static NULL: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^(~|null|Null|NULL)$").ok());
    static INT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^[-+]?(0b[01_]+|0[0-7_]+|0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|[1-9][0-9_]*(:[0-5]?[0-9])+)$").ok()
    });
    static FLOAT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^([-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?|\.[0-9_]+([eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$").ok()
    });
    static TIMESTAMP: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?$").ok()
    });
    let is = |re: &LazyLock<Option<Regex>>| re.as_ref().is_some_and(|re| re.is_match(s));
    if is(&BOOL) {
        Some("a boolean")
    } else if is(&NULL) {
        Some("null")
    } else if is(&INT) {
        Some("an integer")
    } else if is(&FLOAT) {
        Some("a float")
    } else if is(&TIMESTAMP) {
        Some("a timestamp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(yaml: &str) -> Vec<String> {
        yaml11_ambiguities(yaml)
            .into_iter()
            .map(|a| a.text)
            .collect()
    }

    #[test]
    fn finds_plain_yaml_1_1_look_alikes_with_their_position() {
        let yaml = "a: yes\nb:\n  - on\n  - 'off'\n  - \"y\"\nc: 010\nd: 1:30\ne: 12_000\nf: 2024-01-01\nNO: x\n";
        let found = yaml11_ambiguities(yaml);
        let got: Vec<(usize, usize, &str, &str)> = found
            .iter()
            .map(|a| (a.line, a.column, a.text.as_str(), a.yaml11))
            .collect();
        assert_eq!(
            got,
            [
                (1, 4, "yes", "a boolean"),
                (3, 5, "on", "a boolean"),
                (6, 4, "010", "an integer"),
                (7, 4, "1:30", "an integer"),
                (8, 4, "12_000", "an integer"),
                (9, 4, "2024-01-01", "a timestamp"),
                (10, 1, "NO", "a boolean"),
            ]
        );
    }

    #[test]
    fn values_both_readers_agree_on_are_not_reported() {
        // Real booleans, numbers, null, and text that is text to both.
        let yaml = "a: true\nb: 3\nc: 1.5\nd: null\ne: ~\nf: 0x1F\ng: 1.0.0-0.dev.git.3506.hba24eb2a\n\
                    h: 10.0.0.1\ni: yesterday\nj: 08\nk: '010'\nl: |\n  yes\nm: !!str on\np: 1.2.3\n";
        assert_eq!(texts(yaml), Vec::<String>::new());
    }

    #[test]
    fn the_warning_names_file_line_and_fix() {
        let a = &yaml11_ambiguities("x:\n  enabled: yes\n")[0];
        assert_eq!(
            a.describe("binder.yaml"),
            "binder.yaml:2:12: unquoted \"yes\" is a boolean to Helm (YAML 1.1) but text to \
             binderctl, which passes it on as the text \"yes\"; write true or false for a \
             boolean, or quote it for text"
        );
    }

    #[test]
    fn broken_yaml_reports_nothing_and_never_panics() {
        assert!(texts("a: [yes\nb: {").len() <= 1);
        assert!(texts("\u{0}\u{1}: :").is_empty());
    }

    #[test]
    fn merge_keys_are_resolved() {
        let v = parse_values("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n", "f.yaml").unwrap();
        assert_eq!(v["use"]["x"], Value::from(1));
        let err = parse_values("a: [", "f.yaml").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("f.yaml: not valid YAML"),
            "{err:#}"
        );
    }
}
