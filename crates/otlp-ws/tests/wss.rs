//! `wss://` end to end on 127.0.0.1, with certificates made for each test.
#![cfg(feature = "tls")]

mod support;

use std::time::Duration;

use otlp_datagen::pki::{Leaf, Pki};
use otlp_transport::{ErrorKind, Outcome, Payload, Signal};
use otlp_ws::{Client, Server, tls};
use support::{BOUND, Recorder, request};

async fn serve(
    server: &Leaf,
    client_ca: Option<&str>,
) -> (otlp_ws::ServerHandle, std::sync::Arc<Recorder>) {
    let config = tls::server_config(
        server.cert_pem.as_bytes(),
        server.key_pem.as_bytes(),
        client_ca.map(str::as_bytes),
    )
    .unwrap();
    let sink = Recorder::new();
    let handle = Server::builder()
        .tls(config)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    (handle, sink)
}

fn client(port: u16, config: rustls::ClientConfig) -> Client {
    Client::builder()
        .endpoint(format!("wss://localhost:{port}"))
        .tls(config)
        .timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

async fn delivered(sink: &Recorder) -> Vec<Signal> {
    sink.take().iter().map(Payload::signal).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_delivers_every_signal_to_a_trusted_server() {
    let pki = Pki::new();
    let (server, sink) = serve(&pki.leaf(&["localhost"]), None).await;
    let client = client(
        server.local_addr().port(),
        tls::client_config(pki.ca_pem().as_bytes(), None).unwrap(),
    );
    for signal in Signal::ALL {
        let outcome = tokio::time::timeout(BOUND, client.export(request(signal)))
            .await
            .unwrap();
        assert_eq!(outcome.unwrap(), Outcome::Success, "{signal}");
    }
    assert_eq!(delivered(&sink).await, Signal::ALL.to_vec());
    assert_eq!(client.stats().connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_refuses_a_server_signed_by_another_ca() {
    let pki = Pki::new();
    let stranger = Pki::new();
    let (server, sink) = serve(&pki.leaf(&["localhost"]), None).await;
    let client = client(
        server.local_addr().port(),
        tls::client_config(stranger.ca_pem().as_bytes(), None).unwrap(),
    );
    let error = tokio::time::timeout(BOUND, client.export(request(Signal::Traces)))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    assert!(client.stats().connect_failures() >= 1);
    assert!(delivered(&sink).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_mutual_tls_needs_a_client_certificate_from_the_ca() {
    let pki = Pki::new();
    let (server, sink) = serve(&pki.leaf(&["localhost"]), Some(pki.ca_pem())).await;
    let port = server.local_addr().port();
    let ca = pki.ca_pem().as_bytes();

    let anonymous = client(port, tls::client_config(ca, None).unwrap());
    let refused = tokio::time::timeout(BOUND, anonymous.export(request(Signal::Logs)))
        .await
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");

    let foreign = Pki::new().leaf(&["exporter"]);
    let impostor = client(
        port,
        tls::client_config(
            ca,
            Some((foreign.cert_pem.as_bytes(), foreign.key_pem.as_bytes())),
        )
        .unwrap(),
    );
    let refused = tokio::time::timeout(BOUND, impostor.export(request(Signal::Logs)))
        .await
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");
    assert!(delivered(&sink).await.is_empty());

    let identity = pki.leaf(&["exporter"]);
    let trusted = client(
        port,
        tls::client_config(
            ca,
            Some((identity.cert_pem.as_bytes(), identity.key_pem.as_bytes())),
        )
        .unwrap(),
    );
    let outcome = tokio::time::timeout(BOUND, trusted.export(request(Signal::Logs)))
        .await
        .unwrap();
    assert_eq!(outcome.unwrap(), Outcome::Success);
    assert_eq!(delivered(&sink).await, vec![Signal::Logs]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_client_is_not_served_by_a_wss_server() {
    let pki = Pki::new();
    let (server, sink) = serve(&pki.leaf(&["localhost"]), None).await;
    let plain = Client::builder()
        .endpoint(format!("ws://localhost:{}", server.local_addr().port()))
        .timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let refused = tokio::time::timeout(BOUND, plain.export(request(Signal::Metrics)))
        .await
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");
    assert!(delivered(&sink).await.is_empty());
}

#[test]
fn wss_without_settings_is_refused_or_uses_the_system_store() {
    let built = Client::builder().endpoint("wss://localhost:1").build();
    #[cfg(feature = "tls-native-roots")]
    {
        // The system store may be empty in a container: then the error says
        // how to fix it.
        if let Err(error) = built {
            assert!(error.to_string().contains("SSL_CERT_FILE"), "{error}");
        }
    }
    #[cfg(not(feature = "tls-native-roots"))]
    {
        let error = built.unwrap_err();
        assert!(error.to_string().contains("ClientBuilder::tls"), "{error}");
    }
}
