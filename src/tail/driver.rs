//! Live sources for `proxydoc tail`: CloudWatch Live Tail with transparent renewal, and
//! FilterLogEvents polling as the fallback (or with `--poll`).
//!
//! - **Live Tail** (`StartLiveTail`, up to 10 log groups per session) delivers events ingested
//!   after the session started. A session ends after 3 hours, on connection errors, or when the
//!   service closes it; it is renewed at once, and the gap between the old session's end and
//!   the new one's start is back-filled with FilterLogEvents over `[end - overlap, now]`, so an
//!   event is neither lost nor shown twice. Short-lived sessions back off; when sessions keep
//!   failing, or Live Tail is refused (15 sessions per account, missing `logs:StartLiveTail`),
//!   the driver falls back to polling and says why. A `sampled` update (over 500 events/s) is
//!   reported loudly, because events are then missing.
//! - **Polling** re-reads a trailing overlap window on every round to catch late-ingested
//!   events, never relies on `lastEventTimestamp`, keeps its window start where it was when a
//!   round fails (so a dropped connection loses nothing), backs off on throttling without
//!   giving up, and waits for log groups that do not exist yet.
//! - **De-duplication**: polled events by `eventId`; Live Tail events (which carry no id) by
//!   their content (group, stream, timestamp, message), which also catches a polled copy of a
//!   live event. Keys are pruned by time, so memory follows the overlap window, not the run.
//!
//! Everything goes out through one bounded channel of [`Item`]s; dropping the receiver stops
//! the driver. The driver works against [`LogsApi`] + [`LiveApi`], so its tests use fakes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::aws::logs::{
    LiveApi, LiveEvent, LiveSession, LiveUpdate, LogEvent, LogsError, PageRequest,
};
use crate::model::Millis;
use crate::source::cloudwatch::{RateLimiter, Tagged, backoff};

/// A session older than this is renewed before the service's 3-hour limit ends it.
pub const RENEW_AFTER: Duration = Duration::from_secs(3 * 3600 - 10 * 60);
/// A session that ends sooner than this counts as a failed one.
const SHORT_SESSION: Duration = Duration::from_secs(10);
/// Failed sessions (or starts) in a row before falling back to polling.
const LIVE_FAILURES: u32 = 3;
/// At most one "sampled" notice per this long.
const SAMPLED_NOTICE_EVERY: Duration = Duration::from_secs(10);
/// Live keys are forgotten when their event is this much older than the newest one.
const LIVE_KEY_HORIZON: Millis = 15 * 60_000;
/// At most this many keys per de-duplication set.
const MAX_KEYS: usize = 500_000;

/// The current time in epoch ms (injected so that tests can run on paused tokio time).
pub type NowFn = Arc<dyn Fn() -> Millis + Send + Sync>;

/// What to tail.
#[derive(Debug, Clone, PartialEq)]
pub struct TailPlan {
    /// Log group names.
    pub groups: Vec<String>,
    /// Poll with FilterLogEvents instead of trying Live Tail.
    pub poll: bool,
    /// Events before this time are not fetched by polling or back-fills.
    pub start: Millis,
    pub poll_interval: Duration,
    /// How far back each polling round re-reads, for late-ingested events.
    pub overlap: Millis,
    /// How often to look again for log groups that do not exist yet.
    pub wait_interval: Duration,
    pub max_tps: f64,
    pub page_limit: i32,
}

impl TailPlan {
    pub fn new(groups: Vec<String>, start: Millis) -> TailPlan {
        TailPlan {
            groups,
            poll: false,
            start,
            poll_interval: Duration::from_secs(2),
            overlap: 30_000,
            wait_interval: Duration::from_secs(10),
            max_tps: crate::source::cloudwatch::DEFAULT_MAX_TPS,
            page_limit: crate::source::cloudwatch::PAGE_LIMIT,
        }
    }
}

/// How events are being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Polling,
}

/// What the driver hands to the consumer.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// New events, each once; `group` indexes [`TailPlan::groups`].
    Events(Vec<Tagged>),
    Notice(Notice),
}

