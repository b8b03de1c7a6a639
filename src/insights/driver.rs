//! The Logs Insights driver for `analyze --engine insights`: runs the plan's query over the
//! log groups (at most 50 per StartQuery), polls GetQueryResults with backoff, splits a time
//! range whose result reached the 10,000-row cap, and stops a query whose scan passes the
//! budget. Works against the [`InsightsApi`] trait, so its tests use an in-memory fake on
//! paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::aws::logs::{InsightsApi, LogsError, QueryRequest, QueryResults, QueryState};
use crate::insights::plan::{MAX_GROUPS_PER_QUERY, MAX_ROWS};
use crate::model::Millis;

/// What to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub groups: Vec<String>,
    /// Inclusive start and exclusive end, epoch ms (Logs Insights works in whole seconds).
    pub start: Millis,
    pub end: Millis,
    pub query: String,
    /// Stop when more than this many bytes were scanned; `None` with `--yes`.
    pub max_scan_bytes: Option<f64>,
    /// First wait between GetQueryResults calls (grows to 10 s).
    pub poll: Duration,
    /// Counters a progress bar reads while the job runs.
    pub progress: Arc<QueryProgress>,
}

/// How far the queries are, for a progress bar: bumped by the driver, read by anyone.
#[derive(Debug, Default)]
pub struct QueryProgress {
    /// Queries that completed (splits add queries).
    pub done: AtomicU64,
    /// Queries to run as far as known: the plan's, plus two for each split.
    pub planned: AtomicU64,
    /// Bytes scanned by the completed queries, and by the running one so far.
    pub scanned_done: AtomicU64,
    pub scanned_running: AtomicU64,
    pub splits: AtomicU64,
}

impl QueryProgress {
    /// Bytes scanned so far, the running query's included.
    pub fn scanned(&self) -> u64 {
        self.scanned_done.load(Relaxed) + self.scanned_running.load(Relaxed)
    }
}

/// What shows the queries' progress while they run (a bar on a terminal, started by the
/// command from a [`QueryProgress`]): notices are printed above it, and dropping it clears it.
pub trait ProgressDisplay: Send + Sync {
    fn println(&self, line: &str);
}

/// Starts a progress display over the counters, or none (not a terminal, `--quiet`).
pub type StartProgress<'a> =
    &'a (dyn Fn(Arc<QueryProgress>) -> Option<Box<dyn ProgressDisplay>> + Sync);

/// Whole bytes of a byte count the API gives as a float.
fn whole_bytes(bytes: f64) -> u64 {
    if bytes.is_finite() && bytes > 0.0 {
        bytes as u64
    } else {
        0
    }
}

/// What the queries gave.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub rows: Vec<Vec<(String, String)>>,
    pub bytes_scanned: f64,
    pub records_scanned: f64,
    pub records_matched: f64,
    pub queries: u32,
    /// Time ranges run again in halves because their result reached the row cap.
    pub splits: u32,
}

