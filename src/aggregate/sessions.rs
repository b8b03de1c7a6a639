//! Sessions joined on `clientConnection`: one small entry per open connection, folded into
//! totals when the table is full.
//!
//! A connection's lines can arrive in any order (several export objects, clock skew), so an
//! entry keeps the client address (only the `A new client connected` line has it), the flags of
//! every event seen and the causes of its failures. Entries are folded into the totals at the
//! end, or, oldest first, when more than [`MAX_OPEN`] connections are open at once: memory is
//! bounded whatever the input size. A line of a connection folded that early starts a new
//! entry (it then counts as a second session); proxy sessions are short, so this needs more
//! than [`MAX_OPEN`] connections between a connection's first and last line.

use std::collections::{HashMap, VecDeque};

use super::frame::FxBuild;

/// Connections kept open at most.
pub const MAX_OPEN: usize = 1 << 18;

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
    totals: Totals,
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

impl SessionBuffer {
    pub fn push(&mut self, row: SessionRow) {
        let entry = match self.open.get_mut(&row.conn) {
            Some(entry) => entry,
            None => {
                if self.open.len() >= MAX_OPEN
                    && let Some(oldest) = self.order.pop_front()
                    && let Some(session) = self.open.remove(&oldest)
                {
                    // Only a session that has not both connected and closed may still get
                    // lines.
                    let complete = session.flags & 1 != 0 && session.flags & (1 << 5) != 0;
                    self.totals.folded_early += u64::from(!complete);
                    self.totals.fold(session);
                }
                self.order.push_back(row.conn);
                self.open.entry(row.conn).or_default()
            }
        };
        entry.client = entry.client.max(row.client);
        for (i, value) in row.flags.iter().enumerate() {
            if *value != 0 {
                entry.flags |= 1 << i;
            }
        }
        if row.cause != 0 && !entry.causes.contains(&row.cause) {
            entry.causes.push(row.cause);
        }
    }

    /// Adds another buffer (a parallel worker's), its client codes mapped through `map`:
    /// entries of the same connection are joined.
    pub fn merge(&mut self, other: SessionBuffer, map: &dyn Fn(u32) -> u32) {
        let SessionBuffer {
            mut open,
            order,
            totals,
        } = other;
        for conn in order {
            let Some(theirs) = open.remove(&conn) else {
                continue;
            };
            let mut row = SessionRow {
                conn,
                client: map(theirs.client),
                cause: 0,
                flags: [0; 6],
            };
            for (i, flag) in row.flags.iter_mut().enumerate() {
                *flag = u32::from(theirs.flags & (1 << i) != 0);
            }
            self.push(row);
            for cause in theirs.causes {
                self.push(SessionRow {
                    conn,
                    client: 0,
                    cause,
                    flags: [0; 6],
                });
            }
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
            mut totals,
        } = self;
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
    fn memory_is_bounded_by_folding_the_oldest_connections() {
        let mut buffer = SessionBuffer::default();
        let total = MAX_OPEN as u64 + 1000;
        for conn in 0..total {
            buffer.push(row(conn, 1, 0, [1, 0, 0, 0, 0, 0]));
            buffer.push(row(conn, 0, 0, [0, 0, 0, 0, 0, 1]));
        }
        assert!(buffer.open.len() <= MAX_OPEN);
        let counts = buffer.finish();
        assert_eq!(counts.sessions, total);
        assert_eq!(counts.with[0], total);
        assert_eq!(counts.closed_without_auth, total);
        // Every folded session was complete (connected and closed).
        assert_eq!(counts.folded_early, 0);
    }
}
