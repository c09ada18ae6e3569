//! The errors of the layers themselves, and predicates to recognise them inside
//! an [`ExportError`].
//!
//! Every layer answers with an [`ExportError`], the transport vocabulary's
//! error, so the layers compose in any order. When a layer itself is the cause
//! (a timeout, an open breaker, a passed deadline), the error carries one of the
//! types below as its `source()`, and [`Cause`] finds it again.

use std::error::Error as StdError;
use std::time::Duration;

use otlp_transport::{ErrorKind, ExportError};

/// A setting given to a builder that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{setting}`: {reason}")]
pub struct ConfigError {
    setting: &'static str,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }

    /// The builder setting at fault.
    pub fn setting(&self) -> &'static str {
        self.setting
    }
}

/// One attempt got no answer within the per-attempt timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no answer within the per-attempt timeout of {after:?}")]
pub struct AttemptTimedOut {
    /// The timeout that passed.
    pub after: Duration,
}

/// The circuit breaker refused the call without sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the circuit breaker is open: the endpoint failed too often; retry in {retry_in:?}")]
pub struct BreakerOpen {
    /// How long until the breaker lets a probe through.
    pub retry_in: Duration,
}

/// The retry layer stopped while the failure was still retryable: the next
/// wait would have passed its overall deadline, or the attempts ran out.
#[derive(Debug, thiserror::Error)]
#[error(
    "gave up after {attempts} attempt(s) in {elapsed:?} (overall deadline {deadline:?}): {last}"
)]
pub struct RetriesExhausted {
    /// Attempts made.
    pub attempts: u32,
    /// Time spent.
    pub elapsed: Duration,
    /// The overall deadline.
    pub deadline: Duration,
    /// The last attempt's error.
    #[source]
    pub last: ExportError,
}

/// Finds the layers' own causes in an [`ExportError`]'s `source()` chain.
pub trait Cause {
    /// The per-attempt timeout passed.
    fn attempt_timed_out(&self) -> Option<&AttemptTimedOut>;
    /// The circuit breaker refused the call.
    fn breaker_open(&self) -> Option<&BreakerOpen>;
    /// The retry layer gave up (deadline or attempt limit).
    fn retries_exhausted(&self) -> Option<&RetriesExhausted>;
}

impl Cause for ExportError {
    fn attempt_timed_out(&self) -> Option<&AttemptTimedOut> {
        find(self)
    }

    fn breaker_open(&self) -> Option<&BreakerOpen> {
        find(self)
    }

    fn retries_exhausted(&self) -> Option<&RetriesExhausted> {
        find(self)
    }
}

fn find<T: StdError + 'static>(error: &ExportError) -> Option<&T> {
    let mut cause = StdError::source(error);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

/// An error classified like `kind` (with `retry_after` when throttled) whose
/// message is `source`'s, so that a layer adds what it knows without changing
/// what the caller must do.
pub(crate) fn classified(
    kind: ErrorKind,
    retry_after: Option<Duration>,
    source: impl StdError + Send + Sync + 'static,
) -> ExportError {
    let message = source.to_string();
    let error = match kind {
        ErrorKind::Throttled => ExportError::throttled(message, retry_after),
        ErrorKind::Retryable => ExportError::retryable(message),
        _ => ExportError::permanent(message),
    };
    error.with_source(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_found_through_the_chain() {
        let timeout = ExportError::retryable("slow").with_source(AttemptTimedOut {
            after: Duration::from_secs(1),
        });
        let wrapped = classified(
            ErrorKind::Retryable,
            None,
            RetriesExhausted {
                attempts: 2,
                elapsed: Duration::from_secs(3),
                deadline: Duration::from_secs(3),
                last: timeout,
            },
        );
        assert_eq!(wrapped.retries_exhausted().map(|e| e.attempts), Some(2));
        assert_eq!(
            wrapped.attempt_timed_out().map(|t| t.after),
            Some(Duration::from_secs(1))
        );
        assert!(wrapped.breaker_open().is_none());
        assert!(wrapped.is_retryable());
    }
}
