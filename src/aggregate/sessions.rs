//! Sessions joined on `clientConnection`.
//!
//! # The model
//!
//! The lines of one client connection id, in the order they are read, are cut into sessions:
//!
//! - a **connect line** (`A new client connected`) for an id whose current session already has
//!   one starts a new session: every session has one connect line, and the proxy reuses ids
//!   (random 32-bit numbers: the benchmark's day of 4 million sessions reuses 1,956 of them);
//! - a line more than [`HORIZON`] (15 minutes of the input's own clock) after the session's
//!   last line, or before its first, starts a new session: the old one ended, whether it saw
//!   its close line or not (a failed authentication often has none);
//! - any other line joins the current session, whatever its place within the horizon (lines
//!   of several export objects, clock skew between streams), so the client address of the
//!   connect line reaches the failure line of the same session in either order.
//!
//! A session ends at its horizon, not at its close line: a late line of it (an export's
//! stragglers) still joins it. Sessions that never connected (their connect line was before
//! the input) or never closed (a failed authentication, a cut-off export) are counted as such
//! when their horizon passes, so nothing is kept until the end of the input.
//!
//! # Memory
//!
//! The open table holds the sessions of the last [`HORIZON`] of the input's clock: a sweep
//! every few thousand lines folds the sessions the clock has passed by its reach (the clock is
//! the median of the last 64 timestamps, so one stray line does not move it, and it may run
//! backwards, as a Logs Insights export sorted newest first does; the reach is the horizon and
//! twice the spread of those timestamps, because a quiet input's clock is that far behind its
//! newest line; a sweep is skipped while the newest line is farther than the reach from the
//! clock, as it is for a few dozen lines after a jump of the input's time, when the sessions
//! just started would look passed). The sweep's queue holds the open ids by the minute of
//! their session, and takes whole minutes from either end once the clock has passed them by
//! the reach, so a session stamped ahead of the clock does not hold back the ones queued after
//! it. A session still active after the horizon (a pooled
//! application connection) is queued again at its time nearest the clock. When more than
//! [`MAX_OPEN`] are open at once the first queued of the minute farthest from the clock is
//! folded early (`folded_early`; a later line of it counts as another session).
//!
//! # Parallel workers
//!
//! The model depends on the order of the lines, so parallel workers do not join sessions
//! themselves: they stage each batch's session rows and hand them to a [`SessionOrder`], which
//! joins them in the order one worker would have read them (by input and batch number),
//! holding early batches aside; readers that run ahead wait ([`SessionOrder::admit`]) while
//! more than [`MAX_PENDING_ROWS`] rows wait for an earlier input. The result is the same for
//! any number of workers, by construction.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use rustc_hash::FxBuildHasher as FxBuild;

use super::by_minute::{ByMinute, MAX_BUCKETS, bucket_of, wider};
use crate::model::EventKind;

mod table;

use table::OpenTable;

/// How many rows (or queued sessions) ahead the join and the sweep fetch the table's slots:
/// far enough for a fetch from memory to arrive before the row is joined.
const PREFETCH_AHEAD: usize = 8;

/// Connections kept open at most.
pub const MAX_OPEN: usize = 1 << 18;
/// A session with no line for this long (by the input's own clock) has ended.
pub const HORIZON: i64 = 15 * 60_000;
/// Pushes between sweeps of the open table.
const SWEEP_EVERY: u64 = 4096;
/// Timestamps the sweep's clock is the median of.
const CLOCK_SAMPLES: usize = 64;
/// Session rows that may wait for an earlier batch before readers of later inputs wait.
pub const MAX_PENDING_ROWS: usize = 1 << 19;

/// What the lines of one client connection said about it, as a set of bits (one byte, so an
/// open connection stays at 40 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionFlags(u8);

impl SessionFlags {
    pub const NONE: SessionFlags = SessionFlags(0);
    pub const CONNECTED: SessionFlags = SessionFlags(1);
    pub const AUTHENTICATED: SessionFlags = SessionFlags(1 << 1);
    pub const AUTH_FAILED: SessionFlags = SessionFlags(1 << 2);
    pub const FAILED: SessionFlags = SessionFlags(1 << 3);
    pub const PINNED: SessionFlags = SessionFlags(1 << 4);
    pub const CLOSED: SessionFlags = SessionFlags(1 << 5);

    /// The flags an event of `kind` sets on its connection.
    pub fn of(kind: EventKind) -> SessionFlags {
        let mut flags = SessionFlags::NONE;
        let mut set = |on: bool, flag: SessionFlags| {
            if on {
                flags.insert(flag);
            }
        };
        set(kind == EventKind::ClientConnected, SessionFlags::CONNECTED);
        set(
            kind == EventKind::AuthSucceeded,
            SessionFlags::AUTHENTICATED,
        );
        set(
            matches!(kind, EventKind::AuthFailed | EventKind::CredentialsError),
            SessionFlags::AUTH_FAILED,
        );
        set(kind.is_failure(), SessionFlags::FAILED);
        set(
            matches!(kind, EventKind::Pinned | EventKind::WillPin),
            SessionFlags::PINNED,
        );
        set(kind == EventKind::ClientClosed, SessionFlags::CLOSED);
        flags
    }

    pub fn contains(self, other: SessionFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: SessionFlags) {
        self.0 |= other.0;
    }
}

impl std::ops::BitOr for SessionFlags {
    type Output = SessionFlags;
    fn bitor(self, other: SessionFlags) -> SessionFlags {
        SessionFlags(self.0 | other.0)
    }
}

/// Sessions counted per flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagCounts {
    pub connected: u64,
    pub authenticated: u64,
    pub auth_failed: u64,
    pub failed: u64,
    pub pinned: u64,
    pub closed: u64,
}

impl FlagCounts {
    fn count(&mut self, flags: SessionFlags) {
        let one = |flag| u64::from(flags.contains(flag));
        self.connected += one(SessionFlags::CONNECTED);
        self.authenticated += one(SessionFlags::AUTHENTICATED);
        self.auth_failed += one(SessionFlags::AUTH_FAILED);
        self.failed += one(SessionFlags::FAILED);
        self.pinned += one(SessionFlags::PINNED);
        self.closed += one(SessionFlags::CLOSED);
    }
}

/// A small set of cause codes (non-zero): two inline, which is what a connection has, and
/// the rest on the heap. Open connections are the biggest table of a run; this keeps an
/// entry at 40 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Causes {
    inline: [u32; 2],
    // A thin pointer (8 bytes) where a `Vec` takes 24: the point of this type.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<u32>>>,
}

impl Causes {
    fn insert(&mut self, cause: u32) {
        if cause == 0 || self.inline.contains(&cause) {
            return;
        }
        if let Some(free) = self.inline.iter_mut().find(|c| **c == 0) {
            *free = cause;
            return;
        }
        let more = self.more.get_or_insert_with(Box::default);
        if !more.contains(&cause) {
            more.push(cause);
        }
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.inline
            .iter()
            .copied()
            .filter(|&c| c != 0)
            .chain(self.more.iter().flat_map(|m| m.iter().copied()))
    }
}

/// One event of a client connection: the flags it sets, the client address code (0 when the
/// line has none) and the cause code of the event (0 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRow {
    pub conn: u64,
    pub ts: Option<i64>,
    pub client: u32,
    pub cause: u32,
    pub flags: SessionFlags,
}

#[derive(Debug, Clone, Default)]
struct Open {
    client: u32,
    flags: SessionFlags,
    /// Distinct cause codes of the connection's events.
    causes: Causes,
    /// The oldest and the newest timestamp of its lines.
    first: i64,
    last: i64,
}

// The open table's size is what bounds a run's memory; keep its entries small.
const _: () = assert!(std::mem::size_of::<Open>() <= 40);

impl Open {
    fn starting(at: i64) -> Open {
        Open {
            first: at,
            last: at,
            ..Open::default()
        }
    }

    /// Whether a line at `at` with `flags` starts a new session instead of joining this one.
    fn ends_before(&self, at: i64, flags: SessionFlags) -> bool {
        (flags.contains(SessionFlags::CONNECTED) && self.flags.contains(SessionFlags::CONNECTED))
            || at > self.last.saturating_add(HORIZON)
            || at < self.first.saturating_sub(HORIZON)
    }

