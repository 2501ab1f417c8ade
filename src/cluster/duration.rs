//! Durations and timestamps as operators and Kubernetes write them. Pure.
//!
//! Durations: one grammar for every duration option, humantime's: a number
//! and a unit, repeated (`500ms`, `90s`, `30m`, `2h`, `1d`, `1h30m`,
//! `1h 30m`; units ns, us, ms, s, m, h, d, w and their long names). A bare
//! number is seconds (`5`, `0.5`). Handed to kubectl and Helm, a duration
//! is written as Go's `time.ParseDuration` reads it ([`format_go`]).
//! Timestamps: RFC 3339 as the Kubernetes API writes them
//! (`2024-05-21T10:02:11Z`).

use std::time::Duration;

use anyhow::{bail, Result};

/// What the error messages show as examples.
const EXAMPLES: &str = "write it like 500ms, 90s, 30m, 2h, 1d or 1h30m";

/// Parse an operator-written duration (`2h`, `1h30m`, `500ms`, `1d`, or a
/// bare number of seconds).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        bail!("empty duration: {EXAMPLES}");
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return trimmed
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| {
                anyhow::anyhow!("duration {text:?} is not a number of seconds; {EXAMPLES}")
            });
    }
    humantime::parse_duration(trimmed)
        .map_err(|err| anyhow::anyhow!("duration {text:?}: {err}; {EXAMPLES}"))
}

/// The duration as Go's `time.ParseDuration` (kubectl, helm) reads it, unit
/// by unit from hours down to nanoseconds, zero units left out: `2000h`,
/// `1h30m`, `90s` -> `1m30s`, `500ms`, `1s500ms`, `0s`.
pub fn format_go(duration: Duration) -> String {
    let secs = duration.as_secs();
    let nanos = duration.subsec_nanos();
    let parts = [
        (secs / 3600, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
        (u64::from(nanos / 1_000_000), "ms"),
        (u64::from(nanos / 1_000 % 1_000), "us"),
        (u64::from(nanos % 1_000), "ns"),
    ];
    let out: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if out.is_empty() {
        "0s".to_string()
    } else {
        out
    }
}

/// A short age the way kubectl shows it: `45s`, `12m`, `5h3m`, `3d4h`, `40d`.
pub fn format_age(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h{m}m"),
        // Past ten days the hours no longer matter.
        (d, 0, _) => format!("{d}d"),
        (d, _, _) if d >= 10 => format!("{d}d"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch for an RFC 3339 timestamp
/// (`2024-05-21T10:02:11Z`, `2024-05-21T12:02:11.5+02:00`). `None` when it
/// is not one.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = digits(0..4)?;
    let month = digits(5..7)?;
    let day = digits(8..10)?;
    let hour = digits(11..13)?;
    let minute = digits(14..16)?;
    let second = digits(17..19)?;
    if bytes.get(4) != Some(&b'-')
        || bytes.get(7) != Some(&b'-')
        || !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Skip fractional seconds.
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return None;
        }
        rest = fraction.get(end..)?;
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> u64 {
        parse_duration(text).unwrap().as_secs()
    }

    #[test]
    fn parses_single_and_combined_units() {
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("30m"), 1800);
        assert_eq!(secs("2h"), 7200);
        assert_eq!(secs("1d"), 86_400);
        assert_eq!(secs("1h30m"), 5400);
        assert_eq!(secs("1h 30m"), 5400);
        assert_eq!(secs("1d2h3m4s"), 86_400 + 7200 + 180 + 4);
        assert_eq!(secs("2000h"), 7_200_000);
        assert_eq!(secs(" 5m "), 300);
        assert_eq!(secs("0s"), 0);
    }

    #[test]
    fn one_grammar_takes_milliseconds_and_bare_seconds() {
        // The old hand-written grammar refused both (`--wait-timeout 500ms`).
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(
            parse_duration("1s500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("0.3").unwrap(), Duration::from_millis(300));
    }

    #[test]
    fn errors_name_the_value() {
        for bad in ["", "h", "2x", "-2h", "1..5", "99999999999999999999s"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            if !bad.is_empty() {
                assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
            }
            assert!(err.contains("1h30m"), "{bad}: {err}");
        }
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn formats_for_go() {
        assert_eq!(format_go(Duration::from_secs(7_200_000)), "2000h");
        assert_eq!(format_go(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go(Duration::from_secs(86_400)), "24h");
        assert_eq!(format_go(Duration::from_secs(3_661)), "1h1m1s");
        assert_eq!(format_go(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_go(Duration::from_nanos(1_001)), "1us1ns");
        assert_eq!(format_go(Duration::ZERO), "0s");
    }

    #[test]
    fn formats_ages_like_kubectl() {
        assert_eq!(format_age(Duration::from_secs(45)), "45s");
        assert_eq!(format_age(Duration::from_secs(12 * 60 + 5)), "12m");
        assert_eq!(format_age(Duration::from_secs(5 * 3600)), "5h");
        assert_eq!(format_age(Duration::from_secs(5 * 3600 + 180)), "5h3m");
        assert_eq!(
            format_age(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d4h"
        );
        assert_eq!(format_age(Duration::from_secs(3 * 86_400)), "3d");
        assert_eq!(format_age(Duration::from_secs(40 * 86_400 + 3600)), "40d");
    }

    #[test]
    fn parses_kubernetes_timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_timestamp("2024-05-21T10:02:11Z"), Some(1_716_285_731));
        assert_eq!(
            parse_timestamp("2024-05-21T12:02:11+02:00"),
            Some(1_716_285_731)
        );
        assert_eq!(
            parse_timestamp("2024-05-21T10:02:11.123456Z"),
            Some(1_716_285_731)
        );
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1));
        for bad in [
            "",
            "2024-05-21",
            "2024-05-21T10:02:11",
            "2024-13-01T00:00:00Z",
            "2024-05-21T10:02:11.Z",
            "x024-05-21T10:02:11Z",
            "2024-05-21T10:02:11+0200",
            "2024-05-21T10:02:1ü",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
