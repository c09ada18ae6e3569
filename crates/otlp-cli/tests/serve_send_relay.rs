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
        let mut child = otlp()
            .args(args)
            .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
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
    let grpc = send(&[
        "--endpoint",
        &serve.grpc,
        "--protocol",
        "grpc",
        "--count",
        "2",
        "--records",
        "50",
    ]);
    assert!(
        grpc.status.success(),
        "{}",
        String::from_utf8_lossy(&grpc.stderr)
    );
    let report = String::from_utf8_lossy(&grpc.stdout);
    assert!(report.contains("300 sent, 300 accepted"), "{report}");
    for (protocol, compression) in [
        ("http/json", "zstd"),
        ("http/protobuf", "none"),
        ("http/cbor", "snappy"),
        ("http/protobuf", "lz4"),
    ] {
        let http = send(&[
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
        assert!(
            http.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&http.stderr)
        );
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
        let sent = send(&[
            "--endpoint",
            &relay.http,
            "--protocol",
            protocol,
            "--count",
            "3",
            "--records",
            "20",
        ]);
        assert!(
            sent.status.success(),
            "{}",
            String::from_utf8_lossy(&sent.stderr)
        );
    }
    let sent = send(&[
        "--endpoint",
        &relay.grpc,
        "--protocol",
        "grpc",
        "--count",
        "3",
        "--records",
        "20",
    ]);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let (stopped, said) = relay.stop();
    assert!(stopped, "{said}");
    assert!(said.contains("forwarded 27 requests, 0 failed"), "{said}");
    let (stopped, said) = serve.stop();
    assert!(stopped, "{said}");
    assert_eq!(records_written(&out), [180, 180, 180]);
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
        let accepted = send(&[
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
        assert!(
            accepted.status.success(),
            "{}",
            String::from_utf8_lossy(&accepted.stderr)
        );
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
        let sent = send(&[
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
        assert!(
            sent.status.success(),
            "{compression}: {}",
            String::from_utf8_lossy(&sent.stderr)
        );
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
