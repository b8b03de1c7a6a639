//! The HTML rendering: one self-contained page to attach to a ticket or open in a browser.
//!
//! Everything is inline: the CSS, the timeline chart (SVG drawn here, one point per bucket of
//! the report's timeline, gaps as zeros), and a small script that only adds to a page that
//! reads fully without it (copy buttons on commands, the counts of the bucket under the
//! pointer). A Content-Security-Policy forbids the page any request: no fonts, scripts or
//! images from elsewhere. Text comes from the report, already redacted, and is escaped here.
//! Light and dark by the reader's preference; printable (no buttons, findings unbroken).

use std::io::{self, Write};

use super::{CheckOut, CheckStatusOut, FindingOut, MinuteOut, Report};
use crate::model::{EventKind, Millis};
use crate::timefmt::{hh_mm, rfc3339};

const MINUTE: i64 = 60_000;

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let title = match report.findings.first() {
        Some(f) => format!("RDS Proxy report: {} ({})", f.cause, f.severity),
        None => "RDS Proxy report: no findings".to_string(),
    };
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">")?;
    writeln!(out, "<head>")?;
    writeln!(out, "<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    // The page may load nothing: everything it shows is in this file.
    writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
    )?;
    writeln!(
        out,
        "<meta name=\"generator\" content=\"proxydoc {}\">",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "<title>{}</title>", esc(&title))?;
    writeln!(out, "<style>{STYLE}</style>")?;
    writeln!(out, "</head>")?;
    writeln!(out, "<body>")?;
    header(report, out)?;
    writeln!(out, "<main>")?;
    verdict(report, out)?;
    if report.has_log_input() {
        timeline(report, out)?;
    }
    findings(report, out)?;
    if let Some(checks) = &report.checks {
        self::checks(checks, out)?;
    }
    if report.has_log_input() {
        kinds(report, out)?;
        top(report, out)?;
        input(report, out)?;
    }
    writeln!(out, "</main>")?;
    writeln!(
        out,
        "<footer>Generated {} by proxydoc {} &middot; <code>{}</code> &middot; times in UTC</footer>",
        esc(&report.generated_at),
        env!("CARGO_PKG_VERSION"),
        super::SCHEMA
    )?;
    writeln!(out, "<script>{SCRIPT}</script>")?;
    writeln!(out, "</body>")?;
    writeln!(out, "</html>")
}

/// Text escaped for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Prose whose `backquoted` parts are code: commands (code with a space: `aws rds …`, not
/// `available`) become copyable.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(if part.trim().contains(' ') {
                "<code class=\"cmd\">"
            } else {
                "<code>"
            });
            out.push_str(&esc(part));
            out.push_str("</code>");
        } else {
            out.push_str(&esc(part));
        }
    }
    // An unmatched backquote leaves the rest as it was split: still escaped text.
    out
}

fn header(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<header>")?;
    writeln!(out, "<h1>RDS Proxy connection report</h1>")?;
    if !report.has_log_input() {
        writeln!(out, "<p class=\"meta\">{}</p>", esc(super::table::NO_LOGS))?;
    } else {
        writeln!(
            out,
            "<p class=\"meta\">{}<br>{}</p>",
            esc(&super::table::header_line(report)),
            esc(&super::table::input_line(report))
        )?;
    }
    for error in &report.input.errors {
        writeln!(
            out,
            "<p class=\"alert\"><strong>Unreadable input</strong> <code>{}</code>: {}</p>",
            esc(&error.path),
            esc(&error.error)
        )?;
    }
    for warning in &report.input.warnings {
        writeln!(
            out,
            "<p class=\"alert\"><strong>Warning</strong>: {}</p>",
            esc(warning)
        )?;
    }
    writeln!(out, "</header>")
}

/// The answer first: the top finding in one line, with its onset.
fn verdict(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<section id=\"verdict\" aria-label=\"Verdict\">")?;
    match report.findings.first() {
        Some(f) => {
            writeln!(
                out,
                "<p class=\"verdict sev-{}\"><span class=\"badge\">{}</span> <a href=\"#finding-1\"><code class=\"cause\">{}</code></a> {}</p>",
                f.severity,
                f.severity,
                esc(&f.cause),
                esc(&f.title)
            )?;
            if let Some(onset) = &f.onset {
                writeln!(out, "<p class=\"onset\">{}</p>", esc(&onset.summary))?;
            }
            let more = report.findings.len() - 1;
            if more > 0 {
                writeln!(
                    out,
                    "<p class=\"more\">and {more} more finding{} below.</p>",
                    if more == 1 { "" } else { "s" }
                )?;
            }
        }
        None => writeln!(
            out,
            "<p class=\"verdict sev-none\">No findings: nothing in these logs points at a connection problem.</p>"
        )?,
    }
    writeln!(out, "</section>")
}

