//! A circuit breaker: stop sending to an endpoint that keeps failing, and let
//! a few probes find out when it is back.
//!
//! - **Closed**: calls go through; the outcomes of the last `window` calls
//!   are kept. Once at least `minimum_calls` are known and the share of
//!   failures reaches `failure_rate`, the breaker opens.
//! - **Open**: calls fail at once, without being sent, with a
//!   [`Throttled`](otlp_transport::ErrorKind::Throttled) error whose delay is
//!   the rest of the cool-down (a retry layer above waits that long) and
//!   [`BreakerOpen`] as its cause.
//! - **Half-open**: after the cool-down, up to `probes` calls go through. One
//!   failure opens the breaker again; `probes` successes close it.
//!
//! A failure is what a retry could fix: a [`Retryable`](otlp_transport::ErrorKind::Retryable)
//! or throttled error. A permanent error is the data's fault, not the
//! endpoint's, so it counts as an answer. Every state change is sent on a
//! [`watch`] channel and logged as a `tracing` event.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use otlp_transport::{Encoded, ExportError, ExportService, Outcome};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::{Layer, Service};

use crate::error::{BreakerOpen, ConfigError};
use crate::retry::BoxFuture;

/// Where a circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast until the cool-down ends.
    Open,
    /// A limited number of probe calls go through.
    HalfOpen,
}

/// The settings of a circuit breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    window: usize,
    minimum_calls: usize,
    failure_rate: f64,
    cool_down: Duration,
    probes: usize,
}

impl Default for BreakerConfig {
    /// A window of 20 calls, at least 10 known, opening at 50 % failures, for
    /// 30 s (the retry layer's maximum interval), then 3 probes.
    fn default() -> Self {
        Self {
            window: 20,
            minimum_calls: 10,
            failure_rate: 0.5,
            cool_down: Duration::from_secs(30),
            probes: 3,
        }
    }
}

impl BreakerConfig {
    /// Starts from the defaults.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder(Self::default())
    }
}

/// Builds a [`BreakerConfig`].
#[derive(Debug, Clone)]
pub struct BreakerConfigBuilder(BreakerConfig);

impl BreakerConfigBuilder {
    /// How many of the latest calls the failure rate is computed over.
    pub fn window(mut self, calls: usize) -> Self {
        self.0.window = calls;
        self
    }

    /// The fewest calls in the window before the breaker may open.
    pub fn minimum_calls(mut self, calls: usize) -> Self {
        self.0.minimum_calls = calls;
        self
    }

    /// The share of failures (0 < rate ≤ 1) that opens the breaker.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.0.failure_rate = rate;
        self
    }

    /// How long the breaker stays open before probing.
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.0.cool_down = cool_down;
        self
    }

    /// How many probe calls a half-open breaker lets through, and how many
    /// must succeed to close it.
    pub fn probes(mut self, probes: usize) -> Self {
        self.0.probes = probes;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let config = self.0;
        if config.window == 0 {
            return Err(ConfigError::new("window", "must hold at least one call"));
        }
        if config.minimum_calls == 0 || config.minimum_calls > config.window {
            return Err(ConfigError::new(
                "minimum_calls",
                format!("must be within 1 and the window ({})", config.window),
            ));
        }
        if !(config.failure_rate > 0.0 && config.failure_rate <= 1.0) {
            return Err(ConfigError::new(
                "failure_rate",
                "must be above 0 and at most 1",
            ));
        }
        if config.probes == 0 {
            return Err(ConfigError::new("probes", "must be at least 1"));
        }
        Ok(config)
    }
}

/// Applies [`CircuitBreaker`] to a service. Every service made by one layer
/// shares one breaker: wrap one endpoint's client with it.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer {
    shared: Arc<Shared>,
}

impl CircuitBreakerLayer {
    /// A closed breaker with `config`.
    pub fn new(config: BreakerConfig) -> Self {
        let (changes, _) = watch::channel(BreakerState::Closed);
        Self {
            shared: Arc::new(Shared {
                config,
                changes,
                inner: Mutex::new(Inner {
                    state: BreakerState::Closed,
                    epoch: 0,
                    window: VecDeque::new(),
                    failures: 0,
                    opened_at: Instant::now(),
                    probes_sent: 0,
                    probes_passed: 0,
                    opened: 0,
                    probes: 0,
                    rejected: 0,
                }),
            }),
        }
    }

    /// Watches the breaker's state changes.
    pub fn subscribe(&self) -> watch::Receiver<BreakerState> {
        self.shared.changes.subscribe()
    }

