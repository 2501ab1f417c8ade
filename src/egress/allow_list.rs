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

/// What the operator allowed beyond the safe default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allow {
    /// `--allow-default-route`: every address, or a share of a family wider
    /// than [`cidr::MAX_COVERAGE_PREFIX_V4`] / `_V6`.
    pub default_route: bool,
    /// `--allow-special-addresses`: unspecified, loopback, link-local,
    /// multicast and broadcast addresses (see [`cidr::Special::is_never_a_target`]).
    pub special_addresses: bool,
}

const DEFAULT_ROUTE_HINT: &str = "pass --allow-default-route if that is really meant";
const SPECIAL_HINT: &str = "pass --allow-special-addresses if that is really meant";

/// Check every source and merge them. Refused, each problem listed, unless
/// allowed: a source whose ranges allow every address of a family or more
/// than the coverage limit, sources that only together merge into every
/// address, and addresses that are never a sensible egress target. Private
/// and other special ranges from hosts and lists are warned about.
pub fn assemble(sources: &[Source], allow: Allow) -> Result<Assembled, Vec<String>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for source in sources {
        check_coverage(source, allow, &mut problems, &mut warnings);
        for net in &source.nets {
            check_special(source, net, allow, &mut problems, &mut warnings);
        }
    }
    let merged = cidr::merge(sources.iter().flat_map(|s| s.nets.iter().copied()));
    if !allow.default_route {
        problems.extend(merged_default_routes(sources, &merged));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Assembled { merged, warnings })
}

/// One source's share of each family: every address, or more than the limit.
fn check_coverage(
    source: &Source,
    allow: Allow,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let merged = cidr::merge(source.nets.iter().copied());
    for ipv6 in [false, true] {
        let family = if ipv6 { "IPv6" } else { "IPv4" };
        let what = if let Some(route) = merged
            .iter()
            .find(|n| cidr::is_default_route(n) && n.addr().is_ipv6() == ipv6)
        {
            let parts = source.nets.iter().filter(|n| n.addr().is_ipv6() == ipv6);
            let given = shown(parts);
            if given == route.to_string() {
                format!("{route} would allow every address")
            } else {
                format!("{given} together make {route}, which would allow every address")
            }
        } else {
            let count = cidr::address_count(&source.nets, ipv6);
            if !cidr::exceeds_coverage(count, ipv6) {
                continue;
            }
            let limit = if ipv6 {
                cidr::MAX_COVERAGE_PREFIX_V6
            } else {
                cidr::MAX_COVERAGE_PREFIX_V4
            };
            format!(
                "its {family} ranges cover more addresses than a /{limit}, the most one \
                 source may allow (that is a good part of the internet)"
            )
        };
        if allow.default_route {
            warnings.push(format!(
                "{}: {what} (permitted by --allow-default-route)",
                source.label
            ));
        } else {
            problems.push(format!(
                "{}: {what}; refusing ({DEFAULT_ROUTE_HINT})",
                source.label
            ));
        }
    }
}

/// Refuse an address that is never an egress target; warn about private
/// ones from hosts and lists. A block wider than the coverage limit is
/// judged by [`check_coverage`] alone.
fn check_special(
    source: &Source,
    net: &IpNet,
    allow: Allow,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let wide = cidr::exceeds_coverage(
        cidr::address_count(std::slice::from_ref(net), net.addr().is_ipv6()),
        net.addr().is_ipv6(),
    );
    if wide {
        // Already refused, or allowed, as coverage.
        return;
    }
    let kinds = cidr::specials(net);
    let label = &source.label;
    if let Some(kind) = kinds.iter().find(|k| k.is_never_a_target()) {
        let kind = kind.describe();
        if allow.special_addresses {
            warnings.push(format!(
                "{label}: {net} is {kind} (permitted by --allow-special-addresses)"
            ));
        } else {
            problems.push(format!(
                "{label}: {net} is {kind}, never a sensible egress target; refusing ({SPECIAL_HINT})"
            ));
        }
    } else if let (Some(kind), false) = (kinds.first(), source.explicit) {
        warnings.push(format!("{label}: {net} is {}", kind.describe()));
    }
}

