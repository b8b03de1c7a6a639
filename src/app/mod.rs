//! The only place that wires the stages: sources → pipeline → rules → report.
//!
//! `analyze` reads its inputs on one blocking thread and runs the pipeline on another,
//! connected by a bounded channel of [`Batch`]es, so reading and decompressing overlap with
//! parsing and memory stays bounded whatever the input size. Later sources (CloudWatch) feed
//! the same channel.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context as _, Result};

use crate::aws::logs::LogsApi;
use crate::classify::{self, Classifier, Scratch, catalogue};
use crate::cli::{
    AnalyzeArgs, CheckArgs, Cli, Command, DiagnoseArgs, PatternsArgs, PatternsCommand,
    PatternsTestArgs,
};
use crate::clock::Clock;
use crate::config::{self, AnalyzeConfig, CloudConfig, Env};
use crate::error::{ExitCode, UsageError};
use crate::model::RawRecord;
use crate::pipeline::{Batch, BatchPool, Pipeline};
use crate::report::{self, BuildInput, Format, Report};
use crate::rules;
use crate::source::cloudwatch::{self, FetchPlan, Progress, Tagged};
use crate::source::{self, Input, InputError, InputFormat, InputStats};

mod insights;
mod logging;
mod tail;

/// Batches in flight between the reading thread and the pipeline.
const CHANNEL_BATCHES: usize = 8;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => analyze(*args).await,
        Command::Check(args) => check(*args).await,
        Command::Diagnose(args) => diagnose(*args).await,
        Command::Logging(args) => logging::logging_command(*args).await,
        Command::Tail(args) => tail::tail(*args).await,
        Command::Patterns(args) => patterns(args),
    }
}

/// Loads the built-in catalogue plus `--patterns DIR`.
pub fn load_classifier(dir: Option<&std::path::Path>) -> Result<Classifier> {
    let builtin = catalogue::builtin().context("the built-in pattern catalogue is invalid")?;
    let patterns = match dir {
        Some(dir) => {
            let user =
                catalogue::from_dir(dir).map_err(|e| UsageError(format!("--patterns: {e}")))?;
            catalogue::merge(builtin, user)
        }
        None => builtin,
    };
    Classifier::new(patterns).map_err(|e| UsageError(e.to_string()).into())
}

async fn analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    let clock = Clock::from_env().map_err(UsageError)?;
    let env = Env {
        now: clock.now(),
        stdout_is_terminal: io::stdout().is_terminal(),
        stdin_is_terminal: io::stdin().is_terminal(),
    };
    if args.emit_query {
        return insights::emit_query(&load_classifier(args.catalogue.patterns.as_deref())?);
    }
    let config = AnalyzeConfig::from_args(&args, env).map_err(UsageError)?;
    let classifier = Arc::new(load_classifier(config.patterns.as_deref())?);
    if let Some(options) = &config.insights {
        return insights::analyze(&config, options, &classifier, &clock).await;
    }

    let (inputs, mut errors) = source::expand(&config.paths);
    for error in &errors {
        eprintln!("proxydoc: {}: {}", error.path, error.error);
    }

    let context = match &config.cloud {
        Some(cloud) => Some(
            crate::aws::AwsContext::load(&cloud.aws)
                .await
                .map_err(|e| e.to_string()),
        ),
        None => None,
    };
    let (stats, summary, findings) = run_pipeline(&config, classifier, inputs, context).await?;
    for error in input_errors(&stats) {
        eprintln!("proxydoc: {}: {}", error.path, error.error);
        errors.push(error);
    }

    // A CloudWatch-only run covers the fetched window; with files, the data's own range.
    let fetched = config.cloud.as_ref().filter(|_| config.paths.is_empty());
    let build = BuildInput {
        now: clock.now(),
        since: config.window.since.or(fetched.map(|c| c.start)),
        until: config.window.until.or(fetched.map(|c| c.end)),
        show_sql: config.show_sql,
        inputs: &stats,
        errors: &errors,
    };
    let report = Report::build(&summary, &findings, &build);
    write_report(&config, &report)?;

    Ok(exit_code(&errors, &report, config.fail_on))
}

/// How an analysis ends: 1 when an input failed (the report is incomplete), 3 when a finding
/// trips `--fail-on`, else 0.
fn exit_code(
    errors: &[InputError],
    report: &Report,
    fail_on: Option<crate::model::Severity>,
) -> ExitCode {
    if !errors.is_empty() {
        ExitCode::InputError
    } else if report.trips(fail_on) {
        ExitCode::Findings
    } else {
        ExitCode::Ok
    }
}

