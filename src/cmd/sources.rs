//! Every source into the pipeline: `--threads` workers that each read the next unread file
//! (so export trees of gzip objects inflate in parallel) and count its batches themselves,
//! handing batches through one bounded channel to workers with no file left; CloudWatch
//! groups through the async fetcher into the same channel. The workers' aggregators merge at
//! the end. Emptied batches go back through a [`BatchPool`], so batch buffers are allocated
//! once per run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;

use anyhow::{Context as _, Result};

use crate::aggregate::SessionOrder;
use crate::aggregate::events::EventsSink;
use crate::aws::logs::LogsApi;
use crate::classify::Classifier;
use crate::config::{AnalyzeConfig, CloudConfig};
use crate::model::{InputStats, Layout, RawRecord};
use crate::output::{events_sink, write_saved_event};
use crate::pipeline::{Batch, BatchPool, Pipeline};
use crate::rules;
use crate::source::cloudwatch::{self, FetchPlan, Progress, Tagged};
use crate::source::{self, Input, InputFormat};

/// Batches the channel holds for the workers that take from it (files of other workers, the
/// CloudWatch fetch).
const CHANNEL_BATCHES: usize = 8;

/// What the run read, found and concluded; the last is false when the `--events` file could
/// not be written (the error is already on stderr; the report is still complete).
type PipelineOutput = (
    Vec<InputStats>,
    crate::aggregate::Summary,
    Vec<crate::model::Finding>,
    bool,
);

/// The pattern catalogue a run classifies with: built already, or to be built on the
/// pipeline's thread while the readers read the first inputs (the built-in catalogue's automata
/// and expressions take about 10 ms, the time to read and inflate the first objects of an
/// export tree).
pub(super) enum Catalogue {
    Ready(Arc<Classifier>),
    Builtin,
}

impl Catalogue {
    fn into_classifier(self) -> Result<Arc<Classifier>> {
        match self {
            Catalogue::Ready(classifier) => Ok(classifier),
            Catalogue::Builtin => Ok(Arc::new(crate::classify::load(None)?)),
        }
    }
}

/// Runs every source into one pipeline: files and the channel on the workers of one blocking
/// task ([`Work`]), CloudWatch groups through the async fetcher into the channel.
pub(super) async fn run_pipeline(
    config: &AnalyzeConfig,
    catalogue: Catalogue,
    inputs: Vec<Input>,
    context: Option<Result<crate::aws::AwsContext, String>>,
) -> Result<PipelineOutput> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Batch>(CHANNEL_BATCHES);
    let window = config.window;
    let workers = config.workers;
    let pool = Arc::new(BatchPool::default());
    let worker_pool = Arc::clone(&pool);
    let order = Arc::new(SessionOrder::default());
    let worker_order = Arc::clone(&order);
    let events = match &config.events {
        Some(path) => {
            let names = inputs.iter().map(Input::name).collect();
            Some(events_sink(path, "--events", names, config.show_sql)?)
        }
        None => None,
    };
    let worker_events = events.clone();
    let first_group_input = inputs.len();
    let forced = config.input_format;
    let file_sender = sender.clone();
    // The files' bar (the CloudWatch fetch has its own: one bar at a time).
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let files_bar =
        (super::progress::wanted(config.quiet) && !inputs.is_empty() && config.cloud.is_none())
            .then(|| super::progress::files(&inputs, Arc::clone(&read)));
    let processor = tokio::task::spawn_blocking(move || {
        let work = Work {
            copies: source::same_as_earlier(&inputs),
            inputs: &inputs,
            forced,
            next: std::sync::atomic::AtomicUsize::new(0),
            read: &read,
            queue: std::sync::Mutex::new(receiver),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            takers: std::sync::atomic::AtomicUsize::new(0),
            pool: &worker_pool,
            order: &worker_order,
            events: worker_events.as_ref(),
            window,
            classifier: Latch::default(),
        };
        let (stats, pipelines, built) = work.run(workers, catalogue, file_sender);
        let classifier = built?;
        let pipeline = crate::pipeline::merge(&classifier, window, pipelines, &worker_order);
        let summary = pipeline.finish()?;
        let findings = rules::evaluate(&summary, &classifier);
        anyhow::Ok((stats, summary, findings))
    });

    let cloud_stats = match (&config.cloud, context) {
        (Some(cloud), Some(context)) => {
            let into = Route {
                sender,
                pool,
                order,
                events: events.clone(),
            };
            let show = super::progress::wanted(config.quiet);
            read_cloudwatch(cloud, first_group_input, into, context, show).await?
        }
        _ => {
            drop(sender);
            Vec::new()
        }
    };
    let (mut stats, summary, findings) = processor
        .await
        .context("the analysis stopped unexpectedly")??;
    drop(files_bar);
    stats.extend(cloud_stats);
    // `stats[i]` is input `i`: the files, then the groups in the order given.
    warn_of_repeats(&mut stats, &summary.repeats);
    let mut events_written = true;
    if let (Some(sink), Some(path)) = (events, &config.events) {
        // The analysis is done: a full disk costs the table, not the report.
        match sink.finish() {
            Ok(rows) => eprintln!("proxydoc: wrote {rows} events to {}", path.display()),
            Err(e) => {
                eprintln!(
                    "proxydoc: cannot write the --events file {}: {e}; the file is incomplete \
                     (free space or pick another path and run again); the report is complete",
                    path.display()
                );
                events_written = false;
            }
        }
    }
    Ok((stats, summary, findings, events_written))
}

