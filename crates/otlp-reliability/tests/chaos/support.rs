//! The chaos harness: a fault-injecting receiver behind a real transport on
//! 127.0.0.1, a connection-resetting TCP proxy, and numbered export items.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use otlp_transport::{
    BoxExportService, Encoded, ExportRequest, Outcome, Payload, Sink, SinkError, WireFormat,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What the receiver does wrong, and how often.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Faults {
    /// Share of exports answered with a retryable error.
    pub(crate) fail_rate: f64,
    /// The error carries this throttle delay (HTTP 429 `Retry-After`, gRPC
    /// RESOURCE_EXHAUSTED with `RetryInfo`); without it, UNAVAILABLE / 503.
    pub(crate) throttle: Option<Duration>,
    /// No item is failed more often than this, so that every item gets
    /// through within a bounded number of attempts.
    pub(crate) max_failures_per_item: u32,
    /// Share of exports accepted and then answered only after `stall`
    /// (past the client's timeout: the client retries, a duplicate).
    pub(crate) stall_rate: f64,
    /// How long a stall lasts.
    pub(crate) stall: Duration,
    /// Time to answer every accepted export.
    pub(crate) latency: Duration,
}

/// One arrival of an item at the receiver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    pub(crate) at: Instant,
    /// The answer was a throttle with this delay.
    pub(crate) throttled: Option<Duration>,
    pub(crate) accepted: bool,
}

/// A receiver's sink that injects faults and records every arrival by item id.
#[derive(Debug, Default)]
pub(crate) struct FaultSink {
    faults: Mutex<Faults>,
    arrivals: Mutex<HashMap<u64, Vec<Arrival>>>,
    rng: Mutex<fastrand::Rng>,
    failures: AtomicU64,
    stalls: AtomicU64,
}

impl FaultSink {
    pub(crate) fn new(faults: Faults) -> Arc<Self> {
        Arc::new(Self {
            faults: Mutex::new(faults),
            ..Self::default()
        })
    }

    /// How many times each item was accepted.
    pub(crate) fn deliveries(&self) -> HashMap<u64, u32> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .map(|(id, arrivals)| (*id, arrivals.iter().filter(|a| a.accepted).count() as u32))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Accepted deliveries beyond the first of each item.
    pub(crate) fn duplicates(&self) -> u64 {
        self.deliveries().values().map(|n| u64::from(n - 1)).sum()
    }

    pub(crate) fn arrivals(&self) -> HashMap<u64, Vec<Arrival>> {
        self.arrivals.lock().unwrap().clone()
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }

    pub(crate) fn stalls(&self) -> u64 {
        self.stalls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Sink for FaultSink {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let id = item_id(payload)?;
        let faults = *self.faults.lock().unwrap();
        let (fail, stall) = {
            let mut rng = self.rng.lock().unwrap();
            (rng.f64() < faults.fail_rate, rng.f64() < faults.stall_rate)
        };
        let at = Instant::now();
        let failed_before = self
            .arrivals
            .lock()
            .unwrap()
            .get(&id)
            .map_or(0, |arrivals| {
                arrivals.iter().filter(|a| !a.accepted).count() as u32
            });
        let fail = fail && failed_before < faults.max_failures_per_item;
        self.arrivals
            .lock()
            .unwrap()
            .entry(id)
            .or_default()
            .push(Arrival {
                at,
                throttled: if fail { faults.throttle } else { None },
                accepted: !fail,
            });
        if fail {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(match faults.throttle {
                Some(retry_after) => SinkError::Throttled {
                    retry_after,
                    message: "chaos: slow down".into(),
                },
                None => SinkError::Unavailable {
                    retry_after: None,
                    message: "chaos: unavailable".into(),
                },
            });
        }
        if stall {
            self.stalls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(faults.stall).await;
        } else if !faults.latency.is_zero() {
            tokio::time::sleep(faults.latency).await;
        }
        Ok(Outcome::Success)
    }
}

fn item_id(payload: Payload) -> Result<u64, SinkError> {
    match payload.into_request(4 << 20) {
        Ok(ExportRequest::Logs(request)) => request
            .resource_logs
            .first()
            .and_then(|r| r.scope_logs.first())
            .and_then(|s| s.log_records.first())
            .map(|record| record.time_unix_nano)
            .ok_or_else(|| SinkError::InvalidData("no log record".into())),
        Ok(_) => Err(SinkError::InvalidData("not logs".into())),
        Err(error) => Err(SinkError::InvalidData(error.to_string())),
    }
}

/// Export item `id`: a logs request whose one record carries the id, padded
/// to about `size` bytes, in the client's wire format (encoded once).
pub(crate) fn item(id: u64, size: usize, wire: &WireFormat) -> Encoded {
    let record = LogRecord {
        time_unix_nano: id,
        severity_text: "x".repeat(size.saturating_sub(32)).into(),
        ..LogRecord::default()
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    wire.encode(Payload::from(ExportRequest::from(request)))
        .expect("a small logs request encodes")
}

/// A transport under test: its server and its client.
pub(crate) trait Transport: Send + Sync + 'static {
    type Handle: Send + 'static;

    /// Serves `sink` on `addr` (port 0 for an ephemeral one).
    fn start(
        addr: SocketAddr,
        sink: Arc<FaultSink>,
    ) -> impl Future<Output = (SocketAddr, Self::Handle)> + Send;

    /// Stops serving; connections are closed.
    fn stop(handle: Self::Handle) -> impl Future<Output = ()> + Send;

    /// A client sending to `addr`, and its wire format.
    fn client(addr: SocketAddr) -> (BoxExportService, WireFormat);
}

/// A receiver that can be taken down and brought back on the same address.
pub(crate) struct Receiver<T: Transport> {
    pub(crate) addr: SocketAddr,
    pub(crate) sink: Arc<FaultSink>,
    handle: Option<T::Handle>,
}

impl<T: Transport> Receiver<T> {
    pub(crate) async fn start(sink: Arc<FaultSink>) -> Self {
        let (addr, handle) = T::start("127.0.0.1:0".parse().unwrap(), sink.clone()).await;
        Self {
            addr,
            sink,
            handle: Some(handle),
        }
    }

