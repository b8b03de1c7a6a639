//! `proxydoc tail`'s command line, validated into a [`TailConfig`] (durations, groups and
//! proxies, the event filter, colour and NDJSON, enhanced-logging management).

use std::path::PathBuf;

use crate::aws::AwsOptions;
use crate::config::{aws_options, proxy_log_group, resolve_format, severity_for};
use crate::model::{Millis, Severity};
use crate::report::Format;

/// What a terminal `tail` runs in.
#[derive(Debug, Clone, Copy)]
pub struct TailEnv {
    pub stdout_is_terminal: bool,
    pub stderr_is_terminal: bool,
    pub no_color: bool,
}

/// `tail --enable-logging`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedLogging {
    pub proxy: String,
    pub for_ms: Millis,
    pub keep: bool,
    pub renew: bool,
}

/// `proxydoc tail`, validated.
#[derive(Debug, Clone)]
pub struct TailConfig {
    pub groups: Vec<String>,
    /// The proxies among the groups (their logging state is read and cleaned up).
    pub proxies: Vec<String>,
    pub poll: bool,
    pub filter: crate::tail::view::Filter,
    pub duration: Option<std::time::Duration>,
    pub save: Option<PathBuf>,
    /// `--events-table FILE`.
    pub events_table: Option<PathBuf>,
    pub ndjson: bool,
    pub colour: bool,
    pub format: Format,
    pub output: Option<PathBuf>,
    /// The report goes to stderr (stdout carries NDJSON events).
    pub report_to_stderr: bool,
    pub fail_on: Option<Severity>,
    pub show_sql: bool,
    pub logging: Option<ManagedLogging>,
    pub wait: std::time::Duration,
    pub max_tps: f64,
    pub poll_interval: std::time::Duration,
    pub overlap: Millis,
    pub logging_check: std::time::Duration,
    pub patterns: Option<PathBuf>,
    pub aws: AwsOptions,
}

impl TailConfig {
    pub fn from_args(args: &crate::cli::TailArgs, env: TailEnv) -> Result<TailConfig, String> {
        let mut groups: Vec<String> = args.proxy.iter().map(|p| proxy_log_group(p)).collect();
        for group in &args.log_group {
            if !groups.contains(group) {
                groups.push(group.clone());
            }
        }
        if groups.is_empty() {
            return Err("tail needs --proxy NAME or --log-group GROUP".to_string());
        }
        let logging = if args.enable_logging {
            let [proxy] = args.proxy.as_slice() else {
                return Err(
                    "--enable-logging manages one proxy: give exactly one --proxy".to_string(),
                );
            };
            let for_ms = match args.logging_for {
                Some(span) => crate::enhanced_logging::check_for(span)?,
                None => crate::enhanced_logging::DEFAULT_FOR,
            };
            Some(ManagedLogging {
                proxy: proxy.clone(),
                for_ms,
                keep: args.keep_logging,
                renew: args.renew_logging,
            })
        } else {
            None
        };
        let filter = crate::tail::view::Filter {
            kinds: args
                .kinds
                .as_deref()
                .map(crate::tail::view::Filter::parse_kinds)
                .transpose()?,
            user: args.user.clone(),
            client: args.client.clone(),
        };
        let ndjson = match args.events {
            Some(crate::cli::EventsFormat::Ndjson) => true,
            Some(crate::cli::EventsFormat::Text) => false,
            None => !env.stdout_is_terminal,
        };
        let colour = match args.color {
            crate::cli::ColorChoice::Always => true,
            crate::cli::ColorChoice::Never => false,
            crate::cli::ColorChoice::Auto => env.stdout_is_terminal && !env.no_color && !ndjson,
        };
        let report_to_stderr = args.output.is_none() && !env.stdout_is_terminal;
        let report_terminal = if report_to_stderr {
            env.stderr_is_terminal
        } else {
            env.stdout_is_terminal
        };
        if !args.max_tps.is_finite() || args.max_tps <= 0.0 {
            return Err(format!("--max-tps {} must be more than 0", args.max_tps));
        }
        Ok(TailConfig {
            groups,
            proxies: args.proxy.clone(),
            poll: args.poll,
            filter,
            duration: args.duration,
            save: args.save.clone(),
            events_table: args.events_table.clone(),
            ndjson,
            colour,
            format: resolve_format(args.format, args.output.as_deref(), report_terminal),
            output: args.output.clone(),
            report_to_stderr,
            fail_on: args.fail_on.map(severity_for),
            show_sql: args.show_sql,
            logging,
            wait: args.wait,
            max_tps: args.max_tps,
            poll_interval: args.poll_interval,
            overlap: i64::try_from(args.overlap.as_millis()).unwrap_or(i64::MAX),
            logging_check: args.logging_check,
            patterns: args.catalogue.patterns.clone(),
            aws: aws_options(&args.aws),
        })
    }
}