/// Things the user must be told about the stream itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Reading in this mode now; `why` is set when it is a fallback.
    Mode { mode: Mode, why: Option<String> },
    /// A Live Tail session ended and was renewed (gap back-filled).
    Renewed { why: String },
    /// Live Tail sampled the stream: events are missing. `updates` since the last notice.
    Sampled { updates: u64 },
    /// A log group does not exist (yet); waiting for it.
    Waiting { group: String },
    /// A log group that was waited for exists now.
    Appeared { group: String },
    /// A call failed; retrying after `delay`. Throttling is one of these.
    Retrying { error: String, delay: Duration },
    /// Calls succeed again after failures.
    Recovered,
    /// The driver stopped: the logs cannot be read at all.
    Fatal { error: String },
}

/// Starts the driver; it runs until the receiver is dropped or it meets a fatal error.
pub fn spawn<A: LiveApi>(
    api: Arc<A>,
    plan: TailPlan,
    now: NowFn,
) -> (mpsc::Receiver<Item>, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(64);
    let driver = Driver {
        api,
        arns: vec![None; plan.groups.len()],
        waiting: HashSet::new(),
        plan,
        now,
        out: sender,
        seen: Seen::default(),
        limiter: None,
    };
    (receiver, tokio::spawn(driver.run()))
}

/// Why a loop stopped.
enum Stop {
    /// The consumer is gone, or a fatal error was reported.
    Done,
    /// Live Tail cannot be used: poll instead, from this time.
    Fallback { why: String, covered_until: Millis },
}

/// A round of FilterLogEvents calls that did not finish.
enum RoundError {
    Stop,
    Retry(String),
}

struct Driver<A> {
    api: Arc<A>,
    plan: TailPlan,
    now: NowFn,
    out: mpsc::Sender<Item>,
    seen: Seen,
    /// Group ARNs, found with DescribeLogGroups (Live Tail only).
    arns: Vec<Option<String>>,
    /// Groups reported as missing and not seen since.
    waiting: HashSet<usize>,
    limiter: Option<RateLimiter>,
}

impl<A: LiveApi> Driver<A> {
    async fn run(mut self) {
        let covered_until = if self.plan.poll {
            self.plan.start
        } else {
            match self.live().await {
                Stop::Done => return,
                Stop::Fallback { why, covered_until } => {
                    if !self
                        .notify(Notice::Mode {
                            mode: Mode::Polling,
                            why: Some(why),
                        })
                        .await
                    {
                        return;
                    }
                    covered_until
                }
            }
        };
        if self.plan.poll
            && !self
                .notify(Notice::Mode {
                    mode: Mode::Polling,
                    why: None,
                })
                .await
        {
            return;
        }
        self.poll(covered_until).await;
    }

    async fn notify(&self, notice: Notice) -> bool {
        self.out.send(Item::Notice(notice)).await.is_ok()
    }

