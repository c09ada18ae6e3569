//! What the layers cost per export, against the bare service, in one run.
//!
//! ```sh
//! cargo run --release -p otlp-reliability --example overhead
//! ```
//!
//! The service answers at once, so the figures are the layers' own cost
//! (a boxed future, a timer, a lock); a real export over the network takes
//! tens of microseconds at least.

use std::time::{Duration, Instant};

use bytes::Bytes;
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_reliability::{
    BreakerConfig, CircuitBreakerLayer, ConcurrencyLimitLayer, Queue, RetryLayer, RetryPolicy,
    Storage, SyncPolicy, TimeoutLayer, WhenFull,
};
use otlp_transport::{BoxExportService, Encoded, ExportError, Outcome, Signal};
use tower::{Service, ServiceBuilder, ServiceExt};

const CALLS: u32 = 200_000;

fn request() -> Encoded {
    Encoded::new(
        Signal::Traces,
        Codec::Protobuf,
        Compression::None,
        Bytes::from_static(&[0; 512]),
    )
}

fn instant_service() -> BoxExportService {
    BoxExportService::new(tower::service_fn(|_: Encoded| async {
        Ok::<_, ExportError>(Outcome::Success)
    }))
}

async fn per_call(mut service: BoxExportService) -> Duration {
    let request = request();
    let start = Instant::now();
    for _ in 0..CALLS {
        service
            .ready()
            .await
            .expect("always ready")
            .call(request.clone())
            .await
            .expect("always accepted");
    }
    start.elapsed() / CALLS
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bare = per_call(instant_service()).await;
    let stacks: [(&str, BoxExportService); 5] = [
        (
            "timeout",
            BoxExportService::new(
                TimeoutLayer::new(Duration::from_secs(10)).layer_on(instant_service()),
            ),
        ),
        (
            "retry",
            BoxExportService::new(
                RetryLayer::new(RetryPolicy::default()).layer_on(instant_service()),
            ),
        ),
        (
            "circuit breaker",
            BoxExportService::new(
                CircuitBreakerLayer::new(BreakerConfig::default()).layer_on(instant_service()),
            ),
        ),
        (
            "concurrency limit",
            BoxExportService::new(ConcurrencyLimitLayer::new(8).layer_on(instant_service())),
        ),
        (
            "retry+breaker+timeout+limit",
            BoxExportService::new(
                ServiceBuilder::new()
                    .layer(RetryLayer::new(RetryPolicy::default()))
                    .layer(CircuitBreakerLayer::new(BreakerConfig::default()))
                    .layer(TimeoutLayer::new(Duration::from_secs(10)))
                    .layer(ConcurrencyLimitLayer::new(8))
                    .service(instant_service()),
            ),
        ),
    ];
    println!("{:<30} {:>10} {:>8}", "stack", "ns/call", "ratio");
    println!(
        "{:<30} {:>10} {:>8}",
        "bare service",
        bare.as_nanos(),
        "1.00"
    );
    for (name, service) in stacks {
        let cost = per_call(service).await;
        println!(
            "{:<30} {:>10} {:>8.2}",
            name,
            cost.as_nanos(),
            cost.as_secs_f64() / bare.as_secs_f64()
        );
    }

    // Queue throughput: one producer, 10 consumers, blocking when full.
    let queue = Queue::builder()
        .when_full(WhenFull::Block {
            timeout: Duration::from_secs(10),
        })
        .build(instant_service())
        .expect("valid settings");
    let start = Instant::now();
    for _ in 0..CALLS {
        queue
            .push(request())
            .await
            .expect("room within the timeout");
    }
    queue
        .shutdown(Duration::from_secs(60))
        .await
        .expect("drained in time");
    let elapsed = start.elapsed();
    println!(
        "queue push→export: {:.0} items/s ({} ns/item), {} exported",
        f64::from(CALLS) / elapsed.as_secs_f64(),
        (elapsed / CALLS).as_nanos(),
        queue.stats().exported
    );

    // The same on disk (a temporary directory), by sync policy; pushes from
    // several producers at once share a flush.
    for (sync, producers, items) in [
        (SyncPolicy::EveryPush, 1, 2_000),
        (SyncPolicy::EveryPush, 16, 20_000),
        (SyncPolicy::Interval(Duration::from_secs(1)), 16, CALLS),
        (SyncPolicy::Never, 16, CALLS),
    ] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let storage = Storage::builder(dir.path())
            .sync(sync)
            .open()
            .expect("a fresh directory");
        let queue = Queue::builder()
            .when_full(WhenFull::Block {
                timeout: Duration::from_secs(10),
            })
            .build_persistent(storage, instant_service())
            .expect("valid settings");
        let start = Instant::now();
        let mut pushers = tokio::task::JoinSet::new();
        for _ in 0..producers {
            let queue = queue.clone();
            pushers.spawn(async move {
                for _ in 0..items / producers {
                    queue.push(request()).await.expect("stored and queued");
                }
            });
        }
        pushers.join_all().await;
        queue
            .shutdown(Duration::from_secs(60))
            .await
            .expect("drained in time");
        let elapsed = start.elapsed();
        let exported = queue.stats().exported;
        println!(
            "queue on disk, {sync:?}, {producers} producers: {:.0} items/s ({} ns/item), {exported} exported",
            exported as f64 / elapsed.as_secs_f64(),
            (elapsed / u32::try_from(exported).expect("small")).as_nanos(),
        );
    }
}

/// `layer.layer(service)` read left to right.
trait LayerOn<S>: tower::Layer<S> {
    fn layer_on(&self, service: S) -> Self::Service {
        self.layer(service)
    }
}

impl<L: tower::Layer<S>, S> LayerOn<S> for L {}
