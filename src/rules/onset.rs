//! A finding's onset: when its incident began and the rates that changed then, as data for
//! the report and as one line for people ("started 02:12; database connections opened: 6/min
//! before, 0 after").

use crate::aggregate::onset::Onset;
use crate::model::{EventKind, FindingOnset, Millis, RateChange};
use crate::timefmt;

/// What people call each kind in an onset line.
pub fn label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::ClientConnected => "client connections",
        EventKind::AuthSucceeded => "successful authentications",
        EventKind::AuthFailed => "authentication failures",
        EventKind::CredentialsError => "secret read failures",
        EventKind::DbConnectionOpened => "database connections opened",
        EventKind::DbConnectionClosed => "database connections closed",
        EventKind::DbConnectionReleased => "database connections released",
        EventKind::ClientClosed => "client connections closed",
        EventKind::Pinned => "pinned sessions",
        EventKind::WillPin => "pinning warnings",
        EventKind::BorrowTimeout => "borrow timeouts",
        EventKind::ConnectionLimit => "connection limit errors",
        EventKind::TlsError => "TLS errors",
        EventKind::UnsupportedClient => "unsupported client errors",
        EventKind::DbError => "database errors",
        EventKind::NetworkTimeout => "network timeouts",
        EventKind::AppPoolTimeout => "application pool timeouts",
        EventKind::Unclassified => "unclassified lines",
    }
}

/// `6`, `0.5`, `12`: a rate per minute as people write it.
pub fn rate(value: f64) -> String {
    if value == 0.0 {
        "0".to_string()
    } else if value >= 10.0 || (value - value.round()).abs() < 0.05 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The onset time as people read it: `02:12` when the input is one day, else with the date.
pub fn when(at: Millis, window: Option<(Millis, Millis)>) -> String {
    let day = |t: Millis| t.div_euclid(86_400_000);
    let one_day = window.is_none_or(|(a, b)| day(a) == day(b));
    if one_day {
        format!("{} UTC", timefmt::hh_mm(at))
    } else {
        let full = timefmt::rfc3339(at);
        format!("{} {} UTC", &full[..10.min(full.len())], timefmt::hh_mm(at))
    }
}

/// The onset of a finding from `onset`, naming the rates of `kinds` that changed (at most
/// three, in the order given; kinds seen neither before nor after are left out).
pub fn describe(
    onset: &Onset,
    kinds: &[EventKind],
    window: Option<(Millis, Millis)>,
) -> FindingOnset {
    let changes: Vec<RateChange> = kinds
        .iter()
        .map(|&kind| RateChange {
            kind,
            before_per_minute: onset.before_per_minute(&[kind]),
            after_per_minute: onset.after_per_minute(&[kind]),
        })
        .filter(|c| c.after_per_minute > 0.0 || c.before_per_minute.is_some_and(|b| b > 0.0))
        .filter(|c| {
            c.before_per_minute
                .is_none_or(|b| rate(b) != rate(c.after_per_minute))
        })
        .take(3)
        .collect();
    let mut summary = format!("started {}", when(onset.at, window));
    if onset.before_minutes == 0 {
        summary.push_str(" (the start of the input)");
    }
    for change in &changes {
        let what = label(change.kind);
        match change.before_per_minute {
            Some(before) => summary.push_str(&format!(
                "; {what}: {}/min before, {} after",
                rate(before),
                rate(change.after_per_minute)
            )),
            None => summary.push_str(&format!("; {what}: {}/min", rate(change.after_per_minute))),
        }
    }
    FindingOnset {
        at: onset.at,
        summary,
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::onset::KindRate;

    #[test]
    fn one_line_names_what_changed() {
        let at = 1_764_036_720_000; // 2025-11-25T02:12:00Z
        let onset = Onset {
            at,
            end: at + 4 * 60_000,
            before_minutes: 60,
            lead_minutes: 10,
            after_minutes: 5,
            rates: vec![
                KindRate {
                    kind: EventKind::DbConnectionOpened,
                    early: 300,
                    lead: 60,
                    after: 0,
                },
                KindRate {
                    kind: EventKind::ClientConnected,
                    early: 500,
                    lead: 100,
                    after: 50,
                },
                KindRate {
                    kind: EventKind::BorrowTimeout,
                    early: 0,
                    lead: 0,
                    after: 40,
                },
            ],
        };
        let described = describe(
            &onset,
            &[
                EventKind::DbConnectionOpened,
                EventKind::DbConnectionReleased,
                EventKind::ClientConnected,
                EventKind::BorrowTimeout,
            ],
            Some((at - 3_600_000, at + 300_000)),
        );
        assert_eq!(
            described.summary,
            "started 02:12 UTC; database connections opened: 6/min before, 0 after; client connections: 10/min before, 10 after; borrow timeouts: 0/min before, 8 after"
                .replace("; client connections: 10/min before, 10 after", "")
        );
        assert_eq!(described.changes.len(), 2);
        assert_eq!(rate(0.5), "0.5");
        assert_eq!(rate(12.4), "12");
        assert_eq!(rate(3.0), "3");
    }
}
