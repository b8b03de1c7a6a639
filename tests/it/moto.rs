//! The local AWS endpoint for the tests: moto, started once per test binary on a free
//! 127.0.0.1 port through `tests/moto/launcher.py`, plus helpers to seed it with the real SDK.
//!
//! `scripts/test` installs moto (pinned) and sets `PROXYDOC_MOTO_PYTHON`; without it the tests
//! look for `target/moto-venv` and otherwise fail with what to run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::Command as TestCommand;
use aws_config::BehaviorVersion;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

pub struct Moto {
    pub url: String,
    _child: Child,
}

fn python() -> PathBuf {
    if let Ok(path) = std::env::var("PROXYDOC_MOTO_PYTHON") {
        return PathBuf::from(path);
    }
    let local = crate::common::root().join("target/moto-venv/bin/python");
    assert!(
        local.exists(),
        "moto is not installed: run `scripts/test` (it installs moto into target/moto-venv), or set PROXYDOC_MOTO_PYTHON"
    );
    local
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
        || head.starts_with(b"HTTP/1.0 200")
}

/// The shared server (started on first use).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let port = free_port();
        let launcher = crate::common::root().join("tests/moto/launcher.py");
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("proxydoc-moto-{port}.log")))
                .unwrap();
        let child = Command::new(python())
            .arg(launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the moto launcher");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(port) {
            assert!(
                Instant::now() < deadline,
                "moto did not start on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An SDK client for seeding, in `region` (each test uses its own Region for isolation).
pub async fn logs_client(region: &str) -> aws_sdk_cloudwatchlogs::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto().url)
        .region(aws_sdk_cloudwatchlogs::config::Region::new(
            region.to_string(),
        ))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_cloudwatchlogs::Client::new(&config)
}

/// Creates `group` with one stream per entry and puts the (timestamp, message) events.
pub fn seed(region: &str, group: &str, streams: &[(&str, Vec<(i64, String)>)]) {
    runtime().block_on(async {
        let client = logs_client(region).await;
        client
            .create_log_group()
            .log_group_name(group)
            .send()
            .await
            .unwrap();
        for (stream, events) in streams {
            client
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(*stream)
                .send()
                .await
                .unwrap();
            let mut sorted = events.clone();
            sorted.sort_by_key(|(ts, _)| *ts);
            for batch in sorted.chunks(5_000) {
                let events: Vec<InputLogEvent> = batch
                    .iter()
                    .map(|(ts, m)| {
                        InputLogEvent::builder()
                            .timestamp(*ts)
                            .message(m)
                            .build()
                            .unwrap()
                    })
                    .collect();
                client
                    .put_log_events()
                    .log_group_name(group)
                    .log_stream_name(*stream)
                    .set_log_events(Some(events))
                    .send()
                    .await
                    .unwrap();
            }
        }
    });
}

/// The environment that points `proxydoc` at `endpoint` in `region`, isolated from the
/// user's AWS configuration: (variable, value), `None` to remove it.
pub fn aws_env(region: &str, endpoint: &str) -> Vec<(&'static str, Option<String>)> {
    vec![
        // CloudWatch windows are relative to the real clock: moto keeps only recent events.
        ("PROXYDOC_NOW", None),
        ("AWS_ENDPOINT_URL", Some(endpoint.to_string())),
        ("AWS_REGION", Some(region.to_string())),
        ("AWS_ACCESS_KEY_ID", Some("testing".to_string())),
        ("AWS_SECRET_ACCESS_KEY", Some("testing".to_string())),
        ("AWS_EC2_METADATA_DISABLED", Some("true".to_string())),
        ("AWS_CONFIG_FILE", Some("/dev/null".to_string())),
        ("AWS_SHARED_CREDENTIALS_FILE", Some("/dev/null".to_string())),
        ("AWS_PROFILE", None),
        ("AWS_SESSION_TOKEN", None),
        ("AWS_DEFAULT_REGION", None),
    ]
}

/// `proxydoc` pointed at moto in `region`, isolated from the user's AWS configuration.
pub fn proxydoc_aws(region: &str) -> TestCommand {
    let mut cmd = crate::common::proxydoc();
    for (key, value) in aws_env(region, &moto().url) {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd
}
