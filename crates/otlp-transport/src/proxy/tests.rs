use std::time::Duration;

use otlp_datagen::proxy::TestProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn proxy_urls_parse_with_defaults_and_credentials() {
    let proxy = Proxy::parse("http://proxy.corp:3128").unwrap();
    assert_eq!(proxy.authority(), "proxy.corp:3128");
    assert_eq!(proxy.authorization(), None);

    // No scheme means http, no port means 80, as Go's and curl's clients.
    assert_eq!(
        Proxy::parse("Proxy.Corp").unwrap().authority(),
        "proxy.corp:80"
    );
    assert_eq!(
        Proxy::parse("http://[::1]:8080/").unwrap().authority(),
        "[::1]:8080"
    );

    // Percent-encoded credentials are decoded before Basic encoding.
    let proxy = Proxy::parse("http://al%40ice:p%3Ass@proxy:3128").unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode("al@ice:p:ss");
    assert_eq!(
        proxy.authorization(),
        Some(format!("Basic {expected}").as_str())
    );
    // Debug never shows the credentials.
    assert!(!format!("{proxy:?}").contains(&expected));
}

#[test]
fn unusable_proxy_urls_are_errors_naming_their_variable_without_the_password() {
    let error =
        Proxies::from_vars(vars(&[("HTTPS_PROXY", "socks5://u:hunter2@proxy:1080")])).unwrap_err();
    assert!(
        matches!(error, ProxyError::UnsupportedScheme { ref scheme, .. } if scheme == "socks5")
    );
    let message = error.to_string();
    assert!(message.starts_with("HTTPS_PROXY: "), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    let error = Proxies::from_vars(vars(&[("http_proxy", "http://proxy:port")])).unwrap_err();
    assert!(matches!(
        error,
        ProxyError::Invalid {
            reason: "bad port",
            ..
        }
    ));
    assert!(error.to_string().starts_with("http_proxy: "));

    assert!(matches!(
        Proxy::parse("http://:3128"),
        Err(ProxyError::Invalid {
            reason: "no host",
            ..
        })
    ));
    assert!(matches!(
        Proxy::parse("https://proxy:443"),
        Err(ProxyError::UnsupportedScheme { .. })
    ));
}

#[test]
fn uppercase_variables_win_and_empty_ones_are_unset() {
    let proxies = Proxies::from_vars(vars(&[
        ("HTTPS_PROXY", "http://upper:1"),
        ("https_proxy", "http://lower:2"),
        ("HTTP_PROXY", "  "),
        ("http_proxy", "http://plain:3"),
    ]))
    .unwrap();
    assert_eq!(
        proxies
            .for_target(true, "collector", 4317)
            .unwrap()
            .authority(),
        "upper:1"
    );
    assert_eq!(
        proxies
            .for_target(false, "collector", 4318)
            .unwrap()
            .authority(),
        "plain:3"
    );
    assert!(Proxies::from_vars(|_| None).unwrap().is_empty());
}

#[test]
fn no_proxy_follows_the_common_rules() {
    let proxies = Proxies::all(Proxy::parse("http://proxy:3128").unwrap()).no_proxy(
        " example.com, .svc.local,*.internal, 10.0.0.0/8 ,192.168.1.7, [fd00::1]:4317, api.test:4318, 2001:db8::/32",
    );
    let direct = |host: &str, port: u16| proxies.for_target(true, host, port).is_none();

    // A name matches itself and its subdomains; a leading dot or `*.` only subdomains.
    assert!(direct("example.com", 4317));
    assert!(direct("otel.EXAMPLE.com", 4317));
    assert!(direct("example.com.", 4317));
    assert!(!direct("badexample.com", 4317));
    assert!(!direct("svc.local", 4317));
    assert!(direct("collector.svc.local", 4317));
    assert!(!direct("internal", 4317));
    assert!(direct("a.b.internal", 4317));
    // IPs, CIDR blocks (both families), ports.
    assert!(direct("10.20.30.40", 4317));
    assert!(!direct("11.0.0.1", 4317));
    assert!(direct("192.168.1.7", 1));
    assert!(direct("[fd00::1]", 4317));
    assert!(!direct("fd00::1", 4318));
    assert!(direct("2001:db8::42", 4317));
    assert!(direct("api.test", 4318));
    assert!(!direct("api.test", 4317));
    // Loopback is never proxied, listed or not.
    assert!(direct("localhost", 4317));
    assert!(direct("127.0.0.1", 4317));
    assert!(direct("[::1]", 4317));
    assert!(!direct("collector.example.org", 4317));

    let everything = Proxies::all(Proxy::parse("proxy:3128").unwrap()).no_proxy("*");
    assert!(
        everything
            .for_target(true, "collector.example.org", 4317)
            .is_none()
    );
}

/// An echo server: what the tunnel carries must arrive unchanged, both ways.
async fn echo() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

fn bounded<F: std::future::Future>(future: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(10), future)
}

