//! Strings as dense codes (1, 2, ...; 0 is "none"), compact because a fleet's values (256,000
//! client addresses) are interned once per worker.
//!
//! The texts are kept one after the other in one string (a code is a place in a list of
//! ends). Codes are found through an open-addressing table of our own whose slots carry, beside
//! the code, the value's length, part of its hash and its first [`HEAD`] bytes: an IPv4
//! address, an endpoint's name, most user names fit, so a look-up of such a value reads one
//! slot (usually one cache line) and never the text. With a fleet's addresses the table is far
//! larger than the core's cache, and every other way of finding a code (a `hashbrown` table of
//! codes, then the code's end, then its text) waited on four loads from memory in a row;
//! `many` spent a sixth of its time there. Longer values compare the rest of their text.
//!
//! Beside the table, a small cache of recently returned slots per [`Dim`] answers most lines
//! with one comparison of words already in the cache: lines repeat the endpoint, user and
//! reason of lines before them. One cache per dimension, so that a fleet's client addresses,
//! which rarely repeat, do not evict the endpoints.

use std::hash::BuildHasher;

/// Bytes of a value kept in its slot.
const HEAD: usize = 20;

/// A slot of the table: the code (0: empty), the high half of the value's hash, its length
/// and its first [`HEAD`] bytes (the rest zero). 32 bytes, aligned, so a slot is never split
/// between two cache lines.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(32))]
struct Slot {
    code: u32,
    hash: u32,
    len: u32,
    head: [u8; HEAD],
}

impl Slot {
    /// The slot `value` would have (code 0).
    fn key(value: &str, hash: u32) -> Slot {
        let bytes = value.as_bytes();
        let mut head = [0u8; HEAD];
        let n = bytes.len().min(HEAD);
        if let (Some(to), Some(from)) = (head.get_mut(..n), bytes.get(..n)) {
            to.copy_from_slice(from);
        }
        Slot {
            code: 0,
            hash,
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            head,
        }
    }

    /// Whether this slot holds `key`'s value, `texts` answering for the bytes after the head.
    fn holds(&self, key: &Slot, value: &str, texts: Texts<'_>) -> bool {
        self.code != 0
            && self.len == key.len
            && self.head == key.head
            && (value.len() <= HEAD || texts.get(self.code) == Some(value))
    }
}

/// Slots of [`Interner::recent`] per dimension (a power of two).
const RECENT_SLOTS: usize = 256;

/// What an interned value is, for its cache of recent codes.
#[derive(Clone, Copy)]
pub(super) enum Dim {
    User = 0,
    Client = 1,
    Endpoint = 2,
    Detail = 3,
}

/// A slot of [`RECENT_SLOTS`] for `bytes`, from its length and its first and last eight bytes
/// (which tell `endpoint-65` from `endpoint-75`, and one address from the next).
fn recent_slot(bytes: &[u8]) -> usize {
    // One load a word where the value has eight bytes (nearly always), else its bytes
    // padded with zeros.
    let word = |part: &[u8]| match part.first_chunk::<8>() {
        Some(word) => u64::from_le_bytes(*word),
        None => part
            .iter()
            .rev()
            .fold(0u64, |word, &b| word << 8 | u64::from(b)),
    };
    let head = word(bytes);
    let tail = word(
        bytes
            .get(bytes.len().saturating_sub(8)..)
            .unwrap_or_default(),
    );
    let mixed =
        (head ^ tail.rotate_left(29) ^ bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 56) as usize & (RECENT_SLOTS - 1)
}

/// The hash of a value: its high half picks the slot and is kept in it.
fn hash_of(value: &str) -> u32 {
    (rustc_hash::FxBuildHasher.hash_one(value) >> 32) as u32
}

#[derive(Default, Clone)]
pub(super) struct Interner {
    /// Every value's text, in code order.
    text: String,
    /// Where each value ends in `text` (index: code - 1); it starts where the one before ends.
    ends: Vec<usize>,
    /// Open addressing with linear probing over a power of two of slots, at most half full
    /// (so a search for an absent value stops within a few slots); empty until the first
    /// value.
    slots: Vec<Slot>,
    /// Recently returned slots, [`RECENT_SLOTS`] per [`Dim`], by [`recent_slot`].
    recent: Vec<Slot>,
}

