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
//! An IPv4 address written the one way it is written (`10.0.3.17`: four decimal numbers up to
//! 255, no leading zeros) is found instead in a second table, by its 32-bit number: eight bytes
//! a slot instead of 32, and one comparison of numbers. A fleet's client addresses are most of
//! the values and nearly every look-up that misses the cache below; their table is a quarter of
//! the size (4 MiB a worker for `many`'s 251,093 addresses, against 16 MiB), so more of it stays
//! in the processor's cache, and a quarter of the fresh pages are zeroed. The text decides
//! which table holds a value, so a value still has one code whatever it names.
//!
//! Beside the tables, a small cache of recently returned slots per [`Dim`] answers most lines
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
    /// The slot a value of these `bytes` would have (code 0).
    fn key(bytes: &[u8], hash: u32) -> Slot {
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

    /// Whether this slot holds `value`, `texts` answering for the bytes after the head. The
    /// value is compared as it lies, not through a [`Slot::key`] of it: a head copied a few
    /// bytes at a time and read back whole at once waits for the copy to leave the store
    /// buffer (a fifth of `intern_hashed`'s samples on a fleet's traffic).
    #[inline(always)]
    fn holds(&self, value: &str, texts: Texts<'_>) -> bool {
        self.code != 0
            && self.len == u32::try_from(value.len()).unwrap_or(u32::MAX)
            && head_is(&self.head, value.as_bytes())
            && (value.len() <= HEAD || texts.get(self.code) == Some(value))
    }
}