    /// Whether the clock has passed this session by `reach` (the horizon, and the lag of a
    /// slow input's clock), either way.
    fn passed(&self, clock: i64, reach: i64) -> bool {
        clock > self.last.saturating_add(reach) || clock < self.first.saturating_sub(reach)
    }
}

/// Per-connection totals after the join on `clientConnection`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub sessions: u64,
    /// Sessions per flag.
    pub with: FlagCounts,
    /// Sessions that connected and closed without authenticating or failing.
    pub closed_without_auth: u64,
    /// (cause code, client code, sessions): which client addresses the sessions of a cause
    /// came from, joined through the connection id, whatever the order of the lines; by
    /// (cause, client), each pair once.
    pub cause_clients: Vec<(u32, u32, u64)>,
    /// (client code, failed sessions), by client, each once.
    pub client_failures: Vec<(u32, u64)>,
    /// Sessions folded before their horizon because too many were open at once.
    pub folded_early: u64,
    /// The most sessions open in one minute (a session is open from its first line's minute to
    /// its last's): by the lines' time, so it is the same in every layout and line order. In
    /// one bucket of `most_open_minutes` when the sessions span more minutes than a table keeps.
    pub most_open: u64,
    /// Minutes per bucket of `most_open` (0 or 1: a minute).
    pub most_open_minutes: i64,
}

impl SessionCounts {
    /// The same counts with every client code mapped through `map` (codes that map to the
    /// same client are added up), sorted as [`SessionCounts::sorted`] leaves them.
    pub fn map_clients(self, map: &dyn Fn(u32) -> u32) -> SessionCounts {
        let mut cause_clients = self.cause_clients;
        for row in &mut cause_clients {
            row.1 = map(row.1);
        }
        let mut client_failures = self.client_failures;
        for row in &mut client_failures {
            row.0 = map(row.0);
        }
        SessionCounts {
            cause_clients,
            client_failures,
            ..self
        }
        .sorted()
    }

    /// `cause_clients` by (cause, client) and `client_failures` by client, each key once (the
    /// counts of a repeated key added up): a cause's clients are one run of rows.
    fn sorted(mut self) -> SessionCounts {
        self.cause_clients
            .sort_unstable_by_key(|&(cause, client, _)| (cause, client));
        self.cause_clients.dedup_by(|next, kept| {
            let same = (next.0, next.1) == (kept.0, kept.1);
            if same {
                kept.2 += next.2;
            }
            same
        });
        self.client_failures
            .sort_unstable_by_key(|&(client, _)| client);
        self.client_failures.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 += next.1;
            }
            same
        });
        self
    }

    /// The rows of `cause_clients` of one cause.
    pub fn clients_of_cause(&self, cause: u32) -> &[(u32, u32, u64)] {
        let from = self.cause_clients.partition_point(|row| row.0 < cause);
        let to = self.cause_clients.partition_point(|row| row.0 <= cause);
        self.cause_clients.get(from..to).unwrap_or_default()
    }
}

/// The open connections' ids by the minute of a time of their session when queued, for the
/// sweep: it takes whole minutes from either end, those the clock has passed by the horizon.
/// A first-in first-out queue stopped at its first session within the horizon: one stamped
/// minutes ahead of the clock (a line of another host's clock, the first line of the next
/// export object) held back every session queued after it for up to 25 minutes, and on an
/// S3 export tree of several streams the table filled up to [`MAX_OPEN`] and folded two
/// sessions in three early.
#[derive(Debug, Clone, Default)]
struct Queue {
    minutes: BTreeMap<i64, VecDeque<u64>>,
}

impl Queue {
    fn push(&mut self, conn: u64, at: i64) {
        self.minutes
            .entry(at.div_euclid(MINUTE))
            .or_default()
            .push_back(conn);
    }

    /// The ids of a minute at either end all of whose times the clock has passed by more
    /// than `reach` (see [`Open::passed`]), taken out of the queue.
    fn take_passed(&mut self, clock: i64, reach: i64) -> Option<VecDeque<u64>> {
        let (&first, _) = self.minutes.first_key_value()?;
        // Every time of minute `first` is before (first + 1) * MINUTE.
        if clock >= (first + 1).saturating_mul(MINUTE).saturating_add(reach) {
            return self.minutes.pop_first().map(|(_, conns)| conns);
        }
        let (&last, _) = self.minutes.last_key_value()?;
        if clock < last.saturating_mul(MINUTE).saturating_sub(reach) {
            return self.minutes.pop_last().map(|(_, conns)| conns);
        }
        None
    }

    /// The first id queued in the minute farthest from `now` (the table is full).
    fn pop_farthest(&mut self, now: i64) -> Option<u64> {
        let first = *self.minutes.first_key_value()?.0;
        let last = *self.minutes.last_key_value()?.0;
        let minute = now.div_euclid(MINUTE);
        let mut end = if minute.abs_diff(first) >= minute.abs_diff(last) {
            self.minutes.first_entry()?
        } else {
            self.minutes.last_entry()?
        };
        let conn = end.get_mut().pop_front();
        if end.get().is_empty() {
            end.remove();
        }
        conn
    }

    /// Every id still queued.
    fn into_ids(self) -> impl Iterator<Item = u64> {
        self.minutes.into_values().flatten()
    }
}

/// The session join over one ordered stream of rows (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct SessionBuffer {
    open: OpenTable<Open>,
    /// Open connections by the minute of a time of theirs when queued.
    order: Queue,
    /// The last [`CLOCK_SAMPLES`] timestamps, for the sweep's clock.
    recent: Vec<i64>,
    timed: usize,
    /// The last timestamp read: the time of a row without one.
    now: i64,
    totals: Totals,
    pushes: u64,
}

#[derive(Debug, Clone, Default)]
struct Totals {
    sessions: u64,
    with: FlagCounts,
    closed_without_auth: u64,
    cause_clients: HashMap<(u32, u32), u64, FxBuild>,
    client_failures: HashMap<u32, u64, FxBuild>,
    folded_early: u64,
    open: OpenByMinute,
}

const MINUTE: i64 = 60_000;

/// A session's first minute, in [`OpenByMinute`]'s counts.
const BEGAN: usize = 0;
/// A session's last minute.
const ENDED: usize = 1;

/// The sessions that began and that ended in each minute: summed in minute order, the sessions
/// open in each minute (a session is open from its first minute to its last). Keyed by minute,
/// so it follows the span, not the number of sessions: 8 bytes a minute and its place
/// ([`ByMinute`]), and past [`MAX_BUCKETS`] minutes in wider buckets, as the timeline is
/// (`minutes.rs`): a session is then open in the buckets from its first minute's to its
/// last's. Began and ended are kept apart, not as one delta, because a wider bucket takes a
/// session's end from the minute it ended in, not from the minute after it.
#[derive(Debug, Clone)]
struct OpenByMinute {
    ends: ByMinute<[u32; 2]>,
    /// The two minutes last added to, not yet in `ends`: sessions fold roughly in time order,
    /// so most folds add to the minutes of the fold before.
    recent: [(i64, [u32; 2]); 2],
    /// Minutes per bucket of `ends`.
    width: i64,
    cap: usize,
}

/// Adds one minute's (or bucket's) sessions that began and ended to another's.
fn add_ends(into: &mut [u32; 2], ends: [u32; 2]) {
    for (into, n) in into.iter_mut().zip(ends) {
        *into = into.saturating_add(n);
    }
}

impl Default for OpenByMinute {
    fn default() -> OpenByMinute {
        OpenByMinute {
            ends: ByMinute::default(),
            recent: [(0, [0; 2]); 2],
            width: 1,
            cap: MAX_BUCKETS,
        }
    }
}

impl OpenByMinute {
    /// Counts a session's first (`BEGAN`) or last (`ENDED`) minute: in one of the two recent
    /// minutes when it is one, else in a new one that takes the place of the older, which
    /// goes to the table.
    fn add(&mut self, minute: i64, end: usize) {
        let [newer, older] = &mut self.recent;
        for recent in [newer, older] {
            if recent.0 == minute {
                if let Some(n) = recent.1.get_mut(end) {
                    *n = n.saturating_add(1);
                }
                return;
            }
        }
        let mut fresh = [0; 2];
        if let Some(n) = fresh.get_mut(end) {
            *n = 1;
        }
        let [newer, older] = &mut self.recent;
        let (gone, ends) = std::mem::replace(older, std::mem::replace(newer, (minute, fresh)));
        self.put(gone, ends);
    }

