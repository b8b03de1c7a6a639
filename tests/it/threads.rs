//! The same `Summary` for any number of workers: random proxy traffic (interleaved sessions,
//! connection ids reused minutes and hours apart, failed authentications without close lines,
//! untimed lines, lines of one session out of order, several inputs) cut into batches at
//! random places and handed to 1-4 parallel workers in a random order gives exactly what one
//! pipeline reading the lines in order gives.

use std::collections::VecDeque;
use std::sync::Mutex;

use proptest::prelude::*;
use proxydoc::aggregate::{SessionOrder, Summary};
use proxydoc::classify::{Classifier, catalogue};
use proxydoc::model::{Evidence, RawRecord};
use proxydoc::pipeline::{Batch, BatchPool, Pipeline, TimeWindow, run_parallel};

fn classifier() -> &'static Classifier {
    use std::sync::OnceLock;
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| Classifier::new(catalogue::builtin().unwrap()).unwrap())
}

/// What happens to one session.
#[derive(Debug, Clone)]
struct Session {
    conn: u32,
    client: u8,
    /// 0: closed normally, 1: failed authentication without a close line, 2: pinned then
    /// closed, 3: no connect line (it began before the input), 4: never closed.
    fate: u8,
    /// Seconds after the previous session's start.
    gap: u32,
    /// Lines of this session without their timestamp (bare messages).
    untimed: bool,
    /// Its last two lines swapped.
    swapped: bool,
}

fn session() -> impl Strategy<Value = Session> {
    (
        0u32..24,
        0u8..5,
        0u8..5,
        prop_oneof![0u32..30, 0u32..1_200, 3_000u32..90_000],
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(conn, client, fate, gap, untimed, swapped)| Session {
            conn,
            client,
            fate,
            gap,
            untimed,
            swapped,
        })
}

fn stamp(ms: i64) -> String {
    proxydoc::timefmt::rfc3339(ms)
}

/// The lines of one input: sessions started `gap` seconds apart, their lines a few seconds
/// after the start, with a borrow timeout from an application now and then.
fn lines_of(sessions: &[Session], start: i64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut t = start;
    for (i, s) in sessions.iter().enumerate() {
        t += i64::from(s.gap) * 1_000;
        let tag = format!(
            "[proxyEndpoint=default] [clientConnection={}]",
            1_000_000 + s.conn
        );
        let connect = format!(
            "[INFO] {tag} A new client connected from 10.0.3.{}:{}.",
            10 + s.client,
            40_000 + i
        );
        let failed = format!(
            "[WARN] {tag} Proxy authentication with PostgreSQL native password authentication failed for user \"app{}\" with TLS on. Reason: Invalid credentials.",
            s.client
        );
        let pinned = format!(
            "[WARN] {tag} The client session was pinned to the database connection [dbConnection=77] for the remainder of the session. The proxy can't reuse this connection until the session ends. Reason: A parse message was detected."
        );
        let closed = format!(
            "[INFO] {tag} The client connection closed. Reason: The client requested that the connection close."
        );
        let mut own: Vec<String> = match s.fate {
            0 => vec![connect, closed],
            1 => vec![connect, failed],
            2 => vec![connect, pinned, closed],
            3 => vec![pinned, closed],
            _ => vec![connect],
        };
        if s.swapped && own.len() >= 2 {
            let n = own.len();
            own.swap(n - 2, n - 1);
        }
        for (k, line) in own.into_iter().enumerate() {
            if s.untimed && k > 0 {
                lines.push(line);
            } else {
                lines.push(format!("{} {line}", stamp(t + k as i64 * 700)));
            }
        }
        if i % 17 == 5 {
            lines.push(format!(
                "{} ERROR HikariPool-1 - Connection is not available, request timed out after 30000ms.",
                stamp(t + 100)
            ));
        }
    }
    lines
}

/// The summary without the evidence's internal line numbers (one pipeline counts lines, the
/// batches number them by input and batch: both in line order, so the evidence is the same).
fn unnumbered(mut summary: Summary) -> Summary {
    let renumber = |e: &mut Evidence| *e = Evidence::new(e.ts, std::mem::take(&mut e.text));
    for cause in &mut summary.causes {
        cause.evidence.iter_mut().for_each(renumber);
    }
    for samples in summary.kind_evidence.values_mut() {
        samples.iter_mut().for_each(renumber);
    }
    summary
}

