//! Exports through a forward proxy (`HTTPS_PROXY` / `HTTP_PROXY`): plain
//! HTTP/1.1 in absolute form, h2c and HTTPS through `CONNECT` tunnels, and
//! the hosts that are reached directly.

mod support;

use std::sync::Arc;

use otlp_datagen::proxy::TestProxy;
use otlp_http::{Client, Protocol, Server};
use otlp_transport::proxy::{Proxies, Proxy};
use otlp_transport::{ErrorKind, Outcome, Signal};
use support::{BOUND, Recorder, request};

/// The receiver's name, known only to the proxy (clients never proxy
/// loopback addresses).
const NAME: &str = "collector.test";

async fn receiver() -> (otlp_http::ServerHandle, Arc<Recorder>) {
    let sink = Recorder::new();
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    (server, sink)
}

fn through(proxy: &TestProxy, user: &str) -> Proxies {
    let url = proxy.url().replace("http://", &format!("http://{user}@"));
    Proxies::all(Proxy::parse(&url).unwrap())
}

#[tokio::test]
async fn plain_http1_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
    let (server, sink) = receiver().await;
    let proxy = TestProxy::with_credentials("otel", "pa:ss").await.unwrap();
    let host_port = proxy.resolve(NAME, server.local_addr());
    let client = Client::builder()
        .endpoint(format!("http://{host_port}"))
        .proxy(through(&proxy, "otel:pa%3Ass"))
        .build()
        .unwrap();
    for signal in [Signal::Traces, Signal::Logs] {
        let outcome = tokio::time::timeout(BOUND, client.export(request(signal)))
            .await
            .unwrap();
        assert_eq!(outcome.unwrap(), Outcome::Success);
    }
    assert_eq!(sink.take().len(), 2);
    // One kept-alive connection to the proxy, the first request in absolute form.
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, format!("http://{host_port}/v1/traces"));
    assert!(
        seen[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );
}

#[tokio::test]
async fn h2c_goes_through_a_connect_tunnel() {
    let (server, sink) = receiver().await;
    let proxy = TestProxy::with_credentials("otel", "secret").await.unwrap();
    let host_port = proxy.resolve(NAME, server.local_addr());
    let client = Client::builder()
        .endpoint(format!("http://{host_port}"))
        .protocol(Protocol::Http2)
        .max_connections(1)
        .proxy(through(&proxy, "otel:secret"))
        .build()
        .unwrap();
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        let outcome = tokio::time::timeout(BOUND, client.export(request(signal)))
            .await
            .unwrap();
        assert_eq!(outcome.unwrap(), Outcome::Success);
    }
    assert_eq!(sink.take().len(), 3);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("CONNECT", host_port.as_str())
    );
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn https_goes_through_a_connect_tunnel_and_checks_the_receivers_name() {
    let ca = otlp_datagen::pki::Pki::new();
    let leaf = ca.leaf(&[NAME]);
    let config =
        otlp_http::tls::server_config(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes(), None)
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
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let client = Client::builder()
            .endpoint(format!("https://{host_port}"))
            .protocol(protocol)
            .tls(otlp_http::tls::client_config(ca.ca_pem().as_bytes(), None).unwrap())
            .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()))
            .build()
            .unwrap();
        let outcome = tokio::time::timeout(BOUND, client.export(request(Signal::Traces)))
            .await
            .unwrap();
        assert_eq!(outcome.unwrap(), Outcome::Success, "{protocol:?}");
    }
    assert_eq!(sink.take().len(), 2);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|s| s.method == "CONNECT" && s.target == host_port)
    );
}

#[tokio::test]
async fn listed_and_loopback_hosts_are_reached_directly() {
    let (server, sink) = receiver().await;
    let proxy = TestProxy::start().await.unwrap();
    let port = server.local_addr().port();
    for endpoint in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ] {
        let client = Client::builder()
            .endpoint(endpoint)
            .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()))
            .build()
            .unwrap();
        let outcome = tokio::time::timeout(BOUND, client.export(request(Signal::Traces)))
            .await
            .unwrap();
        assert_eq!(outcome.unwrap(), Outcome::Success);
    }
    assert_eq!(sink.take().len(), 2);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());

    // A host in NO_PROXY is not sent to the proxy (nor resolved: it fails
    // to connect directly, which shows the proxy was not asked).
    let client = Client::builder()
        .endpoint(format!("http://{NAME}:{port}"))
        .timeout(std::time::Duration::from_secs(5))
        .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()).no_proxy(".test"))
        .build()
        .unwrap();
    assert!(client.export(request(Signal::Traces)).await.is_err());
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[tokio::test]
async fn a_refusing_proxy_fails_the_export_as_retryable_and_says_why() {
    let (server, sink) = receiver().await;
    for (proxy, expected) in [
        (TestProxy::refusing(403).await.unwrap(), "HTTP 403"),
        (
            TestProxy::with_credentials("otel", "secret").await.unwrap(),
            "407",
        ),
    ] {
        let host_port = proxy.resolve(NAME, server.local_addr());
        let client = Client::builder()
            .endpoint(format!("http://{host_port}"))
            .protocol(Protocol::Http2)
            .proxy(Proxies::all(Proxy::parse(&proxy.url()).unwrap()))
            .build()
            .unwrap();
        let error = tokio::time::timeout(BOUND, client.export(request(Signal::Traces)))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
        let message = format!("{error:#}");
        assert!(message.contains(expected), "{message}");
    }
    assert!(sink.take().is_empty());
}
