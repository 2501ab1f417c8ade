//! Writing YAML that Helm (YAML 1.1) reads exactly as meant.
//!
//! serde_yaml's own serializer follows YAML 1.2, so it writes strings such as
//! `on`, `y`, `1:30`, `010` or `2024-01-01` unquoted, and Helm (go-yaml v2,
//! YAML 1.1) then reads them as booleans, numbers or timestamps. This module
//! is the one place that writes YAML: a small block-style emitter over
//! [`serde_yaml::Value`] that quotes a string whenever a YAML 1.1 or a YAML
//! 1.2 core reader could take it for anything but a string, and otherwise
//! leaves it plain so the file stays readable. Pure: no I/O.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::value::Tag;
use serde_yaml::{Mapping, Number, Value};

/// Spaces per nesting level.
const INDENT: usize = 2;
/// Deeper documents are refused rather than risking the stack (serde_yaml
/// itself reads at most 128 levels).
const MAX_DEPTH: usize = 512;
/// libyaml and go-yaml only accept a key written before `:` when it is
/// shorter than 1024 characters; longer keys use the explicit `? key` form.
const MAX_SIMPLE_KEY_LEN: usize = 1000;

/// Characters that cannot start a plain scalar.
const INDICATORS: &[char] = &[
    '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
];

/// A value that cannot be written as YAML, with where it is in the document.
#[derive(Debug)]
pub struct YamlWriteError {
    path: String,
    reason: String,
}

impl YamlWriteError {
    /// Where the offending node is, e.g. `config.BinderHub["a b"][2]`, or
    /// `the top level`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for YamlWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write YAML at {}: {}", self.path, self.reason)
    }
}

impl std::error::Error for YamlWriteError {}

/// Render `value` as a block-style YAML document ending in exactly one
/// newline. Mapping keys keep the value's order. The same value always gives
/// the same bytes.
pub fn to_string(value: &Value) -> Result<String, YamlWriteError> {
    let mut writer = Writer {
        out: String::new(),
        path: Vec::new(),
    };
    writer.node(value, Slot::Root, true, 0)?;
    Ok(writer.out)
}

/// One step of the path to the node being written, for error messages.
enum Segment<'a> {
    Key(&'a Value),
    Index(usize),
}

/// Where a node is written, which decides how it is laid out.
#[derive(Clone, Copy)]
enum Slot {
    /// The whole document: collections start at column 0.
    Root,
    /// After `key:` of a mapping whose keys are at column `column`.
    MapValue { column: usize },
    /// After `-` of a sequence whose dashes are at column `column`.
    SeqItem { column: usize },
}

struct Writer<'a> {
    out: String,
    path: Vec<Segment<'a>>,
}

impl<'a> Writer<'a> {
    /// Write `value` at `slot`, ending with a newline. `last` says nothing
    /// follows it in the document.
    fn node(
        &mut self,
        value: &'a Value,
        slot: Slot,
        last: bool,
        depth: usize,
    ) -> Result<(), YamlWriteError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!(
                "values are nested more than {MAX_DEPTH} levels deep; flatten the structure"
            )));
        }
        let (tag, inner) = match value {
            Value::Tagged(tagged) => (Some(&tagged.tag), &tagged.value),
            other => (None, other),
        };
        if matches!(inner, Value::Tagged(_)) {
            return Err(self.error(
                "a value carries two YAML tags; a YAML node can have only one".to_string(),
            ));
        }
        // Column of a block collection written here, and of the content of
        // a literal block scalar written here (libyaml measures an explicit
        // indentation indicator from the enclosing collection's column).
        let child_column = match slot {
            Slot::Root => 0,
            Slot::MapValue { column } | Slot::SeqItem { column } => column + INDENT,
        };
        let block_scalar_column = child_column.max(INDENT);
        let mut line_has_text = !matches!(slot, Slot::Root);
        if let Some(tag) = tag {
            if line_has_text {
                self.out.push(' ');
            }
            self.out.push_str(&tag_text(tag));
            line_has_text = true;
        }
        match inner {
            Value::Mapping(map) if !map.is_empty() => {
                let same_line = tag.is_none() && matches!(slot, Slot::SeqItem { .. });
                if same_line {
                    self.out.push(' ');
                } else if line_has_text {
                    self.out.push('\n');
                }
                self.mapping(map, child_column, same_line, last, depth + 1)
            }
            Value::Sequence(seq) if !seq.is_empty() => {
                let same_line = tag.is_none() && matches!(slot, Slot::SeqItem { .. });
                if same_line {
                    self.out.push(' ');
                } else if line_has_text {
                    self.out.push('\n');
                }
                self.sequence(seq, child_column, same_line, last, depth + 1)
            }
            scalar => {
                if line_has_text {
                    self.out.push(' ');
                }
                match scalar {
                    Value::String(s) if s.contains('\n') => {
                        match literal_block(s, block_scalar_column, last) {
                            Some(block) => self.out.push_str(&block),
                            None => {
                                self.out.push_str(&double_quoted(s));
                                self.out.push('\n');
                            }
                        }
                    }
                    other => {
                        self.out.push_str(&inline_scalar(other).unwrap_or_default());
                        self.out.push('\n');
                    }
                }
                Ok(())
            }
        }
    }

    /// A non-empty block mapping with keys at `column`. When `first_placed`,
    /// the cursor already sits where the first key goes (after `- `).
    fn mapping(
        &mut self,
        map: &'a Mapping,
        column: usize,
        first_placed: bool,
        last: bool,
        depth: usize,
    ) -> Result<(), YamlWriteError> {
        let count = map.len();
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 || !first_placed {
                push_spaces(&mut self.out, column);
            }
            self.path.push(Segment::Key(key));
            let key_text = self.key_text(key)?;
            if key_text.len() <= MAX_SIMPLE_KEY_LEN {
                self.out.push_str(&key_text);
            } else {
                self.out.push_str("? ");
                self.out.push_str(&key_text);
                self.out.push('\n');
                push_spaces(&mut self.out, column);
            }
            self.out.push(':');
            self.node(
                value,
                Slot::MapValue { column },
                last && i + 1 == count,
                depth,
            )?;
            self.path.pop();
        }
        Ok(())
    }

    /// A non-empty block sequence with dashes at `column`.
    fn sequence(
        &mut self,
        seq: &'a [Value],
        column: usize,
        first_placed: bool,
        last: bool,
        depth: usize,
    ) -> Result<(), YamlWriteError> {
        let count = seq.len();
        for (i, item) in seq.iter().enumerate() {
            if i > 0 || !first_placed {
                push_spaces(&mut self.out, column);
            }
            self.path.push(Segment::Index(i));
            self.out.push('-');
            self.node(
                item,
                Slot::SeqItem { column },
                last && i + 1 == count,
                depth,
            )?;
            self.path.pop();
        }
        Ok(())
    }

    /// A mapping key on one line. Keys must be scalars: Helm turns the
    /// document into JSON, whose keys are strings.
    fn key_text(&self, key: &Value) -> Result<String, YamlWriteError> {
        let (tag, inner) = match key {
            Value::Tagged(tagged) => (Some(&tagged.tag), &tagged.value),
            other => (None, other),
        };
        let what = match inner {
            Value::Mapping(_) => "a mapping",
            Value::Sequence(_) => "a sequence",
            Value::Tagged(_) => "a value with two tags",
            _ => "",
        };
        let text = match inline_scalar(inner) {
            Some(text) if what.is_empty() => text,
            _ => {
                let reason = format!(
                    "{what} is used as a mapping key; \
                     keys must be strings, numbers, booleans or null"
                );
                return Err(self.error(reason));
            }
        };
        Ok(match tag {
            Some(tag) => format!("{} {text}", tag_text(tag)),
            None => text,
        })
    }

    fn error(&self, reason: String) -> YamlWriteError {
        YamlWriteError {
            path: render_path(&self.path),
            reason,
        }
    }
}

