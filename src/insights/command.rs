//! `analyze --engine insights` and `--emit-query`: the catalogue's query run in CloudWatch
//! Logs Insights, its rows folded into the usual aggregator, a bounded FilterLogEvents sample
//! for the evidence of the top findings, then the usual rules and report.

use std::sync::atomic::Ordering::Relaxed;

use anyhow::Result;

use crate::aggregate::Aggregator;
use crate::aws::logs::InsightsApi;
use crate::classify::{Classifier, Scratch};
use crate::clock::Clock;
use crate::config::{AnalyzeConfig, CloudConfig, InsightsConfig};
use crate::error::{ExitCode, UsageError, exit_code};
use crate::insights::driver::{self as driver, Job};
use crate::insights::plan::{Plan, USD_PER_GB, cost_usd, human_bytes};
use crate::model::{InputError, InputStats};
use crate::report::{BuildInput, InsightsOut, Report};
use crate::rules;

/// Findings whose evidence is fetched, and events fetched per finding and group.
const SAMPLED_FINDINGS: usize = 3;
const SAMPLE_PER_GROUP: i32 = 20;
/// Groups a finding's sample is fetched from (the first ones holding its events).
const SAMPLED_GROUPS: usize = 5;

/// `--emit-query`: prints the query and nothing else.
pub fn emit_query(classifier: &Classifier) -> Result<ExitCode> {
    let plan = Plan::new(classifier).map_err(|e| UsageError(e.to_string()))?;
    println!("{}", plan.text());
    for id in &plan.skipped {
        eprintln!("proxydoc: pattern `{id}` has no literal phrase and is not in the query");
    }
    Ok(ExitCode::Ok)
}

/// Runs the Logs Insights analysis; `start_progress` shows the queries' progress.
pub async fn analyze(
    config: &AnalyzeConfig,
    insights: &InsightsConfig,
    classifier: &Classifier,
    clock: &Clock,
    start_progress: driver::StartProgress<'_>,
) -> Result<ExitCode> {
    let Some(cloud) = &config.cloud else {
        return Err(UsageError("--engine insights needs --proxy or --log-group".into()).into());
    };
    let plan = Plan::new(classifier).map_err(|e| UsageError(e.to_string()))?;
    let context = crate::aws::AwsContext::load(&cloud.aws)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let api = context.logs();
    let now = clock.now();

    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut expected = 0.0;
    for group in &cloud.groups {
        match api.group_size(group).await {
            Ok(Some(size)) => {
                expected += driver::expected_scan(&size, cloud.end - cloud.start, now);
                groups.push(group.clone());
            }
            Ok(None) => errors.push(InputError {
                path: format!("insights:{group}"),
                error: format!(
                    "log group {group} does not exist in {}: check the proxy name and Region, and that the proxy has logged since it was created",
                    context.region()
                ),
            }),
            Err(e) => errors.push(InputError {
                path: format!("insights:{group}"),
                error: e.to_string(),
            }),
        }
    }
    for error in &errors {
        eprintln!("proxydoc: {}: {}", error.path, error.error);
    }
    // Each query of the plan scans the whole range.
    expected *= plan.parts.len() as f64;
    if let Some(limit) = insights.max_scan_bytes
        && expected > limit
    {
        return Err(UsageError(format!(
            "the query is expected to scan about {} (about ${:.4} at ${USD_PER_GB}/GB), over --max-scan-gb ({}): narrow --since/--until, or rerun with --yes (the scan is also stopped if it passes the limit)",
            human_bytes(expected),
            cost_usd(expected),
            human_bytes(limit)
        ))
        .into());
    }

    let mut aggregator = Aggregator::new(classifier);
    let mut outcome = driver::Outcome::default();
    // Rows without the query's statistics (an emulator that ignores `stats`).
    let mut raw = 0;
    if !groups.is_empty() {
        let queries = plan.parts.len();
        eprintln!(
            "proxydoc: Logs Insights over {} log group(s), {} to {}{}: expected scan about {} (about ${:.4})",
            groups.len(),
            crate::timefmt::rfc3339(cloud.start),
            crate::timefmt::rfc3339(cloud.end),
            if queries > 1 {
                format!(", the catalogue in {queries} queries (each scans the range)")
            } else {
                String::new()
            },
            human_bytes(expected),
            cost_usd(expected)
        );
        let mut claimed = 0;
        let mut scanned_lines: Option<f64> = None;
        let progress = std::sync::Arc::new(driver::QueryProgress::default());
        let planned = queries
            * groups
                .len()
                .div_ceil(crate::insights::plan::MAX_GROUPS_PER_QUERY);
        progress
            .planned
            .store(u64::try_from(planned).unwrap_or(u64::MAX), Relaxed);
        let bar = start_progress(std::sync::Arc::clone(&progress));
        // Notices go above the bar when there is one.
        let mut notice = |notice: String| match &bar {
            Some(bar) => bar.println(&format!("proxydoc: {notice}")),
            None => eprintln!("proxydoc: {notice}"),
        };
        for part in &plan.parts {
            let job = Job {
                groups: groups.clone(),
                start: cloud.start,
                end: cloud.end,
                query: part.query.clone(),
                // The budget is for the whole run: what the earlier queries used is spent.
                max_scan_bytes: insights
                    .max_scan_bytes
                    .map(|limit| (limit - outcome.bytes_scanned).max(0.0)),
                poll: std::time::Duration::from_secs(1),
                progress: std::sync::Arc::clone(&progress),
            };
            let part_outcome = driver::run(&api, &job, &mut notice).await?;
            claimed += part.fold(&part_outcome.rows, &mut aggregator);
            raw += part_outcome
                .rows
                .iter()
                .filter(|row| !row.iter().any(|(f, _)| f == "n"))
                .count();
            // Every query scans the same lines: their number is one query's.
            scanned_lines.get_or_insert(part_outcome.records_scanned);
            outcome.absorb(part_outcome);
        }
        drop(bar);
        // Lines no query claimed are known only by number.
        let scanned = scanned_lines.unwrap_or(0.0).max(0.0) as u64;
        aggregator.count_unmatched(scanned.saturating_sub(claimed));
        outcome.records_scanned = scanned_lines.unwrap_or(0.0);
    }

    // Evidence for the top findings: a small sample of their lines, read locally.
    let preliminary = aggregator.clone().finish()?;
    let findings = rules::evaluate(&preliminary, classifier);
    let sampled = sample_evidence(&api, classifier, cloud, &groups, &preliminary, &findings)
        .await
        .map(|(sample, lines)| {
            aggregator.adopt_samples(sample);
            lines
        })
        .unwrap_or_else(|e| {
            eprintln!("proxydoc: could not fetch evidence lines: {e}");
            0
        });
    let summary = aggregator.finish()?;
    let findings = rules::evaluate(&summary, classifier);

    let not_computed = vec![
        "sessions (lines joined on clientConnection)".to_string(),
        "the client address of failures that name no client".to_string(),
        "unclassified line samples and shapes".to_string(),
    ];
    let mut warnings = vec![format!(
        "counts from Logs Insights ({} queries, {} scanned, about ${:.4}); not computed: {}",
        outcome.queries,
        human_bytes(outcome.bytes_scanned),
        cost_usd(outcome.bytes_scanned),
        not_computed.join("; ")
    )];
    if raw > 0 {
        warnings.push(format!(
            "{raw} result rows are raw events, not the query's statistics: the endpoint did not run `stats` (an emulator?); they are not counted"
        ));
    }
    let stats: Vec<InputStats> = groups
        .iter()
        .enumerate()
        .map(|(i, group)| InputStats {
            path: format!("insights:{group}"),
            format: Some(crate::model::Layout::Insights),
            warnings: if i == 0 {
                std::mem::take(&mut warnings)
            } else {
                Vec::new()
            },
            ..InputStats::default()
        })
        .collect();
    let build = BuildInput {
        now,
        since: Some(cloud.start),
        until: Some(cloud.end),
        show_sql: config.show_sql,
        inputs: &stats,
        errors: &errors,
    };
    let mut report = Report::build(&summary, &findings, &build);
    report.insights = Some(InsightsOut {
        queries: outcome.queries,
        splits: outcome.splits,
        bytes_scanned: outcome.bytes_scanned,
        records_scanned: outcome.records_scanned,
        records_matched: outcome.records_matched,
        cost_usd: cost_usd(outcome.bytes_scanned),
        usd_per_gb: USD_PER_GB,
        expected_bytes: expected,
        sampled_lines: sampled,
        not_computed,
    });
    crate::output::write_report(config, &report)?;
    Ok(exit_code(!errors.is_empty(), report.trips(config.fail_on)))
}

