//! Assembling the egress allow-list from its sources, and the record of
//! which source gave which range. Pure.
//!
//! The record is written as comments after the rendered values, so that an
//! operator can see why a range is allowed and `render --check` can say
//! which source changed.

use std::collections::{BTreeMap, BTreeSet};

use crate::egress::cidr::{self, IpNet};

/// One source's contribution, before merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `host NAME`, `GitHub meta KEY`, `Fastly KEY`, `cidr_whitelist`.
    pub label: String,
    pub nets: Vec<IpNet>,
    /// Whether the operator wrote these ranges themselves (no warning for
    /// private ranges there: reaching an internal service is the point).
    pub explicit: bool,
}

/// The merged allow-list and what is worth a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub merged: Vec<IpNet>,
    pub warnings: Vec<String>,
}

/// Check every source and merge them. Ranges that allow every address are
/// refused (each one listed) unless `allow_default_route`.
pub fn assemble(sources: &[Source], allow_default_route: bool) -> Result<Assembled, Vec<String>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for source in sources {
        for net in &source.nets {
            if cidr::is_default_route(net) {
                if allow_default_route {
                    warnings.push(format!(
                        "{}: {net} allows every address (permitted by --allow-default-route)",
                        source.label
                    ));
                } else {
                    problems.push(format!(
                        "{}: {net} would allow every address; refusing (pass \
                         --allow-default-route if that is really meant)",
                        source.label
                    ));
                }
                continue;
            }
            if !source.explicit {
                if let Some(special) = cidr::classify(net) {
                    warnings.push(format!("{}: {net} is {}", source.label, special.describe()));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let merged = cidr::merge(sources.iter().flat_map(|s| s.nets.iter().copied()));
    Ok(Assembled { merged, warnings })
}

const RECORD_HEADER: &str =
    "# Egress sources, recorded by binderctl (read by `binderctl render --check`):";
const RECORD_LINE: &str = "#   ";

/// Which ranges each source gave, by label; ranges sorted, deduplicated.
pub type Record = BTreeMap<String, Vec<String>>;

/// The record of the sources that gave anything, one line per source.
pub fn record(sources: &[Source]) -> Record {
    let mut record = Record::new();
    for source in sources.iter().filter(|s| !s.nets.is_empty()) {
        // IpNet orders IPv4 before IPv6, each by address then prefix.
        let nets: BTreeSet<IpNet> = source.nets.iter().copied().collect();
        record
            .entry(source.label.clone())
            .or_default()
            .extend(nets.iter().map(IpNet::to_string));
    }
    record
}

/// The comment block appended after the rendered values.
pub fn format_record(record: &Record) -> String {
    let mut text = String::new();
    text.push_str(RECORD_HEADER);
    text.push('\n');
    for (label, nets) in record {
        text.push_str(RECORD_LINE);
        // Escaped: a line break in a label would end the comment and
        // inject values; a `: ` would end the label early.
        text.push_str(&escape_for_comment(label).replace(':', "\\u{3a}"));
        text.push(':');
        for net in nets {
            text.push(' ');
            text.push_str(&escape_for_comment(net));
        }
        text.push('\n');
    }
    text
}

/// The record in a previously rendered file, if it has one.
pub fn parse_record(text: &str) -> Option<Record> {
    let mut lines = text.lines().skip_while(|l| *l != RECORD_HEADER);
    lines.next()?;
    let mut record = Record::new();
    for line in lines {
        let Some(rest) = line.strip_prefix(RECORD_LINE) else {
            break;
        };
        // Labels hold no ": " (escaped); IPv6 ranges hold colons but no ": ".
        let (label, nets) = match rest.split_once(": ") {
            Some((label, nets)) => (label, nets),
            None => (rest.strip_suffix(':').unwrap_or(rest), ""),
        };
        record.insert(
            unescape_comment(label),
            nets.split_whitespace().map(unescape_comment).collect(),
        );
    }
    Some(record)
}

/// `text` fit for a one-line YAML comment: backslashes, control characters
/// and every line break (CR, LF, NEL, LS, PS) are written as `\\`,
/// `\u{a}`, ..., so nothing can end the comment. [`unescape_comment`]
/// reverses it.
pub fn escape_for_comment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}') => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// The text [`escape_for_comment`] (or `format_record`) escaped.
fn unescape_comment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        if let Some(after) = tail.strip_prefix('\\') {
            out.push('\\');
            rest = after;
            continue;
        }
        let code = tail
            .strip_prefix("u{")
            .and_then(|t| t.split_once('}'))
            .and_then(|(hex, after)| {
                Some((char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, after))
            });
        match code {
            Some((c, after)) => {
                out.push(c);
                rest = after;
            }
            None => {
                out.push('\\');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How one source's ranges changed between two records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChange {
    pub label: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Per source, the ranges added and removed from `old` to `new`.
pub fn compare(old: &Record, new: &Record) -> Vec<SourceChange> {
    let labels: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let empty = Vec::new();
    labels
        .into_iter()
        .filter_map(|label| {
            let before = old.get(label).unwrap_or(&empty);
            let after = new.get(label).unwrap_or(&empty);
            let added: Vec<String> = after
                .iter()
                .filter(|n| !before.contains(n))
                .cloned()
                .collect();
            let removed: Vec<String> = before
                .iter()
                .filter(|n| !after.contains(n))
                .cloned()
                .collect();
            (!added.is_empty() || !removed.is_empty()).then(|| SourceChange {
                label: label.clone(),
                added,
                removed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(label: &str, nets: &[&str], explicit: bool) -> Source {
        Source {
            label: label.into(),
            nets: nets.iter().map(|n| cidr::parse(n).unwrap()).collect(),
            explicit,
        }
    }

    #[test]
    fn merges_across_sources() {
        let a = assemble(
            &[
                source("host a.test", &["192.0.2.1", "2001:db8::1"], false),
                source("cidr_whitelist", &["192.0.2.0/24"], true),
                source(
                    "Fastly addresses",
                    &["198.51.100.0/25", "198.51.100.128/25"],
                    false,
                ),
            ],
            false,
        )
        .unwrap();
        let merged: Vec<String> = a.merged.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            merged,
            ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::1/128"]
        );
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }

    #[test]
    fn default_route_is_refused_from_every_source_unless_allowed() {
        let sources = [
            source("GitHub meta git", &["0.0.0.0/0"], false),
            source("Fastly ipv6_addresses", &["::/0"], false),
        ];
        let problems = assemble(&sources, false).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].starts_with("GitHub meta git: 0.0.0.0/0 would allow every address"));
        assert!(problems[1].starts_with("Fastly ipv6_addresses: ::/0"));
        let allowed = assemble(&sources, true).unwrap();
        assert_eq!(allowed.warnings.len(), 2);
    }

    #[test]
    fn private_answers_are_warned_about_but_not_explicit_ranges() {
        let a = assemble(
            &[
                source("host intranet.test", &["10.1.2.3"], false),
                source("host lo.test", &["127.0.0.1"], false),
                source("cidr_whitelist", &["10.0.0.0/8"], true),
            ],
            false,
        )
        .unwrap();
        assert_eq!(a.warnings.len(), 2, "{:?}", a.warnings);
        assert!(a.warnings[0].starts_with("host intranet.test: 10.1.2.3/32 is "));
        assert!(a.warnings[1].starts_with("host lo.test: 127.0.0.1/32 is "));
    }

    #[test]
    fn record_round_trips_through_text() {
        let rec = record(&[
            source(
                "host b.test",
                &["2001:db8::1", "192.0.2.9", "192.0.2.9"],
                false,
            ),
            source("cidr_whitelist", &[], true),
            source("GitHub meta git", &["198.51.100.0/24"], false),
        ]);
        let text = format_record(&rec);
        assert_eq!(
            text,
            "# Egress sources, recorded by binderctl (read by `binderctl render --check`):\n\
             #   GitHub meta git: 198.51.100.0/24\n\
             #   host b.test: 192.0.2.9/32 2001:db8::1/128\n"
        );
        let yaml = format!("a: 1\n{text}");
        assert_eq!(parse_record(&yaml), Some(rec));
        assert_eq!(parse_record("a: 1\n"), None);
    }

    #[test]
    fn record_labels_cannot_inject_values() {
        let tricky = [
            "GitHub meta a\nb: 1",
            "Fastly x\ry",
            "k\u{85}nel",
            "k\u{2028}ls\u{2029}ps",
            "k: v",
            "back\\slash \\u{a}",
            "\u{1}\u{7f}\u{feff}",
        ];
        let rec: Record = tricky
            .iter()
            .map(|l| (l.to_string(), vec!["192.0.2.0/24".to_string()]))
            .collect();
        let text = format_record(&rec);
        assert_eq!(text.lines().count(), 1 + tricky.len(), "{text}");
        assert_eq!(
            text.split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
                .count(),
            2 + tricky.len()
        );
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
        assert!(
            text.contains("#   GitHub meta a\\u{a}b\\u{3a} 1: 192.0.2.0/24\n"),
            "{text}"
        );
        assert_eq!(parse_record(&text), Some(rec));
    }

    #[test]
    fn compare_reports_per_source() {
        let old = record(&[
            source("host a.test", &["192.0.2.1"], false),
            source("host gone.test", &["192.0.2.7"], false),
        ]);
        let new = record(&[
            source("host a.test", &["192.0.2.2"], false),
            source("Fastly addresses", &["198.51.100.0/24"], false),
        ]);
        let changes = compare(&old, &new);
        assert_eq!(
            changes,
            vec![
                SourceChange {
                    label: "Fastly addresses".into(),
                    added: vec!["198.51.100.0/24".into()],
                    removed: vec![]
                },
                SourceChange {
                    label: "host a.test".into(),
                    added: vec!["192.0.2.2/32".into()],
                    removed: vec!["192.0.2.1/32".into()]
                },
                SourceChange {
                    label: "host gone.test".into(),
                    added: vec![],
                    removed: vec!["192.0.2.7/32".into()]
                },
            ]
        );
        assert!(compare(&new, &new).is_empty());
    }
}
