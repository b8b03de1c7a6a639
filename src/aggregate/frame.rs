//! The polars side of aggregation: compact columns in, grouped counts out.
//!
//! Events arrive as rows of small integer codes (kind, cause, interned user/client/endpoint/
//! detail, pattern) plus a nullable timestamp, and are folded at once into per-combination
//! accumulators (`n`, `first`, `last`) of three projections, so memory follows the number of
//! distinct combinations, not the number of lines. At the end the accumulators become three
//! polars frames of compact columns that the summary's questions group and filter. The
//! per-minute timeline lives in `minutes.rs`, sessions (per `clientConnection`) in
//! `sessions.rs`. No polars type leaves this module.

use std::collections::HashMap;

use polars::prelude::*;

use rustc_hash::FxBuildHasher as FxBuild;

use super::minutes::{Bucket, MinuteBuffer, Timeline};

pub const KIND: &str = "kind";
pub const CAUSE: &str = "cause";
pub const USER: &str = "user";
pub const CLIENT: &str = "client";
pub const ENDPOINT: &str = "endpoint";
pub const DETAIL: &str = "detail";
pub const PATTERN: &str = "pattern";
const N: &str = "n";
const FIRST: &str = "first";
const LAST: &str = "last";

/// One event as compact codes. `0` means "none" for interned columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactRow {
    pub kind: u32,
    pub cause: u32,
    pub user: u32,
    pub client: u32,
    pub endpoint: u32,
    pub detail: u32,
    pub pattern: u32,
    pub ts: Option<i64>,
}

/// A grouped result: the key codes in the order asked for, then count and time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub keys: Vec<Option<i64>>,
    pub n: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
