//! CloudWatch Logs as a source: a time window of one or more log groups, fetched with
//! FilterLogEvents in concurrent time slices under a requests-per-second cap, merged back into
//! one time-ordered stream.
//!
//! - The window `[start, end)` is cut into slices; each (slice, group) pair is a task that
//!   follows `nextToken` to the end (through empty pages) and hands pages to a bounded channel,
//!   so fetching runs ahead of analysis by a few pages at most and memory does not grow with the
//!   window.
//! - The merger drains slices in order and, within a slice, merges the groups by timestamp.
//! - Throttling backs off with full jitter and resumes from the same token, forever; the shared
//!   rate limiter also halves its rate (and slowly recovers). Transient errors are retried a few
//!   times; then the slice stops and the error names what was read.
//! - Each event is kept once: slice boundaries are enforced locally (whatever the service's
//!   end-time semantics) and event ids are de-duplicated within a slice (bounded memory).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::aws::logs::{LogEvent, LogsApi, LogsError, PageRequest};
use crate::model::Millis;

/// The most events FilterLogEvents returns per page.
pub const PAGE_LIMIT: i32 = 10_000;
/// Default request rate: under the lowest regional FilterLogEvents quota (5 TPS), so other
/// callers in the account keep room.
pub const DEFAULT_MAX_TPS: f64 = 3.0;
/// Retries of a transient failure (timeouts, 5xx, connection resets) before a slice gives up.
const TRANSIENT_RETRIES: u32 = 6;
/// Recent event ids remembered per slice for de-duplication.
const DEDUP_WINDOW: usize = 100_000;
/// Events per chunk handed to the consumer.
const CHUNK_EVENTS: usize = 2_000;

/// What to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchPlan {
    pub groups: Vec<String>,
    /// Inclusive start, epoch ms.
    pub start: Millis,
    /// Exclusive end, epoch ms.
    pub end: Millis,
    pub max_tps: f64,
    pub slices: usize,
    pub concurrency: usize,
    pub page_limit: i32,
}

impl FetchPlan {
    /// A plan with the default slicing: about one slice per 15 minutes, at most 16.
    pub fn new(groups: Vec<String>, start: Millis, end: Millis, max_tps: f64) -> FetchPlan {
        let minutes = (end - start).max(0) / 60_000;
        let slices = usize::try_from(minutes / 15).unwrap_or(16).clamp(1, 16);
        FetchPlan {
            groups,
            start,
            end,
            max_tps,
            slices,
            concurrency: 4,
            page_limit: PAGE_LIMIT,
        }
    }

    /// The slices' `[start, end)` bounds.
    pub fn slice_bounds(&self) -> Vec<(Millis, Millis)> {
        let slices = i64::try_from(self.slices.max(1)).unwrap_or(1);
        let span = (self.end - self.start).max(0);
        (0..slices)
            .map(|i| {
                (
                    self.start + span * i / slices,
                    self.start + span * (i + 1) / slices,
                )
            })
            .filter(|(a, b)| b > a)
            .collect()
    }
}

/// Live counters, read by the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub events: AtomicU64,
    pub pages: AtomicU64,
    pub throttles: AtomicU64,
    pub retries: AtomicU64,
    pub first_ts: AtomicI64,
    pub last_ts: AtomicI64,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            first_ts: AtomicI64::new(i64::MAX),
            last_ts: AtomicI64::new(i64::MIN),
            ..Default::default()
        }
    }

    fn saw(&self, ts: Millis) {
        self.first_ts.fetch_min(ts, Ordering::Relaxed);
        self.last_ts.fetch_max(ts, Ordering::Relaxed);
    }
}

/// The result for one log group over the whole window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOutcome {
    pub group: String,
    pub events: u64,
    pub pages: u64,
    pub throttles: u64,
    pub errors: Vec<String>,
}

/// One event of the merged stream, with the index of its group in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub group: usize,
    pub event: LogEvent,
}

/// Starts fetching. Ordered chunks of events arrive on the receiver; the handle yields one
/// outcome per group when everything is done (or the receiver was dropped).
pub fn spawn<A: LogsApi>(
    api: Arc<A>,
    plan: FetchPlan,
    progress: Arc<Progress>,
) -> (mpsc::Receiver<Vec<Tagged>>, JoinHandle<Vec<GroupOutcome>>) {
    let (out, receiver) = mpsc::channel::<Vec<Tagged>>(4);
    let handle = tokio::spawn(async move { run(api, plan, progress, out).await });
    (receiver, handle)
}