/// Tells, on each input that holds events an earlier input holds too, which input and how
/// many: they were counted twice.
fn warn_of_repeats(stats: &mut [InputStats], repeats: &[crate::aggregate::Repeat]) {
    // An export tree that repeats another has a repeat per object: the first few are told
    // in full, the rest in one warning (the JSON report's `input.repeats` has them all).
    const IN_FULL: usize = 10;
    let in_full = if repeats.len() > IN_FULL + 1 {
        IN_FULL
    } else {
        repeats.len()
    };
    let rest = repeats.get(in_full..).unwrap_or_default();
    if let Some(first) = rest.first().and_then(|r| stats.get_mut(r.input as usize)) {
        let (about, events) = told(
            rest.iter().map(|r| r.events).sum(),
            rest.iter().all(|r| r.exact),
        );
        first.warnings.push(format!(
            "this input and {} more after it hold {about}{events} events that earlier inputs \
             hold too (the JSON report's input.repeats names each): they are counted twice, \
             and so are their sessions. Give each window of the log once",
            rest.len() - 1,
        ));
    }
    for repeat in repeats.iter().take(in_full) {
        let Some(earlier) = stats.get(repeat.earlier as usize).map(|s| s.path.clone()) else {
            continue;
        };
        let Some(input) = stats.get_mut(repeat.input as usize) else {
            continue;
        };
        let (about, events) = told(repeat.events, repeat.exact);
        let span = if repeat.first == repeat.last {
            format!("at {}", crate::timefmt::rfc3339(repeat.first))
        } else {
            format!(
                "from {} to {}",
                crate::timefmt::rfc3339(repeat.first),
                crate::timefmt::rfc3339(repeat.last)
            )
        };
        let others = match repeat.others {
            0 => String::new(),
            1 => "; 1 other earlier input holds some of them as well".to_string(),
            n => format!("; {n} other earlier inputs hold some of them as well"),
        };
        input.warnings.push(format!(
            "holds {about}{events} events that {earlier} holds too, with the same times and \
             messages, {span}{others}: they are counted twice, and so are their sessions. Give \
             each window of the log once: leave out the inputs that repeat another, or \
             download or export windows that do not overlap"
        ));
    }
}

/// A count of repeated events as a warning tells it: exact, or an estimate to three figures
/// (the sample does not tell more) after "about ".
fn told(events: u64, exact: bool) -> (&'static str, u64) {
    if exact {
        return ("", events);
    }
    let unit = 10u64.pow(events.max(1).ilog10().saturating_sub(2));
    ("about ", (events + unit / 2) / unit * unit)
}