    fn put(&mut self, minute: i64, ends: [u32; 2]) {
        if ends == [0; 2] {
            return;
        }
        add_ends(self.ends.slot(bucket_of(minute, self.width)), ends);
        while self.ends.len() > self.cap && self.width < i64::MAX {
            self.width = wider(self.width);
            self.ends = std::mem::take(&mut self.ends).widened(self.width, add_ends);
        }
    }

    /// The most sessions open in one minute (bucket), with the recent minutes added to the
    /// table.
    fn most_open(&mut self) -> u64 {
        for (minute, ends) in std::mem::take(&mut self.recent) {
            self.put(minute, ends);
        }
        let (mut open, mut most) = (0i64, 0i64);
        for (_, &[began, ended]) in self.ends.sorted() {
            open += i64::from(began);
            most = most.max(open);
            open -= i64::from(ended);
        }
        u64::try_from(most).unwrap_or(0)
    }
}

impl Totals {
    fn fold(&mut self, session: Open) {
        self.sessions += 1;
        let (first, last) = (
            session.first.min(session.last),
            session.last.max(session.first),
        );
        self.open.add(first.div_euclid(MINUTE), BEGAN);
        self.open.add(last.div_euclid(MINUTE), ENDED);
        let flags = session.flags;
        self.with.count(flags);
        if flags.contains(SessionFlags::CONNECTED | SessionFlags::CLOSED)
            && !flags.contains(SessionFlags::AUTHENTICATED)
            && !flags.contains(SessionFlags::AUTH_FAILED)
            && !flags.contains(SessionFlags::FAILED)
        {
            self.closed_without_auth += 1;
        }
        if session.client != 0 {
            for cause in session.causes.iter() {
                *self
                    .cause_clients
                    .entry((cause, session.client))
                    .or_default() += 1;
            }
            if flags.contains(SessionFlags::FAILED) {
                *self.client_failures.entry(session.client).or_default() += 1;
            }
        }
    }
}

impl SessionBuffer {
    pub fn push(&mut self, row: SessionRow) {
        let at = match row.ts {
            Some(ts) => {
                self.now = ts;
                if self.recent.len() < CLOCK_SAMPLES {
                    self.recent.push(ts);
                } else if let Some(slot) = self.recent.get_mut(self.timed % CLOCK_SAMPLES) {
                    *slot = ts;
                }
                self.timed += 1;
                ts
            }
            None => self.now,
        };
        // One search of the table per line.
        if let Some(entry) = self
            .open
            .find(row.conn)
            .and_then(|slot| self.open.get_mut(slot))
        {
            if entry.ends_before(at, row.flags) {
                // The id was reused, or the session's horizon passed: it ended. Its queue
                // place stays with the id.
                self.totals
                    .fold(std::mem::replace(entry, Open::starting(at)));
            }
            entry.absorb(at, &row);
        } else {
            if self.open.len() >= MAX_OPEN {
                self.fold_oldest();
            }
            if let Some(entry) = self.open.insert_new(row.conn, Open::starting(at)) {
                entry.absorb(at, &row);
            }
            self.order.push(row.conn, at);
        }
        self.pushes += 1;
        if self.pushes.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
    }

    /// Folds an open session before its horizon, the first queued of the minute farthest
    /// from the clock: the table is full.
    fn fold_oldest(&mut self) {
        while let Some(oldest) = self.order.pop_farthest(self.now) {
            if let Some(session) = self.open.remove(oldest) {
                self.totals.folded_early += 1;
                self.totals.fold(session);
                return;
            }
        }
    }

    /// The input's clock, the median of the last timestamps, and their spread, the distance
    /// between their first and third quartiles (`None` before any).
    fn clock(&self) -> Option<(i64, i64)> {
        let mut recent = self.recent.clone();
        recent.sort_unstable();
        let middle = recent.len().checked_sub(1)?.min(recent.len() / 2);
        let clock = *recent.get(middle)?;
        let quartile = |q: usize| recent.get(recent.len() * q / 4).copied().unwrap_or(clock);
        Some((clock, quartile(3).saturating_sub(quartile(1))))
    }

    /// Folds the sessions the clock has passed by the horizon, a minute of the queue at a time.
    fn sweep(&mut self) {
        let Some((clock, spread)) = self.clock() else {
            return;
        };
        // An input whose lines are far apart (a quiet proxy: a line every half minute, or a
        // session every quarter of an hour) has its clock behind its newest line by about the
        // spread of its last timestamps, always. The sweep reaches that much farther than the
        // horizon, so that it neither folds the sessions just started (ahead of the clock) nor
        // waits for ever (it did, and the table filled with every session). Folding later
        // changes nothing but memory: a line more than the horizon after its session's last
        // starts another session whenever the sweep runs. On a busy input the reach is the
        // horizon and a few seconds.
        let reach = HORIZON.saturating_add(spread.saturating_mul(2));
        // Right after a jump of the input's time (a gap in the traffic, the next stream of an
        // export tree), the clock lags behind the newest lines for a few dozen lines, and the
        // sessions they started would look passed: the sweep waits for the next one, when the
        // clock has caught up. (While the jump is between the quartiles, the reach spans it,
        // and the sweep folds nothing the jump would have cut.)
        if self.now.abs_diff(clock) > reach.unsigned_abs() {
            return;
        }
        while let Some(conns) = self.order.take_passed(clock, reach) {
            for (i, &conn) in conns.iter().enumerate() {
                // The sessions behind it are likely to be folded too: fetch their slots early.
                if let Some(&ahead) = conns.get(i + PREFETCH_AHEAD) {
                    self.open.prefetch(ahead);
                }
                // An id no longer in the table was folded already.
                let Some((slot, entry)) = self
                    .open
                    .find(conn)
                    .and_then(|slot| Some((slot, self.open.get(slot)?)))
                else {
                    continue;
                };
                if entry.passed(clock, reach) {
                    let session = self.open.remove_slot(slot);
                    self.totals.fold(session);
                } else {
                    // Still active (a long session, or an id reused since it was queued):
                    // queued again at its time nearest the clock, within the horizon, so
                    // that this sweep does not take it again.
                    let at = clock.clamp(entry.first, entry.last.max(entry.first));
                    self.order.push(conn, at);
                }
            }
        }
    }

    /// Folds the sessions still open and returns the totals.
    pub fn finish(self) -> SessionCounts {
        self.finish_unsorted().sorted()
    }

    /// [`SessionBuffer::finish`] before its rows are sorted (they are once their client codes
    /// are mapped).
    fn finish_unsorted(self) -> SessionCounts {
        let SessionBuffer {
            mut open,
            order,
            mut totals,
            ..
        } = self;
        for conn in order.into_ids() {
            if let Some(session) = open.remove(conn) {
                totals.fold(session);
            }
        }
        let most_open = totals.open.most_open();
        SessionCounts {
            sessions: totals.sessions,
            with: totals.with,
            closed_without_auth: totals.closed_without_auth,
            cause_clients: totals
                .cause_clients
                .into_iter()
                .map(|((cause, client), n)| (cause, client, n))
                .collect(),
            client_failures: totals.client_failures.into_iter().collect(),
            folded_early: totals.folded_early,
            most_open,
            most_open_minutes: totals.open.width,
        }
    }
}

impl Open {
    fn absorb(&mut self, at: i64, row: &SessionRow) {
        // The first address its lines name (the connect line's): chosen by the order of the
        // lines, not by the codes, which differ between workers.
        if self.client == 0 {
            self.client = row.client;
        }
        self.flags.insert(row.flags);
        self.causes.insert(row.cause);
        self.first = self.first.min(at);
        self.last = self.last.max(at);
    }
}

/// A batch's place in the order one worker reads them: its stream (the input's index; all
/// CloudWatch groups are one stream, merged by time), its position in the stream, and whether
/// it is the stream's last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchKey {
    pub stream: u32,
    pub position: u64,
    pub last: bool,
}

