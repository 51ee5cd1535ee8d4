//! Typed values for the Numeric and Date operators.

use std::cmp::Ordering;
use std::fmt;

/// A number as the Numeric operators compare it: integers exactly, anything else as `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    /// Parses an integer or a finite decimal (`10`, `-3`, `2.5`, `1e3`).
    pub fn parse(s: &str) -> Option<Number> {
        if let Ok(i) = s.parse::<i64>() {
            return Some(Number::Int(i));
        }
        // Rust's float syntax also accepts "inf" and "NaN"; the finiteness check drops them.
        let looks_numeric = s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
        match s.parse::<f64>() {
            Ok(f) if looks_numeric && f.is_finite() => Some(Number::Float(f)),
            _ => None,
        }
    }

    pub(crate) fn compare(self, other: Number) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number::Int(i)
    }
}

/// An instant, in nanoseconds since the Unix epoch (UTC), for the Date operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i128);

const NANOS: i128 = 1_000_000_000;

impl Timestamp {
    pub fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(i128::from(seconds) * NANOS)
    }

    pub fn from_unix_nanos(nanos: i128) -> Timestamp {
        Timestamp(nanos)
    }

    pub fn unix_nanos(self) -> i128 {
        self.0
    }

    /// Parses what the Date operators accept: epoch seconds (`1700000000`, `1700000000.5`) or
    /// ISO 8601 — `2020-04-01`, `2020-04-01T00:00Z`, `2020-04-01T00:00:00Z`,
    /// `2020-04-01T00:00:00.123+02:00`, `+0200`, or no zone (UTC).
    pub fn parse(s: &str) -> Option<Timestamp> {
        if let Some(t) = parse_epoch(s) {
            return Some(t);
        }
        parse_iso8601(s)
    }
}

impl fmt::Display for Timestamp {
    /// ISO 8601 in UTC, `2020-04-01T00:00:00Z` (with fractional seconds when there are any).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(NANOS);
        let nanos = self.0.rem_euclid(NANOS);
        let days = seconds.div_euclid(86_400);
        let secs_of_day = seconds.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (
            secs_of_day / 3600,
            secs_of_day % 3600 / 60,
            secs_of_day % 60,
        );
        write!(f, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}")?;
        if nanos != 0 {
            let frac = format!("{nanos:09}");
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

fn parse_epoch(s: &str) -> Option<Timestamp> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 15 {
        return None;
    }
    let mut nanos = whole.parse::<i128>().ok()? * NANOS;
    if let Some(frac) = frac {
        nanos += parse_fraction(frac)?;
    }
    Some(Timestamp(if negative { -nanos } else { nanos }))
}

/// `"5"` → 500_000_000 ns; at most nanosecond precision is kept.
fn parse_fraction(frac: &str) -> Option<i128> {
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: i128 = 0;
    let mut scale = NANOS / 10;
    for b in frac.bytes().take(9) {
        nanos += i128::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(nanos)
}

fn parse_iso8601(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut nanos: i128 = 0;
    let mut pos = 10;
    if pos < b.len() {
        if !matches!(b.get(pos), Some(b'T' | b't' | b' ')) {
            return None;
        }
        let hour = num(pos + 1, 2)?;
        if b.get(pos + 3) != Some(&b':') {
            return None;
        }
        let minute = num(pos + 4, 2)?;
        pos += 6;
        let mut second = 0;
        if b.get(pos) == Some(&b':') {
            second = num(pos + 1, 2)?;
            pos += 3;
            if b.get(pos) == Some(&b'.') || b.get(pos) == Some(&b',') {
                let end = s
                    .get(pos + 1..)?
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(s.len(), |i| pos + 1 + i);
                nanos = parse_fraction(s.get(pos + 1..end)?)?;
                pos = end;
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        seconds += hour * 3600 + minute * 60 + second;
        let zone = s.get(pos..)?;
        seconds -= parse_zone(zone)?;
    }
    Some(Timestamp(i128::from(seconds) * NANOS + nanos))
}

/// The zone's offset from UTC in seconds: `Z`, `+hh:mm`, `+hhmm`, `+hh`, or nothing (UTC).
fn parse_zone(zone: &str) -> Option<i64> {
    if zone.is_empty() || zone == "Z" || zone == "z" {
        return Some(0);
    }
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, zone.get(1..)?),
        b'-' => (-1, zone.get(1..)?),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    let colon_ok = match rest.len() {
        2 | 4 => !rest.contains(':'),
        5 => rest.find(':') == Some(2),
        _ => false,
    };
    if !colon_ok || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits.get(0..2)?.parse().ok()?;
    let minutes: i64 = match digits.get(2..4) {
        Some(m) => m.parse().ok()?,
        None => 0,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i128) -> (i128, i128, i128) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i128 {
        Timestamp::parse(s)
            .unwrap_or_else(|| panic!("{s} did not parse"))
            .0
            / NANOS
    }

    #[test]
    fn iso8601_forms() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ts("2020-04-01T00:00:00Z"), 1_585_699_200);
        assert_eq!(ts("2020-04-01"), 1_585_699_200);
        assert_eq!(ts("2020-04-01T00:00Z"), 1_585_699_200);
        assert_eq!(ts("2020-04-01T00:00:00"), 1_585_699_200);
        assert_eq!(ts("2020-04-01T02:00:00+02:00"), 1_585_699_200);
        assert_eq!(ts("2020-03-31T16:00:00-0800"), 1_585_699_200);
        assert_eq!(ts("2020-04-01T01:00:00+01"), 1_585_699_200);
        assert_eq!(ts("2000-02-29T12:00:00Z"), 951_825_600);
        assert_eq!(
            Timestamp::parse("2020-04-01T00:00:00.25Z").unwrap().0,
            1_585_699_200 * NANOS + 250_000_000
        );
    }

    #[test]
    fn epoch_forms() {
        assert_eq!(ts("1585699200"), 1_585_699_200);
        assert_eq!(ts("-86400"), -86_400);
        assert_eq!(Timestamp::parse("1.5").unwrap().0, 1_500_000_000);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "2020-13-01",
            "2019-02-29",
            "2020-04-31",
            "2020-04-01T24:00:00Z",
            "2020-04-01T00:60Z",
            "2020-04-01X",
            "2020-04-01T00:00:00+2",
            "yesterday",
            "1e9",
            "2020-04-01T00:00:00Zjunk",
            "١٢٣",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad:?} parsed");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "2020-04-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2000-02-29T12:34:56.5Z",
        ] {
            assert_eq!(Timestamp::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(Number::parse("10"), Some(Number::Int(10)));
        assert_eq!(Number::parse("2.5"), Some(Number::Float(2.5)));
        assert_eq!(Number::parse("inf"), None);
        assert_eq!(Number::parse("NaN"), None);
        assert_eq!(Number::parse(""), None);
        assert_eq!(Number::parse("ten"), None);
        assert_eq!(
            Number::Int(10).compare(Number::Float(10.0)),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Number::Int(i64::MAX).compare(Number::Int(i64::MAX - 1)),
            Some(Ordering::Greater)
        );
    }
}
