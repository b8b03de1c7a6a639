//! `--format html`: the page's structure over every sample (parsed with an HTML parser), and
//! the page as a person sees it in headless Chromium over the DevTools protocol: it loads with
//! no console error and no request leaving the file, the chart has a point per bucket and a
//! mark per critical onset, the first finding's cause is on screen, dark mode and print work.
//!
//! Chromium is Debian's `chromium` (scripts/test installs it when it can). Without it the
//! browser test says so loudly and passes, unless `PROXYDOC_REQUIRE_CHROMIUM=1` (set by
//! scripts/test once Chromium is there), when it fails.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proxydoc::model::EventKind;
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::common::{proxydoc, root, run_cmd};

/// Every sample incident, plus single-file samples of other shapes (no findings, pinning,
/// application logs only).
fn inputs() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let incidents = root().join("samples/incidents");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&incidents)
        .expect("samples/incidents")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, vec![dir.to_string_lossy().into_owned()]));
    }
    for (name, path) in [
        ("healthy-postgres", "samples/proxy/healthy-postgres.log"),
        (
            "session-pinning",
            "samples/proxy/session-pinning-postgres.log",
        ),
        ("iam-mysql", "samples/proxy/iam-auth-failed-mysql.log"),
        ("app-tls-psql", "samples/app/tls-required-psql.log"),
    ] {
        out.push((
            name.to_string(),
            vec![root().join(path).to_string_lossy().into_owned()],
        ));
    }
    out
}

/// The report of `paths` as JSON and as HTML (written to `dir/name.html`).
fn render(dir: &Path, name: &str, paths: &[String]) -> (Value, PathBuf) {
    let json = run_cmd(
        proxydoc()
            .arg("analyze")
            .args(paths)
            .args(["--format", "json"]),
    );
    assert_eq!(json.code, 0, "{}", json.stderr);
    let page = dir.join(format!("{name}.html"));
    // The format comes from the extension.
    let html = run_cmd(
        proxydoc()
            .arg("analyze")
            .args(paths)
            .arg("--output")
            .arg(&page),
    );
    assert_eq!(html.code, 0, "{}", html.stderr);
    (json.json(), page)
}

/// Buckets from the report's first to its last timeline entry.
fn expected_buckets(report: &Value) -> usize {
    let timeline = report["timeline"].as_array().expect("timeline");
    let (Some(first), Some(last)) = (timeline.first(), timeline.last()) else {
        return 0;
    };
    let at = |m: &Value| {
        proxydoc::timefmt::timestamp(m["minute"].as_str().unwrap())
            .unwrap()
            .1
            .0
    };
    let width = report["timeline_bucket_minutes"].as_i64().unwrap() * 60_000;
    usize::try_from((at(last) - at(first)) / width + 1).unwrap()
}

/// Failure kinds with events in the timeline: a line each in the chart, after all events.
fn failure_series(report: &Value) -> usize {
    let mut kinds = std::collections::BTreeSet::new();
    for minute in report["timeline"].as_array().unwrap() {
        for (kind, n) in minute["counts"].as_object().unwrap() {
            let failure = EventKind::parse(kind).is_some_and(EventKind::is_failure);
            if n.as_u64().unwrap_or(0) > 0 && failure {
                kinds.insert(kind.clone());
            }
        }
    }
    kinds.len()
}

fn critical_onsets(report: &Value) -> usize {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "critical" && !f["onset"].is_null())
        .count()
}

fn select<'a>(page: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    page.select(&Selector::parse(css).expect("selector"))
        .collect()
}

