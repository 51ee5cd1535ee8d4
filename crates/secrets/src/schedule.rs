//! Rotation schedules: RotationRules (`AutomaticallyAfterDays`, or `ScheduleExpression`
//! `rate(N hours|days)` / `cron(...)`, and the `Duration` window) and the next rotation window,
//! as Secrets Manager computes them. All times are UTC milliseconds.
//!
//! - `AutomaticallyAfterDays N` and `rate(N days)`: the window opens at midnight UTC, N days
//!   after the day of the last rotation (or of the configuration), and lasts `Duration`
//!   (default: the whole day).
//! - `rate(N hours)` (4–23): windows open every N hours from midnight UTC of each day and last
//!   `Duration` (default 1 hour), which must end before the next window opens.
//! - `cron(Minutes Hours Day-of-month Month Day-of-week Year)`, AWS's flavour: `*`, `?`, numbers,
//!   ranges `a-b`, lists `a,b`, increments `a/n` and `*/n`, `JAN`–`DEC`, `SUN`–`SAT` (1 = Sunday);
//!   one of day-of-month and day-of-week must be `?`; the year must be `*`. The window opens at
//!   each time the expression names and lasts `Duration` (default: the rest of that UTC day),
//!   which must not reach the next UTC day.
//!
//! NextRotationDate is the last second of the next window.

use serde::{Deserialize, Serialize};

use crate::SecretsError;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// RotationRules on the wire (and as stored).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
}

impl RotationRules {
    pub fn is_empty(&self) -> bool {
        self.automatically_after_days.is_none()
            && self.duration.is_none()
            && self.schedule_expression.is_none()
    }
}

/// A validated schedule with its window length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
    duration_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Days(i64),
    Hours(i64),
    Cron(Box<Cron>),
}

fn invalid(message: impl Into<String>) -> SecretsError {
    SecretsError::InvalidParameter(message.into())
}

impl Schedule {
    /// Validates RotationRules; `None` when they name no schedule (rotation on demand only).
    pub fn parse(rules: &RotationRules) -> Result<Option<Schedule>, SecretsError> {
        let kind = match (&rules.automatically_after_days, &rules.schedule_expression) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "You can't specify both AutomaticallyAfterDays and ScheduleExpression.",
                ));
            }
            (Some(days), None) => {
                if !(1..=1000).contains(days) {
                    return Err(invalid(
                        "AutomaticallyAfterDays must be between 1 and 1000 days.",
                    ));
                }
                Kind::Days(*days)
            }
            (None, Some(expr)) => parse_expression(expr)?,
            (None, None) => {
                if rules.duration.is_some() {
                    return Err(invalid(
                        "Duration needs a ScheduleExpression or AutomaticallyAfterDays.",
                    ));
                }
                return Ok(None);
            }
        };
        let duration_ms = match &rules.duration {
            None => match kind {
                Kind::Hours(_) => HOUR_MS,
                _ => DAY_MS,
            },
            Some(d) => {
                let hours = d
                    .strip_suffix('h')
                    .filter(|n| {
                        !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|n| n.parse::<i64>().ok())
                    .filter(|h| (1..=24).contains(h))
                    .ok_or_else(|| {
                        invalid(format!(
                            "Invalid Duration {d}: use a number of hours from 1h to 24h."
                        ))
                    })?;
                if let Kind::Hours(n) = kind
                    && hours >= n
                {
                    return Err(invalid(format!(
                        "The rotation window Duration {d} must end before the next window of \
                         rate({n} hours) opens."
                    )));
                }
                hours * HOUR_MS
            }
        };
        if let Kind::Cron(c) = &kind
            && rules.duration.is_some()
        {
            // The window must end by midnight of the day it opens, for every opening time.
            let latest = c.latest_time_of_day();
            if latest + duration_ms > DAY_MS {
                return Err(invalid(format!(
                    "The rotation window Duration {} would extend into the next UTC day.",
                    rules.duration.as_deref().unwrap_or_default()
                )));
            }
        }
        Ok(Some(Schedule { kind, duration_ms }))
    }

    /// The first window that opens after `after_ms`: `(start, end)`.
    pub fn next_window(&self, after_ms: i64) -> Option<(i64, i64)> {
        let start = match &self.kind {
            Kind::Days(n) => day_start(after_ms) + n * DAY_MS,
            Kind::Hours(n) => {
                let day = day_start(after_ms);
                let mut t = day;
                while t <= after_ms {
                    t += n * HOUR_MS;
                    if t >= day + DAY_MS {
                        t = day + DAY_MS;
                        break;
                    }
                }
                t
            }
            Kind::Cron(c) => c.next_after(after_ms)?,
        };
        let end = match &self.kind {
            // The default window of a cron schedule is the rest of its day.
            Kind::Cron(_) if self.duration_ms == DAY_MS => day_start(start) + DAY_MS,
            _ => start + self.duration_ms,
        };
        Some((start, end))
    }
}