type PipelineOutput = (
    Vec<InputStats>,
    crate::aggregate::Summary,
    Vec<rules::Finding>,
);

/// Runs every source into one pipeline: files on a blocking reader thread, CloudWatch groups
/// through the async fetcher; both send batches to the pipeline's thread.
async fn run_pipeline(
    config: &AnalyzeConfig,
    classifier: Arc<Classifier>,
    inputs: Vec<Input>,
    context: Option<Result<crate::aws::AwsContext, String>>,
) -> Result<PipelineOutput> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Batch>(CHANNEL_BATCHES);
    let window = config.window;
    let workers = config.workers;
    let pool = Arc::new(BatchPool::default());
    let worker_pool = Arc::clone(&pool);
    let processor = tokio::task::spawn_blocking(move || {
        let pipeline = run_workers(&classifier, window, workers, receiver, &worker_pool);
        let summary = pipeline.finish()?;
        let findings = rules::evaluate(&summary, &classifier);
        anyhow::Ok((summary, findings))
    });

    let first_group_input = inputs.len();
    let forced = config.input_format;
    let file_sender = sender.clone();
    let reader_pool = Arc::clone(&pool);
    let reader = tokio::task::spawn_blocking(move || {
        read_inputs(&inputs, forced, &file_sender, &reader_pool, workers)
    });
    let cloud_stats = match (&config.cloud, context) {
        (Some(cloud), Some(context)) => {
            read_cloudwatch(cloud, first_group_input, sender, context, pool).await?
        }
        _ => {
            drop(sender);
            Vec::new()
        }
    };
    let mut stats = reader
        .await
        .context("the input reader stopped unexpectedly")?;
    stats.extend(cloud_stats);
    let (summary, findings) = processor
        .await
        .context("the analysis stopped unexpectedly")??;
    Ok((stats, summary, findings))
}

/// Runs `workers` pipelines over the batches of one channel, on threads of their own, and
/// merges them. Batches are numbered by their place in their input, so the merged result is
/// the same whichever worker read which batch.
fn run_workers<'c>(
    classifier: &'c Classifier,
    window: crate::pipeline::TimeWindow,
    workers: usize,
    receiver: tokio::sync::mpsc::Receiver<Batch>,
    pool: &BatchPool,
) -> Pipeline<'c> {
    let queue = std::sync::Mutex::new(receiver);
    let take = || -> Option<Batch> { queue.lock().ok()?.blocking_recv() };
    let work = || {
        let mut pipeline = Pipeline::new(classifier, window);
        while let Some(batch) = take() {
            pipeline.push_batch(&batch);
            pool.give(batch);
        }
        pipeline
    };
    if workers <= 1 {
        return work();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
        let mut merged: Option<Pipeline<'c>> = None;
        for handle in handles {
            // A worker cannot panic short of a bug; its batches are then missing from the
            // counts rather than the whole run failing.
            if let Ok(pipeline) = handle.join() {
                match merged.as_mut() {
                    None => merged = Some(pipeline),
                    Some(merged) => merged.merge(pipeline),
                }
            }
        }
        merged.unwrap_or_else(|| Pipeline::new(classifier, window))
    })
}

