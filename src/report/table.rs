//! The terminal rendering: comfy-table tables and wrapped text, readable at 80 columns.
//!
//! Layout: a header (window, inputs), the findings table, each finding's why, evidence and fix,
//! then the supporting counts and a compact timeline. No colour, fixed width, so the output is
//! the same on a terminal, in a pipe and in a snapshot.

use std::io::{self, Write};

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};

use super::{CheckOut, FindingOut, Report, sparkline, timeline_columns};
use crate::timefmt::hh_mm;

/// Width the table rendering is laid out for.
pub const WIDTH: u16 = 80;

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
    sessions(report, out)?;
    top(report, out)?;
    timeline(report, out)?;
    unparsed(report, out)
}

/// The title, the window and the inputs, with their errors and warnings.
fn header(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "proxydoc — RDS Proxy connection report")?;
    if !report.has_log_input() {
        writeln!(out, "{NO_LOGS}")?;
        return Ok(());
    }
    writeln!(out, "{}", header_line(report))?;
    writeln!(out, "{}", input_line(report))?;
    for error in &report.input.errors {
        writeln!(out, "  ! {}: {}", error.path, error.error)?;
    }
    for warning in &report.input.warnings {
        writeln!(out, "  ! warning: {warning}")?;
    }
    writeln!(out)
}

/// The findings table, then each finding's why, evidence and fix.
fn findings(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    if report.findings.is_empty() {
        return writeln!(
            out,
            "No findings: nothing in these logs points at a connection problem."
        );
    }
    let mut table = new_table();
    table.set_header([
        "#",
        "cause",
        "severity",
        "events",
        "conf.",
        "first seen (UTC)",
    ]);
    for (i, f) in report.findings.iter().enumerate() {
        table.add_row([
            (i + 1).to_string(),
            f.cause.clone(),
            f.severity.to_string(),
            f.events.to_string(),
            format!("{:.2}", f.confidence),
            f.first_seen.as_deref().map_or("-".to_string(), short_time),
        ]);
    }
    right_align(&mut table, &[0, 3, 4]);
    writeln!(out, "{table}")?;
    for (i, f) in report.findings.iter().enumerate() {
        finding(i + 1, f, report.has_log_input(), out)?;
    }
    Ok(())
}

fn finding(n: usize, f: &FindingOut, logs: bool, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{n}. {} — {} [{}]", f.cause, f.title, f.severity)?;
    wrap_into(
        out,
        "   why: ",
        &format!("{} (confidence {:.2})", f.why, f.confidence),
    )?;
    // Without log input nothing was "seen" in a log.
    match (&f.first_seen, &f.last_seen) {
        (Some(a), Some(b)) => wrap_into(out, "   seen: ", &format!("{a} … {b}"))?,
        _ if logs => wrap_into(out, "   seen: ", "no timestamps")?,
        _ => {}
    }
    if let Some(onset) = &f.onset {
        wrap_into(out, "   onset: ", &onset.summary)?;
    }
    for alternative in &f.alternatives {
        wrap_into(
            out,
            "   or: ",
            &format!(
                "{} — {}. To tell them apart: {}",
                alternative.cause, alternative.why, alternative.check
            ),
        )?;
    }
    for (label, values) in [
        ("users: ", &f.users),
        ("clients: ", &f.clients),
        ("endpoints: ", &f.endpoints),
    ] {
        if !values.is_empty() {
            wrap_into(out, &format!("   {label}"), &values.join(", "))?;
        }
    }
    if !f.evidence.is_empty() {
        writeln!(out, "   evidence:")?;
        for line in &f.evidence {
            wrap_into(out, "     > ", line)?;
        }
    }
    if !f.remediation.is_empty() {
        writeln!(out, "   fix:")?;
        for (n, step) in f.remediation.iter().enumerate() {
            wrap_into(out, &format!("     {}. ", n + 1), step)?;
        }
    }
    Ok(())
}

/// The control-plane checks (`check`, `diagnose`).
fn checks(checks: &[CheckOut], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "Checks")?;
    let mut table = new_table();
    table.set_header(["check", "status", "detail"]);
    for check in checks {
        table.add_row([
            check.check.clone(),
            format!("{:?}", check.status).to_lowercase(),
            check.detail.clone(),
        ]);
    }
    writeln!(out, "{table}")
}

/// Events by kind, in two columns.
fn kinds(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "Events by kind")?;
    let mut table = new_table();
    table.set_header(["kind", "events", "kind", "events"]);
    let kinds: Vec<_> = report.counts.iter().filter(|(_, n)| **n > 0).collect();
    let half = kinds.len().div_ceil(2);
    for row in 0..half {
        let mut cells = Vec::new();
        for column in [row, row + half] {
            match kinds.get(column) {
                Some((kind, n)) => {
                    cells.push(kind.to_string());
                    cells.push(n.to_string());
                }
                None => cells.extend([String::new(), String::new()]),
            }
        }
        table.add_row(cells);
    }
    right_align(&mut table, &[1, 3]);
    writeln!(out, "{table}")
}

