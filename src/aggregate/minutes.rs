//! Events per minute and kind: the timeline that onsets, rules and the report read.
//!
//! It grows with the input's time span, so it is kept small: a minute costs its counts, 16-bit
//! (34 bytes), and its place in a table of the minutes that have lines ([`ByMinute`]); a
//! count that outgrows its slot (more than 65,535 events of a kind in a minute) is kept aside
//! by minute and kind. The timeline read at the end has `u32` counts (a minute of proxy log
//! never holds four billion lines of one kind; adds saturate). Beside the counts, the first
//! and last database connection opened in each minute that has one (whether the proxy opened
//! any while clients arrived is asked to the millisecond), 16 bytes a minute.
//!
//! Past [`MAX_BUCKETS`] minutes with lines (208 days of them), the timeline is counted in
//! wider buckets ([`super::by_minute::wider`]), and says how wide: a `Bucket` is then that
//! many minutes from its `minute`, and the connections opened are known to the bucket.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher as FxBuild;

use super::by_minute::{ByMinute, MAX_BUCKETS, bucket_of, wider};
use crate::model::{EventKind, Millis};

/// Kinds of event: the width of a minute's counts.
pub const KINDS: usize = EventKind::ALL.len();

const MINUTE: i64 = 60_000;

/// The kind whose time range is kept per minute.
const OPENED: usize = EventKind::DbConnectionOpened.index() as usize;

/// Events per kind, one slot per [`EventKind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts([u32; KINDS]);

impl KindCounts {
    pub fn get(&self, kind: EventKind) -> u64 {
        self.0
            .get(kind.index() as usize)
            .map_or(0, |&n| u64::from(n))
    }

    /// Events of any of `kinds`.
    pub fn sum(&self, kinds: &[EventKind]) -> u64 {
        kinds.iter().map(|k| self.get(*k)).sum()
    }

    pub fn add(&mut self, kind: EventKind, n: u64) {
        if let Some(slot) = self.0.get_mut(kind.index() as usize) {
            *slot = saturating(u64::from(*slot) + n);
        }
    }

    /// Removes a kind's events, returning them.
    pub fn take(&mut self, kind: EventKind) -> u64 {
        self.0
            .get_mut(kind.index() as usize)
            .map_or(0, |n| u64::from(std::mem::take(n)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&n| n == 0)
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|&n| u64::from(n)).sum()
    }

    /// Events of failure kinds.
    pub fn failures(&self) -> u64 {
        self.iter()
            .filter(|(kind, _)| kind.is_failure())
            .map(|(_, n)| n)
            .sum()
    }

    /// The kinds with any events, in kind order.
    pub fn iter(&self) -> impl Iterator<Item = (EventKind, u64)> + '_ {
        EventKind::ALL
            .into_iter()
            .zip(self.0)
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| (kind, u64::from(n)))
    }
}

impl FromIterator<(EventKind, u64)> for KindCounts {
    fn from_iter<I: IntoIterator<Item = (EventKind, u64)>>(iter: I) -> KindCounts {
        let mut counts = KindCounts::default();
        for (kind, n) in iter {
            counts.add(kind, n);
        }
        counts
    }
}

fn saturating(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One minute of the timeline (or one bucket of [`Timeline::minutes`] minutes from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub minute: Millis,
    pub counts: KindCounts,
    pub failures: u64,
}

/// A minute with no time: events without a timestamp are counted, but not in the timeline.
const NO_MINUTE: i64 = i64::MIN;

/// The time range of the database connections opened in a minute (the empty range: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opened {
    first: i64,
    last: i64,
}

impl Default for Opened {
    fn default() -> Opened {
        Opened {
            first: i64::MAX,
            last: i64::MIN,
        }
    }
}

impl Opened {
    fn add(&mut self, first: i64, last: i64) {
        self.first = self.first.min(first);
        self.last = self.last.max(last);
    }
}

/// A minute's counts as the table keeps them: in a minute, most kinds have fewer than 65,536
/// events, and a count that reaches it goes to [`MinuteBuffer::overflow`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SmallCounts([u16; KINDS]);

