//! The receiver's answers, provoked one by one with a plain hyper client and
//! raw sockets: every status OTLP/HTTP gives, the limits and the timeouts.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use otlp_codec::Codec;
use otlp_http::{Client, Server};
use otlp_transport::{ErrorKind, Outcome, Signal, SinkError};
use support::{BOUND, Recorder, gzip, post, request, send, status_message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn protobuf(signal: Signal) -> Vec<u8> {
    let mut body = Vec::new();
    request(signal).encode(Codec::Protobuf, &mut body).unwrap();
    body
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    let answer = send(
        addr,
        post(
            "/v1/spans",
            "application/x-protobuf",
            None,
            protobuf(Signal::Traces),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(status_message(&answer.body).contains("/v1/traces"));

    let get = Request::get("/v1/traces")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(addr, get).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers["allow"], "POST");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_answers_get() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let answer = send(
        server.local_addr(),
        Request::get("/health").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = send(
        server.local_addr(),
        post("/health", "text/plain", None, "x"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    server.shutdown().await.unwrap();
}

/// OTLP/HTTP: unsupported content types and encodings are 415.
#[tokio::test]
async fn unknown_content_type_or_encoding_is_415() {
    let sink = Recorder::new();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let answer = send(
        addr,
        post("/v1/logs", "text/plain", None, protobuf(Signal::Logs)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let missing = Request::post("/v1/logs")
        .body(Full::new(Bytes::from(protobuf(Signal::Logs))))
        .unwrap();
    assert_eq!(
        send(addr, missing).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let answer = send(
        addr,
        post(
            "/v1/logs",
            "application/x-protobuf",
            Some("br"),
            protobuf(Signal::Logs),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer.headers.contains_key("accept-encoding"));
    assert!(status_message(&answer.body).contains("Content-Encoding"));
    assert!(sink.take().is_empty(), "nothing reached the sink");
    server.shutdown().await.unwrap();
}

/// OTLP/HTTP: undecodable data is 400 with a google.rpc.Status, in the
/// request's codec.
#[tokio::test]
async fn undecodable_input_is_400_with_a_status_in_the_request_codec() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    let answer = send(
        addr,
        post(
            "/v1/traces",
            "application/x-protobuf",
            None,
            vec![0x0a, 0xff, 0xff],
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.headers["content-type"], "application/x-protobuf");
    assert!(!status_message(&answer.body).is_empty());

    let answer = send(
        addr,
        post(
            "/v1/traces",
            "application/x-protobuf",
            Some("gzip"),
            "not gzip at all",
        ),
    )
    .await;
    if otlp_compression::Compression::Gzip.is_supported() {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(status_message(&answer.body).contains("gzip"));
    }

    if Codec::Json.is_enabled() {
        let answer = send(
            addr,
            post(
                "/v1/traces",
                "application/json",
                None,
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.headers["content-type"], "application/json");
        let status: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(status["code"], 3);
        assert!(
            status["message"].as_str().unwrap().contains("traceId"),
            "{status}"
        );
    }
    server.shutdown().await.unwrap();
}

/// OTLP/HTTP: 413 past the limit, after decompression — a gzip bomb is
/// stopped at the limit, never inflated whole.
#[tokio::test]
async fn bodies_over_the_limit_are_413_before_and_after_decompression() {
    let sink = Recorder::new();
    let limit = 256 << 10;
    let server = Server::builder()
        .max_request_size(limit)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let answer = send(
        addr,
        post(
            "/v1/logs",
            "application/x-protobuf",
            None,
            vec![0u8; limit + 1],
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(status_message(&answer.body).contains("limit"));

    if otlp_compression::Compression::Gzip.is_supported() {
        // 64 MiB of zeros: about 64 KiB of gzip, under the limit on the wire,
        // 256 times the limit once inflated.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < limit);
        let answer = send(
            addr,
            post("/v1/logs", "application/x-protobuf", Some("gzip"), bomb),
        )
        .await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    }
    assert!(sink.take().is_empty());
    assert_eq!(
        server.stats().requests_rejected(),
        1 + u64::from(otlp_compression::Compression::Gzip.is_supported())
    );

    let fits = protobuf(Signal::Logs);
    assert!(fits.len() < limit);
    let answer = send(addr, post("/v1/logs", "application/x-protobuf", None, fits)).await;
    assert_eq!(answer.status, StatusCode::OK);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bearer_token_is_required_when_set() {
    let sink = Recorder::new();
    let server = Server::builder()
        .bearer_token("s3cret")
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let answer = send(
        addr,
        post(
            "/v1/metrics",
            "application/x-protobuf",
            None,
            protobuf(Signal::Metrics),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers["www-authenticate"], "Bearer");
    let mut wrong = post(
        "/v1/metrics",
        "application/x-protobuf",
        None,
        protobuf(Signal::Metrics),
    );
    wrong
        .headers_mut()
        .insert("authorization", "Bearer guess".parse().unwrap());
    assert_eq!(send(addr, wrong).await.status, StatusCode::UNAUTHORIZED);
    assert!(sink.take().is_empty());

    let client = |token: &str| {
        Client::builder()
            .endpoint(format!("http://{addr}"))
            .bearer_token(token)
            .build()
            .unwrap()
    };
    let error = client("guess")
        .export(request(Signal::Metrics))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert!(error.message().contains("401"), "{error}");
    let outcome = client("s3cret")
        .export(request(Signal::Metrics))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Success);
    assert_eq!(sink.take().len(), 1);
    server.shutdown().await.unwrap();
}

/// OTLP/HTTP: a throttling sink gives 429 / 503 with Retry-After, which our
/// client reads back as throttled with that delay; partial success is 200.
#[tokio::test]
async fn sink_answers_become_statuses_the_client_understands() {
    let cases = [
        (
            Err(SinkError::Throttled {
                retry_after: Duration::from_secs(7),
                message: "busy".into(),
            }),
            StatusCode::TOO_MANY_REQUESTS,
            Some("7"),
        ),
        (
            Err(SinkError::Unavailable {
                retry_after: Some(Duration::from_millis(1500)),
                message: "draining".into(),
            }),
            StatusCode::SERVICE_UNAVAILABLE,
            Some("2"),
        ),
        (
            Err(SinkError::Unavailable {
                retry_after: None,
                message: "draining".into(),
            }),
            StatusCode::SERVICE_UNAVAILABLE,
            None,
        ),
        (
            Err(SinkError::InvalidData("no resource".into())),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            Err(SinkError::Internal("disk full".into())),
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
        ),
    ];
    for (answer, status, retry_after) in cases {
        let sink = Recorder::answering(answer.clone());
        let server = Server::bind("127.0.0.1:0").await.unwrap().spawn(sink);
        let addr = server.local_addr();
        let raw = send(
            addr,
            post(
                "/v1/traces",
                "application/x-protobuf",
                None,
                protobuf(Signal::Traces),
            ),
        )
        .await;
        assert_eq!(raw.status, status);
        assert_eq!(
            raw.headers.get("retry-after").map(|v| v.to_str().unwrap()),
            retry_after
        );
        let refused = answer.unwrap_err();
        assert_eq!(status_message(&raw.body), refused.message());

        let client = Client::builder()
            .endpoint(format!("http://{addr}"))
            .build()
            .unwrap();
        let error = client.export(request(Signal::Traces)).await.unwrap_err();
        let expected = otlp_transport::ExportError::from_http_status(
            status.as_u16(),
            refused.message(),
            retry_after.map(|s| Duration::from_secs(s.parse().unwrap())),
        );
        assert_eq!(error.kind(), expected.kind(), "{status}");
        assert_eq!(error.retry_after(), expected.retry_after(), "{status}");
        assert!(error.message().contains(refused.message()), "{error}");
        server.shutdown().await.unwrap();
    }

    let partial = Outcome::PartialSuccess {
        rejected: 3,
        message: "3 spans without a trace id".into(),
    };
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::answering(Ok(partial.clone())));
    for codec in Codec::ALL.into_iter().filter(|c| c.is_enabled()) {
        let client = Client::builder()
            .endpoint(format!("http://{}", server.local_addr()))
            .codec(codec)
            .build()
            .unwrap();
        assert_eq!(
            client.export(request(Signal::Traces)).await.unwrap(),
            partial,
            "{codec}"
        );
    }
    server.shutdown().await.unwrap();
}

/// A client that trickles its headers is cut off once the header timeout
/// passes: on its first request and on a later one of a kept-alive connection.
#[tokio::test]
async fn slowloris_clients_are_disconnected() {
    let server = Server::builder()
        .header_read_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    for warm_up in [false, true] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        if warm_up {
            stream
                .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 512];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        }
        let head = b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\nx-slow: ";
        let closed = tokio::time::timeout(BOUND, async {
            // One byte every 50 ms: 200 bytes would take 10 s.
            for byte in head.iter().chain(&[b'a'; 200]) {
                if stream.write_all(&[*byte]).await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                let mut buf = [0u8; 256];
                // A closed connection reads as EOF (or a reset), possibly after a 408.
                match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    Ok(Ok(_)) => {
                        let mut rest = Vec::new();
                        let _ = stream.read_to_end(&mut rest).await;
                        return true;
                    }
                    Err(_) => {}
                }
            }
            false
        })
        .await
        .expect("bounded");
        assert!(
            closed,
            "a trickling client (warm-up: {warm_up}) kept its connection"
        );
    }
    // HTTP/2: a preface, then nothing — no request ever comes.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let closed = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 256];
        // The server's SETTINGS come first; then the connection must end.
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a silent HTTP/2 connection was kept");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = Server::builder()
        .idle_timeout(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let eof = tokio::time::timeout(BOUND, stream.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(eof, Ok(0) | Err(_)));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_past_the_limit_are_closed() {
    let server = Server::builder()
        .max_connections(1)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    let mut first = TcpStream::connect(addr).await.unwrap();
    first
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(first.read(&mut buf).await.unwrap() > 0);

    let mut second = TcpStream::connect(addr).await.unwrap();
    let _ = second
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let refused = tokio::time::timeout(BOUND, second.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(
        matches!(refused, Ok(0) | Err(_)),
        "the second connection was served"
    );
    assert_eq!(server.stats().connections_rejected(), 1);

    drop(first);
    // The slot frees once the server sees the first one close.
    let served = tokio::time::timeout(BOUND, async {
        loop {
            let mut third = TcpStream::connect(addr).await.unwrap();
            third
                .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            if matches!(third.read(&mut buf).await, Ok(n) if n > 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(served.is_ok());
    server.shutdown().await.unwrap();
}

/// Shutdown stops accepting but lets the export in flight finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_in_flight_requests() {
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let sink = Recorder::gated(gate.clone());
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .build()
        .unwrap();
    let export = tokio::spawn(async move { client.export(request(Signal::Logs)).await });
    tokio::time::timeout(BOUND, sink.entered.notified())
        .await
        .expect("export arrived");
    let shutdown = tokio::spawn(server.shutdown());
    // The listener closes while the export waits in the sink.
    let refused = tokio::time::timeout(BOUND, async {
        loop {
            if TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "still accepting after shutdown began");
    assert!(!shutdown.is_finished());
    gate.notify_one();
    let outcome = tokio::time::timeout(BOUND, export).await.unwrap().unwrap();
    assert_eq!(outcome.unwrap(), Outcome::Success);
    tokio::time::timeout(BOUND, shutdown)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn signal_paths_are_configurable() {
    let sink = Recorder::new();
    let server = Server::builder()
        .path(Signal::Traces, "/otlp/spans")
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    assert_eq!(
        send(
            addr,
            post(
                "/otlp/spans",
                "application/x-protobuf",
                None,
                protobuf(Signal::Traces)
            )
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        send(
            addr,
            post(
                "/v1/traces",
                "application/x-protobuf",
                None,
                protobuf(Signal::Traces)
            )
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert!(matches!(
        Server::builder()
            .path(Signal::Logs, "logs")
            .bind("127.0.0.1:0")
            .await,
        Err(otlp_http::BindError::InvalidPath { .. })
    ));
    server.shutdown().await.unwrap();
}

/// Browsers: preflight answered for allowed origins only; actual responses
/// echo the origin; never a bare `*` when credentials are allowed.
#[tokio::test]
async fn cors_preflight_and_responses() {
    use otlp_http::Cors;
    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/v1/traces")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let from = |origin: &str| {
        let mut request = post(
            "/v1/traces",
            "application/x-protobuf",
            None,
            protobuf(Signal::Traces),
        );
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };

    let cors = Cors::new()
        .allow_origin("https://app.example.com")
        .allow_header("x-tenant")
        .max_age(Duration::from_secs(600))
        .allow_credentials(true);
    let server = Server::builder()
        .cors(cors)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    let answer = send(addr, preflight("https://app.example.com")).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(answer.headers["access-control-allow-methods"], "POST");
    assert!(
        answer.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-tenant")
    );
    assert_eq!(answer.headers["access-control-max-age"], "600");
    assert_eq!(answer.headers["access-control-allow-credentials"], "true");
    let answer = send(addr, preflight("https://evil.example.com")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(!answer.headers.contains_key("access-control-allow-origin"));

    let answer = send(addr, from("https://app.example.com")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(answer.headers["vary"], "Origin");
    let answer = send(addr, from("https://evil.example.com")).await;
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    let get = Request::get("/v1/traces")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(addr, get).await.headers["allow"], "POST, OPTIONS");
    server.shutdown().await.unwrap();

    // Any origin: `*` without credentials, the origin echoed with them.
    for (credentials, expected) in [(false, "*"), (true, "https://x.example")] {
        let cors = Cors::new().allow_origin("*").allow_credentials(credentials);
        let server = Server::builder()
            .cors(cors)
            .bind("127.0.0.1:0")
            .await
            .unwrap()
            .spawn(Recorder::new());
        let answer = send(server.local_addr(), from("https://x.example")).await;
        assert_eq!(answer.headers["access-control-allow-origin"], expected);
        server.shutdown().await.unwrap();
    }
}

/// A body that stalls half-way is answered 408 once the body timeout passes.
#[tokio::test]
async fn stalled_bodies_get_408() {
    let sink = Recorder::new();
    let server = Server::builder()
        .body_read_timeout(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(BOUND, async {
        while !answer.ends_with(b"\r\n\r\n") && !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "answered in time");
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(sink.take().is_empty());
    server.shutdown().await.unwrap();
}

/// OTLP/HTTP: the response is compressed when the client's Accept-Encoding
/// asks, and our client reads it back.
#[tokio::test]
async fn responses_are_compressed_when_asked() {
    if !otlp_compression::Compression::Gzip.is_supported() {
        return;
    }
    let partial = Outcome::PartialSuccess {
        rejected: 1,
        message: "one span had no name".into(),
    };
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::answering(Ok(partial.clone())));
    let mut raw = post(
        "/v1/traces",
        "application/x-protobuf",
        None,
        protobuf(Signal::Traces),
    );
    raw.headers_mut()
        .insert("accept-encoding", "br, gzip".parse().unwrap());
    let answer = send(server.local_addr(), raw).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-encoding"], "gzip");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&answer.body[..]),
        &mut plain,
    )
    .unwrap();
    let response =
        otlp_transport::ExportResponse::decode(Signal::Traces, Codec::Protobuf, Bytes::from(plain))
            .unwrap();
    assert_eq!(response.outcome(), partial);

    let client = Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .header("accept-encoding", "gzip")
        .build()
        .unwrap();
    assert_eq!(
        client.export(request(Signal::Traces)).await.unwrap(),
        partial
    );
    server.shutdown().await.unwrap();
}

/// A drain that outlasts its timeout ends anyway: shutdown is bounded.
#[tokio::test]
async fn shutdown_gives_up_after_the_drain_timeout() {
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let sink = Recorder::gated(gate);
    let server = Server::builder()
        .drain_timeout(Duration::from_millis(100))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let client = Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .build()
        .unwrap();
    let export = tokio::spawn(async move { client.export(request(Signal::Logs)).await });
    tokio::time::timeout(BOUND, sink.entered.notified())
        .await
        .expect("export arrived");
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .expect("shutdown is bounded")
        .unwrap();
    let error = tokio::time::timeout(BOUND, export)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        error.is_retryable(),
        "a cut connection is retryable: {error}"
    );
}

#[tokio::test]
async fn extra_routes_share_the_listener_and_may_take_the_connection_over() {
    use hyper::body::Incoming;
    use std::convert::Infallible;
    // A route that answers 101 and echoes what comes after, as a WebSocket
    // handler would take the connection over.
    let echo = tower::service_fn(|mut request: Request<Incoming>| async move {
        let upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let mut io = hyper_util::rt::TokioIo::new(upgraded);
            let mut buf = [0u8; 5];
            if io.read_exact(&mut buf).await.is_ok() {
                let _ = io.write_all(&buf).await;
            }
        });
        let mut response = http::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        response
            .headers_mut()
            .insert(http::header::UPGRADE, "echo".parse().unwrap());
        response
            .headers_mut()
            .insert(http::header::CONNECTION, "upgrade".parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let sink = Recorder::new();
    let server = Server::builder()
        .bearer_token("otlp-only")
        .route("/echo", echo)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    tokio::time::timeout(BOUND, async {
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
    })
    .await
    .expect("answered in time");
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream.write_all(b"hello").await.unwrap();
    let mut echoed = [0u8; 5];
    tokio::time::timeout(BOUND, stream.read_exact(&mut echoed))
        .await
        .expect("echoed in time")
        .unwrap();
    assert_eq!(&echoed, b"hello");
    // The OTLP paths keep their own rules on the same listener.
    let answer = send(
        addr,
        post("/v1/logs", "application/x-protobuf", None, Vec::new()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let invalid = Server::builder().route(
        "echo",
        tower::service_fn(|_: Request<Incoming>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        }),
    );
    assert!(invalid.bind("127.0.0.1:0").await.is_err());
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .unwrap()
        .unwrap();
}