    /// The state now (an open breaker whose cool-down ended still says
    /// [`Open`](BreakerState::Open) until the next call probes).
    pub fn state(&self) -> BreakerState {
        self.shared.lock().state
    }

    /// The state and counters now.
    pub fn stats(&self) -> BreakerSnapshot {
        self.shared.snapshot()
    }

    /// A handle that reads the state and counters (for stats).
    pub fn monitor(&self) -> BreakerMonitor {
        BreakerMonitor(self.shared.clone())
    }
}

/// Reads a circuit breaker's state and counters.
#[derive(Debug, Clone)]
pub struct BreakerMonitor(Arc<Shared>);

impl BreakerMonitor {
    /// The state and counters now.
    pub fn stats(&self) -> BreakerSnapshot {
        self.0.snapshot()
    }

    /// Watches the breaker's state changes.
    pub fn subscribe(&self) -> watch::Receiver<BreakerState> {
        self.0.changes.subscribe()
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Fails fast while its endpoint keeps failing; see the [module](self) docs.
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> CircuitBreaker<S> {
    /// Wraps `inner` in a new breaker.
    pub fn new(inner: S, config: BreakerConfig) -> Self {
        CircuitBreakerLayer::new(config).layer(inner)
    }

    /// Watches the breaker's state changes.
    pub fn subscribe(&self) -> watch::Receiver<BreakerState> {
        self.shared.changes.subscribe()
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        self.shared.lock().state
    }

    /// The state and counters now.
    pub fn stats(&self) -> BreakerSnapshot {
        self.shared.snapshot()
    }

    /// A handle that reads the state and counters (for stats).
    pub fn monitor(&self) -> BreakerMonitor {
        BreakerMonitor(self.shared.clone())
    }
}

impl<S: ExportService> Service<Encoded> for CircuitBreaker<S> {
    type Response = Outcome;
    type Error = ExportError;
    type Future = BoxFuture<Result<Outcome, ExportError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Encoded) -> Self::Future {
        let permit = match self.shared.admit() {
            Ok(permit) => permit,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            permit.finish(matches!(&result, Err(error) if error.is_retryable()));
            result
        })
    }
}

#[derive(Debug)]
struct Shared {
    config: BreakerConfig,
    changes: watch::Sender<BreakerState>,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    /// Bumped on every change, so that a call admitted in one state does not
    /// count in the next.
    epoch: u64,
    /// `true` for a failure, latest last.
    window: VecDeque<bool>,
    failures: usize,
    opened_at: Instant,
    probes_sent: usize,
    probes_passed: usize,
    opened: u64,
    probes: u64,
    rejected: u64,
}

/// A circuit breaker's state and counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The state.
    pub state: BreakerState,
    /// How many times it opened.
    pub opened: u64,
    /// Probe calls let through while half-open.
    pub probes: u64,
    /// Calls failed fast without being sent.
    pub rejected: u64,
}

/// A call let through; counts when it ends, and frees its probe slot if it
/// is dropped unfinished.
struct Permit {
    shared: Arc<Shared>,
    epoch: u64,
    finished: bool,
}

impl Permit {
    fn finish(mut self, failed: bool) {
        self.finished = true;
        self.shared.record(self.epoch, Some(failed));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.record(self.epoch, None);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        crate::lock(&self.inner)
    }

    fn snapshot(&self) -> BreakerSnapshot {
        let inner = self.lock();
        BreakerSnapshot {
            state: inner.state,
            opened: inner.opened,
            probes: inner.probes,
            rejected: inner.rejected,
        }
    }

    fn admit(self: &Arc<Self>) -> Result<Permit, ExportError> {
        let mut inner = self.lock();
        if inner.state == BreakerState::Open {
            let until = inner.opened_at + self.config.cool_down;
            let now = Instant::now();
            if now < until {
                inner.rejected += 1;
                return Err(open_error(until - now));
            }
            self.change(&mut inner, BreakerState::HalfOpen);
        }
        if inner.state == BreakerState::HalfOpen {
            if inner.probes_sent >= self.config.probes {
                // The probes are out; their answers decide.
                inner.rejected += 1;
                return Err(open_error(Duration::ZERO));
            }
            inner.probes_sent += 1;
            inner.probes += 1;
        }
        Ok(Permit {
            shared: self.clone(),
            epoch: inner.epoch,
            finished: false,
        })
    }

