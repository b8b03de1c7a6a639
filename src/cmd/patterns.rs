//! `proxydoc patterns`: list the catalogue, test a message against it, lint a directory.

use std::io::{self, BufWriter, Write};

use anyhow::{Context as _, Result};

use crate::classify::{self, Classifier, Scratch};
use crate::cli::{PatternsArgs, PatternsCommand, PatternsTestArgs};
use crate::error::ExitCode;
use crate::{config, source};

pub(super) fn patterns(args: PatternsArgs) -> Result<ExitCode> {
    match args.command {
        None | Some(PatternsCommand::List) => {
            let classifier = classify::load(args.catalogue.patterns.as_deref())?;
            list_patterns(&classifier)?;
            Ok(ExitCode::Ok)
        }
        Some(PatternsCommand::Lint) => {
            let classifier = classify::load(args.catalogue.patterns.as_deref())?;
            let problems = classify::lint(&classifier);
            for problem in &problems {
                println!("{problem}");
            }
            if problems.is_empty() {
                println!("{} patterns, no problems", classifier.patterns().len());
                Ok(ExitCode::Ok)
            } else {
                Ok(ExitCode::Findings)
            }
        }
        Some(PatternsCommand::Test(test)) => {
            let dir = test
                .catalogue
                .patterns
                .as_ref()
                .or(args.catalogue.patterns.as_ref());
            let classifier = classify::load(dir.map(|d| d.as_path()))?;
            test_patterns(&classifier, &test)
        }
    }
}

fn list_patterns(classifier: &Classifier) -> Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let rows: Vec<[String; 5]> = classifier
        .patterns()
        .iter()
        .map(|p| {
            [
                p.id.clone(),
                p.kind.to_string(),
                p.severity.to_string(),
                p.cause.clone().unwrap_or_else(|| "-".to_string()),
                p.side.as_str().to_string(),
            ]
        })
        .collect();
    let header = ["ID", "KIND", "SEVERITY", "CAUSE", "SIDE"].map(str::to_string);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    writeln!(out, "{} patterns", rows.len())?;
    out.flush()?;
    Ok(())
}

fn test_patterns(classifier: &Classifier, args: &PatternsTestArgs) -> Result<ExitCode> {
    let (inputs, errors) = source::expand(&args.paths);
    for error in &errors {
        eprintln!("proxydoc: {}: {}", error.path, error.error);
    }
    let forced = args.input_format.map(config::input_format);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut scratch = Scratch::default();
    let mut failed = !errors.is_empty();
    let mut write_error: Option<io::Error> = None;
    let (mut matched, mut total) = (0u64, 0u64);
    for (index, input) in inputs.iter().enumerate() {
        let name = input.name();
        let mut record_no = 0u64;
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let stats = source::read(input, index, forced, &mut |record| {
            record_no += 1;
            total += 1;
            if write_error.is_some() {
                return;
            }
            let mut ansi = String::new();
            let text = if crate::parse::strip_ansi(record.text, &mut ansi) {
                ansi.as_str()
            } else {
                record.text
            };
            let line = crate::parse::parse_line(text);
            let event = classifier.classify(&line, &mut scratch);
            let pattern = event.pattern.and_then(|p| classifier.pattern(p));
            matched += u64::from(pattern.is_some());
            if args.unmatched && pattern.is_some() {
                return;
            }
            let mut line = format!(
                "{name}:{record_no}: {} {}",
                pattern.map_or("-", |p| p.id.as_str()),
                event.kind
            );
            for (key, value) in &event.fields {
                line.push_str(&format!(" {key}={value:?}"));
            }
            let result = writeln!(out, "{line}")
                .and_then(|()| writeln!(out, "    {}", crate::aggregate::clip(text, 200)));
            if let Err(e) = result {
                write_error = Some(e);
            }
        });
        if let Some(error) = stats.error {
            eprintln!("proxydoc: {name}: {error}");
            failed = true;
        }
    }
    if let Some(error) = write_error {
        return Err(error).context("cannot write to stdout");
    }
    writeln!(out, "{matched} of {total} lines matched a pattern")?;
    out.flush()?;
    Ok(if failed {
        ExitCode::InputError
    } else {
        ExitCode::Ok
    })
}
