//! `proxydoc tail`: follow the proxy's log groups live while a problem is reproduced.
//!
//! - [`driver`]: Live Tail sessions and the polling fallback, de-duplicated, as one channel of
//!   events and notices (no presentation, runs on fakes in its tests).
//! - [`view`]: how events are shown (filters, lines, NDJSON, the status line), pure.
//! - [`options`]: the command line validated into a [`options::TailConfig`].
//! - [`command`]: the event loop: signals, enhanced-logging management, printing, the final
//!   report.

pub mod command;
pub mod driver;
pub mod options;
pub mod view;
