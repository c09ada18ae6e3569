//! Health, graceful shutdown, deadlines, unreachable servers.

use std::sync::Arc;
use std::time::Duration;

use otlp_grpc::{Client, Server};
use otlp_transport::{ErrorKind, Outcome, Signal};
use tokio::sync::Semaphore;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{self, Recorder, client_for, serve, within};

#[tokio::test]
async fn health_reports_every_service_serving() {
    let server = serve(Recorder::new()).await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr()))
            .unwrap()
            .connect_lazy();
    let mut health = HealthClient::new(channel);
    let services = Signal::ALL.map(Signal::grpc_service);
    for service in std::iter::once("").chain(services) {
        let response = within(health.check(HealthCheckRequest {
            service: service.into(),
        }))
        .await
        .unwrap();
        assert_eq!(
            response.into_inner().status(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
    let unknown = within(health.check(HealthCheckRequest {
        service: "nope".into(),
    }))
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn shutdown_answers_the_calls_in_flight() {
    let gate = Arc::new(Semaphore::new(0));
    let sink = Recorder::gated(gate.clone());
    let server = serve(sink.clone()).await;
    let addr = server.local_addr();
    let client = client_for(&server).build().unwrap();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.export(support::traces(3)).await })
        })
        .collect();
    within(sink.entered.acquire_many(3)).await.unwrap().forget();
    let shutdown = tokio::spawn(server.shutdown());
    // The calls are held in the sink while the server drains; let them go.
    tokio::task::yield_now().await;
    gate.add_permits(3);
    for call in calls {
        assert_eq!(within(call).await.unwrap().unwrap(), Outcome::Success);
    }
    within(shutdown).await.unwrap().unwrap();
    assert_eq!(sink.count(), 3);

    // Stopped: nothing listens any more.
    let late = Client::builder()
        .endpoint(format!("http://{addr}"))
        .timeout(support::PATIENCE)
        .build()
        .unwrap();
    let error = within(late.export(support::traces(1))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
}

#[tokio::test]
async fn serve_stops_on_its_shutdown_future() {
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(Recorder::new(), async {
        let _ = stopped.await;
    }));
    stop.send(()).unwrap();
    within(serving).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_call_past_its_deadline_is_retryable() {
    // The sink never answers: its gate gets no permit.
    let sink = Recorder::gated(Arc::new(Semaphore::new(0)));
    let server = serve(sink.clone()).await;
    let client = client_for(&server)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = within(client.export(support::traces(1))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    assert!(error.message().contains("DEADLINE_EXCEEDED"), "{error}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let error = within(client.export(support::traces(1))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    assert!(error.message().contains(&addr.to_string()), "{error}");
}

#[test]
fn build_needs_no_runtime_and_checks_its_input() {
    let client = Client::builder()
        .endpoint("localhost:4317")
        .metadata("x-tenant", "a")
        .build();
    assert!(client.is_ok());
    assert!(matches!(
        Client::builder().build(),
        Err(otlp_grpc::BuildError::NoEndpoint)
    ));
    assert!(matches!(
        Client::builder().endpoint("http://[::1").build(),
        Err(otlp_grpc::BuildError::InvalidEndpoint { .. })
    ));
    assert!(matches!(
        Client::builder()
            .endpoint("localhost:4317")
            .metadata("bad name", "x")
            .build(),
        Err(otlp_grpc::BuildError::InvalidMetadata { .. })
    ));
    assert!(matches!(
        Client::builder()
            .endpoint("localhost:4317")
            .connections(0)
            .build(),
        Err(otlp_grpc::BuildError::Zero("connections"))
    ));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Client>();
    check::<Server>();
    check::<otlp_grpc::ServerHandle>();
    check::<otlp_grpc::BuildError>();
    check::<otlp_grpc::BindError>();
    check::<otlp_grpc::ServeError>();
    fn export_service<S: otlp_transport::ExportService>() {}
    export_service::<Client>();
}