/// Joins the session rows of parallel workers in the order one worker would read them (see
/// the module docs).
#[derive(Debug)]
pub struct SessionOrder {
    /// Batches handed over and not yet taken in: a worker only waits for this lock, held for
    /// a push, never for the join.
    inbox: Mutex<Inbox>,
    /// The join, done by whichever worker takes the lock; the others go back to their work.
    /// Readers never take it (see [`SessionOrder::admit`]).
    state: Mutex<OrderState>,
    /// What a reader asks before every batch, as the join last left it: the stream being
    /// joined, and whether more than [`MAX_PENDING_ROWS`] rows wait (false once the readers
    /// are released).
    joining: AtomicU32,
    crowded: AtomicBool,
    /// Readers waiting in [`SessionOrder::admit`], for `wake` under `gate`: a join wakes them
    /// only when there are.
    waiting: AtomicUsize,
    gate: Mutex<()>,
    wake: Condvar,
    /// [`MAX_PENDING_ROWS`], smaller in tests.
    bound: usize,
}

impl Default for SessionOrder {
    fn default() -> Self {
        Self::with_bound(MAX_PENDING_ROWS)
    }
}

#[derive(Debug, Default)]
struct Inbox {
    batches: Vec<(BatchKey, usize, Vec<SessionRow>)>,
    /// Emptied row buffers, for the workers to fill again.
    free: Vec<Vec<SessionRow>>,
}

#[derive(Debug, Default)]
struct OrderState {
    buffer: SessionBuffer,
    /// The next batch to join: (stream, position).
    next: (u32, u64),
    /// Batches that arrived before the ones in front of them.
    pending: BTreeMap<(u32, u64), Pending>,
    pending_rows: usize,
    /// Per worker, its client codes (index code - 1) to the order's codes (0: not yet seen).
    clients: Vec<Vec<u32>>,
    /// The order's client codes (index code - 1) to (worker, the worker's code).
    origins: Vec<(u32, u32)>,
    /// Set when a worker stopped: readers no longer wait for anything.
    released: bool,
}

#[derive(Debug)]
struct Pending {
    worker: usize,
    rows: Vec<SessionRow>,
    last: bool,
}

/// Row buffers kept for reuse at most.
const FREE_BUFFERS: usize = 16;

impl OrderState {
    fn join(&mut self, worker: usize, rows: &[SessionRow]) {
        for (i, row) in rows.iter().enumerate() {
            if let Some(ahead) = rows.get(i + PREFETCH_AHEAD) {
                self.buffer.open.prefetch(ahead.conn);
                // The worker's client code's place in its map (a fleet's addresses make it
                // larger than the core's cache).
                if let Some(place) = self
                    .clients
                    .get(worker)
                    .and_then(|map| map.get((ahead.client as usize).wrapping_sub(1)))
                {
                    super::prefetch(std::ptr::from_ref(place).cast());
                }
            }
            let mut row = *row;
            if row.client != 0 {
                row.client = self.client_code(worker, row.client);
            }
            self.buffer.push(row);
        }
    }

    fn client_code(&mut self, worker: usize, code: u32) -> u32 {
        if self.clients.len() <= worker {
            self.clients.resize_with(worker + 1, Vec::new);
        }
        let Some(map) = self.clients.get_mut(worker) else {
            return 0;
        };
        let index = code as usize - 1;
        if map.len() <= index {
            map.resize(index + 1, 0);
        }
        match map.get_mut(index) {
            Some(&mut mine) if mine != 0 => mine,
            Some(slot) => {
                self.origins
                    .push((u32::try_from(worker).unwrap_or(u32::MAX), code));
                *slot = u32::try_from(self.origins.len()).unwrap_or(u32::MAX);
                *slot
            }
            None => 0,
        }
    }

    fn advance(&mut self, last: bool) {
        self.next = if last {
            (self.next.0.saturating_add(1), 0)
        } else {
            (self.next.0, self.next.1 + 1)
        };
    }

    /// Takes in one batch and joins every waiting batch that is next in order. Emptied
    /// buffers go to `free`.
    fn accept(
        &mut self,
        key: BatchKey,
        worker: usize,
        rows: Vec<SessionRow>,
        free: &mut Vec<Vec<SessionRow>>,
    ) {
        self.pending_rows += rows.len();
        self.pending.insert(
            (key.stream, key.position),
            Pending {
                worker,
                rows,
                last: key.last,
            },
        );
        self.drain(free);
    }

    /// Joins the waiting batches that are next in order.
    fn drain(&mut self, free: &mut Vec<Vec<SessionRow>>) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let key = *entry.key();
            let Pending {
                worker,
                mut rows,
                last,
            } = entry.remove();
            self.pending_rows -= rows.len();
            self.join(worker, &rows);
            if key == self.next {
                self.advance(last);
            }
            rows.clear();
            free.push(rows);
        }
    }
}

impl SessionOrder {
    /// An order whose readers wait while more than `bound` rows wait for an earlier stream.
    fn with_bound(bound: usize) -> Self {
        Self {
            inbox: Mutex::default(),
            state: Mutex::default(),
            joining: AtomicU32::new(0),
            crowded: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            gate: Mutex::new(()),
            wake: Condvar::new(),
            bound,
        }
    }

    /// Hands over the session rows of one batch read by `worker`; `rows` comes back empty
    /// (another buffer) for the worker's next batch. The worker joins what is next in order
    /// when no other worker is joining, else leaves it to that one.
    pub fn submit(&self, key: BatchKey, worker: usize, rows: &mut Vec<SessionRow>) {
        {
            let Ok(mut inbox) = self.inbox.lock() else {
                return;
            };
            let empty = inbox.free.pop().unwrap_or_default();
            let full = std::mem::replace(rows, empty);
            inbox.batches.push((key, worker, full));
        }
        self.take_in();
    }

    /// Takes the inbox's batches into the join while no other worker is joining.
    fn take_in(&self) {
        let mut batches = Vec::new();
        let mut free = Vec::new();
        loop {
            let Ok(mut state) = self.state.try_lock() else {
                // Another worker is joining: it looks at the inbox again before it stops.
                return;
            };
            loop {
                if let Ok(mut inbox) = self.inbox.lock() {
                    std::mem::swap(&mut inbox.batches, &mut batches);
                    let room = FREE_BUFFERS.saturating_sub(inbox.free.len());
                    inbox.free.extend(free.drain(..).take(room));
                    free.clear();
                }
                if batches.is_empty() {
                    break;
                }
                for (key, worker, rows) in batches.drain(..) {
                    state.accept(key, worker, rows, &mut free);
                }
            }
            if !state.released {
                self.joining.store(state.next.0, Ordering::SeqCst);
                self.crowded
                    .store(state.pending_rows > self.bound, Ordering::SeqCst);
            }
            drop(state);
            self.wake_readers();
            // A batch handed over after the last look, while the lock was still held.
            match self.inbox.lock() {
                Ok(inbox) if !inbox.batches.is_empty() => {}
                _ => return,
            }
        }
    }

    /// Waits, for a reader of `stream`, while too many rows wait for an earlier stream: the
    /// reader of the stream being joined never waits, so the run always moves on.
    ///
    /// A reader reads the word the last join left (two atomics) and never takes the join's
    /// lock: taking it for every batch made readers queue behind a worker's join of a whole
    /// batch while the other worker ran out of batches. The word is written at the end of a
    /// join, so a reader may send a batch more than the bound allows, while a join is under
    /// way; every join that ends wakes the readers waiting.
    pub fn admit(&self, stream: u32) {
        self.admit_helping(stream, &mut || false);
    }

    /// Whether a reader of `stream` is to wait ([`SessionOrder::admit`]).
    pub fn holds(&self, stream: u32) -> bool {
        self.crowded.load(Ordering::SeqCst) && stream > self.joining.load(Ordering::SeqCst)
    }

    /// [`SessionOrder::admit`] for a reader that is also a worker: while it is held it calls
    /// `help`, which takes a batch that another reader sent and counts it (`false`: there
    /// was none), and between batches it waits a millisecond at most (`admit` is this with
    /// no help: it looks at the word again each millisecond, and at each join's end). A reader whose batches
    /// nobody else may take never waits for a batch that only it could count: the join waits
    /// for the earlier streams, whose batches are counted by their readers or sent to a
    /// worker that takes them.
    pub fn admit_helping(&self, stream: u32, help: &mut dyn FnMut() -> bool) {
        while self.holds(stream) {
            if help() {
                continue;
            }
            let Ok(gate) = self.gate.lock() else {
                return;
            };
            // Counted before the word is read again: a join that changes the word after this
            // read sees the count and wakes this reader (both sides sequentially consistent).
            self.waiting.fetch_add(1, Ordering::SeqCst);
            if self.holds(stream) {
                // Woken by a join that ends, or after the millisecond to look for a batch.
                drop(
                    self.wake
                        .wait_timeout(gate, std::time::Duration::from_millis(1)),
                );
            } else {
                drop(gate);
            }
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Wakes the readers waiting in [`SessionOrder::admit`], if any, after a change of the
    /// word they wait on: taking the gate first, a reader between its look at the word and its
    /// wait is waited for.
    fn wake_readers(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            drop(self.gate.lock());
            self.wake.notify_all();
        }
    }

    /// Stops every wait in [`SessionOrder::admit`]: a worker stopped, so the batches it held
    /// may never come.
    pub fn release(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.released = true;
        }
        self.crowded.store(false, Ordering::SeqCst);
        drop(self.gate.lock());
        self.wake.notify_all();
    }

