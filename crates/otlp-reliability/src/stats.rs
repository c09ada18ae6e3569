//! One snapshot of a whole stack: what was exported, failed, retried and
//! dropped, the queue's levels, the breakers' states and the endpoints'
//! health.

use crate::{
    BreakerMonitor, BreakerSnapshot, DropCounts, EndpointHealth, FailoverMonitor, QueueMonitor,
    QueueSnapshot, RetrySnapshot, RetryStats,
};

/// Gathers the counters of the layers of one stack; give it the handles of
/// the layers in use.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    retry: Option<RetryStats>,
    queue: Option<QueueMonitor>,
    breakers: Vec<(String, BreakerMonitor)>,
    failover: Option<FailoverMonitor>,
}

/// The state of a stack at one moment; parts whose layer is not in the stack
/// are zero or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Items the exporter took (success or partial success).
    pub exported: u64,
    /// Items that failed for good (permanent error or retries given up).
    pub failed: u64,
    /// Retries sent.
    pub retried: u64,
    /// Items dropped, by reason.
    pub dropped: DropCounts,
    /// Items queued.
    pub queue_items: usize,
    /// Bytes queued.
    pub queue_bytes: usize,
    /// Each named breaker's state and counters.
    pub breakers: Vec<(String, BreakerSnapshot)>,
    /// Each endpoint's health, in failover order.
    pub endpoints: Vec<EndpointHealth>,
    /// The retry layer's counters.
    pub retry: RetrySnapshot,
    /// The queue's counters and levels, when there is a queue.
    pub queue: Option<QueueSnapshot>,
}

impl Stats {
    /// Gathers nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The retry layer's counters ([`RetryLayer::stats`](crate::RetryLayer::stats)).
    pub fn retry(mut self, stats: RetryStats) -> Self {
        self.retry = Some(stats);
        self
    }

    /// The queue's counters ([`Queue::monitor`](crate::Queue::monitor)).
    pub fn queue(mut self, monitor: QueueMonitor) -> Self {
        self.queue = Some(monitor);
        self
    }

    /// A breaker, by name ([`CircuitBreakerLayer::monitor`](crate::CircuitBreakerLayer::monitor)).
    pub fn breaker(mut self, name: impl Into<String>, monitor: BreakerMonitor) -> Self {
        self.breakers.push((name.into(), monitor));
        self
    }

    /// The failover's endpoints ([`Failover::monitor`](crate::Failover::monitor)).
    pub fn failover(mut self, monitor: FailoverMonitor) -> Self {
        self.failover = Some(monitor);
        self
    }

    /// Everything now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let retry = self
            .retry
            .as_ref()
            .map(RetryStats::snapshot)
            .unwrap_or_default();
        let queue = self.queue.as_ref().map(QueueMonitor::stats);
        StatsSnapshot {
            exported: queue.map_or(0, |q| q.exported),
            failed: queue.map_or(0, |q| q.failed),
            retried: retry.retries,
            dropped: queue.map(|q| q.dropped).unwrap_or_default(),
            queue_items: queue.map_or(0, |q| q.items),
            queue_bytes: queue.map_or(0, |q| q.bytes),
            breakers: self
                .breakers
                .iter()
                .map(|(name, monitor)| (name.clone(), monitor.stats()))
                .collect(),
            endpoints: self
                .failover
                .as_ref()
                .map(FailoverMonitor::health)
                .unwrap_or_default(),
            retry,
            queue,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use otlp_transport::{ExportError, ExportService};
    use tower::ServiceBuilder;

    use super::*;
    use crate::testing::{Fault, FaultService, sized};
    use crate::*;

    fn is_export_service<S: ExportService>(_: &S) {}

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Queue>();
        check::<Stats>();
        check::<StatsSnapshot>();
        check::<QueueError>();
        check::<Storage>();
        check::<StorageError>();
        check::<Retry<FaultService>>();
        check::<CircuitBreaker<FaultService>>();
        check::<Failover<FaultService>>();
        check::<Timeout<FaultService>>();
    }

    #[tokio::test]
    async fn queue_futures_can_move_across_threads() {
        fn send<T: Send>(future: T) -> T {
            future
        }
        let queue = Queue::builder()
            .build(FaultService::new(|_, _| Fault::Accept))
            .unwrap();
        let pushes = tokio::spawn({
            let queue = queue.clone();
            async move {
                for tag in 0..3 {
                    send(queue.push(sized(1, tag))).await.unwrap();
                }
            }
        });
        pushes.await.unwrap();
        send(queue.flush(Duration::from_secs(1))).await.unwrap();
        send(queue.shutdown(Duration::from_secs(1))).await.unwrap();
        assert_eq!(queue.stats().exported, 3);

        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::builder()
            .build_persistent(
                Storage::open(dir.path()).unwrap(),
                FaultService::new(|_, _| Fault::Accept),
            )
            .unwrap();
        let pusher = queue.clone();
        tokio::spawn(async move { send(pusher.push(sized(1, 0))).await })
            .await
            .unwrap()
            .unwrap();
        send(queue.shutdown(Duration::from_secs(1))).await.unwrap();
        assert_eq!(queue.stats().exported, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_snapshot_of_the_whole_stack() {
        // The primary always fails, the secondary fails every third call.
        let primary = FaultService::new(|_, _| Fault::Fail(ExportError::retryable("down")));
        let secondary = FaultService::new(|n, _| {
            if n % 3 == 0 {
                Fault::Fail(ExportError::throttled(
                    "busy",
                    Some(Duration::from_millis(200)),
                ))
            } else {
                Fault::Accept
            }
        });
        let breaker = CircuitBreakerLayer::new(
            BreakerConfig::builder()
                .window(4)
                .minimum_calls(2)
                .build()
                .unwrap(),
        );
        let endpoint = |service| {
            ServiceBuilder::new()
                .layer(TimeoutLayer::new(Duration::from_secs(1)))
                .layer(ConcurrencyLimitLayer::new(2))
                .service(service)
        };
        let failover = Failover::builder()
            .endpoint(
                "a",
                ServiceBuilder::new()
                    .layer(breaker.clone())
                    .service(endpoint(primary)),
            )
            .endpoint(
                "b",
                ServiceBuilder::new()
                    .layer(CircuitBreakerLayer::new(BreakerConfig::default()))
                    .service(endpoint(secondary)),
            )
            .build()
            .unwrap();
        let retry = RetryLayer::new(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(100))
                .build()
                .unwrap(),
        );
        let stats = Stats::new()
            .retry(retry.stats())
            .failover(failover.monitor());
        let exporter = ServiceBuilder::new().layer(retry).service(failover);
        is_export_service(&exporter);
        let queue = Queue::builder()
            .max_items(5)
            .consumers(2)
            .build(exporter)
            .unwrap();
        let stats = stats.queue(queue.monitor()).breaker("a", breaker.monitor());
        let mut refused = 0;
        for tag in 0..20 {
            refused += u64::from(queue.push(sized(10, tag)).await.is_err());
        }
        queue.shutdown(Duration::from_secs(60)).await.unwrap();
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.exported + refused, 20);
        assert_eq!(snapshot.dropped.get(DropReason::QueueFull), refused);
        assert!(snapshot.retried > 0, "{snapshot:?}");
        assert_eq!(snapshot.failed, 0);
        assert_eq!((snapshot.queue_items, snapshot.queue_bytes), (0, 0));
        assert_eq!(snapshot.breakers[0].1.state, BreakerState::Open);
        assert_eq!(snapshot.endpoints.len(), 2);
        assert!(!snapshot.endpoints[0].healthy && snapshot.endpoints[1].active);
    }
}
