//! `otlp bench grpc`: OTLP/gRPC exports of 512-span trace requests, client
//! and server in this process, beside tonic with `opentelemetry-proto`'s
//! generated `TraceService` client and server.
//!
//! Rows, at each concurrency:
//! - `baseline.grpc.…`: the generated client on one tonic `Channel`, the
//!   request cloned and encoded in the call; the generated server decodes.
//! - `grpc.…`: the same work with ours: `Client::export` of a cloned
//!   [`ExportRequest`](otlp_transport::ExportRequest), encoded in the call,
//!   to our `Server` with a sink that takes decoded requests.
//! - `grpc.encoded.…`: the payload encoded beforehand (what a relay or an
//!   exporter that encodes once sends), same server.
//! - `grpc.relay.…`: the same to a sink that takes the bytes as they came.
//! - `grpc.stream.…`: encoded payloads over the otlp-rs streaming extension
//!   (one stream, window [`STREAM_WINDOW`]) to the decoding sink; only
//!   uncompressed (the extension does not compress its messages).
//!
//! With `--compression gzip` (or zstd, deflate), the rows are repeated with
//! that `grpc-encoding` on both sides: tonic compresses in the call and its
//! server decompresses; ours compresses in the call (same work) or sends the
//! payload compressed once (encoded, relay), and the relay sink takes the
//! compressed bytes as they came.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1 as baseline;
use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use otlp_grpc::{Client, Server};
use otlp_transport::{Encoded, Outcome, Signal};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tower::ServiceExt;

use super::Bench;
use super::transport::{
    self, BaselineCount, CONCURRENCY, CountingSink, Request, Sent, check_received,
};
use crate::Error;

/// Our variants, as named in the figure (`grpc.<variant>none.c1.traces`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Setup {
    SameWork,
    Encoded,
    Relay,
    Stream,
}

/// Requests awaiting their ack on the stream of the `grpc.stream` rows.
const STREAM_WINDOW: usize = 32;

impl Setup {
    fn infix(self) -> &'static str {
        match self {
            Setup::SameWork => "",
            Setup::Encoded => "encoded.",
            Setup::Relay => "relay.",
            Setup::Stream => "stream.",
        }
    }
}

pub(super) fn run(bench: &mut Bench) -> Result<(), Error> {
    let requests = transport::requests(bench)?;
    let theirs: Arc<Vec<(baseline::ExportTraceServiceRequest, Sent)>> = Arc::new(
        requests
            .iter()
            .map(|r| {
                baseline::ExportTraceServiceRequest::decode(r.protobuf.clone())
                    .map(|m| (m, r.sent()))
                    .map_err(|e| format!("opentelemetry-proto cannot decode a request: {e}"))
            })
            .collect::<Result<_, _>>()?,
    );
    let runtime = transport::runtime()?;
    for compression in bench.grpc_compressions.clone() {
        let tonic_encoding = match compression {
            Compression::None => None,
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
            Compression::Deflate => Some(CompressionEncoding::Deflate),
            other => {
                return Err(format!(
                    "--compression {other}: tonic, the baseline, has no {other}; use none, gzip, zstd or deflate"
                )
                .into());
            }
        };
        let setups: &[Setup] = if compression == Compression::None {
            &[Setup::SameWork, Setup::Encoded, Setup::Relay, Setup::Stream]
        } else {
            &[Setup::SameWork, Setup::Encoded, Setup::Relay]
        };
        for concurrency in CONCURRENCY {
            let coding = transport::coding(compression);
            let base = format!("baseline.grpc.{coding}.c{concurrency}.traces");
            let from = bench.figures.len();
            bench.progress.set_message(base.clone());
            let measured = runtime.block_on(baseline_row(
                &theirs,
                concurrency,
                bench.budget,
                tonic_encoding,
                &base,
            ))?;
            bench.push_transport(base.clone(), base.clone(), measured);
            for &setup in setups {
                let name = format!("grpc.{}{coding}.c{concurrency}.traces", setup.infix());
                bench.progress.set_message(name.clone());
                let row = Row {
                    concurrency,
                    budget: bench.budget,
                    setup,
                    compression,
                };
                let measured = runtime.block_on(our_row(&requests, row, &name))?;
                bench.push_transport(name, base.clone(), measured);
            }
            bench.emit_since(from);
        }
    }
    Ok(())
}

/// How one of our rows is run.
pub(super) struct Row {
    pub(super) concurrency: usize,
    pub(super) budget: Duration,
    pub(super) setup: Setup,
    pub(super) compression: Compression,
}

