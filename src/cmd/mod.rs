//! The commands. [`run`] hands each subcommand to the module that owns it: `analyze`,
//! `check`, `diagnose` and `patterns` here (one file each, `completions` and `man` in `shell.rs`, wiring sources → pipeline → rules →
//! report), `logging` to [`crate::enhanced_logging`], `tail` to [`crate::tail`]; `analyze
//! --engine insights` goes on to [`crate::insights`].

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::error::ExitCode;

mod analyze;
mod check;
mod diagnose;
mod iam_policy;
mod patterns;
mod progress;
mod shell;
mod sources;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => analyze::analyze(*args).await,
        Command::Check(args) => check::check(*args).await,
        Command::Diagnose(args) => diagnose::diagnose(*args).await,
        Command::Logging(args) => crate::enhanced_logging::command::logging_command(*args).await,
        Command::Tail(args) => crate::tail::command::tail(*args).await,
        Command::Patterns(args) => patterns::patterns(args),
        Command::Completions(args) => shell::completions(args.shell),
        Command::Man(args) => shell::man(args.command.as_deref()),
        Command::IamPolicy(args) => iam_policy::run(args),
    }
}
