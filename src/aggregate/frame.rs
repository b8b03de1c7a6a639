//! The polars side of aggregation: compact columns in, grouped counts out.
//!
//! Events arrive as rows of small integer codes (kind, cause, interned user/client/endpoint/
//! detail, pattern) plus a nullable timestamp. Rows are buffered per chunk; a full chunk is
//! grouped by every dimension and its minute into a partial aggregate (`n`, `first`, `last`),
//! and partials are merged by grouping again, so memory follows the number of distinct
//! combinations, not the number of lines. Session rows (one per event with a
//! `clientConnection`) are reduced the same way to one row of flags per connection.
//! No polars type leaves this module.

use polars::prelude::*;

/// Rows buffered before they are reduced into the partial aggregate.
const CHUNK: usize = 1 << 16;

pub const KIND: &str = "kind";
pub const CAUSE: &str = "cause";
pub const USER: &str = "user";
pub const CLIENT: &str = "client";
pub const ENDPOINT: &str = "endpoint";
pub const DETAIL: &str = "detail";
pub const PATTERN: &str = "pattern";
pub const MINUTE: &str = "minute";
const TS: &str = "ts";
const N: &str = "n";
const FIRST: &str = "first";
const LAST: &str = "last";

/// Dimensions of the fact table, in column order.
pub const DIMS: [&str; 8] = [KIND, CAUSE, USER, CLIENT, ENDPOINT, DETAIL, PATTERN, MINUTE];

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

#[derive(Default, Clone)]
pub struct FactBuffer {
    rows: Vec<FactRow>,
    partial: Option<DataFrame>,
}

impl FactBuffer {
    pub fn push(&mut self, row: FactRow) -> Result<(), FrameError> {
        self.rows.push(row);
        if self.rows.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FrameError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let codes = |name: &str, f: fn(&FactRow) -> u32| {
            Column::new(name.into(), rows.iter().map(f).collect::<Vec<u32>>())
        };
        let ts: Vec<Option<i64>> = rows.iter().map(|r| r.ts).collect();
        let minute: Vec<Option<i64>> = rows
            .iter()
            .map(|r| r.ts.map(|t| t.div_euclid(60_000) * 60_000))
            .collect();
        let frame = DataFrame::new(
            rows.len(),
            vec![
                codes(KIND, |r| r.kind),
                codes(CAUSE, |r| r.cause),
                codes(USER, |r| r.user),
                codes(CLIENT, |r| r.client),
                codes(ENDPOINT, |r| r.endpoint),
                codes(DETAIL, |r| r.detail),
                codes(PATTERN, |r| r.pattern),
                Column::new(MINUTE.into(), minute),
                Column::new(TS.into(), ts),
            ],
        )?;
        let reduced = frame
            .lazy()
            .group_by(DIMS.map(col))
            .agg([
                len().cast(DataType::UInt64).alias(N),
                col(TS).min().alias(FIRST),
                col(TS).max().alias(LAST),
            ])
            .collect()?;
        self.partial = Some(match self.partial.take() {
            None => reduced,
            Some(mut partial) => {
                partial.vstack_mut_owned(reduced)?;
                if partial.height() > CHUNK {
                    merge(partial, &DIMS)?
                } else {
                    partial
                }
            }
        });
        Ok(())
    }

    /// The fact table: one row per distinct combination of [`DIMS`].
    pub fn finish(mut self) -> Result<Facts, FrameError> {
        self.flush()?;
        let frame = match self.partial {
            Some(partial) => merge(partial, &DIMS)?,
            None => DataFrame::empty(),
        };
        Ok(Facts { frame })
    }
}

fn merge(frame: DataFrame, keys: &[&str]) -> Result<DataFrame, FrameError> {
    Ok(frame
        .lazy()
        .group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg([
            col(N).sum().alias(N),
            col(FIRST).min().alias(FIRST),
            col(LAST).max().alias(LAST),
        ])
        .collect()?)
}

/// The reduced fact table.
pub struct Facts {
    frame: DataFrame,
}

