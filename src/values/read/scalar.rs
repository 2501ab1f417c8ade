//! Helm's scalar rules. Helm reads values with sigs.k8s.io/yaml, which
//! decodes with go-yaml v2 (YAML 1.1 style resolution) and then converts the
//! result to JSON. These functions follow go-yaml v2's `resolve` and the
//! JSON conversion's key formatting; the tests in tests/values_helm.rs check
//! them against real Helm 3 and Helm 4.

use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::{Number, Value};

/// What a scalar resolves to, before the JSON conversion.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// Only integers above `i64::MAX` (go-yaml's uint64).
    Uint(u64),
    Float(f64),
    /// YAML 1.1 timestamps: go-yaml passes their text on unchanged.
    Timestamp,
    /// The plain `<<` (a merge key when it is a key).
    Merge,
    Str,
}

impl Resolved {
    /// The value Helm holds, `text` being the scalar's text.
    pub fn into_value(self, text: &str) -> Value {
        match self {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Number(Number::from(i)),
            Resolved::Uint(u) => Value::Number(Number::from(u)),
            Resolved::Float(f) => Value::Number(Number::from(f)),
            Resolved::Timestamp | Resolved::Merge | Resolved::Str => Value::String(text.into()),
        }
    }

    /// "a boolean", "an integer", ... for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Resolved::Null => "null",
            Resolved::Bool(_) => "a boolean",
            Resolved::Int(_) | Resolved::Uint(_) => "an integer",
            Resolved::Float(_) => "a number",
            Resolved::Timestamp => "a timestamp",
            Resolved::Merge => "the merge key",
            Resolved::Str => "text",
        }
    }
}

/// go-yaml v2's `yamlStyleFloat`.
static YAML_STYLE_FLOAT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").ok());

/// The shape go-yaml's timestamp formats accept (`2006-1-2`, with an
/// optional time and zone).
static TIMESTAMP: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2}))|( [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?))?$",
    )
    .ok()
});

fn matches(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(s))
}

/// How go-yaml v2 resolves an untagged plain scalar.
pub fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    match text.as_bytes()[0] {
        // Go's ParseFloat as it is, underscores between digits included
        // (`.1_0` is 0.1): go-yaml strips them only on the digit branch.
        b'.' => go_underscored_float(text).map_or(Resolved::Str, Resolved::Float),
        b'0'..=b'9' | b'+' | b'-' => resolve_number(text),
        _ => Resolved::Str,
    }
}

