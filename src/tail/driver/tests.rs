//! The live driver against in-memory fakes on paused tokio time: renewal with back-fill,
//! sampling, fallback, polling overlap, failures and waiting for groups.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;
use crate::aws::logs::{LogsApi, Page};

const GROUP: &str = "/aws/rds/proxy/p";
const T0: Millis = 1_764_000_000_000;

/// One step of a scripted Live Tail session.
#[derive(Clone)]
enum Step {
    Update(LiveUpdate),
    Wait(Duration),
    Fail(LogsError),
}

/// A fake CloudWatch: stored events become visible to FilterLogEvents at their ingestion time;
/// Live Tail sessions follow scripts.
struct Fake {
    start: tokio::time::Instant,
    /// (group, event); an event is visible once `ingestion_time <= now`.
    events: Mutex<Vec<(String, LogEvent)>>,
    filter_failures: Mutex<VecDeque<(Millis, LogsError)>>,
    sessions: Mutex<VecDeque<Result<Vec<Step>, LogsError>>>,
    groups: Mutex<Vec<(Millis, String)>>,
    starts: Mutex<u32>,
    filter_calls: Mutex<u32>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            start: tokio::time::Instant::now(),
            events: Mutex::new(Vec::new()),
            filter_failures: Mutex::new(VecDeque::new()),
            sessions: Mutex::new(VecDeque::new()),
            groups: Mutex::new(vec![(0, GROUP.to_string())]),
            starts: Mutex::new(0),
            filter_calls: Mutex::new(0),
        }
    }

    fn now(&self) -> Millis {
        T0 + i64::try_from(self.start.elapsed().as_millis()).unwrap()
    }

    /// An event stamped `ts` (ms after T0) and ingested `delay` ms later.
    fn put(&self, id: &str, ts: Millis, delay: Millis) {
        self.events
            .lock()
            .unwrap()
            .push((GROUP.to_string(), event(id, T0 + ts, Some(T0 + ts + delay))));
    }
}

fn event(id: &str, timestamp: Millis, ingestion_time: Option<Millis>) -> LogEvent {
    LogEvent {
        id: id.to_string(),
        timestamp,
        ingestion_time,
        stream: "s".to_string(),
        message: format!("message {id}"),
    }
}

fn live(id: &str, ts: Millis) -> LiveEvent {
    LiveEvent {
        group: format!("arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}"),
        stream: "s".to_string(),
        timestamp: T0 + ts,
        ingestion_time: Some(T0 + ts),
        message: format!("message {id}"),
    }
}

fn update(events: Vec<LiveEvent>, sampled: bool) -> Step {
    Step::Update(LiveUpdate::Events { events, sampled })
}

impl LogsApi for Fake {
    async fn filter_page(&self, request: PageRequest) -> Result<Page, LogsError> {
        *self.filter_calls.lock().unwrap() += 1;
        let now = self.now();
        {
            let mut failures = self.filter_failures.lock().unwrap();
            if failures.front().is_some_and(|(at, _)| now >= *at) {
                return Err(failures.pop_front().unwrap().1);
            }
        }
        if !self
            .groups
            .lock()
            .unwrap()
            .iter()
            .any(|(at, g)| *g == request.group && now >= T0 + at)
        {
            return Err(LogsError::NotFound(format!("{} not found", request.group)));
        }
        let mut matching: Vec<LogEvent> = self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|(g, e)| {
                *g == request.group
                    && e.ingestion_time.is_none_or(|i| i <= now)
                    && e.timestamp >= request.start
                    && e.timestamp <= request.end
            })
            .map(|(_, e)| e.clone())
            .collect();
        matching.sort_by_key(|e| e.timestamp);
        let offset: usize = request.token.as_deref().map_or(0, |t| t.parse().unwrap());
        let end = (offset + request.limit as usize).min(matching.len());
        Ok(Page {
            events: matching[offset..end].to_vec(),
            next_token: (end < matching.len()).then(|| end.to_string()),
        })
    }

    async fn find_group(&self, group: &str) -> Result<Option<String>, LogsError> {
        let now = self.now();
        Ok(self
            .groups
            .lock()
            .unwrap()
            .iter()
            .any(|(at, g)| g == group && now >= T0 + at)
            .then(|| format!("arn:aws:logs:us-east-1:123456789012:log-group:{group}")))
    }
}

struct FakeSession {
    steps: VecDeque<Step>,
}

impl LiveSession for FakeSession {
    async fn next(&mut self) -> Result<Option<LiveUpdate>, LogsError> {
        loop {
            match self.steps.pop_front() {
                None => return Ok(None),
                Some(Step::Wait(d)) => tokio::time::sleep(d).await,
                Some(Step::Update(u)) => return Ok(Some(u)),
                Some(Step::Fail(e)) => return Err(e),
            }
        }
    }
}

impl LiveApi for Fake {
    type Session = FakeSession;

