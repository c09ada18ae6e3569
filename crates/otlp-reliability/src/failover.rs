//! Failover across an ordered list of endpoints, back to the first when it
//! is healthy again.
//!
//! Each export goes to the first healthy endpoint. A retryable failure moves
//! the same export on to the next endpoint at once; after
//! `unhealthy_after` failures in a row an endpoint is marked unhealthy and
//! skipped. Every `probe_interval`, one export tries an unhealthy endpoint
//! again before the others (a probe by real traffic): if it succeeds the
//! endpoint is healthy again and, being earlier in the list, takes the
//! traffic back. A permanent error is the data's fault: it is returned
//! without trying elsewhere.
//!
//! Wrap each endpoint in its own [`Timeout`](crate::Timeout) (and
//! [`CircuitBreaker`](crate::CircuitBreaker)) so that a stalled endpoint
//! fails over in bounded time; put [`Retry`](crate::Retry) above the failover.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use otlp_transport::{Encoded, ExportError, ExportService, Outcome};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use crate::error::ConfigError;
use crate::retry::BoxFuture;

/// Builds a [`Failover`].
#[derive(Debug)]
pub struct FailoverBuilder<S> {
    endpoints: Vec<(String, S)>,
    probe_interval: Duration,
    unhealthy_after: u32,
}

impl<S> FailoverBuilder<S> {
    /// Adds an endpoint after those already given; `name` appears in stats
    /// and logs (an address, never a credential).
    pub fn endpoint(mut self, name: impl Into<String>, service: S) -> Self {
        self.endpoints.push((name.into(), service));
        self
    }

    /// How often an unhealthy endpoint is tried again (default 30 s).
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Failures in a row that make an endpoint unhealthy (default 1).
    pub fn unhealthy_after(mut self, failures: u32) -> Self {
        self.unhealthy_after = failures;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Failover<S>, ConfigError> {
        if self.endpoints.is_empty() {
            return Err(ConfigError::new("endpoint", "give at least one endpoint"));
        }
        if self.unhealthy_after == 0 {
            return Err(ConfigError::new("unhealthy_after", "must be at least 1"));
        }
        let now = Instant::now();
        let (names, services): (Vec<_>, Vec<_>) = self.endpoints.into_iter().unzip();
        let health = names
            .into_iter()
            .map(|name| Health {
                name,
                healthy: true,
                failures_in_a_row: 0,
                next_probe: now,
                sent: 0,
                failed: 0,
            })
            .collect();
        Ok(Failover {
            services,
            shared: Arc::new(Shared {
                probe_interval: self.probe_interval,
                unhealthy_after: self.unhealthy_after,
                state: Mutex::new(State { health, active: 0 }),
            }),
        })
    }
}

/// Sends each export to the first healthy endpoint of an ordered list; see
/// the [module](self) docs.
#[derive(Debug, Clone)]
pub struct Failover<S> {
    services: Vec<S>,
    shared: Arc<Shared>,
}

/// One endpoint of a [`Failover`], at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointHealth {
    /// The name given to the builder.
    pub name: String,
    /// Whether it takes traffic (unhealthy ones get only probes).
    pub healthy: bool,
    /// Whether it is the endpoint exports go to first.
    pub active: bool,
    /// Attempts sent to it.
    pub sent: u64,
    /// Attempts that failed with a retryable error.
    pub failed: u64,
}

impl<S> Failover<S> {
    /// Starts with no endpoint.
    pub fn builder() -> FailoverBuilder<S> {
        FailoverBuilder {
            endpoints: Vec::new(),
            probe_interval: Duration::from_secs(30),
            unhealthy_after: 1,
        }
    }

    /// The endpoints now, in order.
    pub fn health(&self) -> Vec<EndpointHealth> {
        self.shared.health()
    }

    /// A handle that reads the endpoints' health without the services.
    pub fn monitor(&self) -> FailoverMonitor {
        FailoverMonitor(self.shared.clone())
    }
}

/// Reads a [`Failover`]'s endpoint health (for stats).
#[derive(Debug, Clone)]
pub struct FailoverMonitor(Arc<Shared>);

impl FailoverMonitor {
    /// The endpoints now, in order.
    pub fn health(&self) -> Vec<EndpointHealth> {
        self.0.health()
    }
}

