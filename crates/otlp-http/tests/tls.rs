//! TLS and mTLS with certificates made for each test (rcgen).
#![cfg(feature = "tls")]

mod support;

use otlp_http::{Client, Protocol, Server, tls};
use otlp_transport::{ErrorKind, Outcome, Signal};
use support::{Recorder, request};

struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn make_pki() -> Pki {
    let ca = otlp_datagen::pki::Pki::new();
    let pair = |leaf: otlp_datagen::pki::Leaf| (leaf.cert_pem, leaf.key_pem);
    Pki {
        server: pair(ca.leaf(&["localhost"])),
        client: pair(ca.leaf(&["exporter"])),
        ca: ca.ca_pem().to_owned(),
    }
}

async fn serve(pki: &Pki, mtls: bool) -> (otlp_http::ServerHandle, std::sync::Arc<Recorder>) {
    let config = tls::server_config(
        pki.server.0.as_bytes(),
        pki.server.1.as_bytes(),
        mtls.then_some(pki.ca.as_bytes()),
    )
    .unwrap();
    let sink = Recorder::new();
    let server = Server::builder()
        .tls(config)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    (server, sink)
}

fn client(port: u16, protocol: Protocol, config: rustls::ClientConfig) -> Client {
    Client::builder()
        .endpoint(format!("https://localhost:{port}"))
        .protocol(protocol)
        .tls(config)
        .build()
        .unwrap()
}

#[tokio::test]
async fn tls_over_http1_and_http2_by_alpn() {
    let pki = make_pki();
    let (server, sink) = serve(&pki, false).await;
    let port = server.local_addr().port();
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let config = tls::client_config(pki.ca.as_bytes(), None).unwrap();
        let outcome = client(port, protocol, config)
            .export(request(Signal::Traces))
            .await;
        assert_eq!(outcome.unwrap(), Outcome::Success, "{protocol:?}");
    }
    assert_eq!(sink.take().len(), 2);

    // A client that trusts another CA refuses the server.
    let stranger = make_pki();
    let config = tls::client_config(stranger.ca.as_bytes(), None).unwrap();
    let error = client(port, Protocol::Http1, config)
        .export(request(Signal::Traces))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    // Plain HTTP to a TLS port gets nowhere.
    let plain = Client::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(plain.export(request(Signal::Traces)).await.is_err());
    assert!(sink.take().is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_ca() {
    let pki = make_pki();
    let (server, sink) = serve(&pki, true).await;
    let port = server.local_addr().port();

    let anonymous = tls::client_config(pki.ca.as_bytes(), None).unwrap();
    let error = client(port, Protocol::Http1, anonymous)
        .export(request(Signal::Logs))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");

    let stranger = make_pki();
    let foreign = tls::client_config(
        pki.ca.as_bytes(),
        Some((stranger.client.0.as_bytes(), stranger.client.1.as_bytes())),
    )
    .unwrap();
    assert!(
        client(port, Protocol::Http2, foreign)
            .export(request(Signal::Logs))
            .await
            .is_err()
    );
    assert!(sink.take().is_empty());

    for protocol in [Protocol::Http1, Protocol::Http2] {
        let identified = tls::client_config(
            pki.ca.as_bytes(),
            Some((pki.client.0.as_bytes(), pki.client.1.as_bytes())),
        )
        .unwrap();
        let outcome = client(port, protocol, identified)
            .export(request(Signal::Logs))
            .await;
        assert_eq!(outcome.unwrap(), Outcome::Success, "{protocol:?}");
    }
    assert_eq!(sink.take().len(), 2);
    server.shutdown().await.unwrap();
}

#[test]
fn https_without_tls_settings_trusts_the_system_roots() {
    let built = Client::builder().endpoint("https://localhost:4318").build();
    if cfg!(feature = "tls-native-roots") {
        // Built where the machine has root certificates; where it has none,
        // the error says what to install. (`otlp`'s `exporter_tls` tests
        // export through a stand-in system store.)
        if let Err(error) = built {
            assert!(error.to_string().contains("system root"), "{error}");
        }
    } else {
        let error = built.unwrap_err();
        assert!(matches!(error, otlp_http::BuildError::Tls(_)), "{error}");
    }
    assert!(matches!(
        tls::server_config(b"not pem", b"", None),
        Err(tls::TlsError::Certificates { .. })
    ));
}
