//! `otlp bench http`: OTLP/HTTP exports of 512-span trace requests, client and
//! server in this process, over HTTP/1.1 and h2c, beside plain hyper + prost
//! (`opentelemetry-proto`'s types).
//!
//! Both sides post the same protobuf bodies, encoded beforehand. Rows, at each
//! protocol and concurrency (`h2c.` in the name for h2c):
//! - `baseline.http.…`: a hyper-util client posting to a hyper server (HTTP/1.1
//!   and h2c, the same HTTP/2 windows as ours) that decodes with prost, counts
//!   the spans and answers an encoded `ExportTraceServiceResponse`, which the
//!   client reads and decodes.
//! - `http.…`: `otlp_http::Client` to `otlp_http::Server` with a sink that
//!   takes decoded requests.
//! - `http.relay.…`: the same to a sink that takes the bytes as they came.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest as BaselineRequest, ExportTraceServiceResponse as BaselineResponse,
};
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_http::{Client, Protocol, Server};
use otlp_transport::{Encoded, Outcome, Signal};
use prost::Message;
use tower::ServiceExt;

use super::Bench;
use super::transport::{self, BaselineCount, CONCURRENCY, CountingSink, Request, check_received};
use crate::Error;

/// HTTP/2 windows of both sides: 277 KB bodies must not stall on flow control.
const STREAM_WINDOW: u32 = 2 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;

pub(super) fn run(bench: &mut Bench) -> Result<(), Error> {
    let requests = transport::requests(bench)?;
    let runtime = transport::runtime()?;
    let compression = "none";
    for (protocol, infix) in [(Protocol::Http1, ""), (Protocol::Http2, "h2c.")] {
        for concurrency in CONCURRENCY {
            let from = bench.figures.len();
            let base = format!("baseline.http.{infix}{compression}.c{concurrency}.traces");
            bench.progress.set_message(base.clone());
            let measured = runtime.block_on(baseline_row(
                &requests,
                protocol,
                concurrency,
                bench.budget,
                &base,
            ))?;
            bench.push_transport(base.clone(), base.clone(), measured);
            for relay in [false, true] {
                let variant = if relay { "relay." } else { "" };
                let name = format!("http.{infix}{variant}{compression}.c{concurrency}.traces");
                bench.progress.set_message(name.clone());
                let measured = runtime.block_on(our_row(
                    &requests,
                    protocol,
                    concurrency,
                    bench.budget,
                    relay,
                    &name,
                ))?;
                bench.push_transport(name, base.clone(), measured);
            }
            bench.emit_since(from);
        }
    }
    Ok(())
}

async fn our_row(
    requests: &Arc<Vec<Request>>,
    protocol: Protocol,
    concurrency: usize,
    budget: Duration,
    relay: bool,
    name: &str,
) -> Result<transport::Measured, Error> {
    let sink = CountingSink::new(relay);
    let server = Server::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("{name}: binding our HTTP server: {e}"))?
        .spawn(sink.clone());
    let client = Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .protocol(protocol)
        .max_connections(match protocol {
            Protocol::Http2 => 1,
            _ => concurrency,
        })
        .build()
        .map_err(|e| format!("{name}: building our HTTP client: {e}"))?;
    let requests = requests.clone();
    let measured = transport::measure(concurrency, budget, move |i| {
        let client = client.clone();
        let requests = requests.clone();
        async move {
            let request = &requests[i % requests.len()];
            let encoded = Encoded::new(
                Signal::Traces,
                Codec::Protobuf,
                Compression::None,
                request.protobuf.clone(),
            );
            match client.oneshot(encoded).await {
                Ok(Outcome::Success) => Ok(request.sent()),
                Ok(other) => Err(format!("our HTTP server answered {other:?}").into()),
                Err(e) => Err(Error::from(format!("our HTTP export failed: {e}"))),
            }
        }
    })
    .await;
    server
        .shutdown()
        .await
        .map_err(|e| format!("{name}: shutting our HTTP server down: {e}"))?;
    let measured = measured.map_err(|e| format!("{name}: {e}"))?;
    check_received(name, measured.sent, sink.received())?;
    Ok(measured)
}

