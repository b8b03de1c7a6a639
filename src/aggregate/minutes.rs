//! Events per minute and kind: the timeline that onsets, rules and the report read.
//!
//! The only table that grows with the input's time span, so it is kept small: counts are
//! `u32` (a minute of proxy log never holds four billion lines of one kind; adds saturate)
//! and minutes are stored in blocks of [`BLOCK`] consecutive minutes, allocated when a block
//! has its first event, so a busy minute costs its 68 bytes of counts and no key of its own.
//! Beside the counts, the first and last database connection opened in each minute that has
//! one (whether the proxy opened any while clients arrived is asked to the millisecond).

use std::collections::HashMap;

use rustc_hash::FxBuildHasher as FxBuild;

use crate::model::{EventKind, Millis};

/// Kinds of event: the width of a minute's counts.
pub const KINDS: usize = EventKind::ALL.len();

/// Consecutive minutes per allocated block (a block of a busy log is 1 KiB).
const BLOCK: i64 = 16;

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

    fn add_all(&mut self, other: &KindCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = a.saturating_add(b);
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

/// One minute of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub minute: Millis,
    pub counts: KindCounts,
    pub failures: u64,
}

/// A minute with no time: events without a timestamp are counted, but not in the timeline.
const NO_MINUTE: i64 = i64::MIN;

/// The timeline as it is built, one per worker.
#[derive(Clone)]
pub struct MinuteBuffer {
    /// Blocks of [`BLOCK`] minutes by block number (minute since the epoch / `BLOCK`).
    blocks: HashMap<i64, Box<[KindCounts; BLOCK as usize]>, FxBuild>,
    /// The minute being counted and its counts, added to its block when a line of another
    /// minute comes: most lines fall in the minute of the line before them, so most lines
    /// cost an array slot instead of a hash probe.
    minute: i64,
    current: [u64; KINDS],
    opened: HashMap<i64, (i64, i64), FxBuild>,
}

impl Default for MinuteBuffer {
    fn default() -> MinuteBuffer {
        MinuteBuffer {
            blocks: HashMap::default(),
            minute: NO_MINUTE,
            current: [0; KINDS],
            opened: HashMap::default(),
        }
    }
}

impl MinuteBuffer {
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
            let range = self.opened.entry(minute).or_insert((first, last));
            *range = (range.0.min(first), range.1.max(last));
        }
    }

    /// Adds the current minute's counts to its block (once a minute of the log: kept out of
    /// [`MinuteBuffer::push`]'s inlined body).
    #[inline(never)]
    fn flush(&mut self) {
        if self.minute == NO_MINUTE || self.current.iter().all(|&n| n == 0) {
            return;
        }
        let counts = std::mem::replace(&mut self.current, [0; KINDS]);
        let slot = self.slot(self.minute);
        for (a, b) in slot.0.iter_mut().zip(counts) {
            *a = saturating(u64::from(*a) + b);
        }
    }

    fn slot(&mut self, minute: i64) -> &mut KindCounts {
        let block = self
            .blocks
            .entry(minute.div_euclid(BLOCK))
            .or_insert_with(|| Box::new([KindCounts::default(); BLOCK as usize]));
        let index = usize::try_from(minute.rem_euclid(BLOCK)).unwrap_or(0);
        &mut block[index]
    }

    /// Adds another worker's timeline; its blocks are freed as they are added.
    pub fn merge(&mut self, mut other: MinuteBuffer) {
        self.flush();
        other.flush();
        for (number, block) in other.blocks {
            match self.blocks.get_mut(&number) {
                Some(mine) => {
                    for (a, b) in mine.iter_mut().zip(block.iter()) {
                        a.add_all(b);
                    }
                }
                None => {
                    self.blocks.insert(number, block);
                }
            }
        }
        for (minute, (first, last)) in other.opened {
            let range = self.opened.entry(minute).or_insert((first, last));
            *range = (range.0.min(first), range.1.max(last));
        }
    }

    /// The minutes with events in order, and the time ranges of the database connections
    /// opened (one per minute with any, in order).
    pub fn finish(mut self) -> (Vec<Bucket>, Vec<(i64, i64)>) {
        self.flush();
        let mut numbers: Vec<i64> = self.blocks.keys().copied().collect();
        numbers.sort_unstable();
        let mut timeline = Vec::new();
        for number in numbers {
            let Some(block) = self.blocks.remove(&number) else {
                continue;
            };
            for (offset, counts) in (0..BLOCK).zip(block.iter()) {
                if !counts.is_empty() {
                    timeline.push(Bucket {
                        minute: (number * BLOCK + offset) * MINUTE,
                        counts: *counts,
                        failures: counts.failures(),
                    });
                }
            }
        }
        let mut opened: Vec<(i64, i64)> = self.opened.into_values().collect();
        opened.sort_unstable();
        (timeline, opened)
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
        // Minutes 40, 3 and 17 (three blocks), and again 3; one untimed line.
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
        let (timeline, opened) = buffer.finish();
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

    #[test]
    fn database_connections_opened_keep_their_range() {
        let mut buffer = MinuteBuffer::default();
        let opened = EventKind::DbConnectionOpened.index();
        buffer.push(opened, 1, Some(61_000), Some(61_000), Some(61_000));
        buffer.push(opened, 1, Some(119_000), Some(119_000), Some(119_000));
        buffer.push(opened, 1, Some(5_000), Some(5_000), Some(5_000));
        let (_, opened) = buffer.finish();
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
        let (timeline, _) = buffer.finish();
        // Early before minute 2, lead-up 2..6, after 6..=8 (minute 9 is past the end).
        let phases = phase_counts(&timeline, 2 * MINUTE, 6 * MINUTE, 8 * MINUTE);
        let kind = |i| EventKind::from_index(i).unwrap();
        assert_eq!(phases, vec![(kind(1), 2, 4, 3), (kind(2), 0, 0, 6)]);
    }
}
