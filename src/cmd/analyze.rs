//! `proxydoc analyze`: files, stdin and CloudWatch log groups through the pipeline, rules and
//! one report; `--engine insights` hands over to [`crate::insights`].

use std::io::{self, IsTerminal};
use std::sync::Arc;

use anyhow::Result;

use super::sources::{Catalogue, run_pipeline};
use crate::classify;
use crate::cli::AnalyzeArgs;
use crate::clock::Clock;
use crate::config::{AnalyzeConfig, Env};
use crate::error::{ExitCode, UsageError, exit_code};
use crate::output::write_report;
use crate::report::{BuildInput, Report};
use crate::source;

pub(super) async fn analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    let clock = Clock::from_env().map_err(UsageError)?;
    let env = Env {
        now: clock.now(),
        stdout_is_terminal: io::stdout().is_terminal(),
        stdin_is_terminal: io::stdin().is_terminal(),
    };
    if args.emit_query {
        return crate::insights::command::emit_query(&classify::load(
            args.catalogue.patterns.as_deref(),
        )?);
    }
    let config = AnalyzeConfig::from_args(&args, env).map_err(UsageError)?;
    if let Some(options) = &config.insights {
        let classifier = classify::load(config.patterns.as_deref())?;
        let start_progress = |progress| {
            super::progress::wanted(config.quiet).then(|| {
                Box::new(super::progress::insights(progress))
                    as Box<dyn crate::insights::driver::ProgressDisplay>
            })
        };
        return crate::insights::command::analyze(
            &config,
            options,
            &classifier,
            &clock,
            &start_progress,
        )
        .await;
    }

    // A catalogue of the user's is read and checked before any input, so that its errors come
    // first; the built-in one is built while the first inputs are read.
    let catalogue = match config.patterns.as_deref() {
        Some(patterns) => Catalogue::Ready(Arc::new(classify::load(Some(patterns))?)),
        None => Catalogue::Builtin,
    };
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
    let (stats, summary, findings, events_written) =
        run_pipeline(&config, catalogue, inputs, context).await?;
    for error in source::input_errors(&stats) {
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

    Ok(exit_code(
        !errors.is_empty() || !events_written,
        report.trips(config.fail_on),
    ))
}
