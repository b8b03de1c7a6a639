//! From parsed arguments to a validated run configuration.
//!
//! Each rule is one check with a message that says what to change; a failure here is a usage
//! error (exit code 2).

use std::path::{Path, PathBuf};

use crate::aws::AwsOptions;
use crate::cli::{AnalyzeArgs, FailOn, FormatArg, InputFormatArg};
use crate::model::{Millis, Severity};
use crate::pipeline::TimeWindow;
use crate::report::Format;
use crate::source::InputFormat;

#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeConfig {
    pub paths: Vec<String>,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub window: TimeWindow,
    pub patterns: Option<PathBuf>,
    pub fail_on: Option<Severity>,
    pub input_format: Option<InputFormat>,
    pub show_sql: bool,
    pub cloud: Option<CloudConfig>,
    /// Analysis threads, and file-reading threads.
    pub workers: usize,
    /// `--engine insights`: the scan budget in bytes, `None` with `--yes`.
    pub insights: Option<InsightsConfig>,
    /// `--events FILE`: every classified event as a table (Parquet, CSV or NDJSON by the
    /// extension).
    pub events: Option<PathBuf>,
    /// `--quiet`: no progress bar.
    pub quiet: bool,
}

/// `analyze --engine insights`.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsConfig {
    pub max_scan_bytes: Option<f64>,
}

/// Parsing threads by default: one per core, at most 8.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}

/// Reading CloudWatch log groups.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    /// Log group names, proxies' groups first, without duplicates.
    pub groups: Vec<String>,
    /// Inclusive start and exclusive end of the fetch, epoch ms.
    pub start: Millis,
    pub end: Millis,
    pub save: Option<PathBuf>,
    pub max_tps: f64,
    pub page_limit: i32,
    pub aws: AwsOptions,
}

/// The window fetched from CloudWatch when `--since` is not given.
pub const DEFAULT_CLOUD_WINDOW: Millis = 3_600_000;

/// The log group RDS Proxy writes to.
pub fn proxy_log_group(proxy: &str) -> String {
    format!("/aws/rds/proxy/{proxy}")
}

/// What the environment looks like, so that the defaults can be decided (and tested).
#[derive(Debug, Clone, Copy)]
pub struct Env {
    pub now: Millis,
    pub stdout_is_terminal: bool,
    pub stdin_is_terminal: bool,
}

impl AnalyzeConfig {
    pub fn from_args(args: &AnalyzeArgs, env: Env) -> Result<AnalyzeConfig, String> {
        let since = args.since.map(|t| t.resolve(env.now));
        let until = args.until.map(|t| t.resolve(env.now));
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err("--since must be before --until".to_string());
        }
        let cw = &args.cloudwatch;
        let mut groups: Vec<String> = cw.proxy.iter().map(|p| proxy_log_group(p)).collect();
        for group in &cw.log_group {
            if !groups.contains(group) {
                groups.push(group.clone());
            }
        }
        groups.dedup();
        if cw.proxy.iter().any(|p| p.is_empty() || p.contains('/')) {
            return Err("--proxy takes a proxy name (the log group is /aws/rds/proxy/NAME); use --log-group for a group".to_string());
        }
        if !(cw.max_tps.is_finite() && cw.max_tps > 0.0) {
            return Err("--max-tps must be a positive number of requests per second".to_string());
        }
        if !(1..=crate::source::cloudwatch::PAGE_LIMIT).contains(&cw.page_limit) {
            return Err("--page-limit must be between 1 and 10000".to_string());
        }
        if cw.save.is_some() && groups.is_empty() {
            return Err(
                "--save archives events fetched from CloudWatch: give --proxy or --log-group"
                    .to_string(),
            );
        }
        let cloud = (!groups.is_empty()).then(|| CloudConfig {
            groups,
            start: since.unwrap_or(env.now - DEFAULT_CLOUD_WINDOW),
            end: until.unwrap_or(env.now),
            save: cw.save.clone(),
            max_tps: cw.max_tps,
            page_limit: cw.page_limit,
            aws: aws_options(&cw.aws),
        });
        if let Some(cloud) = &cloud
            && cloud.start >= cloud.end
        {
            return Err(
                "the CloudWatch window is empty: --since must be before --until (and before now)"
                    .to_string(),
            );
        }
        let insights = match args.engine {
            crate::cli::Engine::Local => None,
            crate::cli::Engine::Insights => {
                if cloud.is_none() {
                    return Err(
                        "--engine insights queries CloudWatch: give --proxy or --log-group"
                            .to_string(),
                    );
                }
                if !args.paths.is_empty() {
                    return Err(
                        "--engine insights reads CloudWatch only: analyse files without it"
                            .to_string(),
                    );
                }
                if args.cloudwatch.save.is_some() {
                    return Err(
                        "--save archives fetched events; --engine insights fetches only counts"
                            .to_string(),
                    );
                }
                if args.events.is_some() {
                    return Err(
                        "--events writes every classified line; --engine insights fetches only counts (use --engine local)"
                            .to_string(),
                    );
                }
                if !(args.max_scan_gb.is_finite() && args.max_scan_gb > 0.0) {
                    return Err("--max-scan-gb must be a positive number of GB".to_string());
                }
                Some(InsightsConfig {
                    max_scan_bytes: (!args.yes).then_some(args.max_scan_gb * 1e9),
                })
            }
        };
        let mut paths = args.paths.clone();
        if paths.is_empty() && cloud.is_none() {
            if env.stdin_is_terminal {
                return Err(
                    "no input: give log files or directories, or pipe logs into stdin (use `-`)"
                        .to_string(),
                );
            }
            paths.push("-".to_string());
        }
        if paths.iter().filter(|p| *p == "-").count() > 1 {
            return Err("`-` (stdin) can be given only once".to_string());
        }
        let format = resolve_format(args.format, args.output.as_deref(), env.stdout_is_terminal);
        Ok(AnalyzeConfig {
            paths,
            format,
            output: args.output.clone(),
            window: TimeWindow { since, until },
            patterns: args.catalogue.patterns.clone(),
            fail_on: args.fail_on.map(severity_for),
            input_format: args.input_format.map(input_format),
            show_sql: args.show_sql,
            cloud,
            workers: match args.threads {
                Some(0) => return Err("--threads must be at least 1".to_string()),
                Some(n) => n,
                None => default_workers(),
            },
            insights,
            events: args.events.clone(),
            quiet: args.quiet,
        })
    }
}