fn findings(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<section id=\"findings\">")?;
    writeln!(out, "<h2>Findings</h2>")?;
    if report.findings.is_empty() {
        writeln!(out, "<p>No findings.</p>")?;
    } else {
        writeln!(out, "<table class=\"ranked\">")?;
        writeln!(
            out,
            "<thead><tr><th>#</th><th>cause</th><th>severity</th><th class=\"n\">events</th><th class=\"n\">confidence</th><th>first seen</th><th>last seen</th></tr></thead><tbody>"
        )?;
        for (i, f) in report.findings.iter().enumerate() {
            writeln!(
                out,
                "<tr><td class=\"n\">{}</td><td><a href=\"#finding-{}\"><code>{}</code></a></td><td><span class=\"badge sev-{}\">{}</span></td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td>{}</td><td>{}</td></tr>",
                i + 1,
                i + 1,
                esc(&f.cause),
                f.severity,
                f.severity,
                f.events,
                f.confidence,
                esc(f.first_seen.as_deref().unwrap_or("-")),
                esc(f.last_seen.as_deref().unwrap_or("-"))
            )?;
        }
        writeln!(out, "</tbody></table>")?;
        for (i, f) in report.findings.iter().enumerate() {
            finding(i + 1, f, out)?;
        }
    }
    writeln!(out, "</section>")
}

fn finding(n: usize, f: &FindingOut, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<article class=\"finding sev-{}\" id=\"finding-{n}\" data-cause=\"{}\">",
        f.severity,
        esc(&f.cause)
    )?;
    writeln!(
        out,
        "<h3><span class=\"rank\">{n}</span> <code class=\"cause\">{}</code> {} <span class=\"badge sev-{}\">{}</span> <span class=\"confidence\">confidence {:.2}</span></h3>",
        esc(&f.cause),
        esc(&f.title),
        f.severity,
        f.severity,
        f.confidence
    )?;
    writeln!(
        out,
        "<p class=\"why\"><strong>Why.</strong> {}</p>",
        prose(&f.why)
    )?;
    if let Some(onset) = &f.onset {
        writeln!(
            out,
            "<p class=\"onset\"><strong>Onset.</strong> {}</p>",
            esc(&onset.summary)
        )?;
    }
    for alternative in &f.alternatives {
        writeln!(
            out,
            "<p class=\"alternative\"><strong>Or <code>{}</code>:</strong> {}. To tell them apart: {}</p>",
            esc(&alternative.cause),
            prose(&alternative.why),
            prose(&alternative.check)
        )?;
    }
    writeln!(out, "<dl class=\"facts\">")?;
    writeln!(
        out,
        "<dt>events</dt><dd>{} ({} failed connections)</dd>",
        f.events, f.failed_connections
    )?;
    if let (Some(first), Some(last)) = (&f.first_seen, &f.last_seen) {
        writeln!(
            out,
            "<dt>seen</dt><dd>{} &hellip; {}</dd>",
            esc(first),
            esc(last)
        )?;
    }
    for (label, values) in [
        ("users", &f.users),
        ("clients", &f.clients),
        ("endpoints", &f.endpoints),
    ] {
        if !values.is_empty() {
            let list: Vec<String> = values
                .iter()
                .map(|v| format!("<code>{}</code>", esc(v)))
                .collect();
            writeln!(out, "<dt>{label}</dt><dd>{}</dd>", list.join(", "))?;
        }
    }
    writeln!(out, "</dl>")?;
    if !f.evidence.is_empty() {
        writeln!(out, "<h4>Evidence</h4>")?;
        writeln!(out, "<pre class=\"evidence\">")?;
        for line in &f.evidence {
            writeln!(out, "{}", esc(line))?;
        }
        writeln!(out, "</pre>")?;
    }
    if !f.remediation.is_empty() {
        writeln!(out, "<h4>Fix</h4>")?;
        writeln!(out, "<ol class=\"fix\">")?;
        for step in &f.remediation {
            writeln!(out, "<li>{}</li>", prose(step))?;
        }
        writeln!(out, "</ol>")?;
    }
    writeln!(out, "</article>")
}

