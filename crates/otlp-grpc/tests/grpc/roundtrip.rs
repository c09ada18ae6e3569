//! Every signal with every compression, decoded and encoded hand-off, and the
//! sink's answers as the client sees them.

use std::time::Duration;

use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use otlp_transport::{ErrorKind, Outcome, Payload, SinkError, WireFormat};

use crate::support::{self, Recorder, client_for, requests, serve, within};

const COMPRESSIONS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Deflate,
    Compression::Zstd,
    Compression::Snappy,
];

#[tokio::test]
async fn every_signal_with_every_compression_arrives_decoded() {
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let mut sent = Vec::new();
    for compression in COMPRESSIONS {
        let client = client_for(&server)
            .compression(compression)
            .build()
            .unwrap();
        assert_eq!(client.wire_format().compression(), compression);
        for request in requests() {
            let outcome = within(client.export(request.clone())).await;
            assert_eq!(outcome.unwrap(), Outcome::Success, "{compression}");
            sent.push(request);
        }
    }
    let received: Vec<_> = sink
        .received()
        .into_iter()
        .map(|payload| match payload {
            Payload::Request(request) => request,
            Payload::Encoded(_) => panic!("the sink asked for decoded payloads"),
        })
        .collect();
    assert_eq!(received, sent);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn an_encoded_sink_gets_the_bytes_as_sent() {
    let sink = Recorder::encoded();
    let server = serve(sink.clone()).await;
    for compression in COMPRESSIONS {
        let client = client_for(&server)
            .compression(compression)
            .build()
            .unwrap();
        for request in requests() {
            let encoded = client
                .wire_format()
                .encode(Payload::from(request.clone()))
                .unwrap();
            let outcome = within(client.export(encoded.clone())).await.unwrap();
            assert_eq!(outcome, Outcome::Success);
            let Some(Payload::Encoded(got)) = sink.received().pop() else {
                panic!("the sink asked for encoded payloads");
            };
            assert_eq!(
                got, encoded,
                "{compression}: the very bytes, codec and compression"
            );
            assert_eq!(got.decode(1 << 20).unwrap(), request);
        }
    }
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn payloads_in_another_compression_are_recompressed_once() {
    let sink = Recorder::encoded();
    let server = serve(sink.clone()).await;
    let client = client_for(&server)
        .compression(Compression::Zstd)
        .build()
        .unwrap();
    let gzip = WireFormat::new(Codec::Protobuf, Encoder::new(Compression::Gzip))
        .encode(Payload::from(support::traces(20)))
        .unwrap();
    within(client.export(gzip)).await.unwrap();
    let Some(Payload::Encoded(got)) = sink.received().pop() else {
        panic!("encoded");
    };
    assert_eq!(got.compression(), Compression::Zstd);
    assert_eq!(got.decode(1 << 20).unwrap(), support::traces(20));
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn partial_success_round_trips_and_is_not_an_error() {
    let answer = Outcome::PartialSuccess {
        rejected: 3,
        message: "3 spans had no trace id".into(),
    };
    let server = serve(Recorder::answering(Ok(answer.clone()))).await;
    let client = client_for(&server).build().unwrap();
    for request in requests() {
        assert_eq!(within(client.export(request)).await.unwrap(), answer);
    }
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn throttling_carries_the_retry_delay() {
    let server = serve(Recorder::answering(Err(SinkError::Throttled {
        retry_after: Duration::from_millis(2500),
        message: "queue full".into(),
    })))
    .await;
    let client = client_for(&server).build().unwrap();
    let error = within(client.export(support::traces(5))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Throttled);
    assert_eq!(error.retry_after(), Some(Duration::from_millis(2500)));
    assert!(error.message().contains("RESOURCE_EXHAUSTED"), "{error}");
    assert!(error.message().contains("queue full"), "{error}");
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn sink_errors_become_their_statuses() {
    let cases = [
        (
            SinkError::Unavailable {
                retry_after: None,
                message: "starting".into(),
            },
            ErrorKind::Retryable,
            "UNAVAILABLE",
            None,
        ),
        (
            SinkError::Unavailable {
                retry_after: Some(Duration::from_secs(3)),
                message: "downstream outage".into(),
            },
            ErrorKind::Throttled,
            "UNAVAILABLE",
            Some(Duration::from_secs(3)),
        ),
        (
            SinkError::InvalidData("no resource".into()),
            ErrorKind::Permanent,
            "INVALID_ARGUMENT",
            None,
        ),
        (
            SinkError::Internal("disk full".into()),
            ErrorKind::Permanent,
            "INTERNAL",
            None,
        ),
    ];
    for (answer, kind, code, delay) in cases {
        let server = serve(Recorder::answering(Err(answer))).await;
        let client = client_for(&server).build().unwrap();
        let error = within(client.export(support::traces(2))).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.retry_after(), delay, "{error}");
        assert!(error.message().contains(code), "{error}");
        within(server.shutdown()).await.unwrap();
    }
}

#[tokio::test]
async fn calls_go_round_robin_across_endpoints() {
    let (a, b) = (Recorder::new(), Recorder::new());
    let (server_a, server_b) = (serve(a.clone()).await, serve(b.clone()).await);
    let client = otlp_grpc::Client::builder()
        .endpoints([
            format!("http://{}", server_a.local_addr()),
            server_b.local_addr().to_string(),
        ])
        .connections(3)
        .build()
        .unwrap();
    for _ in 0..12 {
        within(client.export(support::traces(1))).await.unwrap();
    }
    assert_eq!((a.count(), b.count()), (6, 6));
    within(server_a.shutdown()).await.unwrap();
    within(server_b.shutdown()).await.unwrap();
}

#[tokio::test]
async fn calls_in_flight_stay_under_the_limit() {
    let sink = Recorder::holding(Duration::from_millis(30));
    let server = serve(sink.clone()).await;
    let client = client_for(&server).concurrency_limit(3).build().unwrap();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.export(support::traces(1)).await })
        })
        .collect();
    for call in calls {
        within(call).await.unwrap().unwrap();
    }
    let max = sink.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=3).contains(&max), "{max} calls in flight");
    assert_eq!(sink.count(), 12);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn a_payload_in_another_codec_is_refused_before_sending() {
    use tower::ServiceExt;
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let client = client_for(&server).build().unwrap();
    let json = otlp_transport::Encoded::new(
        otlp_transport::Signal::Logs,
        Codec::Json,
        Compression::None,
        bytes::Bytes::from_static(b"{}"),
    );
    let error = within(client.oneshot(json)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert_eq!(sink.count(), 0);
    within(server.shutdown()).await.unwrap();
}
