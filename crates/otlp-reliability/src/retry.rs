//! Retries with exponential backoff and jitter, honouring throttle delays,
//! within an overall deadline.
//!
//! Only what the transport classified as [`Retryable`](ErrorKind::Retryable)
//! or [`Throttled`](ErrorKind::Throttled) is sent again; a permanent error and
//! any [`Outcome`] (a partial success included, which OTLP forbids retrying)
//! are returned at once. The request is an [`Encoded`]: an attempt clones its
//! reference-counted body, never re-encodes it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use otlp_transport::{Encoded, ErrorKind, ExportError, ExportService, Outcome};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use crate::error::{ConfigError, RetriesExhausted, classified};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// When and how often to retry: the OpenTelemetry Collector's defaults unless
/// set otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    initial_interval: Duration,
    max_interval: Duration,
    multiplier: f64,
    randomization: f64,
    max_elapsed: Duration,
    max_throttle: Duration,
    max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    /// The Collector's: initial 5 s, max 30 s, multiplier 1.5, randomization
    /// 0.5, max elapsed 5 min; throttle delays honoured up to the max elapsed.
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            multiplier: 1.5,
            randomization: 0.5,
            max_elapsed: Duration::from_secs(300),
            max_throttle: Duration::from_secs(300),
            max_attempts: None,
        }
    }
}

impl RetryPolicy {
    /// Starts from the defaults.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder(Self::default())
    }

    /// The first backoff interval, before jitter.
    pub fn initial_interval(&self) -> Duration {
        self.initial_interval
    }

    /// The largest backoff interval, before jitter.
    pub fn max_interval(&self) -> Duration {
        self.max_interval
    }

    /// The overall deadline of one export, all attempts and waits included.
    pub fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    /// The backoff waits, one per retry, jittered with a fresh random source.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            next: self.initial_interval,
            max: self.max_interval,
            multiplier: self.multiplier,
            randomization: self.randomization,
            rng: fastrand::Rng::new(),
        }
    }
}

/// Builds a [`RetryPolicy`]; every setting starts at the Collector's default.
#[derive(Debug, Clone)]
pub struct RetryPolicyBuilder(RetryPolicy);

impl RetryPolicyBuilder {
    /// The first backoff interval (default 5 s).
    pub fn initial_interval(mut self, interval: Duration) -> Self {
        self.0.initial_interval = interval;
        self
    }

    /// The cap on the backoff interval before jitter (default 30 s).
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.0.max_interval = interval;
        self
    }

    /// How much each interval grows (default 1.5; at least 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.0.multiplier = multiplier;
        self
    }

    /// The jitter: each wait is drawn uniformly within ± this fraction of the
    /// interval (default 0.5; 0 for none, at most 1).
    pub fn randomization(mut self, factor: f64) -> Self {
        self.0.randomization = factor;
        self
    }

    /// The overall deadline of one export, every attempt and wait included
    /// (default 5 min). No attempt starts, and no wait is begun, that would
    /// end past it; a running attempt is cut at it.
    pub fn max_elapsed(mut self, deadline: Duration) -> Self {
        self.0.max_elapsed = deadline;
        self
    }

    /// The longest throttle delay (`Retry-After`, `RetryInfo`) honoured as
    /// given; longer ones are shortened to it (default 5 min).
    pub fn max_throttle(mut self, cap: Duration) -> Self {
        self.0.max_throttle = cap;
        self
    }

    /// At most this many attempts, the first included (default: no limit
    /// other than the deadline).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.0.max_attempts = Some(attempts);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        let policy = self.0;
        if policy.initial_interval.is_zero() {
            return Err(ConfigError::new("initial_interval", "must be above zero"));
        }
        if policy.max_interval < policy.initial_interval {
            return Err(ConfigError::new(
                "max_interval",
                "must be at least the initial interval",
            ));
        }
        if !(policy.multiplier >= 1.0 && policy.multiplier.is_finite()) {
            return Err(ConfigError::new(
                "multiplier",
                "must be a finite number of at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&policy.randomization) {
            return Err(ConfigError::new("randomization", "must be within 0 and 1"));
        }
        if policy.max_elapsed.is_zero() {
            return Err(ConfigError::new("max_elapsed", "must be above zero"));
        }
        if policy.max_attempts == Some(0) {
            return Err(ConfigError::new(
                "max_attempts",
                "must be at least 1 (the first attempt)",
            ));
        }
        Ok(policy)
    }
}