pub(super) async fn our_row(
    requests: &Arc<Vec<Request>>,
    row: Row,
    name: &str,
) -> Result<transport::Measured, Error> {
    let Row {
        concurrency,
        budget,
        setup,
        compression,
    } = row;
    let sink = CountingSink::new(setup == Setup::Relay);
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("{name}: binding our gRPC server: {e}"))?
        .spawn(sink.clone());
    let mut client = Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .compression(compression);
    if setup == Setup::Stream {
        client = client.streaming(STREAM_WINDOW);
    }
    let client = client
        .build()
        .map_err(|e| format!("{name}: building our gRPC client: {e}"))?;
    // Encoded and relay rows send each payload as an exporter that encodes
    // once would: compressed beforehand, outside the measurement.
    let payloads: Arc<Vec<Bytes>> = Arc::new(
        requests
            .iter()
            .map(|request| {
                let mut compressed = Vec::new();
                Encoder::new(compression)
                    .compress(&request.protobuf, &mut compressed)
                    .map(|()| Bytes::from(compressed))
                    .map_err(|e| format!("{name}: compressing a request: {e}"))
            })
            .collect::<Result<_, _>>()?,
    );
    let requests = requests.clone();
    let measured = transport::measure(concurrency, budget, move |i| {
        let client = client.clone();
        let requests = requests.clone();
        let payloads = payloads.clone();
        async move {
            let i = i % requests.len();
            let request = &requests[i];
            let outcome = if setup == Setup::SameWork {
                client.export(request.message.clone()).await
            } else {
                let encoded = Encoded::new(
                    Signal::Traces,
                    Codec::Protobuf,
                    compression,
                    payloads[i].clone(),
                );
                client.oneshot(encoded).await
            };
            match outcome {
                // A relay counts the bytes as they came: compressed.
                Ok(Outcome::Success) => Ok(Sent {
                    bytes: payloads[i].len() as u64,
                    ..request.sent()
                }),
                Ok(other) => Err(format!("our gRPC server answered {other:?}").into()),
                Err(e) => Err(Error::from(format!("our gRPC export failed: {e}"))),
            }
        }
    })
    .await;
    // Shut down before checking, so that every accepted call is counted.
    server
        .shutdown()
        .await
        .map_err(|e| format!("{name}: shutting our gRPC server down: {e}"))?;
    let measured = measured.map_err(|e| format!("{name}: {e}"))?;
    check_received(name, measured.sent, sink.received())?;
    Ok(measured)
}

/// opentelemetry-proto's generated server, counting what it decoded.
#[derive(Clone, Default)]
struct BaselineServer {
    count: BaselineCount,
}

#[async_trait::async_trait]
impl baseline::trace_service_server::TraceService for BaselineServer {
    async fn export(
        &self,
        request: tonic::Request<baseline::ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<baseline::ExportTraceServiceResponse>, tonic::Status> {
        self.count.add(request.get_ref());
        Ok(tonic::Response::new(
            baseline::ExportTraceServiceResponse::default(),
        ))
    }
}

async fn baseline_row(
    requests: &Arc<Vec<(baseline::ExportTraceServiceRequest, Sent)>>,
    concurrency: usize,
    budget: Duration,
    compression: Option<CompressionEncoding>,
    name: &str,
) -> Result<transport::Measured, Error> {
    let service = BaselineServer::default();
    let mut server = baseline::trace_service_server::TraceServiceServer::new(service.clone())
        .max_decoding_message_size(64 << 20);
    if let Some(encoding) = compression {
        server = server.accept_compressed(encoding);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("{name}: binding the tonic server: {e}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming_shutdown(
                // As tonic's own `serve` does; without it Nagle delays answers.
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("{name}: a tonic endpoint: {e}"))?
        .connect_lazy();
    let mut client = baseline::trace_service_client::TraceServiceClient::new(channel);
    if let Some(encoding) = compression {
        client = client.send_compressed(encoding);
    }
    let requests = requests.clone();
    let measured = transport::measure(concurrency, budget, move |i| {
        let (request, sent) = requests[i % requests.len()].clone();
        let mut client = client.clone();
        async move {
            client
                .export(request)
                .await
                .map_err(|e| format!("the tonic export failed: {e}"))?;
            Ok(sent)
        }
    })
    .await;
    let _ = stop.send(());
    server
        .await
        .map_err(|e| format!("{name}: the tonic server task: {e}"))?
        .map_err(|e| format!("{name}: the tonic server: {e}"))?;
    let measured = measured.map_err(|e| format!("{name}: {e}"))?;
    check_received(name, measured.sent, service.count.received())?;
    Ok(measured)
}