    async fn start_live_tail(&self, _arns: &[String]) -> Result<FakeSession, LogsError> {
        *self.starts.lock().unwrap() += 1;
        match self.sessions.lock().unwrap().pop_front() {
            Some(Ok(steps)) => Ok(FakeSession {
                steps: steps.into(),
            }),
            Some(Err(e)) => Err(e),
            // No more scripts: a session that stays open and quiet.
            None => Ok(FakeSession {
                steps: vec![Step::Wait(Duration::from_secs(1_000_000))].into(),
            }),
        }
    }
}

/// Runs the driver for `for_secs` of (paused) time and returns what it sent.
async fn run(fake: Arc<Fake>, plan: TailPlan, for_secs: u64) -> (Vec<String>, Vec<Notice>) {
    let clock = Arc::clone(&fake);
    let now: NowFn = Arc::new(move || clock.now());
    let (mut receiver, handle) = spawn(Arc::clone(&fake), plan, now);
    let mut ids = Vec::new();
    let mut notices = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(for_secs));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            item = receiver.recv() => match item {
                Some(Item::Events(events)) => ids.extend(events.into_iter().map(|t| {
                    t.event.message.trim_start_matches("message ").to_string()
                })),
                Some(Item::Notice(n)) => notices.push(n),
                None => break,
            },
            () = &mut deadline => break,
        }
    }
    drop(receiver);
    handle.await.unwrap();
    (ids, notices)
}

fn plan(poll: bool) -> TailPlan {
    TailPlan {
        poll,
        ..TailPlan::new(vec![GROUP.to_string()], T0)
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test(start_paused = true)]
async fn renewal_back_fills_the_gap_without_duplicates() {
    let fake = Arc::new(Fake::new());
    // Session 1 sees a and b, then the service closes it after a minute.
    fake.sessions.lock().unwrap().push_back(Ok(vec![
        Step::Wait(Duration::from_secs(5)),
        update(vec![live("a", 5_000), live("b", 6_000)], false),
        Step::Wait(Duration::from_secs(55)),
    ]));
    // c was ingested while no session was open (after 60 s, before the renewal at ~61 s);
    // the new session repeats b (overlap) and brings d.
    fake.put("a", 5_000, 0);
    fake.put("b", 6_000, 0);
    fake.put("c", 59_900, 0);
    fake.sessions.lock().unwrap().push_back(Ok(vec![
        Step::Wait(Duration::from_secs(10)),
        update(vec![live("b", 6_000), live("d", 70_000)], false),
    ]));
    let (ids, notices) = run(Arc::clone(&fake), plan(false), 120).await;
    assert_eq!(sorted(ids), ["a", "b", "c", "d"]);
    assert!(notices.contains(&Notice::Mode {
        mode: Mode::Live,
        why: None
    }));
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::Renewed { why } if why.contains("closed"))),
        "{notices:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn sampling_is_reported() {
    let fake = Arc::new(Fake::new());
    fake.sessions.lock().unwrap().push_back(Ok(vec![
        update(vec![live("a", 1_000)], true),
        update(vec![live("b", 2_000)], true),
        Step::Wait(Duration::from_secs(1_000)),
    ]));
    let (ids, notices) = run(fake, plan(false), 30).await;
    assert_eq!(ids, ["a", "b"]);
    assert!(
        notices.contains(&Notice::Sampled { updates: 1 }),
        "{notices:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_session_falls_back_to_polling() {
    let fake = Arc::new(Fake::new());
    fake.sessions
        .lock()
        .unwrap()
        .push_back(Err(LogsError::Refused(
            "StartLiveTail failed: LimitExceededException (15 concurrent Live Tail sessions)"
                .into(),
        )));
    fake.put("a", 3_000, 500);
    fake.put("b", 9_000, 500);
    let (ids, notices) = run(Arc::clone(&fake), plan(false), 20).await;
    assert_eq!(ids, ["a", "b"]);
    assert!(notices.iter().any(|n| matches!(n,
        Notice::Mode { mode: Mode::Polling, why: Some(why) } if why.contains("15 concurrent"))));
}

#[tokio::test(start_paused = true)]
async fn sessions_that_keep_closing_fall_back_to_polling() {
    let fake = Arc::new(Fake::new());
    for _ in 0..5 {
        fake.sessions
            .lock()
            .unwrap()
            .push_back(Ok(vec![update(vec![live("a", 1_000)], false)]));
    }
    fake.put("a", 1_000, 0);
    fake.put("b", 30_000, 0);
    let (ids, notices) = run(Arc::clone(&fake), plan(false), 60).await;
    // a came through Live Tail (again and again) and polling: shown once.
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(*fake.starts.lock().unwrap(), LIVE_FAILURES);
    assert!(notices.iter().any(|n| matches!(n,
        Notice::Mode { mode: Mode::Polling, why: Some(why) } if why.contains("keep ending"))));
}