fn push_spaces(out: &mut String, count: usize) {
    out.extend(std::iter::repeat_n(' ', count));
}

/// A scalar (or empty collection) on a single line; `None` for non-empty
/// collections and tagged values.
fn inline_scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(number_text(n)),
        Value::String(s) => Some(if is_plain_safe(s) {
            s.clone()
        } else {
            double_quoted(s)
        }),
        Value::Sequence(seq) if seq.is_empty() => Some("[]".to_string()),
        Value::Mapping(map) if map.is_empty() => Some("{}".to_string()),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
    }
}

fn number_text(n: &Number) -> String {
    if n.is_f64() {
        n.as_f64().map(float_text).unwrap_or_default()
    } else {
        n.to_string()
    }
}

/// A float that reads back as a float under YAML 1.1 and 1.2: always a dot,
/// and a signed exponent (`1.0e+16`), which YAML 1.1's float pattern needs.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    // Debug is the shortest text that parses back to the same f64.
    let text = format!("{f:?}");
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (text.as_str(), None),
    };
    let mut out = mantissa.to_string();
    if !out.contains('.') {
        out.push_str(".0");
    }
    if let Some(exponent) = exponent {
        out.push('e');
        if !exponent.starts_with(['-', '+']) {
            out.push('+');
        }
        out.push_str(exponent);
    }
    out
}

/// A tag in shorthand form `!name`; characters outside a safe set are
/// percent-encoded, which YAML readers decode back.
fn tag_text(tag: &Tag) -> String {
    let full = tag.to_string();
    let name = full.strip_prefix('!').unwrap_or(&full);
    let mut out = String::from("!");
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Characters YAML allows in a document at all.
fn is_yaml_printable(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | ' '..='~' | '\u{85}'
        | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Characters that may appear as themselves in a plain scalar or a literal
/// block line: printable, and neither a tab nor anything YAML 1.1 treats as
/// a line break (NEL, LS, PS) nor a byte order mark.
fn is_plain_text_char(c: char) -> bool {
    is_yaml_printable(c)
        && !matches!(
            c,
            '\t' | '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}'
        )
}

/// True when `s` can be written without quotes and every YAML 1.1 and YAML
/// 1.2 core reader gives back exactly this string.
fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let (Some(first), Some(last)) = (chars.next(), s.chars().next_back()) else {
        return false; // empty reads as null
    };
    // `-`, `?` and `:` start a plain scalar when a non-space follows (in
    // block context, the only one written here): `-Xmx512m`, `::1`.
    let may_start = if matches!(first, '-' | '?' | ':') {
        chars.next().is_some_and(|c| !c.is_whitespace())
    } else {
        !INDICATORS.contains(&first)
    };
    s.chars().all(is_plain_text_char)
        && may_start
        && !first.is_whitespace()
        && !last.is_whitespace()
        && last != ':'
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.starts_with("...")
        && !s.starts_with("---")
        && !resolves_to_non_string(s)
}

// Patterns over the string with underscores removed (YAML 1.1 and go-yaml
// allow `_` between digits). They follow the YAML 1.1 type definitions, YAML
// 1.2's core schema and go-yaml v2 (Helm's reader); where those differ they
// take the widest: quoting a string needlessly is harmless, misreading it
// is not.

/// Integers: decimal (leading zeros included, YAML 1.1 octal), `0x`, `0o`,
/// `0b` in either case as Go reads them, and go-yaml's own `0b-1`.
static INT_LIKE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^([-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)|-?0b[-+]?[01]+)$").ok()
});
/// Floats of YAML 1.2 core and go-yaml: `1.5`, `.5`, `5.`, `1e3`, `1.0e+3`
/// (and `1e400`, which a YAML 1.2 reader takes for infinity).
static FLOAT_LIKE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").ok());
/// YAML 1.1's float pattern `[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?`,
/// which also matches `1.2.3` and `.`.
static FLOAT_11: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[-+]?[0-9]*\.[0-9.]*([eE][-+]?[0-9]+)?$").ok());
/// YAML 1.1 base-60 integers and floats: `1:30`, `190:20:30.15`.
static SEXAGESIMAL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[-+]?[0-9]+(:[0-9]*)+(\.[0-9]*)?$").ok());
/// YAML 1.1 timestamps and what go-yaml tries as one: a date, maybe a time.
static TIMESTAMP_LIKE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt \t].*)?$").ok());