async fn baseline_row(
    requests: &Arc<Vec<Request>>,
    protocol: Protocol,
    concurrency: usize,
    budget: Duration,
    name: &str,
) -> Result<transport::Measured, Error> {
    let count = BaselineCount::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("{name}: binding the hyper server: {e}"))?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(baseline_server(listener, count.clone()));
    let client = baseline_client(protocol);
    let url = Arc::new(format!("http://{addr}/v1/traces"));
    let requests = requests.clone();
    let measured = transport::measure(concurrency, budget, move |i| {
        let client = client.clone();
        let requests = requests.clone();
        let url = url.clone();
        async move {
            let request = &requests[i % requests.len()];
            let post = hyper::Request::post(url.as_str())
                .header("content-type", "application/x-protobuf")
                .body(Full::new(request.protobuf.clone()))
                .map_err(|e| format!("a hyper request: {e}"))?;
            let response = client
                .request(post)
                .await
                .map_err(|e| format!("the hyper export failed: {e}"))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the hyper server's answer: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("the hyper server answered {status}").into());
            }
            BaselineResponse::decode(body)
                .map_err(|e| format!("the hyper server's answer does not decode: {e}"))?;
            Ok(request.sent())
        }
    })
    .await;
    // Stopping the accept loop drops its connections.
    server.abort();
    let _ = server.await;
    let measured = measured.map_err(|e| format!("{name}: {e}"))?;
    check_received(name, measured.sent, count.received())?;
    Ok(measured)
}

/// Plain hyper (HTTP/1.1 and h2c, the same windows as ours) decoding with
/// prost into `opentelemetry-proto`'s types.
async fn baseline_server(listener: tokio::net::TcpListener, count: BaselineCount) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    let builder = Arc::new(builder);
    // Owned here so that aborting this task closes every connection.
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let count = count.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let count = count.clone();
                async move {
                    let body = request.into_body().collect().await?.to_bytes();
                    let status = match BaselineRequest::decode(body) {
                        Ok(request) => {
                            count.add(&request);
                            hyper::StatusCode::OK
                        }
                        Err(_) => hyper::StatusCode::BAD_REQUEST,
                    };
                    let mut response = hyper::Response::new(Full::new(Bytes::from(
                        BaselineResponse::default().encode_to_vec(),
                    )));
                    *response.status_mut() = status;
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/x-protobuf"),
                    );
                    Ok::<_, hyper::Error>(response)
                }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn baseline_client(protocol: Protocol) -> HyperClient<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    HyperClient::builder(TokioExecutor::new())
        .http2_only(protocol == Protocol::Http2)
        .http2_initial_stream_window_size(STREAM_WINDOW)
        .http2_initial_connection_window_size(CONNECTION_WINDOW)
        .pool_max_idle_per_host(16)
        .build(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_server_rejects_what_does_not_decode_and_counts_nothing() {
        let runtime = transport::runtime().expect("a runtime");
        runtime.block_on(async {
            let count = BaselineCount::default();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("binds");
            let addr = listener.local_addr().expect("bound");
            let server = tokio::spawn(baseline_server(listener, count.clone()));
            let post = hyper::Request::post(format!("http://{addr}/v1/traces"))
                .body(Full::new(Bytes::from_static(b"\xff\xff\xff")))
                .expect("a request");
            let response = baseline_client(Protocol::Http1)
                .request(post)
                .await
                .expect("an answer");
            assert_eq!(response.status(), hyper::StatusCode::BAD_REQUEST);
            server.abort();
            let sent = transport::Sent {
                requests: 1,
                spans: 0,
                bytes: 3,
            };
            let error =
                check_received("row", sent, count.received()).expect_err("nothing was counted");
            assert!(error.to_string().contains("counted 0 requests"), "{error}");
        });
    }
}