/// Whether `head` starts with the first [`HEAD`] bytes of `bytes` (all of them when fewer):
/// a few overlapping loads of eight or four bytes from each, no call.
#[inline]
fn head_is(head: &[u8; HEAD], bytes: &[u8]) -> bool {
    fn word(b: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_ne_bytes(*b.get(at..)?.first_chunk::<8>()?))
    }
    fn half(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(*b.get(at..)?.first_chunk::<4>()?))
    }
    let n = bytes.len().min(HEAD);
    match n {
        16.. => {
            word(head, 0) == word(bytes, 0)
                && word(head, 8) == word(bytes, 8)
                && word(head, n - 8) == word(bytes, n - 8)
        }
        8.. => word(head, 0) == word(bytes, 0) && word(head, n - 8) == word(bytes, n - 8),
        4.. => half(head, 0) == half(bytes, 0) && half(head, n - 4) == half(bytes, n - 4),
        _ => head.get(..n) == bytes.get(..n),
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

/// Where `value` of `dim` is kept in [`Interner::recent`].
#[inline]
fn recent_at(dim: Dim, value: &[u8]) -> usize {
    dim as usize * RECENT_SLOTS + recent_slot(value)
}

/// The hash of a value: its high half picks the slot and is kept in it.
fn hash_of(value: &str) -> u32 {
    (rustc_hash::FxBuildHasher.hash_one(value) >> 32) as u32
}

/// Slots of the table of IPv4 addresses from which it is larger than a core's cache (2 MiB);
/// in the unit tests, as soon as there is a table (from the second address), so that they
/// look addresses up late ([`super::Aggregator::set_late_clients`]).
const MANY_ADDRESSES: usize = if cfg!(test) { 1 } else { 1 << 18 };

/// A slot of the table of IPv4 addresses: the address as a number and its code (0: empty).
#[derive(Clone, Copy, Default)]
struct V4 {
    address: u32,
    code: u32,
}

/// `value` as an IPv4 address's number when it is one written the one way it is written:
/// four decimal numbers up to 255 between three dots, without leading zeros (`0` alone is one).
/// Each such text is one number and each number one such text, so which table holds a value is
/// decided by its text.
fn ipv4(value: &str) -> Option<u32> {
    let bytes = value.as_bytes();
    if !(7..=15).contains(&bytes.len()) {
        return None;
    }
    // One pass: `number` and `digits` of the part being read, `address` of the parts before.
    let (mut address, mut number, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &b in bytes {
        if b == b'.' {
            if digits == 0 || number > 255 {
                return None;
            }
            address = address << 8 | number;
            (number, digits) = (0, 0);
            dots += 1;
            continue;
        }
        let digit = b.wrapping_sub(b'0');
        // Not a digit, a fourth digit, or a digit after a leading zero.
        if digit > 9 || digits == 3 || (digits == 1 && number == 0) {
            return None;
        }
        number = number * 10 + u32::from(digit);
        digits += 1;
    }
    (dots == 3 && digits > 0 && number <= 255).then_some(address << 8 | number)
}

/// Doubles an open-addressing `table` of a power of two of slots (or makes its first 64), and
/// places every slot that is `used` again, at the first free one from `start(slot, mask)`.
fn doubled<T: Copy + Default>(
    table: &mut Vec<T>,
    used: impl Fn(&T) -> bool,
    start: impl Fn(&T, usize) -> usize,
) {
    let size = (table.len() * 2).max(64);
    let old = std::mem::replace(table, super::huge_table(size, T::default()));
    let mask = size - 1;
    for slot in old.into_iter().filter(&used) {
        let mut at = start(&slot, mask);
        while table.get(at).is_some_and(&used) {
            at = (at + 1) & mask;
        }
        if let Some(empty) = table.get_mut(at) {
            *empty = slot;
        }
    }
}

/// Where the search for `address` starts in a table of `mask + 1` slots: its number mixed, so
/// that a subnet's consecutive addresses spread.
fn v4_slot(address: u32, mask: usize) -> usize {
    (u64::from(address).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & mask
}

/// Where a value is looked for: by its hash in the general table, or by its number in the table
/// of IPv4 addresses.
#[derive(Clone, Copy, Debug)]
pub(super) enum Place {
    Hash(u32),
    V4(u32),
}

/// The [`Place`] of `value`.
fn place_of(value: &str) -> Place {
    match ipv4(value) {
        Some(address) => Place::V4(address),
        None => Place::Hash(hash_of(value)),
    }
}

/// What [`Interner::prefetch`] found of a value, for [`Interner::intern_hashed`]: its code when
/// the cache of recent codes held it, else where to look for it (whose slot was fetched).
#[derive(Clone, Copy, Debug)]
pub(super) enum Hint {
    Known(u32),
    At(Place),
}

#[derive(Default, Clone)]
pub(super) struct Interner {
    /// Every value's text, in code order.
    text: String,
    /// Where each value ends in `text` (index: code - 1); it starts where the one before ends.
    ends: Vec<usize>,
    /// Open addressing with linear probing over a power of two of slots, at most half full
    /// (so a search for an absent value stops within a few slots); empty until the first
    /// value. IPv4 addresses are not here but in `v4`.
    slots: Vec<Slot>,
    /// How many values `slots` holds.
    in_slots: usize,
    /// The IPv4 addresses ([`ipv4`]), the same way: a power of two of slots, at most half
    /// full, empty until the first address.
    v4: Vec<V4>,
    /// How many addresses `v4` holds.
    in_v4: usize,
    /// Recently returned slots, [`RECENT_SLOTS`] per [`Dim`], by [`recent_slot`].
    recent: Vec<Slot>,
}

impl Interner {
    /// Code for `value`; 0 is reserved for "none".
    pub(super) fn intern(&mut self, dim: Dim, value: Option<&str>) -> u32 {
        self.intern_hashed(dim, value.map(|v| (v, None)))
    }

    /// What to give [`Interner::intern_hashed`] for `value` of `dim`: its code when the cache
    /// of recent codes holds it, else where its search starts, whose slot the processor's cache
    /// is asked for now: a fleet's values are looked up in tables larger than the cache, so a
    /// line's user and client are fetched before the rest of the line is counted.
    pub(super) fn prefetch(&self, dim: Dim, value: &str) -> Hint {
        // Most lines repeat a recent value: then there is nothing to fetch, and no hash to find.
        if let Some(code) = self.recent_code(recent_at(dim, value.as_bytes()), value) {
            return Hint::Known(code);
        }
        let place = place_of(value);
        if let Some(at) = self.slot_of(place) {
            super::prefetch(at);
        }
        Hint::At(place)
    }

    /// The code of `value` when the cache of recent codes holds it at `at` ([`recent_at`]).
    /// Always inlined: left a call, it cost 1.2% more instructions on mix's first 20 MB.
    #[inline(always)]
    fn recent_code(&self, at: usize, value: &str) -> Option<u32> {
        // The hash is not needed to compare: length, head and (past the head) text decide.
        let recent = self.recent.get(at)?;
        recent.holds(value, self.texts()).then_some(recent.code)
    }

    /// The first slot the search for a value of `place` reads, when there is a table yet.
    fn slot_of(&self, place: Place) -> Option<*const u8> {
        match place {
            Place::Hash(hash) => self
                .slots
                .get(hash as usize & self.slots.len().wrapping_sub(1))
                .map(|slot| std::ptr::from_ref(slot).cast()),
            Place::V4(address) => self
                .v4
                .get(v4_slot(address, self.v4.len().wrapping_sub(1)))
                .map(|slot| std::ptr::from_ref(slot).cast()),
        }
    }

    /// The client code of a value [`Interner::prefetch`] found to be the IPv4 address
    /// `address` ([`Place::V4`]), from its text's `bytes`: what [`Interner::intern_hashed`]
    /// gives it, for a line counted late that kept the text's bytes, not the text.
    pub(super) fn intern_client_v4(&mut self, bytes: &[u8], address: u32) -> u32 {
        if self.recent.is_empty() {
            self.recent = vec![Slot::default(); RECENT_SLOTS * 4];
        }
        let found = self.find_or_add_v4(bytes, address);
        if let Some(recent) = self.recent.get_mut(recent_at(Dim::Client, bytes)) {
            *recent = found;
        }
        found.code
    }

    /// [`Interner::intern`] with what [`Interner::prefetch`] found of the value in `dim`, when
    /// it was asked (then the cache of recent codes was asked too, and is not asked again).
    pub(super) fn intern_hashed(&mut self, dim: Dim, value: Option<(&str, Option<Hint>)>) -> u32 {
        let Some((value, hint)) = value else { return 0 };
        let place = match hint {
            Some(Hint::Known(code)) => return code,
            Some(Hint::At(place)) => Some(place),
            None => None,
        };
        if self.recent.is_empty() {
            self.recent = vec![Slot::default(); RECENT_SLOTS * 4];
        }
        let at = recent_at(dim, value.as_bytes());
        if place.is_none()
            && let Some(code) = self.recent_code(at, value)
        {
            return code;
        }
        let found = self.find_or_add(value, place);
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

    /// The slot of `value` (whose [`Place`] is `place` when known), added when it has none yet.
    fn find_or_add(&mut self, value: &str, place: Option<Place>) -> Slot {
        let hash = match place.unwrap_or_else(|| place_of(value)) {
            Place::Hash(hash) => hash,
            Place::V4(address) => return self.find_or_add_v4(value.as_bytes(), address),
        };
        if self.slots.len() < 2 * (self.in_slots + 1) {
            self.grow();
        }
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
            if slot.hash == hash && slot.holds(value, texts) {
                return *slot;
            }
            at = (at + 1) & mask;
        }
        self.text.push_str(value);
        self.ends.push(self.text.len());
        let slot = Slot {
            code: u32::try_from(self.ends.len()).unwrap_or(u32::MAX),
            ..Slot::key(value.as_bytes(), hash)
        };
        if let Some(empty) = self.slots.get_mut(at) {
            *empty = slot;
        }
        self.in_slots += 1;
        slot
    }

    /// [`Interner::find_or_add`] of an IPv4 address, `address` its number. The slot returned
    /// is made as the general table's are, for the cache of recent codes (its hash left 0:
    /// that cache compares the length, the head and the text, not the hash).
    #[inline(always)]
    fn find_or_add_v4(&mut self, value: &[u8], address: u32) -> Slot {
        if self.v4.len() < 2 * (self.in_v4 + 1) {
            self.grow_v4();
        }
        let mask = self.v4.len() - 1;
        let mut at = v4_slot(address, mask);
        loop {
            let Some(slot) = self.v4.get(at) else {
                // Cannot happen: `at` is masked to the table's size.
                return Slot::default();
            };
            if slot.code == 0 {
                break;
            }
            if slot.address == address {
                return Slot {
                    code: slot.code,
                    ..Slot::key(value, 0)
                };
            }
            at = (at + 1) & mask;
        }
        // The text of the number is the value's: it is written the one way it is written.
        for (i, part) in address.to_be_bytes().into_iter().enumerate() {
            if i > 0 {
                self.text.push('.');
            }
            if part >= 100 {
                self.text.push(char::from(b'0' + part / 100));
            }
            if part >= 10 {
                self.text.push(char::from(b'0' + part / 10 % 10));
            }
            self.text.push(char::from(b'0' + part % 10));
        }
        self.ends.push(self.text.len());
        let code = u32::try_from(self.ends.len()).unwrap_or(u32::MAX);
        if let Some(empty) = self.v4.get_mut(at) {
            *empty = V4 { address, code };
        }
        self.in_v4 += 1;
        Slot {
            code,
            ..Slot::key(value, 0)
        }
    }

    /// Whether the table of IPv4 addresses has outgrown a core's cache ([`MANY_ADDRESSES`]):
    /// until then a look-up rarely waits on memory, and looking one up late would only cost.
    pub(super) fn many_addresses(&self) -> bool {
        self.v4.len() >= MANY_ADDRESSES
    }

    /// [`Interner::grow`] of the table of IPv4 addresses.
    fn grow_v4(&mut self) {
        doubled(
            &mut self.v4,
            |s| s.code != 0,
            |s, mask| v4_slot(s.address, mask),
        );
    }

    /// Doubles the table (or makes its first 64 slots) and places every slot again by its
    /// kept hash.
    fn grow(&mut self) {
        doubled(
            &mut self.slots,
            |s| s.code != 0,
            |s, mask| s.hash as usize & mask,
        );
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
        let places: Vec<Place> = (1..=other.ends.len()).map(|c| place_of(value(c))).collect();
        let mut codes = Vec::with_capacity(places.len());
        for (index, &place) in places.iter().enumerate() {
            if let Some(&ahead) = places.get(index + AHEAD)
                && let Some(at) = self.slot_of(ahead)
            {
                super::prefetch(at);
            }
            codes.push(self.find_or_add(value(index + 1), Some(place)).code);
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
    #[inline(always)]
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

    proptest! {
        /// A head matches a value of the same length exactly when their first [`HEAD`] bytes
        /// are the same, for every length (each of the loads' cases) and a difference at any
        /// place.
        #[test]
        fn a_head_matches_the_values_that_start_with_it(
            a in proptest::collection::vec(0u8..3, 0..30),
            at in any::<prop::sample::Index>(),
            to in 0u8..3,
        ) {
            let a = String::from_utf8(a.iter().map(|b| b'a' + b).collect()).unwrap();
            let mut b = a.clone().into_bytes();
            if !b.is_empty() {
                let i = at.index(b.len());
                b[i] = b'a' + to;
            }
            let n = a.len().min(HEAD);
            let key = Slot::key(a.as_bytes(), 0);
            prop_assert!(head_is(&key.head, a.as_bytes()));
            prop_assert_eq!(head_is(&key.head, &b), a.as_bytes()[..n] == b[..n]);
        }
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

    /// Every text the IPv4 table takes is the one way its number is written, and every other
    /// text is left to the general table: leading zeros, numbers past 255, missing or extra
    /// parts, signs and spaces.
    #[test]
    fn ipv4_addresses_are_only_their_one_writing() {
        for (text, number) in [
            ("10.0.3.17", Some(0x0a00_0311)),
            ("0.0.0.0", Some(0)),
            ("255.255.255.255", Some(u32::MAX)),
            ("192.168.100.200", Some(0xc0a8_64c8)),
            ("010.0.3.17", None),
            ("10.0.3.017", None),
            ("10.0.3.00", None),
            ("10.0.3.256", None),
            ("10.256.3.1", None),
            ("256.0.0.1", None),
            ("10.0.3", None),
            ("10.0.3.17.1", None),
            ("10.0..17", None),
            (".10.0.3.17", None),
            ("10.0.3.17.", None),
            ("10.0.3.+7", None),
            ("10.0.3.17 ", None),
            ("1000.0.3.1", None),
            ("10.0.3.17:5432", None),
            ("::ffff:10.0.3.17", None),
            ("", None),
            ("%", None),
        ] {
            assert_eq!(ipv4(text), number, "{text:?}");
            if let Some(number) = number {
                assert_eq!(std::net::Ipv4Addr::from(number).to_string(), text);
            }
        }
    }

    proptest! {
        /// The IPv4 table's numbers and texts are one to one: the number of any text it takes
        /// written back is the text, and every address written the usual way is taken.
        #[test]
        fn ipv4_numbers_and_texts_are_one_to_one(
            number in any::<u32>(),
            text in "[0-9.]{0,16}",
            parts in prop::collection::vec((0u16..300, any::<bool>()), 3..6),
        ) {
            let written = std::net::Ipv4Addr::from(number).to_string();
            prop_assert_eq!(ipv4(&written), Some(number));
            // Numbers past 255, leading zeros, three to five parts.
            let quad: Vec<String> = parts
                .iter()
                .map(|(n, zero)| if *zero { format!("0{n}") } else { n.to_string() })
                .collect();
            let quad = quad.join(".");
            let valid = parts.len() == 4 && parts.iter().all(|(n, zero)| *n <= 255 && !zero);
            prop_assert_eq!(ipv4(&quad).is_some(), valid, "{}", quad);
            for text in [text, quad] {
                if let Some(n) = ipv4(&text) {
                    prop_assert_eq!(std::net::Ipv4Addr::from(n).to_string(), text);
                }
            }
        }
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            // Few distinct short values (recent-cache hits, same slots).
            "[a-c]{0,3}",
            // Addresses: the head holds all of them.
            (0u8..4, 0u8..4).prop_map(|(a, b)| format!("10.0.{a}.{b}")),
            // Addresses from a wide range: the IPv4 table grows.
            (any::<u8>(), any::<u8>()).prop_map(|(a, b)| format!("172.{a}.{b}.9")),
            // Addresses of a narrow range, and texts like them that the IPv4 table does not
            // take (a leading zero, a port): each must keep a code of its own.
            (0u8..3, 0u8..3, 0u8..3).prop_map(|(a, b, form)| match form {
                0 => format!("192.168.{a}.{b}"),
                1 => format!("192.168.{a}.0{b}"),
                _ => format!("192.168.{a}.{b}:5432"),
            }),
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
                        let hint = strings.prefetch(dim, v);
                        strings.intern_hashed(dim, Some((v, Some(hint))))
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
