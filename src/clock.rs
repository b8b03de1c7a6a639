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
            return match crate::parse::combinators::timestamp(text.trim()) {
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
