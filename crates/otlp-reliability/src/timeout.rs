//! A timeout on each attempt, distinct from the retry layer's overall deadline.
//!
//! Put it below [`Retry`](crate::Retry) so that every attempt gets the full
//! timeout; an attempt that passes it fails as
//! [`Retryable`](otlp_transport::ErrorKind::Retryable) with
//! [`AttemptTimedOut`] as its cause, and is dropped (the connection's request
//! is cancelled) before the next one starts.

use std::task::{Context, Poll};
use std::time::Duration;

use otlp_transport::{Encoded, ExportError, ExportService, Outcome};
use tower::{Layer, Service};

use crate::error::AttemptTimedOut;
use crate::retry::BoxFuture;

/// Applies [`Timeout`] to a service.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    after: Duration,
}

impl TimeoutLayer {
    /// Each attempt gets `after` to answer (the OTLP exporter default is 10 s).
    pub const fn new(after: Duration) -> Self {
        Self { after }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout::new(inner, self.after)
    }
}

/// Fails an attempt that gets no answer in time, as retryable.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    after: Duration,
}

impl<S> Timeout<S> {
    /// Each call to `inner` gets `after` to answer.
    pub const fn new(inner: S, after: Duration) -> Self {
        Self { inner, after }
    }
}

impl<S: ExportService> Service<Encoded> for Timeout<S> {
    type Response = Outcome;
    type Error = ExportError;
    type Future = BoxFuture<Result<Outcome, ExportError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Encoded) -> Self::Future {
        let after = self.after;
        let attempt = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(after, attempt).await {
                Ok(result) => result,
                Err(_) => {
                    let cause = AttemptTimedOut { after };
                    tracing::debug!(?after, "export attempt timed out");
                    Err(ExportError::retryable(format!(
                        "{cause}; the receiver is slow or unreachable (raise the timeout if it is only slow)"
                    ))
                    .with_source(cause))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Cause;
    use crate::testing::{Fault, FaultService, item};
    use crate::{Retry, RetryPolicy};
    use otlp_transport::ErrorKind;
    use tokio::time::Instant;
    use tower::ServiceExt;

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_is_a_retryable_timeout() {
        let inner = FaultService::new(|_, _| Fault::Stall(Duration::from_secs(30)));
        let start = Instant::now();
        let error = Timeout::new(inner, Duration::from_secs(2))
            .oneshot(item(b"x"))
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(error.kind(), ErrorKind::Retryable);
        assert_eq!(
            error.attempt_timed_out().unwrap().after,
            Duration::from_secs(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_attempt_has_its_own_timeout_within_the_overall_deadline() {
        // Two stalls then an answer: three attempts of at most 2 s each.
        let inner = FaultService::new(|n, _| {
            if n < 2 {
                Fault::Stall(Duration::from_secs(30))
            } else {
                Fault::Stall(Duration::from_millis(1500))
            }
        });
        let policy = RetryPolicy::builder()
            .initial_interval(Duration::from_secs(1))
            .randomization(0.0)
            .multiplier(1.0)
            .max_elapsed(Duration::from_secs(20))
            .build()
            .unwrap();
        let start = Instant::now();
        let outcome = Retry::new(Timeout::new(inner.clone(), Duration::from_secs(2)), policy)
            .oneshot(item(b"x"))
            .await;
        assert!(outcome.is_ok());
        assert_eq!(inner.calls(), 3);
        // 2 s + 1 s wait + 2 s + 1 s wait + 1.5 s.
        assert_eq!(start.elapsed(), Duration::from_millis(7500));
    }
}
