//! OTLP/gRPC through a forward proxy's `CONNECT` tunnel, as gRPC clients
//! honour `HTTPS_PROXY` / `HTTP_PROXY`.

use otlp_datagen::proxy::TestProxy;
use otlp_grpc::{Client, Server};
use otlp_transport::proxy::{Proxies, Proxy};
use otlp_transport::{ErrorKind, Outcome};

use crate::support::{self, Recorder, serve, start, within};

/// The receiver's name, known only to the proxy (clients never proxy
/// loopback addresses).
const NAME: &str = "collector.test";

#[tokio::test]
async fn plain_grpc_goes_through_a_connect_tunnel_with_the_proxys_credentials() {
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let proxy = TestProxy::with_credentials("otel", "secret").await.unwrap();
    let host_port = proxy.resolve(NAME, server.local_addr());
    let url = proxy.url().replace("http://", "http://otel:secret@");
    let client = Client::builder()
        .endpoint(format!("http://{host_port}"))
        .connections(1)
        .timeout(support::PATIENCE)
        .proxy(Proxies::all(Proxy::parse(&url).unwrap()))
        .build()
        .unwrap();
    for request in support::requests() {
        assert_eq!(
            within(client.export(request)).await.unwrap(),
            Outcome::Success
        );
    }
    assert_eq!(sink.count(), 4);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "one connection, one tunnel: {seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("CONNECT", host_port.as_str())
    );
    assert!(
        seen[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn grpc_over_tls_goes_through_a_connect_tunnel_and_checks_the_receivers_name() {
    let pki = otlp_datagen::pki::Pki::new();
    let leaf = pki.leaf(&[NAME]);
    let sink = Recorder::new();
    let server = start(
        Server::builder().tls(&leaf.cert_pem, &leaf.key_pem),
        sink.clone(),
    )
    .await;
    let proxy = TestProxy::start().await.unwrap();
    let host_port = proxy.resolve(NAME, server.local_addr());
    let client = Client::builder()
        .endpoint(format!("https://{host_port}"))
        .tls_ca(pki.ca_pem())
        .connections(1)
        .timeout(support::PATIENCE)
        .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()))
        .build()
        .unwrap();
    assert_eq!(
        within(client.export(support::logs())).await.unwrap(),
        Outcome::Success
    );
    assert_eq!(sink.count(), 1);
    assert_eq!(proxy.seen().len(), 1);
}

#[tokio::test]
async fn a_refusing_proxy_fails_the_export_as_retryable_and_loopback_is_direct() {
    let sink = Recorder::new();
    let server = serve(sink.clone()).await;
    let proxy = TestProxy::refusing(403).await.unwrap();
    let host_port = proxy.resolve(NAME, server.local_addr());
    let refused = Client::builder()
        .endpoint(format!("http://{host_port}"))
        .timeout(support::PATIENCE)
        .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()))
        .build()
        .unwrap();
    let error = within(refused.export(support::logs())).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    assert!(format!("{error:#}").contains("HTTP 403"), "{error:#}");
    assert_eq!(sink.count(), 0);

    // The same proxy settings leave a loopback endpoint alone.
    let direct = support::client_for(&server)
        .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()))
        .build()
        .unwrap();
    let before = proxy.seen().len();
    assert_eq!(
        within(direct.export(support::logs())).await.unwrap(),
        Outcome::Success
    );
    assert_eq!(sink.count(), 1);
    assert_eq!(proxy.seen().len(), before);
}