struct SliceResult {
    group: usize,
    events: u64,
    pages: u64,
    throttles: u64,
    error: Option<String>,
}

async fn run<A: LogsApi>(
    api: Arc<A>,
    plan: FetchPlan,
    progress: Arc<Progress>,
    out: mpsc::Sender<Vec<Tagged>>,
) -> Vec<GroupOutcome> {
    let limiter = Arc::new(RateLimiter::new(plan.max_tps));
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut slices = Vec::new();
    for (start, end) in plan.slice_bounds() {
        let mut receivers = Vec::new();
        for (group_index, group) in plan.groups.iter().enumerate() {
            let (pages, receiver) = mpsc::channel::<Vec<LogEvent>>(2);
            let task = SliceTask {
                api: Arc::clone(&api),
                limiter: Arc::clone(&limiter),
                permits: Arc::clone(&permits),
                progress: Arc::clone(&progress),
                group_index,
                group: group.clone(),
                start,
                end,
                limit: plan.page_limit,
            };
            receivers.push((receiver, tokio::spawn(task.run(pages))));
        }
        slices.push(receivers);
    }

    let mut results = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK_EVENTS);
    let mut consumer_gone = false;
    for receivers in slices {
        let (mut channels, handles): (Vec<_>, Vec<_>) = receivers.into_iter().unzip();
        if !consumer_gone {
            consumer_gone = !merge_slice(&mut channels, &mut chunk, &out, &progress).await;
        }
        drop(channels);
        for handle in handles {
            match handle.await {
                Ok(result) => results.push(result),
                Err(e) => results.push(SliceResult {
                    group: 0,
                    events: 0,
                    pages: 0,
                    throttles: 0,
                    error: Some(format!("a fetch task failed: {e}")),
                }),
            }
        }
    }
    if !chunk.is_empty() && !consumer_gone {
        let _ = out.send(chunk).await;
    }

    let mut outcomes: Vec<GroupOutcome> = plan
        .groups
        .iter()
        .map(|group| GroupOutcome {
            group: group.clone(),
            ..GroupOutcome::default()
        })
        .collect();
    for result in results {
        if let Some(outcome) = outcomes.get_mut(result.group) {
            outcome.events += result.events;
            outcome.pages += result.pages;
            outcome.throttles += result.throttles;
            if let Some(error) = result.error {
                outcome.errors.push(error);
            }
        }
    }
    outcomes
}

/// Merges one slice's group channels by timestamp into `chunk`, sending full chunks. Returns
/// false when the consumer has gone away.
async fn merge_slice(
    channels: &mut [mpsc::Receiver<Vec<LogEvent>>],
    chunk: &mut Vec<Tagged>,
    out: &mpsc::Sender<Vec<Tagged>>,
    progress: &Progress,
) -> bool {
    let mut heads: Vec<VecDeque<LogEvent>> = channels.iter().map(|_| VecDeque::new()).collect();
    let mut done = vec![false; channels.len()];
    loop {
        for (i, channel) in channels.iter_mut().enumerate() {
            while heads[i].is_empty() && !done[i] {
                match channel.recv().await {
                    Some(page) => heads[i].extend(page),
                    None => done[i] = true,
                }
            }
        }
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.front().map(|e| (e.timestamp, i)))
            .min();
        let Some((_, group)) = next else { return true };
        let Some(event) = heads[group].pop_front() else {
            return true;
        };
        progress.events.fetch_add(1, Ordering::Relaxed);
        progress.saw(event.timestamp);
        chunk.push(Tagged { group, event });
        if chunk.len() >= CHUNK_EVENTS {
            let full = std::mem::replace(chunk, Vec::with_capacity(CHUNK_EVENTS));
            if out.send(full).await.is_err() {
                return false;
            }
        }
    }
}

struct SliceTask<A> {
    api: Arc<A>,
    limiter: Arc<RateLimiter>,
    permits: Arc<Semaphore>,
    progress: Arc<Progress>,
    group_index: usize,
    group: String,
    start: Millis,
    end: Millis,
    limit: i32,
}

