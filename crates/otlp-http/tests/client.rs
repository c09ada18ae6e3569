//! The exporter against a plain hyper server that answers as scripted: how
//! each answer is classified, and what goes on the wire.

mod support;

use std::time::{Duration, SystemTime};

use otlp_codec::Codec;
use otlp_http::{Client, Protocol, USER_AGENT_VALUE};
use otlp_proto::Message;
use otlp_proto::google::rpc::Status;
use otlp_transport::{ErrorKind, ExportResponse, Outcome, Signal};
use support::{BOUND, Plain, plain_server, request, respond};

fn status_body(message: &str) -> Vec<u8> {
    Status {
        code: 3,
        message: message.into(),
        details: vec![],
    }
    .encode_to_vec()
}

/// A status, the headers sent with it, the class expected and the range the
/// delay must fall in (seconds).
type Case = (
    u16,
    Vec<(&'static str, String)>,
    ErrorKind,
    Option<(u64, u64)>,
);

fn client(addr: std::net::SocketAddr) -> Client {
    Client::builder()
        .endpoint(format!("http://{addr}"))
        .build()
        .unwrap()
}

/// OTLP/HTTP: 429, 502, 503, 504 are retryable, honouring Retry-After in
/// seconds or as an HTTP-date; every other status is permanent with the
/// Status message surfaced.
#[tokio::test]
async fn statuses_are_classified_per_the_spec() {
    let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
    let cases: Vec<Case> = vec![
        (
            429,
            vec![("retry-after", "3".into())],
            ErrorKind::Throttled,
            Some((3, 3)),
        ),
        // A date a minute ahead: allow for the clock moving during the test.
        (
            503,
            vec![("retry-after", in_a_minute.clone())],
            ErrorKind::Throttled,
            Some((50, 60)),
        ),
        (502, vec![], ErrorKind::Retryable, None),
        (
            504,
            vec![("retry-after", "soon".into())],
            ErrorKind::Retryable,
            None,
        ),
        (
            400,
            vec![("retry-after", "3".into())],
            ErrorKind::Permanent,
            None,
        ),
        (401, vec![], ErrorKind::Permanent, None),
        (404, vec![], ErrorKind::Permanent, None),
        (413, vec![], ErrorKind::Permanent, None),
        (500, vec![], ErrorKind::Permanent, None),
    ];
    for (status, headers, kind, delay) in cases {
        let headers: Vec<(&'static str, String)> = headers;
        let Plain { addr, .. } = plain_server(move |_| {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (*n, v.as_str()))
                .chain([("content-type", "application/x-protobuf")])
                .collect();
            respond(status, &headers, status_body("the reason"))
        })
        .await;
        let error = client(addr)
            .export(request(Signal::Traces))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{status}");
        match delay {
            Some((low, high)) => {
                let got = error.retry_after().expect("a delay").as_secs();
                assert!((low..=high).contains(&got), "{status}: {got}");
            }
            None => assert_eq!(error.retry_after(), None, "{status}"),
        }
        assert!(error.message().contains("the reason"), "{status}: {error}");
        assert!(error.message().contains(&status.to_string()));
    }
}

/// Partial success is an outcome, never an error; a 200 with an empty or
/// unreadable body is a success (the data was taken: it must not be resent).
#[tokio::test]
async fn success_bodies_are_decoded_in_the_request_codec() {
    for codec in Codec::ALL.into_iter().filter(|c| c.is_enabled()) {
        let partial = Outcome::PartialSuccess {
            rejected: 2,
            message: "2 logs too old".into(),
        };
        let body = {
            let mut buf = Vec::new();
            ExportResponse::new(Signal::Logs, &partial)
                .encode(codec, &mut buf)
                .unwrap();
            buf
        };
        let Plain { addr, .. } = plain_server(move |_| {
            respond(200, &[("content-type", codec.content_type())], body.clone())
        })
        .await;
        let client = Client::builder()
            .endpoint(format!("http://{addr}"))
            .codec(codec)
            .build()
            .unwrap();
        assert_eq!(
            client.export(request(Signal::Logs)).await.unwrap(),
            partial,
            "{codec}"
        );
    }
    let Plain { addr, .. } = plain_server(|_| respond(200, &[], "")).await;
    assert_eq!(
        client(addr).export(request(Signal::Logs)).await.unwrap(),
        Outcome::Success
    );
    let Plain { addr, .. } = plain_server(|_| {
        respond(
            200,
            &[("content-type", "application/x-protobuf")],
            vec![0xff; 10],
        )
    })
    .await;
    assert_eq!(
        client(addr).export(request(Signal::Logs)).await.unwrap(),
        Outcome::Success
    );
}

/// Response bodies are read up to the cap: a huge error body still gives a
/// classified error, without its message.
#[tokio::test]
async fn response_bodies_are_capped() {
    let Plain { addr, .. } = plain_server(|_| respond(503, &[], vec![b'x'; 1 << 20])).await;
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .max_response_size(1024)
        .build()
        .unwrap();
    let error = client.export(request(Signal::Traces)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable);
}

/// What goes on the wire: the signal paths, Content-Type, Content-Encoding,
/// User-Agent, custom headers and the bearer token, over HTTP/1.1 and h2c.
#[tokio::test]
async fn requests_carry_the_spec_headers() {
    let Plain { addr, seen, .. } = plain_server(|_| respond(200, &[], "")).await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let client = Client::builder()
            .endpoint(format!("http://{addr}/prefix"))
            .protocol(protocol)
            .header("x-tenant", "blue")
            .bearer_token("t0ken")
            .compression(otlp_compression::Compression::supported().next().unwrap())
            .build()
            .unwrap();
        for signal in [
            Signal::Traces,
            Signal::Metrics,
            Signal::Logs,
            Signal::Profiles,
        ] {
            client.export(request(signal)).await.unwrap();
        }
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        let paths: Vec<_> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/prefix/v1/traces",
                "/prefix/v1/metrics",
                "/prefix/v1/logs",
                "/prefix/v1development/profiles"
            ]
        );
        for request in &seen {
            let expected = match protocol {
                Protocol::Http1 => http::Version::HTTP_11,
                _ => http::Version::HTTP_2,
            };
            assert_eq!(request.version, expected);
            assert_eq!(request.headers["content-type"], "application/x-protobuf");
            assert_eq!(request.headers["user-agent"], USER_AGENT_VALUE);
            assert_eq!(request.headers["x-tenant"], "blue");
            assert_eq!(request.headers["authorization"], "Bearer t0ken");
            let coding = client.wire_format().compression();
            if coding == otlp_compression::Compression::None {
                assert!(!request.headers.contains_key("content-encoding"));
            } else {
                assert_eq!(request.headers["content-encoding"], coding.as_str());
            }
        }
    }
}

