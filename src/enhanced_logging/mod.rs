//! The enhanced-logging lifecycle, as pure decisions: what state a proxy is in, and what
//! `logging enable|disable|status` must do about it.
//!
//! RDS turns enhanced logging (`DebugLogging`) off by itself 24 hours after it was enabled.
//! proxydoc records on the proxy, as tags, when it enabled it, until when it should stay on
//! (`--for`, at most those 24 hours) and who enabled it, so that any later run on any machine
//! knows the state and can clean up after a crash. This module holds the tag format and the
//! arithmetic; `aws/lifecycle.rs` makes the calls and `app.rs` prints.

pub mod command;

use crate::model::Millis;
use crate::timefmt::rfc3339;

pub const TAG_ENABLED_AT: &str = "proxydoc:enabled-at";
pub const TAG_DISABLE_AFTER: &str = "proxydoc:disable-after";
pub const TAG_ENABLED_BY: &str = "proxydoc:enabled-by";
pub const TAGS: [&str; 3] = [TAG_ENABLED_AT, TAG_DISABLE_AFTER, TAG_ENABLED_BY];

/// RDS's automatic turn-off, counted from when logging was enabled.
pub const RDS_AUTO_OFF: Millis = 24 * 3_600_000;
/// `--for` default.
pub const DEFAULT_FOR: Millis = 3_600_000;

/// What the proxydoc tags on a proxy say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    pub enabled_at: Option<Millis>,
    pub disable_after: Option<Millis>,
    pub enabled_by: Option<String>,
}

impl Marks {
    pub fn from_tags(tags: &[(String, String)]) -> Marks {
        let get = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let time = |key: &str| {
            get(key)
                .and_then(|v| crate::timefmt::timestamp(v).ok())
                .map(|(_, (ts, _))| ts)
        };
        Marks {
            enabled_at: time(TAG_ENABLED_AT),
            disable_after: time(TAG_DISABLE_AFTER),
            enabled_by: get(TAG_ENABLED_BY).map(str::to_string),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.enabled_at.is_none() && self.disable_after.is_none() && self.enabled_by.is_none()
    }

    pub fn to_tags(&self) -> Vec<(String, String)> {
        let mut tags = Vec::new();
        if let Some(at) = self.enabled_at {
            tags.push((TAG_ENABLED_AT.to_string(), rfc3339(at)));
        }
        if let Some(after) = self.disable_after {
            tags.push((TAG_DISABLE_AFTER.to_string(), rfc3339(after)));
        }
        if let Some(by) = &self.enabled_by {
            tags.push((TAG_ENABLED_BY.to_string(), by.clone()));
        }
        tags
    }
}

/// The state of a proxy's enhanced logging, as far as can be known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Off, no proxydoc tags.
    Off,
    /// On, enabled by proxydoc: both clocks are known.
    Tracked {
        enabled_at: Millis,
        disable_after: Millis,
        rds_off_at: Millis,
    },
    /// On without proxydoc tags: someone enabled it elsewhere, the 24-hour clock is unknown.
    Untracked,
    /// Off, but proxydoc's tags are still there (RDS or someone turned it off).
    StaleTags,
}

/// What `status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub on: bool,
    pub state: State,
    pub marks: Marks,
    /// proxydoc's own turn-off time has passed while logging is still on.
    pub overdue: bool,
}

pub fn assess(debug_logging: bool, marks: &Marks, now: Millis) -> Status {
    let state = match (debug_logging, marks.enabled_at) {
        (false, _) if marks.is_empty() => State::Off,
        (false, _) => State::StaleTags,
        (true, Some(enabled_at)) => State::Tracked {
            enabled_at,
            disable_after: marks.disable_after.unwrap_or(enabled_at + RDS_AUTO_OFF),
            rds_off_at: enabled_at + RDS_AUTO_OFF,
        },
        (true, None) => State::Untracked,
    };
    let overdue = matches!(state, State::Tracked { disable_after, .. } if now >= disable_after);
    Status {
        on: debug_logging,
        state,
        marks: marks.clone(),
        overdue,
    }
}

/// What `enable` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnablePlan {
    /// Whether ModifyDBProxy must turn logging on (false when it already is).
    pub modify: bool,
    pub marks: Marks,
    pub rds_off_at: Millis,
    /// A warning to print (logging was on outside proxydoc, `--for` was capped).
    pub notes: Vec<String>,
}