#[test]
fn html_structure_matches_the_report() {
    let dir = tempfile::tempdir().unwrap();
    for (name, paths) in inputs() {
        let (report, path) = render(dir.path(), &name, &paths);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("<!DOCTYPE html>"), "{name}");
        let page = Html::parse_document(&text);
        let errors: Vec<_> = page
            .errors
            .iter()
            .filter(|e| !e.contains("Unexpected token"))
            .collect();
        assert!(errors.is_empty(), "{name}: HTML parse errors {errors:?}");

        // Self-contained: nothing to fetch, and a policy that forbids fetching.
        assert!(
            select(&page, "link, img, iframe, object, embed, [src]").is_empty(),
            "{name}"
        );
        let csp = select(&page, "meta[http-equiv=Content-Security-Policy]");
        assert_eq!(csp.len(), 1, "{name}");
        assert!(
            csp[0]
                .value()
                .attr("content")
                .unwrap()
                .starts_with("default-src 'none'")
        );

        // The findings, ranked as in the JSON, each with its evidence and fix steps.
        let findings = report["findings"].as_array().unwrap();
        let articles = select(&page, "article.finding");
        assert_eq!(articles.len(), findings.len(), "{name}");
        for (i, (article, finding)) in articles.iter().zip(findings).enumerate() {
            assert_eq!(
                article.value().id(),
                Some(format!("finding-{}", i + 1).as_str())
            );
            assert_eq!(
                article.value().attr("data-cause"),
                finding["cause"].as_str()
            );
            let steps = article
                .select(&Selector::parse("ol.fix > li").unwrap())
                .count();
            assert_eq!(
                steps,
                finding["remediation"].as_array().unwrap().len(),
                "{name}"
            );
            let evidence: String = article
                .select(&Selector::parse("pre.evidence").unwrap())
                .flat_map(|e| e.text())
                .collect();
            for line in finding["evidence"].as_array().unwrap() {
                assert!(evidence.contains(line.as_str().unwrap()), "{name}: {line}");
            }
            let severity = format!("sev-{}", finding["severity"].as_str().unwrap());
            assert!(article.value().classes().any(|c| c == severity), "{name}");
        }
        if let Some(first) = findings.first() {
            let verdict: String = select(&page, "#verdict code.cause")[0].text().collect();
            assert_eq!(verdict, first["cause"].as_str().unwrap(), "{name}");
        }

        // The chart: a line for all events and one per failure kind, a point per bucket.
        let buckets = expected_buckets(&report);
        let lines = select(&page, "#chart polyline.series");
        if buckets == 0 {
            assert!(lines.is_empty(), "{name}");
            continue;
        }
        assert_eq!(lines.len(), 1 + failure_series(&report), "{name}");
        for line in &lines {
            let points = line.value().attr("points").unwrap().split(' ').count();
            assert_eq!(
                points,
                buckets,
                "{name}: {:?}",
                line.value().attr("data-label")
            );
        }
        assert_eq!(
            select(&page, "#chart g.onset-mark").len(),
            critical_onsets(&report),
            "{name}"
        );
        let axis: Vec<String> = select(&page, "#chart text.axis")
            .iter()
            .map(|t| t.text().collect())
            .collect();
        assert!(axis.iter().any(|t| t == "UTC"), "{name}: {axis:?}");
    }
}

