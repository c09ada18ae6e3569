//! `otlp relay`: receive OTLP and forward it to another receiver, through a
//! bounded queue (optionally on disk), retries and a per-attempt timeout.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use otlp_reliability::{
    DropReason, Queue, QueueError, RetryLayer, RetryPolicy, Stats, StatsSnapshot, Storage,
    SyncPolicy, TimeoutLayer, WhenFull,
};
use otlp_transport::{Outcome, Payload, Signal, Sink, SinkError, WireFormat};
use tower::ServiceBuilder;

use crate::Error;
use crate::connect::{self, ExporterArgs};
use crate::listen::{self, ListenArgs};

/// Receive OTLP on gRPC and HTTP and forward it to another OTLP receiver,
/// through a bounded queue with retries. Payloads already in the outgoing
/// codec and compression are forwarded as the very bytes received; only
/// what must change is recompressed or re-encoded.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otlp relay --to http://collector:4317                          # gRPC in and out, gzip
  otlp relay --grpc 0.0.0.0:4317 --http 0.0.0.0:4318 --to https://otlp.example.com --protocol http/protobuf \\
             --header x-api-key=KEY
  otlp relay --to http://collector:4318 --protocol http/json --queue-items 10000 --when-full drop-oldest
  otlp relay --to http://collector:4317 --queue-dir /var/lib/otlp/relay     # survives restarts

A request is acknowledged once queued; when the queue is full the sender is told
to retry later (gRPC UNAVAILABLE, HTTP 503). Ctrl-C stops receiving, then drains
the queue for up to --drain-timeout seconds; anything not forwarded by then is
counted as dropped in the summary.

With --queue-dir, a request is acknowledged only once written to that directory
(and flushed to disk, per --queue-sync), and stays there until forwarded or
given up: whatever a kill, a crash or the drain timeout leaves is forwarded when
a relay next starts on the directory (at least once: requests in flight at a
crash may arrive twice). One relay at a time may use a directory.")]
pub(crate) struct Args {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    exporter: ExporterArgs,
    /// Requests held in the queue at most.
    #[arg(long, default_value_t = 1000)]
    queue_items: usize,
    /// Bytes held in the queue at most (encoded, compressed).
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    queue_bytes: usize,
    /// What to do when the queue is full: refuse the new request (the sender
    /// is told to retry), or evict the oldest queued one.
    #[arg(long, value_enum, default_value = "refuse")]
    when_full: Full,
    /// Requests forwarded at once.
    #[arg(long, default_value_t = 8)]
    consumers: usize,
    /// Give up retrying a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    max_retry_time: f64,
    /// On Ctrl-C, forward what is queued for at most this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    drain_timeout: f64,
    /// Keep the queue in this directory too (created if need be), so that
    /// nothing acknowledged is lost when the relay is stopped, killed or
    /// restarted. The memory bound is still --queue-bytes.
    #[arg(long, value_name = "DIR")]
    queue_dir: Option<PathBuf>,
    /// With --queue-dir: when requests are flushed to the disk before being
    /// acknowledged. Every policy survives a killed relay; they differ only
    /// on a crash of the machine.
    #[arg(
        long,
        value_enum,
        value_name = "POLICY",
        default_value = "always",
        requires = "queue_dir"
    )]
    queue_sync: QueueSync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum QueueSync {
    /// Flush each request (concurrent ones share a flush) before acknowledging it.
    Always,
    /// Flush at most once a second: a machine crash may lose the last second.
    Periodic,
    /// Leave it to the operating system.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Full {
    /// Refuse the new request: the sender retries it later.
    Refuse,
    /// Drop the oldest queued requests to make room (counted).
    DropOldest,
}

fn seconds(name: &str, value: f64) -> Result<Duration, Error> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("--{name} must be a positive number of seconds, not {value}").into())
    }
}

