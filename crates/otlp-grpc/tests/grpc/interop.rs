//! Interop both ways with plain tonic and `opentelemetry-proto`'s generated
//! client and server.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::logs::v1 as their_logs;
use opentelemetry_proto::tonic::collector::metrics::v1 as their_metrics;
use opentelemetry_proto::tonic::collector::trace::v1 as their_trace;
use otlp_compression::Compression;
use otlp_grpc::Client;
use otlp_proto::Message;
use otlp_transport::{ErrorKind, ExportRequest, Outcome, Payload, SinkError};
use their_trace::trace_service_client::TraceServiceClient;
use their_trace::trace_service_server::{TraceService, TraceServiceServer};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::support::{self, Recorder, serve, within};

/// Re-encodes one of our messages as the same message of opentelemetry-proto.
fn theirs<T: prost::Message + Default>(ours: &impl Message) -> T {
    T::decode(ours.encode_to_vec().as_slice()).expect("wire-compatible")
}

fn endpoint(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

#[tokio::test]
async fn a_plain_tonic_client_exports_to_our_server() {
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let generator = otlp_datagen::Generator::new(3).resources(2).records(30);
    let (traces, metrics, logs) = (generator.traces(), generator.metrics(), generator.logs());

    for encoding in [
        None,
        Some(CompressionEncoding::Gzip),
        Some(CompressionEncoding::Zstd),
    ] {
        let channel = endpoint(server.local_addr());
        let mut trace_client = TraceServiceClient::new(channel.clone());
        let mut metrics_client =
            their_metrics::metrics_service_client::MetricsServiceClient::new(channel.clone());
        let mut logs_client = their_logs::logs_service_client::LogsServiceClient::new(channel);
        if let Some(encoding) = encoding {
            trace_client = trace_client
                .send_compressed(encoding)
                .accept_compressed(encoding);
            metrics_client = metrics_client.send_compressed(encoding);
            logs_client = logs_client.send_compressed(encoding);
        }
        let response =
            within(trace_client.export(theirs::<their_trace::ExportTraceServiceRequest>(&traces)))
                .await
                .unwrap()
                .into_inner();
        assert!(response.partial_success.is_none());
        within(
            metrics_client.export(theirs::<their_metrics::ExportMetricsServiceRequest>(
                &metrics,
            )),
        )
        .await
        .unwrap();
        within(logs_client.export(theirs::<their_logs::ExportLogsServiceRequest>(&logs)))
            .await
            .unwrap();
    }
    let expected: Vec<Payload> = (0..3)
        .flat_map(|_| {
            [
                ExportRequest::from(traces.clone()),
                ExportRequest::from(metrics.clone()),
                ExportRequest::from(logs.clone()),
            ]
        })
        .map(Payload::from)
        .collect();
    assert_eq!(sink.received(), expected);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn a_plain_tonic_client_sees_our_statuses() {
    let server = serve(Recorder::answering(Err(SinkError::Throttled {
        retry_after: std::time::Duration::from_secs(4),
        message: "busy".into(),
    })))
    .await;
    let mut client = TraceServiceClient::new(endpoint(server.local_addr()));
    let status = within(client.export(their_trace::ExportTraceServiceRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let details = otlp_proto::google::rpc::Status::decode(status.details()).unwrap();
    assert!(
        details.details[0]
            .type_url
            .ends_with("google.rpc.RetryInfo")
    );
    within(server.shutdown()).await.unwrap();

    let answer = Outcome::PartialSuccess {
        rejected: 2,
        message: "two bad spans".into(),
    };
    let server = serve(Recorder::answering(Ok(answer))).await;
    let mut client = TraceServiceClient::new(endpoint(server.local_addr()));
    let response = within(client.export(their_trace::ExportTraceServiceRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let partial = response.partial_success.unwrap();
    assert_eq!(
        (partial.rejected_spans, partial.error_message.as_str()),
        (2, "two bad spans")
    );
    within(server.shutdown()).await.unwrap();
}

/// A plain tonic trace service that records what it got and answers as told.
#[derive(Clone, Default)]
struct PlainTraces {
    seen: Arc<
        Mutex<
            Vec<(
                tonic::metadata::MetadataMap,
                their_trace::ExportTraceServiceRequest,
            )>,
        >,
    >,
    answer: Arc<Mutex<Option<Status>>>,
}

#[tonic::async_trait]
impl TraceService for PlainTraces {
    async fn export(
        &self,
        request: Request<their_trace::ExportTraceServiceRequest>,
    ) -> Result<Response<their_trace::ExportTraceServiceResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.seen.lock().unwrap().push((metadata, message));
        if let Some(status) = self.answer.lock().unwrap().clone() {
            return Err(status);
        }
        Ok(Response::new(their_trace::ExportTraceServiceResponse {
            partial_success: Some(their_trace::ExportTracePartialSuccess {
                rejected_spans: 1,
                error_message: "one span too old".into(),
            }),
        }))
    }
}

async fn plain_server(
    service: PlainTraces,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = TraceServiceServer::new(service)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    (addr, stop)
}

#[tokio::test]
async fn our_client_exports_to_a_plain_tonic_server() {
    let service = PlainTraces::default();
    let (addr, stop) = plain_server(service.clone()).await;
    let traces = support::traces(25);
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let client = Client::builder()
            .endpoint(format!("http://{addr}"))
            .compression(compression)
            .metadata("x-tenant", "blue")
            .bearer_token("t0ken")
            .timeout(support::PATIENCE)
            .build()
            .unwrap();
        // The server answers gzip-compressed: the client reads it.
        let outcome = within(client.export(traces.clone())).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::PartialSuccess {
                rejected: 1,
                message: "one span too old".into()
            }
        );
    }
    let seen = service.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let ExportRequest::Traces(ours) = &traces else {
        unreachable!()
    };
    for (metadata, message) in &seen {
        assert_eq!(
            message,
            &theirs::<their_trace::ExportTraceServiceRequest>(ours)
        );
        assert_eq!(metadata.get("x-tenant").unwrap(), "blue");
        assert_eq!(metadata.get("authorization").unwrap(), "Bearer t0ken");
        assert!(metadata.get("grpc-timeout").is_some());
    }
    let _ = stop.send(());
}

#[tokio::test]
async fn our_client_classifies_a_plain_server_statuses() {
    let service = PlainTraces::default();
    let (addr, stop) = plain_server(service.clone()).await;
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .timeout(support::PATIENCE)
        .build()
        .unwrap();
    let cases = [
        (Status::unavailable("restarting"), ErrorKind::Retryable),
        (
            Status::resource_exhausted("memory limiter"),
            ErrorKind::Permanent,
        ),
        (Status::invalid_argument("bad"), ErrorKind::Permanent),
        (Status::aborted("retry me"), ErrorKind::Retryable),
        (Status::permission_denied("no"), ErrorKind::Permanent),
    ];
    for (status, kind) in cases {
        *service.answer.lock().unwrap() = Some(status.clone());
        let error = within(client.export(support::traces(1))).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        assert!(error.message().contains(status.message()), "{error}");
    }
    let _ = stop.send(());
}