#[error("aggregation failed: {0}")]
pub struct FrameError(#[from] PolarsError);

/// Events folded into per-combination counts as they arrive (hash maps keyed by the codes),
/// so memory follows the number of distinct combinations. Every question the summary asks
/// crosses at most one of user, client or endpoint with (kind, cause), so the combinations are
/// kept as four projections instead of one table of every dimension: crossing a fleet's client
/// addresses with its endpoints and users would multiply their numbers (256,000 addresses on
/// 300 endpoints made a million rows per worker), and the main projection without the endpoint
/// stays small enough for the core's cache (with 300 endpoints crossed with its details and
/// patterns, its look-up was a cache miss on every line). The minute is kept apart with the
/// kind only ([`MinuteBuffer`]): no question crosses minutes with clients or users.
#[derive(Clone, Default)]
pub struct FactBuffer {
    /// (kind, cause, detail, pattern): every event, by [`MainKey`].
    main: HashMap<MainKey, Acc, FxBuild>,
    /// ([`kind_cause`], user): events that name a user.
    users: ByCode,
    /// ([`kind_cause`], endpoint): events that name an endpoint.
    endpoints: ByCode,
    /// ([`kind_cause`], client): events that name a client address, by client code.
    clients: ByClient,
    minutes: MinuteBuffer,
}

/// An event kind (fewer than 2^8, checked below) and a cause code (the catalogue's causes,
/// fewer than 2^24) in one word.
fn kind_cause(kind: u32, cause: u32) -> u32 {
    kind.min(0xff) << 24 | cause.min(0x00ff_ffff)
}

const _: () = assert!(super::minutes::KINDS < 0xff);

/// The main projection's key, (kind, cause, detail, pattern) in one number: [`kind_cause`],
/// detail and pattern, 32 bits each. Every event looks it up, and a number hashes in two
/// multiplications and compares at once, where an array of codes was hashed and compared as
/// bytes.
type MainKey = u128;

fn main_key([kind, cause, detail, pattern]: [u32; 4]) -> MainKey {
    u128::from(kind_cause(kind, cause)) << 64 | u128::from(detail) << 32 | u128::from(pattern)
}

/// (kind, cause, detail, pattern) of a [`MainKey`].
fn main_codes(key: MainKey) -> [u32; 4] {
    // Truncations: each code is 32 bits of the key.
    let word = |at: u32| (key >> at) as u32;
    let (kind, cause) = split_kind_cause(word(64));
    [kind, cause, word(32), word(0)]
}

/// The key of a projection by one code (a user's, an endpoint's), ([`kind_cause`], code) in
/// one number (see [`MainKey`]).
type CodeKey = u64;

fn code_key([kind_cause, code]: [u32; 2]) -> CodeKey {
    u64::from(kind_cause) << 32 | u64::from(code)
}

/// ([`kind_cause`], code) of a [`CodeKey`].
fn key_codes(key: CodeKey) -> [u32; 2] {
    // Truncations: each code is 32 bits of the key.
    [(key >> 32) as u32, key as u32]
}

/// A projection ([`kind_cause`], code) → [`Seen`] of the events that name a value of one
/// dimension (users, endpoints), by [`CodeKey`].
#[derive(Clone, Default)]
struct ByCode(HashMap<CodeKey, Seen, FxBuild>);

impl ByCode {
    /// Counts `seen` for `code` (none for code 0: the event names no value).
    fn add(&mut self, kind: u32, cause: u32, code: u32, seen: Seen) {
        if code != 0 {
            absorb(&mut self.0, code_key([kind_cause(kind, cause), code]), seen);
        }
    }

    /// Adds another worker's counts, its codes mapped through `map`.
    fn merge(&mut self, other: ByCode, map: &dyn Fn(u32) -> u32) {
        for (key, seen) in other.0 {
            let [kind_cause, code] = key_codes(key);
            absorb(&mut self.0, code_key([kind_cause, map(code)]), seen);
        }
    }

    /// The frame of the projection, its codes in column `name`.
    fn into_frame(self, name: &str) -> Result<DataFrame, FrameError> {
        let mut columns = SeenColumns::with_capacity(self.0.len());
        for (key, seen) in self.0 {
            columns.push(key_codes(key), seen);
        }
        columns.into_frame(name)
    }
}

/// The kind and the cause of a [`kind_cause`] word.
fn split_kind_cause(word: u32) -> (u32, u32) {
    (word >> 24, word & 0x00ff_ffff)
}

/// Count and first time of a user's or client's combination (`i64::MAX`: untimed).
#[derive(Debug, Clone, Copy)]
struct Seen {
    n: u64,
    first: i64,
}

impl Tally for Seen {
    const EMPTY: Seen = Seen {
        n: 0,
        first: i64::MAX,
    };

    fn absorb(&mut self, other: Seen) {
        self.n += other.n;
        self.first = self.first.min(other.first);
    }
}

/// The clients projection, ([`kind_cause`], client) → [`Seen`], kept by client code: an
/// array indexed by code with two combinations inline (32 bytes a code, no key stored), the
/// rest in a map. With a fleet's addresses it is a worker's largest table, and a look-up in a
/// map missed the cache twice a line (the control bytes, then the entry); here the entry's
/// place is known as soon as the client's code is, so it is fetched
/// ([`FactBuffer::prefetch_client`]) while the rest of the line is counted. An address mostly
/// connects, or fails one way, so a third combination (to the map) is rare. A row is added
/// [`LAG`] rows after it comes ([`ByClient::add_later`]), so that its place has arrived in the
/// cache by then: fetched only once the line's client code was known, it was still on its way
/// when the same line was counted.
#[derive(Clone, Default)]
struct ByClient {
    /// Rows not added yet, oldest first: at most [`LAG`].
    late: std::collections::VecDeque<([u32; 2], Seen)>,
    /// Index: client code - 1 (codes are shared with users, endpoints and details, whose
    /// places stay empty).
    inline: Vec<Pair>,
    /// Combinations past a code's first two, and counts past `u32::MAX`.
    more: HashMap<[u32; 2], Seen, FxBuild>,
}

/// A client code's first two combinations, in one aligned half cache line.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Pair([Inline; 2]);

/// One combination of a client: `first` is `i64::MIN` while the place is empty (a time is a
/// number of milliseconds, `i64::MAX` when untimed, never `i64::MIN`).
#[derive(Clone, Copy)]
struct Inline {
    kind_cause: u32,
    n: u32,
    first: i64,
}

const EMPTY_PLACE: Inline = Inline {
    kind_cause: 0,
    n: 0,
    first: i64::MIN,
};

/// How many rows later than it comes [`ByClient::add_later`] adds a row. Sums and least times
/// do not depend on the order they are added in, and the rows are added in the order they
/// came, so the projection is the same.
const LAG: usize = 4;

impl ByClient {
    /// [`ByClient::add`] of `key` and `seen` once [`LAG`] more rows have come.
    fn add_later(&mut self, key: [u32; 2], seen: Seen) {
        if self.late.len() >= LAG
            && let Some((key, seen)) = self.late.pop_front()
        {
            self.add(key, seen);
        }
        self.late.push_back((key, seen));
    }

    /// Adds the rows [`ByClient::add_later`] still holds.
    fn add_late(&mut self) {
        while let Some((key, seen)) = self.late.pop_front() {
            self.add(key, seen);
        }
    }

    fn prefetch(&self, client: u32) {
        if let Some(pair) = (client as usize)
            .checked_sub(1)
            .and_then(|index| self.inline.get(index))
        {
            super::prefetch(std::ptr::from_ref(pair).cast());
        }
    }

    fn add(&mut self, key: [u32; 2], seen: Seen) {
        let [kind_cause, client] = key;
        let (Some(index), Ok(n)) = ((client as usize).checked_sub(1), u32::try_from(seen.n)) else {
            absorb(&mut self.more, key, seen);
            return;
        };
        if self.inline.len() <= index {
            if self.inline.capacity() <= index {
                // A new buffer, advised before any place is written, and the places copied
                // into it: one grown in place (`reserve`) keeps the small pages of the part
                // written before, and the look-ups there missed the TLB.
                let size = (index + 1).max(2 * self.inline.capacity()).max(1024);
                let mut grown = Vec::with_capacity(size);
                super::advise_huge_pages(&grown);
                grown.extend_from_slice(&self.inline);
                self.inline = grown;
            }
            self.inline.resize(index + 1, Pair([EMPTY_PLACE; 2]));
        }
        if let Some(Pair(places)) = self.inline.get_mut(index) {
            for place in places {
                if place.first == i64::MIN {
                    *place = Inline {
                        kind_cause,
                        n,
                        first: seen.first,
                    };
                    return;
                }
                if place.kind_cause == kind_cause {
                    if let Some(sum) = place.n.checked_add(n) {
                        place.n = sum;
                        place.first = place.first.min(seen.first);
                        return;
                    }
                    break;
                }
            }
        }
        absorb(&mut self.more, key, seen);
    }

    /// Calls `each` with every (key, seen), one row per key, by client code, then the
    /// combinations only the map holds.
    fn for_each_row(mut self, mut each: impl FnMut([u32; 2], Seen)) {
        self.add_late();
        let ByClient {
            inline, mut more, ..
        } = self;
        for (index, Pair(places)) in inline.iter().enumerate() {
            let client = u32::try_from(index + 1).unwrap_or(u32::MAX);
            for place in places.iter().take_while(|p| p.first != i64::MIN) {
                let key = [place.kind_cause, client];
                let mut seen = Seen {
                    n: u64::from(place.n),
                    first: place.first,
                };
                if !more.is_empty()
                    && let Some(extra) = more.remove(&key)
                {
                    seen.absorb(extra);
                }
                each(key, seen);
            }
        }
        for (key, seen) in more {
            each(key, seen);
        }
    }

    /// Every (key, seen), as [`ByClient::for_each_row`] gives them.
    fn into_rows(self) -> Vec<([u32; 2], Seen)> {
        let mut rows = Vec::new();
        self.for_each_row(|key, seen| rows.push((key, seen)));
        rows
    }

    /// The frame of the projection: its columns filled in one pass over the places (a
    /// fleet's clients are most of a run's rows; no vector of rows between).
    fn into_frame(self, name: &str) -> Result<DataFrame, FrameError> {
        let rows = self.inline.len() + self.more.len() + self.late.len();
        let mut columns = SeenColumns::with_capacity(rows);
        self.for_each_row(|key, seen| columns.push(key, seen));
        columns.into_frame(name)
    }
}

/// The columns of a user or client projection, filled a row at a time: `kind`, `cause`, the
/// value's code, `n`, `first` (null when untimed) and a `last` of nulls (not kept).
struct SeenColumns {
    kinds: Vec<u32>,
    causes: Vec<u32>,
    codes: Vec<u32>,
    n: Vec<u64>,
    first: Vec<i64>,
    /// The rows without a time (few: lines without a timestamp).
    untimed: Vec<usize>,
}

impl SeenColumns {
    fn with_capacity(rows: usize) -> Self {
        Self {
            kinds: Vec::with_capacity(rows),
            causes: Vec::with_capacity(rows),
            codes: Vec::with_capacity(rows),
            n: Vec::with_capacity(rows),
            first: Vec::with_capacity(rows),
            untimed: Vec::new(),
        }
    }

    fn push(&mut self, [kind_cause, code]: [u32; 2], seen: Seen) {
        let (kind, cause) = split_kind_cause(kind_cause);
        if seen.first == i64::MAX {
            self.untimed.push(self.first.len());
        }
        self.kinds.push(kind);
        self.causes.push(cause);
        self.codes.push(code);
        self.n.push(seen.n);
        self.first.push(seen.first);
    }

    fn into_frame(self, name: &str) -> Result<DataFrame, FrameError> {
        let height = self.first.len();
        let validity = (!self.untimed.is_empty()).then(|| {
            let mut valid = polars_arrow::bitmap::MutableBitmap::from_len_set(height);
            for &row in &self.untimed {
                valid.set(row, false);
            }
            polars_arrow::bitmap::Bitmap::from(valid)
        });
        let first = Int64Chunked::from_vec_validity(FIRST.into(), self.first, validity);
        let columns = vec![
            Column::new(KIND.into(), self.kinds),
            Column::new(CAUSE.into(), self.causes),
            Column::new(name.into(), self.codes),
            Column::new(N.into(), self.n),
            first.into_column(),
            Column::full_null(LAST.into(), height, &DataType::Int64),
        ];
        Ok(DataFrame::new(height, columns)?)
    }
}

/// Count and time range of one combination; an untimed range is (`i64::MAX`, `i64::MIN`), so
/// that absorbing is a plain min and max (24 bytes instead of 40 with `Option`s).
#[derive(Debug, Clone, Copy)]
struct Acc {
    n: u64,
    first: i64,
    last: i64,
}

impl Acc {
    fn new(n: u64, first: Option<i64>, last: Option<i64>) -> Acc {
        Acc {
            n,
            first: first.unwrap_or(i64::MAX),
            last: last.unwrap_or(i64::MIN),
        }
    }

    fn first(&self) -> Option<i64> {
        (self.first != i64::MAX).then_some(self.first)
    }

    fn last(&self) -> Option<i64> {
        (self.last != i64::MIN).then_some(self.last)
    }
}

/// What a projection keeps per combination: a count and times, folded by min and max.
trait Tally: Copy {
    /// Nothing counted yet.
    const EMPTY: Self;
    fn absorb(&mut self, other: Self);
}

impl Tally for Acc {
    const EMPTY: Acc = Acc {
        n: 0,
        first: i64::MAX,
        last: i64::MIN,
    };

    fn absorb(&mut self, other: Acc) {
        self.n += other.n;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }
}

/// Folds `tally` into the accumulator of `key`.
fn absorb<K: std::hash::Hash + Eq, T: Tally>(table: &mut HashMap<K, T, FxBuild>, key: K, tally: T) {
    table.entry(key).or_insert(T::EMPTY).absorb(tally);
}

/// A projection's rows, in any order, as a frame of the key columns `names` then `n`,
/// `first`, `last`.
fn frame_of<const K: usize>(
    rows: Vec<([u32; K], Acc)>,
    names: [&str; K],
) -> Result<DataFrame, FrameError> {
    let mut columns: Vec<Column> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Column::new(
                (*name).into(),
                rows.iter().map(|(k, _)| k[i]).collect::<Vec<u32>>(),
            )
        })
        .collect();
    columns.push(Column::new(
        N.into(),
        rows.iter().map(|(_, a)| a.n).collect::<Vec<u64>>(),
    ));
    columns.push(Column::new(
        FIRST.into(),
        rows.iter()
            .map(|(_, a)| a.first())
            .collect::<Vec<Option<i64>>>(),
    ));
    columns.push(Column::new(
        LAST.into(),
        rows.iter()
            .map(|(_, a)| a.last())
            .collect::<Vec<Option<i64>>>(),
    ));
    Ok(DataFrame::new(rows.len(), columns)?)
}

