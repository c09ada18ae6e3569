//! End to end on 127.0.0.1: our client and server, a raw WebSocket client
//! sending chosen messages, and a server killed mid-stream.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use futures_util::SinkExt;
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_transport::{ErrorKind, Outcome, Payload, Signal, SinkError};
use otlp_ws::{Client, Server, close};
use support::{BOUND, Counter, Recorder, close_code, next_data, numbered, raw, request};
use tokio_tungstenite::tungstenite::Message;

fn client(addr: std::net::SocketAddr) -> otlp_ws::ClientBuilder {
    Client::builder().endpoint(format!("ws://{addr}"))
}

async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("finished in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_codec_and_compression_round_trips() {
    for encoded_sink in [false, true] {
        let sink = if encoded_sink {
            Recorder::encoded()
        } else {
            Recorder::new()
        };
        let server = Server::builder()
            .bind("127.0.0.1:0")
            .await
            .unwrap()
            .spawn(sink.clone());
        let mut cases = 0;
        for codec in Codec::ALL.into_iter().filter(|c| c.is_enabled()) {
            for compression in Compression::ALL.into_iter().filter(|c| c.is_supported()) {
                let client = client(server.local_addr())
                    .codec(codec)
                    .compression(compression)
                    .build()
                    .unwrap();
                for signal in Signal::ALL {
                    let what = format!("{codec} {compression} {signal}");
                    let sent = request(signal);
                    let outcome = bounded(client.export(sent.clone())).await.expect(&what);
                    assert_eq!(outcome, Outcome::Success, "{what}");
                    let mut received = sink.take();
                    assert_eq!(received.len(), 1, "{what}");
                    let got = match received.pop().unwrap() {
                        Payload::Encoded(encoded) => {
                            assert!(encoded_sink, "{what}");
                            assert_eq!(encoded.codec(), codec, "{what}");
                            assert_eq!(encoded.compression(), compression, "{what}");
                            assert_eq!(encoded.signal(), signal, "{what}");
                            encoded.decode(64 << 20).expect(&what)
                        }
                        Payload::Request(request) => {
                            assert!(!encoded_sink, "{what}");
                            request
                        }
                    };
                    assert_eq!(got, sent, "{what}");
                    cases += 1;
                }
                bounded(client.close()).await;
            }
        }
        if cfg!(all(
            feature = "json",
            feature = "msgpack",
            feature = "cbor",
            feature = "gzip",
            feature = "deflate",
            feature = "zstd",
            feature = "snappy",
            feature = "lz4"
        )) {
            assert_eq!(cases, 4 * 7 * 4);
        }
        assert_eq!(server.stats().requests(), cases);
        bounded(server.shutdown()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_outcomes_keep_their_class() {
    let answers = [
        (
            Ok(Outcome::PartialSuccess {
                rejected: 3,
                message: "three spans too old".into(),
            }),
            None,
        ),
        (
            Err(SinkError::Throttled {
                retry_after: Duration::from_millis(1500),
                message: "slow down".into(),
            }),
            Some((ErrorKind::Throttled, Some(Duration::from_millis(1500)))),
        ),
        (
            Err(SinkError::Unavailable {
                retry_after: None,
                message: "restarting".into(),
            }),
            Some((ErrorKind::Retryable, None)),
        ),
        (
            Err(SinkError::InvalidData("no".into())),
            Some((ErrorKind::Permanent, None)),
        ),
    ];
    for (answer, expected) in answers {
        let sink = Recorder::answering(answer.clone());
        let server = Server::builder()
            .bind("127.0.0.1:0")
            .await
            .unwrap()
            .spawn(sink);
        let client = client(server.local_addr()).build().unwrap();
        let result = bounded(client.export(request(Signal::Logs))).await;
        match (expected, result) {
            (None, Ok(outcome)) => assert_eq!(Ok(outcome), answer),
            (Some((kind, delay)), Err(error)) => {
                assert_eq!(error.kind(), kind, "{error}");
                assert_eq!(error.retry_after(), delay, "{error}");
            }
            (expected, got) => panic!("expected {expected:?}, got {got:?}"),
        }
        bounded(client.close()).await;
        bounded(server.shutdown()).await.unwrap();
    }
}

/// The server dies with requests in flight and comes back on the same port.
/// Its first incarnation answers `ANSWERED` requests and then takes the next
/// ones without ever answering, so the moment of the kill is exact: the
/// client's whole window is sent and unacknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_gets_every_unacknowledged_request_again_after_a_restart() {
    const TOTAL: u32 = 120;
    const ANSWERED: usize = 40;
    const WINDOW: usize = 16;
    let first = Counter::new(Some(ANSWERED), None);
    let server = Server::builder()
        .max_in_flight(64)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(first.clone());
    let addr = server.local_addr();
    let client = client(addr)
        .window(WINDOW)
        .timeout(BOUND)
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
        .build()
        .unwrap();
    let killed = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let before_kill = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for number in 0..TOTAL {
        let (client, killed, done, before_kill) = (
            client.clone(),
            killed.clone(),
            done.clone(),
            before_kill.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let outcome = client.export(numbered(number)).await;
            assert_eq!(outcome.unwrap(), Outcome::Success, "request {number}");
            if !killed.load(Ordering::SeqCst) {
                before_kill.lock().unwrap().insert(number);
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    // Wait until the first server answered its share and holds a full window.
    bounded(async {
        while done.load(Ordering::SeqCst) < ANSWERED
            || first.entered.load(Ordering::SeqCst) < ANSWERED + WINDOW
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(done.load(Ordering::SeqCst), ANSWERED);
    assert_eq!(first.entered.load(Ordering::SeqCst), ANSWERED + WINDOW);
    killed.store(true, Ordering::SeqCst);
    bounded(server.abort()).await;
    // The client finds the port closed for a while and backs off.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = Counter::new(None, None);
    let server = Server::builder()
        .bind(addr)
        .await
        .unwrap()
        .spawn(second.clone());
    for task in tasks {
        bounded(task).await.unwrap();
    }
    bounded(client.close()).await;
    bounded(server.shutdown()).await.unwrap();

    let (first, second) = (first.seen(), second.seen());
    let before_kill = before_kill.lock().unwrap().clone();
    assert_eq!(before_kill.len(), ANSWERED);
    let mut duplicates = 0;
    for number in 0..TOTAL {
        let (a, b) = (
            first.get(&number).copied().unwrap_or(0),
            second.get(&number).copied().unwrap_or(0),
        );
        assert!(a <= 1 && b <= 1, "request {number}: {a} + {b}");
        assert!(a + b >= 1, "request {number} never reached a sink");
        if before_kill.contains(&number) {
            assert_eq!((a, b), (1, 0), "acknowledged request {number} sent again");
        }
        if a + b == 2 {
            duplicates += 1;
        }
    }
    // Exactly the window in flight at the kill reached both servers: each
    // unacknowledged request was sent again, once.
    assert_eq!(duplicates, WINDOW);
    let stats = client.stats();
    assert_eq!(stats.resent(), WINDOW as u64);
    assert_eq!(stats.sent(), u64::from(TOTAL) + WINDOW as u64);
    assert_eq!(stats.acknowledged(), u64::from(TOTAL));
    assert!(stats.connections() >= 2);
    assert!(
        stats.connect_failures() >= 1,
        "the port was closed for 150 ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_stops_reading_at_the_in_flight_limit() {
    // Sink holds each request a while; at most 2 may be inside at once.
    let sink = Counter::new(None, Some(Duration::from_millis(30)));
    let server = Server::builder()
        .max_in_flight(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let client = client(server.local_addr()).window(32).build().unwrap();
    let mut tasks = Vec::new();
    for number in 0..12 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.export(numbered(number)).await
        }));
    }
    for task in tasks {
        assert_eq!(bounded(task).await.unwrap().unwrap(), Outcome::Success);
    }
    assert_eq!(sink.seen().len(), 12);
    assert!(sink.peak.load(Ordering::SeqCst) <= 2);
    assert_eq!(sink.peak.load(Ordering::SeqCst), 2, "requests overlapped");
    bounded(client.close()).await;
    bounded(server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_what_it_read_then_closes_with_going_away() {
    let sink = Counter::new(None, Some(Duration::from_millis(200)));
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let mut ws = raw(addr, "/v1/ws", Some("otlp.v1.protobuf"), &[])
        .await
        .unwrap();
    let payload = Payload::from(numbered(1))
        .into_encoded(
            Codec::Protobuf,
            &otlp_compression::Encoder::new(Compression::None),
            1 << 20,
        )
        .unwrap();
    let mut message = BytesMut::new();
    message.put_slice(&[1, 0, 0, 0]);
    message.put_u64(77);
    message.put_slice(payload.body());
    ws.send(Message::Binary(message.freeze())).await.unwrap();
    bounded(async {
        while sink.entered.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    let stopping = tokio::spawn(server.shutdown());
    // The request in flight is still answered…
    let Message::Binary(ack) = next_data(&mut ws).await else {
        panic!("a binary acknowledgement")
    };
    assert_eq!(ack[0], 2);
    assert_eq!(ack[1], 0, "success");
    assert_eq!(u64::from_be_bytes(ack[4..12].try_into().unwrap()), 77);
    // …then the connection is closed as going away.
    assert_eq!(close_code(&mut ws).await.0, close::GOING_AWAY);
    bounded(stopping).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_close_with_the_documented_codes() {
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    let cases: [(&[u8], u16); 4] = [
        (&[1, 0, 0], close::PROTOCOL), // short header
        (&[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], close::PROTOCOL), // message type
        (&[1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], close::PROTOCOL), // signal
        (&[1, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0, 1], close::PROTOCOL), // compression
    ];
    for (bytes, code) in cases {
        let mut ws = raw(addr, "/v1/ws", Some("otlp.v1.protobuf"), &[])
            .await
            .unwrap();
        ws.send(Message::Binary(bytes.to_vec().into()))
            .await
            .unwrap();
        let (got, reason) = close_code(&mut ws).await;
        assert_eq!(got, code, "{bytes:?}: {reason}");
        assert!(!reason.is_empty());
    }
    // A text message on a protobuf connection.
    let mut ws = raw(addr, "/v1/ws", Some("otlp.v1.protobuf"), &[])
        .await
        .unwrap();
    ws.send(Message::Text("{}".into())).await.unwrap();
    assert_eq!(close_code(&mut ws).await.0, close::UNSUPPORTED);
    // An undecodable payload in a well-formed message is answered, not closed.
    let mut ws = raw(addr, "/v1/ws", Some("otlp.v1.protobuf"), &[])
        .await
        .unwrap();
    ws.send(Message::Binary(
        vec![1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0xff, 0xff].into(),
    ))
    .await
    .unwrap();
    let Message::Binary(ack) = next_data(&mut ws).await else {
        panic!("a binary acknowledgement")
    };
    assert_eq!(
        (ack[0], ack[1], ack[11]),
        (2, 4, 5),
        "permanent error for request 5"
    );
    assert!(String::from_utf8_lossy(&ack[24..]).contains("decode"));
    drop(ws);
    // An unknown subprotocol is refused at the handshake.
    let refused = raw(addr, "/v1/ws", Some("otlp.v9.xml"), &[])
        .await
        .unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("an HTTP refusal, got {refused}")
    };
    assert_eq!(response.status(), 400);
    assert_eq!(server.stats().connections_closed_on_error(), 5);
    bounded(server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_messages_close_with_1009_and_the_client_reports_permanent() {
    let server = Server::builder()
        .max_message_size(1024)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    let mut ws = raw(addr, "/v1/ws", None, &[]).await.unwrap();
    let mut big = vec![1u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    big.resize(1024 + 8192, 0);
    let _ = ws.send(Message::Binary(big.into())).await;
    let (code, reason) = close_code(&mut ws).await;
    assert_eq!(code, close::TOO_BIG, "{reason}");
    // Our client: a too-large export closes its connection; it and every
    // other unacknowledged request fail as permanent.
    let client = client(addr).build().unwrap();
    let large = otlp_datagen::Generator::new(1)
        .resources(4)
        .records(200)
        .traces();
    let error = bounded(client.export(otlp_transport::ExportRequest::from(large)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent, "{error}");
    assert!(error.message().contains("1009"), "{error}");
    // The same client goes on with requests that fit.
    let small = otlp_transport::ExportRequest::from(
        otlp_proto::collector::logs::v1::ExportLogsServiceRequest::default(),
    );
    assert_eq!(
        bounded(client.export(small)).await.unwrap(),
        Outcome::Success
    );
    bounded(server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_and_foreign_origins_are_closed_with_4401_and_4403() {
    let sink = Recorder::new();
    let server = Server::builder()
        .bearer_token("s3cret")
        .allow_origin("https://app.example")
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    for (path, headers, code) in [
        ("/v1/ws", vec![], close::UNAUTHORIZED),
        ("/v1/ws?token=wrong", vec![], close::UNAUTHORIZED),
        (
            "/v1/ws",
            vec![("authorization", "Bearer wrong")],
            close::UNAUTHORIZED,
        ),
        (
            "/v1/ws?token=s3cret",
            vec![("origin", "https://evil.example")],
            close::FORBIDDEN_ORIGIN,
        ),
    ] {
        let mut ws = raw(addr, path, Some("otlp.v1.protobuf"), &headers)
            .await
            .unwrap();
        assert_eq!(close_code(&mut ws).await.0, code, "{path} {headers:?}");
    }
    assert_eq!(server.stats().connections_refused(), 4);
    // Our client without the token: a permanent failure naming the code.
    let denied = client(addr).build().unwrap();
    let error = bounded(denied.export(request(Signal::Traces)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert!(error.message().contains("4401"), "{error}");
    // With the token as a header, or in the query from an allowed page.
    let allowed = client(addr).bearer_token("s3cret").build().unwrap();
    assert_eq!(
        bounded(allowed.export(request(Signal::Traces)))
            .await
            .unwrap(),
        Outcome::Success
    );
    let queried = Client::builder()
        .endpoint(format!("ws://{addr}/v1/ws?token=s3cret"))
        .header("origin", "https://app.example")
        .build()
        .unwrap();
    assert_eq!(
        bounded(queried.export(request(Signal::Logs)))
            .await
            .unwrap(),
        Outcome::Success
    );
    assert_eq!(sink.take().len(), 2);
    bounded(server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_with_4000_and_pings_keep_them_open() {
    let server = Server::builder()
        .idle_timeout(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    let mut ws = raw(addr, "/v1/ws", None, &[]).await.unwrap();
    assert_eq!(close_code(&mut ws).await.0, close::IDLE);
    // A client pinging more often than the idle timeout stays connected.
    let client = client(addr)
        .keepalive(Duration::from_millis(50))
        .build()
        .unwrap();
    client.export(request(Signal::Logs)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    client.export(request(Signal::Logs)).await.unwrap();
    assert_eq!(client.stats().connections(), 1);
    bounded(client.close()).await;
    bounded(server.shutdown()).await.unwrap();
}

/// What a browser does: `new WebSocket(url + "?token=…", "otlp.v1.json")`
/// and `send(JSON.stringify({...}))`.
#[cfg(feature = "json")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_style_client_speaks_json_text_frames() {
    let sink = Recorder::new();
    let server = Server::builder()
        .bearer_token("page-token")
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let mut ws = raw(
        addr,
        "/v1/ws?token=page-token",
        Some("otlp.v1.json"),
        &[("origin", "https://page.example")],
    )
    .await
    .unwrap();
    let sent = request(Signal::Traces);
    let mut json = Vec::new();
    sent.encode(Codec::Json, &mut json).unwrap();
    let payload = String::from_utf8(json).unwrap();
    let text = format!(r#"{{"id": 1, "signal": "traces", "payload": {payload}}}"#);
    ws.send(Message::Text(text.into())).await.unwrap();
    let Message::Text(ack) = next_data(&mut ws).await else {
        panic!("a text acknowledgement")
    };
    let ack: serde_json::Value = serde_json::from_str(ack.as_str()).unwrap();
    assert_eq!(ack, serde_json::json!({"id": 1, "status": "success"}));
    let Payload::Request(got) = sink.take().pop().unwrap() else {
        panic!("decoded")
    };
    assert_eq!(got, sent);
    // A payload that is not OTLP/JSON: answered as a permanent error.
    ws.send(Message::Text(
        r#"{"id": 2, "signal": "logs", "payload": {"resourceLogs": 5}}"#.into(),
    ))
    .await
    .unwrap();
    let Message::Text(ack) = next_data(&mut ws).await else {
        panic!("a text acknowledgement")
    };
    let ack: serde_json::Value = serde_json::from_str(ack.as_str()).unwrap();
    assert_eq!(ack["id"], 2);
    assert_eq!(ack["status"], "permanent");
    assert!(ack["message"].as_str().unwrap().contains("decode"));
    // Binary frames work on a JSON connection too.
    let client = client(addr)
        .codec(Codec::Json)
        .bearer_token("page-token")
        .build()
        .unwrap();
    assert_eq!(
        bounded(client.export(sent.clone())).await.unwrap(),
        Outcome::Success
    );
    // A text message that is not an envelope.
    ws.send(Message::Text(r#"{"id": "x"}"#.into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await.0, close::INVALID);
    bounded(client.close()).await;
    bounded(server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_requests_are_told_to_upgrade() {
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(Recorder::new());
    let addr = server.local_addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    bounded(stream.read_to_string(&mut answer)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    bounded(server.shutdown()).await.unwrap();
}

/// A receiver that completes the handshake and then never reads: no pongs,
/// no acknowledgements. The client's pings go unanswered, so it takes the
/// connection as dead and opens another; the export fails as retryable when
/// its timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// tungstenite's handshake callback type returns an HTTP response as its error.
#[allow(clippy::result_large_err)]
async fn unanswered_pings_replace_the_connection() {
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            let echo = |_: &Request, mut response: Response| {
                response.headers_mut().insert(
                    "sec-websocket-protocol",
                    "otlp.v1.protobuf".parse().unwrap(),
                );
                Ok(response)
            };
            if let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, echo).await {
                counted.fetch_add(1, Ordering::SeqCst);
                held.push(ws);
            }
        }
    });
    let client = client(addr)
        .keepalive(Duration::from_millis(50))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let error = bounded(client.export(request(Signal::Logs)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable, "{error}");
    assert!(client.stats().connections() >= 2, "{:?}", client.stats());
    assert!(accepted.load(Ordering::SeqCst) >= 2);
    assert!(client.stats().resent() >= 1, "resent on the new connection");
    silent.abort();
}