impl Facts {
    /// Sums over every dimension not in `keys`, optionally keeping only rows where `filter`
    /// (a dimension) equals a value. Keys come back as `i64` codes (`None` for a null minute).
    pub fn group(
        &self,
        keys: &[&str],
        filter: Option<(&str, u32)>,
    ) -> Result<Vec<Group>, FrameError> {
        if self.frame.height() == 0 {
            return Ok(Vec::new());
        }
        let mut lazy = self.frame.clone().lazy();
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

/// Flags a session row can carry; reduced with `max` per connection.
pub const SESSION_FLAGS: [&str; 6] = [
    "connected",
    "authenticated",
    "auth_failed",
    "failed",
    "pinned",
    "closed",
];

/// One event of a client connection: its flags, the client address code (only the
/// `A new client connected` line has it) and the cause code of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRow {
    pub conn: u64,
    pub client: u32,
    pub cause: u32,
    pub flags: [u32; 6],
}

#[derive(Default, Clone)]
pub struct SessionBuffer {
    rows: Vec<SessionRow>,
    partial: Option<DataFrame>,
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
}

const CONN: &str = "conn";

impl SessionBuffer {
    pub fn push(&mut self, row: SessionRow) -> Result<(), FrameError> {
        self.rows.push(row);
        if self.rows.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FrameError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let mut columns = vec![
            Column::new(CONN.into(), rows.iter().map(|r| r.conn).collect::<Vec<_>>()),
            Column::new(
                CLIENT.into(),
                rows.iter().map(|r| r.client).collect::<Vec<_>>(),
            ),
            Column::new(
                CAUSE.into(),
                rows.iter().map(|r| r.cause).collect::<Vec<_>>(),
            ),
        ];
        for (i, name) in SESSION_FLAGS.iter().enumerate() {
            columns.push(Column::new(
                (*name).into(),
                rows.iter().map(|r| r.flags[i]).collect::<Vec<_>>(),
            ));
        }
        let reduced = reduce_sessions(DataFrame::new(rows.len(), columns)?)?;
        self.partial = Some(match self.partial.take() {
            None => reduced,
            Some(mut partial) => {
                partial.vstack_mut_owned(reduced)?;
                if partial.height() > CHUNK {
                    reduce_sessions(partial)?
                } else {
                    partial
                }
            }
        });
        Ok(())
    }