/// The jittered backoff waits of one export: an endless iterator.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    multiplier: f64,
    randomization: f64,
    rng: fastrand::Rng,
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let interval = self.next.as_secs_f64();
        let delta = interval * self.randomization;
        let wait = interval - delta + 2.0 * delta * self.rng.f64();
        self.next = self.next.mul_f64(self.multiplier).min(self.max);
        Some(Duration::from_secs_f64(wait))
    }
}

/// Counters of a [`Retry`] layer, shared by its clones.
#[derive(Debug, Clone, Default)]
pub struct RetryStats(Arc<RetryCounters>);

#[derive(Debug, Default)]
struct RetryCounters {
    calls: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    recovered: AtomicU64,
    gave_up: AtomicU64,
}

/// The counters of a [`Retry`] layer at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetrySnapshot {
    /// Exports handed to the layer.
    pub calls: u64,
    /// Attempts sent below it (first attempts included).
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Exports that succeeded after at least one retry.
    pub recovered: u64,
    /// Exports given up while still retryable (deadline or attempt limit).
    pub gave_up: u64,
}

impl RetryStats {
    /// The counters now.
    pub fn snapshot(&self) -> RetrySnapshot {
        let c = &self.0;
        RetrySnapshot {
            calls: c.calls.load(Ordering::Relaxed),
            attempts: c.attempts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            recovered: c.recovered.load(Ordering::Relaxed),
            gave_up: c.gave_up.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Applies [`Retry`] to a service.
#[derive(Debug, Clone, Default)]
pub struct RetryLayer {
    policy: Arc<RetryPolicy>,
    stats: RetryStats,
}

impl RetryLayer {
    /// Retries under `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            stats: RetryStats::default(),
        }
    }

    /// The counters every service of this layer adds to.
    pub fn stats(&self) -> RetryStats {
        self.stats.clone()
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner,
            policy: self.policy.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// Sends an export again, after a jittered exponential backoff, while the
/// failure is retryable and the overall deadline allows.
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    policy: Arc<RetryPolicy>,
    stats: RetryStats,
}

impl<S> Retry<S> {
    /// Wraps `inner` with its own counters.
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        RetryLayer::new(policy).layer(inner)
    }

    /// The counters of this service (shared with its clones).
    pub fn stats(&self) -> RetryStats {
        self.stats.clone()
    }
}

impl<S: ExportService> Service<Encoded> for Retry<S> {
    type Response = Outcome;
    type Error = ExportError;
    type Future = BoxFuture<Result<Outcome, ExportError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Encoded) -> Self::Future {
        // The service that was polled ready goes with this call; its clone
        // stays for the next (tower's usual hand-over).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(retry(
            inner,
            self.policy.clone(),
            self.stats.clone(),
            request,
        ))
    }
}

