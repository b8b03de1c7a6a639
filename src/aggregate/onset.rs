//! When an incident began, and what changed then: the plain logic over per-minute series.
//!
//! Real logs almost always start healthy, so a rule that looks at the whole input mistakes an
//! incident for its background (a database lost after a healthy hour still shows the hour's
//! database connections). An engineer looks at the moment things broke and compares the
//! minutes before with the minutes after; so does proxydoc:
//!
//! - the **failure onset** of a kind of failure is the first minute where it rises above the
//!   run's baseline and stays there ([`failure_onset`]);
//! - a **database silence** is the minute after the last database-side line when clients keep
//!   arriving for a while after it ([`db_silence`]): the signature of a target the proxy can no
//!   longer reach, which needs no failure line at all.
//!
//! The per-minute series come from the summary's timeline (counted per minute and kind in
//! `minutes.rs`); the rates before and after an onset are summed there too
//! (`minutes::phase_counts`). This module only decides.

use crate::model::{EventKind, Millis};

/// One minute in milliseconds.
pub const MINUTE: Millis = 60_000;

/// The minutes just before an onset that count as its lead-up (pinning that grows before
/// borrow timeouts shows here).
pub const LEAD_MINUTES: i64 = 10;

/// The counts of one kind before and after an onset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindRate {
    pub kind: EventKind,
    /// Events before the lead-up (from the start of the input).
    pub early: u64,
    /// Events in the [`LEAD_MINUTES`] before the onset.
    pub lead: u64,
    /// Events from the onset to the end of the incident.
    pub after: u64,
}

/// An incident's start and the rates around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Onset {
    /// The first minute of the incident (a minute boundary).
    pub at: Millis,
    /// The last minute counted as "after" (the last minute with failures, or the end of the
    /// input for a silence).
    pub end: Millis,
    /// Minutes of input before the onset (the early part and the lead-up together).
    pub before_minutes: i64,
    /// Minutes of the lead-up ([`LEAD_MINUTES`] or fewer when the input starts later).
    pub lead_minutes: i64,
    /// Minutes from the onset to `end`, inclusive.
    pub after_minutes: i64,
    /// Every kind seen in the timeline, with its counts in each phase.
    pub rates: Vec<KindRate>,
}

impl Onset {
    pub fn rate(&self, kind: EventKind) -> KindRate {
        self.rates
            .iter()
            .find(|r| r.kind == kind)
            .copied()
            .unwrap_or(KindRate {
                kind,
                early: 0,
                lead: 0,
                after: 0,
            })
    }

    /// Events per minute before the onset (early and lead-up together); `None` when the input
    /// starts at the onset.
    pub fn before_per_minute(&self, kinds: &[EventKind]) -> Option<f64> {
        (self.before_minutes > 0).then(|| {
            let n: u64 = kinds
                .iter()
                .map(|k| self.rate(*k))
                .map(|r| r.early + r.lead)
                .sum();
            n as f64 / self.before_minutes as f64
        })
    }

    /// Events per minute from the onset to the end.
    pub fn after_per_minute(&self, kinds: &[EventKind]) -> f64 {
        let n: u64 = kinds.iter().map(|k| self.rate(*k).after).sum();
        n as f64 / self.after_minutes.max(1) as f64
    }

    /// Events per minute in the lead-up; `None` when there is none.
    pub fn lead_per_minute(&self, kinds: &[EventKind]) -> Option<f64> {
        (self.lead_minutes > 0).then(|| {
            let n: u64 = kinds.iter().map(|k| self.rate(*k).lead).sum();
            n as f64 / self.lead_minutes as f64
        })
    }

    /// Events per minute before the lead-up; `None` when there is no such time.
    pub fn early_per_minute(&self, kinds: &[EventKind]) -> Option<f64> {
        let minutes = self.before_minutes - self.lead_minutes;
        (minutes > 0).then(|| {
            let n: u64 = kinds.iter().map(|k| self.rate(*k).early).sum();
            n as f64 / minutes as f64
        })
    }

