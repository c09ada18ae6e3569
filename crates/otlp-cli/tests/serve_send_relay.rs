//! `otlp serve`, `otlp send` and `otlp relay` end to end: the real binary,
//! real sockets on 127.0.0.1, and the lines `serve` writes read back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use otlp_transport::Signal;

/// The longest any step may take.
const WAIT: Duration = Duration::from_secs(60);

fn otlp() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_otlp"));
    for var in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTLP_AUTH_TOKEN",
    ] {
        command.env_remove(var);
    }
    command
}

/// A command in the background (`serve` or `relay`) and where it listens.
struct Background {
    child: Child,
    grpc: String,
    http: String,
    stderr: mpsc::Receiver<String>,
}

impl Background {
    fn start(args: &[&str]) -> Self {
        Self::start_on(args, "127.0.0.1:0")
    }

    /// Listens for gRPC on `grpc` (an address, port 0 for any).
    fn start_on(args: &[&str], grpc: &str) -> Self {
        let mut child = otlp()
            .args(args)
            .args(["--grpc", grpc, "--http", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (lines, stderr) = mpsc::channel();
        let pipe = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut grpc, mut http) = (None, None);
        let deadline = Instant::now() + WAIT;
        while grpc.is_none() || http.is_none() {
            let line = stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the command says where it listens");
            let address = || {
                line.split(" on ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .map(str::to_owned)
            };
            if line.contains("OTLP/gRPC on ") {
                grpc = address();
            } else if line.contains("OTLP/HTTP on ") {
                http = address();
            }
        }
        Self {
            child,
            grpc: format!("http://{}", grpc.expect("seen")),
            http: format!("http://{}", http.expect("seen")),
            stderr,
        }
    }

    /// Ctrl-C, then the exit status and everything written to stderr since.
    fn stop(mut self) -> (bool, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("waits") {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "did not stop within {WAIT:?} of Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut said = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            said += &line;
            said.push('\n');
        }
        (exit.success(), said)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(args: &[&str]) -> Output {
    otlp()
        .arg("send")
        .args(args)
        .args(["--timeout", "20"])
        .output()
        .expect("the binary runs")
}

/// `send` that must succeed.
fn send_ok(args: &[&str]) -> Output {
    let output = send(args);
    assert!(
        output.status.success(),
        "otlp send {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn records_written(path: &Path) -> [u64; 3] {
    let text = std::fs::read_to_string(path).expect("serve wrote its file");
    let mut records = [0; 3];
    for line in text.lines() {
        let request =
            otlp::sink::decode_line(line.as_bytes()).expect("each line is an OTLP/JSON request");
        let index = match request.signal() {
            Signal::Traces => 0,
            Signal::Metrics => 1,
            Signal::Logs => 2,
            other => panic!("unexpected {other:?}"),
        };
        records[index] += request.record_count() as u64;
    }
    records
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otlp-cli-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn serve_writes_every_record_that_send_sends_over_grpc_and_http() {
    let out = temp_file("serve.jsonl");
    let serve = Background::start(&["serve", "--out", out.to_str().expect("UTF-8")]);
    let grpc = send_ok(&[
        "--endpoint",
        &serve.grpc,
        "--protocol",
        "grpc",
        "--count",
        "2",
        "--records",
        "50",
    ]);
    let report = String::from_utf8_lossy(&grpc.stdout);
    assert!(report.contains("300 sent, 300 accepted"), "{report}");
    for (protocol, compression) in [
        ("http/json", "zstd"),
        ("http/protobuf", "none"),
        ("http/cbor", "snappy"),
        ("http/protobuf", "lz4"),
    ] {
        send_ok(&[
            "--endpoint",
            &serve.http,
            "--protocol",
            protocol,
            "--compression",
            compression,
            "--count",
            "1",
            "--records",
            "50",
        ]);
    }
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    assert!(said.contains("received 300 spans in 6 requests"), "{said}");
    assert_eq!(records_written(&out), [300, 300, 300]);
}

#[test]
fn relay_forwards_everything_it_acknowledged() {
    let out = temp_file("relayed.jsonl");
    let serve = Background::start(&["serve", "--out", out.to_str().expect("UTF-8")]);
    let relay = Background::start(&["relay", "--to", &serve.grpc.clone(), "--protocol", "grpc"]);
    for protocol in ["http/protobuf", "http/json"] {
        send_ok(&[
            "--endpoint",
            &relay.http,
            "--protocol",
            protocol,
            "--count",
            "3",
            "--records",
            "20",
        ]);
    }
    send_ok(&[
        "--endpoint",
        &relay.grpc,
        "--protocol",
        "grpc",
        "--count",
        "3",
        "--records",
        "20",
    ]);
    let (stopped, said) = relay.stop();
    assert!(stopped, "{said}");
    assert!(said.contains("forwarded 27 requests, 0 failed"), "{said}");
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    assert_eq!(records_written(&out), [180, 180, 180]);
}

#[test]
fn a_relay_with_a_queue_dir_forwards_after_a_kill_what_it_acknowledged_before() {
    let dir = temp_file("relay-queue");
    let _ = std::fs::remove_dir_all(&dir);
    let queue_dir = dir.to_str().expect("UTF-8");
    // A port with nothing on it yet: the receiver starts there later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let receiver = format!("127.0.0.1:{port}");
    let to = format!("http://{receiver}");
    let relay_args = [
        "relay",
        "--to",
        &to,
        "--protocol",
        "grpc",
        "--queue-dir",
        queue_dir,
        "--drain-timeout",
        "50",
    ];

    let mut relay = Background::start(&relay_args);
    for protocol in ["grpc", "http/protobuf"] {
        let endpoint = if protocol == "grpc" {
            &relay.grpc
        } else {
            &relay.http
        };
        let sent = send_ok(&[
            "--endpoint",
            endpoint,
            "--protocol",
            protocol,
            "--count",
            "3",
            "--records",
            "10",
        ]);
        let report = String::from_utf8_lossy(&sent.stdout);
        assert!(report.contains("90 sent, 90 accepted"), "{report}");
    }
    // One relay per directory.
    let second = otlp()
        .args(relay_args)
        .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .output()
        .expect("the binary runs");
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("is in use by process"), "{said}");

    // SIGKILL: no drain, no shutdown.
    relay.child.kill().expect("killed");
    relay.child.wait().expect("reaped");
    drop(relay);

    let out = temp_file("relay-queue.jsonl");
    let serve = Background::start_on(&["serve", "--out", out.to_str().expect("UTF-8")], &receiver);
    let relay = Background::start(&relay_args);
    // Ctrl-C drains what the first relay left, within --drain-timeout.
    let (stopped, said) = relay.stop();
    assert!(stopped, "{said}");
    assert!(said.contains("forwarded 18 requests, 0 failed"), "{said}");
    assert!(said.contains("(18 left by the last run)"), "{said}");
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    // Nothing reached the receiver before the kill, so nothing twice.
    assert_eq!(records_written(&out), [60, 60, 60]);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("the queue dir")
        .map(|entry| entry.expect("an entry").file_name())
        .filter(|name| name != "lock")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_relay_killed_while_forwarding_loses_nothing_and_repeats_at_most_its_in_flight() {
    let dir = temp_file("relay-live");
    let _ = std::fs::remove_dir_all(&dir);
    let out = temp_file("relay-live.jsonl");
    let serve = Background::start(&["serve", "--out", out.to_str().expect("UTF-8")]);
    let relay_args = [
        "relay",
        "--to",
        &serve.grpc,
        "--protocol",
        "grpc",
        "--queue-dir",
        dir.to_str().expect("UTF-8"),
        "--consumers",
        "1",
    ];
    let mut relay = Background::start(&relay_args);
    send_ok(&[
        "--endpoint",
        &relay.grpc,
        "--protocol",
        "grpc",
        "--count",
        "40",
        "--records",
        "5",
    ]);
    // Killed as soon as everything is acknowledged, forwarding or not.
    relay.child.kill().expect("killed");
    relay.child.wait().expect("reaped");
    drop(relay);
    let relay = Background::start(&relay_args);
    let (stopped, said) = relay.stop();
    assert!(stopped, "{said}");
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    // Every record at least once; again only what was in flight at the kill
    // (at most one request of 5 records).
    let written = records_written(&out);
    let total: u64 = written.iter().sum();
    assert!(written.iter().all(|&n| n >= 200), "{written:?}");
    assert!(total <= 600 + 5, "{written:?}");
}

#[test]
fn a_relay_with_a_queue_dir_keeps_what_it_could_not_drain_and_says_so() {
    let dir = temp_file("relay-keep");
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let to = format!("http://127.0.0.1:{port}");
    let relay_args = [
        "relay",
        "--to",
        &to,
        "--protocol",
        "grpc",
        "--queue-dir",
        dir.to_str().expect("UTF-8"),
        "--queue-sync",
        "periodic",
        "--drain-timeout",
        "0.5",
    ];
    let relay = Background::start(&relay_args);
    send_ok(&[
        "--endpoint",
        &relay.grpc,
        "--protocol",
        "grpc",
        "--count",
        "2",
        "--records",
        "5",
    ]);
    let (stopped, said) = relay.stop();
    // Nothing was lost, so the stop is a success.
    assert!(stopped, "{said}");
    assert!(said.contains("6 requests not forwarded within"), "{said}");
    assert!(said.contains("6 kept on disk for the next start"), "{said}");
    assert!(!said.contains("dropped"), "{said}");
    let relay = Background::start(&relay_args);
    let (_, said) = relay.stop();
    assert!(said.contains("(6 left by the last run)"), "{said}");
}

#[test]
fn serve_with_an_auth_token_refuses_senders_without_it() {
    let out = temp_file("auth.jsonl");
    let serve = Background::start(&[
        "serve",
        "--out",
        out.to_str().expect("UTF-8"),
        "--auth-token",
        "s3cret",
    ]);
    for endpoint in [&serve.grpc, &serve.http] {
        let protocol = if endpoint == &serve.grpc {
            "grpc"
        } else {
            "http/protobuf"
        };
        let refused = send(&[
            "--endpoint",
            endpoint,
            "--protocol",
            protocol,
            "--signal",
            "logs",
            "--count",
            "1",
        ]);
        assert!(!refused.status.success());
        let report = String::from_utf8_lossy(&refused.stdout);
        assert!(report.contains("permanent"), "{protocol}: {report}");
        send_ok(&[
            "--endpoint",
            endpoint,
            "--protocol",
            protocol,
            "--signal",
            "logs",
            "--count",
            "1",
            "--bearer-token",
            "s3cret",
        ]);
    }
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    assert_eq!(records_written(&out), [0, 0, 1024]);
}

#[test]
fn send_to_nothing_fails_with_a_report() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let closed = format!("http://{}", listener.local_addr().expect("bound"));
    drop(listener);
    let output = otlp()
        .args([
            "send",
            "--endpoint",
            &closed,
            "--protocol",
            "http/protobuf",
            "--count",
            "1",
            "--signal",
            "traces",
            "--timeout",
            "5",
        ])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("1 sent, 1 failed"), "{report}");
    let retries: u64 = report
        .split(" failed, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the report counts retries");
    assert!(retries >= 1, "a refused connection is retried: {report}");
    assert!(report.contains("first error: retryable"), "{report}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 of 1 requests failed"));
}

#[test]
fn serve_takes_websocket_exports_on_the_http_port() {
    let out = temp_file("ws.jsonl");
    let serve = Background::start(&["serve", "--out", out.to_str().expect("UTF-8")]);
    let http = serve.http.trim_start_matches("http://").to_owned();
    let endpoint = format!("ws://{http}");
    for compression in ["none", "zstd", "lz4"] {
        let sent = send_ok(&[
            "--endpoint",
            &endpoint,
            "--protocol",
            "ws",
            "--compression",
            compression,
            "--count",
            "2",
            "--records",
            "50",
        ]);
        let report = String::from_utf8_lossy(&sent.stdout);
        assert!(report.contains("300 sent, 300 accepted"), "{report}");
    }
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    assert!(
        said.contains(&format!("otlp serve: OTLP/WebSocket on {http}/v1/ws")),
        "{said}"
    );
    assert!(said.contains("received 300 spans in 6 requests"), "{said}");
    assert_eq!(records_written(&out), [300, 300, 300]);

    // Without --ws the path is not served, and the sender says so.
    let serve = Background::start(&["serve", "--no-ws", "--out", out.to_str().expect("UTF-8")]);
    let endpoint = serve.http.replacen("http://", "ws://", 1);
    let refused = send(&["--endpoint", &endpoint, "--protocol", "ws", "--count", "1"]);
    assert!(!refused.status.success());
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    assert!(!said.contains("OTLP/WebSocket"), "{said}");
}

#[test]
fn serve_over_mutual_tls_takes_grpc_http_and_websocket_exports() {
    let ca = otlp_datagen::pki::Pki::new();
    let server = ca.leaf(&["localhost"]);
    let client = ca.leaf(&["exporter"]);
    let pem = |name: &str, text: &str| {
        let path = temp_file(name);
        std::fs::write(&path, text).expect("a temp file");
        path.to_str().expect("UTF-8").to_owned()
    };
    let ca_file = pem("ca.pem", ca.ca_pem());
    let (server_cert, server_key) = (
        pem("server.pem", &server.cert_pem),
        pem("server-key.pem", &server.key_pem),
    );
    let (client_cert, client_key) = (
        pem("client.pem", &client.cert_pem),
        pem("client-key.pem", &client.key_pem),
    );
    let out = temp_file("tls.jsonl");
    let serve = Background::start(&[
        "serve",
        "--tls-cert",
        &server_cert,
        "--tls-key",
        &server_key,
        "--client-ca",
        &ca_file,
        "--out",
        out.to_str().expect("UTF-8"),
    ]);
    // The certificate names localhost.
    let on_localhost = |url: &str, scheme: &str| {
        url.replacen("http://127.0.0.1", &format!("{scheme}://localhost"), 1)
    };
    let endpoints = [
        ("grpc", on_localhost(&serve.grpc, "https")),
        ("http/protobuf", on_localhost(&serve.http, "https")),
        ("ws", on_localhost(&serve.http, "wss")),
    ];
    for (protocol, endpoint) in &endpoints {
        let mut args = vec![
            "--endpoint",
            endpoint,
            "--protocol",
            protocol,
            "--count",
            "1",
            "--records",
            "50",
            "--ca",
            &ca_file,
        ];
        // Without a client certificate, mutual TLS refuses the sender (not
        // retried, and a short timeout: the WebSocket client reconnects
        // until it runs out).
        let refused = otlp()
            .arg("send")
            .args(&args)
            .args(["--retry-for", "0", "--timeout", "2"])
            .output()
            .expect("the binary runs");
        assert!(
            !refused.status.success(),
            "{protocol} without a client certificate"
        );
        args.extend(["--client-cert", &client_cert, "--client-key", &client_key]);
        let sent = send(&args);
        assert!(
            sent.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&sent.stderr)
        );
    }
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    assert!(said.contains("received 150 spans in 3 requests"), "{said}");
    assert_eq!(records_written(&out), [150, 150, 150]);
}

#[test]
fn send_goes_through_the_proxy_the_environment_names() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the proxy");
    let proxy = runtime
        .block_on(otlp_datagen::proxy::TestProxy::with_credentials(
            "otel", "secret",
        ))
        .expect("the proxy starts");
    let proxy_url = proxy.url().replace("http://", "http://otel:secret@");
    let out = temp_file("proxied.jsonl");
    let serve = Background::start(&["serve", "--out", out.to_str().expect("UTF-8")]);
    // A name only the proxy can resolve: loopback endpoints are never proxied.
    let name = |address: &str| {
        let addr = address.trim_start_matches("http://").parse().unwrap();
        proxy.resolve("collector.test", addr)
    };
    let (grpc, http) = (name(&serve.grpc), name(&serve.http));
    for (protocol, endpoint) in [
        ("grpc", format!("http://{grpc}")),
        ("http/protobuf", format!("http://{http}")),
        ("ws", format!("ws://{http}")),
    ] {
        let sent = otlp()
            .env("HTTP_PROXY", &proxy_url)
            .env_remove("http_proxy")
            .env("NO_PROXY", "example.com")
            .args(["send", "--endpoint", &endpoint, "--protocol", protocol])
            .args(["--count", "1", "--records", "20", "--timeout", "20"])
            .output()
            .expect("the binary runs");
        assert!(
            sent.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&sent.stderr)
        );
    }
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    assert_eq!(records_written(&out), [60, 60, 60]);
    let seen = proxy.seen();
    let asked: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str()))
        .collect();
    assert!(asked.contains(&("CONNECT", grpc.as_str())), "{asked:?}");
    assert!(asked.contains(&("CONNECT", http.as_str())), "{asked:?}");
    assert!(
        asked.iter().any(|(method, target)| *method == "POST"
            && target.starts_with(&format!("http://{http}/v1/"))),
        "{asked:?}"
    );
    assert!(seen.iter().all(|s| s.authorization.is_some()), "{seen:?}");

    // A proxy the exporters cannot use is an error that names its variable.
    let refused = otlp()
        .env("HTTP_PROXY", "socks5://proxy.example:1080")
        .args([
            "send",
            "--endpoint",
            &format!("http://{http}"),
            "--count",
            "1",
        ])
        .output()
        .expect("the binary runs");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("HTTP_PROXY") && said.contains("only http:// proxies"),
        "{said}"
    );
}

#[test]
fn send_help_names_every_compression() {
    let output = otlp()
        .args(["send", "--help"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for name in [
        "gzip",
        "deflate",
        "zstd",
        "snappy",
        "x-snappy-framed",
        "lz4",
    ] {
        assert!(help.contains(name), "{name} missing from: {help}");
    }
}
