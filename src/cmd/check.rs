//! `proxydoc check`: read the control-plane snapshot, audit it, report.

use std::io::{self, IsTerminal};

use anyhow::Result;

use crate::aws;
use crate::cli::CheckArgs;
use crate::clock::Clock;
use crate::config;
use crate::error::{ExitCode, Failed, UsageError, exit_code};
use crate::output::write_report_to;
use crate::report::{BuildInput, Report};

pub(super) async fn check(args: CheckArgs) -> Result<ExitCode> {
    let clock = Clock::from_env().map_err(UsageError)?;
    let format = config::resolve_format(
        args.format,
        args.output.as_deref(),
        io::stdout().is_terminal(),
    );
    let options = config::aws_options(&args.aws);
    let context = aws::AwsContext::load(&options)
        .await
        .map_err(|e| Failed(e.to_string()))?;
    let client = crate::aws::control::Principal {
        arn: args.client_principal.as_deref(),
        db_user: args.db_user.as_deref(),
    };
    let plane = match crate::aws::control::snapshot(
        &context,
        &args.proxy,
        client,
        &args.clients,
        args.endpoint.as_deref(),
    )
    .await
    {
        Ok(plane) => plane,
        Err(e) => return Err(Failed(e.to_string()).into()),
    };
    let (results, findings) = crate::audit::audit(&plane);
    let build = BuildInput {
        now: clock.now(),
        since: None,
        until: None,
        show_sql: false,
        inputs: &[],
        errors: &[],
    };
    let mut report = Report::build(&crate::aggregate::Summary::default(), &findings, &build);
    report.set_checks(&results);
    let skipped = results
        .iter()
        .any(|c| c.status == crate::model::CheckStatus::Skipped);
    write_report_to(args.output.as_deref(), format, &report)?;
    let tripped = report.trips(args.fail_on.map(config::severity_for));
    Ok(exit_code(skipped, tripped))
}
