//! The streaming extension: in-order acks, the outcome vocabulary, the window,
//! fallback to unary calls, and ending streams on shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use otlp_compression::Compression;
use otlp_grpc::{Client, Server};
use otlp_transport::{Encoded, ErrorKind, Outcome, Payload, Signal, SinkError};

use crate::interop::{PlainTraces, plain_server};
use crate::support::{self, Recorder, client_for, requests, serve, start, within};

#[tokio::test]
async fn every_signal_streams_with_every_compression() {
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let mut sent = Vec::new();
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Snappy,
        Compression::Deflate,
    ] {
        let client = client_for(&server)
            .streaming(4)
            .compression(compression)
            .build()
            .unwrap();
        for _ in 0..2 {
            for request in requests() {
                let outcome = within(client.export(request.clone())).await.unwrap();
                assert_eq!(outcome, Outcome::Success, "{compression}");
                sent.push(Payload::from(request));
            }
        }
    }
    assert_eq!(sink.received(), sent);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn concurrent_calls_share_one_stream_in_order() {
    // One stream per signal is served one request after another, so the sink
    // never sees two at once; unary calls would overlap.
    let sink = Recorder::holding(Duration::from_millis(10));
    let server = serve(sink.clone()).await;
    let client = client_for(&server).streaming(3).build().unwrap();
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.export(support::traces(i + 1)).await })
        })
        .collect();
    for call in calls {
        assert_eq!(within(call).await.unwrap().unwrap(), Outcome::Success);
    }
    assert_eq!(sink.count(), 10);
    assert_eq!(sink.max_in_flight.load(Ordering::SeqCst), 1);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn acks_carry_partial_success_and_errors() {
    let partial = Outcome::PartialSuccess {
        rejected: 4,
        message: "four too old".into(),
    };
    let server = serve(Recorder::answering(Ok(partial.clone()))).await;
    let client = client_for(&server).streaming(2).build().unwrap();
    assert_eq!(
        within(client.export(support::traces(5))).await.unwrap(),
        partial
    );
    within(server.shutdown()).await.unwrap();

    let server = serve(Recorder::answering(Err(SinkError::Throttled {
        retry_after: Duration::from_secs(7),
        message: "slow down".into(),
    })))
    .await;
    let client = client_for(&server).streaming(2).build().unwrap();
    for _ in 0..2 {
        let error = within(client.export(support::traces(5))).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Throttled, "{error}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    }
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn a_bad_request_is_answered_and_the_stream_goes_on() {
    let sink = Recorder::new();
    let server = start(Server::builder().max_request_size(4096), sink.clone()).await;
    let client = client_for(&server).streaming(2).build().unwrap();
    let garbage = Encoded::new(
        Signal::Logs,
        otlp_codec::Codec::Protobuf,
        Compression::None,
        bytes::Bytes::from_static(b"\x0a\xff\xff\xff\xff\x0f"),
    );
    let error = within(client.export(garbage)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert!(error.message().contains("INVALID_ARGUMENT"), "{error}");
    let error = within(client.export(support::traces(500)))
        .await
        .unwrap_err();
    assert!(error.message().contains("RESOURCE_EXHAUSTED"), "{error}");
    within(client.export(support::logs())).await.unwrap();
    assert_eq!(sink.count(), 1);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn falls_back_to_unary_when_the_server_has_no_stream_service() {
    let service = PlainTraces::default();
    let (addr, stop) = plain_server(service.clone()).await;
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .streaming(4)
        .timeout(support::PATIENCE)
        .build()
        .unwrap();
    for _ in 0..3 {
        let outcome = within(client.export(support::traces(3))).await.unwrap();
        assert_eq!(outcome.rejected(), 1);
    }
    assert_eq!(service.seen.lock().unwrap().len(), 3);
    let _ = stop.send(());
}

#[tokio::test]
async fn streams_need_the_bearer_token_too() {
    let sink = Recorder::new();
    let server = start(Server::builder().bearer_token("k"), sink.clone()).await;
    let stranger = client_for(&server).streaming(2).build().unwrap();
    let error = within(stranger.export(support::traces(1)))
        .await
        .unwrap_err();
    assert!(error.message().contains("UNAUTHENTICATED"), "{error}");
    let friend = client_for(&server)
        .streaming(2)
        .bearer_token("k")
        .build()
        .unwrap();
    within(friend.export(support::traces(1))).await.unwrap();
    assert_eq!(sink.count(), 1);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let addr = server.local_addr();
    let client = client_for(&server).streaming(2).build().unwrap();
    within(client.export(support::traces(2))).await.unwrap();
    // The stream stays open; the drain must still finish.
    within(server.shutdown()).await.unwrap();
    let error = within(client.export(support::traces(2))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");

    // A new server on the same port: the client opens a new stream.
    let again = Server::builder()
        .bind(addr)
        .await
        .unwrap()
        .spawn(sink.clone());
    within(client.export(support::traces(2))).await.unwrap();
    assert_eq!(sink.count(), 2);
    within(again.shutdown()).await.unwrap();
}

#[tokio::test]
async fn a_full_window_holds_further_requests_back() {
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    // The sink holds every request until the gate opens.
    let gate = Arc::new(Semaphore::new(0));
    let sink = Recorder::gated(gate.clone());
    let server = serve(sink.clone()).await;
    let patient = client_for(&server).streaming(1).build().unwrap();
    let first = tokio::spawn({
        let client = patient.clone();
        async move { client.export(support::traces(1)).await }
    });
    within(sink.entered.acquire()).await.unwrap().forget();

    // A clone shares the stream and its window of one: the request waits in
    // the client, and says so when its deadline passes.
    let hurried = {
        let client = patient.clone();
        tokio::time::timeout(Duration::from_millis(300), async move {
            client.export(support::traces(1)).await
        })
    };
    assert!(
        within(hurried).await.is_err(),
        "held back while the window is full"
    );
    gate.add_permits(1);
    assert_eq!(within(first).await.unwrap().unwrap(), Outcome::Success);

    let impatient = otlp_grpc::Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .streaming(1)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let held = tokio::spawn({
        let client = impatient.clone();
        async move { client.export(support::traces(1)).await }
    });
    within(sink.entered.acquire()).await.unwrap().forget();
    let error = within(impatient.export(support::traces(1)))
        .await
        .unwrap_err();
    assert!(error.message().contains("window"), "{error}");
    assert_eq!(error.kind(), ErrorKind::Retryable);
    gate.add_permits(2);
    let _ = within(held).await.unwrap();
    within(server.shutdown()).await.unwrap();
}