impl<A: LogsApi> SliceTask<A> {
    async fn run(self, pages: mpsc::Sender<Vec<LogEvent>>) -> SliceResult {
        let mut result = SliceResult {
            group: self.group_index,
            events: 0,
            pages: 0,
            throttles: 0,
            error: None,
        };
        let Ok(_permit) = self.permits.acquire().await else {
            result.error = Some("the fetcher was shut down".to_string());
            return result;
        };
        let mut seen = RecentIds::new(DEDUP_WINDOW);
        let mut token: Option<String> = None;
        let mut throttle_streak = 0u32;
        let mut transient_streak = 0u32;
        loop {
            self.limiter.acquire().await;
            let request = PageRequest {
                group: self.group.clone(),
                start: self.start,
                // Ask up to the next slice's start and drop it locally: correct whether the
                // service treats endTime as inclusive or exclusive.
                end: self.end,
                token: token.clone(),
                limit: self.limit,
            };
            match self.api.filter_page(request).await {
                Ok(page) => {
                    throttle_streak = 0;
                    transient_streak = 0;
                    self.limiter.on_success().await;
                    result.pages += 1;
                    self.progress.pages.fetch_add(1, Ordering::Relaxed);
                    let events: Vec<LogEvent> = page
                        .events
                        .into_iter()
                        .filter(|e| e.timestamp >= self.start && e.timestamp < self.end)
                        .filter(|e| seen.insert(&e.id))
                        .collect();
                    result.events += events.len() as u64;
                    if !events.is_empty() && pages.send(events).await.is_err() {
                        return result;
                    }
                    match page.next_token {
                        Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                        _ => return result,
                    }
                }
                Err(error) if error.is_throttling() => {
                    result.throttles += 1;
                    self.progress.throttles.fetch_add(1, Ordering::Relaxed);
                    self.limiter.on_throttle().await;
                    tokio::time::sleep(backoff(throttle_streak, 250, 20_000)).await;
                    throttle_streak = throttle_streak.saturating_add(1);
                }
                Err(LogsError::Transient(_)) if transient_streak < TRANSIENT_RETRIES => {
                    self.progress.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(transient_streak, 500, 10_000)).await;
                    transient_streak += 1;
                }
                Err(error) => {
                    let attempts = if matches!(error, LogsError::Transient(_)) {
                        format!(" after {} attempts", TRANSIENT_RETRIES + 1)
                    } else {
                        String::new()
                    };
                    result.error = Some(format!(
                        "{error}{attempts}; {} events of {} … {} were read before it",
                        result.events,
                        crate::timefmt::rfc3339(self.start),
                        crate::timefmt::rfc3339(self.end)
                    ));
                    return result;
                }
            }
        }
    }
}

/// Full-jitter exponential backoff: a random wait in `[base/2, min(cap, base·2^attempt)]`.
pub(crate) fn backoff(attempt: u32, base_ms: u64, cap_ms: u64) -> Duration {
    let ceiling = base_ms.saturating_mul(1u64 << attempt.min(16)).min(cap_ms);
    let floor = base_ms / 2;
    let span = ceiling.saturating_sub(floor).max(1);
    // Seeded per process, so that several proxydoc runs against one account do not back off
    // in step.
    Duration::from_millis(floor + fastrand::u64(..span))
}

/// A token bucket shared by all fetch tasks, with multiplicative decrease on throttling and
/// additive increase on success (never above the configured rate).
pub(crate) struct RateLimiter {
    max: f64,
    state: Mutex<LimiterState>,
}

struct LimiterState {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub(crate) fn new(max_tps: f64) -> RateLimiter {
        let max = if max_tps.is_finite() && max_tps > 0.0 {
            max_tps
        } else {
            DEFAULT_MAX_TPS
        };
        RateLimiter {
            max,
            state: Mutex::new(LimiterState {
                rate: max,
                tokens: 1.0,
                last: Instant::now(),
            }),
        }
    }

