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
//! line order. Memory is bounded whatever the input size, and
//! parallel workers' tables merge by connection into the same totals as one worker's.

use std::collections::{HashMap, VecDeque};

use crate::fxhash::FxBuild;

/// Connections kept open at most.
pub const MAX_OPEN: usize = 1 << 18;
/// Incomplete connections (not both connected and closed) kept aside at most when they leave
/// the open table: they may still get lines, from later input or from another worker's share.
pub const MAX_INCOMPLETE: usize = 1 << 18;
/// A connection with no line for this long (by the input's own clock) leaves the open table.
pub const HORIZON: i64 = 15 * 60_000;
/// Pushes between sweeps of the open table.
const SWEEP_EVERY: u64 = 4096;

/// Flags an event can set on its connection, in [`SessionCounts::with`] order.
pub const SESSION_FLAGS: [&str; 6] = [
    "connected",
    "authenticated",
    "auth_failed",
    "failed",
    "pinned",
    "closed",
];

/// One event of a client connection: its flags (`0`/`1` per [`SESSION_FLAGS`]), the client
/// address code (0 when the line has none) and the cause code of the event (0 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRow {
    pub conn: u64,
    pub ts: Option<i64>,
    pub client: u32,
    pub cause: u32,
    pub flags: [u32; 6],
}

#[derive(Debug, Clone, Default)]
struct Open {
    client: u32,
    flags: u8,
    /// Distinct cause codes of the connection's events.
    causes: Vec<u32>,
    /// The newest timestamp of its lines.
    last: i64,
}

/// Per-connection totals after the join on `clientConnection`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub sessions: u64,
    /// Sessions that had each of [`SESSION_FLAGS`], in that order.
    pub with: [u64; 6],
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
    order: VecDeque<u64>,
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
    with: [u64; 6],
    closed_without_auth: u64,
    cause_clients: HashMap<(u32, u32), u64, FxBuild>,
    client_failures: HashMap<u32, u64, FxBuild>,
    folded_early: u64,
}

impl Totals {
    fn fold(&mut self, session: Open) {
        self.sessions += 1;
        let flag = |i: usize| session.flags & (1 << i) != 0;
        for (i, total) in self.with.iter_mut().enumerate() {
            *total += u64::from(flag(i));
        }
        if flag(0) && flag(5) && !flag(1) && !flag(2) && !flag(3) {
            self.closed_without_auth += 1;
        }
        if session.client != 0 {
            for cause in &session.causes {
                *self
                    .cause_clients
                    .entry((*cause, session.client))
                    .or_default() += 1;
            }
            if flag(3) {
                *self.client_failures.entry(session.client).or_default() += 1;
            }
        }
    }
}

impl Open {
    fn complete(&self) -> bool {
        self.flags & 1 != 0 && self.flags & (1 << 5) != 0
    }
}

impl SessionBuffer {
    /// Makes room in the open table: the oldest connection is folded when complete, else kept
    /// aside (and the oldest of those folded early when they are too many).
    fn evict(&mut self) {
        // The queue may still hold ids of sessions that finished: skip them.
        let (oldest, session) = loop {
            let Some(oldest) = self.order.pop_front() else {
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
        let mut flags = 0u8;
        for (i, value) in row.flags.iter().enumerate() {
            if *value != 0 {
                flags |= 1 << i;
            }
        }
        let causes: &[u32] = if row.cause != 0 { &[row.cause] } else { &[] };
        self.absorb(row.conn, row.ts, row.client, flags, causes);
    }

    /// Adds what is known of one connection to its entry.
    fn absorb(&mut self, conn: u64, ts: Option<i64>, client: u32, flags: u8, causes: &[u32]) {
        let row = SessionRow {
            conn,
            ts,
            client,
            cause: 0,
            flags: [0; 6],
        };
        let entry = if self.open.contains_key(&row.conn) {
            self.open.get_mut(&row.conn)
        } else if self.incomplete.contains_key(&row.conn) {
            self.incomplete.get_mut(&row.conn)
        } else {
            if self.open.len() >= MAX_OPEN {
                self.evict();
            }
            self.order.push_back(row.conn);
            Some(self.open.entry(row.conn).or_default())
        };
        let Some(entry) = entry else { return };
        entry.client = entry.client.max(row.client);
        entry.flags |= flags;
        for cause in causes {
            if !entry.causes.contains(cause) {
                entry.causes.push(*cause);
            }
        }
        let last = ts.unwrap_or(self.newest);
        entry.last = entry.last.max(last);
        self.newest = self.newest.max(last);
        self.pushes += 1;
        if self.pushes.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
    }

    /// Takes connections whose last line is more than [`HORIZON`] older than the newest line
    /// out of the open table: complete ones are folded, incomplete ones kept aside.
    fn sweep(&mut self) {
        while let Some(&front) = self.order.front() {
            match self.open.get(&front) {
                None => {
                    self.order.pop_front();
                }
                Some(entry) if entry.last.saturating_add(HORIZON) < self.newest => {
                    self.evict();
                }
                Some(_) => break,
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
                    .filter_map(|conn| open.remove(&conn).map(|s| (conn, s))),
            )
            .collect::<Vec<_>>();
        for (conn, theirs) in entries {
            self.absorb(
                conn,
                Some(theirs.last),
                map(theirs.client),
                theirs.flags,
                &theirs.causes,
            );
        }
        let mine = &mut self.totals;
        mine.sessions += totals.sessions;
        for (a, b) in mine.with.iter_mut().zip(totals.with) {
            *a += b;
        }
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
        for conn in order {
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
    use super::*;

    fn row(conn: u64, client: u32, cause: u32, flags: [u32; 6]) -> SessionRow {
        SessionRow {
            conn,
            ts: Some(1_000),
            client,
            cause,
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
        assert_eq!(counts.with, [2, 0, 2, 2, 0, 1]);
        assert_eq!(counts.closed_without_auth, 1);
        assert_eq!(counts.cause_clients, [(5, 9, 1)]);
        assert_eq!(counts.client_failures, [(9, 1)]);
        assert_eq!(counts.folded_early, 0);
    }

    #[test]
    fn old_connections_leave_the_open_table_and_memory_is_bounded() {
        let mut buffer = SessionBuffer::default();
        let at = |conn: u64, ts: i64, flags: [u32; 6]| SessionRow {
            conn,
            ts: Some(ts),
            client: 1,
            cause: 0,
            flags,
        };
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
            flags: [0, 0, 1, 1, 0, 1],
        });
        let counts = buffer.finish();
        assert_eq!(counts.sessions, n + total);
        assert_eq!(counts.closed_without_auth, n);
        assert_eq!(counts.cause_clients, [(5, 1, 1)]);
        assert_eq!(counts.folded_early, 0);
    }
}
