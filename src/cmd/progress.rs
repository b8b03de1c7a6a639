//! Progress on stderr for long work, with indicatif: reading files (bytes of the total, rate,
//! time left), fetching CloudWatch (the window covered, events, pages, throttles) and Logs
//! Insights queries (queries done, bytes scanned and their cost). Only on a
//! terminal and without `--quiet`: a pipe or a log file gets nothing extra. Counters are
//! atomics the readers and the fetcher bump; a ticker copies them into the bar.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::insights::driver::QueryProgress;
use crate::source::Input;
use crate::source::cloudwatch::Progress;

/// Whether to show progress: stderr is a terminal and `--quiet` was not given.
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar over the bytes of `inputs` (a spinner when a size is unknown: stdin); `read` is
/// what the readers add to.
pub fn files(inputs: &[Input], read: Arc<AtomicU64>) -> Ticking {
    let sizes: Option<u64> = inputs
        .iter()
        .map(|input| match input {
            Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Input::Stdin => None,
        })
        .sum();
    let bar = match sizes {
        Some(total) => ProgressBar::new(total).with_style(style(
            "reading {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )),
        None => ProgressBar::new_spinner()
            .with_style(style("reading {spinner} {bytes} {binary_bytes_per_sec}")),
    };
    Ticking::start(bar, move |bar| bar.set_position(read.load(Relaxed)))
}

/// A bar over the CloudWatch window `start..end`: the latest event time fetched, events,
/// pages, throttles and retries.
pub fn cloudwatch(start: i64, end: i64, progress: Arc<Progress>) -> Ticking {
    let span = u64::try_from(end.saturating_sub(start)).unwrap_or(0).max(1);
    let bar = ProgressBar::new(span)
        .with_style(style("cloudwatch {bar:30} {percent}% of the window {msg}"));
    Ticking::start(bar, move |bar| {
        let last = progress.last_ts.load(Relaxed);
        let first = progress.first_ts.load(Relaxed);
        if first <= last {
            bar.set_position(
                u64::try_from(last.saturating_sub(start))
                    .unwrap_or(0)
                    .min(span),
            );
        }
        bar.set_message(format!(
            "{} events, {} pages, {} throttled, {} retried",
            progress.events.load(Relaxed),
            progress.pages.load(Relaxed),
            progress.throttles.load(Relaxed),
            progress.retries.load(Relaxed),
        ));
    })
}

/// A bar over the Logs Insights queries: done of planned (splits add two each), the bytes
/// scanned so far (the running query's included) and what they cost.
pub fn insights(progress: Arc<QueryProgress>) -> Ticking {
    let bar = ProgressBar::new(progress.planned.load(Relaxed).max(1)).with_style(style(
        "insights {bar:30} {pos}/{len} queries {msg} {elapsed}",
    ));
    Ticking::start(bar, move |bar| {
        bar.set_length(progress.planned.load(Relaxed).max(1));
        bar.set_position(progress.done.load(Relaxed));
        let scanned = progress.scanned() as f64;
        let splits = progress.splits.load(Relaxed);
        bar.set_message(format!(
            "{} scanned (about ${:.4}){}",
            crate::insights::plan::human_bytes(scanned),
            crate::insights::plan::cost_usd(scanned),
            if splits > 0 {
                format!(", {splits} split in halves")
            } else {
                String::new()
            }
        ));
    })
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A bar and the thread that refreshes it; cleared when dropped.
pub struct Ticking {
    bar: ProgressBar,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticking {
    fn start(bar: ProgressBar, update: impl Fn(&ProgressBar) + Send + 'static) -> Ticking {
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ticker_bar, ticker_stop) = (bar.clone(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !ticker_stop.load(Relaxed) {
                update(&ticker_bar);
                ticker_bar.tick();
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Ticking {
            bar,
            stop,
            thread: Some(thread),
        }
    }
}

impl crate::insights::driver::ProgressDisplay for Ticking {
    /// Prints a line above the bar.
    fn println(&self, line: &str) {
        self.bar.println(line);
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.bar.finish_and_clear();
    }
}
