//! OTLP/WebSocket through a forward proxy's `CONNECT` tunnel (`HTTP_PROXY`
//! for `ws://`, `HTTPS_PROXY` for `wss://`).

mod support;

use std::time::Duration;

use otlp_datagen::proxy::TestProxy;
use otlp_transport::proxy::{Proxies, Proxy};
use otlp_transport::{ErrorKind, Outcome, Payload, Signal};
use otlp_ws::{Client, Server};
use support::{BOUND, Recorder, request};

/// The receiver's name, known only to the proxy (clients never proxy
/// loopback addresses).
const NAME: &str = "collector.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_goes_through_a_connect_tunnel_with_the_proxys_credentials() {
    let sink = Recorder::new();
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let proxy = TestProxy::with_credentials("otel", "secret").await.unwrap();
    let host_port = proxy.resolve(NAME, server.local_addr());
    let url = proxy.url().replace("http://", "http://otel:secret@");
    let client = Client::builder()
        .endpoint(format!("ws://{host_port}"))
        .proxy(Proxies::all(Proxy::parse(&url).unwrap()))
        .build()
        .unwrap();
    for signal in Signal::ALL {
        let outcome = tokio::time::timeout(BOUND, client.export(request(signal)))
            .await
            .unwrap();
        assert_eq!(outcome.unwrap(), Outcome::Success, "{signal}");
    }
    let signals: Vec<Signal> = sink.take().iter().map(Payload::signal).collect();
    assert_eq!(signals, Signal::ALL);
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_goes_through_a_connect_tunnel_and_checks_the_receivers_name() {
    let pki = otlp_datagen::pki::Pki::new();
    let leaf = pki.leaf(&[NAME]);
    let config =
        otlp_ws::tls::server_config(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes(), None)
            .unwrap();
    let sink = Recorder::new();
    let server = Server::builder()
        .tls(config)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let proxy = TestProxy::start().await.unwrap();
    let host_port = proxy.resolve(NAME, server.local_addr());
    let client = Client::builder()
        .endpoint(format!("wss://{host_port}"))
        .tls(otlp_ws::tls::client_config(pki.ca_pem().as_bytes(), None).unwrap())
        .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()))
        .build()
        .unwrap();
    let outcome = tokio::time::timeout(BOUND, client.export(request(Signal::Logs)))
        .await
        .unwrap();
    assert_eq!(outcome.unwrap(), Outcome::Success);
    assert_eq!(sink.take().len(), 1);
    assert_eq!(proxy.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_proxy_fails_the_export_as_retryable() {
    let sink = Recorder::new();
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let proxy = TestProxy::refusing(403).await.unwrap();
    let host_port = proxy.resolve(NAME, server.local_addr());
    let client = Client::builder()
        .endpoint(format!("ws://{host_port}"))
        .timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()))
        .build()
        .unwrap();
    let error = tokio::time::timeout(BOUND, client.export(request(Signal::Traces)))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    assert!(format!("{error:#}").contains("HTTP 403"), "{error:#}");
    assert!(client.stats().connect_failures() >= 1);
    assert!(!proxy.seen().is_empty());
    assert!(sink.take().is_empty());
}