pub(crate) fn run(args: Args) -> Result<(), Error> {
    let max_retry_time = seconds("max-retry-time", args.max_retry_time)?;
    let drain_timeout = seconds("drain-timeout", args.drain_timeout)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (client, wire) = connect::exporter(&args.exporter)?;
        let retry = RetryLayer::new(RetryPolicy::builder().max_elapsed(max_retry_time).build()?);
        let stats = Stats::new().retry(retry.stats());
        let exporter = ServiceBuilder::new()
            .layer(retry)
            .layer(TimeoutLayer::new(args.exporter.timeout()?))
            .service(client);
        let queue = Queue::builder()
            .max_items(args.queue_items)
            .max_bytes(args.queue_bytes)
            .consumers(args.consumers)
            .when_full(match args.when_full {
                Full::Refuse => WhenFull::DropNewest,
                Full::DropOldest => WhenFull::DropOldest,
            });
        let queue = match &args.queue_dir {
            None => queue.build(exporter)?,
            Some(dir) => {
                let storage = Storage::builder(dir)
                    .sync(match args.queue_sync {
                        QueueSync::Always => SyncPolicy::EveryPush,
                        QueueSync::Periodic => SyncPolicy::Interval(Duration::from_secs(1)),
                        QueueSync::Never => SyncPolicy::Never,
                    })
                    .open()?;
                let found = storage.stats();
                if found.recovered_items > 0 {
                    eprintln!(
                        "otlp relay: {} requests ({} bytes) left in {} by the last run are forwarded first",
                        found.recovered_items,
                        found.recovered_bytes,
                        dir.display()
                    );
                }
                if found.corrupt_records + found.torn_records > 0 {
                    eprintln!(
                        "otlp relay: skipped {} damaged and {} incomplete records in {}",
                        found.corrupt_records,
                        found.torn_records,
                        dir.display()
                    );
                }
                queue.build_persistent(storage, exporter)?
            }
        };
        let stats = stats.queue(queue.monitor());
        let sink = Forward {
            wire,
            queue: queue.clone(),
        };
        let stopped = listen::stop_signal();
        let servers = listen::start(&args.listen, sink, "relay").await?;
        eprintln!(
            "otlp relay: forwarding to {} ({}, {})",
            args.exporter.endpoint(),
            args.exporter.protocol,
            wire.compression().as_str()
        );
        stopped.await;
        eprintln!("otlp relay: stopping; answering the calls in flight, then draining the queue");
        servers.shutdown().await;
        let drained = queue.shutdown(drain_timeout).await;
        let snapshot = stats.snapshot();
        eprintln!("otlp relay: {}", describe(&snapshot));
        // Not lost: on disk for the next start.
        if let (Err(QueueError::ShutdownKept { kept }), Some(dir)) = (&drained, &args.queue_dir) {
            eprintln!(
                "otlp relay: {kept} requests not forwarded within --drain-timeout {drain_timeout:?} \
                 stay in {} and are forwarded when a relay next starts on it",
                dir.display()
            );
        }
        match drained {
            Err(QueueError::ShutdownTimedOut { dropped }) => Err(format!(
                "{dropped} requests were not forwarded within --drain-timeout {drain_timeout:?}"
            )
            .into()),
            _ if snapshot.failed > 0 => {
                Err(format!("{} requests could not be forwarded", snapshot.failed).into())
            }
            _ => Ok(()),
        }
    })
}

/// Puts what arrives in the outgoing wire form, doing the least work, and
/// queues it.
#[derive(Clone)]
struct Forward {
    wire: WireFormat,
    queue: Queue,
}

#[async_trait]
impl Sink for Forward {
    /// Always: bytes already in the outgoing form are forwarded untouched.
    fn wants_encoded(&self, _signal: Signal) -> bool {
        true
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let wire = self.wire;
        // Re-encoding and recompressing are CPU work: off the I/O threads.
        let encoded = tokio::task::spawn_blocking(move || wire.encode(payload))
            .await
            .map_err(|e| SinkError::Internal(format!("the encoding task failed: {e}")))?
            .map_err(|e| SinkError::InvalidData(e.message().to_owned()))?;
        match self.queue.push(encoded).await {
            Ok(()) => Ok(Outcome::Success),
            Err(QueueError::TooLarge { size, limit }) => Err(SinkError::InvalidData(format!(
                "the request is {size} bytes, over the relay's queue limit of {limit} bytes"
            ))),
            Err(error @ (QueueError::Closed | QueueError::Storage(_))) => {
                Err(SinkError::Unavailable {
                    retry_after: None,
                    message: error.to_string(),
                })
            }
            Err(error) => Err(SinkError::Throttled {
                retry_after: Duration::from_secs(1),
                message: error.to_string(),
            }),
        }
    }
}

fn describe(stats: &StatsSnapshot) -> String {
    let mut line = format!(
        "forwarded {} requests, {} failed, {} retries",
        stats.exported, stats.failed, stats.retried
    );
    if let Some(queue) = &stats.queue {
        if queue.recovered > 0 {
            line += &format!(" ({} left by the last run)", queue.recovered);
        }
        if queue.kept > 0 {
            line += &format!("; {} kept on disk for the next start", queue.kept);
        }
    }
    let dropped: Vec<String> = DropReason::ALL
        .into_iter()
        .filter(|reason| stats.dropped.get(*reason) > 0)
        .map(|reason| format!("{} {reason:?}", stats.dropped.get(reason)))
        .collect();
    if !dropped.is_empty() {
        line += &format!("; dropped {}", dropped.join(", "));
    }
    line
}
