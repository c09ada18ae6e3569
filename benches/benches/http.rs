//! OTLP/HTTP end to end: 512-span trace exports from a client to a server in
//! the same process, ours (otlp-http) beside plain hyper + prost
//! (opentelemetry-proto types) in the same run.
//!
//! ```text
//! OTLP_BENCH_DATA=../shared/bench/data cargo bench -p otlp-benches --bench http
//! ```
//!
//! Rows: `baseline` is a hyper-util client posting protobuf to a hyper server
//! that decodes with prost; `ours` is `otlp_http::Client` to `otlp_http::Server`
//! with a sink that takes decoded requests; `ours relay` is the same server
//! with a sink that takes the bytes as they came (`wants_encoded`). Every
//! sink and the baseline count the spans they got. At concurrency 1 and 16,
//! over HTTP/1.1 and h2c, the three run in turn for `OTLP_BENCH_SECS` seconds
//! (default 2), `OTLP_BENCH_ROUNDS` times (default 3), after a warm-up; the
//! figures pool every round. Clients send the same pre-encoded bodies. The
//! CPU column is the process's CPU time (client and server together, from
//! `/proc/self/stat`) per 1,000 spans: less sensitive than spans/s to other
//! load on the machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest as BaselineRequest, ExportTraceServiceResponse as BaselineResponse,
};
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_http::{Client, Protocol, Server};
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_transport::{Encoded, ExportRequest, Outcome, Payload, Signal, Sink, SinkError};
use prost::Message;
use tower::Service;

/// One pre-encoded export and how many spans it holds.
#[derive(Clone)]
struct Body {
    bytes: Bytes,
    spans: u64,
}

fn bodies() -> Vec<Body> {
    let pb = otlp_benches::protobuf(otlp_benches::Signal::Traces);
    let request = ExportTraceServiceRequest::decode(pb).expect("the dataset decodes");
    otlp_datagen::split_traces(&request, otlp_datagen::SPANS_PER_REQUEST)
        .into_iter()
        .map(|part| {
            let spans = ExportRequest::from(part.clone()).record_count() as u64;
            Body {
                bytes: Bytes::from(part.encode_to_vec()),
                spans,
            }
        })
        .collect()
}

/// Our server's sink that takes decoded requests.
struct Decoded(AtomicU64);

#[async_trait]
impl Sink for Decoded {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        if let Payload::Request(request) = payload {
            self.0
                .fetch_add(request.record_count() as u64, Ordering::Relaxed);
        }
        Ok(Outcome::Success)
    }
}

/// Our server's sink for a relay: bytes as they came, never decoded.
struct Relay(AtomicU64);

#[async_trait]
impl Sink for Relay {
    fn wants_encoded(&self, _: Signal) -> bool {
        true
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        self.0
            .fetch_add(payload.size_hint() as u64, Ordering::Relaxed);
        Ok(Outcome::Success)
    }
}

/// The baseline server: hyper (HTTP/1.1 and h2c, same windows as ours) and
/// prost with opentelemetry-proto's types.
async fn baseline_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http2()
            .initial_stream_window_size(2 << 20)
            .initial_connection_window_size(8 << 20);
        let builder = Arc::new(builder);
        let spans = Arc::new(AtomicU64::new(0));
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let builder = builder.clone();
            let spans = spans.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        let spans = spans.clone();
                        async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            let status = match BaselineRequest::decode(body) {
                                Ok(request) => {
                                    let count: usize = request
                                        .resource_spans
                                        .iter()
                                        .flat_map(|r| &r.scope_spans)
                                        .map(|s| s.spans.len())
                                        .sum();
                                    spans.fetch_add(count as u64, Ordering::Relaxed);
                                    200
                                }
                                Err(_) => 400,
                            };
                            let response = hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::from(
                                    BaselineResponse::default().encode_to_vec(),
                                )))
                                .unwrap();
                            Ok::<_, hyper::Error>(response)
                        }
                    });
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

type BaselineClient = HyperClient<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Something that sends one body and waits for the answer.
#[derive(Clone)]
enum Sender {
    Ours(Client),
    Baseline(Arc<BaselineClient>, String),
}

impl Sender {
    async fn send(&mut self, body: &Body) {
        match self {
            Sender::Ours(client) => {
                let encoded = Encoded::new(
                    Signal::Traces,
                    Codec::Protobuf,
                    Compression::None,
                    body.bytes.clone(),
                );
                let outcome = client.call(encoded).await.expect("ours exports");
                assert!(outcome.is_success());
            }
            Sender::Baseline(client, url) => {
                let request = hyper::Request::post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(Full::new(body.bytes.clone()))
                    .unwrap();
                let response = client.request(request).await.expect("the baseline exports");
                assert!(response.status().is_success());
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                BaselineResponse::decode(bytes).expect("a response");
            }
        }
    }
}

