//! Exit codes, mapped in one place. They are a contract: scripts rely on them.

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// The run completed (findings or not, without `--fail-on` tripping).
    Ok,
    /// At least one input could not be read, or only partly; the others were reported.
    InputError,
    /// The command line was wrong.
    Usage,
    /// A finding at or above `--fail-on`.
    Findings,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::InputError => 1,
            ExitCode::Usage => 2,
            ExitCode::Findings => 3,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> std::process::ExitCode {
        std::process::ExitCode::from(code.code())
    }
}

/// How a command that completed ends, the same order for every command: 1 when something it
/// needed could not be read (an input, a part of the control plane: the report is
/// incomplete), else 3 when a finding trips `--fail-on`, else 0.
pub fn exit_code(incomplete: bool, tripped: bool) -> ExitCode {
    if incomplete {
        ExitCode::InputError
    } else if tripped {
        ExitCode::Findings
    } else {
        ExitCode::Ok
    }
}

/// A failure that ends a command with exit code 1 and a message that already says what
/// failed, on which object, and what to do (`proxydoc: <message>`, no `error:` prefix): an
/// unreadable proxy, missing credentials, a change that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

/// An error that ends the run with a usage exit code (2) rather than a failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// True when `error` (or its cause chain) is a broken pipe: `proxydoc … | head` is success.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_report_outranks_a_tripped_finding() {
        assert_eq!(exit_code(false, false).code(), 0);
        assert_eq!(exit_code(false, true).code(), 3);
        assert_eq!(exit_code(true, false).code(), 1);
        assert_eq!(exit_code(true, true).code(), 1);
    }
}