/// Every pattern above.
static PATTERNS: [&LazyLock<Option<Regex>>; 5] = [
    &INT_LIKE,
    &FLOAT_LIKE,
    &FLOAT_11,
    &SEXAGESIMAL,
    &TIMESTAMP_LIKE,
];

/// Compile the patterns now, so that writing later does not wait for them
/// (render does this while its lookups are in flight).
pub fn warm_up() {
    for pattern in PATTERNS {
        LazyLock::force(pattern);
    }
}

/// Match, treating a pattern that failed to compile as matching everything
/// (so the string gets quoted: safe, never wrong).
fn pattern_matches(pattern: &LazyLock<Option<Regex>>, s: &str) -> bool {
    pattern.as_ref().is_none_or(|re| re.is_match(s))
}

/// True when a YAML 1.1 or YAML 1.2 core reader (or go-yaml) could resolve
/// the plain scalar `s` to something other than a string. The words are
/// the specs' exact spellings: `yEs` and `inf` are text to every reader.
fn resolves_to_non_string(s: &str) -> bool {
    if matches!(
        s,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO"
            | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
            | "on" | "On" | "ON" | "off" | "Off" | "OFF"
            | "null" | "Null" | "NULL" | "~"
            | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
            | ".nan" | ".NaN" | ".NAN"
            // YAML 1.1's merge and value keys.
            | "<<" | "="
    ) {
        return true;
    }
    if pattern_matches(&TIMESTAMP_LIKE, s) {
        return true;
    }
    if !s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.')) {
        return false;
    }
    let stripped: String = s.chars().filter(|c| *c != '_').collect();
    pattern_matches(&INT_LIKE, &stripped)
        || pattern_matches(&FLOAT_LIKE, &stripped)
        || pattern_matches(&FLOAT_11, &stripped)
        || pattern_matches(&SEXAGESIMAL, &stripped)
}

/// `s` in double quotes, escaping what cannot appear as itself.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if is_plain_text_char(c) => out.push(c),
            c => {
                let code = u32::from(c);
                let escape = if code <= 0xFF {
                    format!("\\x{code:02X}")
                } else if code <= 0xFFFF {
                    format!("\\u{code:04X}")
                } else {
                    format!("\\U{code:08X}")
                };
                out.push_str(&escape);
            }
        }
    }
    out.push('"');
    out
}

/// A literal block scalar (`|`) for a multi-line string, header through the
/// final newline, with content lines at `column`; `None` when a literal
/// block cannot carry the string exactly (or cleanly), so it gets
/// double-quoted instead.
fn literal_block(s: &str, column: usize, last_in_document: bool) -> Option<String> {
    let body = s.trim_end_matches('\n');
    let trailing_newlines = s.len() - body.len();
    if body.is_empty() {
        return None; // only line breaks: no content line to hang them on
    }
    if trailing_newlines >= 2 && last_in_document {
        // Keep-chomped blank lines at the end would leave the file ending
        // in several newlines.
        return None;
    }
    if !body
        .chars()
        .all(|c| c == '\n' || c == '\t' || is_plain_text_char(c))
    {
        return None; // control characters, CR, NEL, LS, PS, BOM
    }
    if body.split('\n').any(|line| line.ends_with([' ', '\t'])) {
        // Invisible trailing whitespace is lost by editors and refused in
        // block style by libyaml's own emitter; quote it instead.
        return None;
    }
    // Readers guess the indentation from the first non-empty line; tell
    // them when that line itself starts with whitespace.
    let needs_indicator = body
        .split('\n')
        .find(|line| !line.is_empty())
        .is_some_and(|line| line.starts_with([' ', '\t']));
    let mut out = String::from("|");
    if needs_indicator {
        out.push_str(&INDENT.to_string());
    }
    out.push_str(match trailing_newlines {
        0 => "-",
        1 => "",
        _ => "+",
    });
    out.push('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            push_spaces(&mut out, column);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..trailing_newlines {
        out.push('\n');
    }
    Some(out)
}