/// The timeline as it is built, one per worker.
#[derive(Clone)]
pub struct MinuteBuffer {
    counts: ByMinute<SmallCounts>,
    /// The counts that outgrew their 16-bit slot, by (minute, kind): the slot's events and the
    /// events added after them (the slot starts again from zero).
    overflow: HashMap<(i64, u8), u64, FxBuild>,
    /// The minute being counted, its counts and its connections opened, added to their
    /// tables when a line of another minute comes: most lines fall in the minute of the line
    /// before them, so most lines cost an array slot instead of a hash probe.
    minute: i64,
    current: [u64; KINDS],
    current_opened: Opened,
    opened: ByMinute<Opened>,
    /// Minutes per bucket of the tables: 1 until they hold more than `cap` buckets, then the
    /// next width of the ladder that fits.
    width: i64,
    cap: usize,
}

/// The timeline as the summary reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The buckets with events, in order.
    pub buckets: Vec<Bucket>,
    /// The time ranges of the database connections opened, one per bucket with any, in order.
    pub opened: Vec<(i64, i64)>,
    /// Minutes per bucket: 1, or more past [`MAX_BUCKETS`] minutes with lines.
    pub minutes: i64,
}

impl Default for MinuteBuffer {
    fn default() -> MinuteBuffer {
        MinuteBuffer {
            counts: ByMinute::default(),
            overflow: HashMap::default(),
            minute: NO_MINUTE,
            current: [0; KINDS],
            current_opened: Opened::default(),
            opened: ByMinute::default(),
            width: 1,
            cap: MAX_BUCKETS,
        }
    }
}

impl MinuteBuffer {
    /// A timeline that keeps at most `cap` buckets (tests use small caps).
    #[cfg(test)]
    fn with_cap(cap: usize) -> MinuteBuffer {
        MinuteBuffer {
            cap,
            ..MinuteBuffer::default()
        }
    }

    /// Counts `n` events of `kind` (an [`EventKind::index`]) in the minute of `at` (epoch
    /// ms; `None` for untimed events, which are not in the timeline); `first`/`last` are
    /// their time range. Inlined: it runs for every event and mostly adds to an array slot.
    #[inline]
    pub fn push(
        &mut self,
        kind: u32,
        n: u64,
        at: Option<i64>,
        first: Option<i64>,
        last: Option<i64>,
    ) {
        let Some(at) = at else {
            return;
        };
        let minute = at.div_euclid(MINUTE);
        if minute != self.minute {
            self.flush();
            self.minute = minute;
        }
        let kind = kind as usize;
        if let Some(slot) = self.current.get_mut(kind) {
            *slot += n;
        }
        if kind == OPENED
            && let (Some(first), Some(last)) = (first, last)
        {
            self.current_opened.add(first, last);
        }
    }

    /// Adds the current minute's counts and connections opened to their tables (once a
    /// minute of the log: kept out of [`MinuteBuffer::push`]'s inlined body).
    #[inline(never)]
    fn flush(&mut self) {
        if self.minute == NO_MINUTE {
            return;
        }
        let bucket = bucket_of(self.minute, self.width);
        if self.current.iter().any(|&n| n > 0) {
            let counts = std::mem::replace(&mut self.current, [0; KINDS]);
            self.add_counts(bucket, counts);
        }
        let opened = std::mem::take(&mut self.current_opened);
        if opened != Opened::default() {
            self.opened.slot(bucket).add(opened.first, opened.last);
        }
        self.fit();
    }

    /// Widens the buckets until they are at most `cap`.
    fn fit(&mut self) {
        while self.counts.len() > self.cap && self.width < i64::MAX {
            self.widen(wider(self.width));
        }
    }