#[tokio::test]
async fn unreachable_and_slow_receivers_are_retryable() {
    // A port that was just free: nothing listens there.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let error = client(addr)
        .export(request(Signal::Traces))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");

    // Accepts, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = tokio::time::timeout(BOUND, client.export(request(Signal::Traces)))
        .await
        .expect("the client's timeout fired")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable);
    assert!(error.message().contains("within"), "{error}");
    hold.abort();
}

#[tokio::test]
async fn requests_over_the_cap_are_permanent_and_not_sent() {
    let Plain { addr, seen, .. } = plain_server(|_| respond(200, &[], "")).await;
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .max_request_size(100)
        .build()
        .unwrap();
    let error = client.export(request(Signal::Traces)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert!(seen.lock().unwrap().is_empty());
}

/// HTTP/1.1 sends at most `max_connections` requests at once; all get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_exports_share_a_bounded_pool() {
    let Plain {
        addr,
        seen,
        connections,
    } = plain_server(|_| respond(200, &[], "")).await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let client = Client::builder()
            .endpoint(format!("http://{addr}"))
            .protocol(protocol)
            .max_connections(3)
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.export(request(Signal::Logs)).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), Outcome::Success);
        }
        let opened = connections.swap(0, std::sync::atomic::Ordering::Relaxed);
        assert!(
            (1..=3).contains(&opened),
            "{protocol:?} opened {opened} connections"
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 48);
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn export_service<S: otlp_transport::ExportService>() {}
    send_sync::<Client>();
    send_sync::<otlp_http::ClientBuilder>();
    send_sync::<otlp_http::BuildError>();
    send_sync::<otlp_http::Server>();
    send_sync::<otlp_http::ServerBuilder>();
    send_sync::<otlp_http::ServerHandle>();
    send_sync::<otlp_http::ServerStats>();
    send_sync::<otlp_http::BindError>();
    send_sync::<otlp_http::ServeError>();
    send_sync::<otlp_http::Cors>();
    export_service::<Client>();
}