    pub fn finish(mut self) -> Result<SessionCounts, FrameError> {
        self.flush()?;
        let Some(partial) = self.partial else {
            return Ok(SessionCounts::default());
        };
        let rows = reduce_sessions(partial)?;
        // One row per connection: its address and flags over all of its events.
        let mut per_conn_aggs: Vec<Expr> = vec![col(CLIENT).max().alias(CLIENT)];
        per_conn_aggs.extend(SESSION_FLAGS.map(|name| col(name).max().alias(name)));
        let sessions = rows
            .clone()
            .lazy()
            .group_by([col(CONN)])
            .agg(per_conn_aggs)
            .collect()?;
        let mut counts = SessionCounts {
            sessions: sessions.height() as u64,
            ..Default::default()
        };
        let mut flags = Vec::new();
        for name in SESSION_FLAGS {
            flags.push(sessions.column(name)?.u32()?.clone());
        }
        for row in 0..sessions.height() {
            let flag = |i: usize| flags[i].get(row).unwrap_or(0) > 0;
            for (i, total) in counts.with.iter_mut().enumerate() {
                *total += u64::from(flag(i));
            }
            if flag(0) && flag(5) && !flag(1) && !flag(2) && !flag(3) {
                counts.closed_without_auth += 1;
            }
        }
        let addresses = sessions.clone().lazy().select([col(CONN), col(CLIENT)]);
        let cause_clients = rows
            .lazy()
            .filter(col(CAUSE).neq(lit(0u32)))
            .select([col(CONN), col(CAUSE)])
            .inner_join(addresses, col(CONN), col(CONN))
            .filter(col(CLIENT).neq(lit(0u32)))
            .group_by([col(CAUSE), col(CLIENT)])
            .agg([len().cast(DataType::UInt64).alias(N)])
            .collect()?;
        let (cause, client, n) = (
            cause_clients.column(CAUSE)?.u32()?,
            cause_clients.column(CLIENT)?.u32()?,
            cause_clients.column(N)?.u64()?,
        );
        for row in 0..cause_clients.height() {
            if let (Some(cause), Some(client), Some(n)) =
                (cause.get(row), client.get(row), n.get(row))
            {
                counts.cause_clients.push((cause, client, n));
            }
        }
        counts
            .cause_clients
            .sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        let failures = sessions
            .lazy()
            .filter(col(CLIENT).neq(lit(0u32)).and(col("failed").gt(lit(0u32))))
            .group_by([col(CLIENT)])
            .agg([len().cast(DataType::UInt64).alias(N)])
            .collect()?;
        let (client, n) = (failures.column(CLIENT)?.u32()?, failures.column(N)?.u64()?);
        for row in 0..failures.height() {
            if let (Some(client), Some(n)) = (client.get(row), n.get(row)) {
                counts.client_failures.push((client, n));
            }
        }
        Ok(counts)
    }
}

/// Reduces session rows to one row per (connection, cause).
fn reduce_sessions(frame: DataFrame) -> Result<DataFrame, FrameError> {
    let mut aggs: Vec<Expr> = vec![col(CLIENT).max().alias(CLIENT)];
    aggs.extend(SESSION_FLAGS.map(|name| col(name).max().alias(name)));
    Ok(frame
        .lazy()
        .group_by([col(CONN), col(CAUSE)])
        .agg(aggs)
        .collect()?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            buffer.push(row((i % 3) as u32, 1, Some(i * 1000))).unwrap();
        }
        buffer.push(row(7, 2, None)).unwrap();
        let facts = buffer.finish().unwrap();
        let by_kind = facts.group(&[KIND], None).unwrap();
        let total: u64 = by_kind.iter().map(|g| g.n).sum();
        assert_eq!(total, CHUNK as u64 * 2 + 11);
        let untimed = by_kind.iter().find(|g| g.keys == [Some(7)]).unwrap();
        assert_eq!((untimed.n, untimed.first), (1, None));
        let zero = facts.group(&[], Some((KIND, 0))).unwrap();
        assert_eq!(zero[0].first, Some(0));
        let minutes = facts.group(&[MINUTE], Some((USER, 1))).unwrap();
        assert!(minutes.iter().all(|g| g.keys[0].unwrap() % 60_000 == 0));
    }

    #[test]
    fn empty_facts() {
        let facts = FactBuffer::default().finish().unwrap();
        assert!(facts.group(&[KIND], None).unwrap().is_empty());
    }

    #[test]
    fn sessions_join_flags_and_addresses_per_connection() {
        let mut buffer = SessionBuffer::default();
        let row = |conn, client, cause, flags| SessionRow {
            conn,
            client,
            cause,
            flags,
        };
        // Connection 2's failure arrives before its connect line (unordered export).
        buffer.push(row(2, 0, 5, [0, 0, 1, 1, 0, 0])).unwrap();
        buffer.push(row(1, 7, 0, [1, 0, 0, 0, 0, 0])).unwrap();
        buffer.push(row(1, 0, 0, [0, 0, 0, 0, 0, 1])).unwrap();
        buffer.push(row(2, 9, 0, [1, 0, 0, 0, 0, 0])).unwrap();
        buffer.push(row(3, 0, 5, [0, 0, 1, 1, 0, 0])).unwrap();
        let counts = buffer.finish().unwrap();
        assert_eq!(counts.sessions, 3);
        assert_eq!(counts.with, [2, 0, 2, 2, 0, 1]);
        assert_eq!(counts.closed_without_auth, 1);
        assert_eq!(counts.cause_clients, [(5, 9, 1)]);
        assert_eq!(counts.client_failures, [(9, 1)]);
    }
}