    /// Events of `kinds` in the after window.
    pub fn after(&self, kinds: &[EventKind]) -> u64 {
        kinds.iter().map(|k| self.rate(*k).after).sum()
    }
}

/// The phases' bounds for an onset at `at` in an input whose timed minutes run from `start`
/// (bucket boundaries of a timeline of `width`-minute buckets): (before minutes, lead-up
/// minutes, lead-up start). The lead-up is whole buckets: [`LEAD_MINUTES`] rounded up to them.
pub fn phases(at: Millis, start: Millis, width: i64) -> (i64, i64, Millis) {
    let width = width.max(1);
    let before = ((at - start) / MINUTE).max(0);
    let lead = before.min((LEAD_MINUTES + width - 1) / width * width);
    (before, lead, at - lead * MINUTE)
}

/// The first minute where failures rise above the run's baseline and stay there, from
/// `failures` (per `step` of time, a minute or a wider bucket of the timeline, sorted; steps
/// with none may be absent) over the input's steps `start..=end`. Below, "minute" is a step.
///
/// The baseline is the lower quartile of failures per minute over every minute of the input
/// (a healthy background, as long as the incident covers less than three quarters of the
/// input); the threshold is twice the baseline plus one (at most half the worst minute), at
/// least 2 a minute and at least a fifth of the worst minute, so that stray failures in a
/// healthy hour do not count. A minute at or over it starts the incident when it holds there
/// (3 of the 5 minutes from it, 60% of those left at the end of the input) or is itself at
/// least half the worst minute. When the failures before that minute ran at more than a third
/// of the rate after it, nothing changed there: the incident began with the first failure.
/// `None` with fewer than 3 failures.
///
/// Computed from the minutes that have failures, not from every minute of the input: a line
/// whose time is decades off (a damaged or mistyped timestamp) makes the input's span millions
/// of minutes, and a count for each of them took gigabytes.
pub fn failure_onset(
    failures: &[(Millis, u64)],
    start: Millis,
    end: Millis,
    step: Millis,
) -> Option<Millis> {
    let total: u64 = failures.iter().map(|(_, n)| n).sum();
    let step = step.max(1);
    if total < 3 || end < start {
        return None;
    }
    // Minutes in the input, and (minute's index, failures) of those with any, each once.
    let len = (end - start) / step + 1;
    let mut failing: Vec<(i64, u64)> = failures
        .iter()
        .map(|&(minute, n)| ((minute - start) / step, n))
        .filter(|&(i, n)| (0..len).contains(&i) && n > 0)
        .collect();
    failing.sort_unstable_by_key(|&(i, _)| i);
    failing.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 += later.1;
        }
        same
    });
    // The lower quartile of every minute's failures: the minutes without any come first.
    let mut counts: Vec<u64> = failing.iter().map(|&(_, n)| n).collect();
    counts.sort_unstable();
    let zeros = len - counts.len() as i64;
    let quartile = len / 4;
    let baseline = if quartile < zeros {
        0
    } else {
        usize::try_from(quartile - zeros)
            .ok()
            .and_then(|at| counts.get(at).copied())
            .unwrap_or(0)
    };
    let peak = counts.last().copied().unwrap_or(0);
    // When the incident covers most of the input its rate is the quartile: half the worst
    // minute is then the bar.
    // At least 2 a minute: 2 per minute of a wider step (a rate, so that stray failures
    // that a wider step gathers do not make an incident either).
    let floor = 2 * u64::try_from(step / MINUTE).unwrap_or(1).max(1);
    let threshold = (2 * baseline + 1)
        .min(peak.div_ceil(2))
        .max(floor)
        .max(peak.div_ceil(5));
    // Only a minute with failures can reach the threshold (at least 2).
    let at = failing.iter().enumerate().find_map(|(k, &(i, n))| {
        if n < threshold {
            return None;
        }
        if 2 * n >= peak {
            return Some(i);
        }
        // 3 of the 5 minutes from it, or 60% of what is left at the end of the input.
        let window = (len - i).min(5);
        let above = failing
            .get(k..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&(j, _)| j < i + window)
            .filter(|&&(_, n)| n >= threshold)
            .count() as i64;
        (5 * above >= 3 * window).then_some(i)
    })?;
    // A change is a rate that at least triples; failures that ran at a third of that rate
    // before were already the incident: it began with the first of them.
    let before: u64 = failing
        .iter()
        .take_while(|&&(i, _)| i < at)
        .map(|&(_, n)| n)
        .sum();
    let after: u64 = failing.iter().map(|&(_, n)| n).sum::<u64>() - before;
    let rate = |n: u64, minutes: i64| n as f64 / minutes.max(1) as f64;
    let at = if at > 0 && 3.0 * rate(before, at) > rate(after, len - at) {
        failing.first().map_or(at, |&(i, _)| i)
    } else {
        at
    };
    Some(start + at * step)
}