    /// Counts the tables in buckets of `width` minutes (a width of the ladder at least the
    /// current one): the counts, what outgrew them, and the connections opened.
    fn widen(&mut self, width: i64) {
        if width <= self.width {
            return;
        }
        self.width = width;
        let counts = std::mem::take(&mut self.counts);
        for (minute, small) in counts.into_unsorted() {
            self.add_counts(bucket_of(minute, width), small.0.map(u64::from));
        }
        let overflow = std::mem::take(&mut self.overflow);
        for ((minute, kind), n) in overflow {
            let spilled = self
                .overflow
                .entry((bucket_of(minute, width), kind))
                .or_default();
            *spilled = spilled.saturating_add(n);
        }
        self.opened = std::mem::take(&mut self.opened)
            .widened(width, |into, range| into.add(range.first, range.last));
    }

    /// Adds events per kind to `minute`'s slot, a count that outgrows it to the overflow.
    fn add_counts(&mut self, minute: i64, counts: [u64; KINDS]) {
        let slot = self.counts.slot(minute);
        for ((kind, small), n) in (0u8..).zip(slot.0.iter_mut()).zip(counts) {
            if n == 0 {
                continue;
            }
            let total = u64::from(*small).saturating_add(n);
            match u16::try_from(total) {
                Ok(total) => *small = total,
                Err(_) => {
                    *small = 0;
                    let spilled = self.overflow.entry((minute, kind)).or_default();
                    *spilled = spilled.saturating_add(total);
                }
            }
        }
    }

    /// Adds another worker's timeline: both in the wider of their widths, then widened
    /// further if the sum holds more than the cap (so the width is the one a single worker
    /// reading both would have reached).
    pub fn merge(&mut self, mut other: MinuteBuffer) {
        self.flush();
        other.flush();
        let width = self.width.max(other.width);
        self.widen(width);
        other.widen(width);
        let MinuteBuffer {
            counts,
            overflow,
            opened,
            ..
        } = other;
        // The smaller table of each kind is added to the larger (adding is commutative).
        let (mut counts, mut opened) = (counts, opened);
        if opened.len() > self.opened.len() {
            std::mem::swap(&mut self.opened, &mut opened);
        }
        for (minute, range) in opened.into_unsorted() {
            self.opened.slot(minute).add(range.first, range.last);
        }
        if counts.len() > self.counts.len() {
            std::mem::swap(&mut self.counts, &mut counts);
        }
        for (minute, small) in counts.into_unsorted() {
            self.add_counts(minute, small.0.map(u64::from));
        }
        for (key, n) in overflow {
            let spilled = self.overflow.entry(key).or_default();
            *spilled = spilled.saturating_add(n);
        }
        self.fit();
    }

    /// The buckets with events in order, the time ranges of the database connections opened
    /// (one per bucket with any, in order), and the buckets' width.
    pub fn finish(mut self) -> Timeline {
        self.flush();
        let minutes = self.width;
        let bucket = |minute: i64, counts: KindCounts| Bucket {
            minute: minute.saturating_mul(MINUTE),
            counts,
            failures: counts.failures(),
        };
        let mut timeline: Vec<Bucket> = self
            .counts
            .into_sorted()
            .map(|(minute, small)| bucket(minute, KindCounts(small.0.map(u32::from))))
            .collect();
        // The counts that outgrew their slots (a minute of more than 65,535 events of a kind:
        // rare), added to their minutes.
        let mut overflow: Vec<((i64, u8), u64)> = self.overflow.into_iter().collect();
        overflow.sort_unstable();
        for ((minute, kind), n) in overflow {
            let Some(kind) = EventKind::from_index(u32::from(kind)) else {
                continue;
            };
            let at = minute.saturating_mul(MINUTE);
            let place = match timeline.binary_search_by_key(&at, |b| b.minute) {
                Ok(place) => place,
                Err(place) => {
                    timeline.insert(place, bucket(minute, KindCounts::default()));
                    place
                }
            };
            if let Some(b) = timeline.get_mut(place) {
                b.counts.add(kind, n);
                b.failures = b.counts.failures();
            }
        }
        let mut opened: Vec<(i64, i64)> = self
            .opened
            .into_sorted()
            .map(|(_, range)| (range.first, range.last))
            .collect();
        opened.sort_unstable();
        Timeline {
            buckets: timeline,
            opened,
            minutes,
        }
    }
}