#[tokio::test]
async fn a_tunnel_carries_bytes_both_ways_with_the_credentials() {
    let target = echo().await;
    let test_proxy = TestProxy::with_credentials("otel", "s3cret").await.unwrap();
    let url = format!("http://otel:s3cret@{}", test_proxy.addr());
    let proxy = Proxy::parse(&url).unwrap();

    let mut stream = bounded(proxy.tunnel("127.0.0.1", target.port()))
        .await
        .unwrap()
        .unwrap();
    stream.write_all(b"ping through the proxy").await.unwrap();
    let mut back = [0u8; 22];
    bounded(stream.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"ping through the proxy");

    let seen = test_proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("127.0.0.1:{}", target.port()));
    assert_eq!(seen[0].authorization.as_deref(), proxy.authorization());
}

#[tokio::test]
async fn refusals_are_typed_errors() {
    let target = echo().await;

    let asks = TestProxy::with_credentials("otel", "s3cret").await.unwrap();
    let wrong = Proxy::parse(&format!("http://otel:wrong@{}", asks.addr())).unwrap();
    let error = bounded(wrong.tunnel("127.0.0.1", target.port()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, TunnelError::AuthenticationRequired { .. }),
        "{error}"
    );

    let refusing = TestProxy::refusing(403).await.unwrap();
    let proxy = Proxy::parse(&refusing.url()).unwrap();
    let error = bounded(proxy.tunnel("collector.example", 4317))
        .await
        .unwrap()
        .unwrap_err();
    match &error {
        TunnelError::Refused { status, target, .. } => {
            assert_eq!(*status, 403);
            assert_eq!(target, "collector.example:4317");
        }
        other => panic!("{other}"),
    }
    assert!(error.to_string().contains("HTTP 403"), "{error}");
}

#[tokio::test]
async fn a_proxy_that_is_not_http_or_not_there_is_an_error_not_a_hang() {
    // Something that answers garbage and closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 256];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(b"SSH-2.0-OpenSSH\r\n").await;
            let _ = stream.shutdown().await;
            // Keep the socket until the client has read the answer (no reset).
            let _ = stream.read(&mut request).await;
        }
    });
    let proxy = Proxy::parse(&format!("http://{addr}")).unwrap();
    let error = bounded(proxy.tunnel("collector", 4317))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, TunnelError::Malformed { .. }), "{error}");

    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = Proxy::parse(&format!("http://{closed}")).unwrap();
    let error = bounded(proxy.tunnel("collector", 4317))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, TunnelError::Io { .. }), "{error}");
}

#[test]
fn status_lines_parse_strictly() {
    assert_eq!(
        status_line(b"HTTP/1.1 200 Connection established\r\n\r\n"),
        Some((200, "Connection established".into()))
    );
    assert_eq!(
        status_line(b"HTTP/1.0 407\r\n\r\n"),
        Some((407, String::new()))
    );
    assert_eq!(status_line(b"HTTP/2 200\r\n\r\n"), None);
    assert_eq!(status_line(b"HTTP/1.1 20 OK\r\n\r\n"), None);
    assert_eq!(status_line(b"\xff\xfe\r\n\r\n"), None);
}