fn baseline_client(addr: SocketAddr, protocol: Protocol) -> Sender {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client = HyperClient::builder(TokioExecutor::new())
        .http2_only(protocol == Protocol::Http2)
        .http2_initial_stream_window_size(2 << 20)
        .http2_initial_connection_window_size(8 << 20)
        .pool_max_idle_per_host(16)
        .build(connector);
    Sender::Baseline(Arc::new(client), format!("http://{addr}/v1/traces"))
}

fn our_client(addr: SocketAddr, protocol: Protocol) -> Sender {
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .protocol(protocol)
        .max_connections(match protocol {
            Protocol::Http2 => 1,
            _ => 16,
        })
        .build()
        .unwrap();
    Sender::Ours(client)
}

/// What one implementation did in one configuration, over every round.
#[derive(Default)]
struct Figures {
    latencies: Vec<Duration>,
    spans: u64,
    elapsed: Duration,
    /// Process CPU time (client and server together), when measurable.
    cpu: Option<Duration>,
}

impl Figures {
    fn spans_per_sec(&self) -> f64 {
        self.spans as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile(&mut self, q: f64) -> Duration {
        self.latencies.sort_unstable();
        let last = self.latencies.len().saturating_sub(1);
        self.latencies
            .get(((self.latencies.len() as f64 * q) as usize).min(last))
            .copied()
            .unwrap_or_default()
    }

    /// CPU microseconds per 1,000 spans, client and server together.
    fn cpu_per_kspan(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| cpu.as_secs_f64() * 1e6 / (self.spans as f64 / 1e3))
    }
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, in
/// clock ticks of 10 ms).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

async fn run(
    sender: Sender,
    bodies: &Arc<Vec<Body>>,
    concurrency: usize,
    window: Duration,
    into: &mut Figures,
) {
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let mut sender = sender.clone();
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut spans = 0u64;
                let deadline = Instant::now() + window;
                let mut i = task;
                while Instant::now() < deadline {
                    let body = &bodies[i % bodies.len()];
                    let start = Instant::now();
                    sender.send(body).await;
                    latencies.push(start.elapsed());
                    spans += body.spans;
                    i += concurrency;
                }
                (latencies, spans)
            })
        })
        .collect();
    let start = Instant::now();
    let cpu_start = cpu_time();
    for task in tasks {
        let (latencies, spans) = task.await.unwrap();
        into.latencies.extend(latencies);
        into.spans += spans;
    }
    into.elapsed += start.elapsed();
    into.cpu = match (cpu_start, cpu_time()) {
        (Some(a), Some(b)) => Some(into.cpu.unwrap_or_default() + b.saturating_sub(a)),
        _ => None,
    };
}

fn main() {
    let secs: f64 = std::env::var("OTLP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let rounds: usize = std::env::var("OTLP_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let bodies = Arc::new(bodies());
    let spans: u64 = bodies.iter().map(|b| b.spans).sum();
    eprintln!(
        "{} requests, {spans} spans, {} bytes of protobuf",
        bodies.len(),
        bodies.iter().map(|b| b.bytes.len()).sum::<usize>()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ours = Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .spawn(Decoded(AtomicU64::new(0)));
        let relay = Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .spawn(Relay(AtomicU64::new(0)));
        let baseline = baseline_server().await;
        println!(
            "| protocol | concurrency | implementation | spans/s | p50 | p99 | CPU µs / 1k spans | spans/s vs baseline |"
        );
        println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
        let window = Duration::from_secs_f64(secs);
        for protocol in [Protocol::Http1, Protocol::Http2] {
            for concurrency in [1, 16] {
                let senders = [
                    baseline_client(baseline, protocol),
                    our_client(ours.local_addr(), protocol),
                    our_client(relay.local_addr(), protocol),
                ];
                // Warm the connections, then interleave the three so that the
                // machine's other load falls on all of them alike.
                for sender in &senders {
                    run(sender.clone(), &bodies, concurrency, Duration::from_millis(300), &mut Figures::default()).await;
                }
                let mut figures: [Figures; 3] = Default::default();
                for _ in 0..rounds {
                    for (sender, into) in senders.iter().zip(figures.iter_mut()) {
                        run(sender.clone(), &bodies, concurrency, window, into).await;
                    }
                }
                let name = match protocol {
                    Protocol::Http1 => "HTTP/1.1",
                    _ => "h2c",
                };
                let base = figures[0].spans_per_sec();
                let labels = [
                    "baseline (hyper + prost)",
                    "ours (decoding sink)",
                    "ours relay (encoded sink)",
                ];
                for (label, figures) in labels.iter().zip(figures.iter_mut()) {
                    let cpu = figures
                        .cpu_per_kspan()
                        .map_or("-".to_string(), |us| format!("{us:.0}"));
                    println!(
                        "| {name} | {concurrency} | {label} | {:.0} | {:.2} ms | {:.2} ms | {cpu} | {:.2}× |",
                        figures.spans_per_sec(),
                        figures.quantile(0.50).as_secs_f64() * 1e3,
                        figures.quantile(0.99).as_secs_f64() * 1e3,
                        figures.spans_per_sec() / base,
                    );
                }
            }
        }
        ours.shutdown().await.unwrap();
        relay.shutdown().await.unwrap();
    });
}