/// Fetches the CloudWatch groups into the pipeline (and `--save`). Problems with AWS
/// (configuration, a missing group, a failed slice) become per-group input errors, so files
/// given alongside are still analysed.
async fn read_cloudwatch(
    cloud: &CloudConfig,
    first_input: usize,
    sender: tokio::sync::mpsc::Sender<Batch>,
    context: Result<crate::aws::AwsContext, String>,
    pool: Arc<BatchPool>,
) -> Result<Vec<InputStats>> {
    let stat_for = |group: &str| InputStats {
        path: format!("cloudwatch:{group}"),
        format: Some("cloudwatch"),
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
    let mut stats = Vec::new();
    let mut groups = Vec::new();
    for group in &cloud.groups {
        match api.find_group(group).await {
            Ok(Some(_)) => groups.push(group.clone()),
            Ok(None) => stats.push(InputStats {
                error: Some(format!(
                    "log group {group} not found in {}: the proxy has not logged anything since it was created, or the name or region is wrong (list proxies with `aws rds describe-db-proxies --region {}`)",
                    context.region(),
                    context.region()
                )),
                ..stat_for(group)
            }),
            Err(e) => stats.push(InputStats { error: Some(e.to_string()), ..stat_for(group) }),
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
    let ticker = io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(show_progress(Arc::clone(&progress))));

    let base = u32::try_from(first_input).unwrap_or(u32::MAX);
    let saved_groups = groups.clone();
    let (chunk_sender, mut chunk_receiver) = tokio::sync::mpsc::channel::<Vec<Tagged>>(2);
    let writer = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut save = save;
        // Batches are numbered per group, in the order the merger hands events out.
        let mut numbers: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
        let mut send = |mut batch: Batch| -> bool {
            if batch.is_empty() {
                pool.give(batch);
                return true;
            }
            let number = numbers.entry(batch.input()).or_default();
            batch.set_number(*number);
            *number += 1;
            sender.blocking_send(batch).is_ok()
        };
        while let Some(chunk) = chunk_receiver.blocking_recv() {
            let mut batch = pool.take(base);
            for tagged in &chunk {
                let index = base.saturating_add(u32::try_from(tagged.group).unwrap_or(0));
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
    if let Some(ticker) = ticker {
        ticker.abort();
        eprint!("\r\x1b[K");
    }
    writer
        .await
        .context("the CloudWatch writer stopped unexpectedly")??;
    for outcome in outcomes {
        stats.push(InputStats {
            records: outcome.events,
            pages: outcome.pages,
            throttles: outcome.throttles,
            error: (!outcome.errors.is_empty()).then(|| outcome.errors.join("; ")),
            ..stat_for(&outcome.group)
        });
    }
    Ok(stats)
}

/// One fetched event as an NDJSON line, in the shape `filter-log-events` prints.
pub(crate) fn write_saved_event(
    out: &mut dyn Write,
    group: &str,
    event: &crate::aws::logs::LogEvent,
) -> io::Result<()> {
    let line = serde_json::json!({
        "logGroupName": group,
        "logStreamName": event.stream,
        "timestamp": event.timestamp,
        "message": event.message,
        "ingestionTime": event.ingestion_time,
        "eventId": event.id,
    });
    serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
    writeln!(out)
}

/// The progress line on stderr (only when it is a terminal).
async fn show_progress(progress: Arc<Progress>) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tick.tick().await;
        let (first, last) = (
            progress.first_ts.load(Relaxed),
            progress.last_ts.load(Relaxed),
        );
        let range = if first <= last {
            format!(
                ", {} … {}",
                crate::timefmt::rfc3339(first),
                crate::timefmt::rfc3339(last)
            )
        } else {
            String::new()
        };
        eprint!(
            "\r\x1b[Kcloudwatch: {} events, {} pages, {} throttled, {} retried{range}",
            progress.events.load(Relaxed),
            progress.pages.load(Relaxed),
            progress.throttles.load(Relaxed),
            progress.retries.load(Relaxed),
        );
    }
}

/// Reads the files on `readers` threads, each taking the next unread input: export trees of
/// many gzip objects are inflated in parallel. Statistics come back in input order.
fn read_inputs(
    inputs: &[Input],
    forced: Option<InputFormat>,
    sender: &tokio::sync::mpsc::Sender<Batch>,
    pool: &BatchPool,
    readers: usize,
) -> Vec<InputStats> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let read_some = || {
        let mut done = Vec::new();
        loop {
            let position = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(input) = inputs.get(position) else {
                break;
            };
            let index = u32::try_from(position).unwrap_or(u32::MAX);
            done.push((position, read_input(input, index, forced, sender, pool)));
        }
        done
    };
    let readers = readers.clamp(1, inputs.len().max(1));
    let mut all: Vec<Option<InputStats>> = inputs.iter().map(|_| None).collect();
    let finished: Vec<Vec<(usize, InputStats)>> = if readers == 1 {
        vec![read_some()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..readers).map(|_| scope.spawn(read_some)).collect();
            // A reader cannot panic short of a bug; its inputs are then reported as failed.
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        })
    };
    for (position, stats) in finished.into_iter().flatten() {
        if let Some(slot) = all.get_mut(position) {
            *slot = Some(stats);
        }
    }
    all.into_iter()
        .zip(inputs)
        .map(|(stats, input)| {
            stats.unwrap_or_else(|| InputStats {
                path: input.name(),
                error: Some("the reader of this input stopped unexpectedly".to_string()),
                ..InputStats::default()
            })
        })
        .collect()
}

fn read_input(
    input: &Input,
    index: u32,
    forced: Option<InputFormat>,
    sender: &tokio::sync::mpsc::Sender<Batch>,
    pool: &BatchPool,
) -> InputStats {
    let mut batch = pool.take(index);
    let mut closed = false;
    let stats = source::read(input, index, forced, &mut |record| {
        if closed {
            return;
        }
        batch.push(record);
        if batch.is_full() {
            let next = pool.after(&batch);
            let full = std::mem::replace(&mut batch, next);
            closed = sender.blocking_send(full).is_err();
        }
    });
    if !batch.is_empty() && !closed {
        // A closed channel means the pipeline failed; its error is reported instead.
        let _ = sender.blocking_send(batch);
    }
    stats
}

