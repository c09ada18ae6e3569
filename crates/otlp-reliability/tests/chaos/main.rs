//! Chaos: the reliability layers over real transports on 127.0.0.1, against a
//! receiver that fails, throttles, stalls, resets connections and goes down.
//! Every scenario is bounded in time (`within`) and in count.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use otlp_reliability::{
    BreakerConfig, BreakerState, CircuitBreakerLayer, DropReason, Failover, Queue, QueueError,
    RetryLayer, RetryPolicy, Stats, TimeoutLayer, WhenFull,
};
use otlp_transport::{BoxExportService, ExportService};
use tower::{ServiceBuilder, ServiceExt};

use support::{FaultSink, Faults, Grpc, Http, Receiver, ResetProxy, Transport, item};

/// Fails the test instead of hanging past `limit`.
async fn within<T>(limit: Duration, scenario: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, scenario)
        .await
        .expect("the scenario finished in time")
}

/// Retries fast enough for a test: 20 ms, doubling to 200 ms, for 30 s.
fn quick_retry() -> RetryLayer {
    RetryLayer::new(
        RetryPolicy::builder()
            .initial_interval(Duration::from_millis(20))
            .max_interval(Duration::from_millis(200))
            .multiplier(2.0)
            .max_elapsed(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
}

fn stack(
    retry: RetryLayer,
    attempt_timeout: Duration,
    client: BoxExportService,
) -> impl ExportService {
    ServiceBuilder::new()
        .layer(retry)
        .layer(TimeoutLayer::new(attempt_timeout))
        .service(client)
}

/// Every one of `ids` arrived at least once, nothing else did.
fn assert_all_delivered(sink: &FaultSink, ids: impl IntoIterator<Item = u64>) {
    let delivered: HashSet<u64> = sink.deliveries().keys().copied().collect();
    let expected: HashSet<u64> = ids.into_iter().collect();
    assert_eq!(
        delivered.len(),
        expected.len(),
        "delivered {} of {}",
        delivered.len(),
        expected.len()
    );
    assert_eq!(delivered, expected);
}

// ---------------------------------------------------------------------------
// ~70 % retryable errors, with and without throttle hints.

async fn flaky_receiver<T: Transport>(throttle: Option<Duration>, items: u64) {
    let sink = FaultSink::new(Faults {
        fail_rate: 0.7,
        throttle,
        max_failures_per_item: if throttle.is_some() { 2 } else { 12 },
        ..Faults::default()
    });
    let receiver = Receiver::<T>::start(sink.clone()).await;
    let (client, wire) = T::client(receiver.addr);
    let retry = quick_retry();
    let stats = Stats::new().retry(retry.stats());
    let queue = Queue::builder()
        .max_items(64)
        .consumers(10)
        .when_full(WhenFull::Block {
            timeout: Duration::from_secs(30),
        })
        .build(stack(retry, Duration::from_secs(5), client))
        .unwrap();
    let stats = stats.queue(queue.monitor());
    for id in 0..items {
        queue.push(item(id, 200, &wire)).await.unwrap();
    }
    queue.shutdown(Duration::from_secs(60)).await.unwrap();
    let snapshot = stats.snapshot();

    assert_all_delivered(&sink, 0..items);
    assert_eq!(
        sink.duplicates(),
        0,
        "errors are answered before acceptance"
    );
    assert_eq!((snapshot.exported, snapshot.failed), (items, 0));
    assert_eq!(snapshot.dropped.total(), 0);
    let queue = snapshot.queue.expect("a queue");
    assert!(
        queue.peak_items <= 64,
        "bounded by the queue: {}",
        queue.peak_items
    );
    // Each retryable answer was retried exactly once, and nothing else was.
    assert!(sink.failures() > items / 2, "{} failures", sink.failures());
    assert_eq!(snapshot.retried, sink.failures());
    if let Some(delay) = throttle {
        // The client never came back before the receiver's delay.
        for arrivals in sink.arrivals().values() {
            for pair in arrivals.windows(2) {
                if pair[0].throttled.is_some() {
                    assert!(
                        pair[1].at - pair[0].at >= delay,
                        "came back after {:?}",
                        pair[1].at - pair[0].at
                    );
                }
            }
        }
    }
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_flaky_receiver_every_item_delivered() {
    within(Duration::from_secs(90), flaky_receiver::<Http>(None, 300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_flaky_receiver_every_item_delivered() {
    within(Duration::from_secs(90), flaky_receiver::<Grpc>(None, 300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_throttling_receiver_is_honoured() {
    within(
        Duration::from_secs(90),
        flaky_receiver::<Http>(Some(Duration::from_secs(1)), 30),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_throttling_receiver_is_honoured() {
    within(
        Duration::from_secs(90),
        flaky_receiver::<Grpc>(Some(Duration::from_secs(1)), 30),
    )
    .await;
}

// ---------------------------------------------------------------------------
// Stalls past the per-attempt timeout: at-least-once, duplicates counted.

async fn stalling_receiver<T: Transport>() {
    let items = 100;
    let sink = FaultSink::new(Faults {
        stall_rate: 0.2,
        stall: Duration::from_millis(800),
        ..Faults::default()
    });
    let receiver = Receiver::<T>::start(sink.clone()).await;
    let (client, wire) = T::client(receiver.addr);
    let retry = quick_retry();
    let retry_stats = retry.stats();
    let queue = Queue::builder()
        .consumers(10)
        .build(stack(retry, Duration::from_millis(200), client))
        .unwrap();
    for id in 0..items {
        queue.push(item(id, 200, &wire)).await.unwrap();
    }
    queue.shutdown(Duration::from_secs(60)).await.unwrap();

    assert_all_delivered(&sink, 0..items);
    assert_eq!(queue.stats().exported, items);
    // The receiver accepted, then answered too late: each stall forced a
    // retry, which delivered the item again. Duplicates are bounded by the
    // retries (a busy machine may time out an attempt that did not stall).
    let (stalls, retries) = (sink.stalls(), retry_stats.snapshot().retries);
    let duplicates = sink.duplicates();
    assert!(stalls > 0);
    assert!(
        stalls <= duplicates && duplicates <= retries,
        "{stalls} stalls, {duplicates} duplicates, {retries} retries"
    );
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_stalls_past_the_timeout_are_retried_with_bounded_duplicates() {
    within(Duration::from_secs(90), stalling_receiver::<Http>()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_stalls_past_the_timeout_are_retried_with_bounded_duplicates() {
    within(Duration::from_secs(90), stalling_receiver::<Grpc>()).await;
}

// ---------------------------------------------------------------------------
// Connections reset mid-request.

async fn resetting_connections<T: Transport>() {
    let items = 100;
    let sink = FaultSink::new(Faults::default());
    let receiver = Receiver::<T>::start(sink.clone()).await;
    let proxy = ResetProxy::start(receiver.addr, 0.2).await;
    let (client, wire) = T::client(proxy.addr);
    let retry = quick_retry();
    let retry_stats = retry.stats();
    let queue = Queue::builder()
        .consumers(4)
        .build(stack(retry, Duration::from_secs(2), client))
        .unwrap();
    for id in 0..items {
        queue.push(item(id, 2000, &wire)).await.unwrap();
    }
    queue.shutdown(Duration::from_secs(60)).await.unwrap();

    assert_all_delivered(&sink, 0..items);
    assert_eq!(queue.stats().exported, items);
    assert!(proxy.resets() > 0);
    assert!(retry_stats.snapshot().retries > 0);
    assert!(sink.duplicates() <= proxy.resets());
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connection_resets_are_retried() {
    within(Duration::from_secs(90), resetting_connections::<Http>()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connection_resets_are_retried() {
    within(Duration::from_secs(90), resetting_connections::<Grpc>()).await;
}

// ---------------------------------------------------------------------------
// Down for two seconds, then back: the breaker opens and closes again.

async fn outage<T: Transport>() {
    let sink = FaultSink::new(Faults::default());
    let mut receiver = Receiver::<T>::start(sink.clone()).await;
    let (client, wire) = T::client(receiver.addr);
    let breaker = CircuitBreakerLayer::new(
        BreakerConfig::builder()
            .window(10)
            .minimum_calls(5)
            .failure_rate(0.5)
            .cool_down(Duration::from_millis(300))
            .probes(2)
            .build()
            .unwrap(),
    );
    let mut changes = breaker.subscribe();
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while changes.changed().await.is_ok() && seen.len() < 1000 {
            seen.push(*changes.borrow_and_update());
        }
        seen
    });
    let retry = quick_retry();
    let exporter = ServiceBuilder::new()
        .layer(retry)
        .layer(breaker.clone())
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service(client);
    let queue = Queue::builder().consumers(4).build(exporter).unwrap();
    let stats = Stats::new()
        .queue(queue.monitor())
        .breaker("receiver", breaker.monitor());

    let mut id = 0;
    for _ in 0..20 {
        queue.push(item(id, 200, &wire)).await.unwrap();
        id += 1;
    }
    queue.flush(Duration::from_secs(10)).await.unwrap();
    receiver.down().await;
    // Exports keep coming during the outage.
    for _ in 0..40 {
        queue.push(item(id, 200, &wire)).await.unwrap();
        id += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "sustained failure opens the breaker"
    );
    receiver.up().await;
    queue.flush(Duration::from_secs(30)).await.unwrap();
    // A few more after the recovery: the probes pass, the breaker closes.
    for _ in 0..10 {
        queue.push(item(id, 200, &wire)).await.unwrap();
        id += 1;
    }
    queue.shutdown(Duration::from_secs(30)).await.unwrap();

    assert_all_delivered(&sink, 0..id);
    let snapshot = stats.snapshot();
    assert_eq!(snapshot.exported, id);
    let (_, breaker_stats) = &snapshot.breakers[0];
    assert_eq!(breaker_stats.state, BreakerState::Closed);
    assert!(breaker_stats.opened >= 1);
    assert!(
        breaker_stats.rejected > 0,
        "open failed fast: {breaker_stats:?}"
    );
    drop(breaker);
    drop(stats);
    let seen = seen.await.unwrap();
    assert!(seen.contains(&BreakerState::Open), "{seen:?}");
    assert_eq!(seen.last(), Some(&BreakerState::Closed), "{seen:?}");
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_outage_opens_the_breaker_and_recovery_closes_it() {
    within(Duration::from_secs(90), outage::<Http>()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_outage_opens_the_breaker_and_recovery_closes_it() {
    within(Duration::from_secs(90), outage::<Grpc>()).await;
}

// ---------------------------------------------------------------------------
// A queue too small: drops are exactly what overflowed, memory stays bounded.

async fn queue_too_small<T: Transport>(policy: WhenFull) {
    let items = 200u64;
    let sink = FaultSink::new(Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    let receiver = Receiver::<T>::start(sink.clone()).await;
    let (client, wire) = T::client(receiver.addr);
    let size = item(0, 500, &wire).body().len();
    let max_bytes = 6 * size + size / 2;
    let queue = Queue::builder()
        .max_items(8)
        .max_bytes(max_bytes)
        .consumers(2)
        .when_full(policy)
        .build(stack(quick_retry(), Duration::from_secs(5), client))
        .unwrap();
    let mut refused = HashSet::new();
    for id in 0..items {
        match queue.push(item(id, 500, &wire)).await {
            Ok(()) => {}
            Err(QueueError::Full { .. }) => {
                refused.insert(id);
            }
            Err(other) => panic!("{other}"),
        }
        if id % 10 == 0 {
            tokio::task::yield_now().await;
        }
    }
    queue.shutdown(Duration::from_secs(60)).await.unwrap();
    let stats = queue.stats();
    let delivered: HashSet<u64> = sink.deliveries().keys().copied().collect();

    // Memory: never more queued than the limits, never more in flight than
    // the consumers.
    assert!(
        stats.peak_bytes <= max_bytes,
        "{} > {max_bytes}",
        stats.peak_bytes
    );
    assert!(
        stats.peak_items <= 6,
        "the byte limit binds first: {}",
        stats.peak_items
    );
    assert_eq!(stats.exported, delivered.len() as u64);
    assert_eq!(stats.exported + stats.dropped.total(), items);
    match policy {
        WhenFull::DropNewest => {
            assert_eq!(
                stats.dropped.get(DropReason::QueueFull),
                refused.len() as u64
            );
            assert!(!refused.is_empty());
            let accepted: HashSet<u64> = (0..items).filter(|id| !refused.contains(id)).collect();
            assert_eq!(delivered, accepted, "exactly the accepted items arrived");
        }
        _ => {
            assert!(refused.is_empty());
            assert_eq!(
                stats.dropped.get(DropReason::Evicted),
                items - delivered.len() as u64
            );
            assert!(delivered.contains(&(items - 1)), "the newest is kept");
        }
    }
    assert_eq!(sink.duplicates(), 0);
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_queue_too_small_drop_newest_drops_exactly_the_overflow() {
    within(
        Duration::from_secs(60),
        queue_too_small::<Http>(WhenFull::DropNewest),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_queue_too_small_drop_newest_drops_exactly_the_overflow() {
    within(
        Duration::from_secs(60),
        queue_too_small::<Grpc>(WhenFull::DropNewest),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_queue_too_small_drop_oldest_evicts_exactly_the_overflow() {
    within(
        Duration::from_secs(60),
        queue_too_small::<Http>(WhenFull::DropOldest),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_queue_too_small_drop_oldest_evicts_exactly_the_overflow() {
    within(
        Duration::from_secs(60),
        queue_too_small::<Grpc>(WhenFull::DropOldest),
    )
    .await;
}

// ---------------------------------------------------------------------------
// Failover to the secondary while the primary is down, and back.

async fn failover<T: Transport>() {
    let primary_sink = FaultSink::new(Faults::default());
    let secondary_sink = FaultSink::new(Faults::default());
    let mut primary = Receiver::<T>::start(primary_sink.clone()).await;
    let secondary = Receiver::<T>::start(secondary_sink.clone()).await;
    let (primary_client, wire) = T::client(primary.addr);
    let (secondary_client, _) = T::client(secondary.addr);
    let endpoint = |client| {
        ServiceBuilder::new()
            .layer(TimeoutLayer::new(Duration::from_secs(1)))
            .service(client)
    };
    let failover = Failover::builder()
        .endpoint("primary", endpoint(primary_client))
        .endpoint("secondary", endpoint(secondary_client))
        .probe_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let monitor = failover.monitor();
    let exporter = ServiceBuilder::new().layer(quick_retry()).service(failover);
    let send = |id| exporter.clone().oneshot(item(id, 200, &wire));

    for id in 0..20 {
        send(id).await.unwrap();
    }
    assert_eq!(primary_sink.deliveries().len(), 20);

    primary.down().await;
    for id in 20..40 {
        send(id).await.unwrap();
    }
    assert_all_delivered(&secondary_sink, 20..40);
    let health = monitor.health();
    assert!(!health[0].healthy && health[1].active, "{health:?}");

    primary.up().await;
    // Traffic returns after a probe interval; bounded wait for it.
    let mut id = 40;
    for _ in 0..50 {
        send(id).await.unwrap();
        id += 1;
        if primary_sink.deliveries().contains_key(&(id - 1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back_at = id;
    for _ in 0..20 {
        send(id).await.unwrap();
        id += 1;
    }
    let at_primary = primary_sink.deliveries();
    assert!(
        (back_at..id).all(|id| at_primary.contains_key(&id)),
        "traffic moved back"
    );
    let health = monitor.health();
    assert!(health[0].healthy && health[0].active, "{health:?}");
    primary.stop().await;
    secondary.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_failover_moves_traffic_and_back() {
    within(Duration::from_secs(60), failover::<Http>()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_failover_moves_traffic_and_back() {
    within(Duration::from_secs(60), failover::<Grpc>()).await;
}

// ---------------------------------------------------------------------------
// Everything at once: a flaky primary that also goes down, a secondary that
// stalls, every layer in the stack.

async fn everything_at_once<T: Transport>() {
    let items = 150u64;
    let primary_sink = FaultSink::new(Faults {
        fail_rate: 0.7,
        max_failures_per_item: 12,
        ..Faults::default()
    });
    let secondary_sink = FaultSink::new(Faults {
        stall_rate: 0.1,
        stall: Duration::from_millis(800),
        ..Faults::default()
    });
    let mut primary = Receiver::<T>::start(primary_sink.clone()).await;
    let secondary = Receiver::<T>::start(secondary_sink.clone()).await;
    let (primary_client, wire) = T::client(primary.addr);
    let (secondary_client, _) = T::client(secondary.addr);
    let breaker = || {
        CircuitBreakerLayer::new(
            BreakerConfig::builder()
                .window(10)
                .minimum_calls(5)
                .cool_down(Duration::from_millis(300))
                .probes(1)
                .build()
                .unwrap(),
        )
    };
    let (primary_breaker, secondary_breaker) = (breaker(), breaker());
    let endpoint = |breaker: &CircuitBreakerLayer, client| {
        ServiceBuilder::new()
            .layer(breaker.clone())
            .layer(TimeoutLayer::new(Duration::from_millis(300)))
            .layer(otlp_reliability::ConcurrencyLimitLayer::new(4))
            .service(client)
    };
    let failover = Failover::builder()
        .endpoint("primary", endpoint(&primary_breaker, primary_client))
        .endpoint("secondary", endpoint(&secondary_breaker, secondary_client))
        .probe_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let retry = quick_retry();
    let stats = Stats::new()
        .retry(retry.stats())
        .failover(failover.monitor())
        .breaker("primary", primary_breaker.monitor())
        .breaker("secondary", secondary_breaker.monitor());
    let queue = Queue::builder()
        .max_items(32)
        .consumers(8)
        .when_full(WhenFull::Block {
            timeout: Duration::from_secs(30),
        })
        .build(ServiceBuilder::new().layer(retry).service(failover))
        .unwrap();
    let stats = stats.queue(queue.monitor());

    for id in 0..items {
        if id == items / 3 {
            primary.down().await;
        }
        if id == 2 * items / 3 {
            primary.up().await;
        }
        queue.push(item(id, 300, &wire)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    queue.shutdown(Duration::from_secs(60)).await.unwrap();
    let snapshot = stats.snapshot();

    let mut delivered = primary_sink.deliveries();
    for (id, n) in secondary_sink.deliveries() {
        *delivered.entry(id).or_default() += n;
    }
    assert_eq!(
        delivered.len() as u64,
        items,
        "every item arrived somewhere"
    );
    assert!((0..items).all(|id| delivered.contains_key(&id)));
    let duplicates: u64 = delivered.values().map(|n| u64::from(n - 1)).sum();
    assert!(
        duplicates <= snapshot.retried + secondary_sink.stalls(),
        "{duplicates} duplicates"
    );
    assert_eq!((snapshot.exported, snapshot.failed), (items, 0));
    assert_eq!(snapshot.dropped.total(), 0);
    assert!(snapshot.retried > 0);
    assert!(
        !secondary_sink.deliveries().is_empty(),
        "traffic failed over"
    );
    let (_, primary_stats) = &snapshot.breakers[0];
    assert!(primary_stats.opened >= 1, "{snapshot:?}");
    assert_eq!(snapshot.endpoints.len(), 2);
    primary.stop().await;
    secondary.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_everything_at_once() {
    within(Duration::from_secs(90), everything_at_once::<Http>()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_everything_at_once() {
    within(Duration::from_secs(90), everything_at_once::<Grpc>()).await;
}
