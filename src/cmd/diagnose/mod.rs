//! `proxydoc diagnose`: the control-plane audit and the CloudWatch analysis, run together and
//! correlated ([`correlate`] folds a log finding into the audit finding that explains it).

use std::io::{self, IsTerminal};
use std::sync::Arc;

use anyhow::Result;

use super::sources::{Catalogue, run_pipeline};
use crate::aws;
use crate::classify;
use crate::cli::DiagnoseArgs;
use crate::clock::Clock;
use crate::config::{AnalyzeConfig, Env};
use crate::error::{ExitCode, Failed, UsageError, exit_code};
use crate::output::write_report;
use crate::report::{BuildInput, Report};
use crate::source;

pub mod correlate;

pub(super) async fn diagnose(args: DiagnoseArgs) -> Result<ExitCode> {
    let clock = Clock::from_env().map_err(UsageError)?;
    // diagnose never reads stdin: its only log source is the proxy's log group.
    let env = Env {
        now: clock.now(),
        stdout_is_terminal: io::stdout().is_terminal(),
        stdin_is_terminal: true,
    };
    let config = AnalyzeConfig::for_diagnose(&args, env).map_err(UsageError)?;
    let classifier = Arc::new(classify::load(None)?);
    let Some(cloud) = &config.cloud else {
        return Err(anyhow::anyhow!("diagnose has no CloudWatch source"));
    };
    let context = aws::AwsContext::load(&cloud.aws)
        .await
        .map_err(|e| Failed(e.to_string()))?;
    let client = crate::aws::control::Principal {
        arn: args.client_principal.as_deref(),
        db_user: args.db_user.as_deref(),
    };
    let (plane, logs) = tokio::join!(
        crate::aws::control::snapshot(
            &context,
            &args.proxy,
            client,
            &args.clients,
            args.endpoint.as_deref()
        ),
        run_pipeline(
            &config,
            Catalogue::Ready(classifier),
            Vec::new(),
            Some(Ok(context.clone()))
        )
    );
    let plane = match plane {
        Ok(plane) => plane,
        Err(e) => return Err(Failed(e.to_string()).into()),
    };
    let (stats, summary, log_findings, events_written) = logs?;
    let errors = source::input_errors(&stats);
    for error in &errors {
        eprintln!("proxydoc: {}: {}", error.path, error.error);
    }
    let (results, check_findings) = crate::audit::audit(&plane);
    let mut findings = correlate::merge(log_findings, check_findings);
    let targets_healthy = results
        .iter()
        .filter(|r| r.check == "target-health" || r.check == "db-status")
        .all(|r| r.status == crate::model::CheckStatus::Pass)
        && results.iter().any(|r| r.check == "target-health");
    correlate::settle_borrow_timeouts(&mut findings, targets_healthy);
    if let Ok(pool) = &plane.pool {
        correlate::with_pool_settings(
            &mut findings,
            pool,
            &plane.proxy.name,
            &plane.proxy.engine_family,
        );
    }
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
        .any(|c| c.status == crate::model::CheckStatus::Skipped);
    report.set_checks(&results);
    write_report(&config, &report)?;
    let tripped = report.trips(config.fail_on);
    Ok(exit_code(
        !errors.is_empty() || skipped || !events_written,
        tripped,
    ))
}