fn checks(checks: &[CheckOut], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<section id=\"checks\">")?;
    writeln!(out, "<h2>Checks</h2>")?;
    writeln!(
        out,
        "<table><thead><tr><th>check</th><th>status</th><th>detail</th></tr></thead><tbody>"
    )?;
    for check in checks {
        let status = match check.status {
            CheckStatusOut::Pass => "pass",
            CheckStatusOut::Fail => "fail",
            CheckStatusOut::Warn => "warn",
            CheckStatusOut::Skipped => "skipped",
        };
        writeln!(
            out,
            "<tr class=\"check-{status}\"><td><code>{}</code></td><td><span class=\"status\">{status}</span></td><td>{}</td></tr>",
            esc(&check.check),
            prose(&check.detail)
        )?;
    }
    writeln!(out, "</tbody></table>")?;
    writeln!(out, "</section>")
}

fn kinds(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<section id=\"kinds\">")?;
    writeln!(out, "<h2>Events by kind</h2>")?;
    writeln!(
        out,
        "<table><thead><tr><th>kind</th><th class=\"n\">events</th></tr></thead><tbody>"
    )?;
    for (kind, n) in report.counts.iter().filter(|(_, n)| **n > 0) {
        let class = if kind.is_failure() {
            " class=\"failure\""
        } else {
            ""
        };
        writeln!(
            out,
            "<tr{class}><td>{kind}</td><td class=\"n\">{n}</td></tr>"
        )?;
    }
    writeln!(out, "</tbody></table>")?;
    let s = &report.sessions;
    if s.sessions > 0 {
        writeln!(
            out,
            "<p>Sessions (by <code>clientConnection</code>): {} seen, {} connected, {} authenticated, {} auth failed, {} pinned, {} closed; at most {} open in one minute.</p>",
            s.sessions,
            s.connected,
            s.authenticated,
            s.auth_failed,
            s.pinned,
            s.closed,
            s.most_open
        )?;
    }
    writeln!(out, "</section>")
}

fn top(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let tables = [
        ("Top users", &report.top.users),
        ("Top clients", &report.top.clients),
        ("Top endpoints", &report.top.endpoints),
    ];
    if tables.iter().all(|(_, rows)| rows.is_empty()) {
        return Ok(());
    }
    writeln!(out, "<section id=\"top\">")?;
    writeln!(out, "<h2>Who was affected</h2>")?;
    writeln!(out, "<div class=\"columns\">")?;
    for (title, rows) in tables {
        if rows.is_empty() {
            continue;
        }
        writeln!(
            out,
            "<table><caption>{title}</caption><thead><tr><th>value</th><th class=\"n\">events</th><th class=\"n\">failures</th></tr></thead><tbody>"
        )?;
        for row in rows {
            writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&row.value),
                row.events,
                row.failures
            )?;
        }
        writeln!(out, "</tbody></table>")?;
    }
    writeln!(out, "</div>")?;
    writeln!(out, "</section>")
}

fn input(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let i = &report.input;
    writeln!(out, "<section id=\"input\">")?;
    writeln!(out, "<h2>Input</h2>")?;
    writeln!(
        out,
        "<p>{} lines, {} events, {} unparsed, {} outside the time window, {} without a timestamp, {} invalid UTF-8, {} truncated, {} malformed.</p>",
        i.lines,
        i.events,
        i.unparsed,
        i.filtered,
        i.untimed,
        i.invalid_utf8,
        i.truncated_lines,
        i.malformed
    )?;
    if !i.details.is_empty() {
        writeln!(
            out,
            "<table><thead><tr><th>input</th><th>layout</th><th class=\"n\">records</th><th class=\"n\">bytes</th><th>note</th></tr></thead><tbody>"
        )?;
        for d in &i.details {
            let mut note: Vec<String> = d.warnings.clone();
            if let Some(error) = &d.error {
                note.insert(0, error.clone());
            }
            writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&d.path),
                esc(d.format.as_deref().unwrap_or("-")),
                if d.gzip { " (gzip)" } else { "" },
                d.records,
                d.bytes,
                esc(&note.join("; "))
            )?;
        }
        writeln!(out, "</tbody></table>")?;
    }
    if i.unparsed > 0 {
        writeln!(out, "<h3>Unparsed lines</h3>")?;
        if !report.unparsed.samples.is_empty() {
            writeln!(out, "<pre class=\"evidence\">")?;
            for sample in &report.unparsed.samples {
                writeln!(out, "{}", esc(sample))?;
            }
            writeln!(out, "</pre>")?;
        }
        if !report.unparsed.shapes.is_empty() {
            writeln!(
                out,
                "<table><thead><tr><th>shape</th><th class=\"n\">lines</th></tr></thead><tbody>"
            )?;
            for shape in &report.unparsed.shapes {
                writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td class=\"n\">{}</td></tr>",
                    esc(&shape.shape),
                    shape.count
                )?;
            }
            writeln!(out, "</tbody></table>")?;
        }
    }
    writeln!(out, "</section>")
}

