//! Writes realistic mixed RDS Proxy traffic for benchmarks, deterministically from a seed.
//!
//! ```sh
//! cargo run --release --example gen -- --mib 512 --out target/bench/plain-512.log
//! cargo run --release --example gen -- --mib 512 --gzip-objects 64 --out target/bench/s3-512
//! ```
//!
//! The traffic: client sessions on several endpoints of PostgreSQL and MySQL proxies (connect,
//! sometimes a new database connection, sometimes pinning with a digest, release, close), with
//! IAM and password authentication failures, a secret the proxy cannot read, TLS and borrow
//! timeouts from the applications' side, and lines no pattern knows. With `--gzip-objects N` the
//! output is an S3 export tree (`<prefix>/<task>/<stream>/NNNNNN.gz`) of N gzipped objects.
//! `--profile` changes the shape: `auth-storm` (60 % of sessions fail IAM authentication and
//! have no close line, as the proxy logs them), `many` (5,000 users, 300 endpoints, tens of
//! thousands of client addresses), `weeks` (the mix over four weeks instead of days), `overlap`
//! (with `--gzip-objects`: each export stream has its own clock, so their time ranges overlap),
//! `sparse` (a session every 17 minutes on average, so a lone minute with lines among empty
//! ones, over years: 200 MiB is about 13 years, a quiet proxy's long export; not a shape of
//! `scripts/bench`, whose large file repeats its traffic a month later).
//! `--periods N` writes the traffic of `--mib`/N N times, each period starting 30 days after
//! the one before, from the same seed: the same connection ids come back a month later, as
//! they do over a long export, and each period's counts are the first one's.
//! `--json` writes the same traffic (the same lines, `--mib` of them) as one `aws logs
//! filter-log-events` document, as the AWS CLI prints it: `{"events": [...]}`, four spaces of
//! indentation, each line an event of one of eight streams with its `timestamp`,
//! `ingestionTime` and `eventId`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// splitmix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// 2026-11-01T00:00:00Z; a 2 GiB run spans about three days of November.
const START: i64 = 1_793_491_200_000;

const ENDPOINTS: [&str; 3] = ["default", "reader", "analytics"];
const USERS: [&str; 5] = ["app", "billing", "ledger_svc", "reporting_iam", "orders"];
const DIGESTS: [&str; 4] = [
    "set client_encoding to $1",
    "set search_path to $1,$2,$3",
    "SET SESSION sql_mode = ?",
    "set application_name to $1",
];

struct Options {
    mib: u64,
    seed: u64,
    out: PathBuf,
    gzip_objects: Option<usize>,
    profile: Profile,
    periods: u64,
    json: bool,
}

/// How far apart `--periods` start.
const PERIOD: i64 = 30 * 24 * 3_600_000;

/// The shape of the traffic: each profile changes one thing about today's mix, so that the
/// benchmark is not only shaped like its own generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// Today's mix (the default).
    Mix,
    /// An IAM authentication storm: 60 % of sessions fail authentication and, as the proxy
    /// logs them, have no close line.
    AuthStorm,
    /// Thousands of users, hundreds of endpoints, tens of thousands of client addresses.
    Many,
    /// The same mix spread over four weeks instead of hours.
    Weeks,
    /// With `--gzip-objects`: the mix in an export whose streams' time ranges overlap (each
    /// stream has its own clock from the same start, as an S3 export's streams do); plain
    /// output is the mix.
    Overlap,
    /// The mix, a session every 17 minutes on average: years of lone minutes.
    Sparse,
}

