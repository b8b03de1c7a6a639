//! `proxydoc tail`: the live driver → the pipeline → printed events, the status line and the
//! final report; with `--enable-logging`, the proxy's enhanced logging is managed so that every
//! exit path (the end of `--duration`, Ctrl-C, SIGTERM, SIGHUP, an error) restores it.
//!
//! Order of a run: signals are caught first (so an early Ctrl-C still restores), then AWS is
//! loaded, enhanced logging is turned on (or a previous run's overdue state cleaned up), the
//! driver is started, and the loop below runs until an end; then the driver stops, logging is
//! restored, and the report is written.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::options::{ManagedLogging, TailConfig, TailEnv};
use crate::aws::lifecycle::{Lifecycle, ProxyLogging};
use crate::classify::Classifier;
use crate::cli::TailArgs;
use crate::clock::Ticker;
use crate::enhanced_logging::command::{execute, turn_off, turn_on};
use crate::enhanced_logging::{Marks, State, Step, assess, human, plan_enable};
use crate::error::{ExitCode, Failed, UsageError, exit_code};
use crate::model::{Finding, InputStats, Millis, RawRecord};
use crate::output::write_saved_event;
use crate::pipeline::{Pipeline, TimeWindow};
use crate::report::{self, BuildInput, Report};
use crate::rules;
use crate::tail::driver::{self, Item, Mode, Notice, NowFn, TailPlan};
use crate::tail::view::{Connections, Filter, Origin, Status, line, ndjson, shown, status_line};
use crate::timefmt::rfc3339;
use crate::{aws, classify};

/// The status line's "recent" view covers this many minutes.
const RECENT_MINUTES: i64 = 5;
/// Records kept for the recent view at most.
const RECENT_RECORDS: usize = 50_000;
/// How often the findings behind the status line are recomputed.
const REFRESH: Duration = Duration::from_secs(3);
/// Warn this long before RDS's own 24-hour turn-off.
const RDS_OFF_WARNING: Millis = 10 * 60_000;

pub async fn tail(args: TailArgs) -> Result<ExitCode> {
    let ticker = Ticker::from_env().map_err(UsageError)?;
    let env = TailEnv {
        stdout_is_terminal: io::stdout().is_terminal(),
        stderr_is_terminal: io::stderr().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    };
    let config = TailConfig::from_args(&args, env).map_err(UsageError)?;
    let classifier = Arc::new(classify::load(config.patterns.as_deref())?);
    // Before anything changes on AWS: from here on a signal ends the run through cleanup.
    let mut signals = Signals::new()?;
    let context = aws::AwsContext::load(&config.aws)
        .await
        .map_err(|e| Failed(e.to_string()))?;
    let life = Lifecycle::new(&context);
    let started = ticker.now();

    let mut managed = None;
    match &config.logging {
        Some(wanted) => {
            // The state before anything changes: what a signal during the change restores.
            let before = match life.read(&wanted.proxy).await {
                Ok(state) => state,
                Err(e) => return Err(Failed(e.to_string()).into()),
            };
            let begin = Managed::begin(&life, wanted, before.clone(), &ticker, config.wait);
            tokio::select! {
                outcome = begin => match outcome {
                    Ok(m) => managed = Some(m),
                    Err(e) => return Err(Failed(e.to_string()).into()),
                },
                name = signals.recv() => {
                    eprintln!("proxydoc: {name} while turning enhanced logging on");
                    return Ok(abandon_enable(&life, wanted, &before, ticker.now(), config.wait).await);
                }
            }
        }
        None => {
            for proxy in &config.proxies {
                clean_up_left_over(&life, proxy, ticker.now()).await;
            }
        }
    }

    let mut plan = TailPlan::new(config.groups.clone(), started);
    plan.poll = config.poll || config.groups.len() > 10;
    if !config.poll && plan.poll {
        eprintln!(
            "proxydoc: Live Tail takes at most 10 log groups per session; polling {} groups instead",
            config.groups.len()
        );
    }
    plan.poll_interval = config.poll_interval;
    plan.overlap = config.overlap;
    plan.max_tps = config.max_tps;
    let now: NowFn = Arc::new(move || ticker.now());
    let (receiver, driver) = driver::spawn(Arc::new(context.logs()), plan, now);

    let describe = managed.as_ref().and_then(Managed::describe);
    let mut manager =
        managed.map(|m| Manager::spawn(m, life.clone(), ticker, config.logging_check, config.wait));
    let outcome = run_loop(
        &config,
        &classifier,
        receiver,
        &mut signals,
        manager.as_mut(),
        describe,
        &ticker,
    )
    .await;
    driver.abort();
    let mut restore_failed = false;
    if let Some(manager) = manager {
        let managed = manager.stop().await;
        restore_failed = !managed.end(&life, config.wait, &mut signals).await;
    }
    let outcome = outcome?;

    let summary = outcome
        .pipeline_summary
        .map_err(|e| anyhow::anyhow!("the analysis failed: {e}"))?;
    let findings = rules::evaluate(&summary, &classifier);
    // Already said on stderr when it happened (the fatal notice).
    let errors = crate::source::input_errors(&outcome.stats);
    let build = BuildInput {
        now: ticker.now(),
        since: Some(started),
        until: Some(ticker.now()),
        show_sql: config.show_sql,
        inputs: &outcome.stats,
        errors: &errors,
    };
    let report = Report::build(&summary, &findings, &build);
    if config.report_to_stderr {
        let stderr = io::stderr();
        let mut out = stderr.lock();
        report::render(&report, config.format, &mut out)
            .and_then(|()| out.flush())
            .context("cannot write the report to stderr")?;
    } else {
        crate::output::write_report_to(config.output.as_deref(), config.format, &report)?;
    }
    Ok(exit_code(
        !errors.is_empty() || restore_failed || !outcome.events_written,
        report.trips(config.fail_on),
    ))
}

