//! `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`) and clock-skew checks.

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::{Error, quote};

/// Parses an `X-Amz-Date` value, `YYYYMMDDTHHMMSSZ` (ISO 8601 basic format, UTC).
pub fn parse_amz_date(s: &str) -> Result<OffsetDateTime, Error> {
    parse_basic(s).ok_or_else(|| {
        Error::InvalidDate(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            quote(s)
        ))
    })
}

fn parse_basic(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let date = parse_date_stamp(s.get(..8)?)?;
    let time = Time::from_hms(
        u8::try_from(digits(b, 9, 11)?).ok()?,
        u8::try_from(digits(b, 11, 13)?).ok()?,
        u8::try_from(digits(b, 13, 15)?).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Parses a `YYYYMMDD` date stamp (the date of a credential scope).
pub(crate) fn parse_date_stamp(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 8 {
        return None;
    }
    let year = i32::try_from(digits(b, 0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(b, 4, 6)?).ok()?).ok()?;
    let day = u8::try_from(digits(b, 6, 8)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// The decimal number spelled by `b[from..to]`, if those are all ASCII digits.
fn digits(b: &[u8], from: usize, to: usize) -> Option<u32> {
    let slice = b.get(from..to)?;
    if slice.is_empty() {
        return None;
    }
    slice.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit()
            .then(|| acc.saturating_mul(10).saturating_add(u32::from(c - b'0')))
    })
}

/// `t` in UTC (unchanged if the conversion would leave `time`'s range).
fn utc(t: OffsetDateTime) -> OffsetDateTime {
    t.checked_to_offset(UtcOffset::UTC).unwrap_or(t)
}

/// Formats `t` as an `X-Amz-Date` value, `YYYYMMDDTHHMMSSZ`, in UTC (sub-seconds dropped).
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = utc(t);
    format!(
        "{}T{:02}{:02}{:02}Z",
        format_date_stamp(t),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Formats the UTC date of `t` as `YYYYMMDD`, the date of a credential scope.
pub(crate) fn format_date_stamp(t: OffsetDateTime) -> String {
    let t = utc(t);
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Checks that the request time `amz_date` is within `max` of `now`, with AWS's messages:
///
/// - `Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)`
/// - `Signature not yet current: 20240101T010000Z is still later than 20240101T004500Z (20240101T003000Z + 15 min.)`
///
/// `now` is truncated to whole seconds first, as `X-Amz-Date` has no finer resolution; a
/// request exactly `max` away is accepted.
pub fn check_skew(
    amz_date: OffsetDateTime,
    now: OffsetDateTime,
    max: Duration,
) -> Result<(), Error> {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let max = max.abs();
    let minutes = max.whole_minutes();
    if let Some(earliest) = now.checked_sub(max)
        && amz_date < earliest
    {
        return Err(Error::SignatureExpired(format!(
            "Signature expired: {} is now earlier than {} ({} - {} min.)",
            format_amz_date(amz_date),
            format_amz_date(earliest),
            format_amz_date(now),
            minutes
        )));
    }
    if let Some(latest) = now.checked_add(max)
        && amz_date > latest
    {
        return Err(Error::SignatureNotYetCurrent(format!(
            "Signature not yet current: {} is still later than {} ({} + {} min.)",
            format_amz_date(amz_date),
            format_amz_date(latest),
            format_amz_date(now),
            minutes
        )));
    }
    Ok(())
}
