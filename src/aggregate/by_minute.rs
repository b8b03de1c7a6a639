//! Values per minute, for the tables keyed by minute.
//!
//! The tables keyed by minute (the timeline's counts and the database connections opened in
//! [`super::minutes`], the sessions opened and gone in [`super::sessions`]) are the ones that
//! grow with the input's time span instead of its variety, so they cost what the minutes that
//! have lines cost, and no more:
//!
//! - the values are in one vector, in the order their minutes first came, and a map gives a
//!   minute's place in it (8 bytes a slot: the minute as a 32-bit key; minutes more than 4,000
//!   years from 1970, which only a malformed timestamp gives, have a map of their own). One
//!   allocation that grows by doubling, above 4 MiB as a mapping of its own whose unused
//!   capacity is never touched: a value allocated on its own (as the timeline's blocks were)
//!   is freed at the end among the workers' other allocations and pins the pages around it,
//!   so the run's resident memory grew by more than the values;
//! - a minute without lines costs nothing. Blocks of 16 consecutive minutes, tried first, cost
//!   the same on steady traffic (weeks' 2 GiB file: 49–50 MiB either way) but a whole block for
//!   each lone minute of a sparse input (300,000 lines over ten years: 268–301 MiB against 89);
//! - at the end the minutes are read in order by sorting their (minute, place) pairs.
//!
//! Even so, a table keyed by minute grows with the span: a decade of busy traffic has five
//! million minutes. So each table keeps at most [`MAX_BUCKETS`] entries: past that it counts
//! in wider buckets ([`wider`]: 2, 10, 30, 60 minutes…), its owner says so (the report's
//! `timeline_resolution_minutes`), and its memory follows the cap, not the span. A table's
//! width is the narrowest of the ladder at which its minutes fit under the cap: a function of
//! the set of its minutes alone, so workers that each saw part of the input and widen to the
//! wider of their two widths when merged end where one worker reading all of it ends.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher as FxBuild;

/// A value per minute (minutes since the epoch); minutes never given one read as
/// `T::default()`, and are left out of the iterations.
#[derive(Debug, Clone)]
pub struct ByMinute<T> {
    /// Minute (as a [`key`]) to place in `values`: 8 bytes a slot.
    places: HashMap<u32, u32, FxBuild>,
    /// The minutes more than 4,000 years from 1970 (a malformed timestamp), with their places.
    far: HashMap<i64, u32, FxBuild>,
    values: Vec<T>,
}

/// The most entries a table keyed by minute keeps: 300,000 minutes with lines (208 days of
/// them; a year of busy traffic fits in 2-minute buckets, a decade in 30-minute ones).
/// Entries cost 50–90 bytes each, so a table is bounded by about 25 MB whatever the span.
pub const MAX_BUCKETS: usize = 300_000;

/// The bucket width after `width` (minutes): 1, 2, 10, 30, 60, 120, 360, 720, 1,440, then
/// doubling days. Each is a multiple of the one before, so a wider bucket is whole narrower
/// ones and re-counting in it is exact; each up to a day divides a day, so buckets are aligned
/// to UTC like the report's.
pub fn wider(width: i64) -> i64 {
    match width {
        ..=1 => 2,
        2 => 10,
        3..=10 => 30,
        11..=30 => 60,
        31..=60 => 120,
        61..=120 => 360,
        121..=360 => 720,
        361..=720 => 1440,
        _ => width.saturating_mul(2),
    }
}

/// The first minute of the `width`-minute bucket that holds `minute` (buckets start at
/// multiples of the width since 1970, UTC).
pub fn bucket_of(minute: i64, width: i64) -> i64 {
    let width = width.max(1);
    minute.div_euclid(width).saturating_mul(width)
}

/// The key of minute 0 (1970): a key is the minute plus this, so the minutes within 4,083
/// years of 1970, either side, have one.
const KEY_ZERO: i64 = 1 << 31;

/// A minute's key in [`ByMinute::places`], for minutes within 4,083 years of 1970.
fn key(minute: i64) -> Option<u32> {
    u32::try_from(minute.checked_add(KEY_ZERO)?).ok()
}

fn minute_of(key: u32) -> i64 {
    i64::from(key) - KEY_ZERO
}

impl<T> Default for ByMinute<T> {
    fn default() -> Self {
        ByMinute {
            places: HashMap::default(),
            far: HashMap::default(),
            values: Vec::new(),
        }
    }
}

impl<T: Copy + Default + PartialEq> ByMinute<T> {
    /// The value of `minute`, `T::default()` when it had none yet.
    pub fn slot(&mut self, minute: i64) -> &mut T {
        let values = &mut self.values;
        let new = || {
            values.push(T::default());
            u32::try_from(values.len() - 1).unwrap_or(u32::MAX)
        };
        let place = match key(minute) {
            Some(key) => *self.places.entry(key).or_insert_with(new),
            None => *self.far.entry(minute).or_insert_with(new),
        };
        // The place is always in the vector: four billion minutes (8,000 years of them, and
        // over 100 GB of values) would share the last one.
        let last = self.values.len().saturating_sub(1);
        &mut self.values[(place as usize).min(last)]
    }