/// `proxydoc check`: read the control-plane snapshot, audit it, report.
async fn check(args: CheckArgs) -> Result<ExitCode> {
    let clock = Clock::from_env().map_err(UsageError)?;
    let format = config::resolve_format(
        args.format,
        args.output.as_deref(),
        io::stdout().is_terminal(),
    );
    let options = config::aws_options(&args.aws);
    let Some(context) = load_aws(&options).await else {
        return Ok(ExitCode::InputError);
    };
    let client = args
        .client_principal
        .as_deref()
        .zip(args.db_user.as_deref());
    let plane = match crate::aws::control::snapshot(&context, &args.proxy, client).await {
        Ok(plane) => plane,
        Err(e) => {
            eprintln!("proxydoc: {e}");
            return Ok(ExitCode::InputError);
        }
    };
    let (results, findings) = crate::check::audit(&plane);
    let build = BuildInput {
        now: clock.now(),
        since: None,
        until: None,
        show_sql: false,
        inputs: &[],
        errors: &[],
    };
    let mut report = Report::build(&crate::aggregate::Summary::default(), &findings, &build);
    report.checks = Some(results);
    let skipped = report
        .checks
        .iter()
        .flatten()
        .any(|c| c.status == crate::check::CheckStatus::Skipped);
    write_report_to(args.output.as_deref(), format, &report)?;
    let tripped = report.trips(args.fail_on.map(config::severity_for));
    Ok(if tripped {
        ExitCode::Findings
    } else if skipped {
        ExitCode::InputError
    } else {
        ExitCode::Ok
    })
}

/// `proxydoc diagnose`: the control-plane audit and the CloudWatch analysis, correlated.
async fn diagnose(args: DiagnoseArgs) -> Result<ExitCode> {
    let clock = Clock::from_env().map_err(UsageError)?;
    // diagnose never reads stdin: its only log source is the proxy's log group.
    let env = Env {
        now: clock.now(),
        stdout_is_terminal: io::stdout().is_terminal(),
        stdin_is_terminal: true,
    };
    let config = AnalyzeConfig::for_diagnose(&args, env).map_err(UsageError)?;
    let classifier = Arc::new(load_classifier(None)?);
    let Some(cloud) = &config.cloud else {
        return Err(anyhow::anyhow!("diagnose has no CloudWatch source"));
    };
    let Some(context) = load_aws(&cloud.aws).await else {
        return Ok(ExitCode::InputError);
    };
    let client = args
        .client_principal
        .as_deref()
        .zip(args.db_user.as_deref());
    let (plane, logs) = tokio::join!(
        crate::aws::control::snapshot(&context, &args.proxy, client),
        run_pipeline(&config, classifier, Vec::new(), Some(Ok(context.clone())))
    );
    let plane = match plane {
        Ok(plane) => plane,
        Err(e) => {
            eprintln!("proxydoc: {e}");
            return Ok(ExitCode::InputError);
        }
    };
    let (stats, summary, log_findings) = logs?;
    let errors = input_errors(&stats);
    for error in &errors {
        eprintln!("proxydoc: {}: {}", error.path, error.error);
    }
    let (results, check_findings) = crate::check::audit(&plane);
    let findings = rules::correlate::merge(log_findings, check_findings);
    let build = BuildInput {
        now: clock.now(),
        since: Some(cloud.start),
        until: Some(cloud.end),
        show_sql: config.show_sql,
        inputs: &stats,
        errors: &errors,
    };
    let mut report = Report::build(&summary, &findings, &build);
    let skipped = results
        .iter()
        .any(|c| c.status == crate::check::CheckStatus::Skipped);
    report.checks = Some(results);
    write_report(&config, &report)?;
    let tripped = report.trips(config.fail_on);
    Ok(if !errors.is_empty() || skipped {
        ExitCode::InputError
    } else if tripped {
        ExitCode::Findings
    } else {
        ExitCode::Ok
    })
}

/// The inputs that failed, as the report lists them.
pub(crate) fn input_errors(stats: &[InputStats]) -> Vec<InputError> {
    stats
        .iter()
        .filter_map(|s| {
            s.error.as_ref().map(|e| InputError {
                path: s.path.clone(),
                error: e.clone(),
            })
        })
        .collect()
}