pub fn day_start(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

fn parse_expression(expr: &str) -> Result<Kind, SecretsError> {
    let bad = || invalid(format!("Invalid ScheduleExpression: {expr}"));
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut parts = inner.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let n: i64 = n.parse().map_err(|_| bad())?;
        return match unit {
            "hour" | "hours" => {
                if !(4..=23).contains(&n) {
                    return Err(invalid(format!(
                        "Invalid ScheduleExpression {expr}: a rotation can't be scheduled more \
                         often than every 4 hours; use 4 to 23 hours or a rate in days."
                    )));
                }
                Ok(Kind::Hours(n))
            }
            "day" | "days" => {
                if !(1..=1000).contains(&n) {
                    return Err(bad());
                }
                Ok(Kind::Days(n))
            }
            _ => Err(bad()),
        };
    }
    if let Some(inner) = expr.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        return Ok(Kind::Cron(Box::new(Cron::parse(inner).ok_or_else(bad)?)));
    }
    Err(bad())
}

/// A cron expression: the allowed values of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// `None`: `?`.
    days_of_month: Option<Vec<bool>>,
    months: Vec<bool>,
    days_of_week: Option<Vec<bool>>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn field(text: &str, min: usize, max: usize, names: &[&str]) -> Option<Vec<bool>> {
    let value = |s: &str| -> Option<usize> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Some(i + min);
        }
        s.parse::<usize>().ok().filter(|v| (min..=max).contains(v))
    };
    let mut set = vec![false; max + 1];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().ok().filter(|s| *s > 0)?),
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            // `a/n` runs from a to the end of the range.
            if item.contains('/') { (v, max) } else { (v, v) }
        };
        if lo > hi {
            return None;
        }
        let mut v = lo;
        while v <= hi {
            *set.get_mut(v)? = true;
            v += step;
        }
    }
    Some(set)
}