impl FactBuffer {
    pub fn push(&mut self, row: FactRow) {
        let ts = row.ts;
        self.push_counted(row, 1, None, ts);
    }

    /// Adds `n` events of one combination at once (rows counted elsewhere: Logs Insights);
    /// `minute` is their minute, `first`/`last` their time range.
    pub fn push_counted(&mut self, row: FactRow, n: u64, minute: Option<i64>, last: Option<i64>) {
        let acc = Acc::new(n, row.ts, last);
        absorb(
            &mut self.main,
            main_key([row.kind, row.cause, row.detail, row.pattern]),
            acc,
        );
        let seen = Seen {
            n,
            first: acc.first,
        };
        self.users.add(row.kind, row.cause, row.user, seen);
        self.endpoints.add(row.kind, row.cause, row.endpoint, seen);
        self.minutes
            .push(row.kind, n, minute.or(row.ts), acc.first(), acc.last());
        // Last, and a few rows later: its entry was asked for when the client's code was known.
        if row.client != 0 {
            self.clients
                .add_later([kind_cause(row.kind, row.cause), row.client], seen);
        }
    }

    /// Asks the cache for the clients projection's entry of `client` (a code), before the
    /// row that names it is pushed.
    pub fn prefetch_client(&self, client: u32) {
        self.clients.prefetch(client);
    }