impl Profile {
    fn parse(text: &str) -> Result<Profile, String> {
        Ok(match text {
            "mix" => Profile::Mix,
            "auth-storm" => Profile::AuthStorm,
            "many" => Profile::Many,
            "weeks" => Profile::Weeks,
            "overlap" => Profile::Overlap,
            "sparse" => Profile::Sparse,
            other => {
                return Err(format!(
                    "--profile `{other}`: one of mix, auth-storm, many, weeks, overlap, sparse"
                ));
            }
        })
    }
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        mib: 64,
        seed: 1,
        out: PathBuf::from("target/bench/plain.log"),
        gzip_objects: None,
        profile: Profile::Mix,
        periods: 1,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--mib" => options.mib = value()?.parse().map_err(|e| format!("--mib: {e}"))?,
            "--seed" => options.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--profile" => options.profile = Profile::parse(&value()?)?,
            "--periods" => {
                options.periods = value()?.parse().map_err(|e| format!("--periods: {e}"))?;
                if options.periods == 0 {
                    return Err("--periods must be at least 1".into());
                }
            }
            "--out" => options.out = PathBuf::from(value()?),
            "--json" => options.json = true,
            "--gzip-objects" => {
                options.gzip_objects = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--gzip-objects: {e}"))?,
                )
            }
            "-h" | "--help" => {
                return Err(
                    "usage: gen [--mib N] [--seed S] [--out PATH] [--gzip-objects N | --periods N] [--json] [--profile mix|auth-storm|many|weeks|overlap]".into(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if (options.periods > 1 || options.json) && options.gzip_objects.is_some() {
        return Err("--periods and --json are for plain output only".into());
    }
    Ok(options)
}

/// Lines written as the events of a `filter-log-events` document.
struct Document {
    events: u64,
    text: Vec<u8>,
}

impl Document {
    /// The events of `lines` (whole lines, each starting with its `stamp`), as the CLI prints
    /// them, each after a comma but the document's first.
    fn events_of(&mut self, lines: &[u8]) -> &[u8] {
        self.text.clear();
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let t = line.get(..24).map_or(START, epoch_millis);
            if self.events > 0 {
                self.text.push(b',');
            }
            let stream = self.events / 4096 % 8;
            let _ = write!(
                self.text,
                "\n        {{\n            \"logStreamName\": \"proxy-stream-{stream:02}\",\n            \"timestamp\": {t},\n            \"message\": \""
            );
            for &b in line {
                if b == b'"' || b == b'\\' {
                    self.text.push(b'\\');
                }
                self.text.push(b);
            }
            let _ = write!(
                self.text,
                "\",\n            \"ingestionTime\": {},\n            \"eventId\": \"{:056}\"\n        }}",
                t + 900,
                self.events
            );
            self.events += 1;
        }
        &self.text
    }
}

/// Epoch milliseconds of a `stamp` (`2026-11-24T02:12:31.120Z`).
fn epoch_millis(stamp: &[u8]) -> i64 {
    let n = |range: std::ops::Range<usize>| {
        stamp
            .get(range)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + n(11..13)) * 60 + n(14..16)) * 60_000 + n(17..19) * 1000 + n(20..23)
}

/// `2026-11-24T02:12:31.120Z` for epoch milliseconds `t` (the crate's own calendar, so that
/// weeks of traffic cross months correctly).
fn stamp(t: i64) -> String {
    proxydoc::timefmt::rfc3339(t)
}

/// Writes one session's lines (or one incident line) at time `t` (ms).
fn session(rng: &mut Rng, profile: Profile, t: &mut i64, out: &mut Vec<u8>) {
    let many = profile == Profile::Many;
    let endpoint = if many {
        format!("endpoint-{}", rng.below(300))
    } else {
        ENDPOINTS[(rng.below(10) / 7).min(2) as usize].to_string()
    };
    let conn = rng.next() % 4_294_967_295;
    let db = rng.next() % 4_294_967_295;
    let client = if many {
        format!(
            "10.{}.{}.{}:{}",
            rng.below(4),
            rng.below(256),
            rng.below(250) + 2,
            rng.below(30_000) + 32_768
        )
    } else {
        format!(
            "10.0.{}.{}:{}",
            rng.below(16),
            rng.below(250) + 2,
            rng.below(30_000) + 32_768
        )
    };
    let user = if many {
        format!("svc_{}", rng.below(5_000))
    } else {
        rng.pick(&USERS).to_string()
    };
    let roll = match profile {
        // 600 of 1000 sessions in the IAM failure band (0..=24 is IAM in the mix).
        Profile::AuthStorm if rng.below(1000) < 600 => rng.below(25),
        _ => rng.below(1000),
    };
    // Four weeks over 2 GiB (about 4.2 million sessions): one every ~575 ms.
    *t += match profile {
        Profile::Weeks => rng.below(1150) as i64 + 1,
        // 17 minutes on average, so most sessions have their minute to themselves.
        Profile::Sparse => rng.below(2_100_000) as i64 + 1,
        _ => rng.below(40) as i64 + 1,
    };
    let w = |out: &mut Vec<u8>, t: i64, text: &str| {
        out.extend_from_slice(stamp(t).as_bytes());
        out.push(b' ');
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
    };
    let head = format!("[proxyEndpoint={endpoint}] [clientConnection={conn}]");
    w(
        out,
        *t,
        &format!("[INFO] {head} A new client connected from {client}."),
    );
    match roll {
        0..=24 => w(
            out,
            *t + 3,
            &format!(
                "[INFO] {head} Proxy authentication with IAM authentication failed for user \"{user}\" with TLS on. Reason: Invalid credentials. If you provide an IAM token, make sure to either use the correct password or enable IAM authentication."
            ),
        ),
        25..=44 => w(
            out,
            *t + 3,
            &format!(
                "[INFO] {head} Proxy authentication with PostgreSQL native password authentication failed for user \"{user}\" with TLS on. Reason: Invalid credentials."
            ),
        ),
        45..=49 => w(
            out,
            *t + 2,
            "[WARN] Credentials couldn't be retrieved. The IAM role \"arn:aws:iam::123456789012:role/proxy-role\" is not authorized to read the AWS Secrets Manager secret with the ARN \"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-app-AbCdEf\"",
        ),
        50..=59 => w(
            out,
            *t + 5,
            "ERROR [checkout-api] psycopg2.errors.ConnectionException: Timed-out waiting to acquire database connection",
        ),
        60..=64 => w(
            out,
            *t + 5,
            "level=error msg=\"query failed\" err=\"Error 9501: Timed-out waiting to acquire database connection\"",
        ),
        65..=69 => w(
            out,
            *t + 1,
            &format!(
                "[INFO] {head} worker {} heartbeat ok queue={}",
                rng.below(64),
                rng.below(1000)
            ),
        ),
        _ => {}
    }
    // In a storm, the proxy logs a failed authentication without a close line.
    if profile == Profile::AuthStorm && roll < 25 {
        return;
    }
    if roll < 65 {
        w(
            out,
            *t + 8,
            &format!(
                "[INFO] {head} The client connection closed. Reason: The TCP channel was closed by either the client or the proxy."
            ),
        );
        return;
    }
    if rng.below(4) == 0 {
        let port = if rng.below(2) == 0 { 5432 } else { 3306 };
        w(
            out,
            *t + 2,
            &format!(
                "[INFO] [dbConnection={db}] A TCP connection was established from the proxy at 10.0.11.{}:{} to the database at 10.0.20.14:{port}.",
                rng.below(250) + 2,
                rng.below(30_000) + 10_000
            ),
        );
    }
    let pinned = rng.below(12) == 0;
    if pinned {
        let digest = rng.pick(&DIGESTS);
        w(
            out,
            *t + 4,
            &format!(
                "[WARN] {head} The client session was pinned to the database connection [dbConnection={db}] for the remainder of the session. The proxy can't reuse this connection until the session ends. Reason: SQL changed session settings that the proxy doesn't track. Consider moving session configuration to the proxy's initialization query. Digest: \"{digest}\"."
            ),
        );
    }
    let end = *t + rng.below(900) as i64 + 20;
    w(
        out,
        end,
        &format!(
            "[INFO] [dbConnection={db}] The database connection was released to the connection pool upon session reset."
        ),
    );
    w(
        out,
        end + 2,
        &format!(
            "[INFO] {head} The client connection closed. Reason: The client requested that the connection close."
        ),
    );
}

