//! Calendar arithmetic and RFC 3339 rendering for epoch-millisecond UTC timestamps.
//!
//! proxydoc keeps every instant as `i64` milliseconds since the Unix epoch (UTC). This module
//! converts civil dates to and from that form (Howard Hinnant's `days_from_civil`), renders
//! RFC 3339 with a `Z` suffix, and reads the `--since`/`--until` values. Log timestamps are
//! read by [`timestamp()`] (`timestamp.rs`), which calls [`to_millis`].

use crate::model::Millis;

mod timestamp;
pub use timestamp::{TsStyle, timestamp};

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number from [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if m <= 2 { y + 1 } else { y };
    // Both values are in range by construction (1..=31, 1..=12).
    (year, m as u32, d as u32)
}

/// Epoch milliseconds of a validated civil date and time, minus a zone offset in minutes.
pub fn to_millis(parts: DateTimeParts) -> Option<Millis> {
    let DateTimeParts {
        year,
        month,
        day,
        hour,
        minute,
        second,
        millis,
        offset_minutes,
    } = parts;
    if hour > 23 || minute > 59 || second > 60 || millis > 999 {
        return None;
    }
    let days = day_number(year, month, day)?;
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - i64::from(offset_minutes) * 60;
    Some(secs * 1000 + i64::from(millis))
}

/// [`days_from_civil`] of a valid date, `None` for an invalid one. The last date read on this
/// thread is remembered: a log's lines mostly share their day.
fn day_number(year: i64, month: u32, day: u32) -> Option<i64> {
    thread_local! {
        static LAST: std::cell::Cell<Option<(i64, u32, u32, i64)>> =
            const { std::cell::Cell::new(None) };
    }
    if let Some((last_year, last_month, last_day, days)) = LAST.get()
        && (last_year, last_month, last_day) == (year, month, day)
    {
        return Some(days);
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    LAST.set(Some((year, month, day, days)));
    Some(days)
}

/// The pieces of a timestamp as read from text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateTimeParts {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
    pub offset_minutes: i32,
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// RFC 3339, UTC, millisecond precision: `2022-10-21T17:25:29.482Z`.
pub fn rfc3339(ts: Millis) -> String {
    let secs = ts.div_euclid(1000);
    let ms = ts.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// `HH:MM` of an instant, UTC, for compact timeline labels.
pub fn hh_mm(ts: Millis) -> String {
    let sod = ts.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}", sod / 3600, (sod / 60) % 60)
}

/// `--since`/`--until` as given: an instant, or a span before "now" (resolved when the command
/// knows its clock, so `PROXYDOC_NOW` applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    At(Millis),
    Before(Millis),
}

impl TimeArg {
    /// Reads an RFC 3339 instant (zone optional, UTC assumed) or a duration before now such as
    /// `90s`, `15m`, `2h`, `7d`, `1w`. A clap value parser.
    pub fn parse(text: &str) -> Result<TimeArg, String> {
        let text = text.trim();
        if let Some(ms) = parse_duration(text) {
            return Ok(TimeArg::Before(ms));
        }
        if let Ok(("", (ts, _))) = timestamp(text) {
            return Ok(TimeArg::At(ts));
        }
        Err(format!(
            "`{text}` is neither an RFC 3339 time (2024-05-19T06:10:00Z) nor a relative duration (30m, 2h, 7d)"
        ))
    }

    pub fn resolve(self, now: Millis) -> Millis {
        match self {
            TimeArg::At(ts) => ts,
            TimeArg::Before(span) => now - span,
        }
    }
}

/// Reads `--since`/`--until` against `now`.
pub fn parse_time_arg(text: &str, now: Millis) -> Result<Millis, String> {
    TimeArg::parse(text).map(|t| t.resolve(now))
}

/// A duration argument greater than zero (`30s`, `15m`, `2h`, `1h30m`). A clap value parser.
pub fn duration_arg(text: &str) -> Result<std::time::Duration, String> {
    match parse_duration(text.trim()) {
        Some(ms) if ms > 0 => Ok(std::time::Duration::from_millis(
            u64::try_from(ms).unwrap_or(u64::MAX),
        )),
        _ => Err(format!("`{text}` is not a duration such as 30s, 15m or 2h")),
    }
}

/// A duration such as `30s`, `15m`, `2h`, `7d`, `1w`, or combined `1h30m`, in milliseconds.
pub fn parse_duration(text: &str) -> Option<Millis> {
    if text.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(digit))?,
            );
            continue;
        }
        let unit = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 7 * 86_400_000,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 11_016, 19_000, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn renders_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_666_373_129_482), "2022-10-21T17:25:29.482Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn rejects_impossible_dates() {
        let base = DateTimeParts {
            year: 2023,
            month: 2,
            day: 29,
            ..Default::default()
        };
        assert_eq!(to_millis(base), None);
        assert!(to_millis(DateTimeParts { year: 2024, ..base }).is_some());
        assert_eq!(
            to_millis(DateTimeParts {
                month: 13,
                day: 1,
                ..base
            }),
            None
        );
    }

    /// `to_millis` without the remembered day.
    fn to_millis_uncached(p: DateTimeParts) -> Option<Millis> {
        if !(1..=12).contains(&p.month)
            || p.day == 0
            || p.day > days_in_month(p.year, p.month)
            || p.hour > 23
            || p.minute > 59
            || p.second > 60
            || p.millis > 999
        {
            return None;
        }
        let secs = days_from_civil(p.year, p.month, p.day) * 86_400
            + i64::from(p.hour) * 3600
            + i64::from(p.minute) * 60
            + i64::from(p.second)
            - i64::from(p.offset_minutes) * 60;
        Some(secs * 1000 + i64::from(p.millis))
    }

    proptest::proptest! {
        /// Any sequence of dates, valid or not and repeating, gets the answers each date gets
        /// alone: the day remembered from the line before never stands in for another.
        #[test]
        fn the_remembered_day_changes_no_answer(
            parts in proptest::collection::vec(
                (1999i64..2002, 0u32..14, 0u32..33, 0u32..25, 0u32..61, -600i32..600),
                1..200,
            ),
        ) {
            for (year, month, day, hour, second, offset_minutes) in parts {
                let p = DateTimeParts {
                    year,
                    month,
                    day,
                    hour,
                    minute: second % 60,
                    second,
                    millis: 999,
                    offset_minutes,
                };
                proptest::prop_assert_eq!(to_millis(p), to_millis_uncached(p));
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h"), Some(7_200_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("7d"), Some(604_800_000));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }

    #[test]
    fn time_args() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time_arg("2h", now), Ok(now - 7_200_000));
        assert_eq!(
            parse_time_arg("2022-10-21T17:25:29.482Z", now),
            Ok(1_666_373_129_482)
        );
        assert_eq!(
            parse_time_arg("2022-10-21T19:25:29.482+02:00", now),
            Ok(1_666_373_129_482)
        );
        assert!(parse_time_arg("yesterday", now).is_err());
    }
}