/// The chart's series: every event, then each failure kind that occurs, in the catalogue's
/// order of kinds.
struct Series {
    label: String,
    class: &'static str,
    values: Vec<u64>,
}

/// Colours of failure kinds, in order of appearance (CSS classes `k0`…`k5`, cycled).
const KIND_CLASSES: [&str; 6] = ["k0", "k1", "k2", "k3", "k4", "k5"];

/// The timeline as buckets from the first to the last, gaps filled with zeros: (start of the
/// first bucket, bucket width in ms, rows).
fn filled(report: &Report) -> Option<(Millis, i64, Vec<Option<&MinuteOut>>)> {
    let width = i64::from(report.timeline_bucket_minutes.max(1)) * MINUTE;
    let timed: Vec<(Millis, &MinuteOut)> = report
        .timeline
        .iter()
        .filter_map(|m| Some((crate::timefmt::timestamp(&m.minute).ok()?.1.0, m)))
        .collect();
    let first = timed.first()?.0;
    let last = timed.last()?.0;
    let count = usize::try_from((last - first) / width + 1).ok()?;
    let mut rows: Vec<Option<&MinuteOut>> = vec![None; count];
    for (ts, row) in timed {
        if let Some(slot) = usize::try_from((ts - first) / width)
            .ok()
            .and_then(|i| rows.get_mut(i))
        {
            *slot = Some(row);
        }
    }
    Some((first, width, rows))
}

/// The per-bucket timeline as an SVG line chart: all events and each failure kind, the onset
/// of each critical finding marked, axes in UTC.
fn timeline(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let Some((start, width, rows)) = filled(report) else {
        return Ok(());
    };
    let failure_kinds: Vec<EventKind> = EventKind::ALL
        .into_iter()
        .filter(|k| k.is_failure())
        .filter(|k| {
            rows.iter()
                .flatten()
                .any(|r| r.counts.get(k).is_some_and(|n| *n > 0))
        })
        .collect();
    let mut series = vec![Series {
        label: "all events".to_string(),
        class: "all",
        values: rows.iter().map(|r| r.map_or(0, |r| r.events)).collect(),
    }];
    for (i, kind) in failure_kinds.iter().enumerate() {
        series.push(Series {
            label: kind.to_string(),
            class: KIND_CLASSES[i % KIND_CLASSES.len()],
            values: rows
                .iter()
                .map(|r| r.and_then(|r| r.counts.get(kind).copied()).unwrap_or(0))
                .collect(),
        });
    }
    let bucket_minutes = report.timeline_bucket_minutes.max(1);
    let per = if bucket_minutes == 1 {
        "minute".to_string()
    } else {
        format!("{bucket_minutes} minutes")
    };
    writeln!(out, "<section id=\"timeline\">")?;
    writeln!(out, "<h2>Timeline</h2>")?;
    writeln!(out, "<figure>")?;
    chart(out, start, width, &series, &onsets(report))?;
    writeln!(
        out,
        "<figcaption>Events per {per} (UTC), {} &hellip; {}. Dashed lines: the onset of each critical finding.</figcaption>",
        esc(&rfc3339(start)),
        esc(&rfc3339(start + width * (rows.len() as i64) - 1))
    )?;
    writeln!(out, "<ul class=\"legend\">")?;
    for s in &series {
        let total: u64 = s.values.iter().sum();
        writeln!(
            out,
            "<li><span class=\"swatch {}\"></span>{} ({total})</li>",
            s.class,
            esc(&s.label)
        )?;
    }
    writeln!(out, "</ul>")?;
    writeln!(out, "</figure>")?;
    if let Some(note) = super::resolution_note(report) {
        writeln!(out, "<p class=\"meta\">Note: {}.</p>", esc(&note))?;
    }
    // The counts per bucket, for the pointer's read-out (the chart reads without it).
    let data = serde_json::json!({
        "start": start,
        "width": width,
        "series": series.iter().map(|s| serde_json::json!({"label": s.label, "values": s.values})).collect::<Vec<_>>(),
    });
    // `</` cannot end the script element early: JSON escapes it.
    let data = data.to_string().replace("</", "<\\/");
    writeln!(
        out,
        "<script type=\"application/json\" id=\"timeline-data\">{data}</script>"
    )?;
    writeln!(out, "</section>")
}