/// Where a source's batches go: the channel to the workers, the batch pool, the session join's
/// order, and the `--events` table (to name the inputs it finds).
struct Route {
    sender: tokio::sync::mpsc::Sender<Batch>,
    pool: Arc<BatchPool>,
    order: Arc<SessionOrder>,
    events: Option<Arc<EventsSink>>,
}

/// Fetches the CloudWatch groups into the pipeline (and `--save`). Problems with AWS
/// (configuration, a missing group, a failed slice) become per-group input errors, so files
/// given alongside are still analysed. The `i`-th group given is input `first_input + i`,
/// and its statistics are the `i`-th returned, whether it was found or not.
async fn read_cloudwatch(
    cloud: &CloudConfig,
    first_input: usize,
    into: Route,
    context: Result<crate::aws::AwsContext, String>,
    show: bool,
) -> Result<Vec<InputStats>> {
    let Route {
        sender,
        pool,
        order,
        events,
    } = into;
    let stat_for = |group: &str| InputStats {
        path: format!("cloudwatch:{group}"),
        format: Some(Layout::CloudWatch),
        ..InputStats::default()
    };
    let context = match context {
        Ok(context) => context,
        Err(e) => {
            return Ok(cloud
                .groups
                .iter()
                .map(|g| InputStats {
                    error: Some(e.clone()),
                    ..stat_for(g)
                })
                .collect());
        }
    };
    let api = Arc::new(context.logs());
    // One entry per group given, in order; the found ones' are filled in once fetched.
    let mut stats: Vec<InputStats> = cloud.groups.iter().map(|g| stat_for(g)).collect();
    let mut groups = Vec::new();
    // Each found group's place among the groups given.
    let mut places = Vec::new();
    for (place, group) in cloud.groups.iter().enumerate() {
        let error = match api.find_group(group).await {
            Ok(Some(_)) => {
                groups.push(group.clone());
                places.push(place);
                continue;
            }
            Ok(None) => format!(
                "log group {group} not found in {}: the proxy has not logged anything since it was created, or the name or region is wrong (list proxies with `aws rds describe-db-proxies --region {}`)",
                context.region(),
                context.region()
            ),
            Err(e) => e.to_string(),
        };
        if let Some(stat) = stats.get_mut(place) {
            stat.error = Some(error);
        }
    }
    if groups.is_empty() {
        return Ok(stats);
    }

    let save = match &cloud.save {
        Some(path) => Some(BufWriter::new(File::create(path).with_context(|| {
            format!("cannot create the --save file {}", path.display())
        })?)),
        None => None,
    };
    let plan = FetchPlan {
        page_limit: cloud.page_limit,
        ..FetchPlan::new(groups.clone(), cloud.start, cloud.end, cloud.max_tps)
    };
    let progress = Arc::new(Progress::new());
    let (mut chunks, fetcher) = cloudwatch::spawn(Arc::clone(&api), plan, Arc::clone(&progress));
    let bar =
        show.then(|| super::progress::cloudwatch(cloud.start, cloud.end, Arc::clone(&progress)));

    let base = u32::try_from(first_input).unwrap_or(u32::MAX);
    // The input index of the `j`-th group found.
    let input_of = {
        let places = places.clone();
        move |found: usize| {
            let place = places.get(found).copied().unwrap_or(found);
            base.saturating_add(u32::try_from(place).unwrap_or(u32::MAX))
        }
    };
    if let Some(sink) = &events {
        for (found, group) in groups.iter().enumerate() {
            sink.name_input(input_of(found), format!("cloudwatch:{group}"));
        }
    }
    let saved_groups = groups.clone();
    let (chunk_sender, mut chunk_receiver) = tokio::sync::mpsc::channel::<Vec<Tagged>>(2);
    let writer = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut save = save;
        // Batches are numbered per group, in the order the merger hands events out; for the
        // session join the groups are one stream, in that order.
        let mut numbers: std::collections::HashMap<u32, (u64, u64)> =
            std::collections::HashMap::new();
        let mut sent = 0u64;
        let mut send = |mut batch: Batch| -> bool {
            if batch.is_empty() {
                pool.give(batch);
                return true;
            }
            let (number, lines) = numbers.entry(batch.input()).or_default();
            batch.set_number(*number, *lines);
            *number += 1;
            *lines += batch.len() as u64;
            batch.set_order(base, sent);
            sent += 1;
            order.admit(base);
            sender.blocking_send(batch).is_ok()
        };
        while let Some(chunk) = chunk_receiver.blocking_recv() {
            let mut batch = pool.take(base);
            for tagged in &chunk {
                let index = input_of(tagged.group);
                if index != batch.input() || batch.is_full() {
                    let full = std::mem::replace(&mut batch, pool.take(index));
                    if !send(full) {
                        return Ok(());
                    }
                }
                batch.push(RawRecord {
                    text: &tagged.event.message,
                    ts: Some(tagged.event.timestamp),
                    input: index,
                    stream: Some(&tagged.event.stream),
                });
                if let Some(out) = save.as_mut() {
                    let group = saved_groups.get(tagged.group).map_or("", String::as_str);
                    write_saved_event(out, group, &tagged.event)
                        .context("cannot write the --save file")?;
                }
            }
            if !send(batch) {
                return Ok(());
            }
        }
        if let Some(mut out) = save {
            out.flush().context("cannot write the --save file")?;
        }
        Ok(())
    });
    while let Some(chunk) = chunks.recv().await {
        if chunk_sender.send(chunk).await.is_err() {
            break;
        }
    }
    // If the analysis stopped early, dropping the receiver lets the fetch tasks end instead of
    // waiting on a full channel.
    drop(chunks);
    drop(chunk_sender);
    let outcomes = fetcher
        .await
        .context("the CloudWatch fetcher stopped unexpectedly")?;
    drop(bar);
    writer
        .await
        .context("the CloudWatch writer stopped unexpectedly")??;
    for (found, outcome) in outcomes.into_iter().enumerate() {
        if let Some(stat) = places.get(found).and_then(|&place| stats.get_mut(place)) {
            *stat = InputStats {
                records: outcome.events,
                pages: outcome.pages,
                throttles: outcome.throttles,
                error: (!outcome.errors.is_empty()).then(|| outcome.errors.join("; ")),
                ..stat_for(&outcome.group)
            };
        }
    }
    Ok(stats)
}

