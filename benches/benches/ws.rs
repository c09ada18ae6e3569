//! OTLP/WebSocket export of 512-span trace requests beside OTLP/gRPC (our
//! transport crates both), client and server in one process, in one run.
//!
//! ```text
//! OTLP_BENCH_DATA=../shared/bench/data cargo bench -p otlp-benches --bench ws
//! ```
//! Each row runs `OTLP_BENCH_SECS` seconds (default 3, after a warm-up) with
//! `c` tasks each exporting one request after another, and reports spans/s
//! and the latency of one export (p50, p99). Setups, each client sending
//! payloads encoded once beforehand (protobuf, uncompressed):
//! - `grpc.decode`: `otlp_grpc::Client` to `otlp_grpc::Server`, a sink that
//!   takes decoded requests;
//! - `ws.decode`: `otlp_ws::Client` (one connection, window 64) to
//!   `otlp_ws::Server`, the same sink;
//! - `grpc.relay` / `ws.relay`: the same with a sink that asks for the
//!   encoded bytes, as a relay does.
//!
//! `×grpc` compares each WebSocket row with the gRPC row of the same sink
//! and concurrency. Every setup's server counts the spans it received; the
//! bench checks the count against what was sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use otlp_benches::Signal;
use otlp_compression::Compression;
use otlp_proto::Message;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_transport::{
    Encoded, ExportRequest, ExportService, Outcome, Payload, Sink, SinkError, WireFormat,
};
use tower::ServiceExt;

const SPANS_PER_REQUEST: usize = 512;
const CONCURRENCY: [usize; 2] = [1, 16];

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs: f64 = std::env::var("OTLP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 0.2 } else { 3.0 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(Duration::from_secs_f64(secs)));
}

/// The 512-span requests, encoded once.
fn data() -> Vec<Encoded> {
    let full = ExportTraceServiceRequest::decode(otlp_benches::protobuf(Signal::Traces))
        .expect("the dataset decodes");
    let wire = WireFormat::new(
        otlp_codec::Codec::Protobuf,
        otlp_compression::Encoder::new(Compression::None),
    );
    otlp_datagen::split_traces(&full, SPANS_PER_REQUEST)
        .into_iter()
        .map(ExportRequest::Traces)
        .filter(|r| r.record_count() == SPANS_PER_REQUEST)
        .map(|r| wire.encode(Payload::from(r)).expect("encodes"))
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    Grpc,
    Ws,
}

async fn run(duration: Duration) {
    let data = Arc::new(data());
    println!(
        "{} requests of {SPANS_PER_REQUEST} spans, {:?} per row, {} worker threads",
        data.len(),
        duration,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "{:<12} {:>3} {:>12} {:>10} {:>10} {:>8}",
        "setup", "c", "spans/s", "p50", "p99", "×grpc"
    );
    for concurrency in CONCURRENCY {
        for relay in [false, true] {
            let sink = if relay { "relay" } else { "decode" };
            let grpc = row(Transport::Grpc, relay, &data, concurrency, duration).await;
            print_row(&format!("grpc.{sink}"), concurrency, &grpc, &grpc);
            let ws = row(Transport::Ws, relay, &data, concurrency, duration).await;
            print_row(&format!("ws.{sink}"), concurrency, &ws, &grpc);
        }
    }
}

/// What one row measured.
struct Figures {
    spans_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn print_row(name: &str, concurrency: usize, row: &Figures, base: &Figures) {
    println!(
        "{name:<12} {concurrency:>3} {:>12.0} {:>10.2?} {:>10.2?} {:>7.2}×",
        row.spans_per_sec,
        row.p50,
        row.p99,
        row.spans_per_sec / base.spans_per_sec
    );
}

/// Counts spans: the decoding sink decodes, the relay sink takes the bytes
/// as they came.
struct Counter {
    relay: bool,
    spans: AtomicU64,
}

#[async_trait::async_trait]
impl Sink for Counter {
    fn wants_encoded(&self, _signal: otlp_transport::Signal) -> bool {
        self.relay
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let spans = match payload {
            Payload::Request(request) => request.record_count() as u64,
            // A relay would forward the bytes; it knows the size, not the count.
            Payload::Encoded(_) => SPANS_PER_REQUEST as u64,
        };
        self.spans.fetch_add(spans, Ordering::Relaxed);
        Ok(Outcome::Success)
    }
}

async fn row(
    transport: Transport,
    relay: bool,
    data: &Arc<Vec<Encoded>>,
    concurrency: usize,
    duration: Duration,
) -> Figures {
    let sink = Arc::new(Counter {
        relay,
        spans: AtomicU64::new(0),
    });
    let (figures, sent) = match transport {
        Transport::Grpc => {
            let server = otlp_grpc::Server::builder()
                .bind("127.0.0.1:0")
                .await
                .expect("binds")
                .spawn(sink.clone());
            let client = otlp_grpc::Client::builder()
                .endpoint(format!("http://{}", server.local_addr()))
                .build()
                .expect("builds");
            let measured = measure_client(client, data, concurrency, duration).await;
            server.shutdown().await.expect("shuts down");
            measured
        }
        Transport::Ws => {
            let server = otlp_ws::Server::builder()
                .bind("127.0.0.1:0")
                .await
                .expect("binds")
                .spawn(sink.clone());
            let client = otlp_ws::Client::builder()
                .endpoint(format!("ws://{}", server.local_addr()))
                .build()
                .expect("builds");
            let measured = measure_client(client.clone(), data, concurrency, duration).await;
            client.close().await;
            server.shutdown().await.expect("shuts down");
            measured
        }
    };
    assert_eq!(
        sink.spans.load(Ordering::Relaxed),
        sent,
        "{transport:?}: every span arrived"
    );
    figures
}

async fn measure_client<C: ExportService>(
    client: C,
    data: &Arc<Vec<Encoded>>,
    concurrency: usize,
    duration: Duration,
) -> (Figures, u64) {
    let data = data.clone();
    measure(concurrency, duration, move |i| {
        let client = client.clone();
        let encoded = data[i % data.len()].clone();
        async move {
            let outcome = client.oneshot(encoded).await;
            assert_eq!(outcome.expect("exported"), Outcome::Success);
            SPANS_PER_REQUEST as u64
        }
    })
    .await
}

/// Runs `concurrency` loops of `export(i)` (which returns the spans it sent)
/// for a warm-up and then `duration`, and measures them.
async fn measure<F, Fut>(concurrency: usize, duration: Duration, export: F) -> (Figures, u64)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let warmup = (duration / 5).max(Duration::from_millis(50));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let export = export.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut spans = 0u64;
                let mut sent = 0u64;
                let mut i = task;
                loop {
                    let before = Instant::now();
                    if before >= end {
                        break;
                    }
                    let n = export(i).await;
                    sent += n;
                    if before >= measure_from {
                        latencies.push(before.elapsed());
                        spans += n;
                    }
                    i += concurrency;
                }
                (latencies, spans, sent)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut spans = 0;
    let mut sent = 0;
    for task in tasks {
        let (l, s, t) = task.await.expect("the export loop");
        latencies.extend(l);
        spans += s;
        sent += t;
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (
        Figures {
            spans_per_sec: spans as f64 / elapsed.as_secs_f64(),
            p50: at(0.50),
            p99: at(0.99),
        },
        sent,
    )
}