/// Plans `enable --for duration`. Enabling an enabled proxy keeps the original `enabled-at`,
/// since that is what RDS's 24-hour clock counts from; `disable-after` never passes it.
pub fn plan_enable(status: &Status, now: Millis, duration: Millis, by: &str) -> EnablePlan {
    let mut notes = Vec::new();
    let (modify, enabled_at) = match &status.state {
        State::Off | State::StaleTags => (true, now),
        State::Tracked { enabled_at, .. } => (false, *enabled_at),
        State::Untracked => {
            notes.push(
                "enhanced logging was already on, enabled outside proxydoc: RDS may turn it off before the time shown (24 hours after whoever enabled it)".to_string(),
            );
            (false, now)
        }
    };
    let rds_off_at = enabled_at + RDS_AUTO_OFF;
    let mut disable_after = now + duration;
    if disable_after > rds_off_at {
        disable_after = rds_off_at;
        notes.push(format!(
            "--for is capped at RDS's own turn-off, {}",
            rfc3339(rds_off_at)
        ));
    }
    let marks = Marks {
        enabled_at: Some(enabled_at),
        disable_after: Some(disable_after),
        enabled_by: Some(by.to_string()),
    };
    EnablePlan {
        modify,
        marks,
        rds_off_at,
        notes,
    }
}

/// One call that changes (or waits on) a proxy's enhanced logging. The commands build the
/// list of steps first; `--dry-run` prints it and a normal run executes it, so the two cannot
/// differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `rds:ModifyDBProxy DebugLogging=…`.
    SetDebugLogging { proxy: String, on: bool },
    /// `rds:AddTagsToResource` with proxydoc's tags.
    AddTags {
        arn: String,
        tags: Vec<(String, String)>,
    },
    /// `rds:RemoveTagsFromResource` of proxydoc's tags.
    RemoveTags { arn: String },
    /// `rds:DescribeDBProxies` until the proxy is `available`.
    WaitAvailable { proxy: String },
}