    /// Adds another buffer's counts, its string codes mapped through `map`. Each of the
    /// other buffer's tables is freed as soon as it is folded in.
    pub fn merge(&mut self, other: FactBuffer, map: &dyn Fn(u32) -> u32) {
        let FactBuffer {
            main,
            users,
            endpoints,
            clients,
            minutes,
        } = other;
        for (key, acc) in main {
            let [kind, cause, detail, pattern] = main_codes(key);
            absorb(
                &mut self.main,
                main_key([kind, cause, map(detail), pattern]),
                acc,
            );
        }
        self.users.merge(users, map);
        self.endpoints.merge(endpoints, map);
        // Mapped first, so that each entry is asked for a few rows before it is added to:
        // with a fleet's addresses the array is larger than the cache.
        const AHEAD: usize = 8;
        self.clients.add_late();
        let mut rows = clients.into_rows();
        for ([_, client], _) in &mut rows {
            *client = map(*client);
        }
        for (index, &(key, seen)) in rows.iter().enumerate() {
            if let Some(([_, client], _)) = rows.get(index + AHEAD) {
                self.clients.prefetch(*client);
            }
            self.clients.add(key, seen);
        }
        self.minutes.merge(minutes);
    }

    /// The fact tables as polars frames of compact columns.
    pub fn finish(self) -> Result<Facts, FrameError> {
        let FactBuffer {
            main,
            users,
            endpoints,
            clients,
            minutes,
        } = self;
        // The clients' frame (a fleet's addresses: most of the rows) on a second thread.
        let (rest, clients) = super::both(
            true,
            || -> Result<_, FrameError> {
                // No order is needed: every question sums or takes extremes, and `group`
                // sorts its answer.
                let main = main.into_iter().map(|(k, acc)| (main_codes(k), acc));
                let main = frame_of(main.collect(), [KIND, CAUSE, DETAIL, PATTERN])?;
                let users = users.into_frame(USER)?;
                let endpoints = endpoints.into_frame(ENDPOINT)?;
                Ok((main, users, endpoints, minutes.finish()))
            },
            || clients.into_frame(CLIENT),
        );
        let (main, users, endpoints, timeline) = rest?;
        let clients = clients?;
        let Timeline {
            buckets: timeline,
            opened,
            minutes: timeline_minutes,
        } = timeline;
        Ok(Facts {
            main,
            users,
            endpoints,
            clients,
            timeline,
            opened,
            timeline_minutes,
        })
    }
}