/// Events per kind in three phases around an onset: before `lead_from` (early), from
/// `lead_from` to before `at` (the lead-up), and from `at` to `end` inclusive (after).
/// Minutes after `end` are left out. Rows: (kind, early, lead, after), for the kinds with any.
pub fn phase_counts(
    timeline: &[Bucket],
    lead_from: i64,
    at: i64,
    end: i64,
) -> Vec<(EventKind, u64, u64, u64)> {
    let mut phases = [[0u64; 3]; KINDS];
    for bucket in timeline.iter().take_while(|b| b.minute <= end) {
        let phase = if bucket.minute < lead_from {
            0
        } else if bucket.minute < at {
            1
        } else {
            2
        };
        for (slot, n) in phases.iter_mut().zip(bucket.counts.0) {
            slot[phase] += u64::from(n);
        }
    }
    EventKind::ALL
        .into_iter()
        .zip(phases)
        .filter(|(_, p)| p.iter().any(|&n| n > 0))
        .map(|(kind, [early, lead, after])| (kind, early, lead, after))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECTED: u32 = EventKind::ClientConnected.index();
    const AUTH_FAILED: u32 = EventKind::AuthFailed.index();

    #[test]
    fn minutes_in_order_from_any_order_of_lines() {
        let mut buffer = MinuteBuffer::default();
        // Minutes 40, 3 and 17, and again 3; one untimed line.
        for (minute, kind) in [
            (40, CONNECTED),
            (3, AUTH_FAILED),
            (17, CONNECTED),
            (3, CONNECTED),
        ] {
            let at = minute * MINUTE + 59_999;
            buffer.push(kind, 1, Some(at), Some(at), Some(at));
        }
        buffer.push(CONNECTED, 5, None, None, None);
        let Timeline {
            buckets: timeline,
            opened,
            minutes: width,
        } = buffer.finish();
        assert_eq!(width, 1);
        let minutes: Vec<i64> = timeline.iter().map(|b| b.minute / MINUTE).collect();
        assert_eq!(minutes, vec![3, 17, 40]);
        assert_eq!(timeline[0].counts.total(), 2);
        assert_eq!(timeline[0].failures, 1);
        assert!(opened.is_empty());
    }

    #[test]
    fn merged_workers_give_one_workers_timeline() {
        let lines: Vec<(u32, i64)> = (0..500)
            .map(|i| {
                (
                    if i % 7 == 0 { AUTH_FAILED } else { CONNECTED },
                    i * 13_001 - 200_000,
                )
            })
            .collect();
        let mut one = MinuteBuffer::default();
        let (mut a, mut b) = (MinuteBuffer::default(), MinuteBuffer::default());
        for (i, &(kind, at)) in lines.iter().enumerate() {
            one.push(kind, 1, Some(at), Some(at), Some(at));
            let worker = if (i / 37) % 2 == 0 { &mut a } else { &mut b };
            worker.push(kind, 1, Some(at), Some(at), Some(at));
        }
        a.merge(b);
        assert_eq!(a.finish(), one.finish());
    }

    proptest::proptest! {
        /// Counts beyond a 16-bit slot (a minute of an authentication storm) are kept whole,
        /// in one worker or merged from several, in any order of the pushes: the timeline is
        /// the sums of the pushes, per minute and kind.
        #[test]
        fn counts_beyond_sixteen_bits_are_kept(
            pushes in proptest::collection::vec(
                (0i64..6, 0u32..3, proptest::prop_oneof![1u64..5, 30_000u64..70_000], 0usize..3),
                0..60,
            ),
        ) {
            let mut sums: std::collections::BTreeMap<(i64, u32), u64> = Default::default();
            let mut one = MinuteBuffer::default();
            let mut workers = [MinuteBuffer::default(), MinuteBuffer::default(), MinuteBuffer::default()];
            for &(minute, kind, n, worker) in &pushes {
                let at = (minute * 7) * MINUTE + 1_000;
                *sums.entry((at, kind)).or_default() += n;
                one.push(kind, n, Some(at), Some(at), Some(at));
                if let Some(w) = workers.get_mut(worker) {
                    w.push(kind, n, Some(at), Some(at), Some(at));
                }
            }
            let [mut merged, b, c] = workers;
            merged.merge(b);
            merged.merge(c);
            let expected: Vec<(i64, u32, u64)> = sums.into_iter().map(|((at, kind), n)| ((at / MINUTE) * MINUTE, kind, n)).collect();
            for timeline in [one.finish().buckets, merged.finish().buckets] {
                let got: Vec<(i64, u32, u64)> = timeline
                    .iter()
                    .flat_map(|b| b.counts.iter().map(move |(kind, n)| (b.minute, kind.index(), n)))
                    .collect();
                proptest::prop_assert_eq!(&got, &expected);
                for b in &timeline {
                    proptest::prop_assert_eq!(b.failures, b.counts.failures());
                }
            }
        }
    }

    #[test]
    fn database_connections_opened_keep_their_range() {
        let mut buffer = MinuteBuffer::default();
        let opened = EventKind::DbConnectionOpened.index();
        buffer.push(opened, 1, Some(61_000), Some(61_000), Some(61_000));
        buffer.push(opened, 1, Some(119_000), Some(119_000), Some(119_000));
        buffer.push(opened, 1, Some(5_000), Some(5_000), Some(5_000));
        let opened = buffer.finish().opened;
        assert_eq!(opened, vec![(5_000, 5_000), (61_000, 119_000)]);
    }

    #[test]
    fn counts_saturate() {
        let mut counts = KindCounts::default();
        counts.add(EventKind::AuthFailed, u64::from(u32::MAX) - 1);
        counts.add(EventKind::AuthFailed, 5);
        assert_eq!(counts.get(EventKind::AuthFailed), u64::from(u32::MAX));
    }

    #[test]
    fn phases_from_the_timeline() {
        let mut buffer = MinuteBuffer::default();
        // Kind 1 every minute 0..10, kind 2 twice a minute from minute 6.
        for minute in 0..10i64 {
            let at = minute * MINUTE + 5;
            buffer.push(1, 1, Some(at), Some(at), Some(at));
            if minute >= 6 {
                buffer.push(2, 2, Some(at), Some(at), Some(at));
            }
        }
        let timeline = buffer.finish().buckets;
        // Early before minute 2, lead-up 2..6, after 6..=8 (minute 9 is past the end).
        let phases = phase_counts(&timeline, 2 * MINUTE, 6 * MINUTE, 8 * MINUTE);
        let kind = |i| EventKind::from_index(i).unwrap();
        assert_eq!(phases, vec![(kind(1), 2, 4, 3), (kind(2), 0, 0, 6)]);
    }

    /// Past its cap, a timeline is counted in the narrowest width of the ladder that fits,
    /// and is the minutes' sums per bucket: for one worker, and for workers that each saw
    /// part of the lines (in any order), widened to the wider of their widths and then as the
    /// sum needs.
    #[test]
    fn a_long_timeline_is_counted_in_wider_buckets() {
        let cap = 50;
        let opened = EventKind::DbConnectionOpened.index();
        // 400 minutes with lines over 2,000 minutes: more than 50 buckets of 2 minutes, 200
        // of them, and of 10 minutes (200 buckets), 50 or fewer of 30 minutes (67): of 60.
        let lines: Vec<(u32, i64)> = (0..400i64)
            .flat_map(|i| {
                let minute = i * 5 + i % 3;
                let kind = if i % 4 == 0 { opened } else { CONNECTED };
                [
                    (kind, minute * MINUTE + 1_000),
                    (AUTH_FAILED, minute * MINUTE + 59_000),
                ]
            })
            .collect();
        let mut one = MinuteBuffer::with_cap(cap);
        let mut workers = [
            MinuteBuffer::with_cap(cap),
            MinuteBuffer::with_cap(cap),
            MinuteBuffer::with_cap(cap),
        ];
        let mut sums: std::collections::BTreeMap<(i64, u32), u64> = Default::default();
        let mut ranges: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
        for (i, &(kind, at)) in lines.iter().enumerate() {
            one.push(kind, 1, Some(at), Some(at), Some(at));
            // Runs of lines to one worker, the third worker only early on.
            let worker = if i < 90 { 2 } else { (i / 17) % 2 };
            workers[worker].push(kind, 1, Some(at), Some(at), Some(at));
            let bucket = (at / MINUTE).div_euclid(60) * 60 * MINUTE;
            *sums.entry((bucket, kind)).or_default() += 1;
            if kind == opened {
                let range = ranges.entry(bucket).or_insert((at, at));
                *range = (range.0.min(at), range.1.max(at));
            }
        }
        let [mut merged, b, c] = workers;
        merged.merge(c);
        merged.merge(b);
        let one = one.finish();
        assert_eq!(one.minutes, 60);
        assert!(one.buckets.len() <= cap);
        let got: std::collections::BTreeMap<(i64, u32), u64> = one
            .buckets
            .iter()
            .flat_map(|b| {
                b.counts
                    .iter()
                    .map(move |(kind, n)| ((b.minute, kind.index()), n))
            })
            .collect();
        assert_eq!(got, sums);
        assert_eq!(one.opened, ranges.into_values().collect::<Vec<_>>());
        assert_eq!(merged.finish(), one);
    }

    proptest::proptest! {
        /// Whatever the cap, the minutes and the way the lines are dealt to workers (to one to
        /// three of them, one maybe idle, merged in any order), the merged timeline is the one
        /// worker's: the same width, the same counts per bucket and the same connections
        /// opened.
        #[test]
        fn widened_workers_merge_to_one_workers_timeline(
            lines in proptest::collection::vec(
                (
                    proptest::prop_oneof![0i64..50, 0i64..5_000, 0i64..400_000],
                    0u32..3,
                    1u64..4,
                    0usize..3,
                ),
                0..150,
            ),
            cap in 1usize..24,
            swap in proptest::bool::ANY,
            idle in 0usize..4,
        ) {
            let opened = EventKind::DbConnectionOpened.index();
            let mut one = MinuteBuffer::with_cap(cap);
            let mut workers: [MinuteBuffer; 3] = std::array::from_fn(|_| MinuteBuffer::with_cap(cap));
            for &(minute, kind, n, worker) in &lines {
                let kind = if kind == 2 { opened } else { kind };
                let at = minute * MINUTE + 7_000;
                one.push(kind, n, Some(at), Some(at), Some(at + 1));
                // One worker (or none) may get no line at all.
                let worker = if worker == idle { (worker + 1) % 3 } else { worker };
                if let Some(w) = workers.get_mut(worker) {
                    w.push(kind, n, Some(at), Some(at), Some(at + 1));
                }
            }
            let [mut a, mut b, c] = workers;
            if swap {
                std::mem::swap(&mut a, &mut b);
            }
            b.merge(c);
            a.merge(b);
            let one = one.finish();
            proptest::prop_assert!(one.buckets.len() <= cap);
            proptest::prop_assert_eq!(a.finish(), one);
        }
    }

    /// Counts that outgrew their 16-bit slots stay whole when their minutes are widened into
    /// one bucket, and buckets whose sums outgrow the slots keep them too.
    #[test]
    fn widened_buckets_keep_large_counts() {
        let mut buffer = MinuteBuffer::with_cap(3);
        for minute in 0..8i64 {
            buffer.push(CONNECTED, 40_000, Some(minute * MINUTE), None, None);
        }
        buffer.push(CONNECTED, 70_000, Some(3 * MINUTE), None, None);
        let timeline = buffer.finish();
        assert_eq!(timeline.minutes, 10);
        let counts: Vec<(i64, u64)> = timeline
            .buckets
            .iter()
            .map(|b| (b.minute, b.counts.get(EventKind::ClientConnected)))
            .collect();
        assert_eq!(counts, vec![(0, 8 * 40_000 + 70_000)]);
    }
}