/// A value set once by one thread and waited for by others: the classifier, built while the
/// first inputs are read (`None`: it could not be built; the run reports why).
struct Latch<T> {
    value: std::sync::OnceLock<Option<T>>,
    lock: std::sync::Mutex<()>,
    ready: std::sync::Condvar,
}

impl<T> Default for Latch<T> {
    fn default() -> Self {
        Self {
            value: std::sync::OnceLock::new(),
            lock: std::sync::Mutex::new(()),
            ready: std::sync::Condvar::new(),
        }
    }
}

impl<T> Latch<T> {
    fn set(&self, value: Option<T>) {
        let _ = self.value.set(value);
        // Taken before the waiters are woken: a waiter between its look and its wait holds it.
        let _gate = self.lock.lock();
        self.ready.notify_all();
    }

    fn wait(&self) -> Option<&T> {
        if let Some(value) = self.value.get() {
            return value.as_ref();
        }
        let mut gate = self.lock.lock().ok()?;
        loop {
            if let Some(value) = self.value.get() {
                return value.as_ref();
            }
            gate = self.ready.wait(gate).ok()?;
        }
    }
}

/// What the workers of a run share. Each worker reads the next unread file (export trees of
/// many gzip objects are inflated in parallel) and counts its batches itself, sending them to
/// the channel only while another worker takes from it, until the channel is full: a worker
/// that has no file left takes batches from the channel (another's file, CloudWatch groups)
/// until it closes, and so does, for a while, one held by the session join's bound.
///
/// Workers that only read and workers that only count, four threads on two cores, handed
/// every batch from one to the other: the readers were always ahead, waited on a full channel
/// and were woken for each batch taken, and the cores stood idle between those hand-overs
/// about a tenth of the run (BENCHMARKS.md, session 49).
struct Work<'a> {
    inputs: &'a [Input],
    copies: Vec<Option<usize>>,
    forced: Option<InputFormat>,
    /// The next input to read.
    next: std::sync::atomic::AtomicUsize,
    /// The bytes read, for the progress bar.
    read: &'a std::sync::atomic::AtomicU64,
    queue: std::sync::Mutex<tokio::sync::mpsc::Receiver<Batch>>,
    /// Workers waiting for a batch from the channel.
    waiting: std::sync::atomic::AtomicUsize,
    /// Workers that have no file left to read: they take their batches from the channel.
    takers: std::sync::atomic::AtomicUsize,
    pool: &'a BatchPool,
    order: &'a SessionOrder,
    events: Option<&'a Arc<EventsSink>>,
    window: crate::pipeline::TimeWindow,
    classifier: Latch<Arc<Classifier>>,
}