/// The minute after the last database-side line, when clients keep connecting after it: at
/// least 5 client connections over at least 2 minutes. `db` and `clients` are counts per
/// `step` (a minute, or a wider bucket of the timeline, which is then the unit of "minute"
/// here); `None` when the log has no database-side line at all (that case is the whole-input
/// rule's) or the database side is active to the end.
pub fn db_silence(db: &[(Millis, u64)], clients: &[(Millis, u64)], step: Millis) -> Option<Millis> {
    let last_db = db.iter().filter(|(_, n)| *n > 0).map(|(m, _)| *m).max()?;
    let after: Vec<&(Millis, u64)> = clients
        .iter()
        .filter(|(m, n)| *m > last_db && *n > 0)
        .collect();
    let arrived: u64 = after.iter().map(|(_, n)| n).sum();
    (arrived >= 5 && after.len() >= 2).then_some(last_db + step)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_764_000_000_000 - 1_764_000_000_000 % MINUTE;

    /// Failures per minute from minute 0, as a sparse series.
    fn series(per_minute: &[u64]) -> Vec<(Millis, u64)> {
        per_minute
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (T0 + i as i64 * MINUTE, *n))
            .collect()
    }

    /// Over a timeline kept in wider buckets, the onset is the bucket of the minute the
    /// per-minute onset finds, and stray failures that a bucket gathers (two in ten minutes)
    /// are no more an incident than they were a minute at a time.
    #[test]
    fn an_onset_in_wider_buckets_is_the_bucket_of_the_minutes_onset() {
        let width = 10;
        let step = width * MINUTE;
        let start = T0 - T0.rem_euclid(step);
        // One failure every 4 minutes for three hours, then 20 a minute for half an hour from
        // minute 183.
        let per_minute: Vec<u64> = (0..213)
            .map(|m| if m >= 183 { 20 } else { u64::from(m % 4 == 1) })
            .collect();
        let in_buckets = |per_minute: &[u64]| -> Vec<(Millis, u64)> {
            let mut buckets: Vec<(Millis, u64)> = Vec::new();
            for (m, &n) in per_minute.iter().enumerate() {
                let at = start + (m as i64 / width) * step;
                match buckets.last_mut() {
                    Some(last) if last.0 == at => last.1 += n,
                    _ => buckets.push((at, n)),
                }
            }
            buckets.retain(|&(_, n)| n > 0);
            buckets
        };
        let end = |per_minute: &[u64]| start + (per_minute.len() as i64 - 1) / width * step;
        let minutes: Vec<(Millis, u64)> = per_minute
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(m, &n)| (start + m as i64 * MINUTE, n))
            .collect();
        let last = start + (per_minute.len() as i64 - 1) * MINUTE;
        assert_eq!(
            failure_onset(&minutes, start, last, MINUTE),
            Some(start + 183 * MINUTE)
        );
        assert_eq!(
            failure_onset(&in_buckets(&per_minute), start, end(&per_minute), step),
            Some(start + 180 * MINUTE)
        );
        // The stray failures alone: no incident in either.
        let stray = &per_minute[..183];
        let stray_minutes: Vec<(Millis, u64)> = minutes
            .iter()
            .copied()
            .filter(|&(m, _)| m < start + 183 * MINUTE)
            .collect();
        assert_eq!(
            failure_onset(&stray_minutes, start, start + 182 * MINUTE, MINUTE),
            None
        );
        assert_eq!(
            failure_onset(&in_buckets(stray), start, end(stray), step),
            None
        );
    }

    fn onset_minute(per_minute: &[u64]) -> Option<i64> {
        let end = T0 + (per_minute.len() as i64 - 1) * MINUTE;
        failure_onset(&series(per_minute), T0, end, MINUTE).map(|m| (m - T0) / MINUTE)
    }

    /// The onset as it was computed, over a count for every minute of the input: the
    /// reference the sparse computation must agree with.
    fn dense_failure_onset(
        failures: &[(Millis, u64)],
        start: Millis,
        end: Millis,
    ) -> Option<Millis> {
        let total: u64 = failures.iter().map(|(_, n)| n).sum();
        if total < 3 || end < start {
            return None;
        }
        let len = usize::try_from((end - start) / MINUTE + 1).ok()?;
        let mut dense = vec![0u64; len];
        for &(minute, n) in failures {
            if let Ok(i) = usize::try_from((minute - start) / MINUTE)
                && i < len
            {
                dense[i] += n;
            }
        }
        let mut sorted = dense.clone();
        sorted.sort_unstable();
        let baseline = sorted[len / 4];
        let peak = sorted[len - 1];
        let threshold = (2 * baseline + 1)
            .min(peak.div_ceil(2))
            .max(2)
            .max(peak.div_ceil(5));
        let at = (0..len).find(|&i| {
            if dense[i] < threshold {
                return false;
            }
            if 2 * dense[i] >= peak {
                return true;
            }
            let window = &dense[i..len.min(i + 5)];
            let above = window.iter().filter(|&&n| n >= threshold).count();
            5 * above >= 3 * window.len()
        })?;
        let rate = |part: &[u64]| part.iter().sum::<u64>() as f64 / part.len().max(1) as f64;
        let at = if at > 0 && 3.0 * rate(&dense[..at]) > rate(&dense[at..]) {
            dense.iter().position(|&n| n > 0).unwrap_or(at)
        } else {
            at
        };
        Some(start + at as i64 * MINUTE)
    }

    proptest::proptest! {
        /// The onset computed from the failing minutes is the one computed over every minute,
        /// for any failures: sparse or dense, unordered, repeated minutes, minutes outside the
        /// input's span or not on a minute's boundary, and any span.
        #[test]
        fn the_sparse_onset_is_the_dense_one(
            failures in proptest::collection::vec((-5i64..130, 0u64..40, 0i64..3), 0..60),
            span in 0i64..120,
            shift in -2i64..3,
        ) {
            let start = T0 + shift * 20_000;
            let end = start + span * MINUTE;
            let failures: Vec<(Millis, u64)> = failures
                .iter()
                .map(|&(minute, n, off)| (T0 + minute * MINUTE + off * 25_000, n))
                .collect();
            proptest::prop_assert_eq!(
                failure_onset(&failures, start, end, MINUTE),
                dense_failure_onset(&failures, start, end)
            );
        }
    }

    /// A line dated thousands of years off makes a span of billions of minutes: the onset is
    /// found without a count for each of them (the dense count took more memory than the
    /// machine has, and the run was killed).
    #[test]
    fn a_timestamp_decades_off_costs_no_memory() {
        let far = T0 + 3_000 * 365 * 24 * 60 * MINUTE;
        let mut failures = series(&[0, 0, 9, 8, 9, 9]);
        failures.push((far, 1));
        assert_eq!(
            failure_onset(&failures, T0, far, MINUTE),
            Some(T0 + 2 * MINUTE)
        );
        assert_eq!(
            failure_onset(&[(T0, 1), (far, 5)], T0, far, MINUTE),
            Some(far)
        );
    }

    #[test]
    fn failure_onset_on_hand_made_timelines() {
        let mut healthy_hour_then_outage = vec![0u64; 60];
        healthy_hour_then_outage.extend([12, 15, 14, 13, 15]);
        let mut stray_failures_then_outage = vec![0u64; 60];
        for i in [5, 17, 33, 34, 50] {
            stray_failures_then_outage[i] = 1;
        }
        stray_failures_then_outage.extend([20, 20, 20]);
        let mut noisy_background = vec![3u64; 40];
        noisy_background.extend([30, 40, 35]);
        let mut ramp = vec![0u64; 30];
        ramp.extend([1, 2, 4, 8, 16, 30, 30, 30]);
        let cases: Vec<(&str, Vec<u64>, Option<i64>)> = vec![
            (
                "a healthy hour, then an outage",
                healthy_hour_then_outage,
                Some(60),
            ),
            (
                "stray failures in the healthy hour do not count",
                stray_failures_then_outage,
                Some(60),
            ),
            (
                "a background of 3 a minute is the baseline",
                noisy_background,
                Some(40),
            ),
            (
                "a ramp starts where it passes a fifth of the peak and holds",
                ramp,
                Some(33),
            ),
            ("failures from the first minute", vec![5, 6, 5], Some(0)),
            (
                "one burst of a minute, half the peak",
                vec![0, 0, 0, 9, 0, 0, 0],
                Some(3),
            ),
            (
                "two failures in all: no incident",
                vec![0, 1, 0, 1, 0],
                None,
            ),
            (
                "the incident is most of the input",
                vec![0, 8, 9, 9, 9, 9, 9, 9],
                Some(1),
            ),
        ];
        for (name, minutes, expected) in cases {
            assert_eq!(onset_minute(&minutes), expected, "{name}: {minutes:?}");
        }
    }

    #[test]
    fn database_silence_needs_clients_after_the_last_database_line() {
        let minutes = |list: &[(i64, u64)]| -> Vec<(Millis, u64)> {
            list.iter().map(|(m, n)| (T0 + m * MINUTE, *n)).collect()
        };
        let db = minutes(&[(0, 5), (1, 6), (30, 4), (59, 5)]);
        // Clients keep coming for five minutes after the last database line at minute 59.
        let clients = minutes(&[(0, 5), (59, 5), (60, 4), (61, 3), (62, 5)]);
        assert_eq!(db_silence(&db, &clients, MINUTE), Some(T0 + 60 * MINUTE));
        // Only one minute of clients after it: the log may simply end there.
        let short = minutes(&[(0, 5), (59, 5), (60, 9)]);
        assert_eq!(db_silence(&db, &short, MINUTE), None);
        // Four clients in all: too few to say.
        let few = minutes(&[(60, 2), (61, 2)]);
        assert_eq!(db_silence(&db, &few, MINUTE), None);
        // No database line at all: the whole-input rule's case, not a silence.
        assert_eq!(db_silence(&[], &clients, MINUTE), None);
        // Database active to the end.
        assert_eq!(db_silence(&minutes(&[(62, 1)]), &clients, MINUTE), None);
    }

    #[test]
    fn rates_around_an_onset() {
        let (before, lead, lead_from) = phases(T0 + 60 * MINUTE, T0, 1);
        assert_eq!((before, lead, lead_from), (60, 10, T0 + 50 * MINUTE));
        let (before, lead, _) = phases(T0 + 4 * MINUTE, T0, 1);
        assert_eq!((before, lead), (4, 4));
        let onset = Onset {
            at: T0 + 60 * MINUTE,
            end: T0 + 64 * MINUTE,
            before_minutes: 60,
            lead_minutes: 10,
            after_minutes: 5,
            rates: vec![KindRate {
                kind: EventKind::DbConnectionOpened,
                early: 300,
                lead: 60,
                after: 0,
            }],
        };
        let opened = [EventKind::DbConnectionOpened];
        assert_eq!(onset.before_per_minute(&opened), Some(6.0));
        assert_eq!(onset.after_per_minute(&opened), 0.0);
        assert_eq!(onset.lead_per_minute(&opened), Some(6.0));
        assert_eq!(onset.early_per_minute(&opened), Some(6.0));
        assert_eq!(onset.rate(EventKind::BorrowTimeout).after, 0);
    }
}
