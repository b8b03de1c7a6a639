//! The `proxydoc` binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;

use proxydoc::cli::Cli;
use proxydoc::error::{ExitCode, Failed, UsageError, is_broken_pipe};

/// glibc keeps freed memory at the top of its heaps up to a threshold that it raises each time
/// a large block is freed, so the summary's tables built at the end of a long run land on top
/// of the workers' freed tables instead of in their place. A fixed threshold of 128 KiB gives
/// freed memory back: peak RSS on four weeks of logs 95 → 73 MiB, one week 61 → 52 MiB
/// (BENCHMARKS.md).
///
/// With `--events` each worker builds, encodes and compresses a row group of the table every
/// 65,536 events: the same few megabytes of buffers over and over. Given back to the kernel
/// and taken again each time, they cost a page fault and a zeroed page per 4 KiB, a third of
/// such a run's time; kept (blocks up to 4 MiB from the heaps, up to 4 MiB free at a heap's
/// top), the run takes 30% less time for 20-60 MiB more, which does not grow with the input
/// (BENCHMARKS.md, session 25).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    // Decided from the raw arguments: the allocator is tuned before any other thread exists,
    // and before the command line is parsed.
    let events = std::env::args_os().skip(1).any(|arg| {
        arg == "--events" || arg.to_str().is_some_and(|arg| arg.starts_with("--events="))
    });
    // SAFETY: `mallopt` only tunes the allocator; it is called first thing in `main`, before
    // any other thread exists.
    unsafe {
        if events {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
        } else {
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}

fn main() -> std::process::ExitCode {
    return_freed_memory();
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
