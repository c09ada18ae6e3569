//! `n` sequential OTLP/gRPC trace exports of 512 spans, ours or plain tonic +
//! opentelemetry-proto, client and server on one thread, for counting
//! instructions with callgrind: a deterministic figure of the CPU cost of a
//! request where wall-clock benchmarks on a shared machine scatter by ±30 %.
//!
//! ```sh
//! cargo build --release -p otlp-benches --example grpc_instructions
//! bin=target/release/examples/grpc_instructions
//! count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 | grep -o 'Collected : [0-9]*'; }
//! for s in baseline same-work decode relay; do count $s 0; count $s 200; done
//! ```
//!
//! Instructions per request = (count(setup, 200) - count(setup, 0)) / 200.
//! Setups as in `otlp bench grpc` (otlp-cli): `baseline` (generated client and server,
//! the request cloned and encoded per call), `same-work` (ours, the same clone
//! and encode), `decode` (ours, payload encoded beforehand), `relay` (ours,
//! the sink takes the bytes undecoded).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1 as baseline;
use otlp_proto::Message;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_transport::{ExportRequest, Outcome, Payload, Sink, SinkError};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let setup = args.first().map(String::as_str).unwrap_or("").to_string();
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let full =
        ExportTraceServiceRequest::decode(otlp_benches::protobuf(otlp_benches::Signal::Traces))
            .expect("the dataset decodes");
    let requests: Vec<_> = otlp_datagen::split_traces(&full, 512)
        .into_iter()
        .take(19)
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let spans = runtime.block_on(async move {
        match setup.as_str() {
            "baseline" => run_baseline(&requests, n).await,
            "same-work" | "decode" | "relay" => run_ours(&requests, n, &setup).await,
            other => panic!("unknown setup {other:?}: baseline, same-work, decode or relay"),
        }
    });
    eprintln!("{spans} spans received");
}

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
            Payload::Encoded(_) => 512,
        };
        self.spans.fetch_add(spans, Ordering::Relaxed);
        Ok(Outcome::Success)
    }
}

async fn run_ours(requests: &[ExportTraceServiceRequest], n: usize, setup: &str) -> u64 {
    let sink = Arc::new(Counter {
        relay: setup == "relay",
        spans: AtomicU64::new(0),
    });
    let server = otlp_grpc::Server::builder()
        .bind("127.0.0.1:0")
        .await
        .expect("binds")
        .spawn(sink.clone());
    let client = otlp_grpc::Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .build()
        .expect("builds");
    let wire = client.wire_format();
    let encoded: Vec<_> = requests
        .iter()
        .map(|r| {
            wire.encode(Payload::from(ExportRequest::Traces(r.clone())))
                .expect("encodes")
        })
        .collect();
    for i in 0..n {
        let outcome = if setup == "same-work" {
            let request = ExportRequest::Traces(requests[i % requests.len()].clone());
            client.export(request).await
        } else {
            client.export(encoded[i % encoded.len()].clone()).await
        };
        assert_eq!(outcome.expect("exported"), Outcome::Success);
    }
    server.shutdown().await.expect("shuts down");
    sink.spans.load(Ordering::Relaxed)
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

async fn run_baseline(requests: &[ExportTraceServiceRequest], n: usize) -> u64 {
    let theirs: Vec<_> = requests
        .iter()
        .map(|r| {
            baseline::ExportTraceServiceRequest::decode(r.encode_to_vec().as_slice())
                .expect("wire-compatible")
        })
        .collect();
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
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("an endpoint")
        .connect_lazy();
    let mut client = baseline::trace_service_client::TraceServiceClient::new(channel);
    for i in 0..n {
        client
            .export(theirs[i % theirs.len()].clone())
            .await
            .expect("exported");
    }
    let _ = stop.send(());
    server.await.expect("the server task").expect("served");
    service.spans.load(Ordering::Relaxed)
}