impl Interner {
    /// Code for `value`; 0 is reserved for "none".
    pub(super) fn intern(&mut self, dim: Dim, value: Option<&str>) -> u32 {
        self.intern_hashed(dim, value.map(|v| (v, None)))
    }

    /// Asks the cache for the slot where the search for `value` starts, and returns the hash
    /// to give [`Interner::intern_hashed`] with it: a fleet's values are looked up in a
    /// table larger than the cache, so a line's user and client are fetched before the rest
    /// of the line is counted.
    pub(super) fn prefetch(&self, value: &str) -> u32 {
        let hash = hash_of(value);
        if let Some(slot) = self
            .slots
            .get(hash as usize & self.slots.len().wrapping_sub(1))
        {
            super::prefetch(std::ptr::from_ref(slot).cast());
        }
        hash
    }

    /// [`Interner::intern`] with the value's hash when [`Interner::prefetch`] gave it.
    pub(super) fn intern_hashed(&mut self, dim: Dim, value: Option<(&str, Option<u32>)>) -> u32 {
        let Some((value, hash)) = value else { return 0 };
        if self.recent.is_empty() {
            self.recent = vec![Slot::default(); RECENT_SLOTS * 4];
        }
        let at = dim as usize * RECENT_SLOTS + recent_slot(value.as_bytes());
        // The hash is not needed to compare: length, head and (past the head) text decide.
        let key = Slot::key(value, 0);
        if let Some(recent) = self.recent.get(at)
            && recent.holds(&key, value, self.texts())
        {
            return recent.code;
        }
        let found = self.find_or_add(value, hash);
        if let Some(recent) = self.recent.get_mut(at) {
            *recent = found;
        }
        found.code
    }

    /// The code of `value`, a new one when it has none yet.
    #[cfg(test)]
    pub(super) fn code_of(&mut self, value: &str) -> u32 {
        self.find_or_add(value, None).code
    }

    /// The slot of `value` (whose hash is `hash` when known), added when it has none yet.
    fn find_or_add(&mut self, value: &str, hash: Option<u32>) -> Slot {
        if self.slots.len() < 2 * (self.ends.len() + 1) {
            self.grow();
        }
        let hash = hash.unwrap_or_else(|| hash_of(value));
        let key = Slot::key(value, hash);
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        let texts = Texts {
            text: &self.text,
            ends: &self.ends,
        };
        loop {
            let Some(slot) = self.slots.get(at) else {
                // Cannot happen: `at` is masked to the table's size.
                return Slot::default();
            };
            if slot.code == 0 {
                break;
            }
            if slot.hash == hash && slot.holds(&key, value, texts) {
                return *slot;
            }
            at = (at + 1) & mask;
        }
        self.text.push_str(value);
        self.ends.push(self.text.len());
        let slot = Slot {
            code: u32::try_from(self.ends.len()).unwrap_or(u32::MAX),
            ..key
        };
        if let Some(empty) = self.slots.get_mut(at) {
            *empty = slot;
        }
        slot
    }

    /// Doubles the table (or makes its first 64 slots) and places every slot again by its
    /// kept hash.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, super::huge_table(size, Slot::default()));
        let mask = size - 1;
        for slot in old.into_iter().filter(|s| s.code != 0) {
            let mut at = slot.hash as usize & mask;
            while self.slots.get(at).is_some_and(|s| s.code != 0) {
                at = (at + 1) & mask;
            }
            if let Some(empty) = self.slots.get_mut(at) {
                *empty = slot;
            }
        }
    }

    /// Interns every value of `other` and returns their codes here, in `other`'s order (the
    /// map from its codes to these: index, its code - 1). The values are looked up in the
    /// table directly: they are distinct, so the cache of recent codes would only miss.
    pub(super) fn absorb(&mut self, other: &Interner) -> Vec<u32> {
        /// How many values ahead a value's slot is asked for: with a fleet's addresses the
        /// table is larger than the cache, and each look-up would otherwise wait on memory.
        const AHEAD: usize = 8;
        let others = other.texts();
        let value = |code: usize| {
            u32::try_from(code)
                .ok()
                .and_then(|code| others.get(code))
                .unwrap_or_default()
        };
        let hashes: Vec<u32> = (1..=other.ends.len()).map(|c| hash_of(value(c))).collect();
        let mut codes = Vec::with_capacity(hashes.len());
        for (index, &hash) in hashes.iter().enumerate() {
            if let Some(&ahead) = hashes.get(index + AHEAD)
                && let Some(slot) = self
                    .slots
                    .get(ahead as usize & self.slots.len().wrapping_sub(1))
            {
                super::prefetch(std::ptr::from_ref(slot).cast());
            }
            codes.push(self.find_or_add(value(index + 1), Some(hash)).code);
        }
        codes
    }

    /// How many values have a code.
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn get(&self, id: i64) -> Option<&str> {
        self.texts().get(u32::try_from(id).ok()?)
    }

    fn texts(&self) -> Texts<'_> {
        Texts {
            text: &self.text,
            ends: &self.ends,
        }
    }
}

