//! proxydoc: why applications cannot connect through Amazon RDS Proxy.
//!
//! # Layout
//!
//! The modules are listed in the order data flows through them (ARCHITECTURE.md has the
//! whole map and the layering table):
//!
//! - [`cli`], [`config`]: the command line (clap derive) and its validation.
//! - [`cmd`]: the commands, wiring the stages together.
//! - [`source`]: files, directories, stdin, CloudWatch; format detection; records out.
//! - [`pipeline`]: the synchronous per-record core (parse, classify, window, aggregate).
//! - [`parse`]: the nom envelope parser (timestamps, level, context tags).
//! - [`classify`]: the pattern catalogue and the classifier (typed events out).
//! - [`aggregate`]: incremental aggregation and onsets; polars stays inside this module.
//! - [`rules`]: findings (root causes) from the aggregates.
//! - [`report`]: the `proxydoc.report/v1` document and its table, Markdown and JSON renderings.
//! - [`audit`]: the control-plane checks (`check`, `diagnose`) over a snapshot read by [`aws`].
//! - [`enhanced_logging`]: the enhanced-logging lifecycle (tags, 24-hour arithmetic, steps).
//! - [`tail`], [`insights`]: `proxydoc tail` and the Logs Insights engine.
//!
//! Shared types live in [`model`]; [`timefmt`] holds calendar arithmetic and [`clock`] the
//! injectable notion of "now".
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod aggregate;
pub mod audit;
pub mod aws;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod enhanced_logging;
pub mod error;
pub mod insights;
pub mod model;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod redact;
pub mod report;
pub mod rules;
pub mod source;
pub mod tail;
pub mod timefmt;
