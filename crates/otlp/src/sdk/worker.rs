//! The transport client on a runtime of its own.
//!
//! The SDK calls exporters from its own background threads with a plain
//! executor (`futures_executor::block_on`), and applications call the
//! synchronous `shutdown` of a provider from wherever they are — inside a
//! current-thread tokio runtime too. The transport clients need tokio. So
//! each adapter owns one small thread running a current-thread tokio
//! runtime that makes the calls; `export` hands it a request and awaits the
//! answer over a oneshot channel, which any executor can await. Nothing
//! ever blocks a thread the caller's runtime needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc as std_mpsc};
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use otlp_reliability::{Stats, StatsSnapshot};
use otlp_transport::{
    BoxExportService, Encoded, ExportError, ExportRequest, Outcome, Payload, Signal, WireFormat,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::ExporterConfig;
use crate::exporter::{ExporterError, Layers};

/// What an SDK exporter adapter has done, since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SdkExportStats {
    /// Export requests sent (one per SDK batch that had records).
    pub requests: u64,
    /// Records (spans, log records, metric data points) the receiver took.
    pub exported_records: u64,
    /// Records the receiver refused in a partial success: not retried,
    /// per OTLP, and counted here.
    pub rejected_records: u64,
    /// Records lost because their export failed (after the retries) or could
    /// not be encoded; the SDK was told with an error.
    pub failed_records: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    exported: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

struct Job {
    encoded: Encoded,
    reply: oneshot::Sender<Result<Outcome, ExportError>>,
}

/// The exporting thread of one adapter and the handle to reach it.
#[derive(Debug)]
pub(crate) struct Worker {
    signal: Signal,
    wire_format: WireFormat,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    /// Disconnects when the thread has answered its last request and ended.
    finished: Mutex<Option<std_mpsc::Receiver<()>>>,
    /// Tells the thread to give up on the exports still in flight.
    abort: Mutex<Option<oneshot::Sender<()>>>,
    counters: Arc<Counters>,
    reliability: Stats,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("encoded", &self.encoded)
            .finish()
    }
}

impl Worker {
    /// Builds the configuration's clients behind the reliability layers and
    /// starts the thread that runs them.
    pub(crate) fn start(config: &ExporterConfig, layers: &Layers) -> Result<Self, ExporterError> {
        let signal = config.signal();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ExporterError::Runtime)?;
        // Clients may look for a runtime when built: give them this one.
        let (service, wire_format, reliability) = {
            let _entered = runtime.enter();
            layers.service(config)?
        };
        let (jobs, queue) = mpsc::unbounded_channel();
        let (finished_tx, finished) = std_mpsc::channel::<()>();
        let (abort, aborted) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("otlp-sdk-{signal}"))
            .spawn(move || {
                runtime.block_on(run(service, queue, aborted));
                // Dropping the runtime here, on its own thread, is always allowed.
                drop(runtime);
                drop(finished_tx);
            })
            .map_err(ExporterError::Runtime)?;
        Ok(Self {
            signal,
            wire_format,
            jobs: Mutex::new(Some(jobs)),
            finished: Mutex::new(Some(finished)),
            abort: Mutex::new(Some(abort)),
            counters: Arc::default(),
            reliability,
        })
    }

    /// Exports one request, waiting for the receiver's answer (retries
    /// included). Any executor may await it.
    pub(crate) async fn export(&self, request: ExportRequest) -> OTelSdkResult {
        let records = request.record_count() as u64;
        if records == 0 {
            return Ok(());
        }
        let answer = self.send(request, records)?;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let result = answer.await.unwrap_or_else(|_| {
            Err(ExportError::permanent(
                "the exporter's thread stopped before answering",
            ))
        });
        match result {
            Ok(Outcome::Success) => {
                self.counters.exported.fetch_add(records, Ordering::Relaxed);
                Ok(())
            }
            // A partial success is a success: the rejected records must not
            // be sent again. They are counted.
            Ok(Outcome::PartialSuccess { rejected, .. }) => {
                let rejected = u64::try_from(rejected).unwrap_or(0).min(records);
                self.counters
                    .exported
                    .fetch_add(records - rejected, Ordering::Relaxed);
                self.counters
                    .rejected
                    .fetch_add(rejected, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                self.counters.failed.fetch_add(records, Ordering::Relaxed);
                Err(OTelSdkError::InternalFailure(format!(
                    "OTLP export of {records} {} records failed: {error}",
                    self.signal
                )))
            }
        }
    }

    fn send(
        &self,
        request: ExportRequest,
        records: u64,
    ) -> Result<oneshot::Receiver<Result<Outcome, ExportError>>, OTelSdkError> {
        let fail = |message: String| {
            self.counters.failed.fetch_add(records, Ordering::Relaxed);
            OTelSdkError::InternalFailure(message)
        };
        let encoded = self
            .wire_format
            .encode(Payload::Request(request))
            .map_err(|e| {
                fail(format!(
                    "cannot encode {records} {} records for OTLP: {e}",
                    self.signal
                ))
            })?;
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(jobs) = jobs.as_ref() else {
            self.counters.failed.fetch_add(records, Ordering::Relaxed);
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let (reply, answer) = oneshot::channel();
        jobs.send(Job { encoded, reply })
            .map_err(|_| fail("the exporter's thread has stopped".into()))?;
        Ok(answer)
    }

    /// Stops taking requests and waits up to `timeout` for those in flight;
    /// past it, gives up on them (their exports fail, and are counted as
    /// failed) so that the thread ends.
    pub(crate) fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        // Closing the queue ends the thread once the last answer is in.
        let closed = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let finished = self
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let (Some(_), Some(finished)) = (closed, finished) else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        match finished.recv_timeout(timeout) {
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                if let Some(abort) = self
                    .abort
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                {
                    let _ = abort.send(());
                }
                Err(OTelSdkError::Timeout(timeout))
            }
            // The thread ended (it never sends, only hangs up).
            Ok(()) | Err(std_mpsc::RecvTimeoutError::Disconnected) => Ok(()),
        }
    }

    pub(crate) fn reliability(&self) -> StatsSnapshot {
        self.reliability.snapshot()
    }

    pub(crate) fn stats(&self) -> SdkExportStats {
        let c = &self.counters;
        SdkExportStats {
            requests: c.requests.load(Ordering::Relaxed),
            exported_records: c.exported.load(Ordering::Relaxed),
            rejected_records: c.rejected.load(Ordering::Relaxed),
            failed_records: c.failed.load(Ordering::Relaxed),
        }
    }
}

/// Serves requests concurrently until the queue closes, then answers the
/// ones in flight — unless told to abort them (a shutdown that timed out):
/// their callers then hear that the thread stopped, and count them failed.
async fn run(
    service: BoxExportService,
    mut queue: mpsc::UnboundedReceiver<Job>,
    aborted: oneshot::Receiver<()>,
) {
    // Only an abort sent ends it; a worker dropped without shutdown (the
    // sender gone) lets the exports in flight finish.
    let aborted = async move {
        if aborted.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(aborted);
    let mut in_flight = JoinSet::new();
    loop {
        tokio::select! {
            job = queue.recv() => {
                let Some(Job { encoded, reply }) = job else { break };
                let service = service.clone();
                in_flight.spawn(async move {
                    // The caller may have given up waiting; nothing to tell then.
                    let _ = reply.send(service.oneshot(encoded).await);
                });
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    loop {
        tokio::select! {
            next = in_flight.join_next() => if next.is_none() { break },
            () = &mut aborted => {
                in_flight.abort_all();
                while in_flight.join_next().await.is_some() {}
                break;
            }
        }
    }
}
