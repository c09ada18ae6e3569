//! gRPC protocol rules below OTLP: content types and keepalive.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use otlp_grpc::{Client, Server};
use otlp_transport::{ErrorKind, Outcome, Signal};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tower::ServiceExt;

use crate::support::{self, Recorder, serve, start, within};

/// Sends one empty, uncompressed gRPC message to `path` with `content_type`,
/// the way a plain HTTP/2 client would, and returns the HTTP status and the
/// `grpc-status` (from the headers of a trailers-only answer, or the trailers).
async fn post(addr: SocketAddr, path: &str, content_type: Option<&str>) -> (StatusCode, String) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let mut request = Request::post(format!("http://{addr}{path}")).header("te", "trailers");
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let body = tonic::body::Body::new(Full::new(Bytes::from_static(&[0; 5])));
    let response = within(channel.oneshot(request.body(body).unwrap()))
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let trailers = within(body.collect()).await.unwrap().trailers().cloned();
    let grpc_status = parts
        .headers
        .get("grpc-status")
        .or_else(|| trailers.as_ref()?.get("grpc-status"))
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (parts.status, grpc_status)
}

const STREAM_PATH: &str = "/otlprs.stream.v1.ExportStream/Export";

#[tokio::test]
async fn a_call_that_is_not_grpc_is_answered_415() {
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let addr = server.local_addr();
    for path in [Signal::Traces.grpc_path(), STREAM_PATH] {
        for content_type in [
            None,
            Some("application/json"),
            Some("application/x-protobuf"),
            Some("application/grpc-web"),
            Some("text/plain"),
        ] {
            let (status, grpc_status) = post(addr, path, content_type).await;
            assert_eq!(
                status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{path} {content_type:?}"
            );
            // INVALID_ARGUMENT, as grpc-go answers, for gRPC clients that read it.
            assert_eq!(grpc_status, "3", "{path} {content_type:?}");
        }
    }
    assert_eq!(sink.count(), 0);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn a_grpc_call_in_another_codec_is_unimplemented() {
    let server = serve(Recorder::new()).await;
    for content_type in ["application/grpc+json", "application/grpc+cbor"] {
        let (status, grpc_status) = post(
            server.local_addr(),
            Signal::Logs.grpc_path(),
            Some(content_type),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{content_type}");
        assert_eq!(grpc_status, "12", "{content_type}");
    }
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn every_spelling_of_grpc_protobuf_is_accepted() {
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let spellings = [
        "application/grpc",
        "application/grpc+proto",
        "Application/GRPC+Proto",
        "application/grpc; charset=utf-8",
    ];
    for content_type in spellings {
        let (status, grpc_status) = post(
            server.local_addr(),
            Signal::Metrics.grpc_path(),
            Some(content_type),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{content_type}");
        assert_eq!(grpc_status, "0", "{content_type}");
    }
    assert_eq!(sink.count(), spellings.len());
    within(server.shutdown()).await.unwrap();
}

/// Forwards TCP connections to `target`. Sending on the returned channel
/// freezes the connections open at that moment: they stay open but carry no
/// more bytes either way, like a peer gone without a FIN (a pulled cable, a
/// forgotten NAT entry). Later connections are forwarded as before.
async fn freezable_proxy(target: SocketAddr) -> (SocketAddr, broadcast::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (freeze, _) = broadcast::channel(1);
    let freezer = freeze.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut frozen = freezer.subscribe();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = frozen.recv() => std::future::pending::<()>().await,
                }
            });
        }
    });
    (addr, freeze)
}

#[tokio::test]
async fn keepalive_finds_a_peer_that_vanished_without_closing() {
    let sink = Recorder::new();
    // The frozen connection would hold the server's drain: see the next test.
    let server = start(
        Server::builder().drain_timeout(Duration::from_millis(100)),
        sink.clone(),
    )
    .await;
    let (addr, freeze) = freezable_proxy(server.local_addr()).await;
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        // One connection, so the export after the freeze rides the frozen one.
        .connections(1)
        // Far beyond `within`'s patience: only the keepalive can end the call.
        .timeout(support::PATIENCE * 10)
        .keepalive(Duration::from_millis(100), Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(
        within(client.export(support::traces(3))).await.unwrap(),
        Outcome::Success
    );

    freeze.send(()).unwrap();
    let error = within(client.export(support::traces(3))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");

    // The dead connection is dropped; a new one carries the next export.
    assert_eq!(
        within(client.export(support::traces(3))).await.unwrap(),
        Outcome::Success
    );
    assert_eq!(sink.count(), 2);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn shutdown_is_bounded_when_a_client_vanished_without_closing() {
    let sink = Recorder::new();
    let server = start(
        Server::builder().drain_timeout(Duration::from_millis(300)),
        sink.clone(),
    )
    .await;
    let addr = server.local_addr();
    let (proxy, freeze) = freezable_proxy(addr).await;
    let client = Client::builder()
        .endpoint(format!("http://{proxy}"))
        .connections(1)
        .build()
        .unwrap();
    within(client.export(support::traces(3))).await.unwrap();
    freeze.send(()).unwrap();
    // The client's connection stays open and silent: without the drain
    // timeout the server would wait for it forever.
    within(server.shutdown()).await.unwrap();
    assert_eq!(sink.count(), 1);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the port is closed after shutdown"
    );
}
