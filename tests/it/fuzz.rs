//! Property tests: no input makes proxydoc panic. Random bytes and mutations of real sample
//! lines go through every reader and the whole pipeline in-process; a few go through the
//! binary to check that the exit code is never 101.

use std::io::Write;

use proptest::prelude::*;
use proxydoc::classify::{Classifier, catalogue};
use proxydoc::pipeline::{Pipeline, TimeWindow};
use proxydoc::source::{self, Input, InputFormat};

fn classifier() -> &'static Classifier {
    use std::sync::OnceLock;
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| Classifier::new(catalogue::builtin().unwrap()).unwrap())
}

fn sample_lines() -> &'static Vec<String> {
    use std::sync::OnceLock;
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let mut lines = Vec::new();
        for path in [
            "samples/layouts/plain.log",
            "samples/incidents/two-causes/app.log",
            "samples/app/no-secret-for-user-java.log",
        ] {
            let text = std::fs::read_to_string(crate::common::root().join(path)).unwrap();
            lines.extend(text.lines().take(60).map(str::to_string));
        }
        for pattern in classifier().patterns() {
            lines.extend(pattern.examples_match.iter().cloned());
        }
        lines
    })
}

/// Runs bytes through a reader (forced or detected) and the whole pipeline, then the rules and
/// every renderer.
fn analyse_bytes(bytes: &[u8], forced: Option<InputFormat>) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    let input = Input::File(file.path().to_path_buf());
    let mut pipeline = Pipeline::new(classifier(), TimeWindow::default());
    let stats = source::read(&input, 0, forced, &mut |record| pipeline.push(record));
    let summary = pipeline.finish().unwrap();
    let findings = proxydoc::rules::evaluate(&summary, classifier());
    let build = proxydoc::report::BuildInput {
        now: 0,
        since: None,
        until: None,
        show_sql: false,
        inputs: std::slice::from_ref(&stats),
        errors: &[],
    };
    let report = proxydoc::report::Report::build(&summary, &findings, &build);
    for format in [
        proxydoc::report::Format::Json,
        proxydoc::report::Format::Table,
        proxydoc::report::Format::Markdown,
        proxydoc::report::Format::Html,
    ] {
        proxydoc::report::render(&report, format, &mut std::io::sink()).unwrap();
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn mutate(line: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = line.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            Mutation::Replace(i, b) if !bytes.is_empty() => bytes[i % len] = b,
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::Duplicate(i, n) if !bytes.is_empty() => {
                let start = i % len;
                let end = (start + n).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(start..start, copy);
            }
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn envelope_and_classifier_accept_any_string(text in any::<String>()) {
        let mut scratch = proxydoc::classify::Scratch::default();
        let line = proxydoc::parse::parse_line(&text);
        let _ = classifier().classify(&line, &mut scratch);
    }

    #[test]
    fn mutated_real_lines_never_panic(
        index in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let lines = sample_lines();
        let line = &lines[index % lines.len()];
        let mut scratch = proxydoc::classify::Scratch::default();
        let bytes = mutate(line, &mutations);
        let text = String::from_utf8_lossy(&bytes);
        let _ = classifier().classify(&proxydoc::parse::parse_line(&text), &mut scratch);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_through_every_reader(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        prefix in prop_oneof![
            Just(Vec::new()),
            Just(b"\x1f\x8b".to_vec()),
            Just(b"{\"events\":[".to_vec()),
            Just(b"{\"message\":\"".to_vec()),
            Just(b"@timestamp,@message\n\"".to_vec()),
            Just(b"[{\"field\":\"@message\",\"value\":".to_vec()),
        ],
    ) {
        let mut input = prefix;
        input.extend(bytes);
        analyse_bytes(&input, None);
        for format in [InputFormat::Text, InputFormat::Json, InputFormat::Ndjson, InputFormat::InsightsCsv] {
            analyse_bytes(&input, Some(format));
        }
    }

    #[test]
    fn mutated_sample_files(mutations in proptest::collection::vec(mutation(), 1..16)) {
        for path in ["samples/layouts/insights-export.csv", "samples/layouts/events.ndjson"] {
            let text = std::fs::read_to_string(crate::common::root().join(path)).unwrap();
            let head: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
            analyse_bytes(&mutate(&head, &mutations), None);
        }
    }
}

#[test]
fn gzip_of_mutated_data_and_cut_gzip() {
    let text = std::fs::read(crate::common::root().join("samples/layouts/plain.log")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).unwrap();
    let bytes = gz.finish().unwrap();
    for cut in [
        3,
        10,
        11,
        100,
        bytes.len() / 3,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        analyse_bytes(&bytes[..cut], None);
    }
    let mut corrupt = bytes.clone();
    for i in (20..corrupt.len()).step_by(97) {
        corrupt[i] ^= 0x5a;
    }
    analyse_bytes(&corrupt, None);
}

#[test]
fn the_binary_never_exits_101_on_random_input() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let dir = tempfile::tempdir().unwrap();
    for round in 0..8 {
        let mut bytes = Vec::with_capacity(8192);
        for _ in 0..8192 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push((seed >> 24) as u8);
        }
        if round % 2 == 1 {
            bytes.splice(0..0, *b"\x1f\x8b\x08\x00");
        }
        let path = crate::common::temp_file(dir.path(), &format!("r{round}"), &bytes);
        for format in ["json", "table", "markdown"] {
            let out = crate::common::run(&["analyze", "--format", format, &path]);
            assert!(
                out.code == 0 || out.code == 1,
                "exit {} on {path}: {}",
                out.code,
                out.stderr
            );
        }
    }
}