    /// `failed` is `None` for a call dropped before it ended.
    fn record(&self, epoch: u64, failed: Option<bool>) {
        let mut inner = self.lock();
        if epoch != inner.epoch {
            return;
        }
        match (inner.state, failed) {
            (BreakerState::Closed, Some(failed)) => {
                inner.window.push_back(failed);
                inner.failures += usize::from(failed);
                if inner.window.len() > self.config.window {
                    let oldest = inner.window.pop_front().unwrap_or(false);
                    inner.failures -= usize::from(oldest);
                }
                let calls = inner.window.len();
                if calls >= self.config.minimum_calls
                    && inner.failures as f64 >= self.config.failure_rate * calls as f64
                {
                    tracing::warn!(
                        failures = inner.failures,
                        calls,
                        cool_down = ?self.config.cool_down,
                        "circuit breaker opens: too many failures"
                    );
                    self.change(&mut inner, BreakerState::Open);
                }
            }
            (BreakerState::HalfOpen, Some(true)) => {
                tracing::warn!("circuit breaker reopens: a probe failed");
                self.change(&mut inner, BreakerState::Open);
            }
            (BreakerState::HalfOpen, Some(false)) => {
                inner.probes_passed += 1;
                if inner.probes_passed >= self.config.probes {
                    tracing::info!(
                        probes = inner.probes_passed,
                        "circuit breaker closes: the probes passed"
                    );
                    self.change(&mut inner, BreakerState::Closed);
                }
            }
            (BreakerState::HalfOpen, None) => inner.probes_sent -= 1,
            _ => {}
        }
    }

    fn change(&self, inner: &mut Inner, to: BreakerState) {
        tracing::info!(from = ?inner.state, to = ?to, "circuit breaker state change");
        inner.state = to;
        inner.epoch += 1;
        inner.window.clear();
        inner.failures = 0;
        inner.probes_sent = 0;
        inner.probes_passed = 0;
        if to == BreakerState::Open {
            inner.opened += 1;
            inner.opened_at = Instant::now();
        }
        self.changes.send_replace(to);
    }
}

