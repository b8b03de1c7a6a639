//! `proxydoc logging enable|disable|status`, and the two steps `tail --enable-logging` shares
//! with it: turning enhanced logging on (undone when tagging fails) and off.

use anyhow::Result;

use crate::aws;
use crate::aws::lifecycle::LifecycleError;
use crate::aws::lifecycle::{Lifecycle, ProxyLogging};
use crate::cli::{LoggingAction, LoggingArgs};
use crate::clock::Clock;
use crate::config;
use crate::enhanced_logging::{
    Marks, State, Status, Step, TAGS, assess, check_for, disable_steps, enable_steps, human,
    plan_enable,
};
use crate::error::{ExitCode, Failed, UsageError};
use crate::model::Millis;
use crate::timefmt::rfc3339;

/// How often `logging` and `tail` poll the proxy's status after a change.
pub(super) const WAIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// `proxydoc logging enable|disable|status`.
pub async fn logging_command(args: LoggingArgs) -> Result<ExitCode> {
    let clock = Clock::from_env().map_err(UsageError)?;
    let proxy = args
        .proxy
        .clone()
        .ok_or_else(|| UsageError("--proxy NAME is required".into()))?;
    let duration = match &args.action {
        LoggingAction::Enable { duration } => check_for(*duration).map_err(UsageError)?,
        _ => crate::enhanced_logging::DEFAULT_FOR,
    };
    let context = aws::AwsContext::load(&config::aws_options(&args.aws))
        .await
        .map_err(|e| Failed(e.to_string()))?;
    let life = Lifecycle::new(&context);
    let state = life.read(&proxy).await.map_err(|e| Failed(e.to_string()))?;
    let marks = Marks::from_tags(&state.tags);
    let now = clock.now();
    let command = Logging {
        status: assess(state.debug_logging, &marks, now),
        marks,
        life,
        state,
        proxy,
        now,
        wait: args.wait,
        dry: args.dry_run,
    };
    match args.action {
        LoggingAction::Enable { .. } => command.enable(duration).await,
        LoggingAction::Disable => command.disable().await,
        LoggingAction::Status { no_cleanup } => command.status(no_cleanup).await,
    }
}

/// One `proxydoc logging` run: the proxy as read, and how to change it.
struct Logging {
    life: Lifecycle,
    state: ProxyLogging,
    proxy: String,
    marks: Marks,
    status: Status,
    now: Millis,
    wait: std::time::Duration,
    /// `--dry-run`: print the steps, make no change.
    dry: bool,
}

impl Logging {
    fn print_plan(&self, steps: &[Step]) {
        for step in steps {
            println!("would call {}", step.describe(WAIT_INTERVAL, self.wait));
        }
    }

    async fn enable(&self, duration: Millis) -> Result<ExitCode> {
        let (life, state, proxy, status) = (&self.life, &self.state, &self.proxy, &self.status);
        let (now, wait, dry) = (self.now, self.wait, self.dry);
        if !state.status.is_available() {
            return Err(Failed(format!(
                "proxy {proxy} is `{}`: wait until it is `available` and run this again (nothing was changed)",
                state.status
            ))
            .into());
        }
        let by = life.caller().await;
        let plan = plan_enable(status, now, duration, &by);
        println!(
            "note: enhanced logging adds overhead to the proxy, costs CloudWatch Logs ingestion, and may write SQL statement text (with its data) into the proxy's log group"
        );
        for note in &plan.notes {
            println!("note: {note}");
        }
        let steps = enable_steps(proxy, &state.arn, plan.modify, plan.marks.to_tags());
        if dry {
            self.print_plan(&steps);
            return Ok(ExitCode::Ok);
        }
        run_enable(life, &steps, wait).await.map_err(Failed)?;
        let enabled_at = plan.marks.enabled_at.unwrap_or(now);
        let until = plan.marks.disable_after.unwrap_or(plan.rds_off_at);
        println!(
            "enhanced logging is on for proxy {proxy} since {} ({})",
            rfc3339(enabled_at),
            if plan.modify {
                "turned on now"
            } else {
                "it was already on"
            }
        );
        println!(
            "proxydoc turns it off at {} ({} from now) when `proxydoc logging status`, `disable` or `tail` runs after that",
            rfc3339(until),
            human(until - now)
        );
        println!(
            "RDS turns it off by itself at {} at the latest (24 hours after it was enabled)",
            rfc3339(plan.rds_off_at)
        );
        Ok(ExitCode::Ok)
    }

    async fn disable(&self) -> Result<ExitCode> {
        let (life, state, proxy, marks) = (&self.life, &self.state, &self.proxy, &self.marks);
        let (wait, dry) = (self.wait, self.dry);
        let steps = disable_steps(
            proxy,
            &state.arn,
            state.debug_logging,
            !marks.is_empty(),
            true,
        );
        if dry {
            self.print_plan(&steps);
            return Ok(ExitCode::Ok);
        }
        execute(life, &steps, wait).await.map_err(|(_, e)| e)?;
        if state.debug_logging {
            println!("enhanced logging is now off on proxy {proxy}");
        } else {
            println!(
                "enhanced logging was already off on proxy {proxy}{}",
                if marks.is_empty() {
                    ""
                } else {
                    "; removed proxydoc's tags"
                }
            );
        }
        Ok(ExitCode::Ok)
    }