fn sessions(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.sessions;
    if s.sessions > 0 {
        writeln!(
            out,
            "Sessions (by clientConnection): {} seen, {} connected, {} authenticated, {} auth failed, {} pinned, {} closed",
            s.sessions, s.connected, s.authenticated, s.auth_failed, s.pinned, s.closed
        )?;
    }
    Ok(())
}

/// The top clients, users and endpoints.
fn top(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for (title, rows) in [
        ("Top clients", &report.top.clients),
        ("Top users", &report.top.users),
        ("Endpoints", &report.top.endpoints),
    ] {
        if rows.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(out, "{title}")?;
        let mut table = new_table();
        table.set_header(["value", "events", "failures"]);
        for row in rows.iter().take(5) {
            table.add_row([
                row.value.clone(),
                row.events.to_string(),
                row.failures.to_string(),
            ]);
        }
        right_align(&mut table, &[1, 2]);
        writeln!(out, "{table}")?;
    }
    Ok(())
}

/// Events and failures per minute as two sparklines.
fn timeline(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let Some((per, start, totals, failures)) = timeline_columns(report, 60) else {
        return Ok(());
    };
    writeln!(out)?;
    let end = start + (totals.len() as i64 * per - 1) * 60_000;
    writeln!(
        out,
        "Timeline (UTC, one column = {per} min, {} … {})",
        hh_mm(start),
        hh_mm(end)
    )?;
    writeln!(out, "  events   {}", sparkline(&totals))?;
    writeln!(out, "  failures {}", sparkline(&failures))?;
    if let Some(note) = super::resolution_note(report) {
        writeln!(out, "  ({note})")?;
    }
    if let Some(first) = report.timeline.iter().find(|m| m.failures > 0) {
        match report.timeline_bucket_minutes {
            0 | 1 => writeln!(out, "  first failure in minute {}", first.minute)?,
            bucket => writeln!(
                out,
                "  first failure in the {bucket} minutes from {}",
                first.minute
            )?,
        }
    }
    Ok(())
}

fn unparsed(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    if report.input.unparsed == 0 {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "Unparsed lines: {} (samples below; `proxydoc patterns test` shows why)",
        report.input.unparsed
    )?;
    for sample in report.unparsed.samples.iter().take(3) {
        wrap_into(out, "  > ", sample)?;
    }
    Ok(())
}

/// The header of a report without log input.
pub(super) const NO_LOGS: &str = "Control-plane checks only: no logs were read.";

pub(super) fn header_line(report: &Report) -> String {
    match (&report.window.start, &report.window.end) {
        (Some(start), Some(end)) => format!("Window: {start} … {end}"),
        _ => "Window: no timestamps in the input".to_string(),
    }
}

pub(super) fn input_line(report: &Report) -> String {
    let i = &report.input;
    let mut text = format!(
        "Input: {} {}, {} lines, {} events, {} unparsed",
        i.files.len(),
        if i.files.len() == 1 { "file" } else { "files" },
        i.lines,
        i.events,
        i.unparsed
    );
    if i.filtered > 0 {
        text.push_str(&format!(", {} outside the time window", i.filtered));
    }
    if !i.errors.is_empty() {
        text.push_str(&format!(", {} unreadable", i.errors.len()));
    }
    text
}

fn new_table() -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(WIDTH);
    table
}

fn right_align(table: &mut Table, columns: &[usize]) {
    for &index in columns {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn short_time(ts: &str) -> String {
    // 2022-10-21T17:25:29.482Z -> 10-21 17:25:29
    ts.get(5..19)
        .map_or_else(|| ts.to_string(), |s| s.replace('T', " "))
}

/// Writes `text` after `prefix`, wrapped at [`WIDTH`] with continuation lines indented to the
/// prefix. Long words are split.
fn wrap_into(out: &mut dyn Write, prefix: &str, text: &str) -> io::Result<()> {
    for line in wrap(prefix, text, usize::from(WIDTH)) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Greedy word wrap. A word longer than the room (an ARN, a policy document) stays whole on
/// its own line, so that commands copied from the terminal still work.
pub(super) fn wrap(prefix: &str, text: &str, width: usize) -> Vec<String> {
    let indent = " ".repeat(prefix.chars().count());
    let room = width.saturating_sub(indent.len()).max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if current_len > 0 && current_len + 1 + len > room {
            let lead = if lines.is_empty() {
                prefix
            } else {
                indent.as_str()
            };
            lines.push(format!("{lead}{current}"));
            current.clear();
            current_len = 0;
        }
        if current_len > 0 {
            current.push(' ');
            current_len += 1;
        }
        current.push_str(word);
        current_len += len;
    }
    if current_len > 0 || lines.is_empty() {
        let lead = if lines.is_empty() {
            prefix
        } else {
            indent.as_str()
        };
        lines.push(format!("{lead}{current}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_width_with_hanging_indent() {
        let lines = wrap("  > ", &"word ".repeat(40), 30);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        assert!(lines[0].starts_with("  > word"));
        assert!(lines[1].starts_with("    word"));
        let long = "a".repeat(100);
        let lines = wrap("x ", &format!("short {long} tail"), 30);
        assert_eq!(
            lines,
            [
                "x short".to_string(),
                format!("  {long}"),
                "  tail".to_string()
            ]
        );
        assert_eq!(wrap("p: ", "", 30), ["p: "]);
    }
}