/// The reduced fact tables: `main`, `users`, `endpoints` and `clients` by the dimensions of
/// their projection (see [`FactBuffer`]), and the timeline.
pub struct Facts {
    main: DataFrame,
    users: DataFrame,
    endpoints: DataFrame,
    clients: DataFrame,
    /// Events per kind in each minute that has any, in minute order (untimed events left
    /// out), until [`Facts::take_timeline`].
    timeline: Vec<Bucket>,
    /// The time ranges of the database connections opened, one per minute (bucket) with any.
    opened: Vec<(i64, i64)>,
    /// Minutes per bucket of the timeline (1 unless it spans more minutes than a timeline
    /// keeps: see `minutes.rs`).
    timeline_minutes: i64,
}

impl CodeCount {
    fn add(&mut self, other: CodeCount) {
        self.events += other.events;
        self.failures += other.failures;
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

impl Facts {
    /// Sums over every dimension not in `keys`, optionally keeping only rows where `filter`
    /// (a dimension) equals a value. Keys come back as `i64` codes. A question that names the
    /// user or the client is answered from that projection, which holds only the events that
    /// name one (events without are never a user's or a client's); user and client together
    /// are not kept, and asking for them is an error.
    pub fn group(
        &self,
        keys: &[&str],
        filter: Option<(&str, u32)>,
    ) -> Result<Vec<Group>, FrameError> {
        let names = keys.iter().copied().chain(filter.map(|(name, _)| name));
        let mut frame = &self.main;
        for name in names {
            if name == USER {
                frame = &self.users;
            } else if name == CLIENT {
                frame = &self.clients;
            } else if name == ENDPOINT {
                frame = &self.endpoints;
            }
        }
        if frame.height() == 0 {
            return Ok(Vec::new());
        }
        let mut lazy = frame.clone().lazy();
        if let Some((name, value)) = filter {
            lazy = lazy.filter(col(name).eq(lit(value)));
        }
        let grouped = if keys.is_empty() {
            lazy.select([
                col(N).sum().alias(N),
                col(FIRST).min().alias(FIRST),
                col(LAST).max().alias(LAST),
            ])
            .collect()?
        } else {
            lazy.group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
                .agg([
                    col(N).sum().alias(N),
                    col(FIRST).min().alias(FIRST),
                    col(LAST).max().alias(LAST),
                ])
                .collect()?
        };
        let mut key_columns = Vec::with_capacity(keys.len());
        for key in keys {
            let column = grouped.column(key)?.cast(&DataType::Int64)?;
            key_columns.push(column.i64()?.clone());
        }
        let n = grouped.column(N)?.cast(&DataType::UInt64)?;
        let n = n.u64()?;
        let first = grouped.column(FIRST)?.i64()?.clone();
        let last = grouped.column(LAST)?.i64()?.clone();
        let mut out = Vec::with_capacity(grouped.height());
        for row in 0..grouped.height() {
            let count = n.get(row).unwrap_or(0);
            if count == 0 {
                continue;
            }
            out.push(Group {
                keys: key_columns.iter().map(|c| c.get(row)).collect(),
                n: count,
                first: first.get(row),
                last: last.get(row),
            });
        }
        // Deterministic order: count descending, then keys.
        out.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.keys.cmp(&b.keys)));
        Ok(out)
    }
}

/// Per cause code, the (value code, counts) pairs of its events ([`Facts::per_code_by_cause`]).
pub type CodesByCause = HashMap<u32, Vec<(u32, CodeCount)>, FxBuild>;

/// Events of one value of a dimension (see [`Facts::per_code`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodeCount {
    pub events: u64,
    /// Events of the kinds the caller counts as failures.
    pub failures: u64,
    /// The value's first timed event.
    pub first: Option<i64>,
}

impl Facts {
    /// Adds (events, failures) per code of `dimension` (user, client or endpoint) into `out`,
    /// indexed by code (larger codes are left out), optionally of one cause only. The
    /// projection's rows are already one per combination, so summing them into a
    /// vector by code is the grouping: no group keys are built for a fleet's 256,000
    /// addresses, and nothing is sorted.
    pub fn per_code(
        &self,
        dimension: &str,
        cause: Option<u32>,
        failure: &dyn Fn(u32) -> bool,
        out: &mut [(u64, u64)],
    ) -> Result<(), FrameError> {
        self.each_code(dimension, cause, failure, &mut |_, code, count| {
            if let Some(slot) = usize::try_from(code).ok().and_then(|c| out.get_mut(c)) {
                slot.0 += count.events;
                slot.1 += count.failures;
            }
        })
    }

