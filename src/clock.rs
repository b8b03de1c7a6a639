//! The notion of "now", injectable for tests.
//!
//! `PROXYDOC_NOW` (RFC 3339) pins the clock so that relative `--since` values and the report's
//! `generated_at` are reproducible in snapshot tests; otherwise the system clock is used.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::Millis;

/// Environment variable that fixes the clock.
pub const NOW_ENV: &str = "PROXYDOC_NOW";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    now: Millis,
}

impl Clock {
    /// A clock fixed at `now`.
    pub fn fixed(now: Millis) -> Clock {
        Clock { now }
    }

    /// The system clock, unless `PROXYDOC_NOW` holds a valid RFC 3339 time.
    pub fn from_env() -> Result<Clock, String> {
        if let Ok(text) = std::env::var(NOW_ENV) {
            return match crate::timefmt::timestamp(text.trim()) {
                Ok(("", (now, _))) => Ok(Clock { now }),
                _ => Err(format!("{NOW_ENV}=`{text}` is not an RFC 3339 time")),
            };
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Ok(Clock { now })
    }

    pub fn now(&self) -> Millis {
        self.now
    }
}

/// A running clock for long commands (`tail`): the start time of [`Clock::from_env`] plus the
/// monotonic time elapsed since, so that `PROXYDOC_NOW` shifts a whole tail session in time
/// and a system clock step does not make polling windows jump.
#[derive(Debug, Clone, Copy)]
pub struct Ticker {
    base: Millis,
    started: std::time::Instant,
}

impl Ticker {
    pub fn from_env() -> Result<Ticker, String> {
        Ok(Ticker {
            base: Clock::from_env()?.now(),
            started: std::time::Instant::now(),
        })
    }

    pub fn starting_at(base: Millis) -> Ticker {
        Ticker {
            base,
            started: std::time::Instant::now(),
        }
    }

    pub fn now(&self) -> Millis {
        let elapsed = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.base.saturating_add(elapsed)
    }
}
