//! What the receiver refuses: too large, bombs, garbage, strangers.

use bytes::Bytes;
use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder, Level};
use otlp_grpc::{BindError, Server};
use otlp_transport::{Encoded, ErrorKind, Payload, Signal, WireFormat};

use crate::support::{self, Recorder, client_for, start, within};

const LIMIT: usize = 64 << 10;

fn assert_status(error: &otlp_transport::ExportError, kind: ErrorKind, code: &str) {
    assert_eq!(error.kind(), kind, "{error}");
    assert!(error.message().contains(code), "{error}");
}

#[tokio::test]
async fn a_request_over_the_limit_is_resource_exhausted() {
    let sink = Recorder::new();
    let server = start(Server::builder().max_request_size(LIMIT), sink.clone()).await;
    let big = support::traces(2000);
    assert!(big.encoded_len() > LIMIT);
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let client = client_for(&server)
            .compression(compression)
            .build()
            .unwrap();
        let error = within(client.export(big.clone())).await.unwrap_err();
        // Not retryable: RESOURCE_EXHAUSTED without RetryInfo.
        assert_status(&error, ErrorKind::Permanent, "RESOURCE_EXHAUSTED");
    }
    // Under the limit, the same server takes it.
    let client = client_for(&server).build().unwrap();
    within(client.export(support::traces(10))).await.unwrap();
    assert_eq!(sink.count(), 1);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn decompression_bombs_are_resource_exhausted() {
    let sink = Recorder::new();
    let limit = 1 << 20;
    let server = start(Server::builder().max_request_size(limit), sink.clone()).await;
    // 64 times the limit once inflated.
    let zeros = vec![0u8; 64 << 20];
    for compression in [Compression::Gzip, Compression::Zstd, Compression::Deflate] {
        let mut bomb = Vec::new();
        Encoder::new(compression)
            .with_level(Level::Best)
            .compress(&zeros, &mut bomb)
            .unwrap();
        assert!(bomb.len() < limit, "{compression}: {} bytes", bomb.len());
        let encoded = Encoded::new(Signal::Traces, Codec::Protobuf, compression, bomb.into());
        let client = client_for(&server)
            .compression(compression)
            .build()
            .unwrap();
        let error = within(client.export(encoded)).await.unwrap_err();
        assert_status(&error, ErrorKind::Permanent, "RESOURCE_EXHAUSTED");
    }
    assert_eq!(sink.count(), 0);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn undecodable_data_is_invalid_argument() {
    let sink = Recorder::new();
    let server = start(Server::builder(), sink.clone()).await;
    let client = client_for(&server).build().unwrap();
    let garbage = Encoded::new(
        Signal::Metrics,
        Codec::Protobuf,
        Compression::None,
        Bytes::from_static(b"\x0a\xff\xff\xff\xff\x0f"),
    );
    let error = within(client.export(garbage)).await.unwrap_err();
    assert_status(&error, ErrorKind::Permanent, "INVALID_ARGUMENT");
    let corrupt_gzip = Encoded::new(
        Signal::Logs,
        Codec::Protobuf,
        Compression::Gzip,
        Bytes::from_static(b"\x1f\x8b\x08\x00garbage"),
    );
    let gzip_client = client_for(&server)
        .compression(Compression::Gzip)
        .build()
        .unwrap();
    let error = within(gzip_client.export(corrupt_gzip)).await.unwrap_err();
    assert_status(&error, ErrorKind::Permanent, "INVALID_ARGUMENT");
    assert_eq!(sink.count(), 0);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn bearer_token_is_required_when_set() {
    let sink = Recorder::new();
    let server = start(Server::builder().bearer_token("s3cret"), sink.clone()).await;
    let right = client_for(&server).bearer_token("s3cret").build().unwrap();
    within(right.export(support::traces(1))).await.unwrap();

    let wrong = client_for(&server).bearer_token("guess").build().unwrap();
    let none = client_for(&server).build().unwrap();
    for client in [wrong, none] {
        let error = within(client.export(support::traces(1))).await.unwrap_err();
        assert_status(&error, ErrorKind::Permanent, "UNAUTHENTICATED");
        assert!(!error.to_string().contains("s3cret"));
    }
    assert_eq!(sink.count(), 1);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn the_request_limit_is_checked_at_bind() {
    for size in [0, (64 << 20) + 1] {
        let error = Server::builder()
            .max_request_size(size)
            .bind("127.0.0.1:0")
            .await
            .unwrap_err();
        assert!(matches!(error, BindError::MaxRequestSize(s) if s == size));
    }
    let error = Server::builder()
        .bearer_token("line\nbreak")
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert!(matches!(error, BindError::InvalidToken));
    assert!(
        Server::builder()
            .max_request_size(64 << 20)
            .bind("127.0.0.1:0")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_client_caps_what_it_sends() {
    let sink = Recorder::new();
    let server = start(Server::builder(), sink.clone()).await;
    let client = client_for(&server).max_request_size(1024).build().unwrap();
    let error = within(client.export(support::traces(100)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    let big = WireFormat::new(Codec::Protobuf, Encoder::new(Compression::None))
        .encode(Payload::from(support::traces(100)))
        .unwrap();
    let error = within(client.export(big)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert_eq!(sink.count(), 0);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn unknown_encodings_and_methods_are_unimplemented() {
    use http::{Request, Uri};
    use tonic::body::Body;
    use tower::ServiceExt;

    let server = start(Server::builder(), Recorder::new()).await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr()))
            .unwrap()
            .connect_lazy();
    let call = |path: &'static str, encoding: &'static str| {
        let mut request =
            Request::new(Body::new(http_body_util::Full::new(Bytes::from_static(&[
                1, 0, 0, 0, 0,
            ]))));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = Uri::from_static(path);
        let headers = request.headers_mut();
        headers.insert("content-type", "application/grpc".parse().unwrap());
        headers.insert("te", "trailers".parse().unwrap());
        headers.insert("grpc-encoding", encoding.parse().unwrap());
        let channel = channel.clone();
        async move {
            let response = channel.oneshot(request).await.unwrap();
            let accept = response.headers().get("grpc-accept-encoding").cloned();
            let status = tonic::Status::from_header_map(response.headers()).unwrap();
            (status, accept)
        }
    };
    let (status, accept) = within(call(Signal::Traces.grpc_path(), "br")).await;
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    let accept = accept.unwrap();
    let accept = accept.to_str().unwrap();
    for name in ["gzip", "deflate", "zstd", "snappy", "identity"] {
        assert!(accept.contains(name), "{accept}");
    }
    let (status, _) = within(call(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Stream",
        "gzip",
    ))
    .await;
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn max_concurrent_streams_bounds_calls_per_connection() {
    let sink = Recorder::holding(std::time::Duration::from_millis(30));
    let server = start(Server::builder().max_concurrent_streams(1), sink.clone()).await;
    let client = client_for(&server).connections(1).build().unwrap();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.export(support::traces(1)).await })
        })
        .collect();
    for call in calls {
        within(call).await.unwrap().unwrap();
    }
    assert_eq!(
        sink.max_in_flight.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(sink.count(), 4);
    within(server.shutdown()).await.unwrap();
}
