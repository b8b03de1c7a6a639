//! The binary end to end over the shipped samples: each sample's expected cause comes first
//! in every format, the healthy sample has no critical finding, and the options behave.

use crate::common::{analyze_json, causes, proxydoc, run, run_cmd, sample};

/// (sample, expected causes in order). Every cause id of the contract appears at least once.
const EXPECTED: &[(&str, &[&str])] = &[
    ("proxy/iam-auth-failed-mysql.log", &["iam-auth-failed"]),
    (
        "proxy/password-auth-failed-postgres.log",
        &["password-auth-failed"],
    ),
    ("app/no-secret-for-user-java.log", &["no-secret-for-user"]),
    (
        "layouts/plain.log",
        &["secret-access-denied", "session-pinning"],
    ),
    ("app/tls-required-psql.log", &["tls-required"]),
    ("incidents/target-unreachable", &["target-unreachable"]),
    (
        "incidents/pool-exhausted",
        &["pool-exhausted", "session-pinning"],
    ),
    (
        "app/connection-limit-mysql.log",
        &["client-connection-limit"],
    ),
    ("app/network-blocked-node.log", &["client-network-blocked"]),
    ("proxy/session-pinning-postgres.log", &["session-pinning"]),
    ("app/unsupported-client-python.log", &["unsupported-client"]),
    ("app/db-error-python.log", &["db-error"]),
    ("incidents/two-causes", &["iam-auth-failed", "tls-required"]),
    (
        "incidents/db-lost-after-healthy-hour",
        &["target-unreachable"],
    ),
    (
        "incidents/db-lost-after-healthy-hour/proxy.log",
        &["target-unreachable"],
    ),
    (
        "incidents/pinning-builds-to-exhaustion",
        &["pool-exhausted", "session-pinning"],
    ),
    (
        "incidents/passwords-changed-at-once",
        &["password-auth-failed"],
    ),
    ("incidents/db-failover", &["target-unreachable"]),
    ("app/lambda-node-tls.log", &["tls-required"]),
    (
        "app/lambda-invocation-error.json",
        &["proxy-endpoint-unresolved"],
    ),
    ("app/pino-borrow-timeout.ndjson", &["pool-exhausted"]),
    ("app/tls-untrusted-java.log", &["tls-certificate-untrusted"]),
    ("app/rds-events.json", &["proxy-subnets-full"]),
];

/// Incidents that begin healthy are judged at their onset, not over the whole input.
#[test]
fn incidents_that_begin_healthy_are_judged_at_their_onset() {
    // A database lost after a healthy hour: not the pool, whatever the hour before shows.
    let report = analyze_json(&[&sample("incidents/db-lost-after-healthy-hour")], 0);
    let first = &report["findings"][0];
    assert_eq!(first["cause"], "target-unreachable");
    assert_eq!(first["onset"]["at"], "2026-11-24T02:12:00.000Z", "{first}");
    let summary = first["onset"]["summary"].as_str().unwrap();
    assert!(
        summary
            .starts_with("started 02:12 UTC; database connections opened: 3.1/min before, 0 after"),
        "{summary}"
    );
    let opened = first["onset"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "db_connection_opened")
        .unwrap();
    assert_eq!(opened["after_per_minute"], 0.0);
    assert!(opened["before_per_minute"].as_f64().unwrap() > 3.0);
    assert!(first["alternatives"].as_array().unwrap().is_empty());
    // The table shows it in a line.
    let table = run(&[
        "analyze",
        "--format",
        "table",
        &sample("incidents/db-lost-after-healthy-hour"),
    ]);
    assert!(
        table.stdout.contains("   onset: started 02:12 UTC"),
        "{}",
        table.stdout
    );

    // A failover: the database is back within the window, which the why says.
    let report = analyze_json(&[&sample("incidents/db-failover")], 0);
    let first = &report["findings"][0];
    assert_eq!(first["cause"], "target-unreachable");
    assert!(
        first["why"]
            .as_str()
            .unwrap()
            .contains("in 3 of the 4 minutes in which clients arrived"),
        "{first}"
    );

    // The proxy's log alone: the database side went quiet while clients kept coming.
    let report = analyze_json(
        &[&sample("incidents/db-lost-after-healthy-hour/proxy.log")],
        0,
    );
    let first = &report["findings"][0];
    assert_eq!(first["severity"], "warning");
    assert!(
        first["why"].as_str().unwrap().contains("from 02:13 UTC"),
        "{first}"
    );

    // Pinning that grows before the borrow timeouts is named as what filled the pool.
    let report = analyze_json(&[&sample("incidents/pinning-builds-to-exhaustion")], 0);
    let why = report["findings"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("pinned sessions rose from")
            && why.contains("pinning is what filled the pool"),
        "{why}"
    );

    // Every user failing from one minute, after clients had been served: one shared change.
    let report = analyze_json(&[&sample("incidents/passwords-changed-at-once")], 0);
    let why = report["findings"][0]["why"].as_str().unwrap();
    assert!(why.contains("began at 01:42 UTC for all 3 users"), "{why}");

    // The same proxy log with borrow timeouts from hours after it ended: its silence says
    // nothing about them, so both candidates stand.
    let report = analyze_json(
        &[
            &sample("incidents/db-lost-after-healthy-hour/proxy.log"),
            &sample("incidents/target-unreachable/app.log"),
        ],
        0,
    );
    let first = &report["findings"][0];
    assert_eq!(first["cause"], "pool-exhausted", "{first}");
    assert_eq!(first["alternatives"][0]["cause"], "target-unreachable");

    // Borrow timeouts in an application log alone: both candidates, and what separates them.
    let report = analyze_json(&[&sample("incidents/pool-exhausted/app.log")], 0);
    let first = &report["findings"][0];
    assert_eq!(first["cause"], "pool-exhausted");
    assert!(first["confidence"].as_f64().unwrap() <= 0.5);
    let alternative = &first["alternatives"][0];
    assert_eq!(alternative["cause"], "target-unreachable");
    assert!(
        alternative["check"]
            .as_str()
            .unwrap()
            .contains("describe-db-proxy-targets"),
        "{alternative}"
    );
}