/// Loads the AWS configuration; on failure prints why (and how to fix it) and returns `None`,
/// which the commands turn into exit code 1.
pub(crate) async fn load_aws(options: &crate::aws::AwsOptions) -> Option<crate::aws::AwsContext> {
    match crate::aws::AwsContext::load(options).await {
        Ok(context) => Some(context),
        Err(e) => {
            eprintln!("proxydoc: {e}");
            None
        }
    }
}

fn write_report(config: &AnalyzeConfig, report: &Report) -> Result<()> {
    write_report_to(config.output.as_deref(), config.format, report)
}

pub(crate) fn write_report_to(
    output: Option<&std::path::Path>,
    format: Format,
    report: &Report,
) -> Result<()> {
    match output {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create the report file {}", path.display()))?;
            let mut out = BufWriter::new(file);
            report::render(report, format, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write the report to {}", path.display()))
        }
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            report::render(report, format, &mut out)
                .and_then(|()| out.flush())
                .context("cannot write the report to stdout")
        }
    }
}

fn patterns(args: PatternsArgs) -> Result<ExitCode> {
    match args.command {
        None | Some(PatternsCommand::List) => {
            let classifier = load_classifier(args.catalogue.patterns.as_deref())?;
            list_patterns(&classifier)?;
            Ok(ExitCode::Ok)
        }
        Some(PatternsCommand::Lint) => {
            let classifier = load_classifier(args.catalogue.patterns.as_deref())?;
            let problems = classify::lint(&classifier);
            for problem in &problems {
                println!("{problem}");
            }
            if problems.is_empty() {
                println!("{} patterns, no problems", classifier.patterns().len());
                Ok(ExitCode::Ok)
            } else {
                Ok(ExitCode::Findings)
            }
        }
        Some(PatternsCommand::Test(test)) => {
            let dir = test
                .catalogue
                .patterns
                .as_ref()
                .or(args.catalogue.patterns.as_ref());
            let classifier = load_classifier(dir.map(|d| d.as_path()))?;
            test_patterns(&classifier, &test)
        }
    }
}

fn list_patterns(classifier: &Classifier) -> Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let rows: Vec<[String; 5]> = classifier
        .patterns()
        .iter()
        .map(|p| {
            [
                p.id.clone(),
                p.kind.to_string(),
                p.severity.to_string(),
                p.cause.clone().unwrap_or_else(|| "-".to_string()),
                p.side.as_str().to_string(),
            ]
        })
        .collect();
    let header = ["ID", "KIND", "SEVERITY", "CAUSE", "SIDE"].map(str::to_string);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    writeln!(out, "{} patterns", rows.len())?;
    out.flush()?;
    Ok(())
}

fn test_patterns(classifier: &Classifier, args: &PatternsTestArgs) -> Result<ExitCode> {
    let (inputs, errors) = source::expand(&args.paths);
    for error in &errors {
        eprintln!("proxydoc: {}: {}", error.path, error.error);
    }
    let forced = args.input_format.map(config::input_format);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut scratch = Scratch::default();
    let mut failed = !errors.is_empty();
    let mut write_error: Option<io::Error> = None;
    let (mut matched, mut total) = (0u64, 0u64);
    for (index, input) in inputs.iter().enumerate() {
        let name = input.name();
        let mut record_no = 0u64;
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let stats = source::read(input, index, forced, &mut |record| {
            record_no += 1;
            total += 1;
            if write_error.is_some() {
                return;
            }
            let mut ansi = String::new();
            let text = if crate::parse::strip_ansi(record.text, &mut ansi) {
                ansi.as_str()
            } else {
                record.text
            };
            let event = classifier.classify(crate::parse::parse_line(text), &mut scratch);
            let pattern = event.pattern.and_then(|p| classifier.pattern(p));
            matched += u64::from(pattern.is_some());
            if args.unmatched && pattern.is_some() {
                return;
            }
            let mut line = format!(
                "{name}:{record_no}: {} {}",
                pattern.map_or("-", |p| p.id.as_str()),
                event.kind
            );
            for (key, value) in &event.fields {
                line.push_str(&format!(" {key}={value:?}"));
            }
            let result = writeln!(out, "{line}")
                .and_then(|()| writeln!(out, "    {}", crate::aggregate::clip(text, 200)));
            if let Err(e) = result {
                write_error = Some(e);
            }
        });
        if let Some(error) = stats.error {
            eprintln!("proxydoc: {name}: {error}");
            failed = true;
        }
    }
    if let Some(error) = write_error {
        return Err(error).context("cannot write to stdout");
    }
    writeln!(out, "{matched} of {total} lines matched a pattern")?;
    out.flush()?;
    Ok(if failed {
        ExitCode::InputError
    } else {
        ExitCode::Ok
    })
}