fn open_error(retry_in: Duration) -> ExportError {
    let cause = BreakerOpen { retry_in };
    ExportError::throttled(cause.to_string(), Some(retry_in)).with_source(cause)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::error::Cause;
    use crate::testing::{Fault, FaultService, item};
    use otlp_transport::ErrorKind;
    use tower::ServiceExt;

    fn switchable() -> (FaultService, Arc<AtomicBool>) {
        let healthy = Arc::new(AtomicBool::new(false));
        let flag = healthy.clone();
        let service = FaultService::new(move |_, _| {
            if flag.load(Ordering::SeqCst) {
                Fault::Stall(Duration::from_millis(10))
            } else {
                Fault::Fail(ExportError::retryable("unavailable"))
            }
        });
        (service, healthy)
    }

    fn config() -> BreakerConfig {
        BreakerConfig::builder()
            .window(10)
            .minimum_calls(5)
            .failure_rate(0.5)
            .cool_down(Duration::from_secs(10))
            .probes(2)
            .build()
            .unwrap()
    }

    async fn send(breaker: &CircuitBreaker<FaultService>) -> Result<Outcome, ExportError> {
        breaker.clone().oneshot(item(b"x")).await
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_sustained_failure_fails_fast_and_closes_after_probes() {
        let (inner, healthy) = switchable();
        let breaker = CircuitBreaker::new(inner.clone(), config());
        let mut changes = breaker.subscribe();
        for _ in 0..4 {
            assert!(send(&breaker).await.is_err());
        }
        assert_eq!(
            breaker.state(),
            BreakerState::Closed,
            "below the minimum of calls"
        );
        assert!(send(&breaker).await.is_err());
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(*changes.borrow_and_update(), BreakerState::Open);

        // Open: fails fast, nothing sent, the delay is the rest of the cool-down.
        tokio::time::advance(Duration::from_secs(4)).await;
        let error = send(&breaker).await.unwrap_err();
        assert_eq!(inner.calls(), 5);
        assert_eq!(error.kind(), ErrorKind::Throttled);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(6)));
        assert_eq!(
            error.breaker_open().unwrap().retry_in,
            Duration::from_secs(6)
        );

        // After the cool-down: two probes at once, a third is refused.
        tokio::time::advance(Duration::from_secs(6)).await;
        healthy.store(true, Ordering::SeqCst);
        let probes = [
            tokio::spawn(send_owned(breaker.clone())),
            tokio::spawn(send_owned(breaker.clone())),
        ];
        tokio::task::yield_now().await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(send(&breaker).await.unwrap_err().breaker_open().is_some());
        for probe in probes {
            assert!(probe.await.unwrap().is_ok());
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(inner.calls(), 7);
        assert!(send(&breaker).await.is_ok());
    }

    async fn send_owned(breaker: CircuitBreaker<FaultService>) -> Result<Outcome, ExportError> {
        send(&breaker).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_and_states_are_observable() {
        let (inner, _healthy) = switchable();
        let breaker = CircuitBreaker::new(inner, config());
        let mut changes = breaker.subscribe();
        for _ in 0..5 {
            let _ = send(&breaker).await;
        }
        assert!(changes.has_changed().unwrap());
        assert_eq!(*changes.borrow_and_update(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(
            send(&breaker).await.unwrap_err().breaker_open().is_none(),
            "sent as a probe"
        );
        assert_eq!(breaker.state(), BreakerState::Open);
        let stats = breaker.stats();
        assert_eq!(
            (stats.state, stats.opened, stats.probes),
            (BreakerState::Open, 2, 1)
        );
        assert_eq!(stats.rejected, 0);
        let _ = send(&breaker).await;
        assert_eq!(breaker.stats().rejected, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_is_over_the_window_and_permanent_errors_do_not_count() {
        // A third of the calls fail, at most 40 % of any window: stays closed.
        let inner = FaultService::new(|n, _| match n % 3 {
            0 => Fault::Fail(ExportError::retryable("reset")),
            _ => Fault::Accept,
        });
        let breaker = CircuitBreaker::new(inner, config());
        for _ in 0..50 {
            let _ = send(&breaker).await;
        }
        assert_eq!(breaker.state(), BreakerState::Closed);

        let rejecting = FaultService::new(|_, _| Fault::Fail(ExportError::permanent("bad data")));
        let breaker = CircuitBreaker::new(rejecting, config());
        for _ in 0..20 {
            assert_eq!(
                send(&breaker).await.unwrap_err().kind(),
                ErrorKind::Permanent
            );
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_frees_its_slot() {
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        let inner = FaultService::new(move |_, _| {
            if flag.load(Ordering::SeqCst) {
                Fault::Stall(Duration::from_secs(3600))
            } else {
                Fault::Fail(ExportError::retryable("down"))
            }
        });
        let breaker = CircuitBreaker::new(inner, config());
        for _ in 0..5 {
            let _ = send(&breaker).await;
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        stalled.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            let probe = tokio::time::timeout(Duration::from_secs(1), send(&breaker)).await;
            assert!(probe.is_err(), "the probe stalls and is dropped");
        }
        // Both slots were freed by the drops: a third probe is let through.
        let probe = tokio::time::timeout(Duration::from_secs(1), send(&breaker)).await;
        assert!(probe.is_err(), "let through, then stalled");
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn every_state_change_is_a_tracing_event() {
        let (events, _guard) = crate::testing::Events::record();
        let (inner, healthy) = switchable();
        let breaker = CircuitBreaker::new(inner, config());
        for _ in 0..5 {
            let _ = send(&breaker).await;
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        healthy.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            send(&breaker).await.unwrap();
        }
        let changes = events.matching("circuit breaker state change");
        assert_eq!(changes.len(), 3, "{changes:?}");
        for (line, (from, to)) in changes.iter().zip([
            ("Closed", "Open"),
            ("Open", "HalfOpen"),
            ("HalfOpen", "Closed"),
        ]) {
            assert!(line.contains(&format!("from={from} to={to}")), "{line}");
        }
        let opens = events.matching("too many failures");
        assert_eq!(opens.len(), 1);
        assert!(opens[0].starts_with("WARN"), "{opens:?}");
    }

    #[test]
    fn nonsense_settings_are_refused() {
        assert_eq!(
            BreakerConfig::builder()
                .window(0)
                .build()
                .unwrap_err()
                .setting(),
            "window"
        );
        assert_eq!(
            BreakerConfig::builder()
                .minimum_calls(30)
                .build()
                .unwrap_err()
                .setting(),
            "minimum_calls"
        );
        assert_eq!(
            BreakerConfig::builder()
                .failure_rate(0.0)
                .build()
                .unwrap_err()
                .setting(),
            "failure_rate"
        );
        assert_eq!(
            BreakerConfig::builder()
                .probes(0)
                .build()
                .unwrap_err()
                .setting(),
            "probes"
        );
    }
}