    /// [`Facts::per_code`] of each cause (code 1 and up; events without a cause are left out),
    /// as (code, counts) pairs of the codes its events name, in no order: a cause's rows are
    /// a few of the table's, and a vector as long as a fleet's addresses per cause and
    /// dimension was most of the end of a run. One pass over the projection for every cause
    /// (a polars filter of it per cause cost a scan of a fleet's rows each).
    pub fn per_code_by_cause(&self, dimension: &str) -> Result<CodesByCause, FrameError> {
        let mut by_cause: HashMap<u32, HashMap<u32, CodeCount, FxBuild>, FxBuild> =
            HashMap::default();
        self.each_code(dimension, None, &|_| false, &mut |cause, code, count| {
            if cause != 0 {
                by_cause
                    .entry(cause)
                    .or_default()
                    .entry(code)
                    .or_default()
                    .add(count);
            }
        })?;
        Ok(by_cause
            .into_iter()
            .map(|(cause, codes)| (cause, codes.into_iter().collect()))
            .collect())
    }

    /// Calls `each` with the cause, the code and the counts of every row of `dimension`'s
    /// projection, optionally of one cause only.
    fn each_code(
        &self,
        dimension: &str,
        cause: Option<u32>,
        failure: &dyn Fn(u32) -> bool,
        each: &mut dyn FnMut(u32, u32, CodeCount),
    ) -> Result<(), FrameError> {
        let frame = match dimension {
            USER => &self.users,
            CLIENT => &self.clients,
            ENDPOINT => &self.endpoints,
            _ => &self.main,
        };
        if frame.height() == 0 {
            return Ok(());
        }
        let causes = frame.column(CAUSE)?.u32()?;
        let values = frame.column(dimension)?.u32()?;
        let kinds = frame.column(KIND)?.u32()?;
        let n = frame.column(N)?.u64()?;
        let first = frame.column(FIRST)?.i64()?;
        // A row of the projection, of the cause asked for, to `each`.
        let mut emit = |row_cause: u32, value: u32, failed: bool, n: u64, first: Option<i64>| {
            if cause.is_none_or(|cause| cause == row_cause) {
                let failures = if failed { n } else { 0 };
                let count = CodeCount {
                    events: n,
                    failures,
                    first,
                };
                each(row_cause, value, count);
            }
        };
        // The frames are made here from vectors: one chunk each, no nulls but in `first`. Read
        // as slices, a fleet's rows cost a loop, not five of polars' value iterators zipped.
        let sliced = causes
            .cont_slice()
            .ok()
            .zip(values.cont_slice().ok())
            .zip(kinds.cont_slice().ok())
            .zip(n.cont_slice().ok())
            .zip(
                first
                    .downcast_iter()
                    .next()
                    .filter(|_| first.chunks().len() == 1),
            );
        if let Some(((((causes, values), kinds), n), first)) = sliced {
            let valid = first.validity();
            let rows = causes
                .iter()
                .zip(values)
                .zip(kinds)
                .zip(n)
                .zip(first.values().iter())
                .enumerate();
            for (i, ((((&row_cause, &value), &kind), &n), &first)) in rows {
                let first = valid.is_none_or(|valid| valid.get_bit(i)).then_some(first);
                emit(row_cause, value, failure(kind), n, first);
            }
            return Ok(());
        }
        let rows = causes
            .iter()
            .zip(values.iter())
            .zip(kinds.iter())
            .zip(n.iter())
            .zip(first.iter());
        for ((((row_cause, value), kind), n), first) in rows {
            if let (Some(row_cause), Some(value), Some(n)) = (row_cause, value, n) {
                emit(row_cause, value, kind.is_some_and(failure), n, first);
            }
        }
        Ok(())
    }

    /// Whether a database connection was opened between `first` and `last` (inclusive).
    pub fn opened_between(&self, first: i64, last: i64) -> bool {
        self.opened.iter().any(|&(f, l)| f <= last && l >= first)
    }

    /// The timeline: events per kind in each minute that has any, in minute order (untimed
    /// events left out). Left empty here.
    pub fn take_timeline(&mut self) -> Vec<Bucket> {
        std::mem::take(&mut self.timeline)
    }

