//! `analyze --engine insights`: the analysis run inside CloudWatch Logs Insights.
//!
//! - [`plan`]: the catalogue as one Logs Insights query and result rows folded into the
//!   aggregator, pure.
//! - [`driver`]: StartQuery over at most 50 groups, polling with backoff, results split on
//!   minute boundaries, the scan budget.
//! - [`command`]: the scan estimate and guard, the run, evidence sampled for the top findings,
//!   the report.

pub mod command;
pub mod driver;
pub mod plan;
