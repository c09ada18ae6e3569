//! OTLP/gRPC export of 512-span trace requests, client and server in one
//! process, against plain tonic + `opentelemetry-proto` in the same run.
//!
//! ```text
//! OTLP_BENCH_DATA=../shared/bench/data cargo bench -p otlp-benches --bench grpc
//! ```
//! Each row runs `OTLP_BENCH_SECS` seconds (default 3, after a warm-up) with
//! `c` tasks each exporting one request after another, and reports spans/s
//! and the latency of one export (p50, p99). Setups:
//! - `baseline`: opentelemetry-proto's generated `TraceServiceClient` on one
//!   tonic `Channel` (encoding each request) to its generated server
//!   (decoding each request).
//! - `ours.decode`: `otlp_grpc::Client` sending pre-encoded payloads to
//!   `otlp_grpc::Server` with a sink that takes decoded requests.
//! - `ours.relay`: the same with a sink that asks for the encoded bytes, as a
//!   relay does.
//! - `ours.same-work`: the same work as the baseline: the client is handed
//!   the decoded request (cloned, as the baseline's is) and encodes it in the
//!   call, the server decodes.
//!
//! Every setup's server counts the spans it received; the bench checks the
//! count against what was sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1 as baseline;
use otlp_benches::Signal;
use otlp_compression::Compression;
use otlp_grpc::{Client, Server};
use otlp_proto::Message;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_transport::{Encoded, ExportRequest, Outcome, Payload, Sink, SinkError, WireFormat};
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

/// The requests, as each side sends them.
struct Data {
    ours: Vec<(Encoded, u64)>,
    decoded: Vec<(ExportRequest, u64)>,
    theirs: Vec<(baseline::ExportTraceServiceRequest, u64)>,
}

fn data(compression: Compression) -> Data {
    let full = ExportTraceServiceRequest::decode(otlp_benches::protobuf(Signal::Traces))
        .expect("the dataset decodes");
    let requests: Vec<_> = otlp_datagen::split_traces(&full, SPANS_PER_REQUEST)
        .into_iter()
        .filter(|r| ExportRequest::Traces(r.clone()).record_count() == SPANS_PER_REQUEST)
        .collect();
    let wire = WireFormat::new(
        otlp_codec::Codec::Protobuf,
        otlp_compression::Encoder::new(compression),
    );
    Data {
        ours: requests
            .iter()
            .map(|r| {
                let encoded = wire
                    .encode(Payload::from(ExportRequest::Traces(r.clone())))
                    .expect("encodes");
                (encoded, SPANS_PER_REQUEST as u64)
            })
            .collect(),
        decoded: requests
            .iter()
            .map(|r| (ExportRequest::Traces(r.clone()), SPANS_PER_REQUEST as u64))
            .collect(),
        theirs: requests
            .iter()
            .map(|r| {
                let theirs =
                    baseline::ExportTraceServiceRequest::decode(r.encode_to_vec().as_slice())
                        .expect("wire-compatible");
                (theirs, SPANS_PER_REQUEST as u64)
            })
            .collect(),
    }
}

async fn run(duration: Duration) {
    let data = Arc::new(data(Compression::None));
    println!(
        "{} requests of {SPANS_PER_REQUEST} spans, {:?} per row, {} worker threads",
        data.ours.len(),
        duration,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "{:<15} {:>3} {:>12} {:>10} {:>10} {:>8}",
        "setup", "c", "spans/s", "p50", "p99", "×base"
    );
    for concurrency in CONCURRENCY {
        let base = baseline_row(&data, concurrency, duration).await;
        print_row("baseline", concurrency, &base, &base);
        let same = ours_row(&data, concurrency, duration, Setup::SameWork).await;
        print_row("ours.same-work", concurrency, &same, &base);
        let ours = ours_row(&data, concurrency, duration, Setup::Decode).await;
        print_row("ours.decode", concurrency, &ours, &base);
        let relay = ours_row(&data, concurrency, duration, Setup::Relay).await;
        print_row("ours.relay", concurrency, &relay, &base);
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
        "{name:<15} {concurrency:>3} {:>12.0} {:>10.2?} {:>10.2?} {:>7.2}×",
        row.spans_per_sec,
        row.p50,
        row.p99,
        row.spans_per_sec / base.spans_per_sec
    );
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

/// Counts spans: the decoding sink decodes (as the baseline's generated
/// server does), the relay sink takes the bytes as they came.
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    SameWork,
    Decode,
    Relay,
}

async fn ours_row(
    data: &Arc<Data>,
    concurrency: usize,
    duration: Duration,
    setup: Setup,
) -> Figures {
    let sink = Arc::new(Counter {
        relay: setup == Setup::Relay,
        spans: AtomicU64::new(0),
    });
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .expect("binds")
        .spawn(sink.clone());
    let client = Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .build()
        .expect("builds");
    let data = data.clone();
    let (figures, sent) = measure(concurrency, duration, move |i| {
        let client = client.clone();
        let data = data.clone();
        async move {
            let (outcome, spans) = if setup == Setup::SameWork {
                let (request, spans) = data.decoded[i % data.decoded.len()].clone();
                (client.export(request).await, spans)
            } else {
                let (encoded, spans) = data.ours[i % data.ours.len()].clone();
                (client.oneshot(encoded).await, spans)
            };
            assert_eq!(outcome.expect("exported"), Outcome::Success);
            spans
        }
    })
    .await;
    server.shutdown().await.expect("shuts down");
    assert_eq!(
        sink.spans.load(Ordering::Relaxed),
        sent,
        "every span arrived"
    );
    figures
}

#[derive(Clone, Default)]
struct BaselineServer {
    spans: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl baseline::trace_service_server::TraceService for BaselineServer {
    async fn export(
        &self,
        request: tonic::Request<baseline::ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<baseline::ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(
            baseline::ExportTraceServiceResponse::default(),
        ))
    }
}

async fn baseline_row(data: &Arc<Data>, concurrency: usize, duration: Duration) -> Figures {
    let service = BaselineServer::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("bound");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                baseline::trace_service_server::TraceServiceServer::new(service.clone())
                    .max_decoding_message_size(64 << 20),
            )
            .serve_with_incoming_shutdown(
                // As tonic's own `serve` does; without it Nagle delays answers.
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("an endpoint")
        .connect_lazy();
    let client = baseline::trace_service_client::TraceServiceClient::new(channel);
    let data = data.clone();
    let (figures, sent) = measure(concurrency, duration, move |i| {
        let (request, spans) = data.theirs[i % data.theirs.len()].clone();
        let mut client = client.clone();
        async move {
            client.export(request).await.expect("exported");
            spans
        }
    })
    .await;
    let _ = stop.send(());
    server.await.expect("the server task").expect("served");
    assert_eq!(
        service.spans.load(Ordering::Relaxed),
        sent,
        "every span arrived"
    );
    figures
}
