//! The `proxydoc` binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;

use proxydoc::cli::Cli;
use proxydoc::error::{ExitCode, Failed, UsageError, is_broken_pipe};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("proxydoc: error: cannot start the async runtime: {e}");
            return ExitCode::InputError.into();
        }
    };
    match runtime.block_on(proxydoc::cmd::run(cli)) {
        Ok(code) => code.into(),
        Err(e) if is_broken_pipe(&e) => ExitCode::Ok.into(),
        Err(e) if e.downcast_ref::<Failed>().is_some() => {
            eprintln!("proxydoc: {e:#}");
            ExitCode::InputError.into()
        }
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("proxydoc: error: {e:#}");
            ExitCode::Usage.into()
        }
        Err(e) => {
            eprintln!("proxydoc: error: {e:#}");
            ExitCode::InputError.into()
        }
    }
}
