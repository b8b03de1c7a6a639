//! Sessions joined on `clientConnection`: one small entry per open connection, folded into
//! totals when the table is full.
//!
//! A connection's lines can arrive in any order (several export objects, clock skew), so an
//! entry keeps the client address (only the `A new client connected` line has it), the flags of
//! every event seen and the causes of its failures. A connection leaves the open table when the
//! input's clock has moved [`HORIZON`] past its last line (or, oldest first, when more than
//! [`MAX_OPEN`] are open): a complete one (connected and closed) is folded into the totals, an
//! incomplete one kept aside among at most [`MAX_INCOMPLETE`], which are folded at the end
//! (or, oldest first, when there are too many: `folded_early`, and a later line of such a
//! connection counts as a second session). Within the horizon the join is exact whatever the
//! line order. A connection still active after the horizon (a pooled application connection)
//! is queued again rather than holding back the ones behind it, so the open table holds the
//! last [`HORIZON`] of traffic, not the whole input. The proxy reuses connection ids (random
//! 32-bit numbers: the benchmark's day of 4 million sessions reuses 1,956 of them): a connect
//! line for a connection that already has one starts a new session, whether the old one closed
//! or not (a failed authentication often ends without a close line), so an incomplete session
//! kept aside is never joined with a later one that reuses its id. Memory is
//! bounded whatever the input size, and parallel workers' tables merge by connection into the
//! same number of sessions as one worker's. One case is left: when a session of a reused id
//! is cut between two workers' batches and its id comes back in the later batch, a tail line
//! of the first session (its close, its failure) can join the second one instead: the
//! sessions are counted alike, their flags (closed, closed without authenticating) may not be.
//! On the samples tree (every layout of one incident, so every id several times) the sessions
//! are now 4,480 for 1, 2 and 3 workers (they were 4,367, 4,311 and 4,311); `closed` still
//! varies (4,365 / 4,368 / 4,285).

use std::collections::{HashMap, VecDeque};

use rustc_hash::FxBuildHasher as FxBuild;

use crate::model::EventKind;

/// Connections kept open at most.
pub const MAX_OPEN: usize = 1 << 18;
/// Incomplete connections (not both connected and closed) kept aside at most when they leave
/// the open table: they may still get lines, from later input or from another worker's share.
pub const MAX_INCOMPLETE: usize = 1 << 18;
/// A connection with no line for this long (by the input's own clock) leaves the open table.
pub const HORIZON: i64 = 15 * 60_000;
/// Pushes between sweeps of the open table.
const SWEEP_EVERY: u64 = 4096;

/// What the lines of one client connection said about it, as a set of bits (one byte, so an
/// open connection stays at 32 bytes).
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

    fn add(&mut self, other: FlagCounts) {
        self.connected += other.connected;
        self.authenticated += other.authenticated;
        self.auth_failed += other.auth_failed;
        self.failed += other.failed;
        self.pinned += other.pinned;
        self.closed += other.closed;
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
    /// The newest timestamp of its lines.
    last: i64,
}

/// A small set of cause codes (non-zero): two inline, which is what a connection has, and
/// the rest on the heap. Open connections are the biggest table of a run; this keeps an
/// entry at 32 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Causes {
    inline: [u32; 2],
    // A thin pointer (8 bytes) where a `Vec` takes 24: the point of this type.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<u32>>>,
}

// The open table's size is what bounds a run's memory; keep its entries small.
const _: () = assert!(std::mem::size_of::<Open>() <= 32);

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

/// Per-connection totals after the join on `clientConnection`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub sessions: u64,
    /// Sessions per flag.
    pub with: FlagCounts,
    /// Sessions that connected and closed without authenticating or failing.
    pub closed_without_auth: u64,
    /// (cause code, client code, sessions): which client addresses the sessions of a cause
    /// came from, joined through the connection id, whatever the order of the lines.
    pub cause_clients: Vec<(u32, u32, u64)>,
    /// (client code, failed sessions).
    pub client_failures: Vec<(u32, u64)>,
    /// Connections folded before the end because too many were open.
    pub folded_early: u64,
}

#[derive(Debug, Clone, Default)]
pub struct SessionBuffer {
    open: HashMap<u64, Open, FxBuild>,
    /// Open connections, oldest first: the id and the newest line time when queued.
    order: VecDeque<(u64, i64)>,
    /// Incomplete connections moved out of `open`, oldest first.
    incomplete: HashMap<u64, Open, FxBuild>,
    incomplete_order: VecDeque<u64>,
    totals: Totals,
    newest: i64,
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
}