impl Outcome {
    /// Adds another query's outcome (its rows are the caller's: they were folded already).
    pub fn absorb(&mut self, other: Outcome) {
        self.bytes_scanned += other.bytes_scanned;
        self.records_scanned += other.records_scanned;
        self.records_matched += other.records_matched;
        self.queries += other.queries;
        self.splits += other.splits;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InsightsError {
    #[error(
        "stopped the Logs Insights query after {scanned} scanned, over --max-scan-gb ({limit}; about ${cost:.4} so far): narrow --since/--until, or rerun with --yes"
    )]
    Budget {
        scanned: String,
        limit: String,
        cost: f64,
    },
    #[error("the Logs Insights query over {groups} ended {state:?}: {hint}")]
    Query {
        groups: String,
        state: QueryState,
        hint: &'static str,
    },
    #[error("{0}")]
    Logs(#[from] LogsError),
}

/// The longest wait between polls.
const MAX_POLL: Duration = Duration::from_secs(10);
/// Attempts at a throttled or refused (too many concurrent queries) call before giving up.
const MAX_RETRIES: u32 = 20;

/// Runs the job; `notice` gets progress lines (splits, retries).
pub async fn run<A: InsightsApi>(
    api: &A,
    job: &Job,
    notice: &mut (dyn FnMut(String) + Send),
) -> Result<Outcome, InsightsError> {
    let mut outcome = Outcome::default();
    let start = job.start.div_euclid(1000);
    // `end` is exclusive in ms and inclusive in seconds.
    let end = (job.end - 1).div_euclid(1000).max(start);
    for groups in job.groups.chunks(MAX_GROUPS_PER_QUERY) {
        let mut ranges = vec![(start, end)];
        while let Some((from, to)) = ranges.pop() {
            let request = QueryRequest {
                groups: groups.to_vec(),
                start: from,
                end: to,
                query: job.query.clone(),
                limit: i32::try_from(MAX_ROWS).unwrap_or(i32::MAX),
            };
            let results = run_one(api, job, request, &mut outcome, notice).await?;
            let scanned = results.bytes_scanned;
            job.progress.scanned_running.store(0, Relaxed);
            job.progress
                .scanned_done
                .fetch_add(whole_bytes(scanned), Relaxed);
            job.progress.done.fetch_add(1, Relaxed);
            outcome.bytes_scanned += scanned;
            outcome.records_scanned += results.records_scanned;
            outcome.records_matched += results.records_matched;
            outcome.queries += 1;
            let full = results.rows.len() >= MAX_ROWS;
            match split(from, to) {
                Some((left, right)) if full => {
                    // Minute bins do not straddle the cut: it is on a minute boundary. The
                    // halves scan again what this query scanned.
                    outcome.splits += 1;
                    job.progress.splits.fetch_add(1, Relaxed);
                    job.progress.planned.fetch_add(2, Relaxed);
                    outcome.records_scanned -= results.records_scanned;
                    outcome.records_matched -= results.records_matched;
                    notice(format!(
                        "the result for {} reached {MAX_ROWS} rows: running its two halves",
                        range_text(from, to)
                    ));
                    ranges.push(right);
                    ranges.push(left);
                }
                _ => {
                    if full {
                        notice(format!(
                            "the result for {} reached {MAX_ROWS} rows within one minute: counts are incomplete",
                            range_text(from, to)
                        ));
                    }
                    outcome.rows.extend(results.rows);
                }
            }
        }
    }
    Ok(outcome)
}

/// Starts one query and polls it to the end.
async fn run_one<A: InsightsApi>(
    api: &A,
    job: &Job,
    request: QueryRequest,
    outcome: &mut Outcome,
    notice: &mut (dyn FnMut(String) + Send),
) -> Result<QueryResults, InsightsError> {
    let groups = request.groups.join(", ");
    let mut attempt = 0;
    let id = loop {
        match api.start_query(request.clone()).await {
            Ok(id) => break id,
            Err(e @ (LogsError::Throttled(_) | LogsError::Refused(_))) if attempt < MAX_RETRIES => {
                attempt += 1;
                notice(format!("StartQuery: {e}; retrying"));
                tokio::time::sleep(backoff(job.poll, attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut wait = job.poll;
    let mut failures = 0;
    loop {
        tokio::time::sleep(wait).await;
        wait = (wait * 3 / 2).min(MAX_POLL);
        let results = match api.query_results(&id).await {
            Ok(results) => results,
            Err(e @ (LogsError::Throttled(_) | LogsError::Transient(_)))
                if failures < MAX_RETRIES =>
            {
                failures += 1;
                notice(format!("GetQueryResults: {e}; retrying"));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let scanned = outcome.bytes_scanned + results.bytes_scanned;
        job.progress
            .scanned_running
            .store(whole_bytes(results.bytes_scanned), Relaxed);
        if let Some(limit) = job.max_scan_bytes
            && scanned > limit
        {
            // Best effort: the query is billed for what it scanned either way.
            let _ = api.stop_query(&id).await;
            return Err(InsightsError::Budget {
                scanned: crate::insights::plan::human_bytes(scanned),
                limit: crate::insights::plan::human_bytes(limit),
                cost: crate::insights::plan::cost_usd(scanned),
            });
        }
        match results.state {
            Some(QueryState::Complete) => return Ok(results),
            Some(state) if state.is_done() => {
                let hint = match state {
                    QueryState::Timeout => {
                        "queries time out after 60 minutes: narrow --since/--until or query fewer proxies at once"
                    }
                    QueryState::Cancelled => "someone stopped it (StopQuery)",
                    _ => "see the query in the CloudWatch console (Logs Insights, query history)",
                };
                return Err(InsightsError::Query {
                    groups,
                    state,
                    hint,
                });
            }
            _ => {}
        }
    }
}

/// The bytes a query over `window` ms is expected to scan in a group: its stored bytes
/// spread evenly over its age or retention, whichever is shorter (an estimate: traffic is
/// rarely even, and stored bytes are compressed while Logs Insights bills uncompressed).
pub fn expected_scan(size: &crate::aws::logs::GroupSize, window: Millis, now: Millis) -> f64 {
    let stored = size.stored_bytes.max(0) as f64;
    let age = size.created.map(|c| (now - c).max(1));
    let retention = size.retention_days.map(|d| i64::from(d) * 86_400_000);
    let span = match (age, retention) {
        (Some(a), Some(r)) => a.min(r),
        (Some(a), None) => a,
        (None, Some(r)) => r,
        (None, None) => return stored,
    };
    stored * (window as f64 / span as f64).min(1.0)
}

/// Halves [from, to] (seconds, inclusive) at a minute boundary, if it spans more than one.
fn split(from: i64, to: i64) -> Option<((i64, i64), (i64, i64))> {
    let middle = from + (to - from + 1) / 2;
    let cut = middle - middle.rem_euclid(60);
    let cut = if cut <= from { cut + 60 } else { cut };
    (cut > from && cut <= to).then_some(((from, cut - 1), (cut, to)))
}

fn range_text(from: i64, to: i64) -> String {
    format!(
        "{} to {}",
        crate::timefmt::rfc3339(from * 1000),
        crate::timefmt::rfc3339(to * 1000 + 999)
    )
}

fn backoff(base: Duration, attempt: u32) -> Duration {
    (base * 2u32.saturating_pow(attempt.min(5))).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers each query with rows that say which range it covered; a range longer than
    /// `cap_seconds` comes back full (10,000 rows).
    #[derive(Default)]
    struct Fake {
        started: Mutex<Vec<QueryRequest>>,
        polls: Mutex<u32>,
        stopped: Mutex<Vec<String>>,
        cap_seconds: i64,
        bytes_per_poll: f64,
        running_polls: u32,
        throttle_first: Mutex<u32>,
    }

    impl InsightsApi for Fake {
        async fn start_query(&self, request: QueryRequest) -> Result<String, LogsError> {
            {
                let mut throttle = self.throttle_first.lock().unwrap();
                if *throttle > 0 {
                    *throttle -= 1;
                    return Err(LogsError::Refused("LimitExceededException".into()));
                }
            }
            let mut started = self.started.lock().unwrap();
            started.push(request);
            Ok(format!("q{}", started.len() - 1))
        }

        async fn query_results(&self, id: &str) -> Result<QueryResults, LogsError> {
            let index: usize = id[1..].parse().unwrap();
            let request = self.started.lock().unwrap()[index].clone();
            let mut polls = self.polls.lock().unwrap();
            *polls += 1;
            let running = *polls <= self.running_polls;
            let span = request.end - request.start + 1;
            let rows = if span > self.cap_seconds {
                vec![vec![("n".to_string(), "1".to_string())]; MAX_ROWS]
            } else {
                vec![vec![
                    ("n".to_string(), span.to_string()),
                    ("groups".to_string(), request.groups.len().to_string()),
                ]]
            };
            Ok(QueryResults {
                state: Some(if running {
                    QueryState::Running
                } else {
                    QueryState::Complete
                }),
                rows: if running { Vec::new() } else { rows },
                bytes_scanned: self.bytes_per_poll * f64::from(*polls),
                records_scanned: span as f64,
                records_matched: 0.0,
            })
        }

        async fn stop_query(&self, id: &str) -> Result<(), LogsError> {
            self.stopped.lock().unwrap().push(id.to_string());
            Ok(())
        }

        async fn group_size(
            &self,
            _group: &str,
        ) -> Result<Option<crate::aws::logs::GroupSize>, LogsError> {
            Ok(None)
        }

        async fn sample(
            &self,
            _group: &str,
            _start: Millis,
            _end: Millis,
            _pattern: &str,
            _limit: i32,
        ) -> Result<Vec<crate::aws::logs::LogEvent>, LogsError> {
            Ok(Vec::new())
        }
    }

    fn job(groups: usize, hours: i64) -> Job {
        Job {
            groups: (0..groups)
                .map(|i| format!("/aws/rds/proxy/p{i}"))
                .collect(),
            start: 1_700_000_040_000,
            end: 1_700_000_040_000 + hours * 3_600_000,
            query: "fields @message".to_string(),
            max_scan_bytes: None,
            poll: Duration::from_millis(500),
            progress: Arc::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn groups_go_fifty_to_a_query() {
        let fake = Fake {
            cap_seconds: i64::MAX,
            ..Fake::default()
        };
        let outcome = run(&fake, &job(120, 1), &mut |_| {}).await.unwrap();
        let sizes: Vec<usize> = fake
            .started
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.groups.len())
            .collect();
        assert_eq!(sizes, [50, 50, 20]);
        assert_eq!(outcome.queries, 3);
        let request = &fake.started.lock().unwrap()[0];
        assert_eq!(request.start, 1_700_000_040);
        assert_eq!(request.end, 1_700_000_040 + 3600 - 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_result_is_run_again_in_halves_until_it_fits() {
        let fake = Fake {
            cap_seconds: 2 * 3600,
            bytes_per_poll: 1000.0,
            ..Fake::default()
        };
        let mut notices = Vec::new();
        let job = job(1, 7 * 24);
        job.progress.planned.store(1, Relaxed);
        let outcome = run(&fake, &job, &mut |n| notices.push(n)).await.unwrap();
        // The progress counters end where the outcome does: every planned query done.
        let progress = &job.progress;
        assert_eq!(progress.done.load(Relaxed), u64::from(outcome.queries));
        assert_eq!(progress.planned.load(Relaxed), u64::from(outcome.queries));
        assert_eq!(progress.splits.load(Relaxed), u64::from(outcome.splits));
        assert_eq!(progress.scanned(), outcome.bytes_scanned as u64);
        // Every second of the week is covered exactly once by the rows kept.
        let covered: i64 = outcome
            .rows
            .iter()
            .map(|r| r[0].1.parse::<i64>().unwrap())
            .sum();
        assert_eq!(covered, 7 * 24 * 3600);
        assert!(outcome.splits > 0);
        assert!(outcome.rows.len() < MAX_ROWS);
        assert_eq!(outcome.records_scanned as i64, 7 * 24 * 3600);
        assert!(notices.iter().any(|n| n.contains("two halves")));
        // Cuts are on minute boundaries.
        for r in fake.started.lock().unwrap().iter() {
            assert_eq!(r.start.rem_euclid(60), 0, "{r:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn polling_backs_off_and_the_budget_stops_the_query() {
        let fake = Fake {
            cap_seconds: i64::MAX,
            bytes_per_poll: 0.4e9,
            running_polls: 100,
            ..Fake::default()
        };
        let mut job = job(1, 1);
        job.max_scan_bytes = Some(1e9);
        let started = tokio::time::Instant::now();
        let error = run(&fake, &job, &mut |_| {}).await.unwrap_err();
        assert!(matches!(error, InsightsError::Budget { .. }), "{error}");
        assert!(error.to_string().contains("--yes"));
        assert_eq!(*fake.polls.lock().unwrap(), 3);
        assert_eq!(fake.stopped.lock().unwrap().as_slice(), ["q0"]);
        // 0.5 s, 0.75 s, 1.125 s.
        assert_eq!(started.elapsed(), Duration::from_millis(2375));
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_concurrent_queries_are_waited_out() {
        let fake = Fake {
            cap_seconds: i64::MAX,
            throttle_first: Mutex::new(3),
            ..Fake::default()
        };
        let mut notices = Vec::new();
        let outcome = run(&fake, &job(1, 1), &mut |n| notices.push(n))
            .await
            .unwrap();
        assert_eq!(outcome.queries, 1);
        assert_eq!(notices.len(), 3);
    }

    #[test]
    fn splits_on_minutes() {
        assert_eq!(split(0, 119), Some(((0, 59), (60, 119))));
        assert_eq!(split(0, 59), None);
        assert_eq!(split(30, 100), Some(((30, 59), (60, 100))));
    }
}
