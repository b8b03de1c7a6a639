//! `iam-policy`: the least-privilege IAM policy for some commands, or the table of every call
//! proxydoc makes, both from [`crate::aws::actions`], the table the calls themselves use.

use std::io::Write;

use anyhow::{Context, Result};

use crate::aws::actions;
use crate::cli::IamPolicyArgs;
use crate::error::{ExitCode, UsageError};

pub fn run(args: IamPolicyArgs) -> Result<ExitCode> {
    let text = if args.table {
        actions::markdown()
    } else {
        let purposes = actions::purposes(&args.commands).map_err(|name| {
            let known: Vec<&str> = actions::COMMANDS.iter().map(|(n, _, _)| *n).collect();
            UsageError(format!(
                "no command `{name}` to write a policy for; the commands are: {}",
                known.join(", ")
            ))
        })?;
        let mut text = serde_json::to_string_pretty(&actions::policy(&purposes))
            .context("cannot format the policy")?;
        text.push('\n');
        text
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the policy to stdout")?;
    Ok(ExitCode::Ok)
}