/// (time, rank, cause) of each critical finding's onset.
fn onsets(report: &Report) -> Vec<(Millis, usize, String)> {
    report
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.severity == crate::model::Severity::Critical)
        .filter_map(|(i, f)| {
            let onset = f.onset.as_ref()?;
            let at = crate::timefmt::timestamp(&onset.at).ok()?.1.0;
            Some((at, i + 1, f.cause.clone()))
        })
        .collect()
}

/// Chart geometry: the plot inside the SVG's margins.
const W: f64 = 960.0;
const H: f64 = 280.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

fn chart(
    out: &mut dyn Write,
    start: Millis,
    width: i64,
    series: &[Series],
    onsets: &[(Millis, usize, String)],
) -> io::Result<()> {
    let buckets = series.first().map_or(0, |s| s.values.len());
    let max = nice(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0),
    );
    let (plot_w, plot_h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let end = start + width * buckets as i64;
    let x_of = |t: Millis| LEFT + plot_w * ((t - start) as f64 / (end - start).max(1) as f64);
    // A bucket's point is drawn at its middle.
    let x = |i: usize| x_of(start + width * i as i64 + width / 2);
    let y = |v: u64| TOP + plot_h * (1.0 - v as f64 / max as f64);
    writeln!(
        out,
        "<svg id=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"chart-title\" data-buckets=\"{buckets}\" data-start=\"{start}\" data-width=\"{width}\">"
    )?;
    writeln!(
        out,
        "<title id=\"chart-title\">Events per bucket over time, UTC</title>"
    )?;
    // Horizontal grid and the y axis: 0, half and the maximum.
    for v in [0, max / 2, max] {
        writeln!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"></line><text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            y = y(v)
        )?;
    }
    // The x axis: about six labelled ticks at whole minutes, with the date when the span
    // crosses a day.
    let span = end - start;
    let step = [
        1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080,
    ]
    .into_iter()
    .map(|m| m * MINUTE)
    .find(|s| span / s <= 6)
    .unwrap_or(span.max(MINUTE));
    let days = rfc3339(start).get(..10) != rfc3339(end - 1).get(..10);
    let mut tick = (start + step - 1).div_euclid(step) * step;
    writeln!(
        out,
        "<line class=\"axis-line\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"></line>",
        W - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    )?;
    while tick <= end {
        let label = if days {
            let full = rfc3339(tick);
            format!("{} {}", full.get(5..10).unwrap_or(""), hh_mm(tick))
        } else {
            hh_mm(tick)
        };
        writeln!(
            out,
            "<line class=\"tick\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{}\"></line><text class=\"axis\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h,
            TOP + plot_h + 5.0,
            TOP + plot_h + 18.0,
            esc(&label),
            x = x_of(tick)
        )?;
        tick += step;
    }
    writeln!(
        out,
        "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">UTC</text>",
        LEFT + plot_w / 2.0,
        H - 4.0
    )?;
    // Few buckets: each is also a dot, so that a lone busy minute is visible.
    let dots = buckets <= 60;
    for s in series {
        if dots {
            for (i, v) in s.values.iter().enumerate() {
                writeln!(
                    out,
                    "<circle class=\"dot {}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"></circle>",
                    s.class,
                    x(i),
                    y(*v)
                )?;
            }
        }
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        writeln!(
            out,
            "<polyline class=\"series {}\" data-label=\"{}\" points=\"{}\"><title>{}</title></polyline>",
            s.class,
            esc(&s.label),
            points.join(" "),
            esc(&s.label)
        )?;
    }
    for (at, rank, cause) in onsets {
        let x = x_of(*at);
        // The label on the side of the line with room for it.
        let (label_x, anchor) = if x > LEFT + plot_w * 0.6 {
            (x - 4.0, "end")
        } else {
            (x + 4.0, "start")
        };
        writeln!(
            out,
            "<g class=\"onset-mark\" data-rank=\"{rank}\"><line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{}\"></line><text x=\"{label_x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{rank}. {} {}</text><title>onset of finding {rank}: {} at {}</title></g>",
            TOP + plot_h,
            TOP + 12.0 + 14.0 * ((*rank as f64) - 1.0).min(8.0),
            esc(cause),
            esc(&hh_mm(*at)),
            esc(cause),
            esc(&rfc3339(*at))
        )?;
    }
    writeln!(
        out,
        "<line id=\"cursor\" class=\"cursor\" x1=\"0\" x2=\"0\" y1=\"{TOP}\" y2=\"{}\" visibility=\"hidden\"></line>",
        TOP + plot_h
    )?;
    writeln!(out, "</svg>")?;
    writeln!(
        out,
        "<p id=\"readout\" class=\"readout\" aria-live=\"polite\"></p>"
    )
}