async fn retry<S: ExportService>(
    mut inner: S,
    policy: Arc<RetryPolicy>,
    stats: RetryStats,
    request: Encoded,
) -> Result<Outcome, ExportError> {
    let counters = &stats.0;
    RetryStats::add(&counters.calls);
    let start = Instant::now();
    let deadline = start + policy.max_elapsed;
    let mut backoff = policy.backoff();
    let mut attempts = 0u32;
    let gave_up = |attempts: u32, last: ExportError| {
        RetryStats::add(&counters.gave_up);
        tracing::warn!(attempts, elapsed = ?start.elapsed(), error = %last, "export given up");
        let (kind, retry_after) = (last.kind(), last.retry_after());
        let exhausted = RetriesExhausted {
            attempts,
            elapsed: start.elapsed(),
            deadline: policy.max_elapsed,
            last,
        };
        classified(kind, retry_after, exhausted)
    };
    loop {
        attempts += 1;
        RetryStats::add(&counters.attempts);
        let attempt = inner.call(request.clone());
        let error = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(outcome)) => {
                if attempts > 1 {
                    RetryStats::add(&counters.recovered);
                }
                return Ok(outcome);
            }
            Ok(Err(error)) if error.is_retryable() => error,
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(gave_up(
                    attempts,
                    ExportError::retryable("the attempt was cut at the overall deadline"),
                ));
            }
        };
        let backoff_wait = backoff.next().unwrap_or(policy.max_interval);
        let throttle = error
            .retry_after()
            .unwrap_or_default()
            .min(policy.max_throttle);
        let wait = backoff_wait.max(throttle);
        let out_of_attempts = policy.max_attempts.is_some_and(|max| attempts >= max);
        if out_of_attempts || Instant::now() + wait >= deadline {
            return Err(gave_up(attempts, error));
        }
        tracing::debug!(attempt = attempts, ?wait, throttled = error.kind() == ErrorKind::Throttled, error = %error, "export retried");
        RetryStats::add(&counters.retries);
        tokio::time::sleep(wait).await;
        match tokio::time::timeout_at(deadline, inner.ready()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) if error.is_retryable() => return Err(gave_up(attempts, error)),
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(gave_up(
                    attempts,
                    ExportError::retryable("the service was not ready before the overall deadline"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Cause;
    use crate::testing::{Fault, FaultService, item};

    fn fast() -> RetryPolicyBuilder {
        RetryPolicy::builder()
            .initial_interval(Duration::from_secs(1))
            .max_interval(Duration::from_secs(8))
            .multiplier(2.0)
            .randomization(0.5)
            .max_elapsed(Duration::from_secs(60))
    }

    fn gaps(arrivals: &[Instant]) -> Vec<Duration> {
        arrivals.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn defaults_are_the_collectors() {
        let policy = RetryPolicy::builder().build().unwrap();
        assert_eq!(policy.initial_interval(), Duration::from_secs(5));
        assert_eq!(policy.max_interval(), Duration::from_secs(30));
        assert_eq!(policy.max_elapsed(), Duration::from_secs(300));
        assert_eq!(policy.multiplier, 1.5);
        assert_eq!(policy.randomization, 0.5);
    }

    #[test]
    fn backoff_grows_to_the_cap_within_the_jitter() {
        let policy = RetryPolicy::default();
        let intervals = [5.0, 7.5, 11.25, 16.875, 25.3125, 30.0, 30.0, 30.0];
        for _ in 0..50 {
            for (wait, interval) in policy.backoff().zip(intervals) {
                let wait = wait.as_secs_f64();
                assert!(
                    (interval * 0.5..=interval * 1.5).contains(&wait),
                    "{wait} outside ±50% of {interval}"
                );
            }
        }
        // A real random source: waits differ between exports.
        let firsts: std::collections::HashSet<_> =
            (0..20).map(|_| policy.backoff().next().unwrap()).collect();
        assert!(firsts.len() > 1, "no jitter: {firsts:?}");
        let none = RetryPolicy::builder().randomization(0.0).build().unwrap();
        assert_eq!(none.backoff().next(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn nonsense_settings_are_refused() {
        let cases = [
            (RetryPolicy::builder().multiplier(0.5), "multiplier"),
            (RetryPolicy::builder().randomization(1.5), "randomization"),
            (
                RetryPolicy::builder().initial_interval(Duration::ZERO),
                "initial_interval",
            ),
            (
                RetryPolicy::builder().max_interval(Duration::from_secs(1)),
                "max_interval",
            ),
            (RetryPolicy::builder().max_attempts(0), "max_attempts"),
            (
                RetryPolicy::builder().max_elapsed(Duration::ZERO),
                "max_elapsed",
            ),
        ];
        for (builder, setting) in cases {
            assert_eq!(builder.build().unwrap_err().setting(), setting);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_failures_are_retried_with_backoff_until_success() {
        let inner = FaultService::new(|n, _| {
            if n < 3 {
                Fault::Fail(ExportError::retryable("connection reset"))
            } else {
                Fault::Accept
            }
        });
        let mut service = Retry::new(inner.clone(), fast().build().unwrap());
        let request = item(b"spans");
        let outcome = service.ready().await.unwrap().call(request.clone()).await;
        assert_eq!(outcome.unwrap(), Outcome::Success);
        assert_eq!(inner.calls(), 4);
        for (gap, interval) in gaps(&inner.arrivals()).into_iter().zip([1.0, 2.0, 4.0]) {
            let gap = gap.as_secs_f64();
            assert!(
                (interval * 0.5..=interval * 1.5 + 0.01).contains(&gap),
                "{gap} vs {interval}"
            );
        }
        // Every attempt sent the very same bytes: cloned, never re-encoded.
        for body in inner.bodies() {
            assert_eq!(body.as_ptr(), request.body().as_ptr());
        }
        let stats = service.stats().snapshot();
        assert_eq!((stats.calls, stats.attempts, stats.retries), (1, 4, 3));
        assert_eq!((stats.recovered, stats.gave_up), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_and_partial_successes_are_not_retried() {
        let inner = FaultService::new(|_, _| Fault::Fail(ExportError::permanent("bad data")));
        let mut service = Retry::new(inner.clone(), fast().build().unwrap());
        let error = service
            .ready()
            .await
            .unwrap()
            .call(item(b"x"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Permanent);
        assert_eq!(inner.calls(), 1);

        let partial = FaultService::new(|_, _| Fault::Accept);
        let mut service = Retry::new(
            tower::util::BoxCloneSyncService::new(tower::service_fn(move |request: Encoded| {
                let mut partial = partial.clone();
                async move {
                    partial.call(request).await?;
                    Ok::<_, ExportError>(Outcome::from_parts(3, "3 spans without a name".into()))
                }
            })),
            fast().build().unwrap(),
        );
        let outcome = service
            .ready()
            .await
            .unwrap()
            .call(item(b"x"))
            .await
            .unwrap();
        assert_eq!(outcome.rejected(), 3);
        assert_eq!(service.stats().snapshot().attempts, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_delay_wins_over_a_shorter_backoff_and_is_capped() {
        let inner = FaultService::new(|n, _| match n {
            0 => Fault::Fail(ExportError::throttled(
                "slow down",
                Some(Duration::from_secs(20)),
            )),
            1 => Fault::Fail(ExportError::throttled(
                "slow down",
                Some(Duration::from_secs(3600)),
            )),
            _ => Fault::Accept,
        });
        let policy = fast()
            .max_throttle(Duration::from_secs(30))
            .max_elapsed(Duration::from_secs(120))
            .build()
            .unwrap();
        let mut service = Retry::new(inner.clone(), policy);
        service
            .ready()
            .await
            .unwrap()
            .call(item(b"x"))
            .await
            .unwrap();
        let gaps = gaps(&inner.arrivals());
        assert!(gaps[0] >= Duration::from_secs(20), "{gaps:?}");
        assert!(gaps[0] < Duration::from_secs(21), "{gaps:?}");
        // An hour asked for, 30 s (the cap) waited.
        assert!(
            gaps[1] >= Duration::from_secs(30) && gaps[1] < Duration::from_secs(31),
            "{gaps:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_before_passing_the_overall_deadline() {
        let inner = FaultService::new(|_, _| Fault::Fail(ExportError::retryable("unavailable")));
        let mut service = Retry::new(inner.clone(), fast().build().unwrap());
        let start = Instant::now();
        let error = service
            .ready()
            .await
            .unwrap()
            .call(item(b"x"))
            .await
            .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(60));
        assert!(
            inner
                .arrivals()
                .iter()
                .all(|at| *at - start < Duration::from_secs(60))
        );
        assert!(inner.calls() >= 5, "{} attempts", inner.calls());
        assert!(error.is_retryable());
        let exhausted = error.retries_exhausted().expect("gave up");
        assert_eq!(exhausted.attempts as usize, inner.calls());
        assert!(error.to_string().contains("unavailable"), "{error}");
        assert_eq!(service.stats().snapshot().gave_up, 1);

        // A throttle delay that would pass the deadline ends it at once.
        let inner = FaultService::new(|_, _| {
            Fault::Fail(ExportError::throttled(
                "later",
                Some(Duration::from_secs(90)),
            ))
        });
        let mut service = Retry::new(inner.clone(), fast().build().unwrap());
        let start = Instant::now();
        let error = service
            .ready()
            .await
            .unwrap()
            .call(item(b"x"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Throttled);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(90)));
        assert_eq!(inner.calls(), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_running_into_the_deadline_is_cut() {
        let inner = FaultService::new(|_, _| Fault::Stall(Duration::from_secs(600)));
        let mut service = Retry::new(inner.clone(), fast().build().unwrap());
        let start = Instant::now();
        let error = service
            .ready()
            .await
            .unwrap()
            .call(item(b"x"))
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        assert!(error.retries_exhausted().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn max_attempts_bounds_the_retries() {
        let inner = FaultService::new(|_, _| Fault::Fail(ExportError::retryable("down")));
        let policy = fast().max_attempts(3).build().unwrap();
        let mut service = Retry::new(inner.clone(), policy);
        let error = service
            .ready()
            .await
            .unwrap()
            .call(item(b"x"))
            .await
            .unwrap_err();
        assert_eq!(inner.calls(), 3);
        assert_eq!(error.retries_exhausted().unwrap().attempts, 3);
    }
}