    /// Joins what is still waiting, in order, and returns the totals with every client code
    /// given by `client(worker, the worker's code)` (the run does the two steps apart, see
    /// `pipeline::run_parallel`).
    #[cfg(test)]
    pub fn finish(&self, client: &dyn Fn(usize, u32) -> u32) -> SessionCounts {
        self.finish_unmapped().map_clients(client)
    }

    /// [`SessionOrder::finish`] up to the client codes, which need the workers' interners
    /// merged: the two can run at once.
    pub fn finish_unmapped(&self) -> Unmapped {
        let Ok(mut state) = self.state.lock() else {
            return Unmapped::default();
        };
        let mut state = std::mem::take(&mut *state);
        let batches = match self.inbox.lock() {
            Ok(mut inbox) => std::mem::take(&mut inbox.batches),
            Err(_) => Vec::new(),
        };
        let mut free = Vec::new();
        for (key, worker, rows) in batches {
            state.accept(key, worker, rows, &mut free);
        }
        let pending = std::mem::take(&mut state.pending);
        for (_, waiting) in pending {
            state.join(waiting.worker, &waiting.rows);
        }
        Unmapped {
            counts: state.buffer.finish_unsorted(),
            origins: state.origins,
        }
    }
}

/// A [`SessionOrder`]'s totals before their client codes are mapped to the merged interner's.
#[derive(Default)]
pub struct Unmapped {
    counts: SessionCounts,
    /// The join's client codes: (worker, the worker's code) of each.
    origins: Vec<(u32, u32)>,
}