    async fn sleep(&self, delay: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = self.out.closed() => false,
        }
    }

    // ---- Live Tail ----

    async fn live(&mut self) -> Stop {
        let mut covered_until = self.plan.start;
        let mut failures = 0u32;
        let mut announced = false;
        loop {
            match self.resolve_arns().await {
                Ok(true) => {}
                Ok(false) => {
                    // No group exists yet: look again later.
                    if !self.sleep(self.plan.wait_interval).await {
                        return Stop::Done;
                    }
                    continue;
                }
                Err(RoundError::Stop) => return Stop::Done,
                Err(RoundError::Retry(error)) => {
                    let why = error.clone();
                    if let Some(stop) = self
                        .live_failure(&mut failures, error, why, covered_until)
                        .await
                    {
                        return stop;
                    }
                    continue;
                }
            }
            let arns: Vec<String> = self.arns.iter().flatten().cloned().collect();
            let started_at = (self.now)();
            let session = match self.api.start_live_tail(&arns).await {
                Ok(session) => session,
                Err(LogsError::NotFound(error)) => {
                    // A group went away between DescribeLogGroups and StartLiveTail.
                    self.arns.iter_mut().for_each(|a| *a = None);
                    if !self
                        .notify(Notice::Retrying {
                            error,
                            delay: self.plan.wait_interval,
                        })
                        .await
                        || !self.sleep(self.plan.wait_interval).await
                    {
                        return Stop::Done;
                    }
                    continue;
                }
                Err(LogsError::Transient(error)) => {
                    let why = format!("Live Tail could not be started: {error}");
                    if let Some(stop) = self
                        .live_failure(&mut failures, error, why, covered_until)
                        .await
                    {
                        return stop;
                    }
                    continue;
                }
                Err(error) => {
                    return Stop::Fallback {
                        why: format!("Live Tail is not available: {error}"),
                        covered_until,
                    };
                }
            };
            if !announced {
                announced = true;
                if !self
                    .notify(Notice::Mode {
                        mode: Mode::Live,
                        why: None,
                    })
                    .await
                {
                    return Stop::Done;
                }
            }
            // Events ingested before the session started are not in it: back-fill from where
            // the previous session (or the tail) left off.
            let from = if covered_until == self.plan.start {
                covered_until
            } else {
                covered_until - self.plan.overlap
            };
            match self.round(from, started_at.max(from)).await {
                Ok(()) => {}
                Err(RoundError::Stop) => return Stop::Done,
                // A failed back-fill is not fatal: the live session is what matters.
                Err(RoundError::Retry(error)) => {
                    if !self
                        .notify(Notice::Retrying {
                            error: format!(
                                "back-filling the gap between Live Tail sessions: {error}"
                            ),
                            delay: Duration::ZERO,
                        })
                        .await
                    {
                        return Stop::Done;
                    }
                }
            }
            let opened = tokio::time::Instant::now();
            let why = match self.read_session(session).await {
                None => return Stop::Done,
                Some(why) => why,
            };
            covered_until = (self.now)();
            if opened.elapsed() < SHORT_SESSION {
                failures += 1;
            } else {
                failures = 0;
            }
            if failures >= LIVE_FAILURES {
                return Stop::Fallback {
                    why: format!("Live Tail sessions keep ending within seconds (last: {why})"),
                    covered_until,
                };
            }
            if !self.notify(Notice::Renewed { why }).await {
                return Stop::Done;
            }
            if failures > 0 && !self.sleep(backoff(failures, 1000, 30_000)).await {
                return Stop::Done;
            }
        }
    }

    /// One more failed attempt at Live Tail: `Some` when it is time to stop trying (fall back
    /// with `why`, or the consumer is gone), else it has waited with backoff.
    async fn live_failure(
        &self,
        failures: &mut u32,
        error: String,
        why: String,
        covered_until: Millis,
    ) -> Option<Stop> {
        *failures += 1;
        if *failures >= LIVE_FAILURES {
            return Some(Stop::Fallback { why, covered_until });
        }
        let delay = backoff(*failures, 1000, 30_000);
        if !self.notify(Notice::Retrying { error, delay }).await || !self.sleep(delay).await {
            return Some(Stop::Done);
        }
        None
    }

    /// Finds the ARNs of the groups that do not have one yet. `Ok(false)` when none exists.
    async fn resolve_arns(&mut self) -> Result<bool, RoundError> {
        for index in 0..self.plan.groups.len() {
            if self.arns[index].is_some() {
                continue;
            }
            let group = self.plan.groups[index].clone();
            match self.api.find_group(&group).await {
                Ok(Some(arn)) => {
                    self.arns[index] = Some(arn);
                    if self.waiting.remove(&index) && !self.notify(Notice::Appeared { group }).await
                    {
                        return Err(RoundError::Stop);
                    }
                }
                Ok(None) => {
                    if self.waiting.insert(index) && !self.notify(Notice::Waiting { group }).await {
                        return Err(RoundError::Stop);
                    }
                }
                Err(LogsError::Transient(e) | LogsError::Throttled(e)) => {
                    return Err(RoundError::Retry(e));
                }
                Err(error) => {
                    let _ = self
                        .notify(Notice::Fatal {
                            error: error.to_string(),
                        })
                        .await;
                    return Err(RoundError::Stop);
                }
            }
        }
        Ok(self.arns.iter().any(Option::is_some))
    }

    /// Reads one session until it ends; returns why it ended (`None`: stop everything).
    async fn read_session(&mut self, mut session: A::Session) -> Option<String> {
        let renew = tokio::time::sleep(RENEW_AFTER);
        tokio::pin!(renew);
        let mut recheck = tokio::time::interval(self.plan.wait_interval);
        recheck.tick().await;
        let mut sampled = 0u64;
        let mut last_sampled_notice: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                update = session.next() => match update {
                    Ok(Some(LiveUpdate::Started)) => {}
                    Ok(Some(LiveUpdate::Events { events, sampled: was_sampled })) => {
                        if was_sampled {
                            sampled += 1;
                            let due = last_sampled_notice
                                .is_none_or(|t| t.elapsed() >= SAMPLED_NOTICE_EVERY);
                            if due {
                                last_sampled_notice = Some(tokio::time::Instant::now());
                                if !self.notify(Notice::Sampled { updates: sampled }).await {
                                    return None;
                                }
                                sampled = 0;
                            }
                        }
                        let fresh = self.accept_live(events);
                        if !fresh.is_empty() && self.out.send(Item::Events(fresh)).await.is_err() {
                            return None;
                        }
                    }
                    Ok(None) => return Some("the service closed the session".to_string()),
                    Err(error) => return Some(error.to_string()),
                },
                () = &mut renew => {
                    return Some("the session reached the 3-hour limit".to_string());
                }
                _ = recheck.tick(), if !self.waiting.is_empty() => {
                    let before = self.arns.iter().filter(|a| a.is_some()).count();
                    match self.resolve_arns().await {
                        Err(RoundError::Stop) => return None,
                        Ok(_) if self.arns.iter().filter(|a| a.is_some()).count() > before => {
                            return Some("a log group appeared and joins the session".to_string());
                        }
                        _ => {}
                    }
                }
                () = self.out.closed() => return None,
            }
        }
    }

    /// Tags and de-duplicates Live Tail events.
    fn accept_live(&mut self, events: Vec<LiveEvent>) -> Vec<Tagged> {
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let group = self.group_index(&event.group);
            let key = content_key(group, &event.stream, event.timestamp, &event.message);
            if self.seen.is_live_duplicate(key) {
                continue;
            }
            self.seen.insert_live(key, event.timestamp);
            out.push(Tagged {
                group,
                event: LogEvent {
                    id: String::new(),
                    timestamp: event.timestamp,
                    ingestion_time: event.ingestion_time,
                    stream: event.stream,
                    message: event.message,
                },
            });
        }
        self.seen.prune_live();
        out
    }

    /// The index of the group a Live Tail event names (by ARN, or by name).
    fn group_index(&self, identifier: &str) -> usize {
        let identifier = identifier.trim_end_matches(":*");
        self.arns
            .iter()
            .position(|a| a.as_deref() == Some(identifier))
            .or_else(|| {
                self.plan.groups.iter().position(|g| {
                    identifier == g || identifier.ends_with(&format!("log-group:{g}"))
                })
            })
            .unwrap_or(0)
    }

    // ---- Polling ----

    async fn poll(&mut self, mut covered_until: Millis) {
        let mut attempt = 0u32;
        loop {
            let now = (self.now)();
            let from = (covered_until - self.plan.overlap).max(self.plan.start);
            match self.round(from, now).await {
                Ok(()) => {
                    covered_until = now;
                    if attempt > 0 {
                        attempt = 0;
                        if !self.notify(Notice::Recovered).await {
                            return;
                        }
                    }
                    // Nothing older than the next round's start can come back.
                    self.seen.prune_polled(now - self.plan.overlap - 1000);
                    if !self.sleep(self.plan.poll_interval).await {
                        return;
                    }
                }
                Err(RoundError::Stop) => return,
                Err(RoundError::Retry(error)) => {
                    attempt += 1;
                    let delay = backoff(attempt, 1000, 30_000).max(self.plan.poll_interval);
                    if !self.notify(Notice::Retrying { error, delay }).await
                        || !self.sleep(delay).await
                    {
                        return;
                    }
                }
            }
        }
    }

    /// One FilterLogEvents round over every group for `[from, to]`, all pages.
    async fn round(&mut self, from: Millis, to: Millis) -> Result<(), RoundError> {
        for index in 0..self.plan.groups.len() {
            self.round_group(index, from, to).await?;
        }
        Ok(())
    }

    async fn round_group(
        &mut self,
        index: usize,
        from: Millis,
        to: Millis,
    ) -> Result<(), RoundError> {
        let group = self.plan.groups[index].clone();
        let mut token: Option<String> = None;
        let mut throttles = 0u32;
        loop {
            let limiter = self
                .limiter
                .get_or_insert_with(|| RateLimiter::new(self.plan.max_tps));
            limiter.acquire().await;
            let request = PageRequest {
                group: group.clone(),
                start: from,
                end: to,
                token: token.clone(),
                limit: self.plan.page_limit,
            };
            match self.api.filter_page(request).await {
                Ok(page) => {
                    if let Some(limiter) = &self.limiter {
                        limiter.on_success().await;
                    }
                    throttles = 0;
                    if self.waiting.remove(&index)
                        && !self
                            .notify(Notice::Appeared {
                                group: group.clone(),
                            })
                            .await
                    {
                        return Err(RoundError::Stop);
                    }
                    let fresh: Vec<Tagged> = page
                        .events
                        .into_iter()
                        .filter(|e| e.timestamp >= from)
                        .filter(|e| {
                            let id = id_key(index, &e.id);
                            let content = content_key(index, &e.stream, e.timestamp, &e.message);
                            self.seen.accept_polled(id, content, e.timestamp)
                        })
                        .map(|event| Tagged {
                            group: index,
                            event,
                        })
                        .collect();
                    if !fresh.is_empty() && self.out.send(Item::Events(fresh)).await.is_err() {
                        return Err(RoundError::Stop);
                    }
                    match page.next_token {
                        Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                        _ => return Ok(()),
                    }
                }
                Err(LogsError::Throttled(error)) => {
                    // Never give up on throttling: slow down and ask again for the same page.
                    if let Some(limiter) = &self.limiter {
                        limiter.on_throttle().await;
                    }
                    throttles += 1;
                    let delay = backoff(throttles, 500, 20_000);
                    if !self.notify(Notice::Retrying { error, delay }).await
                        || !self.sleep(delay).await
                    {
                        return Err(RoundError::Stop);
                    }
                }
                Err(LogsError::NotFound(_)) => {
                    if self.waiting.insert(index) && !self.notify(Notice::Waiting { group }).await {
                        return Err(RoundError::Stop);
                    }
                    return Ok(());
                }
                Err(LogsError::Transient(error)) => return Err(RoundError::Retry(error)),
                Err(error) => {
                    let _ = self
                        .notify(Notice::Fatal {
                            error: error.to_string(),
                        })
                        .await;
                    return Err(RoundError::Stop);
                }
            }
        }
    }
}

