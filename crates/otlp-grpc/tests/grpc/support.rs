//! What the gRPC tests share: a recording sink and sample requests.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use otlp_grpc::{Client, ClientBuilder, Server, ServerBuilder, ServerHandle};
use otlp_proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use otlp_proto::profiles::v1development::{Profile, ResourceProfiles, ScopeProfiles};
use otlp_transport::{ExportRequest, Outcome, Payload, Signal, Sink, SinkError};
use tokio::sync::Semaphore;

/// The longest any test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A sink that records what it receives and answers as told.
pub struct Recorder {
    encoded: bool,
    answer: Mutex<Option<Result<Outcome, SinkError>>>,
    received: Mutex<Vec<Payload>>,
    /// When set, each call waits for a permit before answering.
    gate: Option<Arc<Semaphore>>,
    /// Gets a permit when a call enters the sink.
    pub entered: Semaphore,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// When set, each call holds its place this long (to let calls overlap).
    hold: Option<Duration>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            encoded: false,
            answer: Mutex::default(),
            received: Mutex::default(),
            gate: None,
            entered: Semaphore::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            hold: None,
        }
    }
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A sink that asks for payloads still encoded.
    pub fn encoded() -> Arc<Self> {
        Arc::new(Self {
            encoded: true,
            ..Self::default()
        })
    }

    /// A sink that always answers `answer`.
    pub fn answering(answer: Result<Outcome, SinkError>) -> Arc<Self> {
        Arc::new(Self {
            answer: Mutex::new(Some(answer)),
            ..Self::default()
        })
    }

    /// A sink whose calls wait for a permit of `gate`.
    pub fn gated(gate: Arc<Semaphore>) -> Arc<Self> {
        Arc::new(Self {
            gate: Some(gate),
            ..Self::default()
        })
    }

    /// A sink whose calls each take `hold`.
    pub fn holding(hold: Duration) -> Arc<Self> {
        Arc::new(Self {
            hold: Some(hold),
            ..Self::default()
        })
    }

    pub fn received(&self) -> Vec<Payload> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

#[async_trait]
impl Sink for Recorder {
    fn wants_encoded(&self, _signal: Signal) -> bool {
        self.encoded
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.entered.add_permits(1);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("never closed").forget();
        }
        if let Some(hold) = self.hold {
            tokio::time::sleep(hold).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.received.lock().unwrap().push(payload);
        self.answer
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(Ok(Outcome::Success))
    }
}

/// One small request of each signal.
pub fn requests() -> Vec<ExportRequest> {
    let generator = otlp_datagen::Generator::new(11).resources(2).records(40);
    vec![
        ExportRequest::from(generator.traces()),
        ExportRequest::from(generator.metrics()),
        ExportRequest::from(generator.logs()),
        ExportRequest::from(profiles()),
    ]
}

/// A profiles request with three (empty) profiles.
pub fn profiles() -> ExportProfilesServiceRequest {
    ExportProfilesServiceRequest {
        resource_profiles: vec![ResourceProfiles {
            scope_profiles: vec![ScopeProfiles {
                profiles: vec![Profile::default(); 3],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A traces request of `spans` spans.
pub fn traces(spans: usize) -> ExportRequest {
    ExportRequest::from(
        otlp_datagen::Generator::new(5)
            .resources(1)
            .spans(spans)
            .traces(),
    )
}

/// Starts `builder`'s server on a free port of 127.0.0.1.
pub async fn start(builder: ServerBuilder, sink: impl Sink) -> ServerHandle {
    builder
        .bind("127.0.0.1:0")
        .await
        .expect("binds 127.0.0.1:0")
        .spawn(sink)
}

/// Starts a default server.
pub async fn serve(sink: impl Sink) -> ServerHandle {
    start(Server::builder(), sink).await
}

/// A client builder aimed at `server`.
pub fn client_for(server: &ServerHandle) -> ClientBuilder {
    Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .timeout(PATIENCE)
}

/// Runs `future`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("finished in time")
}
