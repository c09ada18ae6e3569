//! Shared by the integration tests: sinks, requests of every signal, and a
//! raw WebSocket client for sending exactly chosen messages.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_transport::{ExportRequest, Outcome, Payload, Signal, Sink, SinkError};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every wait in the tests ends within this, or the test fails.
pub const BOUND: Duration = Duration::from_secs(20);

/// Records what it receives and answers as told.
pub struct Recorder {
    pub received: Mutex<Vec<Payload>>,
    pub answer: Mutex<Result<Outcome, SinkError>>,
    pub encoded: bool,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Self::with(false, Ok(Outcome::Success))
    }

    pub fn encoded() -> Arc<Self> {
        Self::with(true, Ok(Outcome::Success))
    }

    pub fn answering(answer: Result<Outcome, SinkError>) -> Arc<Self> {
        Self::with(false, answer)
    }

    fn with(encoded: bool, answer: Result<Outcome, SinkError>) -> Arc<Self> {
        Arc::new(Self {
            received: Mutex::new(Vec::new()),
            answer: Mutex::new(answer),
            encoded,
        })
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
        self.answer.lock().unwrap().clone()
    }
}

/// Counts requests by the number in their first span's name, and stops
/// answering (forever) after `answer_first` of them when that is set.
pub struct Counter {
    pub seen: Mutex<HashMap<u32, u32>>,
    pub entered: AtomicUsize,
    pub answer_first: Option<usize>,
    pub in_flight: AtomicUsize,
    pub peak: AtomicUsize,
    pub hold: Option<Duration>,
}

impl Counter {
    pub fn new(answer_first: Option<usize>, hold: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            seen: Mutex::new(HashMap::new()),
            entered: AtomicUsize::new(0),
            answer_first,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            hold,
        })
    }

    pub fn seen(&self) -> HashMap<u32, u32> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl Sink for Counter {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let request = payload.into_request(64 << 20).expect("decodes");
        let ExportRequest::Traces(traces) = request else {
            panic!("traces only")
        };
        let number: u32 = traces.resource_spans[0].scope_spans[0].spans[0]
            .name
            .strip_prefix("req-")
            .expect("numbered")
            .parse()
            .expect("a number");
        *self.seen.lock().unwrap().entry(number).or_default() += 1;
        let entered = self.entered.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if self.answer_first.is_some_and(|first| entered > first) {
            std::future::pending::<()>().await;
        }
        if let Some(hold) = self.hold {
            tokio::time::sleep(hold).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(Outcome::Success)
    }
}

/// A small traces request whose first span is named `req-<number>`.
pub fn numbered(number: u32) -> ExportRequest {
    let mut traces: ExportTraceServiceRequest = otlp_datagen::Generator::new(u64::from(number))
        .resources(1)
        .records(3)
        .traces();
    traces.resource_spans[0].scope_spans[0].spans[0].name = format!("req-{number}").into();
    ExportRequest::from(traces)
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

pub type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a raw WebSocket to `url_path` (path and query) offering
/// `subprotocol`, with extra headers.
pub async fn raw(
    addr: SocketAddr,
    path: &str,
    subprotocol: Option<&str>,
    headers: &[(&'static str, &str)],
) -> Result<Raw, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(subprotocol) = subprotocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", subprotocol.parse().unwrap());
    }
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let connect = tokio_tungstenite::connect_async(request);
    let (ws, _) = tokio::time::timeout(BOUND, connect)
        .await
        .expect("in time")?;
    Ok(ws)
}

/// Reads until the server closes; its close code and reason. Reads on after
/// the close frame, as a browser does, so that the reply goes out.
pub async fn close_code(ws: &mut Raw) -> (u16, String) {
    let read = async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(frame)) => {
                    while let Some(Ok(_)) = ws.next().await {}
                    return frame.map_or((1005, String::new()), |frame| {
                        (u16::from(frame.code), frame.reason.to_string())
                    });
                }
                Ok(_) => {}
                Err(error) => panic!("no close frame: {error}"),
            }
        }
        panic!("the connection ended without a close frame")
    };
    tokio::time::timeout(BOUND, read)
        .await
        .expect("closed in time")
}

/// The next data message.
pub async fn next_data(ws: &mut Raw) -> Message {
    let read = async {
        loop {
            let message = ws.next().await.expect("a message").expect("readable");
            if matches!(
                message,
                Message::Binary(_) | Message::Text(_) | Message::Close(_)
            ) {
                return message;
            }
        }
    };
    tokio::time::timeout(BOUND, read)
        .await
        .expect("answered in time")
}
