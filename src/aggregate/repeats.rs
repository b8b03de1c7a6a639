//! Events that two inputs both hold: two downloads of overlapping windows (`filter-log-events`
//! for 10:00–11:00, then for 10:30–12:00), two S3 export tasks over overlapping time ranges
//! synced into one folder, a file concatenated from such downloads beside its parts. Every
//! such event is counted twice, and each session in both looks like two; the report says so.
//!
//! Found in fixed memory, whatever the input's length: an event is *sampled* when a hash of
//! its time and its message's length falls under a threshold, so the same event is sampled in
//! every input that holds it, and different inputs' samples can be compared. A sampled event
//! keeps a hash of its time and message, its time and its input. When [`MAX_SAMPLES`] are
//! held, the threshold halves and the samples above it go: the samples are then the events
//! under the lowest threshold that holds fewer than [`MAX_SAMPLES`] of them. That set depends
//! only on the events, not on how batches were split between workers, so merging the workers'
//! samples gives what one worker finds. A pair of inputs sharing samples of at least
//! [`MIN_SHARED`] different messages is reported, with the events shared estimated from the
//! sampling rate (exact while nothing was dropped). Different messages, because two sources
//! that log one message without ids hundreds of times a second (an application's "Connection
//! refused" on every instance, in a storm) share many (time, message) pairs by chance, while
//! a real repeat shares the varied lines too: the proxy's carry their connection ids.
//!
//! Only events with a time of their own are sampled: a text log's untimed line (a stack
//! trace's, or a proxy message printed without one) takes the time of the line before it,
//! while the same event read from the API has a time of its own, so the two would not match;
//! and a stack trace's lines are alike in every run of an application.

use std::hash::BuildHasher;

use crate::model::Millis;

/// The most samples held; 40 bytes each (640 KiB per worker at most).
pub const MAX_SAMPLES: usize = 1 << 14;

/// Different messages among a pair of inputs' shared samples for the pair to be reported:
/// fewer could be chance (two sources logging one message in the same millisecond).
pub const MIN_SHARED: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Sample {
    /// A hash of the time and the whole message: equal for the same event.
    full: u64,
    input: u32,
    /// A hash of the message alone.
    text: u64,
    ts: Millis,
    /// What decides the sampling ([`key_of`]).
    key: u64,
}

/// The samples of one worker (see the module docs).
#[derive(Debug, Clone)]
pub struct RepeatSketch {
    /// Events whose key is at most this are sampled: `u64::MAX >> shift` for a rate of
    /// 2^-`shift` ([`RepeatSketch::shift`]).
    threshold: u64,
    samples: Vec<Sample>,
}

impl Default for RepeatSketch {
    fn default() -> RepeatSketch {
        RepeatSketch {
            threshold: u64::MAX,
            samples: Vec::new(),
        }
    }
}

/// Two inputs that hold the same events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// The later input (by index), whose events were counted a second time.
    pub input: u32,
    /// The earlier input that holds them too.
    pub earlier: u32,
    /// Events the two share: exact when `exact`, else estimated from the samples.
    pub events: u64,
    pub exact: bool,
    /// The time range of the shared events seen.
    pub first: Millis,
    pub last: Millis,
    /// Other earlier inputs that share events with this one too (fewer of them).
    pub others: u32,
}

/// What two inputs' samples share.
struct Shared {
    n: u64,
    first: Millis,
    last: Millis,
    /// Different messages' hashes, up to [`MIN_SHARED`].
    texts: Vec<u64>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            n: 0,
            first: Millis::MAX,
            last: Millis::MIN,
            texts: Vec::new(),
        }
    }

    fn add(&mut self, sample: &Sample) {
        self.n += 1;
        self.first = self.first.min(sample.ts);
        self.last = self.last.max(sample.ts);
        if self.texts.len() < MIN_SHARED && !self.texts.contains(&sample.text) {
            self.texts.push(sample.text);
        }
    }
}