impl Totals {
    fn fold(&mut self, session: Open) {
        self.sessions += 1;
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

impl Open {
    fn complete(&self) -> bool {
        self.flags
            .contains(SessionFlags::CONNECTED | SessionFlags::CLOSED)
    }
}

impl SessionBuffer {
    /// Makes room in the open table: the oldest connection is folded when complete, else kept
    /// aside (and the oldest of those folded early when they are too many).
    fn evict(&mut self) {
        // The queue may still hold ids of sessions that finished: skip them.
        let (oldest, session) = loop {
            let Some((oldest, _)) = self.order.pop_front() else {
                return;
            };
            if let Some(session) = self.open.remove(&oldest) {
                break (oldest, session);
            }
        };
        if session.complete() {
            self.totals.fold(session);
            return;
        }
        while self.incomplete.len() >= MAX_INCOMPLETE {
            let Some(old) = self.incomplete_order.pop_front() else {
                break;
            };
            if let Some(early) = self.incomplete.remove(&old) {
                self.totals.folded_early += 1;
                self.totals.fold(early);
            }
        }
        self.incomplete_order.push_back(oldest);
        self.incomplete.insert(oldest, session);
    }

    pub fn push(&mut self, row: SessionRow) {
        self.absorb(
            row.conn,
            row.ts,
            row.client,
            row.flags,
            [row.cause].into_iter(),
        );
    }

    /// Adds what is known of one connection to its entry.
    fn absorb(
        &mut self,
        conn: u64,
        ts: Option<i64>,
        client: u32,
        flags: SessionFlags,
        causes: impl Iterator<Item = u32>,
    ) {
        let update = |entry: &mut Open, newest: i64| {
            entry.client = entry.client.max(client);
            entry.flags.insert(flags);
            for cause in causes {
                entry.causes.insert(cause);
            }
            entry.last = entry.last.max(ts.unwrap_or(newest));
        };
        // A connect line for a connection that already has one: the proxy reused the id (they
        // are random 32-bit numbers) and this is a new session, whether the old one closed or
        // not (a failed authentication often has no close line). Every session has one
        // connect line, so the old one ended before it.
        let reconnect = flags.contains(SessionFlags::CONNECTED);
        // One lookup for a connection already open (most lines).
        if let Some(entry) = self.open.get_mut(&conn) {
            if reconnect && entry.flags.contains(SessionFlags::CONNECTED) {
                self.totals.fold(std::mem::take(entry));
            }
            update(entry, self.newest);
        } else if let Some(entry) = self
            .incomplete
            .get_mut(&conn)
            .filter(|e| !(reconnect && e.flags.contains(SessionFlags::CONNECTED)))
        {
            update(entry, self.newest);
        } else {
            // The session kept aside under this id, if any, ended: it is counted now.
            if let Some(ended) = self.incomplete.remove(&conn) {
                self.totals.fold(ended);
            }
            if self.open.len() >= MAX_OPEN {
                self.evict();
            }
            self.order.push_back((conn, ts.unwrap_or(self.newest)));
            update(self.open.entry(conn).or_default(), self.newest);
        }
        self.newest = self.newest.max(ts.unwrap_or(self.newest));
        self.pushes += 1;
        if self.pushes.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
    }

    /// Takes connections whose last line is more than [`HORIZON`] older than the newest line
    /// out of the open table: complete ones are folded, incomplete ones kept aside.
    fn sweep(&mut self) {
        while let Some(&(front, queued)) = self.order.front() {
            if queued.saturating_add(HORIZON) >= self.newest {
                break;
            }
            match self.open.get(&front) {
                None => {
                    self.order.pop_front();
                }
                Some(entry) if entry.last.saturating_add(HORIZON) < self.newest => {
                    self.evict();
                }
                // Still active (a long session): queued again at its newest line, so that it
                // does not hold back the connections behind it.
                Some(entry) => {
                    let last = entry.last;
                    self.order.pop_front();
                    self.order.push_back((front, last));
                }
            }
        }
    }

    /// Adds another buffer (a parallel worker's), its client codes mapped through `map`:
    /// entries of the same connection are joined.
    pub fn merge(&mut self, other: SessionBuffer, map: &dyn Fn(u32) -> u32) {
        let SessionBuffer {
            mut open,
            order,
            mut incomplete,
            incomplete_order,
            totals,
            ..
        } = other;
        let entries = incomplete_order
            .into_iter()
            .filter_map(|conn| incomplete.remove(&conn).map(|s| (conn, s)))
            .chain(
                order
                    .into_iter()
                    .filter_map(|(conn, _)| open.remove(&conn).map(|s| (conn, s))),
            )
            .collect::<Vec<_>>();
        for (conn, theirs) in entries {
            self.absorb(
                conn,
                Some(theirs.last),
                map(theirs.client),
                theirs.flags,
                theirs.causes.iter(),
            );
        }
        let mine = &mut self.totals;
        mine.sessions += totals.sessions;
        mine.with.add(totals.with);
        mine.closed_without_auth += totals.closed_without_auth;
        for ((cause, client), n) in totals.cause_clients {
            *mine.cause_clients.entry((cause, map(client))).or_default() += n;
        }
        for (client, n) in totals.client_failures {
            *mine.client_failures.entry(map(client)).or_default() += n;
        }
        mine.folded_early += totals.folded_early;
    }

    pub fn finish(self) -> SessionCounts {
        let SessionBuffer {
            mut open,
            order,
            mut incomplete,
            incomplete_order,
            mut totals,
            ..
        } = self;
        for conn in incomplete_order {
            if let Some(session) = incomplete.remove(&conn) {
                totals.fold(session);
            }
        }
        for (conn, _) in order {
            if let Some(session) = open.remove(&conn) {
                totals.fold(session);
            }
        }
        let mut cause_clients: Vec<(u32, u32, u64)> = totals
            .cause_clients
            .into_iter()
            .map(|((cause, client), n)| (cause, client, n))
            .collect();
        cause_clients.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        let mut client_failures: Vec<(u32, u64)> = totals.client_failures.into_iter().collect();
        client_failures.sort_unstable();
        SessionCounts {
            sessions: totals.sessions,
            with: totals.with,
            closed_without_auth: totals.closed_without_auth,
            cause_clients,
            client_failures,
            folded_early: totals.folded_early,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_are_a_set() {
        let mut causes = Causes::default();
        for cause in [3, 0, 3, 7, 9, 7, 11, 9] {
            causes.insert(cause);
        }
        assert_eq!(causes.iter().collect::<Vec<_>>(), [3, 7, 9, 11]);
    }

    use super::*;

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
        let flags = bits(flags);
        SessionRow {
            conn,
            ts: Some(1_000),
            client,
            cause,
            flags,
        }
    }

    /// A line of connection `conn` at `ts` from client 1, without a cause.
    fn at(conn: u64, ts: i64, flags: [u32; 6]) -> SessionRow {
        let flags = bits(flags);
        SessionRow {
            conn,
            ts: Some(ts),
            client: 1,
            cause: 0,
            flags,
        }
    }

    #[test]
    fn sessions_join_flags_and_addresses_per_connection() {
        let mut buffer = SessionBuffer::default();
        // Connection 2's failure arrives before its connect line (unordered export).
        buffer.push(row(2, 0, 5, [0, 0, 1, 1, 0, 0]));
        buffer.push(row(1, 7, 0, [1, 0, 0, 0, 0, 0]));
        buffer.push(row(1, 0, 0, [0, 0, 0, 0, 0, 1]));
        buffer.push(row(2, 9, 0, [1, 0, 0, 0, 0, 0]));
        buffer.push(row(3, 0, 5, [0, 0, 1, 1, 0, 0]));
        // A second failure line of connection 2 with the same cause counts the session once.
        buffer.push(row(2, 0, 5, [0, 0, 1, 1, 0, 0]));
        let counts = buffer.finish();
        assert_eq!(counts.sessions, 3);
        assert_eq!(counts.with, counted([2, 0, 2, 2, 0, 1]));
        assert_eq!(counts.closed_without_auth, 1);
        assert_eq!(counts.cause_clients, [(5, 9, 1)]);
        assert_eq!(counts.client_failures, [(9, 1)]);
        assert_eq!(counts.folded_early, 0);
    }

    /// The proxy reuses connection ids: a connect line after a complete session starts a new
    /// one, in one buffer and across merged buffers alike.
    #[test]
    fn a_reused_connection_id_is_a_second_session() {
        let connected = [1, 0, 0, 0, 0, 0];
        let closed = [0, 0, 0, 0, 0, 1];
        let pinned = [0, 0, 0, 0, 1, 0];
        let mut one = SessionBuffer::default();
        for flags in [connected, pinned, closed, connected, closed] {
            one.push(row(4, 0, 0, flags));
        }
        let one = one.finish();
        assert_eq!((one.sessions, one.with.pinned), (2, 1));
        let (mut first, mut second) = (SessionBuffer::default(), SessionBuffer::default());
        for flags in [connected, pinned, closed] {
            first.push(row(4, 0, 0, flags));
        }
        for flags in [connected, closed] {
            second.push(row(4, 0, 0, flags));
        }
        first.merge(second, &|c| c);
        assert_eq!(first.finish(), one);
    }

    /// A failed authentication without a close line, then the same id reused an hour and a
    /// month later: three sessions, in one buffer, in any split across buffers, and whether
    /// the first one was still open or already kept aside.
    #[test]
    fn an_incomplete_session_is_not_joined_with_a_later_reuse_of_its_id() {
        let connected = [1, 0, 0, 0, 0, 0];
        let auth_failed = [0, 0, 1, 1, 0, 0];
        let closed = [0, 0, 0, 0, 0, 1];
        const HOUR: i64 = 3_600_000;
        let lines = [
            at(9, 0, connected),
            at(9, 10, auth_failed),
            at(9, HOUR, connected),
            at(9, HOUR + 5, closed),
            at(9, 30 * 24 * HOUR, connected),
            at(9, 30 * 24 * HOUR + 20, auth_failed),
        ];
        let mut one = SessionBuffer::default();
        for line in lines {
            one.push(line);
        }
        let one = one.finish();
        assert_eq!(one.sessions, 3, "{one:?}");
        assert_eq!(one.with, counted([3, 0, 2, 2, 0, 1]));
        // Cut anywhere between two buffers, the sessions and their connect and failure lines
        // are counted alike. (Which session a cut-off tail line joins can differ when the id
        // comes back in the same buffer: `closed_without_auth` then moves between sessions.)
        for cut in 1..lines.len() {
            let (mut first, mut second) = (SessionBuffer::default(), SessionBuffer::default());
            lines[..cut].iter().for_each(|l| first.push(*l));
            lines[cut..].iter().for_each(|l| second.push(*l));
            first.merge(second, &|c| c);
            let merged = first.finish();
            assert_eq!(
                (
                    merged.sessions,
                    merged.with.connected,
                    merged.with.auth_failed,
                    merged.with.closed
                ),
                (3, 3, 2, 1),
                "cut at {cut}: {merged:?}"
            );
        }
        // Other connections' traffic in between moves the first session aside (the open table's
        // horizon) before its id comes back.
        let mut busy = SessionBuffer::default();
        busy.push(lines[0]);
        busy.push(lines[1]);
        for minute in 1..59 {
            busy.push(at(1_000 + minute as u64, minute * 60_000, connected));
            busy.push(at(1_000 + minute as u64, minute * 60_000 + 1, closed));
        }
        for line in &lines[2..] {
            busy.push(*line);
        }
        let busy = busy.finish();
        assert_eq!(busy.sessions, 3 + 58);
        assert_eq!(busy.with.auth_failed, 2);
    }

    /// A connection that stays active for hours (a pooled application connection) does not
    /// keep the short ones queued behind it in the open table.
    #[test]
    fn a_long_session_does_not_hold_back_the_others() {
        let mut buffer = SessionBuffer::default();
        buffer.push(at(1, 0, [1, 0, 0, 0, 0, 0]));
        let mut largest = 0;
        for second in 1..4 * 3600 {
            let ts = second * 1000;
            let conn = 10 + second as u64;
            buffer.push(at(conn, ts, [1, 0, 0, 0, 0, 0]));
            buffer.push(at(conn, ts + 10, [0, 0, 0, 0, 0, 1]));
            if second % 60 == 0 {
                buffer.push(at(1, ts, [0, 1, 0, 0, 0, 0]));
            }
            largest = largest.max(buffer.open.len());
        }
        // The horizon is 15 minutes of one connection per second, plus a sweep's worth.
        assert!(largest < 900 + 2 * SWEEP_EVERY as usize, "{largest}");
        let counts = buffer.finish();
        assert_eq!(counts.sessions, 4 * 3600);
        assert_eq!(counts.with.authenticated, 1);
    }

    #[test]
    fn old_connections_leave_the_open_table_and_memory_is_bounded() {
        let mut buffer = SessionBuffer::default();
        // Sessions a second apart for 2 hours: the open table holds about the horizon.
        let n = 7_200u64;
        for conn in 0..n {
            let ts = conn as i64 * 1000;
            buffer.push(at(conn, ts, [1, 0, 0, 0, 0, 0]));
            buffer.push(at(conn, ts + 10, [0, 0, 0, 0, 0, 1]));
        }
        assert!(buffer.open.len() < 2_000, "{}", buffer.open.len());
        assert!(buffer.incomplete.is_empty());
        // Far more connections in flight than the open table holds: the oldest move aside and
        // still join their later lines.
        let first = 1_000_000u64;
        let total = MAX_OPEN as u64 + 1000;
        for conn in first..first + total {
            buffer.push(at(conn, 7_300_000, [1, 0, 0, 0, 0, 0]));
        }
        assert!(buffer.open.len() <= MAX_OPEN);
        assert!(buffer.incomplete.len() >= 1000);
        buffer.push(SessionRow {
            conn: first,
            ts: Some(7_300_001),
            client: 0,
            cause: 5,
            flags: bits([0, 0, 1, 1, 0, 1]),
        });
        let counts = buffer.finish();
        assert_eq!(counts.sessions, n + total);
        assert_eq!(counts.closed_without_auth, n);
        assert_eq!(counts.cause_clients, [(5, 1, 1)]);
        assert_eq!(counts.folded_early, 0);
    }
}