    pub(crate) async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let elapsed = now.duration_since(state.last).as_secs_f64();
                state.tokens = (state.tokens + elapsed * state.rate).min(state.rate.max(1.0));
                state.last = now;
                if state.tokens >= 1.0 {
                    state.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - state.tokens) / state.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    pub(crate) async fn on_throttle(&self) {
        let mut state = self.state.lock().await;
        state.rate = (state.rate / 2.0).max(0.2);
    }

    pub(crate) async fn on_success(&self) {
        let mut state = self.state.lock().await;
        state.rate = (state.rate + 0.1).min(self.max);
    }
}

/// The last `capacity` ids seen, for de-duplication in bounded memory.
struct RecentIds {
    capacity: usize,
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    fn new(capacity: usize) -> RecentIds {
        RecentIds {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// True when `id` was not seen recently (and remembers it).
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(id.to_string());
        self.set.insert(id.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::logs::Page;
    use std::sync::Mutex as StdMutex;

    /// A fake CloudWatch: events in memory, pages of `limit`, scripted failures.
    struct Fake {
        events: Vec<(String, LogEvent)>,
        failures: StdMutex<VecDeque<LogsError>>,
        calls: AtomicU64,
        empty_pages_first: bool,
    }

    impl Fake {
        fn new(groups: &[&str], per_group: i64, step: i64) -> Fake {
            let mut events = Vec::new();
            for (g, group) in groups.iter().enumerate() {
                for i in 0..per_group {
                    events.push((
                        group.to_string(),
                        LogEvent {
                            id: format!("{g}-{i}"),
                            timestamp: i * step + g as i64,
                            ingestion_time: None,
                            stream: "s".into(),
                            message: format!("m{g}-{i}"),
                        },
                    ));
                }
            }
            Fake {
                events,
                failures: StdMutex::new(VecDeque::new()),
                calls: AtomicU64::new(0),
                empty_pages_first: false,
            }
        }
    }

    impl LogsApi for Fake {
        async fn filter_page(&self, request: PageRequest) -> Result<Page, LogsError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if let Some(error) = self.failures.lock().unwrap().pop_front() {
                return Err(error);
            }
            // Inclusive end, like the service; token = offset into the matching events.
            let matching: Vec<&LogEvent> = self
                .events
                .iter()
                .filter(|(g, e)| {
                    *g == request.group
                        && e.timestamp >= request.start
                        && e.timestamp <= request.end
                })
                .map(|(_, e)| e)
                .collect();
            let offset: usize = match request.token.as_deref() {
                None if self.empty_pages_first => {
                    return Ok(Page {
                        events: vec![],
                        next_token: Some("e1".into()),
                    });
                }
                Some("e1") => 0,
                None => 0,
                Some(t) => t.parse().unwrap(),
            };
            let end = (offset + request.limit as usize).min(matching.len());
            let events = matching[offset..end].iter().map(|e| (*e).clone()).collect();
            let next_token = (end < matching.len()).then(|| end.to_string());
            Ok(Page { events, next_token })
        }

        async fn find_group(&self, group: &str) -> Result<Option<String>, LogsError> {
            Ok(self
                .events
                .iter()
                .any(|(g, _)| g == group)
                .then(|| format!("arn:aws:logs:us-east-1:123456789012:log-group:{group}")))
        }
    }

    async fn collect(fake: Fake, plan: FetchPlan) -> (Vec<Tagged>, Vec<GroupOutcome>, Arc<Fake>) {
        let fake = Arc::new(fake);
        let (mut receiver, handle) = spawn(Arc::clone(&fake), plan, Arc::new(Progress::new()));
        let mut all = Vec::new();
        while let Some(chunk) = receiver.recv().await {
            all.extend(chunk);
        }
        (all, handle.await.unwrap(), fake)
    }

    fn plan(groups: &[&str], start: Millis, end: Millis, slices: usize, limit: i32) -> FetchPlan {
        FetchPlan {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            start,
            end,
            max_tps: 10_000.0,
            slices,
            concurrency: 3,
            page_limit: limit,
        }
    }

    #[tokio::test]
    async fn slices_and_pages_lose_and_repeat_nothing_and_stay_ordered() {
        let fake = Fake::new(&["a", "b"], 12_345, 7);
        let (events, outcomes, fake) =
            collect(fake, plan(&["a", "b"], 0, 12_345 * 7, 7, 500)).await;
        assert_eq!(events.len(), 2 * 12_345);
        let ids: HashSet<_> = events.iter().map(|t| t.event.id.clone()).collect();
        assert_eq!(ids.len(), events.len(), "no event twice");
        assert!(
            events
                .windows(2)
                .all(|w| w[0].event.timestamp <= w[1].event.timestamp),
            "ordered"
        );
        assert_eq!(outcomes.iter().map(|o| o.events).sum::<u64>(), 2 * 12_345);
        assert!(outcomes.iter().all(|o| o.errors.is_empty()));
        assert!(fake.calls.load(Ordering::Relaxed) > 50);
    }

    #[tokio::test]
    async fn window_end_is_exclusive() {
        let fake = Fake::new(&["a"], 100, 10);
        let (events, _, _) = collect(fake, plan(&["a"], 100, 500, 3, 7)).await;
        let times: Vec<_> = events.iter().map(|t| t.event.timestamp).collect();
        assert_eq!(times.first(), Some(&100));
        assert_eq!(times.last(), Some(&490));
        assert_eq!(times.len(), 40);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_backs_off_and_resumes_without_loss() {
        let fake = Fake::new(&["a"], 3_000, 1);
        {
            let mut failures = fake.failures.lock().unwrap();
            for _ in 0..5 {
                failures.push_back(LogsError::Throttled("Rate exceeded".into()));
            }
            failures.push_back(LogsError::Transient("connection reset".into()));
        }
        let (events, outcomes, _) = collect(fake, plan(&["a"], 0, 3_000, 2, 100)).await;
        assert_eq!(events.len(), 3_000);
        assert_eq!(outcomes[0].throttles, 5);
        assert!(outcomes[0].errors.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_endpoint_gives_up_and_reports_what_was_read() {
        let fake = Fake::new(&["a"], 1_000, 1);
        {
            let mut failures = fake.failures.lock().unwrap();
            for _ in 0..50 {
                failures.push_back(LogsError::Transient("timed out".into()));
            }
        }
        let (_, outcomes, _) = collect(fake, plan(&["a"], 0, 1_000, 1, 100)).await;
        let error = &outcomes[0].errors[0];
        assert!(
            error.contains("timed out after 7 attempts; 0 events of"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn empty_pages_with_a_token_are_followed() {
        let mut fake = Fake::new(&["a"], 50, 1);
        fake.empty_pages_first = true;
        let (events, _, _) = collect(fake, plan(&["a"], 0, 50, 1, 10)).await;
        assert_eq!(events.len(), 50);
    }

    #[tokio::test]
    async fn access_denied_stops_that_group_only() {
        let fake = Fake::new(&["a"], 10, 1);
        fake.failures
            .lock()
            .unwrap()
            .push_back(LogsError::AccessDenied(
                "denied; grant logs:FilterLogEvents".into(),
            ));
        let (_, outcomes, _) = collect(fake, plan(&["a"], 0, 10, 1, 10)).await;
        assert!(outcomes[0].errors[0].starts_with("denied; grant logs:FilterLogEvents"));
    }

    #[test]
    fn slice_bounds_cover_the_window_exactly() {
        let p = plan(&["a"], 1_000, 1_000 + 3_600_000, 7, 10);
        let bounds = p.slice_bounds();
        assert_eq!(bounds.first().unwrap().0, 1_000);
        assert_eq!(bounds.last().unwrap().1, 3_601_000);
        assert!(bounds.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!(FetchPlan::new(vec![], 0, 7 * 86_400_000, 3.0).slices, 16);
        assert_eq!(FetchPlan::new(vec![], 0, 60_000, 3.0).slices, 1);
    }

    #[test]
    fn recent_ids_are_bounded() {
        let mut ids = RecentIds::new(2);
        assert!(ids.insert("a"));
        assert!(!ids.insert("a"));
        assert!(ids.insert("b"));
        assert!(ids.insert("c"));
        assert!(ids.insert("a"), "forgotten after the window");
        assert_eq!(ids.set.len(), 2);
    }

    #[test]
    fn backoff_stays_within_bounds() {
        for attempt in 0..40 {
            let wait = backoff(attempt, 250, 20_000).as_millis();
            assert!((125..=20_000).contains(&wait), "{wait}");
        }
    }
}