/// SIGINT, SIGTERM and SIGHUP, as one stream.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        let install = |kind: SignalKind| {
            signal(kind).context("cannot install the signal handlers (SIGINT, SIGTERM, SIGHUP)")
        };
        Ok(Signals {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
            hangup: install(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted (SIGINT)",
            _ = self.terminate.recv() => "terminated (SIGTERM)",
            _ = self.hangup.recv() => "hung up (SIGHUP)",
        }
    }
}

struct Outcome {
    pipeline_summary: Result<crate::aggregate::Summary, crate::aggregate::AggregateError>,
    stats: Vec<InputStats>,
    /// False when the `--events-table` file could not be written (said on stderr).
    events_written: bool,
}

/// Prints events and notices until an end: the driver stops (a fatal error), a signal, or
/// `--duration`. Never waits on AWS itself: enhanced logging is managed by the [`Manager`]'s
/// task, whose reports arrive like events, so a renewal that waits for the proxy neither holds
/// back events nor delays Ctrl-C.
async fn run_loop(
    config: &TailConfig,
    classifier: &Classifier,
    mut receiver: tokio::sync::mpsc::Receiver<Item>,
    signals: &mut Signals,
    mut manager: Option<&mut Manager>,
    logging: Option<String>,
    ticker: &Ticker,
) -> Result<Outcome> {
    let events = match &config.events_table {
        Some(path) => {
            let names = config
                .groups
                .iter()
                .map(|g| format!("cloudwatch:{g}"))
                .collect();
            Some(crate::output::events_sink(
                path,
                "--events-table",
                names,
                config.show_sql,
            )?)
        }
        None => None,
    };
    let mut pipeline = Pipeline::new(classifier, TimeWindow::default()).with_events(events.clone());
    let mut printer = Printer::new(config, classifier, ticker.now())?;
    printer.logging = logging;
    let mut refresh = tokio::time::interval(REFRESH);
    let deadline = config.duration.map(|d| tokio::time::Instant::now() + d);
    let mut fatal: Option<String> = None;
    loop {
        tokio::select! {
            item = receiver.recv() => match item {
                None => break,
                Some(Item::Events(events)) => {
                    for tagged in &events {
                        printer.event(&mut pipeline, tagged)?;
                    }
                    pipeline.hand_over_events();
                    printer.redraw()?;
                }
                Some(Item::Notice(notice)) => {
                    if let Notice::Fatal { error } = &notice {
                        fatal = Some(error.clone());
                    }
                    printer.notice(&notice, config)?;
                }
            },
            _ = refresh.tick() => {
                printer.refresh(&pipeline, ticker.now());
                printer.redraw()?;
            }
            Some(report) = next_report(&mut manager) => {
                for message in &report.messages {
                    printer.message(message)?;
                }
                printer.logging = report.describe;
                printer.redraw()?;
            }
            name = signals.recv() => {
                printer.message(&format!("{name}: stopping"))?;
                break;
            }
            () = sleep_until(deadline) => {
                printer.message("--duration reached: stopping")?;
                break;
            }
        }
    }
    printer.finish()?;
    let mut events_written = true;
    if let (Some(sink), Some(path)) = (events, &config.events_table) {
        pipeline.flush_events();
        // A full disk costs the table, not the report.
        match sink.finish() {
            Ok(rows) => eprintln!("proxydoc: wrote {rows} events to {}", path.display()),
            Err(e) => {
                eprintln!(
                    "proxydoc: cannot write the --events-table file {}: {e}; the file is \
                     incomplete (free space or pick another path); the report is complete",
                    path.display()
                );
                events_written = false;
            }
        }
    }
    let mut stats = printer.stats;
    if let Some(error) = fatal {
        for stat in &mut stats {
            stat.error = Some(error.clone());
        }
    }
    Ok(Outcome {
        pipeline_summary: pipeline.snapshot(),
        stats,
        events_written,
    })
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Everything `tail` writes while it runs.
struct Printer<'a> {
    config: &'a TailConfig,
    classifier: &'a Classifier,
    stdout: io::Stdout,
    save: Option<BufWriter<File>>,
    connections: Connections,
    filter: Filter,
    /// Status line at the bottom of the terminal.
    status: bool,
    status_drawn: bool,
    width: usize,
    mode: &'static str,
    /// `live` or `polling`, what the mode returns to after waiting.
    reading: &'static str,
    events: u64,
    failures: u64,
    shown: u64,
    sampled: u64,
    all: Vec<Finding>,
    recent_findings: Vec<Finding>,
    recent: VecDeque<(Millis, u32, String)>,
    logging: Option<String>,
    stats: Vec<InputStats>,
    now: Millis,
}