/// An interner's texts, borrowed apart from its table.
#[derive(Clone, Copy)]
struct Texts<'a> {
    text: &'a str,
    ends: &'a [usize],
}

impl<'a> Texts<'a> {
    fn get(self, code: u32) -> Option<&'a str> {
        let index = usize::try_from(code).ok()?.checked_sub(1)?;
        let end = *self.ends.get(index)?;
        let start = index
            .checked_sub(1)
            .map_or(Some(0), |before| self.ends.get(before).copied())?;
        self.text.get(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn slots_are_one_aligned_half_cache_line() {
        assert_eq!(std::mem::size_of::<Slot>(), 32);
        assert_eq!(std::mem::align_of::<Slot>(), 32);
    }

    #[test]
    fn values_past_the_head_are_told_apart_by_their_text() {
        let mut strings = Interner::default();
        // Same length, same first 20 bytes, different ends.
        let a = "arn:aws:iam::123456789012:role/app-a";
        let b = "arn:aws:iam::123456789012:role/app-b";
        let (ca, cb) = (
            strings.intern(Dim::User, Some(a)),
            strings.intern(Dim::User, Some(b)),
        );
        assert_ne!(ca, cb);
        assert_eq!(strings.intern(Dim::User, Some(a)), ca);
        assert_eq!(strings.code_of(b), cb);
        assert_eq!(strings.get(i64::from(ca)), Some(a));
        assert_eq!(strings.get(i64::from(cb)), Some(b));
        // A value that is the head of another, and values with a zero byte where the head is padded.
        assert_ne!(strings.code_of("arn"), strings.code_of("arn\0"));
        assert_eq!(strings.intern(Dim::Client, None), 0);
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            // Few distinct short values (recent-cache hits, same slots).
            "[a-c]{0,3}",
            // Addresses: the head holds all of them.
            (0u8..4, 0u8..4).prop_map(|(a, b)| format!("10.0.{a}.{b}")),
            // Long values sharing their head: the text decides.
            "[ab]{18,24}",
            // Anything, with zero bytes and non-ASCII.
            "\\PC{0,30}",
            "[\\x00a]{0,22}",
        ]
    }

    proptest! {
        /// The interner agrees with a map of values to first-seen codes, through the cache
        /// and without, with the hash handed over from a prefetch or not, across the table's growth; and a merge maps every code to the same
        /// value.
        #[test]
        fn codes_are_first_seen_order_and_stable(
            values in prop::collection::vec((0usize..4, value(), 0u8..3), 0..400),
            more in prop::collection::vec(value(), 0..100),
        ) {
            let mut strings = Interner::default();
            let mut model: HashMap<String, u32> = HashMap::new();
            for (dim, v, way) in &values {
                let dim = [Dim::User, Dim::Client, Dim::Endpoint, Dim::Detail][*dim];
                let code = match way {
                    0 => strings.code_of(v),
                    1 => strings.intern(dim, Some(v)),
                    _ => {
                        let hash = strings.prefetch(v);
                        strings.intern_hashed(dim, Some((v, Some(hash))))
                    }
                };
                let next = u32::try_from(model.len() + 1).unwrap();
                let expected = *model.entry(v.clone()).or_insert(next);
                prop_assert_eq!(code, expected);
                prop_assert_eq!(strings.get(i64::from(code)), Some(v.as_str()));
            }
            prop_assert_eq!(strings.len(), model.len());
            let mut other = Interner::default();
            for v in &more {
                other.code_of(v);
            }
            let remap = strings.absorb(&other);
            prop_assert_eq!(remap.len(), other.len());
            for (index, code) in remap.iter().enumerate() {
                let theirs = other.get(i64::try_from(index + 1).unwrap());
                prop_assert_eq!(strings.get(i64::from(*code)), theirs);
            }
        }
    }
}