/// `the top level`, or e.g. `config.BinderHub["a b"][2]`.
fn render_path(path: &[Segment<'_>]) -> String {
    if path.is_empty() {
        return "the top level".to_string();
    }
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(Value::String(s))
                if !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) =>
            {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(s);
            }
            Segment::Key(key) => {
                let text = match key {
                    Value::String(s) => double_quoted(s),
                    Value::Mapping(_) => "<mapping>".to_string(),
                    Value::Sequence(_) => "<sequence>".to_string(),
                    Value::Tagged(tagged) => format!(
                        "{} {}",
                        tag_text(&tagged.tag),
                        inline_scalar(&tagged.value).unwrap_or_else(|| "<collection>".into())
                    ),
                    other => inline_scalar(other).unwrap_or_default(),
                };
                out.push('[');
                out.push_str(&text);
                out.push(']');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.to_string())
    }

    fn map(pairs: Vec<(Value, Value)>) -> Value {
        let mut m = Mapping::new();
        for (k, v) in pairs {
            m.insert(k, v);
        }
        Value::Mapping(m)
    }

    fn tagged(tag: &str, value: Value) -> Value {
        Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
            tag: Tag::new(tag),
            value,
        }))
    }

    /// Write, check the newline rule, read back with serde_yaml (YAML 1.2)
    /// and require the same value.
    fn roundtrip(value: &Value) -> String {
        let out = to_string(value).unwrap();
        assert!(
            out.ends_with('\n') && !out.ends_with("\n\n"),
            "output must end with exactly one newline: {out:?}"
        );
        let back: Value = serde_yaml::from_str(&out)
            .unwrap_or_else(|e| panic!("cannot read back {out:?} written for {value:?}: {e}"));
        assert_eq!(&back, value, "round trip changed the value; output:\n{out}");
        out
    }

    /// The text written for `text` as the value of a one-key mapping.
    fn value_text(text: &str) -> String {
        let out = to_string(&map(vec![(s("k"), s(text))])).unwrap();
        out.strip_prefix("k: ").unwrap().to_string()
    }

    fn is_plain(written: &str) -> bool {
        !written.starts_with('"') && !written.starts_with('|')
    }

    /// An independent YAML 1.1 reader's view of a plain scalar, written
    /// from the yaml.org type pages (bool, null, int, float, timestamp,
    /// merge, value) plus go-yaml v2's resolver (Helm's reader): does it
    /// become anything but a string?
    fn yaml11_non_string(plain: &str) -> bool {
        let spec = [
            r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
            r"^(~|null|Null|NULL|)$",
            r"^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
            r"^([-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$",
            r"^([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](\.[0-9]*)?([ \t]*(Z|[-+][0-9][0-9]?(:[0-9][0-9])?))?)$",
            r"^(<<|=)$",
        ];
        if spec.iter().any(|p| Regex::new(p).unwrap().is_match(plain)) {
            return true;
        }
        // go-yaml v2: strings starting with a digit or sign are tried as
        // Go integers (base prefixes, underscores dropped) and floats.
        let first = plain.chars().next();
        if matches!(first, Some('0'..='9' | '-' | '+')) {
            let digits: String = plain.chars().filter(|c| *c != '_').collect();
            let unsigned = digits.trim_start_matches(['-', '+']);
            let sign_ok = digits.len() - unsigned.len() <= 1;
            let go_int =
                Regex::new(r"^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
                    .unwrap();
            let go_float =
                Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").unwrap();
            if sign_ok && go_int.is_match(unsigned) || go_float.is_match(&digits) {
                return true;
            }
            // go-yaml's timestamp formats (time.Parse layouts).
            if Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2}))|( [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?))?$")
                .unwrap()
                .is_match(plain)
            {
                return true;
            }
        }
        if first == Some('.')
            && Regex::new(r"^\.[0-9]+([eE][-+]?[0-9]+)?$")
                .unwrap()
                .is_match(plain)
        {
            return true;
        }
        false
    }

    /// Strings every YAML 1.1 reader resolves to non-strings when plain.
    #[rustfmt::skip]
    const LOOKALIKES_11: &[&str] = &[
        // bool
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        // null
        "~", "null", "Null", "NULL", "",
        // int: binary, octal, decimal, hex, sexagesimal, underscores
        "0b1010", "-0b1_0", "+0b1", "010", "0777", "-017", "0", "1", "-1", "+1", "12_000",
        "1_000_000", "0x1F", "0x_1f", "-0xA", "0X1F", "0o17", "0O17", "0B11", "1:30", "-1:30",
        "190:20:30", "12:30:45", "99999999999999999999999",
        // float
        "1.0", "-1.5", "+1.5", ".5", "-.5", "5.", "1.", "1e3", "1E3", "1e+3", "1.0e+3",
        "1.0e-3", "6.8523015e+5", "685.230_15e+03", "685_230.15", "190:20:30.15", ".inf",
        "-.inf", "+.inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", "1.2.3", ".", "192.0.2.1",
        // timestamp
        "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z",
        "2002-12-14", "2024-01-01",
        // merge, value
        "<<", "=",
    ];

    /// Not resolved by every reader, but by one (go-yaml, a YAML 1.2 core
    /// reader), or close enough to quote anyway.
    #[rustfmt::skip]
    const QUOTED_FOR_SAFETY: &[&str] = &[
        "1e400", "1_", "2024-1-1", "2024-01-01 x", "...", "...x", "1:", "1:2:3:4", "0b-1",
        "._5", "---", "---x", "- a", "-", "?", ":", ": a",
    ];

    /// Text to every YAML reader, though it looks like something else:
    /// written plain.
    #[rustfmt::skip]
    const READABLE_LOOKALIKES: &[&str] = &[
        "yEs", "oN", "tRUE", "nULL", ".iNf", "inf", "-inf", "nan", "NaN", "Infinity",
        "-Infinity", "+.nan", "0x", "0b", "0o", "_1", "0x1p-2", "2024-foo",
        "2024-01-01-release", "-Xmx512m", "::1", ":30", "?x", "-x", "--x", "1e5x",
    ];

    /// Strings YAML 1.2 core (serde_yaml) reads as non-strings when plain.
    #[rustfmt::skip]
    const LOOKALIKES_12: &[&str] = &[
        "~", "null", "Null", "NULL", "true", "True", "FALSE", "0", "-1", "+1", "0o17", "0x1F",
        "0b101", "1e3", "1E3", ".5", "5.", "-.5", "+1.5", ".inf", "-.inf", ".nan", "1.0e+16",
    ];

    /// Everything starting with, containing or ending with a character that
    /// matters to YAML syntax.
    #[rustfmt::skip]
    const SYNTAX_TRICKY: &[&str] = &[
        "-", "-a", "- a", "--", "---", "--- a", "?", "?a", "? a", ":", ":a", "a:", "a: b",
        "a:b", "a :b", ",", ",a", "a,b", "[", "[a]", "]", "{", "{a}", "}", "#", "#a", "a #b",
        "a#b", "&", "&a", "*", "*a", "!", "!a", "!!str", "|", "|a", ">", ">a", "'", "'a'",
        "a'b", "\"", "\"a\"", "a\"b", "%", "%YAML", "@", "@a", "`", "`a`", "\\", "a\\b",
        "\\n", "a\\\"b", " ", "  ", " a", "a ", " a ", "\t", "\ta", "a\t", "a\tb", "\u{a0}",
        "\u{a0}a", "a\u{3000}", "a : b", "a  #", "http://x.example:8080/a?b=c#d", "<", "<a>",
        "=a", "a=", "~a", "a~", "%20", "a%", "...a", "a...", "a.", ".a", "+", "+a", "0a",
        "1a", "1.0a", "0x1G", "e3", "E", ".e3", "1_a", "a_1",
    ];

    #[rustfmt::skip]
    const UNICODE_TRICKY: &[&str] = &[
        "café", "日本語", "😀", "a😀b", "Ω≈ç√", "\u{0}", "a\u{0}b", "\u{7}", "\u{1b}[0m",
        "\u{7f}", "\u{80}", "\u{85}", "a\u{85}b", "\u{9f}", "\u{2028}", "a\u{2029}b",
        "\u{feff}", "\u{feff}a", "\u{fffe}", "\u{ffff}", "\u{fffd}", "\u{e000}", "\u{10ffff}",
        "\u{1f600}\u{200d}", "\r", "a\rb", "\r\n", "a\r\nb\r\n",
    ];

    #[rustfmt::skip]
    const MULTILINE: &[&str] = &[
        "a\nb", "a\nb\n", "a\nb\n\n", "a\nb\n\n\n", "\na", "\n\na\n", "\n", "\n\n", "a\n",
        "a\n\nb", " a\nb", "  a\n b\n", "a\n b", "\ta\nb", "a\n\tb\n", "\n a", "\n\ta\n",
        "a \nb", "a\nb ", "a\n \nb", "a\n\t\nb", "   \na", "a\n   ", "a\n\n", "#a\n#b\n",
        "- a\n- b\n", "a: b\nc: d", "---\n...\n", "a\n---\nb", "\"q\"\n'q'\n", "a\\b\nc",
        "def f():\n    return 1\n", "line1\nline2\r\n", "a\n\u{85}b", "a\u{2028}\nb",
        "a\n\u{0}", "😀\n日本\n", "x\n\n\n\ny", "  \n  ", " \n", "\n ", "a\n\n \n",
    ];

    /// All ASCII case variants of `word`.
    fn case_variants(word: &str) -> Vec<String> {
        let chars: Vec<char> = word.chars().collect();
        let mut out = Vec::new();
        for mask in 0u32..(1 << chars.len()) {
            let v: String = chars
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if mask & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            out.push(v);
        }
        out
    }

    fn all_tricky() -> Vec<String> {
        let mut all: Vec<String> = LOOKALIKES_11
            .iter()
            .chain(QUOTED_FOR_SAFETY)
            .chain(READABLE_LOOKALIKES)
            .chain(LOOKALIKES_12)
            .chain(SYNTAX_TRICKY)
            .chain(UNICODE_TRICKY)
            .chain(MULTILINE)
            .map(|t| t.to_string())
            .collect();
        for word in [
            "y", "n", "yes", "no", "on", "off", "true", "false", "null", ".inf", ".nan",
        ] {
            all.extend(case_variants(word));
        }
        all
    }

    #[test]
    fn patterns_compile() {
        for pattern in PATTERNS {
            assert!(pattern.is_some());
        }
    }

    #[test]
    fn lookalike_lists_are_real_lookalikes() {
        for text in LOOKALIKES_11 {
            assert!(
                yaml11_non_string(text),
                "{text:?} is not a YAML 1.1 non-string"
            );
        }
        for text in LOOKALIKES_12 {
            let read: Value = serde_yaml::from_str(text).unwrap();
            assert!(!read.is_string(), "{text:?} reads as a string in YAML 1.2");
        }
    }

    #[test]
    fn readable_lookalikes_stay_plain() {
        let mut all: Vec<String> = READABLE_LOOKALIKES.iter().map(|t| t.to_string()).collect();
        for word in [
            "y", "n", "yes", "no", "on", "off", "true", "false", "null", ".inf", ".nan",
        ] {
            all.extend(case_variants(word).into_iter().filter(|v| {
                let serde: Value = serde_yaml::from_str(v).unwrap();
                !yaml11_non_string(v) && serde.is_string()
            }));
        }
        assert!(all.len() > 100);
        for text in &all {
            assert_eq!(
                value_text(text),
                format!("{text}\n"),
                "{text:?} quoted needlessly"
            );
            let out = to_string(&map(vec![(s(text), s("v"))])).unwrap();
            assert_eq!(
                out,
                format!("{text}: v\n"),
                "key {text:?} quoted needlessly"
            );
            roundtrip(&s(text));
        }
    }

    #[test]
    fn lookalikes_are_quoted() {
        let mut all: Vec<String> = LOOKALIKES_11
            .iter()
            .chain(LOOKALIKES_12)
            .chain(QUOTED_FOR_SAFETY)
            .map(|t| t.to_string())
            .collect();
        for word in [
            "y", "n", "yes", "no", "on", "off", "true", "false", "null", ".inf", ".nan",
        ] {
            all.extend(case_variants(word).into_iter().filter(|v| {
                let serde: Value = serde_yaml::from_str(v).unwrap();
                yaml11_non_string(v) || !serde.is_string()
            }));
        }
        for text in &all {
            let written = value_text(text);
            assert!(
                written.starts_with('"'),
                "{text:?} written unquoted: {written:?}"
            );
            // As a key too.
            let out = to_string(&map(vec![(s(text), s("v"))])).unwrap();
            assert!(
                out.starts_with('"'),
                "key {text:?} written unquoted: {out:?}"
            );
        }
    }

    #[test]
    fn tricky_strings_round_trip_everywhere() {
        for text in all_tricky() {
            let v = s(&text);
            roundtrip(&v);
            roundtrip(&map(vec![(s("k"), v.clone()), (s("next"), s("x"))]));
            roundtrip(&map(vec![(s("k"), v.clone())]));
            roundtrip(&map(vec![(v.clone(), s("v")), (s("b"), v.clone())]));
            roundtrip(&Value::Sequence(vec![
                v.clone(),
                map(vec![(s("a"), v.clone()), (v.clone(), v.clone())]),
                Value::Sequence(vec![v.clone(), Value::Sequence(vec![v.clone()])]),
                v.clone(),
            ]));
            roundtrip(&map(vec![(
                s("outer"),
                map(vec![(
                    s("list"),
                    Value::Sequence(vec![map(vec![(s("x"), v.clone())])]),
                )]),
            )]));
        }
    }

    #[test]
    fn plain_output_is_a_string_under_yaml_1_1() {
        for text in all_tricky() {
            let written = value_text(&text);
            if is_plain(&written) {
                let plain = written.trim_end_matches('\n');
                assert_eq!(plain, text, "plain output must be the string itself");
                assert!(
                    !yaml11_non_string(plain),
                    "{plain:?} is not a string in YAML 1.1"
                );
            }
        }
    }

    #[test]
    fn readable_strings_stay_plain() {
        for text in [
            "hello",
            "jupyter-",
            "binder-",
            "https://x.example/a",
            "1.0.0-0.dev.git.3506.hba24eb2a",
            r"^(?!(A|B)\/).*$",
            "a b c",
            "a:b",
            "a#b",
            "key=value",
            r"C:\path",
            "café",
            "日本語",
            "😀 emoji",
            "v1.2.3",
            "1.0.0-beta",
            "192.0.2.0/24",
            "2001:db8::/32",
            "2G",
            "00-binder",
            "registry.example/binder-",
            "<b>hi</b>",
            "a'b\"c",
            "~user",
            "yesterday",
            "nope",
            "online",
            "nullable",
            "truely",
            "0.5x",
            "a-1",
            "100%",
            "x.example",
            ".hidden",
        ] {
            let written = value_text(text);
            assert_eq!(written, format!("{text}\n"), "{text:?} should stay plain");
            roundtrip(&s(text));
        }
    }

    #[test]
    fn double_quoted_escapes() {
        assert_eq!(value_text(""), "\"\"\n");
        assert_eq!(value_text("on"), "\"on\"\n");
        assert_eq!(value_text("a: b"), "\"a: b\"\n");
        assert_eq!(value_text("\\\"\t\r\0"), "\"\\\\\\\"\\t\\r\\0\"\n");
        assert_eq!(
            value_text("\u{7}\u{1b}\u{7f}\u{85}"),
            "\"\\x07\\x1B\\x7F\\x85\"\n"
        );
        assert_eq!(
            value_text("\u{2028}\u{2029}\u{feff}\u{ffff}"),
            "\"\\u2028\\u2029\\uFEFF\\uFFFF\"\n"
        );
        assert_eq!(value_text(" x é😀"), "\" x é😀\"\n");
        // Multi-line strings a literal block cannot carry.
        assert_eq!(value_text("a\r\nb"), "\"a\\r\\nb\"\n");
        assert_eq!(value_text("a \nb"), "\"a \\nb\"\n");
        assert_eq!(value_text("\n\n"), "\"\\n\\n\"\n");
    }

    #[test]
    fn literal_blocks() {
        assert_eq!(value_text("a\nb"), "|-\n  a\n  b\n");
        assert_eq!(value_text("a\nb\n"), "|\n  a\n  b\n");
        assert_eq!(value_text(" a\nb"), "|2-\n   a\n  b\n");
        assert_eq!(value_text("\n\n  a\n"), "|2\n\n\n    a\n");
        assert_eq!(value_text("\ta\n"), "|2\n  \ta\n");
        assert_eq!(value_text("a\n\nb\n"), "|\n  a\n\n  b\n");
        // Keep chomping as the very last node would end the file in
        // several newlines.
        let last = to_string(&map(vec![(s("k"), s("a\n\n"))])).unwrap();
        assert_eq!(last, "k: \"a\\n\\n\"\n");
        let not_last = map(vec![(s("k"), s("a\nb\n\n")), (s("z"), s("1x"))]);
        assert_eq!(roundtrip(&not_last), "k: |+\n  a\n  b\n\nz: 1x\n");
        let in_list = Value::Sequence(vec![s("a\n\n\n"), s("a\n\n\n")]);
        assert_eq!(roundtrip(&in_list), "- |+\n  a\n\n\n- \"a\\n\\n\\n\"\n");
        // Deeper: content two columns right of the enclosing collection.
        let nested = map(vec![(
            s("a"),
            Value::Sequence(vec![s(" x\ny"), map(vec![(s("b"), s(" x\n"))])]),
        )]);
        let out = roundtrip(&nested);
        assert_eq!(out, "a:\n  - |2-\n     x\n    y\n  - b: |2\n       x\n");
        // Top level.
        assert_eq!(roundtrip(&s(" a\nb\n")), "|2\n   a\n  b\n");
    }

    #[test]
    fn layout_of_nested_structures() {
        let value = map(vec![
            (s("z"), Value::Sequence(vec![s("a"), s("b")])),
            (
                s("items"),
                Value::Sequence(vec![
                    map(vec![(s("name"), s("x")), (s("port"), Value::from(1))]),
                    Value::Sequence(vec![s("a"), Value::Sequence(vec![s("b"), s("c")])]),
                    Value::Sequence(vec![]),
                    Value::Mapping(Mapping::new()),
                    map(vec![(s("inner"), map(vec![(s("deep"), Value::Null)]))]),
                ]),
            ),
            (s("empty_map"), Value::Mapping(Mapping::new())),
            (s("empty_list"), Value::Sequence(vec![])),
            (Value::Bool(true), Value::Bool(false)),
            (Value::from(7), Value::from(-3)),
            (Value::Null, s("null key")),
            (Value::from(1.5), s("float key")),
        ]);
        let expected = "\
z:
  - a
  - b
items:
  - name: x
    port: 1
  - - a
    - - b
      - c
  - []
  - {}
  - inner:
      deep: null
empty_map: {}
empty_list: []
true: false
7: -3
null: null key
1.5: float key
";
        assert_eq!(roundtrip(&value), expected);
        assert_eq!(roundtrip(&Value::Mapping(Mapping::new())), "{}\n");
        assert_eq!(roundtrip(&Value::Sequence(vec![])), "[]\n");
        assert_eq!(roundtrip(&Value::Null), "null\n");
        assert_eq!(roundtrip(&s("x")), "x\n");
        assert_eq!(
            roundtrip(&Value::Sequence(vec![s("a"), map(vec![(s("b"), s("c"))])])),
            "- a\n- b: c\n"
        );
    }

    #[test]
    fn key_order_is_kept() {
        let keys = ["zeta", "alpha", "mid", "10", "2", "Beta"];
        let value = map(keys.iter().map(|k| (s(k), Value::from(1))).collect());
        let out = roundtrip(&value);
        let written: Vec<&str> = out.lines().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(written, ["zeta", "alpha", "mid", "\"10\"", "\"2\"", "Beta"]);
    }

    #[test]
    fn floats_stay_floats() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (1e16, "1.0e+16"),
            (1.5e-7, "1.5e-7"),
            (123456.789, "123456.789"),
            (f64::INFINITY, ".inf"),
            (f64::NEG_INFINITY, "-.inf"),
            (f64::NAN, ".nan"),
        ];
        let float_11 =
            Regex::new(r"^[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?$|^[-+]?\.inf$|^\.nan$")
                .unwrap();
        for (f, text) in cases {
            let out = roundtrip(&Value::from(*f));
            assert_eq!(out, format!("{text}\n"));
        }
        for f in [
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            1e300,
            -2.5e-300,
            1e15,
            1e17,
            0.3,
            2.0f64.sqrt(),
        ] {
            let out = roundtrip(&Value::from(f));
            let text = out.trim_end();
            assert!(float_11.is_match(text), "{text} is not a YAML 1.1 float");
            assert_eq!(text.parse::<f64>().unwrap(), f);
        }
        assert_eq!(roundtrip(&Value::from(u64::MAX)), format!("{}\n", u64::MAX));
        assert_eq!(roundtrip(&Value::from(i64::MIN)), format!("{}\n", i64::MIN));
    }

    #[test]
    fn tags_are_written() {
        let value = map(vec![
            (s("a"), tagged("Secret", s("on"))),
            (s("b"), tagged("!Ref", map(vec![(s("x"), Value::from(1))]))),
            (s("c"), tagged("List", Value::Sequence(vec![s("w")]))),
            (s("d"), tagged("Empty", Value::Mapping(Mapping::new()))),
            (s("e"), tagged("Text", s("l1\nl2\n"))),
            (s("f"), tagged("odd tag,[x]!", s("v"))),
            (tagged("K", s("key")), s("v")),
            (
                s("g"),
                Value::Sequence(vec![
                    tagged("M", map(vec![(s("k"), s("v"))])),
                    tagged("N", Value::Null),
                ]),
            ),
        ]);
        let out = roundtrip(&value);
        assert_eq!(
            out,
            "a: !Secret \"on\"\nb: !Ref\n  x: 1\nc: !List\n  - w\nd: !Empty {}\n\
             e: !Text |\n  l1\n  l2\nf: !odd%20tag%2C%5Bx%5D%21 v\n!K key: v\n\
             g:\n  - !M\n    k: v\n  - !N null\n"
        );
        roundtrip(&tagged("Top", map(vec![(s("a"), s("b"))])));
        roundtrip(&tagged("Top", Value::Sequence(vec![s("a")])));
        roundtrip(&tagged("Top", s("x")));
    }

    #[test]
    fn long_keys_use_explicit_form() {
        let long = "k".repeat(2000);
        let long_quoted = format!("on{}", "x".repeat(1500));
        let value = map(vec![
            (s(&long), s("v")),
            (s(&long_quoted), map(vec![(s("a"), s("b"))])),
            (
                s("list"),
                Value::Sequence(vec![map(vec![(s(&long), s("w")), (s("z"), s("\nq"))])]),
            ),
        ]);
        let out = roundtrip(&value);
        assert!(out.starts_with(&format!("? {long}\n: v\n")));
        let short = "k".repeat(900);
        let out = roundtrip(&map(vec![(s(&short), s("v"))]));
        assert_eq!(out, format!("{short}: v\n"));
    }

    #[test]
    fn unwritable_values_name_their_path() {
        let bad_key = map(vec![(
            s("config"),
            map(vec![(
                s("a b"),
                Value::Sequence(vec![
                    s("ok"),
                    map(vec![(map(vec![(s("x"), s("y"))]), s("v"))]),
                ]),
            )]),
        )]);
        let err = to_string(&bad_key).unwrap_err();
        assert_eq!(err.path(), "config[\"a b\"][1][<mapping>]");
        assert!(err.reason().contains("a mapping is used as a mapping key"));
        assert!(err.to_string().contains("config[\"a b\"][1]"));

        let seq_key = map(vec![(Value::Sequence(vec![]), s("v"))]);
        assert!(to_string(&seq_key)
            .unwrap_err()
            .reason()
            .contains("a sequence"));

        let double_tag = map(vec![(s("t"), tagged("A", tagged("B", s("x"))))]);
        let err = to_string(&double_tag).unwrap_err();
        assert_eq!(err.path(), "t");
        assert!(err.reason().contains("two YAML tags"));

        let mut deep = s("leaf");
        for _ in 0..(MAX_DEPTH + 5) {
            deep = Value::Sequence(vec![deep]);
        }
        let err = to_string(&deep).unwrap_err();
        assert!(err.reason().contains("nested more than"));
        assert!(err.path().starts_with("[0][0]"));
        // Value's Drop recurses too; unwrap it iteratively.
        while let Value::Sequence(mut items) = deep {
            deep = items.pop().unwrap();
        }
    }

    #[test]
    fn binderhub_values_golden() {
        let expected = r#"config:
  BinderHub:
    use_registry: true
    image_prefix: registry.example/binder-
    hub_url: https://hub.binder.example
    auth_enabled: false
    banner_message: "<b>Welcome</b> to Binder: have fun"
    build_node_selector: {}
  GitHubRepoProvider:
    banned_specs:
      - ^(?!(jupyterhub|binder-examples)\/).*$
    spec_config:
      - pattern: ^binder-examples/.*
        config:
          quota: 100
jupyterhub:
  singleuser:
    networkPolicy:
      egress:
        - to:
            - ipBlock:
                cidr: 192.0.2.0/24
            - ipBlock:
                cidr: 2001:db8::/32
          ports:
            - port: 443
              protocol: TCP
    cmd: jupyterhub-singleuser
    memory:
      limit: 2G
      guarantee: 1G
  hub:
    extraConfig:
      00-binder: |
        c.KubeSpawner.http_timeout = 120
        c.Spawner.cmd = ["jupyter-labhub"]
    config:
      BinderSpawner:
        cors_allow_origin: "*"
  cull:
    every: 660
    enabled: "on"
    users: "off"
  image:
    tag: "1.2.0"
    version: 1.0.0-0.dev.git.3506.hba24eb2a
  ratio: 0.5
  empty: []
  nothing: null
"#;
        let value: Value = serde_yaml::from_str(expected).unwrap();
        assert_eq!(roundtrip(&value), expected);
    }

    #[test]
    fn output_is_deterministic() {
        let value: Value = serde_yaml::from_str(
            "b: [1, 2.5, {x: y}]\na: {z: 'on', y: \"2024-01-01\", w: \"m\\nn\\n\"}\n",
        )
        .unwrap();
        let first = roundtrip(&value);
        for _ in 0..5 {
            assert_eq!(to_string(&value).unwrap(), first);
            assert_eq!(to_string(&value.clone()).unwrap(), first);
        }
    }

    /// Deterministic pseudo-random strings from a fixed-seed LCG, mixing the
    /// characters and fragments that matter to YAML.
    #[test]
    fn generated_strings_round_trip() {
        #[rustfmt::skip]
        const PIECES: &[&str] = &[
            "a", "Z", "x", "e", "E", "o", "b", "y", "n", "0", "1", "7", "9", " ", "  ", "\t",
            "\n", "\n\n", "\r", ":", ": ", "#", " #", "-", "- ", "?", "!", "&", "*", "%", "@",
            "`", "'", "\"", "\\", ",", "[", "]", "{", "}", "|", ">", ".", "_", "+", "~", "=",
            "<<", "yes", "No", "ON", "off", "null", "true", ".inf", ".NaN", "0x", "0o", "0b",
            "1:30", "2024-01-01", "---", "...", "é", "日本", "😀", "\u{0}", "\u{7}", "\u{1b}",
            "\u{7f}", "\u{85}", "\u{9f}", "\u{a0}", "\u{2028}", "\u{feff}", "\u{fffe}",
        ];
        let mut state: u64 = 0x5EED_1234_ABCD_0042;
        let mut next = move |bound: usize| -> usize {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % bound
        };
        let mut plain_seen = 0;
        let mut literal_seen = 0;
        for _ in 0..4000 {
            let len = next(7);
            let text: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
            let v = s(&text);
            roundtrip(&v);
            roundtrip(&map(vec![(s("k"), v.clone()), (v.clone(), s("after"))]));
            roundtrip(&Value::Sequence(vec![
                v.clone(),
                map(vec![(s("a"), v.clone())]),
                Value::Sequence(vec![v.clone()]),
            ]));
            let written = value_text(&text);
            if written.starts_with('|') {
                literal_seen += 1;
            } else if is_plain(&written) {
                plain_seen += 1;
                let plain = written.trim_end_matches('\n');
                assert!(
                    !yaml11_non_string(plain),
                    "{plain:?} is not a string in YAML 1.1"
                );
            }
        }
        // The generator must actually reach the plain and literal paths.
        assert!(plain_seen > 100, "only {plain_seen} plain");
        assert!(literal_seen > 20, "only {literal_seen} literal");
    }
}