/// Default routes that only the merge of several sources produces (one
/// source's own is reported by [`check_coverage`]), each naming the sources
/// of that family.
fn merged_default_routes(sources: &[Source], merged: &[IpNet]) -> Vec<String> {
    let from_one_source = |route: &IpNet| {
        sources.iter().any(|s| {
            cidr::merge(s.nets.iter().copied())
                .iter()
                .any(|n| n == route)
        })
    };
    merged
        .iter()
        .filter(|n| cidr::is_default_route(n) && !from_one_source(n))
        .map(|route| {
            let ipv6 = route.addr().is_ipv6();
            let labels: Vec<&str> = sources
                .iter()
                .filter(|s| s.nets.iter().any(|n| n.addr().is_ipv6() == ipv6))
                .map(|s| s.label.as_str())
                .collect();
            format!(
                "{}: together these sources merge into {route}, which would allow every \
                 address; refusing ({DEFAULT_ROUTE_HINT})",
                labels.join(", ")
            )
        })
        .collect()
}

/// Blocks for a message: the first few, then how many more.
fn shown<'a>(nets: impl Iterator<Item = &'a IpNet>) -> String {
    const SHOWN: usize = 4;
    let all: Vec<String> = nets.map(IpNet::to_string).collect();
    let mut text = all
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if all.len() > SHOWN {
        text.push_str(&format!(" and {} more", all.len() - SHOWN));
    }
    text
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

/// Per source, the ranges added and removed from `old` to `new`, by
/// meaning: a range a source adds that the old record allowed already (an
/// address inside another source's range) is no change, and neither is a
/// range it drops that the new record still allows.
pub fn compare(old: &Record, new: &Record) -> Vec<SourceChange> {
    let all = |record: &Record| -> Vec<IpNet> {
        cidr::merge(
            record
                .values()
                .flatten()
                .filter_map(|n| cidr::parse(n).ok()),
        )
    };
    let (allowed_before, allowed_after) = (all(old), all(new));
    let covered = |net: &String, by: &[IpNet]| {
        cidr::parse(net).is_ok_and(|n| cidr::diff(by, &[n]).0.is_empty())
    };
    let labels: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let empty = Vec::new();
    labels
        .into_iter()
        .filter_map(|label| {
            let before = old.get(label).unwrap_or(&empty);
            let after = new.get(label).unwrap_or(&empty);
            let added: Vec<String> = after
                .iter()
                .filter(|n| !before.contains(n) && !covered(n, &allowed_before))
                .cloned()
                .collect();
            let removed: Vec<String> = before
                .iter()
                .filter(|n| !after.contains(n) && !covered(n, &allowed_after))
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
            Allow::default(),
        )
        .unwrap();
        let merged: Vec<String> = a.merged.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            merged,
            ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::1/128"]
        );
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }

    const ALLOW_ROUTE: Allow = Allow {
        default_route: true,
        special_addresses: false,
    };

    #[test]
    fn default_route_is_refused_from_every_source_unless_allowed() {
        let sources = [
            source("GitHub meta git", &["0.0.0.0/0"], false),
            source("Fastly ipv6_addresses", &["::/0"], false),
        ];
        let problems = assemble(&sources, Allow::default()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("GitHub meta git: 0.0.0.0/0 would allow every address"));
        assert!(problems[1].starts_with("Fastly ipv6_addresses: ::/0"));
        let allowed = assemble(&sources, ALLOW_ROUTE).unwrap();
        assert_eq!(allowed.warnings.len(), 2, "{:?}", allowed.warnings);
    }

    #[test]
    fn a_split_default_route_is_refused_within_one_source_and_across_sources() {
        let one = [source(
            "cidr_whitelist",
            &["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"],
            true,
        )];
        let problems = assemble(&one, Allow::default()).unwrap_err();
        assert!(
            problems.iter().any(|p| p.starts_with(
                "cidr_whitelist: 0.0.0.0/2 64.0.0.0/2 128.0.0.0/2 192.0.0.0/2 together make \
                 0.0.0.0/0, which would allow every address; refusing"
            )),
            "{problems:?}"
        );
        // Each source within the limit, together everything.
        let across: Vec<Source> = (0..16u8)
            .map(|i| Source {
                label: format!("host h{i}.test"),
                nets: vec![cidr::parse(&format!("{}.0.0.0/4", i * 16)).unwrap()],
                explicit: false,
            })
            .collect();
        let allow = Allow {
            default_route: false,
            special_addresses: true,
        };
        let problems = assemble(&across, allow).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("host h0.test, host h1.test, host h2.test,"),
            "{problems:?}"
        );
        assert!(
            problems[0].contains(
                "host h15.test: together these sources merge into 0.0.0.0/0, which would allow \
                 every address; refusing"
            ),
            "{problems:?}"
        );
        let allow_all = Allow {
            default_route: true,
            special_addresses: true,
        };
        let allowed = assemble(&across, allow_all).unwrap();
        assert!(allowed.merged.iter().any(cidr::is_default_route));
    }

    #[test]
    fn more_than_a_slash_4_from_one_source_is_refused() {
        let v4 = [source(
            "GitHub meta web",
            &["16.0.0.0/4", "32.0.0.0/8"],
            false,
        )];
        let problems = assemble(&v4, Allow::default()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "GitHub meta web: its IPv4 ranges cover more addresses than a /4, the most \
                 one source may allow"
            ),
            "{problems:?}"
        );
        // Exactly a /4 is allowed, and so is a /4 in each of two sources.
        let at_limit = [
            source("Fastly addresses", &["16.0.0.0/4"], false),
            source("GitHub meta web", &["32.0.0.0/4"], false),
        ];
        assert!(assemble(&at_limit, Allow::default()).is_ok());
        let v6 = [source("host wide.test", &["2000::/15"], false)];
        let problems = assemble(&v6, Allow::default()).unwrap_err();
        assert!(problems[0].contains("its IPv6 ranges cover more addresses than a /16"));
        assert!(assemble(
            &[source("host ok.test", &["2001::/16"], false)],
            Allow::default()
        )
        .is_ok());
        let allowed = assemble(&v6, ALLOW_ROUTE).unwrap();
        assert!(allowed.warnings[0].ends_with("(permitted by --allow-default-route)"));
    }

    #[test]
    fn addresses_that_are_never_a_target_are_refused_unless_allowed() {
        let sources = [
            source("host metadata.test", &["169.254.169.254"], false),
            source("host lo.test", &["127.0.0.1", "::1"], false),
            source(
                "cidr_whitelist",
                &["0.0.0.0/32", "224.0.0.0/24", "255.255.255.255"],
                true,
            ),
            source(
                "Fastly ipv6_addresses",
                &["fe80::/64", "ff02::1", "::"],
                false,
            ),
        ];
        let problems = assemble(&sources, Allow::default()).unwrap_err();
        assert_eq!(problems.len(), 9, "{problems:#?}");
        assert!(problems[0]
            .starts_with("host metadata.test: 169.254.169.254/32 is a link-local address"));
        assert!(problems
            .iter()
            .all(|p| p.contains("--allow-special-addresses")));
        let allow = Allow {
            default_route: false,
            special_addresses: true,
        };
        let allowed = assemble(&sources, allow).unwrap();
        assert_eq!(allowed.warnings.len(), 9, "{:?}", allowed.warnings);
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

    #[test]
    fn compare_ignores_addresses_inside_ranges_allowed_on_both_sides() {
        let fastly = source("Fastly addresses", &["198.51.100.0/24"], false);
        let old = record(&[
            fastly.clone(),
            source("host cdn.test", &["198.51.100.7"], false),
        ]);
        let new = record(&[fastly, source("host cdn.test", &["198.51.100.9"], false)]);
        assert!(compare(&old, &new).is_empty());
        // Fastly drops its range: the range goes, and so does the host's old
        // address; its new one was allowed before, so it is not "added".
        let new = record(&[source("host cdn.test", &["198.51.100.9"], false)]);
        assert_eq!(
            compare(&old, &new),
            vec![
                SourceChange {
                    label: "Fastly addresses".into(),
                    added: vec![],
                    removed: vec!["198.51.100.0/24".into()]
                },
                SourceChange {
                    label: "host cdn.test".into(),
                    added: vec![],
                    removed: vec!["198.51.100.7/32".into()]
                }
            ]
        );
    }
}
