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
//! sink and the baseline count the spans they got. Each case runs
//! `OTLP_BENCH_SECS` seconds (default 3) after a warm-up, at concurrency 1
//! and 16, over HTTP/1.1 and h2c. Clients send the same pre-encoded bodies.

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

struct Figures {
    spans_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(sender: Sender, bodies: &Arc<Vec<Body>>, concurrency: usize, secs: f64) -> Figures {
    let measure = |window: Duration| {
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
            .collect::<Vec<_>>();
        async move {
            let start = Instant::now();
            let mut all = Vec::new();
            let mut spans = 0;
            for task in tasks {
                let (latencies, count) = task.await.unwrap();
                all.extend(latencies);
                spans += count;
            }
            (all, spans, start.elapsed())
        }
    };
    measure(Duration::from_millis(500)).await;
    let (mut latencies, spans, elapsed) = measure(Duration::from_secs_f64(secs)).await;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures {
        spans_per_sec: spans as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn main() {
    let secs: f64 = std::env::var("OTLP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
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
            "| protocol | concurrency | implementation | spans/s | p50 | p99 | ratio to baseline (spans/s) |"
        );
        println!("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
        for protocol in [Protocol::Http1, Protocol::Http2] {
            for concurrency in [1, 16] {
                let base = run(baseline_client(baseline, protocol), &bodies, concurrency, secs).await;
                let decoded =
                    run(our_client(ours.local_addr(), protocol), &bodies, concurrency, secs).await;
                let relayed =
                    run(our_client(relay.local_addr(), protocol), &bodies, concurrency, secs).await;
                let name = match protocol {
                    Protocol::Http1 => "HTTP/1.1",
                    _ => "h2c",
                };
                for (label, figures) in [
                    ("baseline (hyper + prost)", &base),
                    ("ours (decoding sink)", &decoded),
                    ("ours relay (encoded sink)", &relayed),
                ] {
                    println!(
                        "| {name} | {concurrency} | {label} | {:.0} | {:.2} ms | {:.2} ms | {:.2}× |",
                        figures.spans_per_sec,
                        figures.p50.as_secs_f64() * 1e3,
                        figures.p99.as_secs_f64() * 1e3,
                        figures.spans_per_sec / base.spans_per_sec,
                    );
                }
            }
        }
        ours.shutdown().await.unwrap();
        relay.shutdown().await.unwrap();
    });
}
