//! The catalogue lint: ids unique, every example hits its own pattern and no other, no
//! `no_match` example hits; plus coverage of the reference's templates.

use proxydoc::classify::{Classifier, catalogue, lint};
use proxydoc::model::EventKind;

fn builtin() -> Classifier {
    Classifier::new(catalogue::builtin().expect("builtin catalogue loads")).expect("compiles")
}

#[test]
fn every_example_matches_its_own_pattern_and_no_other() {
    let problems = lint(&builtin());
    assert!(
        problems.is_empty(),
        "catalogue problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn ids_are_unique_and_catalogue_is_large_enough() {
    let classifier = builtin();
    let mut ids: Vec<&str> = classifier
        .patterns()
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "duplicate ids");
    assert!(total >= 40, "{total} patterns");
}

#[test]
fn every_event_kind_but_unclassified_has_a_pattern() {
    let classifier = builtin();
    for kind in EventKind::ALL {
        let covered = classifier.patterns().iter().any(|p| p.kind == kind);
        assert_eq!(covered, kind != EventKind::Unclassified, "{kind}");
    }
}

#[test]
fn the_cli_lint_agrees() {
    let out = crate::common::run(&["patterns", "lint"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("no problems"));
}

#[test]
fn a_broken_user_catalogue_is_reported_with_file_and_id() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-mine.toml"),
        r#"
[[pattern]]
id = "my-overlap"
kind = "auth_failed"
severity = "critical"
side = "client"
description = "overlaps a builtin"
contains = ["has no credentials for the role"]
match = ["FATAL: This RDS proxy has no credentials for the role x. Check the credentials for this role and try again."]
"#,
    )
    .unwrap();
    let out = crate::common::run(&[
        "patterns",
        "--patterns",
        dir.path().to_str().unwrap(),
        "lint",
    ]);
    assert_eq!(out.code, 3);
    assert!(
        out.stdout
            .contains("`my-overlap`: example also matches `pg-no-credentials-for-role`"),
        "{}",
        out.stdout
    );

    std::fs::write(
        dir.path().join("10-mine.toml"),
        "[[pattern]]\nid = \"Bad Id\"\n",
    )
    .unwrap();
    let out = crate::common::run(&["patterns", "--patterns", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("10-mine.toml"), "{}", out.stderr);
}

/// Error text as client libraries print it (`samples/app/client-wordings.tsv`: the cause, the
/// client, the text): every line is recognised, as its cause.
#[test]
fn client_library_wordings_name_their_cause() {
    let corpus = std::fs::read_to_string(crate::common::sample("app/client-wordings.tsv")).unwrap();
    let rows: Vec<(&str, &str, &str)> = corpus
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut fields = l.splitn(3, '\t');
            let cause = fields.next().unwrap();
            let client = fields.next().unwrap();
            (cause, client, fields.next().unwrap())
        })
        .collect();
    assert!(rows.len() >= 80, "{} lines", rows.len());
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("lines.log");
    let text: String = rows.iter().map(|(_, _, t)| format!("{t}\n")).collect();
    std::fs::write(&lines, text).unwrap();
    let out = crate::common::run(&["patterns", "test", lines.to_str().unwrap()]);
    let classifier = builtin();
    let cause_of = |id: &str| {
        classifier
            .patterns()
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.cause.clone())
    };
    // "<path>:<n>: <pattern id> <kind> …" for each line that matched.
    let mut matched = std::collections::HashMap::new();
    for line in out.stdout.lines() {
        if let Some(rest) = line.strip_prefix(&format!("{}:", lines.display()))
            && let Some((n, tail)) = rest.split_once(": ")
            && let Ok(n) = n.parse::<usize>()
        {
            matched.insert(n, tail.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    let mut wrong = Vec::new();
    for (i, (cause, client, text)) in rows.iter().enumerate() {
        let got = matched.get(&(i + 1)).and_then(|id| cause_of(id));
        if got.as_deref() != Some(*cause) {
            wrong.push(format!("{client}: expected {cause}, got {got:?}: {text}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

/// The application's own pool timing out (HikariCP here) is a finding of its own, a warning
/// ranked below the proxy's pool exhaustion that it follows; alone, it is the only finding.
#[test]
fn an_application_pool_timeout_ranks_below_the_proxys_causes() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..5)
        .map(|i| {
            format!(
                "2026-11-24 10:00:4{i},120 ERROR [http-nio-8080-exec-{i}] o.h.e.j.s.SqlExceptionHelper : HikariPool-1 - Connection is not available, request timed out after 30000ms.\n"
            )
        })
        .collect();
    let app = crate::common::temp_file(dir.path(), "java-app.log", lines.as_bytes());
    let report = crate::common::analyze_json(&[&app], 0);
    assert_eq!(crate::common::causes(&report), ["app-pool-exhausted"]);
    let finding = &report["findings"][0];
    assert_eq!(finding["severity"], "warning");
    assert_eq!(
        finding["title"],
        "The application's own connection pool ran out"
    );
    assert!(
        finding["remediation"][0]
            .as_str()
            .unwrap()
            .contains("the application's own pool (HikariCP ×5), not the proxy's"),
        "{}",
        finding["remediation"][0]
    );
    assert_eq!(report["counts"]["app_pool_timeout"], 5);
    assert_eq!(report["counts"]["borrow_timeout"], 0);

    let incident = crate::common::sample("incidents/pool-exhausted");
    let report = crate::common::analyze_json(&[&incident, &app], 0);
    assert_eq!(
        crate::common::causes(&report),
        ["pool-exhausted", "session-pinning", "app-pool-exhausted"]
    );
}