/// The digit-or-sign branch of go-yaml's `resolve`.
fn resolve_number(text: &str) -> Resolved {
    if matches(&TIMESTAMP, text) {
        return Resolved::Timestamp;
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(i) = go_parse_int(&plain) {
        return Resolved::Int(i);
    }
    if let Some(u) = go_parse_uint(&plain) {
        return Resolved::Uint(u);
    }
    if matches(&YAML_STYLE_FLOAT, &plain) {
        if let Some(f) = go_parse_float(&plain) {
            return Resolved::Float(f);
        }
    }
    // go-yaml's own binary forms, kept from before Go read `0b` itself:
    // they take a sign after the prefix too (`0b-1` is -1).
    let binary = if let Some(rest) = plain.strip_prefix("0b") {
        signed_radix(rest, 2)
    } else if let Some(rest) = plain.strip_prefix("-0b") {
        signed_radix(&format!("-{rest}"), 2)
    } else {
        None
    };
    binary.map_or(Resolved::Str, Resolved::Int)
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = go_parse_uint(body)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: no sign; `0x`, `0o`, `0b` or a
/// leading `0` (octal) choose the base.
fn go_parse_uint(s: &str) -> Option<u64> {
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    let (digits, radix) = match lower.as_deref() {
        Some("0x") => (&s[2..], 16),
        Some("0o") => (&s[2..], 8),
        Some("0b") => (&s[2..], 2),
        _ if s.len() > 1 && s.starts_with('0') => (&s[1..], 8),
        _ => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `strconv.ParseInt(s, radix, 64)` with an optional sign.
fn signed_radix(s: &str, radix: u32) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(s.strip_prefix('+').unwrap_or(s), radix).ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms go-yaml hands it:
/// out of range is an error there (and the scalar stays text).
fn go_parse_float(s: &str) -> Option<f64> {
    let valid = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    let f: f64 = s.parse().ok().filter(|_| valid)?;
    f.is_finite().then_some(f)
}

/// Go's `strconv.ParseFloat(s, 64)` on decimal text that may hold
/// underscores: allowed only between digits (Go's `underscoreOK`), then
/// ignored.
fn go_underscored_float(s: &str) -> Option<f64> {
    if !s.contains('_') {
        return go_parse_float(s);
    }
    // `saw`: b'^' at the start, b'0' after a digit, b'_' after an
    // underscore, b'!' after anything else.
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut saw = b'^';
    for b in body.bytes() {
        saw = match b {
            b'0'..=b'9' => b'0',
            b'_' if saw == b'0' => b'_',
            b'_' => return None,
            _ if saw == b'_' => return None,
            _ => b'!',
        };
    }
    if saw == b'_' {
        return None;
    }
    go_parse_float(&s.replace('_', ""))
}

/// How the JSON conversion turns a mapping key into text; `None` for keys
/// it refuses (null, integers above `i64::MAX`, collections).
pub fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if n.is_i64() => n.as_i64().map(|i| i.to_string()),
        Value::Number(n) if n.is_f64() => n.as_f64().map(go_float32_g),
        _ => None,
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)` with go-yaml's names for the
/// infinities and NaN: the float is rounded to 32 bits first.
fn go_float32_g(f: f64) -> String {
    #[allow(clippy::cast_possible_truncation)] // the rounding is Go's
    let single = f as f32;
    if single.is_nan() {
        return ".nan".into();
    }
    if single.is_infinite() {
        return if single > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if single == 0.0 {
        return if single.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // `{:e}` gives the shortest digits that read back as this f32.
    let text = format!("{:e}", single.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let (digits, exponent) = ties_to_even(f64::from(single.abs()), digits, exponent);
    let sign = if single < 0.0 { "-" } else { "" };
    // Shortest 'g' writes an exponent from 1e6 and below 1e-4.
    if !(-4..6).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let esign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}{rest}e{esign}{:02}", exponent.abs());
    }
    let point = exponent + 1; // digits before the decimal point
    if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = point as usize;
    if digits.len() <= point {
        let zeros = "0".repeat(point - digits.len());
        format!("{sign}{digits}{zeros}")
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// Shortest digits `digits` (the first at 10^`exponent`) of `value`: when
/// `value` lies exactly halfway between them and a neighbour of the same
/// length that reads back as the same float too, Go (Ryū) takes the even
/// one where Rust rounds the tie up (474154.625 is `474154.62` to Helm).
fn ties_to_even(value: f64, digits: String, exponent: i32) -> (String, i32) {
    let (Ok(d), Some(last)) = (digits.parse::<u64>(), digits.bytes().last()) else {
        return (digits, exponent);
    };
    if (last - b'0').is_multiple_of(2) {
        return (digits, exponent);
    }
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    // The midpoints with the neighbours, as decimal text: `(10d ± 5)` at
    // 10^(exponent - n).
    let midpoint = |m: u64| format!("{m}e{}", exponent - n);
    let neighbour = if d > 0 && midpoint(10 * d - 5).parse::<f64>() == Ok(value) {
        d - 1
    } else if midpoint(10 * d + 5).parse::<f64>() == Ok(value) {
        d + 1
    } else {
        return (digits, exponent);
    };
    // The neighbour must itself read back as the same 32-bit float.
    #[allow(clippy::cast_possible_truncation)]
    let single = value as f32;
    let text = format!("{neighbour}e{}", exponent - n + 1);
    if text.parse::<f32>() != Ok(single) {
        return (digits, exponent);
    }
    let mut new = neighbour.to_string();
    let mut exponent = exponent + i32::try_from(new.len()).unwrap_or(0) - n;
    while new.len() > 1 && new.ends_with('0') {
        new.pop();
    }
    if new == "0" {
        exponent = 0;
    }
    (new, exponent)
}

/// Decode `!!binary` as Go's `base64.StdEncoding.DecodeString` (which skips
/// line breaks); `None` for invalid data.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b'\n' | b'\r'))
        .collect();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3);
    for (index, chunk) in symbols.chunks(4).enumerate() {
        let last = index + 1 == symbols.len() / 4;
        let padding = chunk.iter().rev().take_while(|b| **b == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut bits: u32 = 0;
        for &b in &chunk[..4 - padding] {
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            bits = bits << 6 | u32::from(v);
        }
        bits <<= 6 * padding as u32;
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_as_go_yaml_v2_does() {
        use Resolved::*;
        let cases: &[(&str, Resolved)] = &[
            ("y", Bool(true)),
            ("NO", Bool(false)),
            ("yEs", Str),
            ("~", Null),
            ("010", Int(8)),
            ("0o10", Int(8)),
            ("0x1F", Int(31)),
            ("-0x1F", Int(-31)),
            ("0b101", Int(5)),
            ("0b-1", Int(-1)),
            ("1_000", Int(1000)),
            ("0_10", Int(8)),
            ("08", Float(8.0)),
            ("+12", Int(12)),
            ("1:30", Str),
            ("1.5", Float(1.5)),
            ("+.5", Float(0.5)),
            ("._5", Str),
            (".1_0", Float(0.1)),
            ("-.1_0", Float(-0.1)),
            (".1__0", Str),
            (".1_", Str),
            (".1_e5", Str),
            (".1_0e1_0", Float(0.1e10)),
            ("1.e5", Float(1e5)),
            ("1e400", Str),
            ("1.2.3", Str),
            ("2024-01-01", Timestamp),
            ("2024-1-1", Timestamp),
            ("2024-foo", Str),
            ("18446744073709551615", Uint(u64::MAX)),
            ("-9223372036854775808", Int(i64::MIN)),
            ("<<", Merge),
            ("0x", Str),
            ("-", Str),
        ];
        for (text, want) in cases {
            assert_eq!(&resolve_plain(text), want, "{text}");
        }
        assert!(matches!(resolve_plain(".nan"), Float(f) if f.is_nan()));
        assert_eq!(
            resolve_plain("12345678901234567890123"),
            Float(1.2345678901234568e22)
        );
    }

    #[test]
    fn float_keys_are_formatted_as_float32() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e3, "1000"),
            (123456789.0, "1.2345679e+08"),
            (1e30, "1e+30"),
            (0.30000000000000004, "0.3"),
            (-0.0, "-0"),
            (1.0, "1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (f64::INFINITY, ".inf"),
            // Exact ties between two shortest candidates: to even, as Go.
            (474154.625, "474154.62"),
            (-474154.625, "-474154.62"),
            (474154.875, "474154.88"),
            (474155.375, "474155.38"),
            (474155.125, "474155.12"),
            (524288.75, "524288.75"),
            (0.000123456789, "0.00012345679"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float32_g(*f), *want, "{f}");
        }
    }

    #[test]
    fn base64_as_go_decodes_it() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\nbG8h").unwrap(), b"hello!");
        assert_eq!(decode_base64("/w==").unwrap(), [0xFF]);
        assert!(decode_base64("aGVsbG8").is_none());
        assert!(decode_base64("a=bc").is_none());
    }
}