    /// Minutes per bucket of the timeline.
    pub fn timeline_minutes(&self) -> i64 {
        self.timeline_minutes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHUNK: usize = 1 << 16;

    proptest! {
        /// The clients projection by code gives the rows a map of (kind and cause, client)
        /// gives, whatever the number of combinations per client and counts past `u32::MAX`,
        /// with rows added at once or [`LAG`] rows late, in any mix; and rows all added late
        /// come out exactly as rows added at once, in the same order.
        #[test]
        fn clients_by_code_agree_with_a_map(
            adds in prop::collection::vec(
                (0u32..4, 1u32..12, prop_oneof![1u64..3, Just(u64::from(u32::MAX) - 1), Just(u64::from(u32::MAX) + 5)], prop_oneof![Just(i64::MAX), -5i64..5], any::<bool>()),
                0..200,
            ),
        ) {
            let mut by_code = ByClient::default();
            let (mut at_once, mut all_late) = (ByClient::default(), ByClient::default());
            let mut model: HashMap<[u32; 2], Seen, FxBuild> = HashMap::default();
            for (kind_cause, client, n, first, late) in adds {
                let seen = Seen { n, first };
                if late {
                    by_code.add_later([kind_cause, client], seen);
                } else {
                    by_code.add([kind_cause, client], seen);
                }
                at_once.add([kind_cause, client], seen);
                all_late.add_later([kind_cause, client], seen);
                absorb(&mut model, [kind_cause, client], seen);
            }
            let rows = |by: ByClient| -> Vec<([u32; 2], u64, i64)> {
                by.into_rows().into_iter().map(|(k, s)| (k, s.n, s.first)).collect()
            };
            prop_assert_eq!(rows(all_late), rows(at_once));
            let mut got: Vec<([u32; 2], u64, i64)> =
                by_code.into_rows().into_iter().map(|(k, s)| (k, s.n, s.first)).collect();
            let mut want: Vec<([u32; 2], u64, i64)> =
                model.into_iter().map(|(k, s)| (k, s.n, s.first)).collect();
            got.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }

    proptest! {
        /// The projections' keys give back the codes they were made of, whatever the codes
        /// (a kind under 2^8 and a cause under 2^24, as [`kind_cause`] requires), and two
        /// different combinations never share a key.
        #[test]
        fn packed_keys_give_back_their_codes(
            kind in prop_oneof![0u32..4, Just(0xfe)],
            cause in prop_oneof![0u32..4, Just(0x00ff_ffff)],
            codes in prop::array::uniform3(prop_oneof![0u32..4, Just(u32::MAX), any::<u32>()]),
            other in prop::array::uniform5(0u32..3),
        ) {
            let [endpoint, detail, pattern] = codes;
            let main = [kind, cause, detail, pattern];
            prop_assert_eq!(main_codes(main_key(main)), main);
            let other_main = [other[0], other[1], other[3], other[4]];
            prop_assert_eq!(main_key(other_main) == main_key(main), other_main == main);
            let user = [kind_cause(kind, cause), endpoint];
            prop_assert_eq!(key_codes(code_key(user)), user);
            let other_user = [kind_cause(other[0], other[1]), other[2]];
            prop_assert_eq!(code_key(other_user) == code_key(user), other_user == user);
        }
    }

    fn row(kind: u32, user: u32, ts: Option<i64>) -> FactRow {
        FactRow {
            kind,
            cause: 0,
            user,
            client: 0,
            endpoint: 0,
            detail: 0,
            pattern: 0,
            ts,
        }
    }

    #[test]
    fn groups_across_chunks() {
        let mut buffer = FactBuffer::default();
        for i in 0..(CHUNK as i64 * 2 + 10) {
            buffer.push(row((i % 3) as u32, 1, Some(i * 1000)));
        }
        buffer.push(row(7, 2, None));
        let facts = buffer.finish().unwrap();
        let by_kind = facts.group(&[KIND], None).unwrap();
        let total: u64 = by_kind.iter().map(|g| g.n).sum();
        assert_eq!(total, CHUNK as u64 * 2 + 11);
        let untimed = by_kind.iter().find(|g| g.keys == [Some(7)]).unwrap();
        assert_eq!((untimed.n, untimed.first), (1, None));
        let zero = facts.group(&[], Some((KIND, 0))).unwrap();
        assert_eq!(zero[0].first, Some(0));
        assert_eq!(zero[0].n, (CHUNK as u64 * 2 + 10).div_ceil(3));
        let mut facts = facts;
        let timeline = facts.take_timeline();
        let total: u64 = timeline.iter().map(|b| b.counts.total()).sum();
        assert_eq!(
            total,
            CHUNK as u64 * 2 + 10,
            "the untimed row has no minute"
        );
    }

    #[test]
    fn projections_answer_users_and_clients() {
        let mut buffer = FactBuffer::default();
        let event = |kind, cause, user, client, endpoint, ts| FactRow {
            kind,
            cause,
            user,
            client,
            endpoint,
            detail: 0,
            pattern: 0,
            ts: Some(ts),
        };
        // Clients 10 and 11 on two endpoints; users 20 and 21, one with a cause.
        buffer.push(event(1, 0, 0, 10, 30, 1_000));
        buffer.push(event(1, 0, 0, 10, 31, 2_000));
        buffer.push(event(1, 0, 0, 11, 31, 3_000));
        buffer.push(event(2, 5, 20, 0, 31, 4_000));
        buffer.push(event(2, 5, 20, 0, 30, 6_000));
        buffer.push(event(2, 0, 21, 0, 30, 5_000));
        let facts = buffer.finish().unwrap();
        let keys = |groups: Vec<Group>| -> Vec<(Vec<Option<i64>>, u64)> {
            groups.into_iter().map(|g| (g.keys, g.n)).collect()
        };
        assert_eq!(
            keys(facts.group(&[CLIENT, KIND], None).unwrap()),
            vec![(vec![Some(10), Some(1)], 2), (vec![Some(11), Some(1)], 1)]
        );
        let by_user = facts.group(&[USER], Some((CAUSE, 5))).unwrap();
        assert_eq!(
            (
                by_user.len(),
                by_user[0].n,
                by_user[0].first,
                by_user[0].last
            ),
            (1, 2, Some(4_000), None),
            "users and clients keep no last time"
        );
        assert_eq!(
            keys(facts.group(&[ENDPOINT], Some((CAUSE, 5))).unwrap()),
            vec![(vec![Some(30)], 1), (vec![Some(31)], 1)]
        );
        let total = facts.group(&[], None).unwrap();
        assert_eq!((total[0].n, total[0].first), (6, Some(1_000)));
        assert!(
            facts.group(&[USER, CLIENT], None).is_err(),
            "user and client together are not kept"
        );

        // Per code: kind 2 counts as a failure; codes past the vector are left out.
        let failure = |kind: u32| kind == 2;
        let per_code = |dimension, cause, codes| {
            let mut out = vec![(0, 0); codes];
            facts
                .per_code(dimension, cause, &failure, &mut out)
                .unwrap();
            out
        };
        let users = per_code(USER, None, 22);
        assert_eq!(users[20], (2, 2));
        assert_eq!(users[21], (1, 1));
        assert_eq!(users[0], (0, 0));
        let clients = per_code(CLIENT, None, 11);
        assert_eq!(clients[10], (2, 0));
        assert_eq!(clients.len(), 11, "client 11 is past the vector");
        let endpoints = per_code(ENDPOINT, Some(5), 32);
        assert_eq!(endpoints[30], (1, 1));
        assert_eq!(endpoints[31], (1, 1));
        let none = per_code(USER, Some(9), 22);
        assert!(none.iter().all(|c| *c == (0, 0)));
        // Added to what the slots hold.
        let mut twice = per_code(USER, None, 22);
        facts.per_code(USER, None, &failure, &mut twice).unwrap();
        assert_eq!(twice[20], (4, 4));

        // One cause's codes, sparsely, with their first times.
        let count = |events, first| CodeCount {
            events,
            failures: 0,
            first,
        };
        let mut by_cause = facts.per_code_by_cause(ENDPOINT).unwrap();
        let mut endpoints = by_cause.remove(&5).unwrap();
        endpoints.sort_by_key(|(code, _)| *code);
        assert_eq!(
            endpoints,
            [(30, count(1, Some(6_000))), (31, count(1, Some(4_000)))]
        );
        assert!(by_cause.is_empty(), "events without a cause are left out");
        let users = facts.per_code_by_cause(USER).unwrap();
        assert!(!users.contains_key(&9));
        let mut users = users.get(&5).cloned().unwrap();
        users.sort_by_key(|(code, _)| *code);
        assert_eq!(users, [(20, count(2, Some(4_000)))]);
    }

    /// An untimed event's value has no first time (a null in the projection's `first`
    /// column, whose slot holds a number all the same), beside a timed one's.
    #[test]
    fn an_untimed_value_has_no_first_time() {
        let mut buffer = FactBuffer::default();
        let event = |user, client, ts| FactRow {
            kind: 2,
            cause: 5,
            user,
            client,
            endpoint: 0,
            detail: 0,
            pattern: 0,
            ts,
        };
        buffer.push(event(20, 10, Some(4_000)));
        buffer.push(event(21, 11, None));
        buffer.push(event(21, 11, None));
        let facts = buffer.finish().unwrap();
        let count = |events, first| CodeCount {
            events,
            failures: 0,
            first,
        };
        for dimension in [USER, CLIENT] {
            let mut codes = facts
                .per_code_by_cause(dimension)
                .unwrap()
                .remove(&5)
                .unwrap();
            codes.sort_by_key(|(code, _)| *code);
            let base = if dimension == USER { 20 } else { 10 };
            assert_eq!(
                codes,
                [(base, count(1, Some(4_000))), (base + 1, count(2, None))],
                "{dimension}"
            );
        }
        let mut clients = vec![(0, 0); 12];
        facts
            .per_code(CLIENT, Some(5), &|kind| kind == 2, &mut clients)
            .unwrap();
        assert_eq!((clients[10], clients[11]), ((1, 1), (2, 2)));
    }

    #[test]
    fn empty_facts() {
        let facts = FactBuffer::default().finish().unwrap();
        assert!(facts.group(&[KIND], None).unwrap().is_empty());
    }
}