/// The y axis's top: the maximum rounded up to 1, 2 or 5 times a power of ten.
fn nice(max: u64) -> u64 {
    let mut scale = 1u64;
    loop {
        for step in [1, 2, 5] {
            let top = step * scale;
            if top >= max {
                return top;
            }
        }
        match scale.checked_mul(10) {
            Some(next) => scale = next,
            None => return max,
        }
    }
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1f24; --muted: #5b6470; --line: #d5d9de; --panel: #f5f7f9;
  --crit: #c62828; --warn: #b26a00; --info: #2f6fb0; --ok: #2e7d32; --all: #7a8491;
  --k0: #d32f2f; --k1: #7b1fa2; --k2: #ef6c00; --k3: #00897b; --k4: #5d4037; --k5: #c2185b; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #14171b; --fg: #e4e8ec; --muted: #9aa4af; --line: #343a42; --panel: #1d2127;
    --crit: #ff6b6b; --warn: #ffb74d; --info: #7fb3e8; --ok: #81c784; --all: #9aa4af;
    --k0: #ff6b6b; --k1: #ce93d8; --k2: #ffb74d; --k3: #4db6ac; --k4: #bcaaa4; --k5: #f48fb1; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 1.5rem; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .75rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.1rem; margin: 0 0 .5rem; }
h4 { font-size: .95rem; margin: 1rem 0 .25rem; }
a { color: var(--info); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .88em; }
code { background: var(--panel); border-radius: 3px; padding: .05em .3em; overflow-wrap: anywhere; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 4px; padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.meta, figcaption, footer, .more { color: var(--muted); }
.alert { border-left: 4px solid var(--warn); padding: .25rem .75rem; background: var(--panel); }
.verdict { font-size: 1.2rem; margin: 1rem 0 .25rem; }
.badge { display: inline-block; border-radius: 3px; padding: 0 .4em; font-size: .8rem; font-weight: 600; text-transform: uppercase; color: #fff; background: var(--info); vertical-align: middle; }
.sev-critical .badge, .badge.sev-critical { background: var(--crit); }
.sev-warning .badge, .badge.sev-warning { background: var(--warn); }
.sev-info .badge, .badge.sev-info { background: var(--info); }
.finding { border: 1px solid var(--line); border-left: 5px solid var(--info); border-radius: 4px; padding: 1rem 1.25rem; margin: 1rem 0; break-inside: avoid; }
.finding.sev-critical { border-left-color: var(--crit); }
.finding.sev-warning { border-left-color: var(--warn); }
.rank { color: var(--muted); }
.confidence { color: var(--muted); font-weight: normal; font-size: .85rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
ol.fix li { margin: .35rem 0; }
code.cmd { display: inline; }
button.copy { margin-left: .35rem; font-size: .75rem; padding: 0 .4rem; border: 1px solid var(--line); border-radius: 3px; background: var(--bg); color: var(--fg); cursor: pointer; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
tr.failure td:first-child, tr.check-fail .status { color: var(--crit); font-weight: 600; }
tr.check-warn .status { color: var(--warn); font-weight: 600; }
tr.check-pass .status { color: var(--ok); }
.columns { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; }
#chart { width: 100%; height: auto; display: block; background: var(--bg); }
#chart .grid { stroke: var(--line); stroke-width: 1; }
#chart .axis-line, #chart .tick { stroke: var(--muted); stroke-width: 1; }
#chart .axis { fill: var(--muted); font-size: 11px; }
#chart .series { fill: none; stroke-width: 1.8; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
#chart .all { stroke: var(--all); }
#chart .dot { stroke: none; fill: var(--all); }
#chart .dot.k0 { fill: var(--k0); } #chart .dot.k1 { fill: var(--k1); } #chart .dot.k2 { fill: var(--k2); }
#chart .dot.k3 { fill: var(--k3); } #chart .dot.k4 { fill: var(--k4); } #chart .dot.k5 { fill: var(--k5); }
#chart .k0 { stroke: var(--k0); } #chart .k1 { stroke: var(--k1); } #chart .k2 { stroke: var(--k2); }
#chart .k3 { stroke: var(--k3); } #chart .k4 { stroke: var(--k4); } #chart .k5 { stroke: var(--k5); }
#chart .onset-mark line { stroke: var(--crit); stroke-width: 1.5; stroke-dasharray: 5 4; vector-effect: non-scaling-stroke; }
#chart .onset-mark text { fill: var(--crit); font-size: 11px; font-weight: 600; }
#chart .cursor { stroke: var(--fg); stroke-width: 1; vector-effect: non-scaling-stroke; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem 1.25rem; font-size: .9rem; }
.swatch { display: inline-block; width: 1.2em; height: .3em; margin-right: .4em; vertical-align: middle; background: var(--all); }
.swatch.k0 { background: var(--k0); } .swatch.k1 { background: var(--k1); } .swatch.k2 { background: var(--k2); }
.swatch.k3 { background: var(--k3); } .swatch.k4 { background: var(--k4); } .swatch.k5 { background: var(--k5); }
.readout { min-height: 1.5em; font-size: .9rem; color: var(--muted); }
footer { margin-top: 3rem; font-size: .85rem; border-top: 1px solid var(--line); padding-top: .5rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  button.copy, .readout { display: none; }
  a { color: inherit; text-decoration: none; }
  .finding, table, figure { break-inside: avoid; }
  pre { white-space: pre-wrap; }
}
"#;

/// Progressive enhancement only: the page is complete without it.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  function copy(text, button) {
    function done(ok) {
      button.textContent = ok ? "copied" : "select and copy";
      setTimeout(function () { button.textContent = "copy"; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    done(ok);
  }
  document.querySelectorAll("code.cmd").forEach(function (code) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "copy";
    button.setAttribute("aria-label", "copy the command");
    button.addEventListener("click", function () { copy(code.textContent, button); });
    code.insertAdjacentElement("afterend", button);
  });
  var chart = document.getElementById("chart");
  var data = document.getElementById("timeline-data");
  if (!chart || !data) { return; }
  var timeline = JSON.parse(data.textContent);
  var readout = document.getElementById("readout");
  var cursor = document.getElementById("cursor");
  var buckets = Number(chart.getAttribute("data-buckets"));
  var left = 56, right = 16, width = 960;
  chart.addEventListener("mousemove", function (event) {
    var box = chart.getBoundingClientRect();
    var x = (event.clientX - box.left) / box.width * width;
    var i = Math.floor((x - left) / (width - left - right) * buckets);
    if (i < 0 || i >= buckets) { return; }
    var at = new Date(timeline.start + i * timeline.width).toISOString().slice(0, 16).replace("T", " ");
    var parts = timeline.series.map(function (s) { return s.label + " " + s.values[i]; });
    readout.textContent = at + " UTC: " + parts.join(", ");
    var cx = left + (i + 0.5) / buckets * (width - left - right);
    cursor.setAttribute("x1", cx);
    cursor.setAttribute("x2", cx);
    cursor.setAttribute("visibility", "visible");
  });
  chart.addEventListener("mouseleave", function () {
    cursor.setAttribute("visibility", "hidden");
  });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_marks_commands() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            prose("run `aws rds describe-db-proxies --query 'A<B'` now"),
            "run <code class=\"cmd\">aws rds describe-db-proxies --query &#39;A&lt;B&#39;</code> now"
        );
        assert_eq!(prose("no code"), "no code");
        assert_eq!(
            [0, 1, 3, 7, 10, 11, 201, 999_999].map(nice),
            [1, 1, 5, 10, 10, 20, 500, 1_000_000]
        );
        assert_eq!(
            prose("must be `available`"),
            "must be <code>available</code>"
        );
    }
}