#[tokio::test(start_paused = true)]
async fn polling_catches_late_events_once_and_survives_failures() {
    let fake = Arc::new(Fake::new());
    // a: on time. b: stamped at 4 s but ingested 10 s late, after rounds covering 4 s ran.
    // c, d: while every call fails (20 s .. 26 s). e: after recovery.
    fake.put("a", 1_000, 200);
    fake.put("b", 4_000, 10_000);
    fake.put("c", 21_000, 100);
    fake.put("d", 24_000, 100);
    fake.put("e", 40_000, 100);
    {
        let mut failures = fake.filter_failures.lock().unwrap();
        for _ in 0..3 {
            failures.push_back((T0 + 20_000, LogsError::Transient("connection reset".into())));
        }
        failures.push_back((T0 + 30_000, LogsError::Throttled("Rate exceeded".into())));
        failures.push_back((T0 + 30_000, LogsError::Throttled("Rate exceeded".into())));
    }
    let (ids, notices) = run(Arc::clone(&fake), plan(true), 60).await;
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    let retries = notices
        .iter()
        .filter(|n| matches!(n, Notice::Retrying { .. }))
        .count();
    assert_eq!(retries, 5, "{notices:?}");
    assert!(notices.contains(&Notice::Recovered));
    assert!(!notices.iter().any(|n| matches!(n, Notice::Fatal { .. })));
    // Rounds every 2 s re-read the overlap, yet each event came out once.
    assert!(*fake.filter_calls.lock().unwrap() > 20);
}

#[tokio::test(start_paused = true)]
async fn waits_for_a_log_group_that_does_not_exist_yet() {
    for poll in [true, false] {
        let fake = Arc::new(Fake::new());
        *fake.groups.lock().unwrap() = vec![(25_000, GROUP.to_string())];
        fake.put("a", 26_000, 0);
        // With Live Tail, the first session after the group appears carries a.
        fake.sessions.lock().unwrap().push_back(Ok(vec![
            update(vec![live("a", 26_000)], false),
            Step::Wait(Duration::from_secs(1_000)),
        ]));
        let (ids, notices) = run(Arc::clone(&fake), plan(poll), 60).await;
        assert_eq!(ids, ["a"], "poll={poll}");
        assert!(
            notices.contains(&Notice::Waiting {
                group: GROUP.to_string()
            }),
            "poll={poll}"
        );
        assert!(
            notices.contains(&Notice::Appeared {
                group: GROUP.to_string()
            }),
            "poll={poll}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn access_denied_is_fatal_and_says_what_to_grant() {
    let fake = Arc::new(Fake::new());
    fake.filter_failures.lock().unwrap().push_back((
        0,
        LogsError::AccessDenied("FilterLogEvents failed; grant logs:FilterLogEvents".into()),
    ));
    let (ids, notices) = run(fake, plan(true), 30).await;
    assert!(ids.is_empty());
    assert!(notices.iter().any(|n| matches!(n,
        Notice::Fatal { error } if error.contains("logs:FilterLogEvents"))));
}

#[test]
fn key_sets_forget_old_keys() {
    let mut keys = KeySet::default();
    for i in 0..10 {
        keys.insert(i, i as Millis * 1000);
    }
    keys.prune(5_000);
    assert_eq!(keys.len(), 5);
    assert!(!keys.contains(4) && keys.contains(5));
}

#[tokio::test(start_paused = true)]
async fn a_stream_error_renews_the_session() {
    let fake = Arc::new(Fake::new());
    fake.sessions.lock().unwrap().push_back(Ok(vec![
        update(vec![live("a", 1_000)], false),
        Step::Wait(Duration::from_secs(30)),
        Step::Fail(LogsError::Transient(
            "StartLiveTail (stream) on log group p could not reach the endpoint".into(),
        )),
    ]));
    fake.sessions.lock().unwrap().push_back(Ok(vec![
        update(vec![live("b", 40_000)], false),
        Step::Wait(Duration::from_secs(1_000)),
    ]));
    let (ids, notices) = run(Arc::clone(&fake), plan(false), 60).await;
    assert_eq!(ids, ["a", "b"]);
    assert!(notices.iter().any(|n| matches!(n,
        Notice::Renewed { why } if why.contains("could not reach"))));
    assert_eq!(*fake.starts.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn sessions_are_renewed_before_the_three_hour_limit() {
    let fake = Arc::new(Fake::new());
    fake.sessions.lock().unwrap().push_back(Ok(vec![
        update(vec![live("a", 1_000)], false),
        Step::Wait(Duration::from_secs(4 * 3600)),
    ]));
    // Logged just before the renewal and missed by the old session: found by the back-fill.
    let renewal = RENEW_AFTER.as_millis() as Millis;
    fake.put("b", renewal - 5_000, 0);
    let (ids, notices) = run(Arc::clone(&fake), plan(false), 3 * 3600 + 60).await;
    assert_eq!(ids, ["a", "b"]);
    assert!(notices.iter().any(|n| matches!(n,
        Notice::Renewed { why } if why.contains("3-hour limit"))));
    assert_eq!(*fake.starts.lock().unwrap(), 2);
}