    pub(crate) async fn down(&mut self) {
        if let Some(handle) = self.handle.take() {
            T::stop(handle).await;
        }
    }

    pub(crate) async fn up(&mut self) {
        let (_, handle) = T::start(self.addr, self.sink.clone()).await;
        self.handle = Some(handle);
    }

    pub(crate) async fn stop(mut self) {
        self.down().await;
    }
}

/// The OTLP/HTTP transport of `otlp-http`.
pub(crate) struct Http;

impl Transport for Http {
    type Handle = otlp_http::ServerHandle;

    async fn start(addr: SocketAddr, sink: Arc<FaultSink>) -> (SocketAddr, Self::Handle) {
        // The address may still be held for a moment after a stop.
        let mut tries = 0;
        let server = loop {
            match otlp_http::Server::builder()
                .drain_timeout(Duration::from_millis(500))
                .bind(addr)
                .await
            {
                Ok(server) => break server,
                Err(error) if tries < 50 => {
                    tries += 1;
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("cannot bind {addr}: {error}"),
            }
        };
        let handle = server.spawn(sink);
        (handle.local_addr(), handle)
    }

    async fn stop(handle: Self::Handle) {
        handle.shutdown().await.expect("the server stops");
    }

    fn client(addr: SocketAddr) -> (BoxExportService, WireFormat) {
        let client = otlp_http::Client::builder()
            .endpoint(format!("http://{addr}"))
            // The per-attempt timeout is the layer's; this one only backs it up.
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a valid endpoint");
        let wire = client.wire_format();
        (BoxExportService::new(client), wire)
    }
}

/// The OTLP/gRPC transport of `otlp-grpc`.
pub(crate) struct Grpc;

impl Transport for Grpc {
    type Handle = otlp_grpc::ServerHandle;

    async fn start(addr: SocketAddr, sink: Arc<FaultSink>) -> (SocketAddr, Self::Handle) {
        // The address may still be held for a moment after a stop.
        let mut tries = 0;
        let server = loop {
            match otlp_grpc::Server::builder().bind(addr).await {
                Ok(server) => break server,
                Err(error) if tries < 50 => {
                    tries += 1;
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("cannot bind {addr}: {error}"),
            }
        };
        let handle = server.spawn(sink);
        (handle.local_addr(), handle)
    }

    async fn stop(handle: Self::Handle) {
        handle.shutdown().await.expect("the server stops");
    }

    fn client(addr: SocketAddr) -> (BoxExportService, WireFormat) {
        let client = otlp_grpc::Client::builder()
            .endpoint(format!("http://{addr}"))
            // The per-attempt timeout is the layer's; this one only backs it up.
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(1))
            .build()
            .expect("a valid endpoint");
        let wire = client.wire_format();
        (BoxExportService::new(client), wire)
    }
}

/// A TCP proxy to `upstream` that resets (RST) a connection instead of
/// forwarding a chunk from the client, with probability `rate`.
pub(crate) struct ResetProxy {
    pub(crate) addr: SocketAddr,
    pub(crate) resets: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl ResetProxy {
    pub(crate) async fn start(upstream: SocketAddr, rate: f64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let resets = Arc::new(AtomicU64::new(0));
        let counter = resets.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                connections.spawn(relay(client, upstream, rate, counter.clone()));
            }
        });
        Self { addr, resets, task }
    }

    pub(crate) fn resets(&self) -> u64 {
        self.resets.load(Ordering::SeqCst)
    }
}

impl Drop for ResetProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, rate: f64, resets: Arc<AtomicU64>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let mut rng = fastrand::Rng::new();
    let (mut up, mut down) = (vec![0; 64 << 10], vec![0; 64 << 10]);
    loop {
        tokio::select! {
            read = client.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if rng.f64() < rate {
                        resets.fetch_add(1, Ordering::SeqCst);
                        let _ = client.set_zero_linger();
                        return;
                    }
                    if server.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
            },
            read = server.read(&mut down) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if client.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}