/// What [`Work::run`] gives: the files' statistics in input order, each worker's pipeline, and
/// the classifier (or why it could not be built).
type WorkOut<'w> = (
    Vec<InputStats>,
    Vec<Option<Pipeline<'w>>>,
    Result<Arc<Classifier>>,
);

impl Work<'_> {
    /// Runs `workers` workers over the files and the channel (until every sender of it is
    /// gone: `sender`, the files' one, is dropped by the workers when the files are read),
    /// building the classifier from `catalogue` on this thread meanwhile.
    fn run(&self, workers: usize, catalogue: Catalogue, sender: Sender) -> WorkOut<'_> {
        let workers = workers.max(1);
        let mut built = None;
        let build = || match catalogue.into_classifier() {
            Ok(classifier) => {
                self.classifier.set(Some(Arc::clone(&classifier)));
                built = Some(Ok(classifier));
            }
            Err(e) => {
                self.classifier.set(None);
                built = Some(Err(e));
            }
        };
        // Every worker on a thread of its own, even a single one: the catalogue is built here
        // meanwhile.
        let done: Vec<Option<WorkerOut<'_>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|id| {
                    let sender = sender.clone();
                    crate::pipeline::spawn_named(scope, format!("proxydoc-work-{id}"), move || {
                        self.work(id, sender)
                    })
                })
                .collect();
            build();
            if handles.iter().all(Option::is_none) {
                // The system could not start a thread: all on this one.
                return vec![Some(self.work(0, sender))];
            }
            drop(sender);
            // A worker cannot panic short of a bug: its inputs are then reported as failed,
            // and its batches are missing from the counts.
            handles.into_iter().map(|h| h?.join().ok()).collect()
        });
        let mut stats: Vec<Option<InputStats>> = self.inputs.iter().map(|_| None).collect();
        let mut pipelines = Vec::with_capacity(done.len());
        for worker in done {
            let (read, pipeline) = worker.unzip();
            for (position, input) in read.into_iter().flatten() {
                if let Some(slot) = stats.get_mut(position) {
                    *slot = Some(input);
                }
            }
            pipelines.push(pipeline.flatten());
        }
        let stats = stats
            .into_iter()
            .zip(self.inputs)
            .map(|(stats, input)| {
                stats.unwrap_or_else(|| InputStats {
                    path: input.name(),
                    error: Some("the reader of this input stopped unexpectedly".to_string()),
                    ..InputStats::default()
                })
            })
            .collect();
        let built =
            built.unwrap_or_else(|| Err(anyhow::anyhow!("the pattern catalogue was not built")));
        (stats, pipelines, built)
    }

    /// One worker: the files it takes, then the channel's batches until it closes; the
    /// statistics of the files it read, by position, and its pipeline (`None`: it counted
    /// nothing).
    fn work(&self, id: usize, sender: Sender) -> WorkerOut<'_> {
        let _release = crate::pipeline::Release(self.order);
        let mut counter = Counter {
            id,
            work: self,
            worker: None,
            failed: false,
        };
        let mut done = Vec::new();
        let mut inflater = source::Inflater::default();
        loop {
            let position = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(input) = self.inputs.get(position) else {
                break;
            };
            let index = u32::try_from(position).unwrap_or(u32::MAX);
            let how = match self.copies.get(position).copied().flatten() {
                Some(k) => self
                    .inputs
                    .get(k)
                    .map_or(Reading::Read(self.forced), Reading::CopyOf),
                None => Reading::Read(self.forced),
            };
            let batches = Batcher {
                batch: self.pool.take(index),
                closed: false,
                sender: &sender,
                counter: &mut counter,
            };
            done.push((
                position,
                read_input(input, how, index, batches, self.read, &mut inflater),
            ));
        }
        // The files are read: the channel closes once every worker and the CloudWatch fetch
        // have dropped their senders.
        drop(sender);
        self.takers
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        while !counter.failed {
            let Some(batch) = self.take() else {
                break;
            };
            counter.count(batch);
        }
        (done, counter.worker.map(crate::pipeline::Worker::finish))
    }

    /// The channel's next batch, waiting for it; `None` once it is closed and empty.
    fn take(&self) -> Option<Batch> {
        use std::sync::atomic::Ordering;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let batch = self
            .queue
            .lock()
            .ok()
            .and_then(|mut queue| queue.blocking_recv());
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        batch
    }

    /// The channel's next batch if one is there now and no other worker is taking one (that
    /// one then counts it).
    fn try_take(&self) -> Option<Batch> {
        self.queue.try_lock().ok()?.try_recv().ok()
    }
}

