//! TLS and mutual TLS with certificates made on the spot.

use otlp_datagen::pki::{Leaf, Pki};
use otlp_grpc::{BindError, Client, Server};
use otlp_transport::{ErrorKind, Outcome};

use crate::support::{self, Recorder, start, within};

#[tokio::test]
async fn tls_round_trip_and_untrusted_server_refused() {
    let pki = Pki::new();
    let Leaf {
        cert_pem: cert,
        key_pem: key,
    } = pki.leaf(&["localhost"]);
    let sink = Recorder::new();
    let server = start(Server::builder().tls(&cert, &key), sink.clone()).await;
    let port = server.local_addr().port();

    let client = Client::builder()
        .endpoint(format!("https://localhost:{port}"))
        .tls_ca(pki.ca_pem())
        .timeout(support::PATIENCE)
        .build()
        .unwrap();
    for request in support::requests() {
        assert_eq!(
            within(client.export(request)).await.unwrap(),
            Outcome::Success
        );
    }

    // A client trusting another CA does not get through.
    let stranger = Client::builder()
        .endpoint(format!("localhost:{port}"))
        .tls_ca(Pki::new().ca_pem())
        .timeout(support::PATIENCE)
        .build()
        .unwrap();
    let error = within(stranger.export(support::traces(1)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    assert_eq!(sink.count(), 4);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate() {
    let pki = Pki::new();
    let Leaf {
        cert_pem: server_cert,
        key_pem: server_key,
    } = pki.leaf(&["localhost"]);
    let Leaf {
        cert_pem: client_cert,
        key_pem: client_key,
    } = pki.leaf(&["client"]);
    let sink = Recorder::new();
    let server = start(
        Server::builder()
            .tls(&server_cert, &server_key)
            .client_ca(pki.ca_pem()),
        sink.clone(),
    )
    .await;
    let endpoint = format!("https://localhost:{}", server.local_addr().port());

    let with_identity = Client::builder()
        .endpoint(&endpoint)
        .tls_ca(pki.ca_pem())
        .tls_identity(&client_cert, &client_key)
        .timeout(support::PATIENCE)
        .build()
        .unwrap();
    within(with_identity.export(support::traces(2)))
        .await
        .unwrap();

    let anonymous = Client::builder()
        .endpoint(&endpoint)
        .tls_ca(pki.ca_pem())
        .timeout(support::PATIENCE)
        .build()
        .unwrap();
    let error = within(anonymous.export(support::traces(2)))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");

    let Leaf {
        cert_pem: other_cert,
        key_pem: other_key,
    } = Pki::new().leaf(&["client"]);
    let forged = Client::builder()
        .endpoint(&endpoint)
        .tls_ca(pki.ca_pem())
        .tls_identity(&other_cert, &other_key)
        .timeout(support::PATIENCE)
        .build()
        .unwrap();
    assert!(within(forged.export(support::traces(2))).await.is_err());
    assert_eq!(sink.count(), 1);
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn bad_tls_configuration_fails_at_bind() {
    let error = Server::builder()
        .tls("not a certificate", "not a key")
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert!(matches!(error, BindError::Tls(_)), "{error}");
    let error = Server::builder()
        .client_ca(Pki::new().ca_pem())
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert!(matches!(error, BindError::Tls(_)), "{error}");
}

#[test]
fn https_without_a_ca_needs_the_system_roots() {
    let built = Client::builder().endpoint("https://localhost:4317").build();
    if cfg!(feature = "tls-native-roots") {
        assert!(built.is_ok());
    } else {
        let error = built.unwrap_err();
        assert!(error.to_string().contains("tls_ca"), "{error}");
    }
}