    async fn status(&self, no_cleanup: bool) -> Result<ExitCode> {
        let (life, state, proxy, status) = (&self.life, &self.state, &self.proxy, &self.status);
        let (now, wait, dry) = (self.now, self.wait, self.dry);
        println!(
            "proxy {proxy}: enhanced logging is {} (DebugLogging={})",
            if status.on { "ON" } else { "off" },
            status.on
        );
        match &status.state {
            State::Off => {}
            State::Tracked {
                enabled_at,
                disable_after,
                rds_off_at,
            } => {
                println!(
                    "enabled at {} by {}",
                    rfc3339(*enabled_at),
                    status.marks.enabled_by.as_deref().unwrap_or("unknown")
                );
                println!(
                    "proxydoc's turn-off: {} ({})",
                    rfc3339(*disable_after),
                    if now >= *disable_after {
                        "passed".to_string()
                    } else {
                        format!("in {}", human(disable_after - now))
                    }
                );
                println!(
                    "RDS's automatic turn-off: {} ({})",
                    rfc3339(*rds_off_at),
                    if now >= *rds_off_at {
                        "passed: RDS should have turned it off; it was probably enabled again, so the 24-hour clock is unknown".to_string()
                    } else {
                        format!("in {}", human(rds_off_at - now))
                    }
                );
            }
            State::Untracked => println!(
                "it was turned on outside proxydoc (no proxydoc tags): when RDS turns it off (24 hours after it was enabled) is unknown; `proxydoc logging disable --proxy {proxy}` turns it off now"
            ),
            State::StaleTags => println!(
                "proxydoc's tags are stale (enabled at {}): RDS or someone already turned it off",
                status
                    .marks
                    .enabled_at
                    .map_or("an unknown time".to_string(), rfc3339)
            ),
        }
        let cleanup = !no_cleanup && (status.overdue || status.state == State::StaleTags);
        let steps = disable_steps(proxy, &state.arn, status.overdue, true, true);
        if cleanup && dry {
            self.print_plan(&steps);
        } else if cleanup {
            execute(life, &steps, wait).await.map_err(|(_, e)| e)?;
            if status.overdue {
                println!(
                    "proxydoc's time for it has passed: turned enhanced logging off and removed the tags"
                );
            } else {
                println!("removed the stale tags");
            }
        }
        Ok(ExitCode::Ok)
    }
}

/// Runs `steps` in order. On a failure, returns the index of the step that failed and why;
/// the steps before it went through.
pub async fn execute(
    life: &Lifecycle,
    steps: &[Step],
    wait: std::time::Duration,
) -> Result<(), (usize, LifecycleError)> {
    for (index, step) in steps.iter().enumerate() {
        let done = match step {
            Step::SetDebugLogging { proxy, on } => life.set_debug_logging(proxy, *on).await,
            Step::AddTags { arn, tags } => life.add_tags(arn, tags).await,
            Step::RemoveTags { arn } => life.remove_tags(arn, &TAGS).await,
            Step::WaitAvailable { proxy } => life.wait_available(proxy, WAIT_INTERVAL, wait).await,
        };
        done.map_err(|e| (index, e))?;
    }
    Ok(())
}

/// Runs the steps of [`enable_steps`]. If tagging fails after logging was turned on, it is
/// turned off again; the error then says exactly what is left on.
async fn run_enable(
    life: &Lifecycle,
    steps: &[Step],
    wait: std::time::Duration,
) -> Result<(), String> {
    let modified = steps.iter().find_map(|s| match s {
        Step::SetDebugLogging { proxy, on: true } => Some(proxy.as_str()),
        _ => None,
    });
    let Err((index, e)) = execute(life, steps, wait).await else {
        return Ok(());
    };
    Err(match (&steps[index], modified) {
        (Step::SetDebugLogging { .. }, _) => format!("{e}; nothing was changed"),
        (Step::AddTags { .. }, None) => {
            format!("{e}; enhanced logging was already on and is unchanged")
        }
        (Step::AddTags { .. }, Some(proxy)) => match life.set_debug_logging(proxy, false).await {
            Ok(()) => format!("{e}; enhanced logging was turned off again, nothing is left on"),
            Err(undo) => format!(
                "{e}; enhanced logging is ON on {proxy} and could not be turned off ({undo}): run `aws rds modify-db-proxy --db-proxy-name {proxy} --no-debug-logging`"
            ),
        },
        _ => e.to_string(),
    })
}

/// Turns enhanced logging on (when `modify`) and writes proxydoc's tags, then waits until the
/// proxy is `available` ([`enable_steps`], undone when tagging fails).
pub async fn turn_on(
    life: &Lifecycle,
    state: &ProxyLogging,
    modify: bool,
    tags: &[(String, String)],
    wait: std::time::Duration,
) -> Result<(), String> {
    let steps = enable_steps(&state.name, &state.arn, modify, tags.to_vec());
    run_enable(life, &steps, wait).await
}

/// Turns enhanced logging off (when `on`) and removes proxydoc's tags (when `tagged`);
/// with `wait`, waits until the proxy is `available` again ([`disable_steps`]).
pub async fn turn_off(
    life: &Lifecycle,
    state: &ProxyLogging,
    on: bool,
    tagged: bool,
    wait: Option<std::time::Duration>,
) -> Result<()> {
    let steps = disable_steps(&state.name, &state.arn, on, tagged, wait.is_some());
    execute(life, &steps, wait.unwrap_or_default())
        .await
        .map_err(|(_, e)| e)?;
    Ok(())
}