impl<S: ExportService> Service<Encoded> for Failover<S> {
    type Response = Outcome;
    type Error = ExportError;
    type Future = BoxFuture<Result<Outcome, ExportError>>;

    /// Always ready: each endpoint's readiness is awaited when it is tried.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Encoded) -> Self::Future {
        let plan = self.shared.plan();
        let services: Vec<S> = plan.iter().map(|&i| self.services[i].clone()).collect();
        let shared = self.shared.clone();
        Box::pin(async move {
            let mut last = None;
            for (index, service) in plan.into_iter().zip(services) {
                let result = match service.ready_oneshot().await {
                    Ok(mut ready) => ready.call(request.clone()).await,
                    Err(error) => Err(error),
                };
                match result {
                    Err(error) if error.is_retryable() => {
                        shared.record(index, false);
                        last = Some(error);
                    }
                    other => {
                        shared.record(index, true);
                        return other;
                    }
                }
            }
            Err(last.unwrap_or_else(|| ExportError::retryable("no endpoint to send to")))
        })
    }
}

#[derive(Debug)]
struct Shared {
    probe_interval: Duration,
    unhealthy_after: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    health: Vec<Health>,
    active: usize,
}

#[derive(Debug)]
struct Health {
    name: String,
    healthy: bool,
    failures_in_a_row: u32,
    next_probe: Instant,
    sent: u64,
    failed: u64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        crate::lock(&self.state)
    }

    /// The endpoints to try, in order: those due for a probe or healthy; if
    /// none, the one whose probe is nearest, so that an export always tries
    /// somewhere.
    fn plan(&self) -> Vec<usize> {
        let mut state = self.state();
        let now = Instant::now();
        let mut plan = Vec::with_capacity(state.health.len());
        for (index, health) in state.health.iter_mut().enumerate() {
            if health.healthy {
                plan.push(index);
            } else if health.next_probe <= now {
                // One probe per interval.
                health.next_probe = now + self.probe_interval;
                plan.push(index);
            }
        }
        if plan.is_empty()
            && let Some((index, health)) = state
                .health
                .iter_mut()
                .enumerate()
                .min_by_key(|(_, health)| health.next_probe)
        {
            health.next_probe = now + self.probe_interval;
            plan.push(index);
        }
        plan
    }

    fn record(&self, index: usize, answered: bool) {
        let mut state = self.state();
        let health = &mut state.health[index];
        health.sent += 1;
        if answered {
            health.failures_in_a_row = 0;
            if !health.healthy {
                health.healthy = true;
                tracing::info!(endpoint = %health.name, "endpoint healthy again");
            }
        } else {
            health.failed += 1;
            health.failures_in_a_row += 1;
            if health.healthy && health.failures_in_a_row >= self.unhealthy_after {
                health.healthy = false;
                health.next_probe = Instant::now() + self.probe_interval;
                tracing::warn!(endpoint = %health.name, probe_in = ?self.probe_interval, "endpoint unhealthy");
            }
        }
        let active = state
            .health
            .iter()
            .position(|health| health.healthy)
            .unwrap_or(0);
        if active != state.active {
            tracing::info!(
                from = %state.health[state.active].name,
                to = %state.health[active].name,
                "failover: traffic moves"
            );
            state.active = active;
        }
    }

    fn health(&self) -> Vec<EndpointHealth> {
        let state = self.state();
        state
            .health
            .iter()
            .enumerate()
            .map(|(index, health)| EndpointHealth {
                name: health.name.clone(),
                healthy: health.healthy,
                active: index == state.active,
                sent: health.sent,
                failed: health.failed,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::testing::{Fault, FaultService, item};
    use otlp_transport::ErrorKind;

    fn switchable(up: bool) -> (FaultService, Arc<AtomicBool>) {
        let healthy = Arc::new(AtomicBool::new(up));
        let flag = healthy.clone();
        let service = FaultService::new(move |_, _| {
            if flag.load(Ordering::SeqCst) {
                Fault::Accept
            } else {
                Fault::Fail(ExportError::retryable("connection refused"))
            }
        });
        (service, healthy)
    }

    fn pair(primary: &FaultService, secondary: &FaultService) -> FailoverBuilder<FaultService> {
        Failover::builder()
            .endpoint("primary", primary.clone())
            .endpoint("secondary", secondary.clone())
            .probe_interval(Duration::from_secs(5))
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_moves_to_the_secondary_and_back_when_the_primary_returns() {
        let (primary, primary_up) = switchable(true);
        let (secondary, _) = switchable(true);
        let failover = pair(&primary, &secondary).build().unwrap();
        failover.clone().oneshot(item(b"a")).await.unwrap();
        assert_eq!((primary.calls(), secondary.calls()), (1, 0));

        primary_up.store(false, Ordering::SeqCst);
        // The failing export moves on to the secondary at once.
        failover.clone().oneshot(item(b"b")).await.unwrap();
        assert_eq!((primary.calls(), secondary.calls()), (2, 1));
        let health = failover.health();
        assert!(!health[0].healthy && !health[0].active);
        assert!(health[1].healthy && health[1].active);
        // Within the probe interval the primary is left alone.
        for _ in 0..5 {
            failover.clone().oneshot(item(b"c")).await.unwrap();
        }
        assert_eq!((primary.calls(), secondary.calls()), (2, 6));
        // A probe that fails costs one attempt and the export still lands.
        tokio::time::advance(Duration::from_secs(5)).await;
        failover.clone().oneshot(item(b"d")).await.unwrap();
        assert_eq!((primary.calls(), secondary.calls()), (3, 7));

        primary_up.store(true, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(5)).await;
        failover.clone().oneshot(item(b"e")).await.unwrap();
        assert_eq!((primary.calls(), secondary.calls()), (4, 7));
        let monitor = failover.monitor();
        assert!(monitor.health()[0].healthy && monitor.health()[0].active);
        for _ in 0..3 {
            failover.clone().oneshot(item(b"f")).await.unwrap();
        }
        assert_eq!((primary.calls(), secondary.calls()), (7, 7));
        assert_eq!(
            (monitor.health()[0].sent, monitor.health()[0].failed),
            (7, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn health_changes_are_tracing_events() {
        let (events, _guard) = crate::testing::Events::record();
        let (primary, primary_up) = switchable(false);
        let (secondary, _) = switchable(true);
        let failover = pair(&primary, &secondary).build().unwrap();
        failover.clone().oneshot(item(b"x")).await.unwrap();
        primary_up.store(true, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(5)).await;
        failover.clone().oneshot(item(b"x")).await.unwrap();
        let lines = events.lines();
        let moves = events.matching("traffic moves");
        assert_eq!(moves.len(), 2, "{lines:?}");
        assert!(moves[0].contains("from=primary to=secondary"), "{moves:?}");
        assert!(moves[1].contains("from=secondary to=primary"), "{moves:?}");
        assert_eq!(events.matching("endpoint unhealthy").len(), 1, "{lines:?}");
        assert_eq!(
            events.matching("endpoint healthy again").len(),
            1,
            "{lines:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_stay_and_all_down_is_retryable() {
        let rejecting = FaultService::new(|_, _| Fault::Fail(ExportError::permanent("bad")));
        let (secondary, secondary_up) = switchable(true);
        let failover = pair(&rejecting, &secondary).build().unwrap();
        let error = failover.clone().oneshot(item(b"x")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Permanent);
        assert_eq!(secondary.calls(), 0);
        assert!(failover.health()[0].healthy);

        let (primary, _) = switchable(false);
        secondary_up.store(false, Ordering::SeqCst);
        let failover = pair(&primary, &secondary).build().unwrap();
        let error = failover.clone().oneshot(item(b"x")).await.unwrap_err();
        assert!(error.is_retryable());
        // Both unhealthy, no probe due: the one whose probe is nearest is tried.
        let error = failover.clone().oneshot(item(b"x")).await.unwrap_err();
        assert!(error.is_retryable());
        assert_eq!(primary.calls() + secondary.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn unhealthy_after_several_failures_in_a_row() {
        let (primary, _) = switchable(false);
        let (secondary, _) = switchable(true);
        let failover = pair(&primary, &secondary)
            .unhealthy_after(3)
            .build()
            .unwrap();
        for expected in [true, true, false] {
            failover.clone().oneshot(item(b"x")).await.unwrap();
            assert_eq!(failover.health()[0].healthy, expected);
        }
        assert!(Failover::<FaultService>::builder().build().is_err());
    }
}