/// What one worker gives: the statistics of the files it read, by position, and its pipeline
/// (`None`: it counted nothing).
type WorkerOut<'w> = (Vec<(usize, InputStats)>, Option<Pipeline<'w>>);

/// The files' sender of the channel.
type Sender = tokio::sync::mpsc::Sender<Batch>;

/// A worker's counting: its pipeline, made at its first batch once the classifier is built.
struct Counter<'w> {
    id: usize,
    work: &'w Work<'w>,
    worker: Option<crate::pipeline::Worker<'w>>,
    /// The classifier could not be built: nothing is counted, and reading stops.
    failed: bool,
}

impl Counter<'_> {
    /// Counts `batch` and gives it back to the pool; false when the run failed.
    fn count(&mut self, batch: Batch) -> bool {
        let work = self.work;
        if self.worker.is_none() && !self.failed {
            match work.classifier.wait() {
                Some(classifier) => {
                    self.worker = Some(crate::pipeline::Worker::new(
                        self.id,
                        classifier,
                        work.window,
                        work.events,
                    ));
                }
                None => self.failed = true,
            }
        }
        if let Some(worker) = self.worker.as_mut() {
            worker.process(&batch, work.order);
        }
        work.pool.give(batch);
        !self.failed
    }

    /// Hands `batch` on: to the channel when another worker takes batches from it, else
    /// counted here. First, a reader of a stream after the one being joined waits while too
    /// many session rows wait, counting the batches sent to it meanwhile. False when the run
    /// failed.
    fn hand_on(&mut self, batch: Batch, sender: &Sender) -> bool {
        use std::sync::atomic::Ordering;
        let work = self.work;
        let stream = batch.stream();
        if work.order.holds(stream) {
            work.waiting.fetch_add(1, Ordering::SeqCst);
            work.order
                .admit_helping(stream, &mut || match work.try_take() {
                    Some(other) => {
                        self.count(other);
                        true
                    }
                    None => false,
                });
            work.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        // Sent while another worker takes its batches from the channel, kept full for it
        // (one that waits for a batch between two of a reader's would wait about half the
        // time); else, or when it is full, counted here.
        let batch =
            if work.takers.load(Ordering::SeqCst) > 0 || work.waiting.load(Ordering::SeqCst) > 0 {
                match sender.try_send(batch) {
                    Ok(()) => return true,
                    Err(tokio::sync::mpsc::error::TrySendError::Full(batch)) => batch,
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return false,
                }
            } else {
                batch
            };
        self.count(batch)
    }
}

