//! `completions` and `man`: the command line described for shells and for `man`, generated
//! from the same clap definitions that parse it (so they cannot drift from the real flags).

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{ExitCode, UsageError};

/// Prints the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut command = Cli::command();
    // Generated into memory first: the generator cannot report a failed write.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "proxydoc", &mut script);
    write_out(&script).with_context(|| format!("cannot write the {shell} completion script"))?;
    Ok(ExitCode::Ok)
}

/// Prints the manual page of proxydoc, or of one of its commands, to stdout (roff).
pub fn man(command: Option<&str>) -> Result<ExitCode> {
    let cli = Cli::command();
    let page = match command {
        None => cli,
        Some(name) => {
            let Some(sub) = cli.find_subcommand(name) else {
                let known: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
                return Err(UsageError(format!(
                    "no command `{name}` to print a manual page for; the commands are: {}",
                    known.join(", ")
                ))
                .into());
            };
            let page = sub
                .clone()
                .name(format!("proxydoc-{name}"))
                .bin_name(format!("proxydoc {name}"));
            match cli.get_version() {
                Some(version) => page.version(version.to_string()),
                None => page,
            }
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .context("cannot render the manual page")?;
    write_out(&roff).context("cannot write the manual page")?;
    Ok(ExitCode::Ok)
}

fn write_out(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
