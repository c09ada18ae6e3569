//! `Receiver`: gRPC, HTTP and WebSocket listeners on 127.0.0.1 feeding one
//! sink, end to end with each transport's client.
#![cfg(all(feature = "grpc", feature = "http", feature = "ws"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use otlp::Receiver;
use otlp::receiver::ReceiverError;
use otlp_transport::{ErrorKind, ExportRequest, Outcome, Payload, Sink, SinkError};

const BOUND: Duration = Duration::from_secs(30);

/// Counts the log records it is given.
#[derive(Clone, Default)]
struct Count(Arc<AtomicUsize>);

#[async_trait::async_trait]
impl Sink for Count {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let request = payload
            .into_request(4 << 20)
            .map_err(|e| SinkError::InvalidData(e.to_string()))?;
        self.0.fetch_add(request.record_count(), Ordering::Relaxed);
        Ok(Outcome::Success)
    }
}

fn logs(records: usize) -> ExportRequest {
    ExportRequest::from(
        otlp_datagen::Generator::new(3)
            .resources(1)
            .records(records)
            .logs(),
    )
}

#[tokio::test]
async fn every_listener_feeds_the_one_sink() {
    let sink = Count::default();
    let receiver = Receiver::builder()
        .grpc("127.0.0.1:0")
        .http("127.0.0.1:0")
        .websocket("/otlp-ws")
        .bearer_token("s3cret")
        .start(sink.clone())
        .await
        .unwrap();
    let grpc = receiver.grpc_addr().unwrap();
    let http = receiver.http_addr().unwrap();
    assert_eq!(receiver.websocket_path(), Some("/otlp-ws"));

    let grpc_client = otlp_grpc::Client::builder()
        .endpoint(format!("http://{grpc}"))
        .bearer_token("s3cret")
        .build()
        .unwrap();
    let http_client = otlp_http::Client::builder()
        .endpoint(format!("http://{http}"))
        .bearer_token("s3cret")
        .build()
        .unwrap();
    let ws_client = otlp_ws::Client::builder()
        .endpoint(format!("ws://{http}/otlp-ws"))
        .bearer_token("s3cret")
        .build()
        .unwrap();
    tokio::time::timeout(BOUND, async {
        assert_eq!(
            grpc_client.export(logs(10)).await.unwrap(),
            Outcome::Success
        );
        assert_eq!(
            http_client.export(logs(20)).await.unwrap(),
            Outcome::Success
        );
        assert_eq!(ws_client.export(logs(30)).await.unwrap(), Outcome::Success);
    })
    .await
    .unwrap();
    assert_eq!(sink.0.load(Ordering::Relaxed), 60);

    // The token is asked on every listener.
    let stranger = otlp_http::Client::builder()
        .endpoint(format!("http://{http}"))
        .build()
        .unwrap();
    let refused = tokio::time::timeout(BOUND, stranger.export(logs(1)))
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::Permanent);
    assert_eq!(sink.0.load(Ordering::Relaxed), 60);

    ws_client.close().await;
    let problems = tokio::time::timeout(BOUND, receiver.shutdown())
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn settings_that_cannot_work_are_errors_before_anything_listens() {
    let start = |builder: otlp::receiver::ReceiverBuilder| builder.start(Count::default());
    assert!(matches!(
        start(Receiver::builder()).await,
        Err(ReceiverError::NoListener)
    ));
    assert!(matches!(
        start(Receiver::builder().grpc("127.0.0.1:0").websocket("/ws")).await,
        Err(ReceiverError::WebSocketWithoutHttp)
    ));
    assert!(matches!(
        start(Receiver::builder().http("127.0.0.1:0").websocket("ws")).await,
        Err(ReceiverError::InvalidPath(_))
    ));
    assert!(matches!(
        start(
            Receiver::builder()
                .http("127.0.0.1:0")
                .client_ca("not a CA")
        )
        .await,
        Err(ReceiverError::Tls(_))
    ));
}

#[tokio::test]
async fn a_taken_port_is_an_error_naming_the_transport_and_address() {
    let first = Receiver::builder()
        .http("127.0.0.1:0")
        .start(Count::default())
        .await
        .unwrap();
    let taken = first.http_addr().unwrap().to_string();
    let error = Receiver::builder()
        .http(taken.clone())
        .start(Count::default())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            ReceiverError::Bind {
                transport: "HTTP",
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains(&taken), "{message}");
    first.shutdown().await;
}