impl AnalyzeConfig {
    /// The log side of `diagnose`: the proxy's log group over the window, nothing else.
    pub fn for_diagnose(
        args: &crate::cli::DiagnoseArgs,
        env: Env,
    ) -> Result<AnalyzeConfig, String> {
        let since = args.since.resolve(env.now);
        let until = args.until.map(|t| t.resolve(env.now));
        let end = until.unwrap_or(env.now);
        if since >= end {
            return Err("--since must be before --until (and before now)".to_string());
        }
        if args.proxy.is_empty() || args.proxy.contains('/') {
            return Err("--proxy takes a proxy name".to_string());
        }
        if !(args.max_tps.is_finite() && args.max_tps > 0.0) {
            return Err("--max-tps must be a positive number of requests per second".to_string());
        }
        let format = resolve_format(args.format, args.output.as_deref(), env.stdout_is_terminal);
        Ok(AnalyzeConfig {
            paths: Vec::new(),
            format,
            output: args.output.clone(),
            window: TimeWindow {
                since: Some(since),
                until,
            },
            patterns: None,
            fail_on: args.fail_on.map(severity_for),
            input_format: None,
            show_sql: args.show_sql,
            workers: default_workers(),
            insights: None,
            events: args.events.clone(),
            quiet: args.quiet,
            cloud: Some(CloudConfig {
                groups: vec![proxy_log_group(&args.proxy)],
                start: since,
                end,
                save: args.save.clone(),
                max_tps: args.max_tps,
                page_limit: crate::source::cloudwatch::PAGE_LIMIT,
                aws: aws_options(&args.aws),
            }),
        })
    }
}

/// The severity a `--fail-on` value stands for.
pub fn severity_for(fail_on: FailOn) -> Severity {
    match fail_on {
        FailOn::Critical => Severity::Critical,
        FailOn::Warning => Severity::Warning,
    }
}

pub fn input_format(arg: InputFormatArg) -> InputFormat {
    match arg {
        InputFormatArg::Text => InputFormat::Text,
        InputFormatArg::Json => InputFormat::Json,
        InputFormatArg::Ndjson => InputFormat::Ndjson,
        InputFormatArg::InsightsCsv => InputFormat::InsightsCsv,
    }
}