impl<'a> Printer<'a> {
    fn new(config: &'a TailConfig, classifier: &'a Classifier, now: Millis) -> Result<Printer<'a>> {
        let save = match &config.save {
            Some(path) => Some(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot create the --save file {}", path.display())
            })?)),
            None => None,
        };
        let width = crate::tail::view::terminal_width().unwrap_or(120).max(40);
        Ok(Printer {
            config,
            classifier,
            stdout: io::stdout(),
            save,
            connections: Connections::default(),
            filter: config.filter.clone(),
            status: !config.ndjson && io::stdout().is_terminal(),
            status_drawn: false,
            width,
            mode: "starting",
            reading: "starting",
            events: 0,
            failures: 0,
            shown: 0,
            sampled: 0,
            all: Vec::new(),
            recent_findings: Vec::new(),
            recent: VecDeque::new(),
            logging: None,
            stats: config
                .groups
                .iter()
                .map(|g| InputStats {
                    path: format!("cloudwatch:{g}"),
                    format: Some(crate::model::Layout::CloudWatchLive),
                    ..InputStats::default()
                })
                .collect(),
            now,
        })
    }

    fn event(
        &mut self,
        pipeline: &mut Pipeline<'_>,
        tagged: &crate::source::cloudwatch::Tagged,
    ) -> Result<()> {
        let event = &tagged.event;
        let group = self
            .config
            .groups
            .get(tagged.group)
            .map_or("", String::as_str);
        if let Some(stat) = self.stats.get_mut(tagged.group) {
            stat.records += 1;
            stat.bytes += event.message.len() as u64;
        }
        if let Some(out) = self.save.as_mut() {
            write_saved_event(out, group, event).context("cannot write the --save file")?;
        }
        let input = u32::try_from(tagged.group).unwrap_or(u32::MAX);
        // Only the status line uses the recent view.
        if self.status {
            self.recent
                .push_back((event.timestamp, input, event.message.clone()));
            if self.recent.len() > RECENT_RECORDS {
                self.recent.pop_front();
            }
        }
        let record = RawRecord {
            text: &event.message,
            ts: Some(event.timestamp),
            input,
            stream: Some(&event.stream),
        };
        let mut line_out: Option<String> = None;
        let (classifier, connections, filter, config, width) = (
            self.classifier,
            &mut self.connections,
            &self.filter,
            self.config,
            self.width,
        );
        let mut failed = false;
        pipeline.push_inspect(record, &mut |classified, _text| {
            failed = classified.kind.is_failure();
            let origin = Origin {
                group,
                stream: &event.stream,
                event_id: Some(&event.id),
            };
            let shown = shown(classified, classifier, origin, connections, config.show_sql);
            if filter.matches(&shown) {
                line_out = Some(if config.ndjson {
                    ndjson(&shown)
                } else {
                    line(&shown, config.colour, width)
                });
            }
        });
        self.events += 1;
        self.failures += u64::from(failed);
        if let Some(text) = line_out {
            self.shown += 1;
            self.clear_status()?;
            writeln!(self.stdout, "{text}")?;
        }
        Ok(())
    }

    fn notice(&mut self, notice: &Notice, config: &TailConfig) -> Result<()> {
        let text = match notice {
            Notice::Mode {
                mode: Mode::Live, ..
            } => {
                self.mode = "live";
                format!(
                    "tailing {} with CloudWatch Live Tail (Ctrl-C ends and prints the report)",
                    config.groups.join(", ")
                )
            }
            Notice::Mode {
                mode: Mode::Polling,
                why,
            } => {
                self.mode = "polling";
                self.reading = "polling";
                match why {
                    Some(why) => format!(
                        "{why}; polling FilterLogEvents every {} s instead (Ctrl-C ends and prints the report)",
                        config.poll_interval.as_secs_f64()
                    ),
                    None => format!(
                        "tailing {} by polling FilterLogEvents every {} s (Ctrl-C ends and prints the report)",
                        config.groups.join(", "),
                        config.poll_interval.as_secs_f64()
                    ),
                }
            }
            Notice::Renewed { why } => {
                format!("Live Tail session renewed ({why}); the gap was back-filled")
            }
            Notice::Sampled { updates } => {
                self.sampled += updates;
                for stat in &mut self.stats {
                    let warning = "Live Tail sampled the stream (more than 500 events per second): events are missing and counts are lower bounds".to_string();
                    if !stat.warnings.contains(&warning) {
                        stat.warnings.push(warning);
                    }
                }
                let text = "WARNING: Live Tail is SAMPLING (more than 500 events per second): events are missing and counts are lower bounds; tail fewer groups or use --poll";
                if config.colour {
                    format!("\x1b[1;31m{text}\x1b[0m")
                } else {
                    text.to_string()
                }
            }
            Notice::Waiting { group } => {
                self.mode = "waiting";
                format!(
                    "log group {group} does not exist yet (the proxy has not logged anything since it was created): waiting for it"
                )
            }
            Notice::Appeared { group } => {
                self.mode = self.reading;
                format!("log group {group} exists now")
            }
            Notice::Retrying { error, delay } => {
                if delay.is_zero() {
                    error.clone()
                } else {
                    format!("{error}; retrying in {:.1} s", delay.as_secs_f64())
                }
            }
            Notice::Recovered => "CloudWatch answers again; nothing was missed".to_string(),
            Notice::Fatal { error } => format!("cannot read the logs: {error}"),
        };
        self.message(&text)
    }

    /// A line on stderr, keeping the status line below it.
    fn message(&mut self, text: &str) -> Result<()> {
        self.clear_status()?;
        eprintln!("proxydoc: {text}");
        self.redraw()
    }

    fn refresh(&mut self, pipeline: &Pipeline<'_>, now: Millis) {
        self.now = now;
        if !self.status {
            return;
        }
        if let Ok(summary) = pipeline.snapshot() {
            self.all = rules::evaluate(&summary, self.classifier);
        }
        // "Recent" is by CloudWatch's timestamp (when the event was logged), whatever time the
        // message text itself carries.
        let since = now - RECENT_MINUTES * 60_000;
        while self.recent.front().is_some_and(|(ts, _, _)| *ts < since) {
            self.recent.pop_front();
        }
        let mut recent = Pipeline::new(self.classifier, TimeWindow::default());
        for (ts, input, text) in &self.recent {
            recent.push(RawRecord {
                text,
                ts: Some(*ts),
                input: *input,
                stream: None,
            });
        }
        if let Ok(summary) = recent.finish() {
            self.recent_findings = rules::evaluate(&summary, self.classifier);
        }
    }

    fn clear_status(&mut self) -> io::Result<()> {
        if self.status_drawn {
            write!(self.stdout, "\r\x1b[2K")?;
            self.status_drawn = false;
        }
        Ok(())
    }

    fn redraw(&mut self) -> Result<()> {
        if self.status {
            self.clear_status()?;
            let status = Status {
                now: self.now,
                mode: self.mode,
                events: self.events,
                failures: self.failures,
                shown: self.shown,
                all: &self.all,
                recent: &self.recent_findings,
                recent_minutes: RECENT_MINUTES,
                logging: self.logging.clone(),
                sampled: self.sampled > 0,
            };
            write!(
                self.stdout,
                "{}",
                status_line(&status, self.config.colour, self.width)
            )?;
            self.status_drawn = true;
        }
        self.stdout.flush()?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.clear_status()?;
        self.stdout.flush()?;
        if let Some(out) = self.save.as_mut() {
            out.flush().context("cannot write the --save file")?;
        }
        Ok(())
    }
}