/// Text is escaped, never markup: a line with HTML in it shows as text.
#[test]
fn html_escapes_log_text() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("proxy.log");
    std::fs::write(
        &log,
        "2026-11-24T09:58:00.464Z [WARN] [proxyEndpoint=default] [clientConnection=1] IAM authentication failed for user \"<script>alert(1)</script>\"\n",
    )
    .unwrap();
    let page = dir.path().join("r.html");
    let run = proxydoc()
        .arg("analyze")
        .arg(&log)
        .args(["--format", "html", "-o"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(run.status.success());
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(
        text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{text}"
    );
    let html = Html::parse_document(&text);
    // The page's own two scripts (data and behaviour), nothing from the log.
    assert_eq!(select(&html, "script").len(), 2);
}

// ---- The browser ------------------------------------------------------------------------

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PROXYDOC_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A headless Chromium and one page of it, driven over the DevTools protocol.
struct Browser {
    child: Child,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    session: String,
    next: u64,
    /// Every event seen, for the checks (console, exceptions, log entries, requests).
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium printed its DevTools address");
        let (socket, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
        }
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next: 0,
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            browser.call(domain, json!({}));
        }
        browser
    }

    /// Sends a command (to the page once attached) and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(tungstenite::Message::Text(message.to_string().into()))
            .expect("send to DevTools");
        loop {
            let reply = self.receive();
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {}", reply["error"]);
                return reply["result"].clone();
            }
            self.events.push(reply);
        }
    }

    fn receive(&mut self) -> Value {
        loop {
            match self.socket.read().expect("read from DevTools") {
                tungstenite::Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("DevTools JSON");
                }
                tungstenite::Message::Close(_) => panic!("DevTools closed the connection"),
                _ => continue,
            }
        }
    }

    /// Loads `page` and waits for its load event.
    fn open(&mut self, page: &Path) -> String {
        self.events.clear();
        let url = format!("file://{}", page.display());
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self
            .events
            .iter()
            .any(|e| e["method"] == "Page.loadEventFired")
        {
            assert!(Instant::now() < deadline, "{url} did not load");
            let event = self.receive();
            self.events.push(event);
        }
        url
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Console errors and warnings, uncaught exceptions and log entries of level error
    /// (blocked requests, CSP violations) seen since the page was opened.
    fn problems(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e["method"].as_str()? {
                "Runtime.consoleAPICalled"
                    if matches!(
                        e["params"]["type"].as_str(),
                        Some("error" | "warning" | "assert")
                    ) =>
                {
                    Some(format!("console: {}", e["params"]["args"]))
                }
                "Runtime.exceptionThrown" => Some(format!("exception: {}", e["params"])),
                "Log.entryAdded" if e["params"]["entry"]["level"] == "error" => {
                    Some(format!("log: {}", e["params"]["entry"]["text"]))
                }
                _ => None,
            })
            .collect()
    }

    /// The URLs of every request the page made.
    fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_string))
            .collect()
    }

    fn screenshot(&mut self, to: &Path) {
        use base64::Engine as _;
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        assert!(
            png.len() > 20_000,
            "a page, not a blank: {} bytes",
            png.len()
        );
        std::fs::write(to, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a person sees: every sample page loads cleanly, offline, with its chart, its onset
/// marks and its first finding on screen. Screenshots go to
/// `$CARGO_TARGET_DIR/html-screenshots/` (or `target/`) for a look.
#[test]
fn html_in_headless_chromium() {
    let Some(binary) = chromium() else {
        let required = std::env::var("PROXYDOC_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "PROXYDOC_REQUIRE_CHROMIUM=1 but no Chromium was found"
        );
        eprintln!();
        eprintln!("################################################################");
        eprintln!("# SKIPPED html_in_headless_chromium: no Chromium on this machine #");
        eprintln!("# (install Debian's `chromium`, or set PROXYDOC_CHROMIUM)        #");
        eprintln!("################################################################");
        return;
    };
    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("html-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut browser = Browser::launch(&binary);

    // The checks catch what they look for: a page with a console error, an uncaught
    // exception and a request for an outside image (nothing listens on port 9).
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><title>bad</title><img src=\"http://127.0.0.1:9/x.png\"><script>console.error('boom'); undefinedFunction();</script>",
    )
    .unwrap();
    let url = browser.open(&bad);
    let problems = browser.problems();
    assert!(problems.iter().any(|p| p.contains("boom")), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("undefinedFunction")),
        "{problems:?}"
    );
    assert!(
        browser
            .requests()
            .iter()
            .any(|r| r != &url && r.starts_with("http://127.0.0.1:9/")),
        "{:?}",
        browser.requests()
    );

    for (name, paths) in inputs() {
        let (report, page) = render(dir.path(), &name, &paths);
        let url = browser.open(&page);

        let problems = browser.problems();
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let requests = browser.requests();
        assert!(
            requests.iter().all(|r| *r == url),
            "{name}: requests other than the file itself: {requests:?}"
        );

        // The script ran: a copy button after every command.
        let commands = browser.eval("document.querySelectorAll('code.cmd').length");
        let buttons = browser.eval("document.querySelectorAll('code.cmd + button.copy').length");
        assert_eq!(commands, buttons, "{name}");

        let buckets = expected_buckets(&report);
        let points = browser.eval(
            "Array.from(document.querySelectorAll('#chart polyline.series')).map(p => p.points.numberOfItems)",
        );
        let points: Vec<u64> = serde_json::from_value(points).unwrap();
        if buckets > 0 {
            assert_eq!(points.len(), 1 + failure_series(&report), "{name}");
            assert!(
                points.iter().all(|p| *p as usize == buckets),
                "{name}: {points:?} for {buckets}"
            );
            let marks = browser.eval("document.querySelectorAll('#chart g.onset-mark').length");
            assert_eq!(marks, json!(critical_onsets(&report)), "{name}");
            // The chart is drawn at a readable size.
            let size = browser.eval(
                "(() => { const r = document.getElementById('chart').getBoundingClientRect(); return [r.width, r.height]; })()",
            );
            assert!(
                size[0].as_f64().unwrap() > 600.0 && size[1].as_f64().unwrap() > 150.0,
                "{name}: {size}"
            );
        } else {
            assert!(points.is_empty(), "{name}");
        }

        // The first finding's cause is on screen once scrolled to: not hidden, not covered.
        if let Some(first) = report["findings"].as_array().unwrap().first() {
            let seen = browser.eval(
                "(() => { const el = document.querySelector('#finding-1 .cause'); el.scrollIntoView({block: 'center'});
                  const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
                  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                  return {text: el.textContent, visible: r.width > 0 && r.height > 0 && s.visibility === 'visible' && s.display !== 'none' && Number(s.opacity) > 0,
                          top: hit === el || el.contains(hit)}; })()",
            );
            assert_eq!(seen["text"], first["cause"], "{name}");
            assert_eq!(seen["visible"], json!(true), "{name}");
            assert_eq!(seen["top"], json!(true), "{name}: the cause is covered");
            // And it is the first thing said: the verdict at the top of the page.
            let verdict = browser.eval(
                "(() => { window.scrollTo(0, 0); const el = document.querySelector('#verdict code.cause'); const r = el.getBoundingClientRect(); return [el.textContent, r.top < window.innerHeight]; })()",
            );
            assert_eq!(verdict, json!([first["cause"], true]), "{name}");
        }
        browser.eval("window.scrollTo(0, 0)");
        browser.screenshot(&shots.join(format!("{name}.png")));
    }

    // Dark mode follows the reader's preference; print hides the buttons.
    let (_, page) = render(dir.path(), "dark", &inputs()[0].1);
    browser.open(&page);
    let light = browser.eval("getComputedStyle(document.body).backgroundColor");
    browser.call(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    );
    let dark = browser.eval("getComputedStyle(document.body).backgroundColor");
    assert_eq!(light, json!("rgb(255, 255, 255)"));
    assert_eq!(dark, json!("rgb(20, 23, 27)"));
    browser.screenshot(&shots.join("dark.png"));
    browser.call(
        "Emulation.setEmulatedMedia",
        json!({"media": "print", "features": []}),
    );
    let shown = browser.eval(
        "Array.from(document.querySelectorAll('button.copy')).filter(b => getComputedStyle(b).display !== 'none').length",
    );
    assert_eq!(shown, json!(0));
}