#[test]
fn each_sample_yields_its_cause_first_in_json() {
    for (path, expected) in EXPECTED {
        let report = analyze_json(&[&sample(path)], 0);
        assert_eq!(causes(&report), *expected, "{path}");
        assert_eq!(report["schema"], "proxydoc.report/v1");
        let first = &report["findings"][0];
        for key in [
            "cause",
            "severity",
            "confidence",
            "why",
            "events",
            "first_seen",
            "last_seen",
            "users",
            "clients",
            "endpoints",
            "evidence",
            "remediation",
        ] {
            assert!(first.get(key).is_some(), "{path}: finding lacks {key}");
        }
        let evidence = first["evidence"].as_array().unwrap();
        assert!(
            !evidence.is_empty() && evidence.len() <= 3,
            "{path}: evidence {evidence:?}"
        );
        assert!(
            !first["remediation"].as_array().unwrap().is_empty(),
            "{path}"
        );
        let confidence = first["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
    }
}

#[test]
fn each_sample_yields_its_cause_first_in_table_and_markdown() {
    for (path, expected) in EXPECTED {
        let out = run(&["analyze", "--format", "table", &sample(path)]);
        assert_eq!(out.code, 0, "{path}");
        let row = out
            .stdout
            .lines()
            .find(|l| l.contains("┆ 1 ") || l.starts_with("│ 1 "))
            .unwrap_or_default();
        assert!(
            row.contains(expected[0]),
            "{path}: first table row {row:?}\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!("1. {} — ", expected[0])),
            "{path}"
        );
        for line in out
            .stdout
            .lines()
            .filter(|l| l.starts_with('│') || l.starts_with('┌'))
        {
            assert!(
                line.chars().count() <= 80,
                "{path}: table wider than 80: {line}"
            );
        }

        let out = run(&["analyze", "--format", "markdown", &sample(path)]);
        assert_eq!(out.code, 0, "{path}");
        assert!(
            out.stdout.contains(&format!("### 1. `{}`", expected[0])),
            "{path}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn healthy_log_has_no_critical_finding() {
    let report = analyze_json(&[&sample("proxy/healthy-postgres.log")], 0);
    assert!(causes(&report).is_empty(), "{:?}", causes(&report));
    assert_eq!(report["input"]["unparsed"], 0);
    assert!(report["counts"]["client_connected"].as_u64().unwrap() > 100);
    let out = run(&[
        "analyze",
        "--fail-on",
        "warning",
        &sample("proxy/healthy-postgres.log"),
    ]);
    assert_eq!(out.code, 0);
}

#[test]
fn pinning_alone_is_a_warning() {
    let report = analyze_json(&[&sample("proxy/session-pinning-postgres.log")], 0);
    assert_eq!(report["findings"][0]["severity"], "warning");
    let path = sample("proxy/session-pinning-postgres.log");
    assert_eq!(run(&["analyze", "--fail-on", "critical", &path]).code, 0);
    assert_eq!(run(&["analyze", "--fail-on", "warning", &path]).code, 3);
}

#[test]
fn fail_on_critical_exits_3() {
    let out = run(&[
        "analyze",
        "--format",
        "json",
        "--fail-on",
        "critical",
        &sample("app/tls-required-psql.log"),
    ]);
    assert_eq!(out.code, 3);
    assert_eq!(out.json()["findings"][0]["cause"], "tls-required");
}

#[test]
fn two_causes_are_ranked_by_failed_connections() {
    let report = analyze_json(&[&sample("incidents/two-causes")], 0);
    let findings = report["findings"].as_array().unwrap();
    let first = findings[0]["events"].as_u64().unwrap();
    let second = findings[1]["events"].as_u64().unwrap();
    assert!(first > second, "{first} <= {second}");
    assert_eq!(findings[0]["users"], serde_json::json!(["ledger_svc"]));
}

#[test]
fn remediation_is_filled_with_values_from_the_log() {
    let report = analyze_json(&[&sample("layouts/plain.log")], 0);
    let steps = report["findings"][0]["remediation"].to_string();
    assert!(
        steps.contains("arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/app-db-Xy12Zq")
    );
    assert!(steps.contains("secretsmanager:GetSecretValue"));
    assert!(steps.contains("kms:Decrypt"));
    assert!(steps.contains("kms:ViaService"));
    assert!(steps.contains("rds.amazonaws.com"));
    assert!(steps.contains("--role-name orders-proxy-secrets-role"));

    let report = analyze_json(&[&sample("proxy/iam-auth-failed-mysql.log")], 0);
    let steps = report["findings"][0]["remediation"].to_string();
    assert!(steps.contains("rds-db:connect"), "{steps}");
    assert!(
        steps.contains("dbuser:PROXY_RESOURCE_ID/reporting_iam"),
        "{steps}"
    );
    assert!(steps.contains("--port 3306"), "{steps}");

    let report = analyze_json(&[&sample("incidents/target-unreachable")], 0);
    let steps = report["findings"][0]["remediation"].to_string();
    assert!(
        steps.contains("authorize-security-group-ingress"),
        "{steps}"
    );
    assert!(steps.contains("--port 3306"), "{steps}");
    assert!(steps.contains("authorize-security-group-egress"), "{steps}");
    assert!(steps.contains("DBInstanceStatus"), "{steps}");
}

#[test]
fn since_and_until_filter_events() {
    let path = sample("layouts/plain.log");
    let all = analyze_json(&[&path], 0);
    let late = analyze_json(&[&path, "--since", "2026-11-24T10:00:00Z"], 0);
    assert_eq!(causes(&late), ["secret-access-denied"]);
    assert!(late["input"]["filtered"].as_u64().unwrap() > 0);
    assert_eq!(late["window"]["start"], "2026-11-24T10:00:00.000Z");
    let early = analyze_json(&[&path, "--until", "2026-11-24T10:00:00Z"], 0);
    assert_eq!(causes(&early), ["session-pinning"]);
    assert_eq!(
        late["input"]["lines"].as_u64().unwrap(),
        all["input"]["lines"].as_u64().unwrap(),
        "filtered lines are still counted as lines"
    );
    // Relative to the fixed clock (2026-11-25T12:00Z): 2h ago excludes everything.
    let none = analyze_json(&[&path, "--since", "2h"], 0);
    assert!(causes(&none).is_empty());
}

#[test]
fn stdin_and_output_file() {
    let text =
        std::fs::read(crate::common::root().join("samples/app/tls-required-psql.log")).unwrap();
    let out = run_cmd(
        proxydoc()
            .args(["analyze", "--format", "json", "-"])
            .write_stdin(text.clone()),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["findings"][0]["cause"], "tls-required");
    assert_eq!(out.json()["input"]["files"], serde_json::json!(["-"]));

    // Piped stdout without --format defaults to JSON.
    let out = run_cmd(proxydoc().args(["analyze"]).write_stdin(text));
    assert_eq!(out.json()["findings"][0]["cause"], "tls-required");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.md");
    let out = run(&[
        "analyze",
        "-o",
        file.to_str().unwrap(),
        &sample("app/db-error-python.log"),
    ]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.starts_with("# RDS Proxy connection report"),
        "{written}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["analyze", "--since", "yesterday", "samples/app"],
        vec!["analyze", "--format", "yaml", "samples/app"],
        vec!["analyze", "--since", "1h", "--until", "2h", "samples/app"],
        vec![
            "analyze",
            "--patterns",
            "/nonexistent/patterns",
            "samples/app",
        ],
        vec!["frobnicate"],
    ] {
        let out = run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn forced_input_format() {
    // Forcing text on a JSON document reads its lines as text: the proxy lines are still
    // found inside the JSON strings, but nothing is an event timestamp any more.
    let report = analyze_json(
        &[
            "--input-format",
            "text",
            &sample("layouts/filter-log-events.json"),
        ],
        0,
    );
    assert_eq!(report["input"]["details"][0]["format"], "text");
    let report = analyze_json(&[&sample("layouts/filter-log-events.json")], 0);
    assert_eq!(report["input"]["details"][0]["format"], "json");
}

#[test]
fn user_patterns_add_causes_without_code_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("90-custom.toml"),
        r#"
[[pattern]]
id = "custom-dns-failure"
kind = "network_timeout"
severity = "critical"
cause = "proxy-dns-failure"
side = "client"
description = "The application could not resolve the proxy endpoint."
contains = ["getaddrinfo ENOTFOUND"]
regex = '''ENOTFOUND (?P<proxy_host>\S+)'''
remediation = ["Check the proxy endpoint name and the VPC's DNS settings"]
match = ["Error: getaddrinfo ENOTFOUND orders-proxy.proxy-abc.us-east-1.rds.amazonaws.com"]
"#,
    )
    .unwrap();
    let log = crate::common::temp_file(
        dir.path(),
        "app.log",
        b"2026-11-24T10:00:00Z Error: getaddrinfo ENOTFOUND orders-proxy.proxy-abc.us-east-1.rds.amazonaws.com\n",
    );
    let patterns = dir.path().to_str().unwrap();
    let report = analyze_json(&["--patterns", patterns, &log], 0);
    assert_eq!(causes(&report), ["proxy-dns-failure"]);
    assert_eq!(
        report["findings"][0]["remediation"][0],
        "Check the proxy endpoint name and the VPC's DNS settings"
    );

    let out = run(&["patterns", "--patterns", patterns, "test", &log]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("custom-dns-failure network_timeout proxy_host=\"orders-proxy.proxy-abc.us-east-1.rds.amazonaws.com\""), "{}", out.stdout);
    let out = run(&["patterns", "--patterns", patterns]);
    assert!(
        out.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("custom-dns-failure"),
        "{}",
        out.stdout
    );
}

#[test]
fn patterns_test_shows_matches_and_fields() {
    let out = run(&[
        "patterns",
        "test",
        &sample("proxy/iam-auth-failed-mysql.log"),
    ]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains(
        "proxy-auth-failed-iam auth_failed auth_method=\"IAM\" user=\"reporting_iam\" tls=\"on\" reason=\"Invalid credentials."
    ), "{}", &out.stdout[..2000.min(out.stdout.len())]);
    assert!(out.stdout.trim_end().ends_with("lines matched a pattern"));
    let out = run(&[
        "patterns",
        "test",
        "--unmatched",
        &sample("app/network-blocked-node.log"),
    ]);
    assert!(
        out.stdout
            .lines()
            .filter(|l| l.contains(": - unclassified"))
            .count()
            == 12,
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("client-timeout"));
}

#[test]
fn sql_is_redacted_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let log = crate::common::temp_file(
        dir.path(),
        "debug.log",
        b"2026-11-24T10:00:00.000Z [INFO] [proxyEndpoint=default] [clientConnection=5] The client session was pinned to the database connection [dbConnection=6] for the remainder of the session. The proxy can't reuse this connection until the session ends. Reason: The connection ran a SQL query which exceeded the 16384 byte limit. SELECT card_number FROM payments WHERE id = 42\n",
    );
    let report = analyze_json(&[&log], 0);
    let evidence = report["findings"][0]["evidence"][0].as_str().unwrap();
    assert!(!evidence.contains("card_number"), "{evidence}");
    assert!(evidence.contains("--show-sql"));
    let report = analyze_json(&["--show-sql", &log], 0);
    assert!(
        report["findings"][0]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("card_number")
    );
}

#[test]
fn help_mentions_formats_and_exit_codes() {
    let out = run(&["analyze", "--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("`json` when stdout is piped"));
    let out = run(&["--help"]);
    assert!(out.stdout.contains("Exit codes: 0 done, 1"));
}

/// Samples of several incidents repeated to at least `bytes`, with distinct connection ids
/// per round so that sessions do not collapse, and when `bare` a line without any timestamp
/// after each sample (at batch boundaries, likely).
fn mixed_incidents(bytes: usize, bare: bool) -> String {
    let mut text = String::new();
    let mut round = 0;
    while text.len() < bytes {
        for sample in [
            "proxy/iam-auth-failed-mysql.log",
            "proxy/session-pinning-postgres.log",
            "incidents/two-causes/proxy.log",
            "incidents/pool-exhausted/app.log",
            "incidents/target-unreachable/proxy.log",
        ] {
            let content =
                std::fs::read_to_string(crate::common::root().join("samples").join(sample))
                    .unwrap();
            text.push_str(
                &content.replace("clientConnection=", &format!("clientConnection={round}")),
            );
            if bare {
                text.push_str("a bare line without any timestamp\n");
            }
        }
        round += 1;
    }
    text
}

#[test]
fn parallel_workers_give_the_same_report_as_one() {
    // Several batches of mixed incidents, with untimed lines at batch boundaries likely.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.log");
    let text = mixed_incidents(6 << 20, true);
    std::fs::write(&path, &text).unwrap();
    let path = path.to_str().unwrap();
    let one = crate::common::analyze_json(&[path, "--threads", "1"], 0);
    for threads in ["2", "3"] {
        let many = crate::common::analyze_json(&[path, "--threads", threads], 0);
        assert_eq!(one, many, "--threads {threads} differs from --threads 1");
    }
    assert!(
        one["input"]["lines"].as_u64().unwrap() > 20_000,
        "{}",
        one["input"]
    );
}

/// Many inputs, each read by one worker that counts its own batches and hands some to a
/// worker with nothing left to read: an export tree of gzip objects (sessions cut between
/// objects) and plain files give one worker's report for any number of workers.
#[test]
fn workers_that_read_and_count_give_one_workers_report() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let text = mixed_incidents(8 << 20, false);
    let lines: Vec<&str> = text.lines().collect();
    let pieces = 12;
    let per = lines.len().div_ceil(pieces);
    let stream = dir.path().join("tree/exportedlogs/0f1e-task/proxy-stream");
    std::fs::create_dir_all(&stream).unwrap();
    let mut paths = vec![dir.path().join("tree").to_str().unwrap().to_string()];
    for (k, piece) in lines.chunks(per).enumerate() {
        let body = piece.join("\n") + "\n";
        if k < 8 {
            // Objects of about 700 KB: two batches each.
            let file = std::fs::File::create(stream.join(format!("{k:06}.gz"))).unwrap();
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            gz.write_all(body.as_bytes()).unwrap();
            gz.finish().unwrap();
        } else {
            let path = dir.path().join(format!("part-{k}.log"));
            std::fs::write(&path, body).unwrap();
            paths.push(path.to_str().unwrap().to_string());
        }
    }
    let args = |threads: &'static str| {
        let mut args: Vec<&str> = paths.iter().map(String::as_str).collect();
        args.extend(["--threads", threads]);
        args
    };
    let one = crate::common::analyze_json(&args("1"), 0);
    assert_eq!(one["input"]["lines"].as_u64(), Some(lines.len() as u64));
    for threads in ["2", "3", "4"] {
        let many = crate::common::analyze_json(&args(threads), 0);
        assert_eq!(one, many, "--threads {threads} differs from --threads 1");
    }
}

/// Completion scripts for every shell clap_complete knows, from the same definitions that
/// parse the command line: each names every command and a flag of `analyze`; bash's parses.
#[test]
fn completions_for_every_shell() {
    let commands = [
        "analyze",
        "check",
        "diagnose",
        "logging",
        "tail",
        "patterns",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("proxydoc"), "{shell}");
        for command in commands {
            assert!(out.stdout.contains(command), "{shell} lacks {command}");
        }
        assert!(out.stdout.contains("fail-on"), "{shell} lacks --fail-on");
        if shell == "bash" {
            let dir = tempfile::tempdir().unwrap();
            let script =
                crate::common::temp_file(dir.path(), "proxydoc.bash", out.stdout.as_bytes());
            let check = std::process::Command::new("bash")
                .args(["-n", &script])
                .output()
                .expect("bash runs");
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.code, 2, "an unknown shell is a usage error");
}

/// `proxydoc iam-policy` prints least-privilege policies per command; an unknown command is a
/// usage error; `--table` is the README's table.
#[test]
fn iam_policy_per_command() {
    let out = run(&["iam-policy", "analyze"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let policy: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    assert_eq!(
        policy["Statement"],
        serde_json::json!([{
            "Sid": "ReadProxyLogs",
            "Effect": "Allow",
            "Action": ["logs:DescribeLogGroups", "logs:FilterLogEvents"],
            "Resource": "*",
        }])
    );
    let all = run(&["iam-policy"]);
    let all: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    let actions: Vec<&str> = all["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    for needed in [
        "rds:DescribeDBProxies",
        "logs:StartLiveTail",
        "logs:StartQuery",
        "ec2:DescribeNetworkAcls",
        "rds:ModifyDBProxy",
        "iam:SimulatePrincipalPolicy",
    ] {
        assert!(actions.contains(&needed), "{needed} in {actions:?}");
    }
    assert!(!actions.iter().any(|a| a.contains("GetSecretValue")));
    let bad = run(&["iam-policy", "nope"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("possible values"), "{}", bad.stderr);
    let table = run(&["iam-policy", "--table"]);
    assert!(table.stdout.starts_with("| IAM action | needed by | for |"));
}

/// `proxydoc man` prints roff for proxydoc and for each command; an unknown command is a usage
/// error that lists the known ones.
#[test]
fn manual_pages() {
    let out = run(&["man"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH proxydoc 1"), "{}", out.stdout);
    assert!(out.stdout.contains("diagnose"));
    let out = run(&["man", "analyze"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(".TH proxydoc-analyze 1"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(r"\-\-fail\-on"), "{}", out.stdout);
    assert!(
        out.stdout.contains(r"\fBproxydoc analyze\fR"),
        "the synopsis is the command as typed: {}",
        out.stdout
    );
    let out = run(&["man", "nope"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no command `nope`") && out.stderr.contains("analyze, check"),
        "{}",
        out.stderr
    );
}

/// Progress: a bar on a terminal's stderr (through `script`, which gives the command a
/// terminal), nothing with `--quiet`, nothing when stderr is a pipe.
#[test]
fn progress_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let one = std::fs::read_to_string(
        crate::common::root().join("samples/incidents/two-causes/proxy.log"),
    )
    .unwrap();
    std::fs::write(&log, one.repeat(100)).unwrap();
    let binary = assert_cmd::cargo::cargo_bin("proxydoc");
    let command = |extra: &str| {
        format!(
            "{} analyze {} --format json -o /dev/null {extra}",
            binary.display(),
            log.display()
        )
    };

    // Piped: no progress on stderr.
    let piped = run(&[
        "analyze",
        log.to_str().unwrap(),
        "--format",
        "json",
        "-o",
        "/dev/null",
    ]);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(!piped.stderr.contains("reading"), "{}", piped.stderr);

    if !crate::common::has_script("progress_only_on_a_terminal") {
        return;
    }
    let on_terminal = |extra: &str| -> String {
        let out = std::process::Command::new("script")
            .args(["-qec", &command(extra), "/dev/null"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_terminal("");
    assert!(
        shown.contains("reading") && shown.contains("MiB"),
        "{shown:?}"
    );
    let quiet = on_terminal("--quiet");
    assert!(!quiet.contains("reading"), "{quiet:?}");
}