/// How an input is read.
#[derive(Clone, Copy)]
enum Reading<'a> {
    /// In its layout (`--input-format`, else found from its content).
    Read(Option<InputFormat>),
    /// Not at all: it holds the same bytes as this earlier input.
    CopyOf(&'a Input),
}

/// Reads one input into batches; the last one (empty when the input is) tells the session
/// join that the input ended. A reader ahead of the input being joined waits while too many
/// session rows wait ([`SessionOrder::admit`]). A copy of an earlier input is not read: the
/// report says so in its warnings.
fn read_input(
    input: &Input,
    how: Reading<'_>,
    index: u32,
    mut batches: Batcher<'_, '_>,
    read: &std::sync::atomic::AtomicU64,
    inflater: &mut source::Inflater,
) -> InputStats {
    let stats = match how {
        Reading::CopyOf(original) => InputStats {
            path: input.name(),
            warnings: vec![format!(
                "the same bytes as {}: not read again, so that its events are not counted twice",
                original.name()
            )],
            ..InputStats::default()
        },
        Reading::Read(forced) => {
            source::read_into(input, index, forced, Some(read), inflater, &mut batches)
        }
    };
    if !batches.closed {
        let Batcher {
            mut batch,
            sender,
            counter,
            ..
        } = batches;
        batch.mark_last();
        // A failed run (the classifier could not be built) reports that instead.
        counter.hand_on(batch, sender);
    }
    stats
}

/// Fills one input's batches and hands each on when it is full.
struct Batcher<'a, 'w> {
    batch: Batch,
    /// The run failed (the classifier could not be built): the rest of the input is dropped.
    closed: bool,
    sender: &'a Sender,
    counter: &'a mut Counter<'w>,
}

impl Batcher<'_, '_> {
    fn send_if_full(&mut self) {
        if self.batch.is_full() {
            self.send();
        }
    }

    /// Hands the batch on and starts the next one of the input.
    fn send(&mut self) {
        let next = self.counter.work.pool.after(&self.batch);
        let full = std::mem::replace(&mut self.batch, next);
        self.closed = !self.counter.hand_on(full, self.sender);
    }

    /// Sends the batch first when it lends its lines from a shared text: another record
    /// would have it copy them.
    fn send_if_lent(&mut self) {
        if self.batch.is_lent() {
            self.send();
        }
    }
}

impl source::RecordSink for Batcher<'_, '_> {
    fn record(&mut self, record: RawRecord<'_>) {
        if self.closed {
            return;
        }
        self.send_if_lent();
        if self.closed {
            return;
        }
        self.batch.push(record);
        self.send_if_full();
    }

    /// A run of lines is copied into the batch at once (a copy per line was a sixth of the
    /// run's time on a fleet's traffic: each wrote into a batch buffer the workers had last).
    fn lines(&mut self, _input: u32, text: &str, mut lines: &[(usize, usize)]) {
        if !lines.is_empty() {
            self.send_if_lent();
        }
        while !lines.is_empty() && !self.closed {
            let taken = self.batch.push_lines(text, lines);
            lines = lines.get(taken..).unwrap_or_default();
            self.send_if_full();
        }
    }

    /// Lines of a gzip object inflated whole are lent from its text, not copied (the copy
    /// was a twentieth of the CPU of a run over an export tree); a batch holds the lines of
    /// one text, so one that holds others is sent first.
    fn shared_lines(
        &mut self,
        _input: u32,
        shared: &Arc<String>,
        offset: usize,
        mut lines: &[(usize, usize)],
    ) {
        while !lines.is_empty() && !self.closed {
            if !self.batch.lends_from(shared) {
                self.send();
                continue;
            }
            let taken = self.batch.lend(shared, offset, lines);
            lines = lines.get(taken..).unwrap_or_default();
            self.send_if_full();
        }
    }
}