/// Refills `buf` with whole sessions until it holds at least `bytes`.
fn chunk(rng: &mut Rng, profile: Profile, t: &mut i64, buf: &mut Vec<u8>, bytes: usize) {
    buf.clear();
    while buf.len() < bytes {
        session(rng, profile, t, buf);
    }
}

fn main() -> io::Result<()> {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("gen: {e}");
            std::process::exit(2);
        }
    };
    let total = options.mib * 1024 * 1024;
    let mut rng = Rng(options.seed);
    let mut t: i64 = START;
    let mut written = 0u64;
    let mut buf = Vec::with_capacity(1 << 20);
    match options.gzip_objects {
        None => {
            if let Some(parent) = options.out.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut out = BufWriter::with_capacity(1 << 20, File::create(&options.out)?);
            let mut document = options.json.then(|| Document {
                events: 0,
                text: Vec::with_capacity(3 << 20),
            });
            if document.is_some() {
                out.write_all(b"{\n    \"events\": [")?;
            }
            let per_period = total / options.periods;
            for period in 0..options.periods {
                // The same traffic again, a month later.
                rng = Rng(options.seed);
                t = START + period as i64 * PERIOD;
                let mut in_period = 0u64;
                while in_period < per_period {
                    chunk(&mut rng, options.profile, &mut t, &mut buf, 1 << 20);
                    match document.as_mut() {
                        Some(document) => out.write_all(document.events_of(&buf))?,
                        None => out.write_all(&buf)?,
                    }
                    in_period += buf.len() as u64;
                    written += buf.len() as u64;
                }
            }
            if document.is_some() {
                out.write_all(b"\n    ],\n    \"searchedLogStreams\": []\n}\n")?;
            }
            out.flush()?;
        }
        Some(objects) => {
            let objects = objects.max(1);
            let per_object = total.div_ceil(objects as u64);
            let task = options.out.join("exportedlogs/3f6b1c0e-bench");
            // Each stream's own clock (overlap), or one clock for the whole export.
            let mut clocks = [START; 8];
            for index in 0..objects {
                if options.profile == Profile::Overlap {
                    t = clocks[index % 8];
                }
                let dir = task.join(format!("proxy-stream-{:02}", index % 8));
                fs::create_dir_all(&dir)?;
                let path = dir.join(format!("{:06}.gz", index / 8));
                let file = BufWriter::new(File::create(path)?);
                let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
                let mut in_object = 0u64;
                while in_object < per_object && written < total {
                    chunk(&mut rng, options.profile, &mut t, &mut buf, 1 << 18);
                    gz.write_all(&buf)?;
                    in_object += buf.len() as u64;
                    written += buf.len() as u64;
                }
                gz.finish()?.flush()?;
                clocks[index % 8] = t;
            }
            fs::write(
                options.out.join("aws-logs-write-test"),
                "Permission Check Successful",
            )?;
        }
    }
    let json = match options.json {
        true => fs::metadata(&options.out).map_or(String::new(), |m| {
            format!(" (as {} MiB of JSON)", m.len() >> 20)
        }),
        false => String::new(),
    };
    eprintln!(
        "gen: wrote {} MiB of lines{json} to {}",
        written >> 20,
        options.out.display()
    );
    Ok(())
}