/// The report format: as given, else from the output file's extension, else `table` on a
/// terminal and `json` in a pipe.
pub fn resolve_format(
    format: Option<FormatArg>,
    output: Option<&Path>,
    stdout_is_terminal: bool,
) -> Format {
    match (format, output) {
        (Some(FormatArg::Table), _) => Format::Table,
        (Some(FormatArg::Json), _) => Format::Json,
        (Some(FormatArg::Markdown), _) => Format::Markdown,
        (Some(FormatArg::Html), _) => Format::Html,
        (None, Some(output)) => format_for_path(output),
        (None, None) if stdout_is_terminal => Format::Table,
        (None, None) => Format::Json,
    }
}

/// AWS connection settings from the command line.
pub fn aws_options(args: &crate::cli::AwsArgs) -> AwsOptions {
    AwsOptions {
        profile: args.profile.clone(),
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
    }
}

fn format_for_path(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Format::Json,
        Some("md" | "markdown") => Format::Markdown,
        Some("html" | "htm") => Format::Html,
        _ => Format::Table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    const NOW: Millis = 1_700_000_000_000;

    fn config(argv: &[&str], stdout_tty: bool, stdin_tty: bool) -> Result<AnalyzeConfig, String> {
        let mut full = vec!["proxydoc", "analyze"];
        full.extend_from_slice(argv);
        let cli = Cli::try_parse_from(full).map_err(|e| e.to_string())?;
        let Command::Analyze(args) = cli.command else {
            panic!("not analyze")
        };
        AnalyzeConfig::from_args(
            &args,
            Env {
                now: NOW,
                stdout_is_terminal: stdout_tty,
                stdin_is_terminal: stdin_tty,
            },
        )
    }

    #[test]
    fn format_defaults() {
        assert_eq!(config(&["a"], true, true).unwrap().format, Format::Table);
        assert_eq!(config(&["a"], false, true).unwrap().format, Format::Json);
        assert_eq!(
            config(&["a", "-o", "r.md"], false, true).unwrap().format,
            Format::Markdown
        );
        assert_eq!(
            config(&["a", "-o", "r.json"], true, true).unwrap().format,
            Format::Json
        );
        assert_eq!(
            config(&["a", "-o", "report.html"], true, true)
                .unwrap()
                .format,
            Format::Html
        );
        assert_eq!(
            config(&["a", "--format", "html"], false, true)
                .unwrap()
                .format,
            Format::Html
        );
        assert_eq!(
            config(&["a", "--format", "markdown"], false, true)
                .unwrap()
                .format,
            Format::Markdown
        );
    }

    #[test]
    fn time_window_rules() {
        let c = config(&["a", "--since", "2h"], true, true).unwrap();
        assert_eq!(c.window.since, Some(NOW - 7_200_000));
        let err = config(&["a", "--since", "1h", "--until", "2h"], true, true).unwrap_err();
        assert!(err.contains("--since must be before --until"));
        // clap reads the value: a usage error naming the flag.
        let err = Cli::try_parse_from(["proxydoc", "analyze", "a", "--since", "soon"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--since") && err.contains("is neither an RFC 3339 time"),
            "{err}"
        );
    }

    #[test]
    fn cloudwatch_sources() {
        let c = config(
            &[
                "--proxy",
                "orders",
                "--log-group",
                "/aws/rds/proxy/orders",
                "--log-group",
                "g2",
            ],
            true,
            true,
        )
        .unwrap();
        let cloud = c.cloud.unwrap();
        assert_eq!(cloud.groups, ["/aws/rds/proxy/orders", "g2"]);
        assert_eq!((cloud.start, cloud.end), (NOW - DEFAULT_CLOUD_WINDOW, NOW));
        assert!(
            c.paths.is_empty(),
            "stdin is not read when CloudWatch is the source"
        );
        assert_eq!(
            c.window.since, None,
            "the default fetch window does not filter files"
        );
        assert!(
            config(&["--save", "x.ndjson", "a"], true, true)
                .unwrap_err()
                .contains("--save")
        );
        assert!(
            config(&["--proxy", "a/b"], true, true)
                .unwrap_err()
                .contains("--log-group")
        );
        assert!(config(&["--proxy", "p", "--max-tps", "0"], true, true).is_err());
        let c = config(
            &["--proxy", "p", "--since", "2h", "--until", "1h"],
            true,
            true,
        )
        .unwrap();
        assert_eq!(c.cloud.unwrap().end, NOW - 3_600_000);
    }

    #[test]
    fn stdin_rules() {
        assert_eq!(config(&[], true, false).unwrap().paths, ["-"]);
        assert!(config(&[], true, true).unwrap_err().starts_with("no input"));
        assert!(config(&["-", "-"], true, false).is_err());
    }
}