/// Fetches up to [`SAMPLE_PER_GROUP`] lines per group for each of the top findings' patterns
/// (a FilterLogEvents term on the pattern's longest phrase) and classifies them locally.
async fn sample_evidence<'c, A: InsightsApi>(
    api: &A,
    classifier: &'c Classifier,
    cloud: &CloudConfig,
    groups: &[String],
    summary: &crate::aggregate::Summary,
    findings: &[crate::model::Finding],
) -> Result<(Aggregator<'c>, u64), crate::aws::logs::LogsError> {
    let mut sample = Aggregator::new(classifier);
    let mut scratch = Scratch::default();
    let mut lines = 0;
    let mut terms: Vec<String> = Vec::new();
    for finding in findings.iter().take(SAMPLED_FINDINGS) {
        let Some(cause) = summary.cause(&finding.cause) else {
            continue;
        };
        for &(index, _) in &cause.patterns {
            let phrase = classifier
                .pattern(index)
                .and_then(|p| p.contains.iter().max_by_key(|l| l.len()));
            // A FilterLogEvents term is quoted; a phrase with a quote cannot be one.
            if let Some(phrase) = phrase.filter(|p| !p.contains('"'))
                && !terms.contains(phrase)
            {
                terms.push(phrase.clone());
            }
        }
    }
    for term in &terms {
        for group in groups.iter().take(SAMPLED_GROUPS) {
            let events = api
                .sample(
                    group,
                    cloud.start,
                    cloud.end - 1,
                    &format!("\"{term}\""),
                    SAMPLE_PER_GROUP,
                )
                .await?;
            for event in events {
                let line = crate::parse::parse_line(&event.message);
                let mut line = line;
                if line.ts.is_none() {
                    line.ts = Some(event.timestamp);
                }
                let classified = classifier.classify(&line, &mut scratch);
                sample.push(&classified, &event.message);
                lines += 1;
            }
        }
    }
    Ok((sample, lines))
}
