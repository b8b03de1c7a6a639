//! From parsed arguments to a validated run configuration.
//!
//! Each rule is one check with a message that says what to change; a failure here is a usage
//! error (exit code 2).

use std::path::{Path, PathBuf};

use crate::cli::{AnalyzeArgs, FailOn, InputFormatArg};
use crate::model::{Millis, Severity};
use crate::pipeline::TimeWindow;
use crate::report::Format;
use crate::source::InputFormat;
use crate::timefmt::parse_time_arg;

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
        let since = args
            .since
            .as_deref()
            .map(|t| parse_time_arg(t, env.now).map_err(|e| format!("--since: {e}")))
            .transpose()?;
        let until = args
            .until
            .as_deref()
            .map(|t| parse_time_arg(t, env.now).map_err(|e| format!("--until: {e}")))
            .transpose()?;
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err("--since must be before --until".to_string());
        }
        let mut paths = args.paths.clone();
        if paths.is_empty() {
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
        let format = match (args.format, &args.output) {
            (Some(format), _) => format,
            (None, Some(output)) => format_for_path(output),
            (None, None) if env.stdout_is_terminal => Format::Table,
            (None, None) => Format::Json,
        };
        Ok(AnalyzeConfig {
            paths,
            format,
            output: args.output.clone(),
            window: TimeWindow { since, until },
            patterns: args.catalogue.patterns.clone(),
            fail_on: args.fail_on.map(|f| match f {
                FailOn::Critical => Severity::Critical,
                FailOn::Warning => Severity::Warning,
            }),
            input_format: args.input_format.map(input_format),
            show_sql: args.show_sql,
        })
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

fn format_for_path(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Format::Json,
        Some("md" | "markdown") => Format::Markdown,
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
        assert!(
            config(&["a", "--since", "soon"], true, true)
                .unwrap_err()
                .starts_with("--since:")
        );
    }

    #[test]
    fn stdin_rules() {
        assert_eq!(config(&[], true, false).unwrap().paths, ["-"]);
        assert!(config(&[], true, true).unwrap_err().starts_with("no input"));
        assert!(config(&["-", "-"], true, false).is_err());
    }
}
