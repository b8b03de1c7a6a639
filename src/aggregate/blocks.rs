//! Values per minute, in blocks of consecutive minutes.
//!
//! The tables keyed by minute (the timeline's counts and the database connections opened in
//! [`super::minutes`], the sessions opened and gone in [`super::sessions`]) are the ones that
//! grow with the input's time span instead of its variety. A hash map entry per minute costs
//! its key, a control byte and the map's slack besides its value: 25 to 60 bytes for an
//! 8-byte value, and as much again while it is copied or sorted at the end. Here a block of
//! [`BLOCK`] consecutive minutes is allocated when one of them gets its first value: steady
//! traffic (most minutes of a busy log have lines) costs its values and one key per block;
//! sparse traffic at most a block per minute. At the end the blocks are read in minute order
//! by sorting their numbers only (a sixteenth of the minutes), and freed as they are read.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher as FxBuild;

/// Consecutive minutes per block.
pub const BLOCK: i64 = 16;

const WIDTH: usize = BLOCK as usize;

/// A value per minute (minutes since the epoch); minutes never given one read as
/// `T::default()`, and are left out of the iterations.
///
/// The blocks are kept in one vector, by their place in it: one allocation that grows by
/// doubling, instead of one per block among the workers' other allocations (small blocks
/// freed at the end pinned the pages around them: the run's resident memory grew by more
/// than the blocks).
#[derive(Debug, Clone)]
pub struct MinuteBlocks<T> {
    /// Block number to place in `blocks`.
    places: HashMap<i64, u32, FxBuild>,
    blocks: Vec<[T; WIDTH]>,
}

impl<T> Default for MinuteBlocks<T> {
    fn default() -> Self {
        MinuteBlocks {
            places: HashMap::default(),
            blocks: Vec::new(),
        }
    }
}

impl<T: Copy + Default + PartialEq> MinuteBlocks<T> {
    /// The value of `minute`, its block allocated if it has none yet.
    pub fn slot(&mut self, minute: i64) -> &mut T {
        let blocks = &mut self.blocks;
        let place = *self
            .places
            .entry(minute.div_euclid(BLOCK))
            .or_insert_with(|| {
                blocks.push([T::default(); WIDTH]);
                u32::try_from(blocks.len() - 1).unwrap_or(u32::MAX)
            });
        let index = usize::try_from(minute.rem_euclid(BLOCK)).unwrap_or(0);
        let last = blocks.len().saturating_sub(1);
        // The place is always in the vector (a table of four billion blocks, 3,000 years
        // of minutes, would share the last one), and `rem_euclid` is below BLOCK.
        &mut blocks[(place as usize).min(last)][index.min(WIDTH - 1)]
    }

    /// Adds another table's values with `add`, which must not depend on which of the two
    /// tables a value comes from (the smaller is added to the larger), and must leave a value
    /// as it is when the other is `T::default()`.
    pub fn merge(&mut self, mut other: MinuteBlocks<T>, mut add: impl FnMut(&mut T, &T)) {
        if other.blocks.len() > self.blocks.len() {
            std::mem::swap(self, &mut other);
        }
        for (number, place) in other.places {
            let Some(block) = other.blocks.get(place as usize) else {
                continue;
            };
            match self.places.get(&number) {
                Some(&mine) => {
                    if let Some(mine) = self.blocks.get_mut(mine as usize) {
                        for (a, b) in mine.iter_mut().zip(block) {
                            add(a, b);
                        }
                    }
                }
                None => {
                    let place = u32::try_from(self.blocks.len()).unwrap_or(u32::MAX);
                    self.places.insert(number, place);
                    self.blocks.push(*block);
                }
            }
        }
    }

    /// The blocks allocated.
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// The block numbers in order, with their places.
    fn numbers(&self) -> Vec<(i64, u32)> {
        let mut numbers: Vec<(i64, u32)> = self.places.iter().map(|(&n, &p)| (n, p)).collect();
        numbers.sort_unstable();
        numbers
    }

    /// The minutes with a value and their values, in minute order.
    pub fn sorted(&self) -> impl Iterator<Item = (i64, &T)> + '_ {
        self.numbers()
            .into_iter()
            .filter_map(|(number, place)| Some((number, self.blocks.get(place as usize)?)))
            .flat_map(|(number, block)| with_minutes(number, block.iter()))
            .filter(|(_, value)| **value != T::default())
    }

    /// The minutes with a value and their values, in minute order.
    pub fn into_sorted(self) -> impl Iterator<Item = (i64, T)> {
        let numbers = self.numbers();
        let blocks = self.blocks;
        numbers
            .into_iter()
            .filter_map(move |(number, place)| Some((number, *blocks.get(place as usize)?)))
            .flat_map(|(number, block)| with_minutes(number, block))
            .filter(|(_, value)| *value != T::default())
    }
}

/// A block's values with their minutes.
fn with_minutes<V>(
    number: i64,
    values: impl IntoIterator<Item = V>,
) -> impl Iterator<Item = (i64, V)> {
    let start = number.saturating_mul(BLOCK);
    (0..BLOCK)
        .map(move |offset| start.saturating_add(offset))
        .zip(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    proptest::proptest! {
        /// Read in order, merged or not, the blocks hold what a sorted map of the same adds
        /// holds: minutes far apart, negative, in any order, summing to the empty value.
        #[test]
        fn blocks_hold_what_a_sorted_map_holds(
            adds in proptest::collection::vec(
                (proptest::prop_oneof![-40i64..40, -2_000_000i64..2_000_000], -3i64..4, proptest::bool::ANY),
                0..300,
            ),
        ) {
            let mut map: BTreeMap<i64, i64> = BTreeMap::new();
            let (mut one, mut a, mut b) = (MinuteBlocks::default(), MinuteBlocks::default(), MinuteBlocks::default());
            for &(minute, delta, first) in &adds {
                *map.entry(minute).or_default() += delta;
                *one.slot(minute) += delta;
                let worker = if first { &mut a } else { &mut b };
                *worker.slot(minute) += delta;
            }
            let expected: Vec<(i64, i64)> = map.into_iter().filter(|(_, v)| *v != 0).collect();
            let sorted: Vec<(i64, i64)> = one.sorted().map(|(m, v)| (m, *v)).collect();
            proptest::prop_assert_eq!(&sorted, &expected);
            a.merge(b, |x, y| *x += *y);
            let merged: Vec<(i64, i64)> = a.into_sorted().collect();
            proptest::prop_assert_eq!(&merged, &expected);
        }
    }

    #[test]
    fn the_extreme_minutes_have_their_slots() {
        let mut blocks: MinuteBlocks<u8> = MinuteBlocks::default();
        *blocks.slot(i64::MIN / 60_000) = 1;
        *blocks.slot(i64::MAX / 60_000) = 2;
        *blocks.slot(-1) = 3;
        *blocks.slot(0) = 4;
        let all: Vec<(i64, u8)> = blocks.into_sorted().collect();
        assert_eq!(
            all,
            vec![
                (i64::MIN / 60_000, 1),
                (-1, 3),
                (0, 4),
                (i64::MAX / 60_000, 2)
            ]
        );
    }
}