    /// The minutes given a value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The minutes with a value and their values, in minute order.
    pub fn sorted(&self) -> impl Iterator<Item = (i64, &T)> + '_ {
        self.order()
            .into_iter()
            .filter_map(|(minute, place)| Some((minute, self.values.get(place as usize)?)))
            .filter(|(_, value)| **value != T::default())
    }

    /// The minutes with a value and their values, in minute order.
    pub fn into_sorted(mut self) -> impl Iterator<Item = (i64, T)> {
        let order = self.order();
        // The maps are not needed any more: freed before the values are read.
        self.places = HashMap::default();
        self.far = HashMap::default();
        let values = self.values;
        order
            .into_iter()
            .filter_map(move |(minute, place)| Some((minute, *values.get(place as usize)?)))
            .filter(|(_, value)| *value != T::default())
    }

    /// The minutes with a value and their values, in no order (for adding one table to
    /// another: no sort).
    pub fn into_unsorted(self) -> impl Iterator<Item = (i64, T)> {
        let ByMinute {
            places,
            far,
            values,
        } = self;
        places
            .into_iter()
            .map(|(key, place)| (minute_of(key), place))
            .chain(far)
            .filter_map(move |(minute, place)| Some((minute, *values.get(place as usize)?)))
            .filter(|(_, value)| *value != T::default())
    }

    /// The table in buckets of `width` minutes (a multiple of the width it was kept in): each
    /// bucket holds its minutes' values, combined by `add(into, value)`.
    pub fn widened(self, width: i64, mut add: impl FnMut(&mut T, T)) -> ByMinute<T> {
        let mut out = ByMinute::default();
        for (minute, value) in self.into_unsorted() {
            add(out.slot(bucket_of(minute, width)), value);
        }
        out
    }

    /// The minutes with their places, in minute order.
    fn order(&self) -> Vec<(i64, u32)> {
        let mut order: Vec<(i64, u32)> = self
            .places
            .iter()
            .map(|(&key, &place)| (minute_of(key), place))
            .chain(self.far.iter().map(|(&minute, &place)| (minute, place)))
            .collect();
        order.sort_unstable();
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    use proptest::strategy::Just;

    proptest::proptest! {
        /// Read in order, the table holds what a sorted map of the same adds holds: minutes
        /// far apart, negative, in any order, summing to the empty value.
        #[test]
        fn the_table_holds_what_a_sorted_map_holds(
            adds in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        -40i64..40,
                        -2_000_000i64..2_000_000,
                        // Either side of the 32-bit keys' range, and far beyond it.
                        (KEY_ZERO - 20)..(KEY_ZERO + 20),
                        (-KEY_ZERO - 20)..(-KEY_ZERO + 20),
                        proptest::prop_oneof![Just(i64::MIN / 60_000), Just(i64::MAX / 60_000)],
                    ],
                    -3i64..4,
                ),
                0..300,
            ),
        ) {
            let mut map: BTreeMap<i64, i64> = BTreeMap::new();
            let mut table = ByMinute::default();
            for &(minute, delta) in &adds {
                *map.entry(minute).or_default() += delta;
                *table.slot(minute) += delta;
            }
            proptest::prop_assert_eq!(table.len(), map.len());
            let expected: Vec<(i64, i64)> = map.into_iter().filter(|(_, v)| *v != 0).collect();
            let sorted: Vec<(i64, i64)> = table.sorted().map(|(m, v)| (m, *v)).collect();
            proptest::prop_assert_eq!(&sorted, &expected);
            let mut unsorted: Vec<(i64, i64)> = table.clone().into_unsorted().collect();
            unsorted.sort_unstable();
            proptest::prop_assert_eq!(&unsorted, &expected);
            let taken: Vec<(i64, i64)> = table.into_sorted().collect();
            proptest::prop_assert_eq!(&taken, &expected);
        }
    }

    /// Every width of the ladder is a multiple of the one before, and those up to a day
    /// divide a day: a wider bucket is whole narrower ones.
    #[test]
    fn each_width_is_whole_buckets_of_the_one_before() {
        let mut width = 1;
        let mut seen = vec![width];
        while width < 40 * 1440 {
            let next = wider(width);
            assert!(next > width && next % width == 0, "{width} -> {next}");
            if next <= 1440 {
                assert_eq!(1440 % next, 0, "{next} divides a day");
            }
            width = next;
            seen.push(width);
        }
        assert_eq!(&seen[..10], &[1, 2, 10, 30, 60, 120, 360, 720, 1440, 2880]);
        assert_eq!(bucket_of(-1, 30), -30);
        assert_eq!(bucket_of(59, 30), 30);
        assert_eq!(wider(i64::MAX), i64::MAX);
    }

    /// Widened, the table holds what the minutes' sums per bucket are.
    #[test]
    fn a_widened_table_sums_its_buckets() {
        let mut table: ByMinute<i64> = ByMinute::default();
        for minute in -25..47 {
            *table.slot(minute) += minute;
        }
        let wide: Vec<(i64, i64)> = table
            .widened(30, |into, v| *into += v)
            .into_sorted()
            .collect();
        let expected = vec![
            (-30, (-25..0).sum()),
            (0, (0..30).sum()),
            (30, (30..47).sum()),
        ];
        assert_eq!(wide, expected);
    }

    #[test]
    fn the_extreme_minutes_have_their_slots() {
        let mut table: ByMinute<u8> = ByMinute::default();
        *table.slot(i64::MIN / 60_000) = 1;
        *table.slot(i64::MAX / 60_000) = 2;
        *table.slot(-1) = 3;
        *table.slot(0) = 4;
        let all: Vec<(i64, u8)> = table.into_sorted().collect();
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