/// One pipeline reading every line in order.
fn sequential(inputs: &[Vec<String>]) -> Summary {
    let mut pipeline = Pipeline::new(classifier(), TimeWindow::default());
    for (input, lines) in inputs.iter().enumerate() {
        for line in lines {
            pipeline.push(RawRecord {
                text: line,
                ts: None,
                input: input as u32,
                stream: None,
            });
        }
    }
    unnumbered(pipeline.finish().unwrap())
}

/// The inputs cut into batches after the lines in `cuts` (indices into each input, taken
/// modulo its length), handed to `workers` workers in the order `shuffle` gives.
fn parallel(inputs: &[Vec<String>], cuts: &[usize], workers: usize, shuffle: u64) -> Summary {
    let pool = BatchPool::default();
    let mut batches = Vec::new();
    for (input, lines) in inputs.iter().enumerate() {
        let mut batch = pool.take(input as u32);
        let mut cut_at: Vec<usize> = cuts
            .iter()
            .map(|c| if lines.is_empty() { 0 } else { c % lines.len() })
            .collect();
        cut_at.sort_unstable();
        for (i, line) in lines.iter().enumerate() {
            if cut_at.binary_search(&i).is_ok() && !batch.is_empty() {
                let next = pool.after(&batch);
                batches.push(std::mem::replace(&mut batch, next));
            }
            batch.push(RawRecord {
                text: line,
                ts: None,
                input: input as u32,
                stream: None,
            });
        }
        batch.mark_last();
        batches.push(batch);
    }
    fastrand::Rng::with_seed(shuffle).shuffle(&mut batches);
    let queue = Mutex::new(VecDeque::from(batches));
    let take = || queue.lock().unwrap().pop_front();
    let give = |_batch: Batch| {};
    let order = SessionOrder::default();
    unnumbered(
        run_parallel(
            classifier(),
            TimeWindow::default(),
            workers,
            &take,
            &give,
            &order,
            None,
        )
        .finish()
        .unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_split_among_workers_gives_one_pipelines_summary(
        inputs in prop::collection::vec(prop::collection::vec(session(), 0..120), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        workers in 1usize..5,
        shuffle in any::<u64>(),
    ) {
        let start = 1_764_000_000_000i64;
        let texts: Vec<Vec<String>> = inputs
            .iter()
            .enumerate()
            // Inputs' times overlap, as an export's streams do.
            .map(|(i, s)| lines_of(s, start + i as i64 * 600_000))
            .collect();
        let expected = sequential(&texts);
        let got = parallel(&texts, &cuts, workers, shuffle);
        prop_assert_eq!(&got, &expected);
    }
}

/// Hand-made: a failed authentication without a close line whose id comes back an hour later
/// in another input, cut between every pair of lines, for 1-4 workers.
#[test]
fn a_reused_id_across_inputs_is_two_sessions_for_any_cut() {
    let first = vec![
        Session {
            conn: 1,
            client: 1,
            fate: 1,
            gap: 0,
            untimed: false,
            swapped: false,
        },
        Session {
            conn: 2,
            client: 2,
            fate: 0,
            gap: 5,
            untimed: false,
            swapped: false,
        },
    ];
    let second = vec![
        Session {
            conn: 1,
            client: 3,
            fate: 0,
            gap: 3_600,
            untimed: true,
            swapped: false,
        },
        Session {
            conn: 2,
            client: 2,
            fate: 4,
            gap: 1,
            untimed: false,
            swapped: true,
        },
    ];
    let start = 1_764_000_000_000i64;
    let texts = vec![lines_of(&first, start), lines_of(&second, start)];
    let expected = sequential(&texts);
    assert_eq!(expected.sessions.sessions, 4, "{:?}", expected.sessions);
    assert_eq!(expected.sessions.with.auth_failed, 1);
    assert_eq!(expected.sessions.with.closed, 2);
    for cut in 0..4 {
        for workers in 1..=4 {
            for shuffle in 0..4 {
                let got = parallel(&texts, &[cut], workers, shuffle);
                assert_eq!(
                    got, expected,
                    "cut {cut}, {workers} workers, order {shuffle}"
                );
            }
        }
    }
}
