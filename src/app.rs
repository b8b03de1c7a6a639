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

use crate::classify::{self, Classifier, Scratch, catalogue};
use crate::cli::{AnalyzeArgs, Cli, Command, PatternsArgs, PatternsCommand, PatternsTestArgs};
use crate::clock::Clock;
use crate::config::{self, AnalyzeConfig, Env};
use crate::error::{ExitCode, UsageError};
use crate::model::Severity;
use crate::pipeline::{Batch, Pipeline};
use crate::report::{self, BuildInput, Report};
use crate::rules;
use crate::source::{self, Input, InputError, InputFormat, InputStats};

/// Batches in flight between the reading thread and the pipeline.
const CHANNEL_BATCHES: usize = 8;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => analyze(args).await,
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
    let config = AnalyzeConfig::from_args(&args, env).map_err(UsageError)?;
    let classifier = Arc::new(load_classifier(config.patterns.as_deref())?);

    let (inputs, mut errors) = source::expand(&config.paths);
    for error in &errors {
        eprintln!("proxydoc: {}: {}", error.path, error.error);
    }

    let (stats, summary, findings) = run_pipeline(&config, classifier, inputs).await?;
    for stat in &stats {
        if let Some(error) = &stat.error {
            eprintln!("proxydoc: {}: {error}", stat.path);
            errors.push(InputError {
                path: stat.path.clone(),
                error: error.clone(),
            });
        }
    }

    let build = BuildInput {
        now: clock.now(),
        since: config.window.since,
        until: config.window.until,
        show_sql: config.show_sql,
        inputs: &stats,
        errors: &errors,
    };
    let report = Report::build(&summary, &findings, &build);
    write_report(&config, &report)?;

    if !errors.is_empty() {
        return Ok(ExitCode::InputError);
    }
    let tripped = match (config.fail_on, report.worst()) {
        (Some(threshold), Some(worst)) => worst >= threshold,
        _ => false,
    };
    Ok(if tripped {
        ExitCode::Findings
    } else {
        ExitCode::Ok
    })
}

async fn run_pipeline(
    config: &AnalyzeConfig,
    classifier: Arc<Classifier>,
    inputs: Vec<Input>,
) -> Result<(
    Vec<InputStats>,
    crate::aggregate::Summary,
    Vec<rules::Finding>,
)> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(CHANNEL_BATCHES);
    let forced = config.input_format;
    let reader = tokio::task::spawn_blocking(move || read_inputs(&inputs, forced, &sender));
    let window = config.window;
    let processor = tokio::task::spawn_blocking(move || {
        let mut pipeline = Pipeline::new(&classifier, window);
        while let Some(batch) = receiver.blocking_recv() {
            pipeline.push_batch(&batch);
        }
        let summary = pipeline.finish()?;
        let findings = rules::evaluate(&summary, &classifier);
        anyhow::Ok((summary, findings))
    });
    let stats = reader
        .await
        .context("the input reader stopped unexpectedly")?;
    let (summary, findings) = processor
        .await
        .context("the analysis stopped unexpectedly")??;
    Ok((stats, summary, findings))
}

fn read_inputs(
    inputs: &[Input],
    forced: Option<InputFormat>,
    sender: &tokio::sync::mpsc::Sender<Batch>,
) -> Vec<InputStats> {
    let mut all = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let mut batch = Batch::new(index);
        let mut closed = false;
        let stats = source::read(input, index, forced, &mut |record| {
            if closed {
                return;
            }
            batch.push(record);
            if batch.is_full() {
                let full = std::mem::replace(&mut batch, Batch::new(index));
                closed = sender.blocking_send(full).is_err();
            }
        });
        if !batch.is_empty() && !closed {
            // A closed channel means the pipeline failed; its error is reported instead.
            let _ = sender.blocking_send(batch);
        }
        all.push(stats);
    }
    all
}

fn write_report(config: &AnalyzeConfig, report: &Report) -> Result<()> {
    match &config.output {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create the report file {}", path.display()))?;
            let mut out = BufWriter::new(file);
            report::render(report, config.format, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write the report to {}", path.display()))
        }
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            report::render(report, config.format, &mut out)
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

/// The severity a `--fail-on` value stands for (used by tests).
pub fn severity_name(severity: Severity) -> &'static str {
    severity.as_str()
}
