//! `proxydoc logging enable|disable|status` against moto (with the launcher's ModifyDBProxy):
//! round trips, the tags, idempotency, the 24-hour arithmetic with an injected clock, cleanup
//! of overdue and stale state, dry runs.

use crate::check::{Faults, build, sdk_config};
use crate::common::{Run, run_cmd};
use crate::moto::{proxydoc_aws, runtime};

const T0: &str = "2026-12-01T08:00:00.000Z";

fn logging(region: &str, now: &str, args: &[&str]) -> Run {
    let mut cmd = proxydoc_aws(region);
    cmd.env("PROXYDOC_NOW", now).arg("logging").args(args);
    run_cmd(&mut cmd)
}

/// (DebugLogging, proxydoc tags) as RDS reports them.
pub fn state(region: &str, proxy: &str) -> (bool, Vec<(String, String)>) {
    runtime().block_on(async {
        let rds = aws_sdk_rds::Client::new(&sdk_config(region).await);
        let out = rds
            .describe_db_proxies()
            .db_proxy_name(proxy)
            .send()
            .await
            .unwrap();
        let found = &out.db_proxies()[0];
        let tags = rds
            .list_tags_for_resource()
            .resource_name(found.db_proxy_arn().unwrap())
            .send()
            .await
            .unwrap();
        let mut tags: Vec<(String, String)> = tags
            .tag_list()
            .iter()
            .filter(|t| t.key().unwrap_or_default().starts_with("proxydoc:"))
            .map(|t| {
                (
                    t.key().unwrap().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        tags.sort();
        (found.debug_logging().unwrap_or(false), tags)
    })
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> &'a str {
    tags.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

#[test]
fn enable_status_disable_round_trip_with_the_24_hour_clock() {
    let region = "af-south-1";
    build(
        region,
        "lc",
        Faults {
            no_logging: true,
            ..Faults::default()
        },
    );

    let out = logging(
        region,
        T0,
        &["enable", "--proxy", "lc", "--for", "2h", "--dry-run"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("would call rds:ModifyDBProxy DBProxyName=lc DebugLogging=true"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("may write SQL statement text"));
    assert_eq!(
        state(region, "lc"),
        (false, vec![]),
        "a dry run changes nothing"
    );

    let out = logging(region, T0, &["enable", "--proxy", "lc", "--for", "2h"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "enhanced logging is on for proxy lc since 2026-12-01T08:00:00.000Z (turned on now)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("proxydoc turns it off at 2026-12-01T10:00:00.000Z (2h 00m from now)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("RDS turns it off by itself at 2026-12-02T08:00:00.000Z"),
        "{}",
        out.stdout
    );
    let (on, tags) = state(region, "lc");
    assert!(on);
    assert_eq!(
        tag(&tags, "proxydoc:enabled-at"),
        "2026-12-01T08:00:00.000Z"
    );
    assert_eq!(
        tag(&tags, "proxydoc:disable-after"),
        "2026-12-01T10:00:00.000Z"
    );
    assert!(
        tag(&tags, "proxydoc:enabled-by").starts_with("arn:aws:"),
        "{tags:?}"
    );

    // An hour later, enabling again keeps the original enabled-at (RDS's clock).
    let out = logging(
        region,
        "2026-12-01T09:00:00Z",
        &["enable", "--proxy", "lc", "--for", "3h"],
    );
    assert!(
        out.stdout
            .contains("on for proxy lc since 2026-12-01T08:00:00.000Z (it was already on)"),
        "{}",
        out.stdout
    );
    let (_, tags) = state(region, "lc");
    assert_eq!(
        tag(&tags, "proxydoc:enabled-at"),
        "2026-12-01T08:00:00.000Z"
    );
    assert_eq!(
        tag(&tags, "proxydoc:disable-after"),
        "2026-12-01T12:00:00.000Z"
    );

    let out = logging(region, "2026-12-01T11:00:00Z", &["status", "--proxy", "lc"]);
    assert!(
        out.stdout.contains("enhanced logging is ON"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("proxydoc's turn-off: 2026-12-01T12:00:00.000Z (in 1h 00m)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("RDS's automatic turn-off: 2026-12-02T08:00:00.000Z (in 21h 00m)"),
        "{}",
        out.stdout
    );

    // Past proxydoc's time, status reports it, and cleans up unless told not to.
    let out = logging(
        region,
        "2026-12-01T13:00:00Z",
        &["status", "--proxy", "lc", "--no-cleanup"],
    );
    assert!(out.stdout.contains("(passed)"), "{}", out.stdout);
    assert!(state(region, "lc").0);
    let out = logging(region, "2026-12-01T13:00:00Z", &["status", "--proxy", "lc"]);
    assert!(
        out.stdout
            .contains("turned enhanced logging off and removed the tags"),
        "{}",
        out.stdout
    );
    assert_eq!(state(region, "lc"), (false, vec![]));

    logging(region, T0, &["enable", "--proxy", "lc"]);
    assert!(state(region, "lc").0);
    let out = logging(region, T0, &["disable", "--proxy", "lc"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("enhanced logging is now off"));
    assert_eq!(state(region, "lc"), (false, vec![]));
    let out = logging(region, T0, &["disable", "--proxy", "lc"]);
    assert!(
        out.stdout.contains("already off"),
        "idempotent: {}",
        out.stdout
    );
}

#[test]
fn state_set_outside_proxydoc_is_recognised() {
    let region = "me-south-1";
    build(region, "outside", Faults::default());
    // Faults::default() creates the proxy with DebugLogging on and no proxydoc tags.
    let out = logging(region, T0, &["status", "--proxy", "outside"]);
    assert!(
        out.stdout.contains("turned on outside proxydoc"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("is unknown"), "{}", out.stdout);

    // Stale tags: proxydoc's tags, but RDS already turned logging off.
    logging(region, T0, &["enable", "--proxy", "outside"]);
    runtime().block_on(async {
        let rds = aws_sdk_rds::Client::new(&sdk_config(region).await);
        rds.modify_db_proxy()
            .db_proxy_name("outside")
            .debug_logging(false)
            .send()
            .await
            .unwrap();
    });
    let out = logging(region, T0, &["status", "--proxy", "outside"]);
    assert!(
        out.stdout.contains("proxydoc's tags are stale"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("removed the stale tags"),
        "{}",
        out.stdout
    );
    assert_eq!(state(region, "outside"), (false, vec![]));
}

#[test]
fn bad_input_is_refused_before_any_change() {
    let out = logging("us-east-1", T0, &["enable", "--proxy", "nope"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("proxy nope not found in us-east-1"),
        "{}",
        out.stderr
    );
    let out = logging(
        "us-east-1",
        T0,
        &["enable", "--proxy", "nope", "--for", "25h"],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("at most 24h"), "{}", out.stderr);
    let out = logging("us-east-1", T0, &["status"]);
    assert_eq!(out.code, 2);
}
