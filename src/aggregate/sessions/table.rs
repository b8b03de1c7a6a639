//! The session join's table of open sessions by connection id.
//!
//! Open addressing with linear probing: the slot where an id's search starts is known before
//! the table is looked at, so the join can ask for it early ([`OpenTable::prefetch`]) a few rows
//! ahead. The table holds every session of the last fifteen minutes of the input's clock
//! (tens of thousands), far more than the core's cache, and the input streaming through the
//! caches evicts it: without the early fetch, nearly all of the join's time was spent waiting
//! for the insert of a new id and for the sweep's look-up of a session at its horizon.
//!
//! A byte per slot (`ctrl`: 0 for empty, else a tag of the id's hash with the top bit set) is
//! probed before the slot's id, and the ids are kept apart from the values (eight to a cache
//! line), so that probing and the removal's shift read few lines. Removal shifts the entries
//! after the hole back (no tombstones), so a search stops at the first empty byte.

use crate::aggregate::prefetch;

/// Capacity of a new table (slots).
const FIRST_CAPACITY: usize = 1 << 10;

#[derive(Debug, Clone)]
pub(super) struct OpenTable<V> {
    ctrl: Vec<u8>,
    /// Each slot's id, mixed ([`mix`], a bijection: two ids are equal when their mixes are),
    /// so that growing and the removal's shift find an entry's home slot without mixing it
    /// again.
    keys: Vec<u64>,
    values: Vec<V>,
    len: usize,
    /// `64 - log2(capacity)`: the home slot is the hash's top bits.
    shift: u32,
}

impl<V: Default + Clone> Default for OpenTable<V> {
    fn default() -> Self {
        OpenTable::with_capacity_log2(FIRST_CAPACITY.trailing_zeros())
    }
}

/// A 64-bit mix of the id (the finalizer of MurmurHash3): ids may be random or sequential.
/// Each of its steps (an `x ^= x >> 33`, a multiplication by an odd number) can be undone, so
/// two ids have the same mix only when they are the same.
fn mix(key: u64) -> u64 {
    let mut h = key ^ (key >> 33);
    h = h.wrapping_mul(MIX_FIRST);
    h ^= h >> 33;
    h = h.wrapping_mul(MIX_SECOND);
    h ^ (h >> 33)
}

/// [`mix`]'s two odd multipliers.
const MIX_FIRST: u64 = 0xff51_afd7_ed55_8ccd;
const MIX_SECOND: u64 = 0xc4ce_b9fe_1a85_ec53;

fn tag(hash: u64) -> u8 {
    (hash as u8) | 0x80
}