impl Cron {
    fn parse(text: &str) -> Option<Cron> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [min, hour, dom, month, dow, year] = f.as_slice() else {
            return None;
        };
        if *year != "*" {
            return None;
        }
        let days_of_month = if *dom == "?" {
            None
        } else {
            Some(field(dom, 1, 31, &[])?)
        };
        let days_of_week = if *dow == "?" {
            None
        } else {
            Some(field(dow, 1, 7, &WEEKDAYS)?)
        };
        // Exactly one of the two day fields is `?`.
        if days_of_month.is_some() == days_of_week.is_some() {
            return None;
        }
        Some(Cron {
            minutes: field(min, 0, 59, &[])?,
            hours: field(hour, 0, 23, &[])?,
            days_of_month,
            months: field(month, 1, 12, &MONTHS)?,
            days_of_week,
        })
    }

    fn latest_time_of_day(&self) -> i64 {
        let last = |set: &[bool]| set.iter().rposition(|b| *b).unwrap_or(0) as i64;
        last(&self.hours) * HOUR_MS + last(&self.minutes) * 60_000
    }

    fn day_matches(&self, day_ms: i64) -> bool {
        let Ok(date) = time::OffsetDateTime::from_unix_timestamp(day_ms / 1000) else {
            return false;
        };
        let month = usize::from(u8::from(date.month()));
        let dom = usize::from(date.day());
        // AWS numbers days of the week from 1 = Sunday.
        let dow = usize::from(date.weekday().number_from_sunday());
        let on = |set: &Option<Vec<bool>>, v: usize| {
            set.as_ref()
                .is_none_or(|s| s.get(v).copied().unwrap_or(false))
        };
        self.months.get(month).copied().unwrap_or(false)
            && on(&self.days_of_month, dom)
            && on(&self.days_of_week, dow)
    }

    /// The first time the expression names after `after_ms` (within five years).
    fn next_after(&self, after_ms: i64) -> Option<i64> {
        let first = day_start(after_ms);
        for d in 0..(5 * 366) {
            let day = first + d * DAY_MS;
            if !self.day_matches(day) {
                continue;
            }
            for (h, _) in self.hours.iter().enumerate().filter(|(_, on)| **on) {
                for (m, _) in self.minutes.iter().enumerate().filter(|(_, on)| **on) {
                    let t = day + h as i64 * HOUR_MS + m as i64 * 60_000;
                    if t > after_ms {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rules(days: Option<i64>, expr: Option<&str>, duration: Option<&str>) -> RotationRules {
        RotationRules {
            automatically_after_days: days,
            schedule_expression: expr.map(str::to_string),
            duration: duration.map(str::to_string),
        }
    }

    fn ms(s: &str) -> i64 {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    }

    #[test]
    fn days_open_at_midnight_and_last_the_day() {
        let s = Schedule::parse(&rules(Some(30), None, None))
            .unwrap()
            .unwrap();
        let (start, end) = s.next_window(ms("2026-01-10T15:30:00Z")).unwrap();
        assert_eq!(start, ms("2026-02-09T00:00:00Z"));
        assert_eq!(end, ms("2026-02-10T00:00:00Z"));
        let s = Schedule::parse(&rules(None, Some("rate(2 days)"), Some("3h")))
            .unwrap()
            .unwrap();
        let (start, end) = s.next_window(ms("2026-01-10T15:30:00Z")).unwrap();
        assert_eq!(start, ms("2026-01-12T00:00:00Z"));
        assert_eq!(end, ms("2026-01-12T03:00:00Z"));
    }

    #[test]
    fn hourly_rates() {
        let s = Schedule::parse(&rules(None, Some("rate(6 hours)"), None))
            .unwrap()
            .unwrap();
        let (start, end) = s.next_window(ms("2026-01-10T13:00:00Z")).unwrap();
        assert_eq!(start, ms("2026-01-10T18:00:00Z"));
        assert_eq!(end, ms("2026-01-10T19:00:00Z"));
        let (start, _) = s.next_window(ms("2026-01-10T19:00:00Z")).unwrap();
        assert_eq!(start, ms("2026-01-11T00:00:00Z"));
        assert!(Schedule::parse(&rules(None, Some("rate(3 hours)"), None)).is_err());
        assert!(Schedule::parse(&rules(None, Some("rate(6 hours)"), Some("6h"))).is_err());
    }

    #[test]
    fn cron_expressions() {
        // 16:00 on the 1st and 15th of each month.
        let s = Schedule::parse(&rules(None, Some("cron(0 16 1,15 * ? *)"), Some("4h")))
            .unwrap()
            .unwrap();
        let (start, end) = s.next_window(ms("2026-01-10T00:00:00Z")).unwrap();
        assert_eq!(start, ms("2026-01-15T16:00:00Z"));
        assert_eq!(end, ms("2026-01-15T20:00:00Z"));
        // Mondays at 08:30 (2026-01-12 is a Monday), default window: the rest of the day.
        let s = Schedule::parse(&rules(None, Some("cron(30 8 ? * MON *)"), None))
            .unwrap()
            .unwrap();
        let (start, end) = s.next_window(ms("2026-01-10T00:00:00Z")).unwrap();
        assert_eq!(start, ms("2026-01-12T08:30:00Z"));
        assert_eq!(end, ms("2026-01-13T00:00:00Z"));
        for bad in [
            "cron(0 16 1 * MON *)",
            "cron(0 16 1 * ? 2027)",
            "cron(0 25 1 * ? *)",
            "cron(0 16 * *)",
            "rate(1 week)",
        ] {
            assert!(
                Schedule::parse(&rules(None, Some(bad), None)).is_err(),
                "{bad}"
            );
        }
        assert!(Schedule::parse(&rules(None, Some("cron(0 22 * * ? *)"), Some("3h"))).is_err());
    }

    #[test]
    fn rules_are_exclusive_and_bounded() {
        assert!(Schedule::parse(&rules(Some(1), Some("rate(1 days)"), None)).is_err());
        assert!(Schedule::parse(&rules(Some(0), None, None)).is_err());
        assert!(Schedule::parse(&rules(Some(1001), None, None)).is_err());
        assert!(Schedule::parse(&rules(Some(7), None, Some("25h"))).is_err());
        assert!(Schedule::parse(&rules(None, None, None)).unwrap().is_none());
    }
}
