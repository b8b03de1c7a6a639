//! The Markdown rendering, for pasting into an incident document.

use std::io::{self, Write};

use super::{CheckOut, FindingOut, Report, sparkline, timeline_columns};
use crate::timefmt::hh_mm;

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    header(report, out)?;
    findings(report, out)?;
    if let Some(checks) = &report.checks {
        self::checks(checks, out)?;
        if report.input.lines == 0 {
            return Ok(());
        }
    }
    kinds(report, out)?;
    top_clients(report, out)?;
    timeline(report, out)?;
    unparsed(report, out)
}

/// The title, the window and the inputs, with their errors and warnings.
fn header(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# RDS Proxy connection report")?;
    writeln!(out)?;
    if !report.has_log_input() {
        writeln!(out, "- {}", super::table::NO_LOGS)?;
        return writeln!(out);
    }
    writeln!(out, "- {}", super::table::header_line(report))?;
    writeln!(out, "- {}", super::table::input_line(report))?;
    for error in &report.input.errors {
        writeln!(
            out,
            "- **unreadable input** `{}`: {}",
            error.path,
            escape(&error.error)
        )?;
    }
    for warning in &report.input.warnings {
        writeln!(out, "- **warning**: {}", escape(warning))?;
    }
    writeln!(out)
}

/// The findings table, then a section per finding.
fn findings(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "## Findings")?;
    writeln!(out)?;
    if report.findings.is_empty() {
        return writeln!(
            out,
            "No findings: nothing in these logs points at a connection problem."
        );
    }
    writeln!(
        out,
        "| # | cause | severity | events | confidence | first seen | last seen |"
    )?;
    writeln!(out, "|---:|---|---|---:|---:|---|---|")?;
    for (i, f) in report.findings.iter().enumerate() {
        writeln!(
            out,
            "| {} | `{}` | {} | {} | {:.2} | {} | {} |",
            i + 1,
            f.cause,
            f.severity,
            f.events,
            f.confidence,
            f.first_seen.as_deref().unwrap_or("-"),
            f.last_seen.as_deref().unwrap_or("-")
        )?;
    }
    for (i, f) in report.findings.iter().enumerate() {
        finding(i + 1, f, out)?;
    }
    Ok(())
}

fn finding(n: usize, f: &FindingOut, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "### {n}. `{}`: {} ({})", f.cause, f.title, f.severity)?;
    writeln!(out)?;
    writeln!(out, "**Why** ({:.2}): {}", f.confidence, escape(&f.why))?;
    writeln!(out)?;
    if let Some(onset) = &f.onset {
        writeln!(out, "**Onset**: {}", escape(&onset.summary))?;
        writeln!(out)?;
    }
    for alternative in &f.alternatives {
        writeln!(
            out,
            "**Or** `{}`: {}. To tell them apart: {}",
            alternative.cause,
            escape(&alternative.why),
            alternative.check
        )?;
        writeln!(out)?;
    }
    for (label, values) in [
        ("Users", &f.users),
        ("Clients", &f.clients),
        ("Endpoints", &f.endpoints),
    ] {
        if !values.is_empty() {
            let list: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            writeln!(out, "- {label}: {}", list.join(", "))?;
        }
    }
    if !f.evidence.is_empty() {
        writeln!(out)?;
        writeln!(out, "Evidence:")?;
        writeln!(out)?;
        code_block(out, f.evidence.iter())?;
    }
    if !f.remediation.is_empty() {
        writeln!(out)?;
        writeln!(out, "Fix:")?;
        writeln!(out)?;
        for (n, step) in f.remediation.iter().enumerate() {
            writeln!(out, "{}. {}", n + 1, step)?;
        }
    }
    Ok(())
}

/// Lines in a ```text block (a fence inside a line is defused).
fn code_block<'a>(out: &mut dyn Write, lines: impl Iterator<Item = &'a String>) -> io::Result<()> {
    writeln!(out, "```text")?;
    for line in lines {
        writeln!(out, "{}", line.replace("```", "'''"))?;
    }
    writeln!(out, "```")
}

/// The control-plane checks (`check`, `diagnose`).
fn checks(checks: &[CheckOut], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "## Checks")?;
    writeln!(out)?;
    writeln!(out, "| check | status | detail |")?;
    writeln!(out, "|---|---|---|")?;
    for check in checks {
        writeln!(
            out,
            "| {} | {:?} | {} |",
            check.check,
            check.status,
            escape(&check.detail)
        )?;
    }
    Ok(())
}

/// Events by kind, then the sessions line.
fn kinds(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "## Events by kind")?;
    writeln!(out)?;
    writeln!(out, "| kind | events |")?;
    writeln!(out, "|---|---:|")?;
    for (kind, n) in report.counts.iter().filter(|(_, n)| **n > 0) {
        writeln!(out, "| {kind} | {n} |")?;
    }
    let s = &report.sessions;
    if s.sessions > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "Sessions (by `clientConnection`): {} seen, {} connected, {} authenticated, {} auth failed, {} pinned, {} closed.",
            s.sessions, s.connected, s.authenticated, s.auth_failed, s.pinned, s.closed
        )?;
    }
    Ok(())
}

fn top_clients(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    if report.top.clients.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "## Top clients")?;
    writeln!(out)?;
    writeln!(out, "| client | events | failures |")?;
    writeln!(out, "|---|---:|---:|")?;
    for row in report.top.clients.iter().take(5) {
        writeln!(
            out,
            "| `{}` | {} | {} |",
            row.value, row.events, row.failures
        )?;
    }
    Ok(())
}

/// Events and failures per minute as two sparklines.
fn timeline(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let Some((per, start, totals, failures)) = timeline_columns(report, 60) else {
        return Ok(());
    };
    let end = start + (totals.len() as i64 * per - 1) * 60_000;
    writeln!(out)?;
    writeln!(
        out,
        "## Timeline (UTC, one column = {per} min, {} … {})",
        hh_mm(start),
        hh_mm(end)
    )?;
    writeln!(out)?;
    writeln!(out, "```text")?;
    writeln!(out, "events   {}", sparkline(&totals))?;
    writeln!(out, "failures {}", sparkline(&failures))?;
    writeln!(out, "```")?;
    if let Some(note) = super::resolution_note(report) {
        writeln!(out)?;
        writeln!(out, "Note: {note}.")?;
    }
    Ok(())
}

fn unparsed(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    if report.input.unparsed == 0 {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "## Unparsed lines ({})", report.input.unparsed)?;
    writeln!(out)?;
    code_block(out, report.unparsed.samples.iter().take(3))
}

/// Escapes characters that Markdown would read as table or emphasis syntax.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('*', "\\*")
        .replace('_', "\\_")
}