impl<V: Default + Clone> OpenTable<V> {
    fn with_capacity_log2(bits: u32) -> OpenTable<V> {
        let capacity = 1usize << bits;
        OpenTable {
            // A byte a slot: at most 512 KiB (`MAX_OPEN` at half full), never a
            // whole huge page, so zeroed by the allocator rather than written.
            ctrl: vec![0; capacity],
            keys: crate::aggregate::huge_table(capacity, 0),
            values: crate::aggregate::huge_table(capacity, V::default()),
            len: 0,
            shift: 64 - bits,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.ctrl.len() - 1
    }

    fn home(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    /// Asks the memory system for the slot where `key`'s search starts, so that a look-up a
    /// little later finds it in the cache.
    #[inline]
    pub(super) fn prefetch(&self, key: u64) {
        let home = self.home(mix(key));
        if let (Some(ctrl), Some(key), Some(value)) = (
            self.ctrl.get(home),
            self.keys.get(home),
            self.values.get(home),
        ) {
            prefetch(std::ptr::from_ref(ctrl).cast());
            prefetch(std::ptr::from_ref(key).cast());
            let start: *const u8 = std::ptr::from_ref(value).cast();
            prefetch(start);
            // A value may straddle two cache lines.
            prefetch(start.wrapping_add(std::mem::size_of::<V>().saturating_sub(1)));
        }
    }

    /// The index of `key`'s slot.
    pub(super) fn find(&self, key: u64) -> Option<usize> {
        let hash = mix(key);
        let tag = tag(hash);
        let mask = self.mask();
        let mut at = self.home(hash);
        loop {
            let ctrl = *self.ctrl.get(at)?;
            if ctrl == 0 {
                return None;
            }
            if ctrl == tag && self.keys.get(at) == Some(&hash) {
                return Some(at);
            }
            at = (at + 1) & mask;
        }
    }

    pub(super) fn get(&self, at: usize) -> Option<&V> {
        self.values.get(at)
    }

    pub(super) fn get_mut(&mut self, at: usize) -> Option<&mut V> {
        self.values.get_mut(at)
    }

    /// Inserts `key`, which is not in the table, and returns its value.
    pub(super) fn insert_new(&mut self, key: u64, value: V) -> Option<&mut V> {
        // At most half full: a search for an absent id stays short, and so does the run of
        // entries a removal shifts back, each of whose values is read from memory (at three
        // quarters full, a quarter of the join's samples on mix's traffic were that read). The
        // largest table is the same: `MAX_OPEN` open sessions take 2^19 slots either way.
        if (self.len + 1) * 2 > self.ctrl.len() {
            self.grow();
        }
        let at = self.place(mix(key), value);
        self.len += 1;
        self.get_mut(at)
    }

    /// Puts the id whose mix is `hash` into the first empty slot of its run; returns the
    /// slot's index.
    fn place(&mut self, hash: u64, value: V) -> usize {
        let mask = self.mask();
        let mut at = self.home(hash);
        while self.ctrl.get(at).is_some_and(|&c| c != 0) {
            at = (at + 1) & mask;
        }
        if let (Some(ctrl), Some(slot_key), Some(slot_value)) = (
            self.ctrl.get_mut(at),
            self.keys.get_mut(at),
            self.values.get_mut(at),
        ) {
            *ctrl = tag(hash);
            *slot_key = hash;
            *slot_value = value;
        }
        at
    }

    fn grow(&mut self) {
        let bits = 65 - self.shift;
        let old = std::mem::replace(self, OpenTable::with_capacity_log2(bits));
        for ((ctrl, hash), value) in old.ctrl.into_iter().zip(old.keys).zip(old.values) {
            if ctrl != 0 {
                self.place(hash, value);
            }
        }
        self.len = old.len;
    }

    /// Removes `key` and returns its value.
    pub(super) fn remove(&mut self, key: u64) -> Option<V> {
        let at = self.find(key)?;
        Some(self.remove_slot(at))
    }

    /// Empties slot `hole` and shifts back the entries after it that cannot be found
    /// otherwise (their search starts at or before the hole).
    pub(super) fn remove_slot(&mut self, mut hole: usize) -> V {
        let removed = match (self.ctrl.get_mut(hole), self.values.get_mut(hole)) {
            (Some(ctrl), Some(value)) => {
                *ctrl = 0;
                std::mem::take(value)
            }
            _ => return V::default(),
        };
        self.len -= 1;
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let Some(&ctrl) = self.ctrl.get(at) else {
                break;
            };
            if ctrl == 0 {
                break;
            }
            let home = self.keys.get(at).map_or(at, |&hash| self.home(hash));
            // The entry stays when its home is cyclically in (hole, at].
            let stays = if hole <= at {
                hole < home && home <= at
            } else {
                hole < home || home <= at
            };
            if !stays {
                self.keys.swap(hole, at);
                self.values.swap(hole, at);
                self.ctrl.swap(hole, at);
                hole = at;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// The inverse of an odd number modulo 2^64 (Newton's iteration).
    fn inverse(odd: u64) -> u64 {
        let mut x = odd;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(x)));
        }
        x
    }

    proptest! {
        /// The table keeps ids by their mix: undoing the mix's steps gives every id back, so
        /// two ids never share one.
        #[test]
        fn the_mix_of_an_id_can_be_undone(id in any::<u64>()) {
            let mut h = mix(id);
            // `x ^= x >> 33` is its own inverse (the shift is past half the word).
            h ^= h >> 33;
            h = h.wrapping_mul(inverse(MIX_SECOND));
            h ^= h >> 33;
            h = h.wrapping_mul(inverse(MIX_FIRST));
            h ^= h >> 33;
            prop_assert_eq!(h, id);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        Update(u64, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys, so that removes and updates hit; some of them at the ends of u64.
        let key = prop_oneof![
            0u64..64,
            Just(u64::MAX),
            Just(0),
            (0u64..8).prop_map(|k| k << 60)
        ];
        prop_oneof![
            (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            key.clone().prop_map(Op::Remove),
            (key, any::<u32>()).prop_map(|(k, v)| Op::Update(k, v)),
        ]
    }

    proptest! {
        /// The table holds what a `HashMap` holds after any sequence of inserts, updates and
        /// removals (removals shift entries back across the wrap of the slots).
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec(op(), 0..3000)) {
            let mut table: OpenTable<u32> = OpenTable::default();
            let mut map: HashMap<u64, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        if table.find(k).is_none() {
                            table.insert_new(k, v);
                        }
                        map.entry(k).or_insert(v);
                    }
                    Op::Remove(k) => prop_assert_eq!(table.remove(k), map.remove(&k)),
                    Op::Update(k, v) => {
                        if let Some(at) = table.find(k) {
                            *table.get_mut(at).unwrap() = v;
                        }
                        if let Some(old) = map.get_mut(&k) {
                            *old = v;
                        }
                    }
                }
                prop_assert_eq!(table.len(), map.len());
            }
            for (k, v) in &map {
                let at = table.find(*k);
                prop_assert_eq!(at.and_then(|at| table.get(at)), Some(v));
            }
        }
    }

    #[test]
    fn grows_and_keeps_every_key() {
        let mut table: OpenTable<u64> = OpenTable::default();
        for k in 0..100_000u64 {
            table.insert_new(k * 7919, k);
        }
        assert_eq!(table.len(), 100_000);
        assert!(table.ctrl.len() >= 100_000 * 4 / 3);
        for k in (0..100_000u64).step_by(2) {
            assert_eq!(table.remove(k * 7919), Some(k));
        }
        for k in 0..100_000u64 {
            let found = table.find(k * 7919).and_then(|at| table.get(at)).copied();
            assert_eq!(found, (k % 2 == 1).then_some(k));
        }
    }

    #[test]
    fn wrapping_runs_are_shifted_back() {
        // A table of 1,024 slots filled near its end: runs wrap to the start.
        let mut table: OpenTable<u64> = OpenTable::default();
        let near_end: Vec<u64> = (0..200_000u64)
            .filter(|&k| table.home(mix(k)) >= 1020)
            .take(12)
            .collect();
        for &k in &near_end {
            table.insert_new(k, k);
        }
        assert!(
            table.ctrl[..8].iter().any(|&c| c != 0),
            "some entries wrapped"
        );
        for &k in &near_end {
            assert_eq!(table.remove(k), Some(k));
            for &rest in near_end.iter().skip_while(|&&r| r != k).skip(1) {
                assert_eq!(table.find(rest).and_then(|at| table.get(at)), Some(&rest));
            }
        }
        assert_eq!(table.len(), 0);
        assert!(table.ctrl.iter().all(|&c| c == 0));
    }
}