/// What the manager's task found on one check of the proxy.
struct LoggingReport {
    messages: Vec<String>,
    /// For the status line.
    describe: Option<String>,
}

/// The manager's latest [`Managed`] state, and whether a check (which may change the proxy)
/// was under way.
struct Shared {
    managed: Managed,
    checking: bool,
}

/// `tail --enable-logging`'s enhanced logging, managed on its own task: every
/// `--logging-check` it re-reads the proxy ([`Managed::check`]: the `--for` end, RDS's 24-hour
/// turn-off, `--renew-logging`) and reports over a channel. A check may wait minutes for the
/// proxy to be `available`; the event loop goes on meanwhile, and [`Manager::stop`] ends the
/// task at once whatever it is waiting for.
struct Manager {
    shared: Arc<std::sync::Mutex<Shared>>,
    reports: tokio::sync::mpsc::Receiver<LoggingReport>,
    task: tokio::task::JoinHandle<()>,
}

impl Manager {
    fn spawn(
        managed: Managed,
        life: Lifecycle,
        ticker: Ticker,
        every: Duration,
        wait: Duration,
    ) -> Manager {
        let shared = Arc::new(std::sync::Mutex::new(Shared {
            managed,
            checking: false,
        }));
        let (sender, reports) = tokio::sync::mpsc::channel(4);
        let state = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            // After a check that waited minutes, the next one comes a full period later.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                // The check works on a copy; the shared state changes only when it is done,
                // so a stop in the middle finds the state before it (and `checking`).
                let mut managed = {
                    let mut s = lock(&state);
                    s.checking = true;
                    s.managed.clone()
                };
                let messages = managed.check(&life, ticker.now(), wait).await;
                let describe = managed.describe();
                {
                    let mut s = lock(&state);
                    s.managed = managed;
                    s.checking = false;
                }
                if sender
                    .send(LoggingReport { messages, describe })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Manager {
            shared,
            reports,
            task,
        }
    }