/// The splitmix64 finalizer: every bit of the input moves every bit of the output.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The key that decides whether an event is sampled: one multiply (Fibonacci hashing), whose
/// top bits depend on every bit of the time and the length; the sampling compares the key
/// with the sketch's threshold, so only the top bits matter.
#[inline]
fn key_of(ts: Millis, len: usize) -> u64 {
    ((ts as u64) ^ ((len as u64) << 44)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl RepeatSketch {
    /// Sees one event of `input`: its time (none: not sampled) and message.
    #[inline]
    pub fn observe(&mut self, input: u32, ts: Option<Millis>, message: &str) {
        let Some(ts) = ts else { return };
        let key = key_of(ts, message.len());
        if key > self.threshold {
            return;
        }
        // A fixed-key hasher: the same hash in every worker and every run. Fx rather than
        // the standard library's SipHash: on a short input, where many events are still
        // sampled, SipHash was 2% of a run's instructions.
        let text = rustc_hash::FxBuildHasher.hash_one(message);
        self.samples.push(Sample {
            full: mix(text ^ mix(ts as u64)),
            input,
            text,
            ts,
            key,
        });
        self.shrink();
    }

    /// The sampling rate is 2^-shift.
    fn shift(&self) -> u32 {
        self.threshold.leading_zeros()
    }

    /// Drops the samples the threshold no longer takes.
    fn keep_sampled(&mut self) {
        let below = self.threshold;
        self.samples.retain(|s| s.key <= below);
    }

    /// Halves the rate until fewer than [`MAX_SAMPLES`] are held.
    fn shrink(&mut self) {
        while self.samples.len() >= MAX_SAMPLES && self.threshold > 0 {
            self.threshold >>= 1;
            self.keep_sampled();
        }
    }

    /// Adds another worker's samples: both at the lower rate of the two.
    pub fn merge(&mut self, other: RepeatSketch) {
        self.threshold = self.threshold.min(other.threshold);
        self.samples.extend(other.samples);
        self.keep_sampled();
        self.shrink();
    }

    /// For each input whose samples shared with an earlier input hold at least
    /// [`MIN_SHARED`] different messages, the earlier input it shares the most with (and how
    /// many others it shares with), by input.
    pub fn finish(mut self) -> Vec<Repeat> {
        self.samples.sort_unstable();
        // (later, earlier) → shared samples, first and last time, and the first
        // MIN_SHARED different messages among them.
        let mut pairs: std::collections::BTreeMap<(u32, u32), Shared> =
            std::collections::BTreeMap::new();
        for group in self.samples.chunk_by(|a, b| a.full == b.full) {
            // Sorted by input within a hash: each input once, the earliest first.
            let mut inputs: Vec<&Sample> = group.iter().collect();
            inputs.dedup_by_key(|s| s.input);
            for (i, later) in inputs.iter().enumerate() {
                for earlier in inputs.iter().take(i) {
                    pairs
                        .entry((later.input, earlier.input))
                        .or_insert_with(Shared::new)
                        .add(later);
                }
            }
        }
        let scale = 1u64.checked_shl(self.shift()).unwrap_or(u64::MAX);
        let mut repeats: Vec<Repeat> = pairs
            .into_iter()
            .filter(|(_, shared)| shared.texts.len() >= MIN_SHARED)
            .map(|((input, earlier), shared)| Repeat {
                input,
                earlier,
                events: shared.n.saturating_mul(scale),
                exact: self.shift() == 0,
                first: shared.first,
                last: shared.last,
                others: 0,
            })
            .collect();
        // Per later input, the earlier ones sharing the most first.
        repeats.sort_by(|a, b| {
            (a.input, std::cmp::Reverse(a.events), a.earlier).cmp(&(
                b.input,
                std::cmp::Reverse(b.events),
                b.earlier,
            ))
        });
        let mut kept: Vec<Repeat> = Vec::with_capacity(repeats.len());
        for repeat in repeats {
            match kept.last_mut() {
                Some(last) if last.input == repeat.input => last.others += 1,
                _ => kept.push(repeat),
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(i: u64) -> String {
        format!(
            "[INFO] A new client connected from 10.0.{}.{}:{}.",
            i % 7,
            i % 250,
            40_000 + i
        )
    }

    #[test]
    fn inputs_that_overlap_are_found_with_their_shared_events() {
        let mut sketch = RepeatSketch::default();
        // Input 0: events 0..100; input 1: events 60..200 (40 shared); input 2: its own.
        for i in 0..100u64 {
            sketch.observe(0, Some(1_000 + i as i64), &message(i));
        }
        for i in 60..200u64 {
            sketch.observe(1, Some(1_000 + i as i64), &message(i));
        }
        for i in 0..100u64 {
            sketch.observe(2, Some(1_000 + i as i64), &format!("other {i}"));
        }
        let repeats = sketch.finish();
        assert_eq!(
            repeats,
            vec![Repeat {
                input: 1,
                earlier: 0,
                events: 40,
                exact: true,
                first: 1_060,
                last: 1_099,
                others: 0,
            }]
        );
    }

    #[test]
    fn coincidences_and_untimed_lines_are_not_repeats() {
        let mut sketch = RepeatSketch::default();
        for input in 0..2u32 {
            // Fewer different messages than MIN_SHARED, each in the same milliseconds.
            for i in 0..MIN_SHARED as i64 - 1 {
                sketch.observe(
                    input,
                    Some(i),
                    &format!("The client session was closed. {i}"),
                );
            }
            for _ in 0..100 {
                sketch.observe(input, None, "\tat java.base/java.lang.Thread.run");
            }
        }
        // Two instances of an application logging the same few errors, without ids, a
        // thousand times a second each for a minute: thousands of chance pairs.
        let storm = [
            "Connection refused",
            "connect ETIMEDOUT",
            "Connection reset by peer",
        ];
        let mut x = 7u64;
        for input in 2..4u32 {
            for i in 0..60_000u64 {
                x = mix(x);
                sketch.observe(input, Some((x % 60_000) as i64), storm[(i % 3) as usize]);
            }
        }
        assert_eq!(sketch.finish(), Vec::new());
    }

    #[test]
    fn long_inputs_are_sampled_in_fixed_memory_and_estimated() {
        let mut sketch = RepeatSketch::default();
        let n = 400_000u64;
        for i in 0..n {
            sketch.observe(0, Some(i as i64 * 3), &message(i));
        }
        // The second input repeats the last quarter of the first, then goes on.
        for i in n * 3 / 4..n + n / 4 {
            sketch.observe(1, Some(i as i64 * 3), &message(i));
        }
        assert!(sketch.samples.len() < MAX_SAMPLES);
        assert!(sketch.shift() > 0);
        let repeats = sketch.finish();
        assert_eq!(repeats.len(), 1);
        let r = &repeats[0];
        assert_eq!((r.input, r.earlier, r.exact), (1, 0, false));
        // 100,000 shared: the estimate within 15%.
        assert!(
            (85_000..=115_000).contains(&r.events),
            "estimated {}",
            r.events
        );
        assert!(r.first >= (n * 3 / 4) as i64 * 3 && r.last < n as i64 * 3);
    }

    proptest! {
        /// Any split of the events between workers, merged in any order, gives the repeats
        /// one worker finds.
        #[test]
        fn workers_find_what_one_finds(
            events in prop::collection::vec((0u32..4, 0i64..3_000, 0u64..400), 0..3_000),
            cuts in prop::collection::vec(0usize..3_000, 0..6),
            workers in 1usize..4,
        ) {
            let mut one = RepeatSketch::default();
            for (input, ts, m) in &events {
                one.observe(*input, Some(*ts), &message(*m));
            }
            // Batches between cuts go to the workers in turn.
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(events.len())).collect();
            bounds.push(0);
            bounds.push(events.len());
            bounds.sort_unstable();
            let mut sketches = vec![RepeatSketch::default(); workers];
            for (b, range) in bounds.windows(2).enumerate() {
                for (input, ts, m) in &events[range[0]..range[1]] {
                    sketches[b % workers].observe(*input, Some(*ts), &message(*m));
                }
            }
            let mut merged = sketches.pop().unwrap_or_default();
            for other in sketches {
                merged.merge(other);
            }
            prop_assert_eq!(merged.finish(), one.finish());
        }
    }

    #[test]
    fn a_small_cap_still_gives_the_same_result_for_any_split() {
        // Enough events that the rate halves several times, split unevenly.
        let events: Vec<(u32, i64, u64)> = (0..200_000u64)
            .map(|i| ((i % 3) as u32, (i / 2) as i64, i / 2))
            .collect();
        let mut one = RepeatSketch::default();
        for (input, ts, m) in &events {
            one.observe(*input, Some(*ts), &message(*m));
        }
        let (a_part, b_part) = events.split_at(37_123);
        let mut a = RepeatSketch::default();
        let mut b = RepeatSketch::default();
        for (input, ts, m) in a_part {
            a.observe(*input, Some(*ts), &message(*m));
        }
        for (input, ts, m) in b_part {
            b.observe(*input, Some(*ts), &message(*m));
        }
        b.merge(a);
        assert_eq!(b.finish(), one.finish());
    }
}