impl Unmapped {
    /// The totals with every client code given by `client(worker, the worker's code)`.
    pub fn map_clients(self, client: &dyn Fn(usize, u32) -> u32) -> SessionCounts {
        let Unmapped { counts, origins } = self;
        counts.map_clients(&|code| {
            code.checked_sub(1)
                .and_then(|index| origins.get(index as usize))
                .map_or(0, |&(worker, code)| client(worker as usize, code))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_a_set() {
        let mut causes = Causes::default();
        for cause in [3, 0, 3, 7, 9, 7, 11, 9] {
            causes.insert(cause);
        }
        assert_eq!(causes.iter().collect::<Vec<_>>(), [3, 7, 9, 11]);
    }

    const CONNECTED: [u32; 6] = [1, 0, 0, 0, 0, 0];
    const AUTHENTICATED: [u32; 6] = [0, 1, 0, 0, 0, 0];
    const AUTH_FAILED: [u32; 6] = [0, 0, 1, 1, 0, 0];
    const PINNED: [u32; 6] = [0, 0, 0, 0, 1, 0];
    const CLOSED: [u32; 6] = [0, 0, 0, 0, 0, 1];
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;

    /// Flags from `0`/`1` per connected, authenticated, auth_failed, failed, pinned, closed.
    fn bits(flags: [u32; 6]) -> SessionFlags {
        let all = [
            SessionFlags::CONNECTED,
            SessionFlags::AUTHENTICATED,
            SessionFlags::AUTH_FAILED,
            SessionFlags::FAILED,
            SessionFlags::PINNED,
            SessionFlags::CLOSED,
        ];
        all.into_iter()
            .zip(flags)
            .filter(|(_, on)| *on != 0)
            .fold(SessionFlags::NONE, |acc, (flag, _)| acc | flag)
    }

    fn counted(n: [u64; 6]) -> FlagCounts {
        FlagCounts {
            connected: n[0],
            authenticated: n[1],
            auth_failed: n[2],
            failed: n[3],
            pinned: n[4],
            closed: n[5],
        }
    }

    fn row(conn: u64, client: u32, cause: u32, flags: [u32; 6]) -> SessionRow {
        SessionRow {
            conn,
            ts: Some(1_000),
            client,
            cause,
            flags: bits(flags),
        }
    }

    /// A line of connection `conn` at `ts` from client 1, without a cause.
    fn at(conn: u64, ts: i64, flags: [u32; 6]) -> SessionRow {
        SessionRow {
            conn,
            ts: Some(ts),
            client: 1,
            cause: 0,
            flags: bits(flags),
        }
    }

    fn joined(rows: &[SessionRow]) -> SessionCounts {
        let mut buffer = SessionBuffer::default();
        rows.iter().for_each(|r| buffer.push(*r));
        buffer.finish()
    }

    proptest::proptest! {
        /// The most sessions open in one minute is what counting every session in every
        /// minute from its first to its last gives, whether the minutes go through the two
        /// recent ones or not: sessions in time order, out of it, and jumping between minutes
        /// far apart. With a cap of buckets, it is the same count over buckets of the width
        /// the table ends in (a session open in every bucket from its first minute's to its
        /// last's), and that width is the narrowest of the ladder whose buckets fit the cap.
        #[test]
        fn recent_minutes_count_as_the_map_counts(
            spans in proptest::collection::vec((0i64..40, 0i64..4, proptest::bool::weighted(0.1)), 0..200),
            cap in proptest::prop_oneof![proptest::strategy::Just(MAX_BUCKETS), 1usize..12],
        ) {
            let mut open = OpenByMinute { cap, ..OpenByMinute::default() };
            let mut sessions = Vec::new();
            for (start, length, far) in spans {
                let first = if far { start + 100_000 } else { start };
                open.add(first, BEGAN);
                open.add(first + length, ENDED);
                sessions.push((first, first + length));
            }
            let most = open.most_open();
            let width = open.width;
            let buckets = |w: i64| -> BTreeMap<i64, u64> {
                let mut per: BTreeMap<i64, u64> = BTreeMap::new();
                for &(first, last) in &sessions {
                    let mut b = bucket_of(first, w);
                    while b <= last {
                        *per.entry(b).or_default() += 1;
                        b += w;
                    }
                }
                per
            };
            let fits = |w: i64| {
                let mut ends: Vec<i64> = sessions.iter().flat_map(|&(f, l)| [bucket_of(f, w), bucket_of(l, w)]).collect();
                ends.sort_unstable();
                ends.dedup();
                ends.len() <= cap
            };
            let mut narrowest = 1;
            while !fits(narrowest) {
                narrowest = wider(narrowest);
            }
            proptest::prop_assert_eq!(width, narrowest);
            let expected = buckets(width).into_values().max().unwrap_or(0);
            proptest::prop_assert_eq!(most, expected);
        }
    }

    /// A session is open from its first line's minute to its last's; the most at once is the
    /// most in one minute, whatever the order of the lines.
    #[test]
    fn most_open_is_the_busiest_minute_in_any_line_order() {
        let t = |minutes: i64, seconds: i64| minutes * MINUTE + seconds * 1_000;
        let mut rows = vec![
            at(1, t(0, 0), CONNECTED),
            at(2, t(1, 0), CONNECTED),
            at(1, t(2, 0), CLOSED),
            at(3, t(3, 0), CONNECTED),
            // 4 fails its authentication within minute 4.
            at(4, t(4, 0), CONNECTED),
            at(4, t(4, 1), AUTH_FAILED),
            at(2, t(5, 0), CLOSED),
            at(3, t(6, 0), CLOSED),
            // Short sessions one after another, in one minute: open in that minute, all four.
            at(5, t(10, 0), CONNECTED),
            at(5, t(10, 5), CLOSED),
            at(6, t(10, 10), CONNECTED),
            at(6, t(10, 15), CLOSED),
            at(7, t(10, 20), CONNECTED),
            at(7, t(10, 25), CLOSED),
            at(8, t(10, 30), CONNECTED),
            at(8, t(10, 35), CLOSED),
        ];
        // Minutes 2 to 4: sessions 2 and 3 and, in minute 2, 1; in minute 4, 4: three.
        let forwards = joined(&rows);
        assert_eq!(forwards.sessions, 8);
        assert_eq!(forwards.most_open, 4, "minute 10");
        rows.truncate(8);
        assert_eq!(joined(&rows).most_open, 3, "minutes 2 and 4");
        rows.reverse();
        assert_eq!(joined(&rows).most_open, 3, "the same backwards");

        let mut sequential = Vec::new();
        for conn in 0..1_000 {
            sequential.push(at(conn, t(conn as i64, 0), CONNECTED));
            sequential.push(at(conn, t(conn as i64, 30), CLOSED));
        }
        assert_eq!(joined(&sequential).most_open, 1);
        assert_eq!(joined(&[]).most_open, 0);
    }

    #[test]
    fn sessions_join_flags_and_addresses_per_connection() {
        let counts = joined(&[
            // Connection 2's failure arrives before its connect line (unordered export).
            row(2, 0, 5, AUTH_FAILED),
            row(1, 7, 0, CONNECTED),
            row(1, 0, 0, CLOSED),
            row(2, 9, 0, CONNECTED),
            row(3, 0, 5, AUTH_FAILED),
            // A second failure line of connection 2 with the same cause counts the session once.
            row(2, 0, 5, AUTH_FAILED),
        ]);
        assert_eq!(counts.sessions, 3);
        assert_eq!(counts.with, counted([2, 0, 2, 2, 0, 1]));
        assert_eq!(counts.closed_without_auth, 1);
        assert_eq!(counts.cause_clients, [(5, 9, 1)]);
        assert_eq!(counts.client_failures, [(9, 1)]);
        assert_eq!(counts.folded_early, 0);
    }

    /// The proxy reuses connection ids: a connect line after a complete session starts a new
    /// one.
    #[test]
    fn a_reused_connection_id_is_a_second_session() {
        let rows: Vec<SessionRow> = [CONNECTED, PINNED, CLOSED, CONNECTED, CLOSED]
            .into_iter()
            .map(|flags| row(4, 0, 0, flags))
            .collect();
        let counts = joined(&rows);
        assert_eq!(
            (counts.sessions, counts.with.pinned, counts.with.closed),
            (2, 1, 2)
        );
    }

    /// A failed authentication without a close line, then the same id reused an hour and a
    /// month later, with and without a connect line: three sessions each time, whatever the
    /// traffic in between.
    #[test]
    fn an_incomplete_session_is_not_joined_with_a_later_reuse_of_its_id() {
        let month = 30 * 24 * HOUR;
        let lines = [
            at(9, 0, CONNECTED),
            at(9, 10, AUTH_FAILED),
            at(9, HOUR, CONNECTED),
            at(9, HOUR + 5, CLOSED),
            at(9, month, CONNECTED),
            at(9, month + 20, AUTH_FAILED),
        ];
        let alone = joined(&lines);
        assert_eq!(alone.sessions, 3, "{alone:?}");
        assert_eq!(alone.with, counted([3, 0, 2, 2, 0, 1]));
        assert_eq!(alone.closed_without_auth, 1);
        // Without connect lines the horizon alone ends them: a failure an hour later is
        // another session, not the first one's.
        let bare = joined(&[
            at(9, 0, AUTH_FAILED),
            at(9, HOUR, AUTH_FAILED),
            at(9, HOUR + 60_000, CLOSED),
            at(9, month, AUTH_FAILED),
        ]);
        assert_eq!(bare.sessions, 3);
        assert_eq!(bare.with, counted([0, 0, 3, 3, 0, 1]));
        // Other connections' traffic in between moves the first session out of the open table
        // (its horizon passes) before its id comes back.
        let mut busy = vec![lines[0], lines[1]];
        for minute in 1..59 {
            busy.push(at(1_000 + minute as u64, minute * MINUTE, CONNECTED));
            busy.push(at(1_000 + minute as u64, minute * MINUTE + 1, CLOSED));
        }
        busy.extend_from_slice(&lines[2..]);
        let busy = joined(&busy);
        assert_eq!(busy.sessions, 3 + 58);
        assert_eq!(busy.with.auth_failed, 2);
        assert_eq!(busy.closed_without_auth, 1 + 58);
    }

    /// Within the horizon the lines of one session join in any order: the close line before
    /// the connect line (two export objects read in the wrong order), the failure minutes
    /// after the connect line with other traffic in between.
    #[test]
    fn lines_of_one_session_join_in_any_order_within_the_horizon() {
        // Only the connect line names the client.
        let bare = |ts, flags| SessionRow {
            client: 0,
            ..at(5, ts, flags)
        };
        let mut rows = vec![bare(10 * MINUTE, CLOSED), bare(2 * MINUTE, AUTH_FAILED)];
        for tenth in 0..6_000 {
            rows.push(at(100 + tenth, tenth as i64 * 100, CONNECTED));
        }
        rows.push(SessionRow {
            client: 42,
            cause: 3,
            ..at(5, MINUTE, CONNECTED)
        });
        let counts = joined(&rows);
        assert_eq!(counts.sessions, 6_001);
        assert_eq!(counts.with.closed, 1);
        assert_eq!(counts.with.auth_failed, 1);
        assert_eq!(counts.cause_clients, [(3, 42, 1)]);
        assert_eq!(counts.client_failures, [(42, 1)]);
    }

    /// A Logs Insights export sorted newest first: the clock runs backwards, and each session
    /// is still one.
    #[test]
    fn an_input_newest_first_joins_the_same_sessions() {
        let mut rows = Vec::new();
        for conn in 0..20_000u64 {
            let ts = conn as i64 * 1_000;
            rows.push(at(conn, ts, CONNECTED));
            rows.push(at(conn, ts + 30_000, AUTHENTICATED));
            rows.push(at(conn, ts + 90_000, CLOSED));
        }
        let forwards = joined(&rows);
        rows.sort_by_key(|r| std::cmp::Reverse(r.ts));
        let mut buffer = SessionBuffer::default();
        let mut largest = 0;
        for row in &rows {
            buffer.push(*row);
            largest = largest.max(buffer.open.len());
        }
        let backwards = buffer.finish();
        assert_eq!(backwards, forwards);
        assert_eq!(backwards.sessions, 20_000);
        assert_eq!(backwards.with.closed, 20_000);
        // Old sessions leave the table going backwards too.
        assert!(
            largest < 2 * 15 * 60 + 2 * SWEEP_EVERY as usize,
            "{largest}"
        );
    }

    /// A connection that stays active for hours (a pooled application connection) does not
    /// keep the short ones queued behind it in the open table.
    #[test]
    fn a_long_session_does_not_hold_back_the_others() {
        let mut buffer = SessionBuffer::default();
        buffer.push(at(1, 0, CONNECTED));
        let mut largest = 0;
        for second in 1..4 * 3600 {
            let ts = second * 1000;
            let conn = 10 + second as u64;
            buffer.push(at(conn, ts, CONNECTED));
            buffer.push(at(conn, ts + 10, CLOSED));
            if second % 60 == 0 {
                buffer.push(at(1, ts, AUTHENTICATED));
            }
            largest = largest.max(buffer.open.len());
        }
        // The horizon is 15 minutes of one connection per second, plus a sweep's worth.
        assert!(largest < 900 + 2 * SWEEP_EVERY as usize, "{largest}");
        let counts = buffer.finish();
        assert_eq!(counts.sessions, 4 * 3600);
        assert_eq!(counts.with.authenticated, 1);
    }

    /// Incomplete sessions leave the table at their horizon like complete ones: a storm of
    /// failed authentications without close lines does not grow it.
    #[test]
    fn incomplete_sessions_leave_at_their_horizon() {
        let mut buffer = SessionBuffer::default();
        let n = 100_000u64;
        for conn in 0..n {
            let ts = conn as i64 * 100;
            buffer.push(at(conn, ts, CONNECTED));
            buffer.push(at(conn, ts + 5, AUTH_FAILED));
        }
        // 15 minutes of ten sessions a second, plus a sweep's worth.
        assert!(
            buffer.open.len() < 9_000 + SWEEP_EVERY as usize,
            "{}",
            buffer.open.len()
        );
        let counts = buffer.finish();
        assert_eq!(counts.sessions, n);
        assert_eq!(counts.with.auth_failed, n);
        assert_eq!(counts.with.closed, 0);
        assert_eq!(counts.folded_early, 0);
    }

    /// After a jump of the input's time (a gap in the traffic longer than the horizon, or the
    /// next stream of an export tree, which starts hours earlier), the clock (a median of the
    /// last lines) lags behind the newest lines for a few dozen lines. A sweep in that window
    /// took the sessions just started for sessions its horizon had passed, and cut them in
    /// two: on an S3 export tree of 8 streams, one session of a million was counted twice,
    /// once without its close line and once without its connect line. Wherever the sweep
    /// falls, the sessions after the jump stay whole.
    #[test]
    fn sessions_after_a_jump_of_the_clock_stay_whole() {
        const AFTER: u64 = 40;
        for jump in [38 * MINUTE, -5 * HOUR] {
            for before in SWEEP_EVERY - 3 * AFTER..=SWEEP_EVERY {
                let start = 10 * HOUR;
                let mut rows: Vec<SessionRow> = (0..before)
                    .map(|i| at(i, start + i as i64, [1, 0, 0, 0, 0, 1]))
                    .collect();
                let then = start + before as i64 + jump;
                for j in 0..AFTER {
                    let conn = 1_000_000 + j;
                    let ts = then + 10 * j as i64;
                    rows.push(at(conn, ts, CONNECTED));
                    rows.push(at(conn, ts + 4, PINNED));
                    rows.push(at(conn, ts + 9, CLOSED));
                }
                let counts = joined(&rows);
                let sessions = before + AFTER;
                assert_eq!(
                    (counts.sessions, counts.with),
                    (sessions, counted([sessions, 0, 0, 0, AFTER, sessions])),
                    "a jump of {jump} ms after {before} lines"
                );
            }
        }
    }

    /// A quiet input, a session every quarter of an hour or so (lines farther apart than the
    /// horizon; the clock, the median of the last 64 of them, some four hours behind the
    /// newest): the sweep still runs, so the table holds what a busy input's does between two
    /// sweeps, none is folded early, and none is cut in two, also when its close line is
    /// minutes after its connect line. (The sweep waited for the clock to come within the
    /// horizon of the newest line, for ever: the table filled with every session and folded
    /// the oldest early.)
    #[test]
    fn a_quiet_input_is_swept_like_a_busy_one() {
        const SESSIONS: u64 = 3 * SWEEP_EVERY;
        for length in [9, 5 * MINUTE, 14 * MINUTE] {
            let mut buffer = SessionBuffer::default();
            let mut t = 100 * HOUR;
            let mut most = 0;
            for conn in 0..SESSIONS {
                buffer.push(at(conn, t, CONNECTED));
                buffer.push(at(conn, t + length, CLOSED));
                most = most.max(buffer.open.len());
                // 12 to 22 minutes apart.
                t += 12 * MINUTE + i64::try_from(conn % 11).unwrap() * MINUTE;
            }
            // A sweep every SWEEP_EVERY lines (two a session), and what the reach keeps.
            assert!(
                most < SWEEP_EVERY as usize / 2 + 200,
                "{most} sessions open at once ({length} ms sessions)"
            );
            let counts = buffer.finish();
            assert_eq!(counts.folded_early, 0);
            assert_eq!(
                (counts.sessions, counts.with),
                (SESSIONS, counted([SESSIONS, 0, 0, 0, 0, SESSIONS])),
                "{length} ms sessions"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Complete sessions, several open at once, in stretches of traffic separated by jumps
        /// of the clock forwards and backwards (gaps in the traffic, the streams of an export
        /// one after another): each session is counted once, with its connect and close
        /// lines, wherever the sweeps fall.
        #[test]
        fn sessions_stay_whole_across_jumps_of_the_clock(
            stretches in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        -6 * HOUR..-16 * MINUTE,
                        -MINUTE..MINUTE,
                        16 * MINUTE..6 * HOUR,
                    ],
                    20usize..400,
                    0i64..50,
                    proptest::prelude::any::<bool>(),
                ),
                10..30,
            ),
        ) {
            let mut rows = Vec::new();
            let mut conn = 0u64;
            let mut end = 100 * HOUR;
            for (jump, sessions, step, pinned) in stretches {
                let start = end + jump;
                let mut lines = Vec::new();
                for i in 0..sessions as i64 {
                    conn += 1;
                    let t = start + i * step;
                    let length = (conn as i64 * 7919) % 900 + 1;
                    lines.push(at(conn, t, CONNECTED));
                    if pinned && conn.is_multiple_of(3) {
                        lines.push(at(conn, t + length / 2, PINNED));
                    }
                    lines.push(at(conn, t + length, CLOSED));
                    end = end.max(t + length);
                }
                lines.sort_by_key(|row| row.ts);
                end = lines.last().and_then(|row| row.ts).unwrap_or(start);
                rows.extend(lines);
            }
            let counts = joined(&rows);
            proptest::prop_assert_eq!(counts.sessions, conn);
            proptest::prop_assert_eq!(counts.with.connected, conn);
            proptest::prop_assert_eq!(counts.with.closed, conn);
        }
    }

    #[test]
    fn a_full_table_folds_its_oldest_early_and_says_so() {
        let mut buffer = SessionBuffer::default();
        let total = MAX_OPEN as u64 + 1000;
        for conn in 0..total {
            buffer.push(at(conn, 7_300_000, CONNECTED));
        }
        assert!(buffer.open.len() <= MAX_OPEN);
        // A late line of a session folded early counts as another session.
        buffer.push(at(0, 7_300_001, CLOSED));
        let counts = buffer.finish();
        assert_eq!(counts.folded_early, 1001);
        assert_eq!(counts.sessions, total + 1);
        assert_eq!(counts.most_open, total + 1, "all in one minute");
    }

    /// A session stamped minutes ahead of the clock (a line of another host's clock, or
    /// the first line of the next export object) is still within its horizon, and must not
    /// hold back the sessions queued after it: they are folded at their horizon, and the
    /// open table holds about a horizon of traffic. (A first-in first-out queue stopped at
    /// such a session for up to 25 minutes; on an S3 export tree of several streams the
    /// table filled up and two sessions in three were folded early.)
    #[test]
    fn a_session_stamped_ahead_does_not_hold_back_the_others() {
        const PER_MINUTE: i64 = 1_000;
        const SESSIONS: i64 = 4 * 60 * PER_MINUTE;
        let mut buffer = SessionBuffer::default();
        let mut most = 0;
        for i in 0..SESSIONS {
            let conn = u64::try_from(i).unwrap();
            let mut ts = i * MINUTE / PER_MINUTE;
            if i % 5_000 == 0 {
                ts += 10 * MINUTE;
            }
            buffer.push(at(conn, ts, CONNECTED));
            buffer.push(at(conn, ts + 1_000, CLOSED));
            most = most.max(buffer.open.len());
        }
        let counts = buffer.finish();
        assert_eq!(counts.folded_early, 0);
        assert_eq!(counts.sessions, SESSIONS as u64);
        assert_eq!(counts.with.closed, SESSIONS as u64);
        // The 15 minutes behind the clock (15,000), what arrives between two sweeps (about
        // two minutes) and the sweep's minute steps.
        assert!(most < 20_000, "{most} sessions open at once");
    }

    /// Lines of interleaved, incomplete and reused sessions, cut into batches shared among
    /// workers and handed over in any order: the same counts as one stream.
    #[test]
    fn the_order_joins_batches_as_one_stream_whatever_their_arrival() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..200 {
            // Rows over two or three inputs: connection ids from a small range so that they
            // are reused, sessions left without close lines, untimed rows.
            let inputs = rng.usize(1..4);
            let mut streams: Vec<Vec<SessionRow>> = Vec::new();
            for _ in 0..inputs {
                let mut rows = Vec::new();
                let mut ts = rng.i64(0..HOUR);
                for _ in 0..rng.usize(0..300) {
                    ts += rng.i64(0..4 * MINUTE);
                    let flags =
                        [CONNECTED, AUTHENTICATED, AUTH_FAILED, PINNED, CLOSED][rng.usize(0..5)];
                    rows.push(SessionRow {
                        conn: rng.u64(0..12),
                        ts: (rng.u8(..) > 20).then_some(ts),
                        client: rng.u32(0..4),
                        cause: rng.u32(0..3),
                        flags: bits(flags),
                    });
                }
                streams.push(rows);
            }
            let expected = joined(&streams.concat());
            // Cut each input into batches, give each batch to a worker whose client codes are
            // its own (code + 10 × worker), and submit them shuffled.
            let workers = rng.usize(1..5);
            let mut batches = Vec::new();
            for (stream, rows) in streams.iter().enumerate() {
                let mut cuts: Vec<usize> = (0..rng.usize(0..5))
                    .map(|_| rng.usize(0..=rows.len()))
                    .collect();
                cuts.extend([0, rows.len()]);
                cuts.sort_unstable();
                cuts.dedup();
                let pieces: Vec<&[SessionRow]> = if cuts.len() < 2 {
                    vec![&rows[..]]
                } else {
                    cuts.windows(2).map(|w| &rows[w[0]..w[1]]).collect()
                };
                let count = pieces.len();
                for (position, piece) in pieces.into_iter().enumerate() {
                    let worker = rng.usize(0..workers);
                    let rows: Vec<SessionRow> = piece
                        .iter()
                        .map(|r| SessionRow {
                            client: if r.client == 0 {
                                0
                            } else {
                                r.client + 10 * worker as u32
                            },
                            ..*r
                        })
                        .collect();
                    let key = BatchKey {
                        stream: stream as u32,
                        position: position as u64,
                        last: position + 1 == count,
                    };
                    batches.push((key, worker, rows));
                }
            }
            rng.shuffle(&mut batches);
            let order = SessionOrder::default();
            for (key, worker, mut rows) in batches {
                order.submit(key, worker, &mut rows);
                assert!(rows.is_empty());
            }
            let merged = order.finish(&|worker, code| code - 10 * worker as u32);
            assert_eq!(merged, expected, "round {round}");
        }
    }

    /// A reader that is also a worker, held while too many rows wait for an earlier input,
    /// counts the batches it is handed meanwhile (here the one the join waits for, so that it
    /// lets itself go), and otherwise waits to be let go by another worker's join.
    #[test]
    fn a_held_reader_helps_until_the_join_lets_it_go() {
        let order = std::sync::Arc::new(SessionOrder::default());
        let key = |stream, position, last| BatchKey {
            stream,
            position,
            last,
        };
        let mut rows = vec![at(1, 0, CONNECTED); MAX_PENDING_ROWS + 1];
        order.submit(key(1, 0, true), 0, &mut rows);
        assert!(order.holds(1) && !order.holds(0));
        // The only batch of stream 0 waits to be taken: the held reader takes and joins it.
        let mut waiting_batch = Some((key(0, 0, true), vec![at(2, 0, CONNECTED)]));
        let mut helped = 0;
        order.admit_helping(1, &mut || match waiting_batch.take() {
            Some((key, mut rows)) => {
                helped += 1;
                order.submit(key, 1, &mut rows);
                true
            }
            None => false,
        });
        assert_eq!(helped, 1);
        assert!(!order.holds(1));

        // With nothing to take, it waits until another worker's join lets it go.
        let mut more = vec![at(3, 0, CONNECTED); MAX_PENDING_ROWS + 1];
        order.submit(key(3, 0, true), 0, &mut more);
        assert!(order.holds(3));
        let held = {
            let order = std::sync::Arc::clone(&order);
            std::thread::spawn(move || {
                let mut looked = 0u32;
                order.admit_helping(3, &mut || {
                    looked += 1;
                    false
                });
                looked
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!held.is_finished());
        order.submit(key(2, 0, true), 1, &mut Vec::new());
        let looked = held.join().unwrap();
        assert!(looked >= 1, "it looked for batches while it waited");
        assert_eq!(
            order.finish(&|_, c| c).sessions,
            2 * (MAX_PENDING_ROWS as u64 + 1) + 1
        );
    }

    /// A reader of a later input waits while too many rows wait for an earlier one, and is
    /// let go when they are joined or when a worker stops.
    #[test]
    fn readers_ahead_wait_for_the_stream_being_joined() {
        let order = std::sync::Arc::new(SessionOrder::default());
        let key = |stream, position| BatchKey {
            stream,
            position,
            last: false,
        };
        let mut rows = vec![at(1, 0, CONNECTED); MAX_PENDING_ROWS + 1];
        order.submit(key(1, 0), 0, &mut rows);
        // The stream being joined (0) never waits.
        order.admit(0);
        let waiting = {
            let order = std::sync::Arc::clone(&order);
            std::thread::spawn(move || order.admit(1))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiting.is_finished());
        let mut last = Vec::new();
        order.submit(
            BatchKey {
                last: true,
                ..key(0, 0)
            },
            1,
            &mut last,
        );
        waiting.join().ok();
        let mut more = vec![at(2, 0, CONNECTED); MAX_PENDING_ROWS + 1];
        order.submit(key(3, 0), 0, &mut more);
        let released = {
            let order = std::sync::Arc::clone(&order);
            std::thread::spawn(move || order.admit(3))
        };
        order.release();
        released.join().ok();
        assert_eq!(
            order.finish(&|_, c| c).sessions,
            2 * (MAX_PENDING_ROWS as u64 + 1)
        );
    }

    /// Readers and workers on threads of their own, as a run has them, with a bound so small
    /// that readers of later inputs wait all the time: the run always ends (no reader waits
    /// for a join that nobody will do) and joins what one stream would.
    #[test]
    fn readers_that_wait_are_always_woken() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::{Arc, mpsc};
        let mut rng = fastrand::Rng::with_seed(11);
        for round in 0..60 {
            let inputs = rng.usize(2..7);
            let streams: Arc<Vec<Vec<Vec<SessionRow>>>> = Arc::new(
                (0..inputs)
                    .map(|input| {
                        (0..rng.usize(1..12))
                            .map(|batch| {
                                (0..rng.usize(0..40))
                                    .map(|i| {
                                        let conn = (input * 1000 + batch * 50 + i / 2) as u64;
                                        let flags = if i % 2 == 0 { CONNECTED } else { CLOSED };
                                        at(conn, (batch * 100 + i) as i64, flags)
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .collect(),
            );
            let all: Vec<SessionRow> = streams.iter().flatten().flatten().copied().collect();
            let expected = joined(&all);
            let order = Arc::new(SessionOrder::with_bound(rng.usize(0..30)));
            let (done_tx, done_rx) = mpsc::channel();
            let run = {
                let order = Arc::clone(&order);
                let streams = Arc::clone(&streams);
                let readers = rng.usize(1..4);
                let workers = rng.usize(1..4);
                std::thread::spawn(move || {
                    let (tx, rx) = mpsc::sync_channel::<(BatchKey, Vec<SessionRow>)>(2);
                    let rx = Arc::new(Mutex::new(rx));
                    let next = Arc::new(AtomicUsize::new(0));
                    let readers: Vec<_> = (0..readers)
                        .map(|_| {
                            let (order, streams, next, tx) = (
                                Arc::clone(&order),
                                Arc::clone(&streams),
                                Arc::clone(&next),
                                tx.clone(),
                            );
                            std::thread::spawn(move || {
                                loop {
                                    let input = next.fetch_add(1, Ordering::Relaxed);
                                    let Some(batches) = streams.get(input) else {
                                        break;
                                    };
                                    for (position, rows) in batches.iter().enumerate() {
                                        let key = BatchKey {
                                            stream: input as u32,
                                            position: position as u64,
                                            last: position + 1 == batches.len(),
                                        };
                                        order.admit(key.stream);
                                        if position % 3 == 0 {
                                            std::thread::yield_now();
                                        }
                                        tx.send((key, rows.clone())).unwrap();
                                    }
                                }
                            })
                        })
                        .collect();
                    drop(tx);
                    let workers: Vec<_> = (0..workers)
                        .map(|worker| {
                            let (order, rx) = (Arc::clone(&order), Arc::clone(&rx));
                            std::thread::spawn(move || {
                                loop {
                                    let Ok((key, mut rows)) = rx.lock().unwrap().recv() else {
                                        break;
                                    };
                                    order.submit(key, worker, &mut rows);
                                }
                            })
                        })
                        .collect();
                    for thread in readers.into_iter().chain(workers) {
                        thread.join().unwrap();
                    }
                    done_tx.send(()).unwrap();
                })
            };
            assert!(
                done_rx
                    .recv_timeout(std::time::Duration::from_secs(20))
                    .is_ok(),
                "round {round}: a reader is still waiting"
            );
            run.join().unwrap();
            assert_eq!(order.finish(&|_, c| c), expected, "round {round}");
        }
    }
}