    /// Ends the task (at once, whatever it waits for) and returns the state to restore. A check
    /// cut short may have turned logging on again (`--renew-logging`) before it could say so:
    /// then the restore turns it off, as for logging this run turned on.
    async fn stop(self) -> Managed {
        self.task.abort();
        // The task ends at its next await; its result (cancelled) says nothing more.
        let _ = self.task.await;
        let Shared {
            mut managed,
            checking,
        } = {
            let s = lock(&self.shared);
            Shared {
                managed: s.managed.clone(),
                checking: s.checking,
            }
        };
        if checking && managed.wanted.renew {
            managed.ours = true;
            managed.believed_on = true;
        }
        managed
    }
}

fn lock(shared: &std::sync::Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A poisoned lock means the task panicked between two whole writes of the state, which
    // is still the last one written.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The next report of the manager, or never when there is none.
async fn next_report(manager: &mut Option<&mut Manager>) -> Option<LoggingReport> {
    match manager {
        Some(m) => m.reports.recv().await,
        None => std::future::pending().await,
    }
}

/// Enhanced logging as `tail --enable-logging` manages it.
#[derive(Clone)]
struct Managed {
    wanted: ManagedLogging,
    state: ProxyLogging,
    /// This run turned logging on (or took over an overdue one), so it turns it off.
    ours: bool,
    marks: Marks,
    believed_on: bool,
    warned_rds_off: bool,
    unreadable_reported: bool,
}

impl Managed {
    async fn begin(
        life: &Lifecycle,
        wanted: &ManagedLogging,
        state: ProxyLogging,
        ticker: &Ticker,
        wait: Duration,
    ) -> Result<Managed, String> {
        let proxy = &wanted.proxy;
        let now = ticker.now();
        let marks = Marks::from_tags(&state.tags);
        let status = assess(state.debug_logging, &marks, now);
        eprintln!(
            "proxydoc: note: enhanced logging adds overhead to the proxy, costs CloudWatch Logs ingestion, and may write SQL statement text (with its data) into the proxy's log group"
        );
        if status.on && !status.overdue {
            let since = match status.state {
                State::Tracked { enabled_at, .. } => format!(
                    "since {} (by {})",
                    rfc3339(enabled_at),
                    marks.enabled_by.as_deref().unwrap_or("unknown")
                ),
                _ => "(turned on outside proxydoc)".to_string(),
            };
            eprintln!(
                "proxydoc: enhanced logging is already on for proxy {proxy} {since}; the tail leaves it on at the end, as it found it"
            );
            return Ok(Managed {
                wanted: wanted.clone(),
                state,
                ours: false,
                marks,
                believed_on: true,
                warned_rds_off: false,
                unreadable_reported: false,
            });
        }
        if !state.status.is_available() {
            return Err(format!(
                "proxy {proxy} is `{}`: wait until it is `available` and run this again (nothing was changed)",
                state.status
            ));
        }
        if status.overdue {
            eprintln!(
                "proxydoc: a previous proxydoc run left enhanced logging on past its turn-off time ({}); this tail takes it over and turns it off at the end",
                marks.disable_after.map_or("unknown".to_string(), rfc3339)
            );
        }
        let by = life.caller().await;
        let plan = plan_enable(&status, now, wanted.for_ms, &by);
        for note in &plan.notes {
            eprintln!("proxydoc: note: {note}");
        }
        turn_on(life, &state, plan.modify, &plan.marks.to_tags(), wait).await?;
        let until = plan.marks.disable_after.unwrap_or(plan.rds_off_at);
        eprintln!(
            "proxydoc: enhanced logging is on for proxy {proxy}; the tail turns it off when it ends, and at {} ({} from now) at the latest{}; RDS turns it off by itself at {}",
            rfc3339(until),
            human(until - now),
            if wanted.keep {
                " (--keep-logging: not at the end)"
            } else {
                ""
            },
            rfc3339(plan.rds_off_at)
        );
        Ok(Managed {
            wanted: wanted.clone(),
            state,
            ours: true,
            marks: plan.marks,
            believed_on: true,
            warned_rds_off: false,
            unreadable_reported: false,
        })
    }

    /// For the status line.
    fn describe(&self) -> Option<String> {
        Some(match (self.believed_on, self.marks.disable_after) {
            (false, _) => "off".to_string(),
            (true, Some(until)) if self.ours => {
                format!("on until {}", crate::timefmt::hh_mm(until))
            }
            (true, _) => "on".to_string(),
        })
    }

    /// Re-reads the proxy: turns logging off when `--for` has passed, notices when RDS (or
    /// someone) turned it off, warns before RDS's 24 hours end, and renews with
    /// `--renew-logging`. Returns what to tell the user.
    async fn check(&mut self, life: &Lifecycle, now: Millis, wait: Duration) -> Vec<String> {
        let proxy = self.wanted.proxy.clone();
        let mut out = Vec::new();
        if self.ours
            && self.believed_on
            && self.marks.disable_after.is_some_and(|after| now >= after)
        {
            return match turn_off(life, &self.state, true, true, None).await {
                Ok(()) => {
                    self.ours = false;
                    self.believed_on = false;
                    vec![format!(
                        "turned enhanced logging off on proxy {proxy}: its time (--for) ended at {}; the tail goes on without it",
                        self.marks.disable_after.map_or(String::new(), rfc3339)
                    )]
                }
                Err(e) => vec![format!(
                    "could not turn enhanced logging off on proxy {proxy} although its time has passed: {e:#}; it is still ON (`proxydoc logging disable --proxy {proxy}`)"
                )],
            };
        }
        let state = match life.read(&proxy).await {
            Ok(state) => {
                self.unreadable_reported = false;
                state
            }
            Err(e) => {
                if !self.unreadable_reported {
                    self.unreadable_reported = true;
                    out.push(format!(
                        "cannot read the logging state of proxy {proxy}: {e} (will try again)"
                    ));
                }
                return out;
            }
        };
        let rds_off_at = self
            .marks
            .enabled_at
            .map(|at| at + crate::enhanced_logging::RDS_AUTO_OFF);
        if self.believed_on && !state.debug_logging {
            self.believed_on = false;
            let reason = match rds_off_at {
                Some(off) if now >= off - 60_000 => format!(
                    "RDS turned enhanced logging off on proxy {proxy} by itself, 24 hours after it was enabled at {}",
                    self.marks.enabled_at.map_or(String::new(), rfc3339)
                ),
                _ => format!("enhanced logging was turned off on proxy {proxy} outside this tail"),
            };
            if self.wanted.renew {
                let by = life.caller().await;
                let status = assess(false, &Marks::default(), now);
                let plan = plan_enable(&status, now, self.wanted.for_ms, &by);
                match turn_on(life, &state, true, &plan.marks.to_tags(), wait).await {
                    Ok(()) => {
                        self.ours = true;
                        self.believed_on = true;
                        self.warned_rds_off = false;
                        self.marks = plan.marks;
                        out.push(format!(
                            "{reason}; turned it on again (--renew-logging) until {}",
                            self.marks.disable_after.map_or(String::new(), rfc3339)
                        ));
                    }
                    Err(e) => out.push(format!("{reason}; turning it on again failed: {e}")),
                }
            } else {
                if !self.marks.is_empty() {
                    // proxydoc's tags are stale now (whichever run wrote them).
                    let _ = turn_off(life, &state, false, true, None).await;
                    self.marks = Marks::default();
                }
                self.ours = false;
                out.push(format!(
                    "{reason}; the tail goes on without it (--renew-logging turns it on again automatically)"
                ));
            }
            self.state = state;
            return out;
        }
        if self.believed_on
            && !self.warned_rds_off
            && let Some(off) = rds_off_at
            && now < off
            && off - now <= RDS_OFF_WARNING
        {
            self.warned_rds_off = true;
            out.push(format!(
                "RDS turns enhanced logging off on proxy {proxy} at {} (in {}), 24 hours after it was enabled; {}",
                rfc3339(off),
                human(off - now),
                if self.wanted.renew {
                    "proxydoc turns it on again then (--renew-logging)"
                } else {
                    "--renew-logging would turn it on again"
                }
            ));
        }
        self.state = state;
        out
    }

    /// Restores the state found at the start. Returns false when logging could not be turned
    /// off (and says what is left on). A second signal stops the waiting, not the requests.
    async fn end(self, life: &Lifecycle, wait: Duration, signals: &mut Signals) -> bool {
        let proxy = &self.wanted.proxy;
        if !self.ours {
            return true;
        }
        if self.wanted.keep {
            eprintln!(
                "proxydoc: enhanced logging stays on for proxy {proxy} (--keep-logging) until {}; `proxydoc logging status --proxy {proxy}` turns it off after that, `proxydoc logging disable --proxy {proxy}` now",
                self.marks
                    .disable_after
                    .map_or("unknown".to_string(), rfc3339)
            );
            return true;
        }
        eprintln!("proxydoc: turning enhanced logging off on proxy {proxy}…");
        // The requests (logging off, tags removed) always complete: the SDK's timeouts bound
        // them. Only the wait for the proxy to be `available` again may be cut short.
        if let Err(e) = turn_off(life, &self.state, self.believed_on, true, None).await {
            eprintln!(
                "proxydoc: could not turn enhanced logging off on proxy {proxy}: {e:#}. It may still be ON: run `proxydoc logging disable --proxy {proxy}` (RDS turns it off by itself 24 hours after it was enabled)"
            );
            return false;
        }
        let settled = async {
            if self.believed_on {
                let step = [Step::WaitAvailable {
                    proxy: proxy.clone(),
                }];
                execute(life, &step, wait).await.map_err(|(_, e)| e)
            } else {
                Ok(())
            }
        };
        tokio::select! {
            result = settled => match result {
                Ok(()) => {
                    eprintln!("proxydoc: enhanced logging is off again on proxy {proxy}, as before the tail");
                    true
                }
                Err(e) => {
                    eprintln!(
                        "proxydoc: enhanced logging was turned off on proxy {proxy}, but the proxy did not become available again: {e:#}"
                    );
                    false
                }
            },
            name = signals.recv() => {
                eprintln!(
                    "proxydoc: {name} again: stopped waiting. Check with `proxydoc logging status --proxy {proxy}`; the tags say when it must be off, so the next proxydoc run cleans up"
                );
                false
            }
        }
    }
}

/// A signal arrived while logging was being turned on. If it was on (and not overdue) before,
/// nothing was changed; otherwise whatever went through is undone: logging off, tags removed.
async fn abandon_enable(
    life: &Lifecycle,
    wanted: &ManagedLogging,
    before: &ProxyLogging,
    now: Millis,
    wait: Duration,
) -> ExitCode {
    let proxy = &wanted.proxy;
    let status = assess(before.debug_logging, &Marks::from_tags(&before.tags), now);
    if status.on && !status.overdue {
        eprintln!(
            "proxydoc: enhanced logging was already on for proxy {proxy}; nothing was changed"
        );
        return ExitCode::InputError;
    }
    match life.read(proxy).await {
        Ok(state) => {
            let tagged = !Marks::from_tags(&state.tags).is_empty();
            if state.debug_logging || tagged {
                match turn_off(life, &state, state.debug_logging, tagged, Some(wait)).await {
                    Ok(()) => {
                        eprintln!("proxydoc: enhanced logging is off on proxy {proxy}, as before")
                    }
                    Err(e) => eprintln!(
                        "proxydoc: could not turn enhanced logging off on proxy {proxy}: {e:#}; run `proxydoc logging disable --proxy {proxy}`"
                    ),
                }
            } else {
                eprintln!("proxydoc: nothing was changed on proxy {proxy}");
            }
        }
        Err(e) => eprintln!(
            "proxydoc: cannot read proxy {proxy} ({e}); check it with `proxydoc logging status --proxy {proxy}`"
        ),
    }
    ExitCode::InputError
}

/// Without `--enable-logging`: turn off what a crashed proxydoc run left on past its time, drop
/// stale tags, and hint when enhanced logging is off.
async fn clean_up_left_over(life: &Lifecycle, proxy: &str, now: Millis) {
    let state = match life.read(proxy).await {
        Ok(state) => state,
        Err(e) => {
            eprintln!("proxydoc: note: cannot read the logging state of proxy {proxy}: {e}");
            return;
        }
    };
    let marks = Marks::from_tags(&state.tags);
    let status = assess(state.debug_logging, &marks, now);
    if status.overdue {
        match turn_off(life, &state, true, true, None).await {
            Ok(()) => eprintln!(
                "proxydoc: a previous proxydoc run left enhanced logging on for proxy {proxy} past its turn-off time ({}): turned it off",
                marks.disable_after.map_or("unknown".to_string(), rfc3339)
            ),
            Err(e) => eprintln!(
                "proxydoc: enhanced logging on proxy {proxy} is past proxydoc's turn-off time and could not be turned off: {e:#}"
            ),
        }
    } else if status.state == State::StaleTags {
        let _ = turn_off(life, &state, false, true, None).await;
    }
    if !state.debug_logging || status.overdue {
        eprintln!(
            "proxydoc: note: enhanced logging is off for proxy {proxy}: the proxy logs less about each connection; --enable-logging turns it on for the tail"
        );
    }
}
