//! The integration suite, one test binary (so the large dependency tree links once).
//!
//! - `cli`: the binary end to end over `samples/`: expected causes, formats, exit codes.
//! - `layouts`: the same incident in every export layout gives the same findings and counts.
//! - `events`: `--events` tables read back with polars (Parquet, CSV, NDJSON).
//! - `html`: `--format html` parsed, and opened in headless Chromium over DevTools.
//! - `reports`: snapshots of the three report formats, with a fixed clock.
//! - `bad_input`: missing paths, truncated gzip, binary and malformed files, huge lines.
//! - `fuzz`: property tests over random bytes and mutated real lines.
//! - `catalogue`: the pattern catalogue lint.
//! - `check`: `proxydoc check` on misconfigured setups built in moto, `--client` paths included.
//! - `logging`: the enhanced-logging lifecycle against moto.
//! - `cloudwatch` (with `moto`): `analyze --proxy` against a local moto server over HTTP.
//! - `insights`: `analyze --engine insights` against moto (call sequence, budget, --emit-query).
//! - `tail`: `proxydoc tail` as a real process: polling, Live Tail, signals, enhanced logging.
//! - `pgo`: the profile-guided build's rustc wrapper adds its flag to proxydoc's crates only.
//! - `threads`: the same summary for any number of workers and any batch cuts (property test).
//! - `tidy`: every source file starts with a module doc; every `crate::` path follows the
//!   layering table of ARCHITECTURE.md, and the table has no cycles.

mod bad_input;
mod catalogue;
mod check;
mod cli;
mod cloudwatch;
mod common;
mod events;
mod fuzz;
mod html;
mod insights;
mod layouts;
mod logging;
mod moto;
mod pgo;
mod reports;
mod tail;
mod threads;
mod tidy;