fn id_key(group: usize, id: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (0u8, group, id).hash(&mut hasher);
    hasher.finish()
}

fn content_key(group: usize, stream: &str, timestamp: Millis, message: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (1u8, group, stream, timestamp, message).hash(&mut hasher);
    hasher.finish()
}

/// Keys of recently delivered events, by origin, each with its event's timestamp for pruning.
#[derive(Default)]
struct Seen {
    polled_ids: KeySet,
    polled_contents: KeySet,
    live_contents: KeySet,
    newest: Millis,
}

impl Seen {
    /// A polled event is new unless its id was polled before or a live event had its content.
    fn accept_polled(&mut self, id: u64, content: u64, ts: Millis) -> bool {
        if self.polled_ids.contains(id) || self.live_contents.contains(content) {
            return false;
        }
        self.polled_ids.insert(id, ts);
        self.polled_contents.insert(content, ts);
        self.newest = self.newest.max(ts);
        true
    }

    fn is_live_duplicate(&self, content: u64) -> bool {
        self.live_contents.contains(content) || self.polled_contents.contains(content)
    }

    fn insert_live(&mut self, content: u64, ts: Millis) {
        self.live_contents.insert(content, ts);
        self.newest = self.newest.max(ts);
    }

    fn prune_polled(&mut self, before: Millis) {
        self.polled_ids.prune(before);
        self.polled_contents.prune(before);
    }

