//! `proxydoc tail` as a real process against moto over HTTP on 127.0.0.1: polling shows every
//! event exactly once, also through a loopback TCP proxy that drops its connections mid-run and
//! for a log group that appears only after the tail started; Live Tail works through the
//! `stream-` host-prefix fix, renews its sessions, de-duplicates moto's repeated batches and
//! falls back to polling; SIGINT and SIGTERM restore enhanced logging; the 24-hour turn-off
//! is announced and, with `--renew-logging`, undone.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::Value;

use crate::check::{Faults, build, sdk_config};
use crate::moto::{logs_client, moto, runtime};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A running `proxydoc tail` whose stdout and stderr are collected line by line.
struct Tail {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Tail {
    fn start(region: &str, endpoint: &str, args: &[&str]) -> Tail {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("proxydoc"));
        command
            .current_dir(crate::common::root())
            .arg("tail")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in crate::moto::aws_env(region, endpoint) {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let mut child = command.spawn().expect("start proxydoc tail");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Tail {
            child,
            stdout,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits until stderr contains `text`.
    fn wait_stderr(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr().contains(text) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tail exited ({status}) before `{text}`:\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "no `{text}` on stderr within {timeout:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The NDJSON events printed so far, by message.
    fn messages(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for line in self.stdout.lock().unwrap().iter() {
            let event: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line is not NDJSON ({e}): {line}"));
            assert_eq!(event["type"], "event", "{line}");
            *counts
                .entry(event["message"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        counts
    }

    /// Waits until every one of `wanted` was printed.
    fn wait_messages(&mut self, wanted: &[String], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.messages();
            if wanted.iter().all(|w| seen.contains_key(w)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "missing events after {timeout:?}: {:?}\nseen: {seen:?}\nstderr:\n{}",
                wanted
                    .iter()
                    .filter(|w| !seen.contains_key(*w))
                    .collect::<Vec<_>>(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for a clean exit, then checks that `events` distinct events were printed, each
    /// once.
    fn assert_ends_with_each_event_once(&mut self, events: usize) {
        assert_eq!(
            self.wait_exit(Duration::from_secs(30)),
            0,
            "{}",
            self.stderr()
        );
        let seen = self.messages();
        assert_eq!(seen.len(), events, "{seen:?}");
        assert!(
            seen.values().all(|&n| n == 1),
            "an event was printed twice: {seen:?}"
        );
    }

    /// Waits for the exit (at most `timeout`) and returns the exit code.
    fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(200));
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tail did not exit within {timeout:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP proxy in front of moto that can cut every connection and refuse new ones
/// for a while, as a flaky network would.
struct Dropper {
    url: String,
    refusing: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Dropper {
    fn start(upstream: &str) -> Dropper {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let refusing = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (flag, conns) = (Arc::clone(&refusing), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                conns.lock().unwrap().push(client.try_clone().unwrap());
                conns.lock().unwrap().push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Dropper {
            url,
            refusing,
            open,
        }
    }

    /// Cuts every open connection and refuses new ones until [`Dropper::resume`].
    fn cut(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn resume(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }
}

fn create_group(region: &str, group: &str) {
    crate::moto::seed(region, group, &[("proxy", Vec::new())]);
}

/// Puts messages stamped now into the group's `proxy` stream.
fn put(region: &str, group: &str, messages: &[String]) {
    runtime().block_on(async {
        let client = logs_client(region).await;
        let now = now_ms();
        let events: Vec<InputLogEvent> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                InputLogEvent::builder()
                    .timestamp(now + i as i64)
                    .message(m)
                    .build()
                    .unwrap()
            })
            .collect();
        client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name("proxy")
            .set_log_events(Some(events))
            .send()
            .await
            .unwrap();
    });
}

fn lines(tag: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range
        .map(|i| {
            format!(
                "[INFO] [proxyEndpoint={tag}] [clientConnection={i}] A new client connected from 10.0.1.{i}:5{i:04}."
            )
        })
        .collect()
}

/// The messages as the tail prints them (the text after the proxy's envelope).
fn printed(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.split("] ").last().unwrap().to_string())
        .collect()
}

#[test]
fn polling_shows_each_event_once_through_dropped_connections_and_a_late_group() {
    let region = "ap-southeast-3";
    let group = "/aws/rds/proxy/late";
    let dropper = Dropper::start(&moto().url);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let saved = dir.path().join("events.ndjson");
    let table = dir.path().join("events.csv");
    let mut tail = Tail::start(
        region,
        &dropper.url,
        &[
            "--log-group",
            group,
            "--poll",
            "--poll-interval",
            "1s",
            "--overlap",
            "20s",
            "--output",
            report.to_str().unwrap(),
            "--save",
            saved.to_str().unwrap(),
            "--events-table",
            table.to_str().unwrap(),
        ],
    );
    tail.wait_stderr("does not exist yet", Duration::from_secs(20));

    create_group(region, group);
    let first = lines("first", 0..5);
    put(region, group, &first);
    tail.wait_stderr(
        &format!("log group {group} exists now"),
        Duration::from_secs(20),
    );
    tail.wait_messages(&printed(&first), Duration::from_secs(20));

    // The network fails: every connection is cut and new ones are refused for a while, and
    // events keep arriving meanwhile.
    dropper.cut();
    let during = lines("during", 5..10);
    put(region, group, &during);
    tail.wait_stderr("retrying in", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    dropper.resume();
    tail.wait_messages(&printed(&during), Duration::from_secs(40));
    tail.wait_stderr("nothing was missed", Duration::from_secs(20));

    let after = lines("after", 10..12);
    put(region, group, &after);
    tail.wait_messages(&printed(&after), Duration::from_secs(20));
    // A few more rounds over the overlap window must not repeat anything.
    std::thread::sleep(Duration::from_secs(3));

    tail.signal("INT");
    tail.assert_ends_with_each_event_once(12);

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["schema"], "proxydoc.report/v1");
    assert_eq!(report["counts"]["client_connected"], 12);
    assert_eq!(report["input"]["lines"], 12);
    // The archive holds the same 12 events and analyses to the same counts.
    let archived = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(archived.lines().count(), 12);
    let again = crate::common::analyze_json(&[saved.to_str().unwrap()], 0);
    assert_eq!(again["counts"]["client_connected"], 12);
    // The events table has the same 12 events, from the group, numbered in order.
    let rows = std::fs::read_to_string(&table).unwrap();
    let rows: Vec<&str> = rows.lines().skip(1).collect();
    assert_eq!(rows.len(), 12, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.contains(&format!("cloudwatch:{group}")) && r.contains("client_connected"))
    );
    // Each event's log stream, which the API names.
    assert!(
        rows.iter().all(|r| r.split(',').nth(3) == Some("proxy")),
        "{rows:?}"
    );
}

#[test]
fn live_tail_through_the_host_prefix_fix_renews_dedups_and_falls_back() {
    let region = "ap-southeast-4";
    let group = "/aws/rds/proxy/live";
    create_group(region, group);
    let stored = lines("stored", 0..3);
    put(region, group, &stored);
    let mut tail = Tail::start(
        region,
        &moto().url,
        &["--log-group", group, "--poll-interval", "1s"],
    );
    // moto answers each StartLiveTail with the stored events and closes: the tail renews,
    // shows them once, and after sessions keep closing, polls.
    tail.wait_stderr("with CloudWatch Live Tail", Duration::from_secs(20));
    tail.wait_messages(&printed(&stored), Duration::from_secs(20));
    tail.wait_stderr("Live Tail session renewed", Duration::from_secs(20));
    tail.wait_stderr("keep ending within seconds", Duration::from_secs(60));
    let later = lines("later", 3..6);
    put(region, group, &later);
    tail.wait_messages(&printed(&later), Duration::from_secs(20));
    tail.signal("TERM");
    tail.assert_ends_with_each_event_once(6);
}

/// DebugLogging and the number of proxydoc's tags of proxy `name`.
fn logging_state(region: &str, name: &str) -> (bool, usize) {
    let (on, tags) = crate::logging::state(region, name);
    (on, tags.len())
}

fn set_debug_logging(region: &str, name: &str, on: bool) {
    runtime().block_on(async {
        let rds = aws_sdk_rds::Client::new(&sdk_config(region).await);
        rds.modify_db_proxy()
            .db_proxy_name(name)
            .debug_logging(on)
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn signals_restore_enhanced_logging_to_what_it_was() {
    // IAM is global in moto: one proxy (and role) name per case.
    for (region, name, signal, was_on) in [
        ("eu-west-1", "tl-int", "INT", false),
        ("eu-west-3", "tl-term", "TERM", false),
        ("us-west-2", "tl-was-on", "TERM", true),
    ] {
        build(
            region,
            name,
            Faults {
                no_logging: !was_on,
                ..Faults::default()
            },
        );
        create_group(region, &format!("/aws/rds/proxy/{name}"));
        let mut tail = Tail::start(
            region,
            &moto().url,
            &[
                "--proxy",
                name,
                "--enable-logging",
                "--for",
                "30m",
                "--poll",
            ],
        );
        tail.wait_stderr("by polling FilterLogEvents", Duration::from_secs(30));
        let (on, tags) = logging_state(region, name);
        assert!(on, "{signal}: logging is not on during the tail");
        assert_eq!(tags, if was_on { 0 } else { 3 }, "{signal}");

        tail.signal(signal);
        assert_eq!(
            tail.wait_exit(Duration::from_secs(30)),
            0,
            "{signal}: {}",
            tail.stderr()
        );
        assert_eq!(
            logging_state(region, name),
            (was_on, 0),
            "{signal}, was on: {was_on}: {}",
            tail.stderr()
        );
        if was_on {
            assert!(
                tail.stderr().contains("leaves it on at the end"),
                "{}",
                tail.stderr()
            );
        } else {
            assert!(
                tail.stderr().contains("enhanced logging is off again"),
                "{}",
                tail.stderr()
            );
        }
    }
}

#[test]
fn the_24_hour_turn_off_is_announced_and_renewed_only_when_asked() {
    for (region, name, renew) in [("ap-east-1", "day", true), ("ap-south-2", "day-off", false)] {
        build(
            region,
            name,
            Faults {
                no_logging: true,
                ..Faults::default()
            },
        );
        create_group(region, &format!("/aws/rds/proxy/{name}"));
        // Enabled by proxydoc almost 24 hours ago (the clock of that run is injected).
        let enabled_at = now_ms() - 24 * 3_600_000 + 40_000;
        let mut cmd = crate::moto::proxydoc_aws(region);
        cmd.env("PROXYDOC_NOW", proxydoc::timefmt::rfc3339(enabled_at))
            .args(["logging", "enable", "--proxy", name, "--for", "24h"]);
        let out = crate::common::run_cmd(&mut cmd);
        assert_eq!(out.code, 0, "{}", out.stderr);

        let mut args = vec![
            "--proxy",
            name,
            "--enable-logging",
            "--poll",
            "--logging-check",
            "1s",
        ];
        if renew {
            args.push("--renew-logging");
        }
        let mut tail = Tail::start(region, &moto().url, &args);
        tail.wait_stderr(
            &format!("already on for proxy {name} "),
            Duration::from_secs(30),
        );
        tail.wait_stderr(
            &format!("RDS turns enhanced logging off on proxy {name} at"),
            Duration::from_secs(30),
        );
        // RDS's 24 hours end: it turns logging off by itself.
        set_debug_logging(region, name, false);
        tail.wait_stderr(
            &format!("RDS turned enhanced logging off on proxy {name} by itself"),
            Duration::from_secs(30),
        );
        if renew {
            tail.wait_stderr(
                "turned it on again (--renew-logging)",
                Duration::from_secs(30),
            );
            assert_eq!(logging_state(region, name), (true, 3));
        } else {
            tail.wait_stderr("the tail goes on without it", Duration::from_secs(30));
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(logging_state(region, name), (false, 0));
        }
        tail.signal("INT");
        assert_eq!(
            tail.wait_exit(Duration::from_secs(30)),
            0,
            "{}",
            tail.stderr()
        );
        // Renewed by this tail, so turned off by it at the end.
        assert_eq!(logging_state(region, name), (false, 0), "{}", tail.stderr());
    }
}

#[test]
fn duration_ends_the_tail_and_usage_errors_are_caught() {
    let region = "ap-northeast-3";
    let group = "/aws/rds/proxy/short";
    create_group(region, group);
    let mut tail = Tail::start(
        region,
        &moto().url,
        &[
            "--log-group",
            group,
            "--poll",
            "--duration",
            "2s",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        tail.wait_exit(Duration::from_secs(30)),
        0,
        "{}",
        tail.stderr()
    );
    let stderr = tail.stderr();
    assert!(stderr.contains("--duration reached"), "{stderr}");
    // Piped stdout carries events only; the report went to stderr.
    assert!(tail.stdout.lock().unwrap().is_empty());
    assert!(
        stderr.contains("\"schema\": \"proxydoc.report/v1\""),
        "{stderr}"
    );

    for (args, message) in [
        (vec!["tail"], "tail needs --proxy NAME or --log-group GROUP"),
        (
            vec!["tail", "--log-group", "g", "--kinds", "nope"],
            "unknown kind `nope`",
        ),
        (
            vec!["tail", "--proxy", "a", "--proxy", "b", "--enable-logging"],
            "give exactly one --proxy",
        ),
        (
            vec!["tail", "--proxy", "a", "--enable-logging", "--for", "25h"],
            "at most 24h",
        ),
    ] {
        let out = crate::common::run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
}

fn tag_proxy(region: &str, name: &str, key: &str, value: &str) {
    runtime().block_on(async {
        let rds = aws_sdk_rds::Client::new(&sdk_config(region).await);
        let out = rds
            .describe_db_proxies()
            .db_proxy_name(name)
            .send()
            .await
            .unwrap();
        let arn = out.db_proxies()[0].db_proxy_arn().unwrap().to_string();
        rds.add_tags_to_resource()
            .resource_name(arn)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn a_busy_proxy_or_a_missing_permission_leaves_nothing_half_done() {
    // (region, proxy, test tag, value, what stderr must say)
    for (region, name, key, value, says) in [
        (
            "ca-west-1",
            "busy",
            "proxydoc-test:status",
            "modifying",
            "is `modifying`: wait until it is `available` and run this again (nothing was changed)",
        ),
        (
            "eu-central-1",
            "no-modify",
            "proxydoc-test:deny",
            "ModifyDBProxy",
            "rds:ModifyDBProxy",
        ),
        (
            "ap-southeast-1",
            "no-tags",
            "proxydoc-test:deny",
            "AddTagsToResource",
            "turned off again, nothing is left on",
        ),
    ] {
        build(
            region,
            name,
            Faults {
                no_logging: true,
                ..Faults::default()
            },
        );
        create_group(region, &format!("/aws/rds/proxy/{name}"));
        tag_proxy(region, name, key, value);
        for command in ["tail", "logging"] {
            let mut cmd = crate::moto::proxydoc_aws(region);
            if command == "tail" {
                cmd.args(["tail", "--proxy", name, "--enable-logging", "--poll"]);
            } else {
                cmd.args(["logging", "enable", "--proxy", name]);
            }
            let out = crate::common::run_cmd(cmd.timeout(Duration::from_secs(60)));
            assert_eq!(out.code, 1, "{command} {name}: {}", out.stderr);
            assert!(
                out.stderr.contains(says),
                "{command} {name}: {}",
                out.stderr
            );
            assert_eq!(
                logging_state(region, name),
                (false, 0),
                "{command} {name}: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn a_renewal_waiting_for_a_busy_proxy_holds_back_neither_events_nor_ctrl_c() {
    let (region, name) = ("sa-east-1", "stuck");
    build(
        region,
        name,
        Faults {
            no_logging: true,
            ..Faults::default()
        },
    );
    let group = format!("/aws/rds/proxy/{name}");
    create_group(region, &group);
    let mut tail = Tail::start(
        region,
        &moto().url,
        &[
            "--proxy",
            name,
            "--enable-logging",
            "--renew-logging",
            "--poll",
            "--poll-interval",
            "1s",
            "--logging-check",
            "1s",
            "--wait",
            "10m",
            "--events",
            "ndjson",
        ],
    );
    tail.wait_stderr("by polling FilterLogEvents", Duration::from_secs(30));
    // Logging goes off outside the tail and the proxy stays `modifying`: the renewal turns it
    // on and then waits (up to --wait, 10 minutes) for the proxy to be `available` again.
    tag_proxy(region, name, "proxydoc-test:status", "modifying");
    set_debug_logging(region, name, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logging_state(region, name).0 {
        assert!(Instant::now() < deadline, "no renewal: {}", tail.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Events still print while the renewal waits.
    let sent = lines("stuck", 0..3);
    put(region, &group, &sent);
    tail.wait_messages(&printed(&sent), Duration::from_secs(20));
    // Ctrl-C is acted on at once, not after the wait.
    let interrupted = Instant::now();
    tail.signal("INT");
    tail.wait_stderr("interrupted (SIGINT): stopping", Duration::from_secs(3));
    tail.wait_stderr(
        &format!("turning enhanced logging off on proxy {name}"),
        Duration::from_secs(3),
    );
    assert!(interrupted.elapsed() < Duration::from_secs(3));
    // The restore waits for the busy proxy; a second Ctrl-C stops waiting.
    tail.signal("INT");
    assert_eq!(
        tail.wait_exit(Duration::from_secs(10)),
        1,
        "{}",
        tail.stderr()
    );
    assert!(
        tail.stderr().contains("again: stopped waiting"),
        "{}",
        tail.stderr()
    );
    // The renewal this tail made was undone even though it never finished.
    assert_eq!(logging_state(region, name), (false, 0), "{}", tail.stderr());
}
