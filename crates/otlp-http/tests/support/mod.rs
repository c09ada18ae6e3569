//! Shared by the integration tests: a recording sink, requests of every
//! signal, a plain hyper client for sending exactly chosen bytes.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use otlp_transport::{ExportRequest, Outcome, Payload, Signal, Sink, SinkError};
use tokio::sync::Notify;

/// Every test finishes well inside this, or fails.
pub const BOUND: Duration = Duration::from_secs(20);

/// Records what it receives and answers as told.
pub struct Recorder {
    pub received: Mutex<Vec<Payload>>,
    pub answer: Mutex<Result<Outcome, SinkError>>,
    pub encoded: bool,
    /// When set, each export waits for a notification before answering.
    pub gate: Option<Arc<Notify>>,
    pub entered: Notify,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::with(false))
    }

    pub fn encoded() -> Arc<Self> {
        Arc::new(Self::with(true))
    }

    pub fn answering(answer: Result<Outcome, SinkError>) -> Arc<Self> {
        let recorder = Self::with(false);
        *recorder.answer.lock().unwrap() = answer;
        Arc::new(recorder)
    }

    pub fn gated(gate: Arc<Notify>) -> Arc<Self> {
        let mut recorder = Self::with(false);
        recorder.gate = Some(gate);
        Arc::new(recorder)
    }

    fn with(encoded: bool) -> Self {
        Self {
            received: Mutex::new(Vec::new()),
            answer: Mutex::new(Ok(Outcome::Success)),
            encoded,
            gate: None,
            entered: Notify::new(),
        }
    }

    pub fn take(&self) -> Vec<Payload> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

#[async_trait]
impl Sink for Recorder {
    fn wants_encoded(&self, _: Signal) -> bool {
        self.encoded
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        self.received.lock().unwrap().push(payload);
        self.entered.notify_one();
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        self.answer.lock().unwrap().clone()
    }
}

/// A small request of `signal` with some records.
pub fn request(signal: Signal) -> ExportRequest {
    let generator = otlp_datagen::Generator::new(7).resources(2).records(25);
    match signal {
        Signal::Traces => generator.traces().into(),
        Signal::Metrics => generator.metrics().into(),
        Signal::Logs => generator.logs().into(),
        Signal::Profiles => ExportRequest::from(
            otlp_proto::collector::profiles::v1development::ExportProfilesServiceRequest::default(),
        ),
    }
}

/// What a raw POST got back.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends one request with a plain hyper client (HTTP/1.1).
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Answer {
    let client = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let (mut parts, body) = request.into_parts();
    let mut uri = format!("http://{addr}{}", parts.uri.path());
    if let Some(query) = parts.uri.query() {
        uri.push('?');
        uri.push_str(query);
    }
    parts.uri = uri.parse().unwrap();
    let response = tokio::time::timeout(BOUND, client.request(Request::from_parts(parts, body)))
        .await
        .expect("answered in time")
        .expect("answered");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A POST of `body` to `path` with the given content type (and encoding).
pub fn post(
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::post(path).header("content-type", content_type);
    if let Some(encoding) = encoding {
        builder = builder.header("content-encoding", encoding);
    }
    builder.body(Full::new(body.into())).unwrap()
}

/// The `google.rpc.Status` message of a protobuf error body.
pub fn status_message(body: &[u8]) -> String {
    <otlp_proto::google::rpc::Status as prost::Message>::decode(body)
        .expect("a protobuf google.rpc.Status")
        .message
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// What a plain hyper server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A plain hyper server: where it listens, what it saw, how many connections
/// it accepted.
pub struct Plain {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

/// A plain hyper server (HTTP/1.1 and h2c, no otlp-http code) answering every
/// request with `respond`, recording what it saw.
pub async fn plain_server<F>(respond: F) -> Plain
where
    F: Fn(&Seen) -> http::Response<Full<Bytes>> + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let respond = Arc::new(respond);
    let log = seen.clone();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let respond = respond.clone();
            let log = log.clone();
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let respond = respond.clone();
                    let log = log.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await?.to_bytes();
                        let seen = Seen {
                            path: parts.uri.path().to_string(),
                            version: parts.version,
                            headers: parts.headers,
                            body,
                        };
                        let response = respond(&seen);
                        log.lock().unwrap().push(seen);
                        Ok::<_, hyper::Error>(response)
                    }
                });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Plain {
        addr,
        seen,
        connections,
    }
}

/// A response with a status, headers and body.
pub fn respond(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> http::Response<Full<Bytes>> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(body.into())).unwrap()
}