    fn prune_live(&mut self) {
        let before = self.newest - LIVE_KEY_HORIZON;
        self.live_contents.prune(before);
        self.polled_contents.prune(before);
        self.polled_ids.prune(before);
    }
}

/// A set of keys that forgets keys whose timestamp is older than a horizon, and the oldest
/// keys beyond [`MAX_KEYS`].
#[derive(Default)]
struct KeySet {
    keys: HashMap<u64, Millis>,
    order: VecDeque<(Millis, u64)>,
}

impl KeySet {
    fn contains(&self, key: u64) -> bool {
        self.keys.contains_key(&key)
    }

    fn insert(&mut self, key: u64, ts: Millis) {
        if self.keys.insert(key, ts).is_none() {
            self.order.push_back((ts, key));
        }
        while self.order.len() > MAX_KEYS {
            if let Some((_, old)) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
    }

    /// Forgets keys with a timestamp before `before`. Keys arrive roughly in time order, so
    /// the queue is cut from the front; a late key behind newer ones waits for them (the
    /// [`MAX_KEYS`] cap bounds the set either way).
    fn prune(&mut self, before: Millis) {
        while let Some(&(ts, key)) = self.order.front() {
            if ts >= before {
                break;
            }
            self.order.pop_front();
            self.keys.remove(&key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests;