impl Step {
    /// The call as `--dry-run` prints it; `poll` and `wait` are the waiting step's interval and
    /// limit.
    pub fn describe(&self, poll: std::time::Duration, wait: std::time::Duration) -> String {
        let call = |name: &str, args: &[(&str, String)]| {
            let args: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{name} {}", args.join(" "))
        };
        match self {
            Step::SetDebugLogging { proxy, on } => call(
                "rds:ModifyDBProxy",
                &[
                    ("DBProxyName", proxy.clone()),
                    ("DebugLogging", on.to_string()),
                ],
            ),
            Step::AddTags { arn, tags } => call(
                "rds:AddTagsToResource",
                &[
                    ("ResourceName", arn.clone()),
                    (
                        "Tags",
                        tags.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                ],
            ),
            Step::RemoveTags { arn } => call(
                "rds:RemoveTagsFromResource",
                &[("ResourceName", arn.clone()), ("TagKeys", TAGS.join(","))],
            ),
            Step::WaitAvailable { proxy } => format!(
                "rds:DescribeDBProxies DBProxyName={proxy} (every {} s until available, at most {} s)",
                poll.as_secs(),
                wait.as_secs()
            ),
        }
    }
}

/// Turning logging on: ModifyDBProxy (when `modify`: it is off), the tags, then the wait for
/// the change to end.
pub fn enable_steps(
    proxy: &str,
    arn: &str,
    modify: bool,
    tags: Vec<(String, String)>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    if modify {
        steps.push(Step::SetDebugLogging {
            proxy: proxy.to_string(),
            on: true,
        });
    }
    steps.push(Step::AddTags {
        arn: arn.to_string(),
        tags,
    });
    if modify {
        steps.push(Step::WaitAvailable {
            proxy: proxy.to_string(),
        });
    }
    steps
}

/// Turning logging off (when `on`) and removing proxydoc's tags (when `tagged`), then, with
/// `wait`, waiting for the change to end.
pub fn disable_steps(proxy: &str, arn: &str, on: bool, tagged: bool, wait: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    if on {
        steps.push(Step::SetDebugLogging {
            proxy: proxy.to_string(),
            on: false,
        });
    }
    if tagged {
        steps.push(Step::RemoveTags {
            arn: arn.to_string(),
        });
    }
    if on && wait {
        steps.push(Step::WaitAvailable {
            proxy: proxy.to_string(),
        });
    }
    steps
}

/// Checks `--for` (read by clap as a duration): at most 24 hours.
pub fn check_for(span: std::time::Duration) -> Result<Millis, String> {
    let duration = Millis::try_from(span.as_millis()).unwrap_or(Millis::MAX);
    if duration <= 0 || duration > RDS_AUTO_OFF {
        return Err(format!(
            "--for `{}` must be more than 0 and at most 24h (RDS turns enhanced logging off after 24 hours)",
            human(duration)
        ));
    }
    Ok(duration)
}

/// `1h 05m` for a span of milliseconds (negative spans as `0m`).
pub fn human(span: Millis) -> String {
    let minutes = span.max(0) / 60_000;
    if minutes >= 60 {
        format!("{}h {:02}m", minutes / 60, minutes % 60)
    } else {
        format!("{minutes}m")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NOW: Millis = 1_800_000_000_000;
    const H: Millis = 3_600_000;

    fn tracked(enabled_at: Millis, disable_after: Millis) -> Marks {
        Marks {
            enabled_at: Some(enabled_at),
            disable_after: Some(disable_after),
            enabled_by: Some("me".into()),
        }
    }

    #[test]
    fn tags_round_trip() {
        let marks = tracked(NOW, NOW + H);
        let tags = marks.to_tags();
        assert_eq!(tags[0].0, TAG_ENABLED_AT);
        assert_eq!(Marks::from_tags(&tags), marks);
        assert!(Marks::from_tags(&[]).is_empty());
    }

    #[test]
    fn states() {
        assert_eq!(assess(false, &Marks::default(), NOW).state, State::Off);
        assert_eq!(assess(true, &Marks::default(), NOW).state, State::Untracked);
        assert_eq!(
            assess(false, &tracked(NOW - H, NOW), NOW).state,
            State::StaleTags
        );
        let status = assess(true, &tracked(NOW - 2 * H, NOW - H), NOW);
        assert_eq!(
            status.state,
            State::Tracked {
                enabled_at: NOW - 2 * H,
                disable_after: NOW - H,
                rds_off_at: NOW + 22 * H
            }
        );
        assert!(status.overdue);
        assert!(!assess(true, &tracked(NOW, NOW + H), NOW).overdue);
    }

    #[test]
    fn enabling_is_idempotent_and_capped_at_24_hours() {
        let off = assess(false, &Marks::default(), NOW);
        let plan = plan_enable(&off, NOW, H, "me");
        assert!(plan.modify);
        assert_eq!(plan.marks.enabled_at, Some(NOW));
        assert_eq!(plan.marks.disable_after, Some(NOW + H));
        assert_eq!(plan.rds_off_at, NOW + 24 * H);

        // 23 hours later, enabling again keeps the original enabled-at and cannot pass 24h.
        let on = assess(true, &plan.marks, NOW + 23 * H);
        let again = plan_enable(&on, NOW + 23 * H, 2 * H, "you");
        assert!(!again.modify);
        assert_eq!(again.marks.enabled_at, Some(NOW));
        assert_eq!(again.marks.disable_after, Some(NOW + 24 * H));
        assert!(again.notes[0].contains("capped"));

        let elsewhere = plan_enable(&assess(true, &Marks::default(), NOW), NOW, H, "me");
        assert!(!elsewhere.modify);
        assert!(elsewhere.notes[0].contains("outside proxydoc"));
    }

    #[test]
    fn durations() {
        assert_eq!(check_for(Duration::from_secs(90 * 60)), Ok(90 * 60_000));
        assert!(check_for(Duration::from_secs(25 * 3600)).is_err());
        assert!(check_for(Duration::ZERO).is_err());
        assert_eq!(human(90 * 60_000), "1h 30m");
        assert_eq!(human(-5), "0m");
    }

    #[test]
    fn steps_in_order_and_as_printed() {
        let tags = vec![("proxydoc:enabled-at".to_string(), "t".to_string())];
        let on = enable_steps("p", "arn:p", true, tags.clone());
        assert_eq!(on.len(), 3);
        assert_eq!(
            on[0].describe(Duration::from_secs(5), Duration::from_secs(600)),
            "rds:ModifyDBProxy DBProxyName=p DebugLogging=true"
        );
        assert_eq!(
            on[1].describe(Duration::from_secs(5), Duration::from_secs(600)),
            "rds:AddTagsToResource ResourceName=arn:p Tags=proxydoc:enabled-at=t"
        );
        assert_eq!(
            on[2].describe(Duration::from_secs(5), Duration::from_secs(600)),
            "rds:DescribeDBProxies DBProxyName=p (every 5 s until available, at most 600 s)"
        );
        // Already on: only the tags.
        assert_eq!(enable_steps("p", "arn:p", false, tags).len(), 1);
        assert_eq!(disable_steps("p", "arn:p", false, false, true), []);
        assert_eq!(
            disable_steps("p", "arn:p", true, true, false),
            [
                Step::SetDebugLogging {
                    proxy: "p".into(),
                    on: false
                },
                Step::RemoveTags {
                    arn: "arn:p".into()
                }
            ]
        );
    }
}
