//! The earliest lines per key (an event kind, a cause): the evidence a finding shows.
//!
//! Every event is offered to its kind's and its cause's samples, so the offer is on the path
//! of every line: the samples are found by index (a kind's index, a cause's code), not in a
//! map, and once a key holds its [`EVIDENCE_PER_KEY`] lines the latest of them is remembered,
//! so a line that comes after it (nearly every line of a log read in time order) is turned
//! away by one comparison, before its text is looked at.

use crate::model::{Evidence, Millis};

use super::EVIDENCE_PER_KEY;

/// The order samples are kept in: by timestamp (a line without one last), then by the line's
/// place in the input.
fn rank(ts: Option<Millis>, seq: u64) -> (Millis, u64) {
    (ts.unwrap_or(Millis::MAX), seq)
}

fn order(e: &Evidence) -> (Millis, u64) {
    rank(e.ts, e.seq)
}

/// Samples as a finding shows them, earliest first.
fn earliest_first(mut samples: Vec<Evidence>) -> Vec<Evidence> {
    samples.sort_by_key(|e| (e.ts, e.seq));
    samples
}

/// The [`EVIDENCE_PER_KEY`] earliest lines of each key, keys being small numbers.
#[derive(Debug, Clone, Default)]
pub struct Earliest {
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    samples: Vec<Evidence>,
    /// The order of the latest sample once the slot is full: a line at or after it is not
    /// kept.
    bar: Option<(Millis, u64)>,
}

impl Slot {
    fn keep(&mut self, evidence: Evidence) {
        if self.samples.len() < EVIDENCE_PER_KEY {
            self.samples.push(evidence);
        } else if let Some((index, latest)) = self
            .samples
            .iter()
            .enumerate()
            .max_by_key(|(_, e)| order(e))
            && order(&evidence) < order(latest)
            && let Some(slot) = self.samples.get_mut(index)
        {
            *slot = evidence;
        }
        if self.samples.len() >= EVIDENCE_PER_KEY {
            self.bar = self.samples.iter().map(order).max();
        }
    }
}

impl Earliest {
    /// Offers the line `raw` (time `ts`, place `seq`) to `key`'s samples; its text is copied
    /// (clipped to 2,000 bytes) only when it is kept.
    #[inline]
    pub fn offer(&mut self, key: usize, ts: Option<Millis>, raw: &str, seq: u64) {
        if let Some(Slot { bar: Some(bar), .. }) = self.slots.get(key)
            && rank(ts, seq) >= *bar
        {
            return;
        }
        self.keep(
            key,
            Evidence {
                ts,
                text: super::clip(raw, 2000),
                seq,
            },
        );
    }

    /// Keeps `evidence` among `key`'s samples if it is one of the earliest.
    pub fn keep(&mut self, key: usize, evidence: Evidence) {
        if self.slots.len() <= key {
            self.slots.resize_with(key + 1, Slot::default);
        }
        if let Some(slot) = self.slots.get_mut(key) {
            slot.keep(evidence);
        }
    }

    /// Adds another worker's samples: the earliest of both.
    pub fn merge(&mut self, other: Earliest) {
        for (key, slot) in other.slots.into_iter().enumerate() {
            for evidence in slot.samples {
                self.keep(key, evidence);
            }
        }
    }

    /// `key`'s samples, earliest first.
    pub fn get(&self, key: usize) -> Vec<Evidence> {
        earliest_first(
            self.slots
                .get(key)
                .map(|slot| slot.samples.clone())
                .unwrap_or_default(),
        )
    }

    /// Every key that holds samples, with them earliest first.
    pub fn into_sorted(self) -> impl Iterator<Item = (usize, Vec<Evidence>)> {
        self.slots
            .into_iter()
            .enumerate()
            .filter(|(_, slot)| !slot.samples.is_empty())
            .map(|(key, slot)| (key, earliest_first(slot.samples)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The samples the plain rule keeps: the three smallest by (time or last, place).
    fn plain(lines: &[(Option<Millis>, u64)]) -> Vec<(Option<Millis>, u64)> {
        let mut sorted = lines.to_vec();
        sorted.sort_by_key(|&(ts, seq)| (ts.unwrap_or(Millis::MAX), seq));
        sorted.truncate(EVIDENCE_PER_KEY);
        sorted.sort();
        sorted
    }

    fn kept(earliest: &Earliest, key: usize) -> Vec<(Option<Millis>, u64)> {
        earliest.get(key).iter().map(|e| (e.ts, e.seq)).collect()
    }

    proptest! {
        /// In any order, split between two workers anywhere, a key keeps the earliest lines
        /// and their text.
        #[test]
        fn keeps_the_earliest_lines(
            times in proptest::collection::vec(proptest::option::weighted(0.9, 0i64..50), 0..40),
            split in 0usize..40,
            key in 0usize..4,
        ) {
            // Places are distinct, as a run numbers its lines.
            let lines: Vec<(Option<Millis>, u64)> = times
                .iter()
                .enumerate()
                .map(|(i, &ts)| (ts, (i as u64 * 7919) % 1009))
                .collect();
            let split = split.min(lines.len());
            let mut one = Earliest::default();
            let mut two = Earliest::default();
            for (i, &(ts, seq)) in lines.iter().enumerate() {
                let text = format!("line {seq}");
                one.offer(key, ts, &text, seq);
                if i < split {
                    two.offer(key, ts, &text, seq);
                }
            }
            let mut rest = Earliest::default();
            for &(ts, seq) in lines.iter().skip(split) {
                rest.offer(key, ts, &format!("line {seq}"), seq);
            }
            two.merge(rest);
            let want = plain(&lines);
            let mut got = kept(&one, key);
            got.sort();
            prop_assert_eq!(&got, &want);
            let mut merged = kept(&two, key);
            merged.sort();
            prop_assert_eq!(&merged, &want);
            for e in one.get(key) {
                prop_assert_eq!(e.text, format!("line {}", e.seq));
            }
            // Other keys hold nothing.
            prop_assert!(one.into_sorted().all(|(k, _)| k == key));
        }
    }

    #[test]
    fn a_full_key_turns_later_lines_away_and_takes_earlier_ones() {
        let mut earliest = Earliest::default();
        for (ts, seq) in [(10, 1), (20, 2), (30, 3), (40, 4)] {
            earliest.offer(2, Some(ts), "x", seq);
        }
        assert_eq!(
            kept(&earliest, 2),
            [(Some(10), 1), (Some(20), 2), (Some(30), 3)]
        );
        // An untimed line comes after every timed one.
        earliest.offer(2, None, "x", 0);
        assert_eq!(
            kept(&earliest, 2),
            [(Some(10), 1), (Some(20), 2), (Some(30), 3)]
        );
        earliest.offer(2, Some(15), "x", 9);
        assert_eq!(
            kept(&earliest, 2),
            [(Some(10), 1), (Some(15), 9), (Some(20), 2)]
        );
        assert!(earliest.get(0).is_empty());
        // Lines out of order.
        let mut earliest = Earliest::default();
        for (seq, ts) in [(1, 50), (2, 40), (3, 30), (4, 10), (5, 60)] {
            earliest.offer(0, Some(ts), &ts.to_string(), seq);
        }
        let texts: Vec<String> = earliest.get(0).into_iter().map(|e| e.text).collect();
        assert_eq!(texts, ["10", "30", "40"]);
        assert!(earliest.get(7).is_empty());
    }
}
