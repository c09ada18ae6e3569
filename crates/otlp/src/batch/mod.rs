//! Batching export requests: many small requests in, few full batches out.
//!
//! A [`BatchProcessor`] takes requests from any number of producers without
//! blocking ([`submit`](BatchProcessor::submit)), holds at most
//! `max_queue_size` records, and one background task merges the requests of
//! each signal into batches of `max_batch_size` records (splitting larger
//! ones), sent when full or when the oldest record has waited `max_delay`.
//! Each batch is encoded once by a [`WireFormat`] and handed to an
//! [`ExportService`] (a transport client, with whatever reliability layers
//! wrap it). Like the OpenTelemetry SDK's batch span processor, a full queue
//! refuses the request and counts its records as dropped; nothing is lost
//! without being counted in [`BatchStats`].
//!
//! A `BatchProcessor` is also a receiver's [`Sink`]: behind a transport's
//! server it batches what the server accepts, the front of a relay.
//!
//! # Adaptive batch size
//! With [`adaptive`](BatchProcessorBuilder::adaptive), the size a batch is
//! sent at moves between a minimum and `max_batch_size`:
//! - a batch sent because it reached the current size (records arrive
//!   faster than the delay) doubles the size, so that under load fewer,
//!   larger exports carry the data; a burst holding several batches at the
//!   current size grows it at once, as many full batches in a row would;
//! - a batch sent by the `max_delay` timer with fewer than half the current
//!   size (records trickle in) halves it, so that when idle a record waits
//!   for a few others, not for a large batch that will not fill.
//!
//! Batches sent by [`flush`](BatchProcessor::flush) leave the size alone.
//!
//! # Flush and shutdown
//! [`flush`](BatchProcessor::flush) and [`shutdown`](BatchProcessor::shutdown)
//! are `async` and only wait on the background task, never block a thread,
//! so they cannot deadlock a current-thread runtime. Dropping every handle
//! also drains: the task exports what it holds, then ends.

mod split;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use otlp_transport::{
    ExportError, ExportRequest, ExportService, Outcome, Payload, Signal, Sink, SinkError,
    WireFormat,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tower::ServiceExt;

pub use split::{merge, split};

/// The defaults of the OpenTelemetry SDK's batch span processor.
const DEFAULT_MAX_BATCH_SIZE: usize = 512;
const DEFAULT_MAX_QUEUE_SIZE: usize = 2048;
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);

/// Batches export requests and hands the batches to an export service.
///
/// Cloning gives another handle to the same processor.
///
/// ```
/// # use otlp_transport::{Encoded, ExportError, Outcome};
/// use otlp::batch::BatchProcessor;
/// use otlp_codec::Codec;
/// use otlp_compression::{Compression, Encoder};
/// use otlp_transport::{ExportRequest, WireFormat};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Any transport client; here one that accepts everything.
/// let client = tower::service_fn(|_: Encoded| async { Ok::<_, ExportError>(Outcome::Success) });
/// let processor = BatchProcessor::builder()
///     .max_batch_size(100)
///     .build(client, WireFormat::new(Codec::Protobuf, Encoder::new(Compression::None)))?;
///
/// for seed in 0..10 {
///     let spans = otlp_datagen::Generator::new(seed).resources(1).spans(25).traces();
///     processor.submit(ExportRequest::from(spans))?;
/// }
/// processor.shutdown().await?;
/// let stats = processor.stats();
/// assert_eq!(stats.exported_records, 250);
/// assert_eq!(stats.batches, 3); // 100 + 100 + 50
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BatchProcessor {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    done: watch::Receiver<bool>,
}

/// Settings of a [`BatchProcessor`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BatchProcessorBuilder {
    max_batch_size: usize,
    max_queue_size: usize,
    max_delay: Duration,
    max_concurrent_exports: usize,
    adaptive_min: Option<usize>,
}

/// What a [`BatchProcessor`] has done so far; every record submitted is
/// exported, rejected by the receiver, dropped for a counted reason, or
/// still on its way (`queued_records`, in-flight batches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchStats {
    /// Requests submitted (empty ones included).
    pub submitted_requests: u64,
    /// Records submitted.
    pub submitted_records: u64,
    /// Records the receiver accepted.
    pub exported_records: u64,
    /// Records the receiver refused in a partial success.
    pub rejected_records: u64,
    /// Records refused by `submit` because the queue was full.
    pub dropped_queue_full: u64,
    /// Records refused by `submit` after shutdown.
    pub dropped_closed: u64,
    /// Records of batches whose export failed (after whatever retries the
    /// service does).
    pub dropped_export_failed: u64,
    /// Batches handed to the service.
    pub batches: u64,
    /// Batches whose export failed.
    pub failed_batches: u64,
    /// Records waiting in the processor now.
    pub queued_records: u64,
    /// The size batches are sent at now (moves in adaptive mode).
    pub batch_size: u64,
}

impl BatchStats {
    /// Every record dropped, whatever the reason.
    pub fn dropped_records(&self) -> u64 {
        self.dropped_queue_full + self.dropped_closed + self.dropped_export_failed
    }
}

/// Why [`BatchProcessorBuilder::build`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is out of range.
    #[error("invalid batch setting: {0}")]
    InvalidSetting(String),
    /// `build` was called outside a tokio runtime, where the background task
    /// cannot be started.
    #[error(
        "the batch processor needs a tokio runtime for its background task: build it inside one (e.g. in `#[tokio::main]`)"
    )]
    NoRuntime,
}

/// Why [`BatchProcessor::submit`] refused a request; its records are counted
/// as dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The queue holds too many records to take these.
    #[error(
        "batch queue full: {records} records refused ({queued} of {capacity} queued); export is slower than production, raise max_queue_size or export faster"
    )]
    QueueFull {
        /// Records refused.
        records: usize,
        /// Records queued when refused.
        queued: usize,
        /// The queue's capacity in records.
        capacity: usize,
    },
    /// The processor was shut down.
    #[error("batch processor shut down: {records} records refused")]
    Closed {
        /// Records refused.
        records: usize,
    },
}

/// The background task has ended, so there is nothing to flush or shut down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the batch processor's background task has ended (shut down, or its runtime stopped)")]
pub struct Closed;

impl Default for BatchProcessorBuilder {
    fn default() -> Self {
        Self {
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            max_delay: DEFAULT_MAX_DELAY,
            max_concurrent_exports: 1,
            adaptive_min: None,
        }
    }
}

impl BatchProcessorBuilder {
    /// The most records in one batch; 512 by default. Larger requests are
    /// split.
    pub fn max_batch_size(mut self, records: usize) -> Self {
        self.max_batch_size = records;
        self
    }

    /// The most records held (queued and batching); 2048 by default. A
    /// request that does not fit is refused and counted as dropped.
    pub fn max_queue_size(mut self, records: usize) -> Self {
        self.max_queue_size = records;
        self
    }

    /// The longest a record waits for its batch to fill; 5 s by default.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How many batches may be exporting at once; 1 by default (the SDK's
    /// rule that an exporter is not called concurrently). Raise it for a
    /// transport that pipelines, such as gRPC.
    pub fn max_concurrent_exports(mut self, exports: usize) -> Self {
        self.max_concurrent_exports = exports;
        self
    }

    /// Adaptive batch size between `min_batch_size` and `max_batch_size`,
    /// starting at the minimum (see the [module docs](self)).
    pub fn adaptive(mut self, min_batch_size: usize) -> Self {
        self.adaptive_min = Some(min_batch_size);
        self
    }

    /// Starts the processor's background task on the current tokio runtime;
    /// batches go to `service` in `wire_format`.
    pub fn build<S: ExportService>(
        self,
        service: S,
        wire_format: WireFormat,
    ) -> Result<BatchProcessor, BuildError> {
        let invalid = |reason: String| Err(BuildError::InvalidSetting(reason));
        if self.max_batch_size == 0 || self.max_concurrent_exports == 0 {
            return invalid("max_batch_size and max_concurrent_exports must be at least 1".into());
        }
        if self.max_batch_size > self.max_queue_size {
            return invalid(format!(
                "max_batch_size ({}) must not exceed max_queue_size ({}), or no batch could fill",
                self.max_batch_size, self.max_queue_size
            ));
        }
        if self.max_delay.is_zero() {
            return invalid("max_delay must be longer than zero".into());
        }
        if let Some(min) = self.adaptive_min
            && (min == 0 || min > self.max_batch_size)
        {
            return invalid(format!(
                "the adaptive minimum ({min}) must be between 1 and max_batch_size ({})",
                self.max_batch_size
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let batch_size = self.adaptive_min.unwrap_or(self.max_batch_size);
        let shared = Arc::new(Shared {
            max_queue_size: self.max_queue_size,
            max_delay: self.max_delay,
            closed: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            batch_size: AtomicUsize::new(batch_size),
            counters: Counters::default(),
        });
        let (commands, receiver) = mpsc::unbounded_channel();
        let (done_tx, done) = watch::channel(false);
        let worker = Worker {
            settings: self,
            shared: shared.clone(),
            commands: receiver,
            service,
            wire_format,
            pending: HashMap::new(),
            in_flight: JoinSet::new(),
            in_flight_records: HashMap::new(),
        };
        runtime.spawn(async move {
            worker.run().await;
            // Ignored: every handle may be gone, then nobody waits.
            let _ = done_tx.send(true);
        });
        Ok(BatchProcessor {
            shared,
            commands,
            done,
        })
    }
}

impl BatchProcessor {
    /// A builder with the OpenTelemetry SDK's defaults: batches of 512
    /// records, a queue of 2048 records, a delay of 5 s.
    pub fn builder() -> BatchProcessorBuilder {
        BatchProcessorBuilder::default()
    }

    /// Queues `request` for batching, without blocking. A request with no
    /// record is accepted and ignored (OTLP senders should not send empty
    /// envelopes). Refused when the queue is full or the processor shut
    /// down; the records refused are counted as dropped.
    pub fn submit(&self, request: ExportRequest) -> Result<(), SubmitError> {
        let records = request.record_count();
        let counters = &self.shared.counters;
        counters.submitted_requests.fetch_add(1, Ordering::Relaxed);
        counters
            .submitted_records
            .fetch_add(records as u64, Ordering::Relaxed);
        if records == 0 {
            return Ok(());
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(self.refuse_closed(records));
        }
        let capacity = self.shared.max_queue_size;
        let admitted =
            self.shared
                .queued
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                    (queued + records <= capacity).then_some(queued + records)
                });
        if let Err(queued) = admitted {
            counters
                .dropped_queue_full
                .fetch_add(records as u64, Ordering::Relaxed);
            return Err(SubmitError::QueueFull {
                records,
                queued,
                capacity,
            });
        }
        if self
            .commands
            .send(Command::Submit(request, records))
            .is_err()
        {
            self.shared.queued.fetch_sub(records, Ordering::AcqRel);
            return Err(self.refuse_closed(records));
        }
        Ok(())
    }

    /// Exports everything submitted before the call and waits until those
    /// exports have finished.
    pub async fn flush(&self) -> Result<(), Closed> {
        let (ack, done) = oneshot::channel();
        self.commands
            .send(Command::Flush(ack))
            .map_err(|_| Closed)?;
        done.await.map_err(|_| Closed)
    }

    /// Refuses further requests, exports everything held, waits for the
    /// exports to finish and stops the background task. Calling it again,
    /// from any handle, waits for the same end and succeeds.
    pub async fn shutdown(&self) -> Result<(), Closed> {
        self.shared.closed.store(true, Ordering::Release);
        // A failed send means the task is already ending: wait for it all the same.
        let _ = self.commands.send(Command::Shutdown);
        let mut done = self.done.clone();
        // An error means the task is gone without saying so (its runtime stopped).
        match done.wait_for(|done| *done).await {
            Ok(_) => Ok(()),
            Err(_) => Err(Closed),
        }
    }

    /// What the processor has done so far.
    pub fn stats(&self) -> BatchStats {
        let c = &self.shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BatchStats {
            submitted_requests: load(&c.submitted_requests),
            submitted_records: load(&c.submitted_records),
            exported_records: load(&c.exported_records),
            rejected_records: load(&c.rejected_records),
            dropped_queue_full: load(&c.dropped_queue_full),
            dropped_closed: load(&c.dropped_closed),
            dropped_export_failed: load(&c.dropped_export_failed),
            batches: load(&c.batches),
            failed_batches: load(&c.failed_batches),
            queued_records: self.shared.queued.load(Ordering::Relaxed) as u64,
            batch_size: self.shared.batch_size.load(Ordering::Relaxed) as u64,
        }
    }

    fn refuse_closed(&self, records: usize) -> SubmitError {
        self.shared
            .counters
            .dropped_closed
            .fetch_add(records as u64, Ordering::Relaxed);
        SubmitError::Closed { records }
    }
}

/// A receiver's sink that batches what it receives: the front of a relay.
/// Encoded payloads are decoded (batching needs the records); a full queue
/// answers [`SinkError::Throttled`] so that the sender retries after
/// `max_delay`, a shut-down processor [`SinkError::Unavailable`].
#[async_trait]
impl Sink for BatchProcessor {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let request = payload
            .into_request(otlp_transport::DEFAULT_MAX_REQUEST_SIZE)
            .map_err(|e| SinkError::InvalidData(e.to_string()))?;
        match self.submit(request) {
            Ok(()) => Ok(Outcome::Success),
            Err(e @ SubmitError::QueueFull { .. }) => Err(SinkError::Throttled {
                retry_after: self.shared.max_delay,
                message: e.to_string(),
            }),
            Err(e) => Err(SinkError::Unavailable {
                retry_after: None,
                message: e.to_string(),
            }),
        }
    }
}

#[derive(Debug)]
enum Command {
    Submit(ExportRequest, usize),
    Flush(oneshot::Sender<()>),
    Shutdown,
}

#[derive(Debug)]
struct Shared {
    max_queue_size: usize,
    max_delay: Duration,
    closed: AtomicBool,
    /// Records submitted and not yet handed to the service.
    queued: AtomicUsize,
    batch_size: AtomicUsize,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    submitted_requests: AtomicU64,
    submitted_records: AtomicU64,
    exported_records: AtomicU64,
    rejected_records: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_closed: AtomicU64,
    dropped_export_failed: AtomicU64,
    batches: AtomicU64,
    failed_batches: AtomicU64,
}

impl Counters {
    fn export_done(&self, records: usize, result: Result<Outcome, ExportError>) {
        let records = records as u64;
        match result {
            Ok(outcome) => {
                let rejected = u64::try_from(outcome.rejected()).unwrap_or(0).min(records);
                self.rejected_records.fetch_add(rejected, Ordering::Relaxed);
                self.exported_records
                    .fetch_add(records - rejected, Ordering::Relaxed);
            }
            Err(_) => self.export_failed(records),
        }
    }

    fn export_failed(&self, records: u64) {
        self.failed_batches.fetch_add(1, Ordering::Relaxed);
        self.dropped_export_failed
            .fetch_add(records, Ordering::Relaxed);
    }
}

/// Why a batch is sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// It reached the batch size.
    Full,
    /// Its oldest record waited `max_delay`.
    Delay,
    /// A flush or shutdown asked.
    Flush,
    /// It cannot be merged with others (profiles).
    Alone,
}

/// The records of one signal waiting for their batch to fill.
struct Pending {
    request: ExportRequest,
    records: usize,
    deadline: Instant,
}

struct Worker<S> {
    settings: BatchProcessorBuilder,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    service: S,
    wire_format: WireFormat,
    pending: HashMap<Signal, Pending>,
    in_flight: JoinSet<()>,
    /// The records of each export task, counted as failed if the task panics.
    in_flight_records: HashMap<Id, usize>,
}

impl<S: ExportService> Worker<S> {
    async fn run(mut self) {
        loop {
            let deadline = self.pending.values().map(|p| p.deadline).min();
            tokio::select! {
                Some(joined) = self.in_flight.join_next_with_id(), if !self.in_flight.is_empty() => {
                    self.joined(joined);
                }
                command = self.commands.recv() => match command {
                    Some(Command::Submit(request, records)) => self.add(request, records).await,
                    Some(Command::Flush(ack)) => {
                        self.drain().await;
                        // Ignored: the caller may have stopped waiting.
                        let _ = ack.send(());
                    }
                    Some(Command::Shutdown) => {
                        // Requests already admitted are still exported, and
                        // flushes still wait for them.
                        self.commands.close();
                        let mut flushes = Vec::new();
                        while let Some(command) = self.commands.recv().await {
                            match command {
                                Command::Submit(request, records) => self.add(request, records).await,
                                Command::Flush(ack) => flushes.push(ack),
                                Command::Shutdown => {}
                            }
                        }
                        self.drain().await;
                        for ack in flushes {
                            let _ = ack.send(());
                        }
                        return;
                    }
                    None => {
                        self.drain().await;
                        return;
                    }
                },
                () = sleep_until(deadline), if deadline.is_some() => self.send_expired().await,
            }
        }
    }

    async fn add(&mut self, request: ExportRequest, records: usize) {
        let signal = request.signal();
        if signal == Signal::Profiles {
            // Profiles cannot be merged or split (their requests share a
            // dictionary): each is a batch of its own.
            self.send(request, records, Trigger::Alone).await;
            return;
        }
        let pending = match self.pending.remove(&signal) {
            None => Pending {
                request,
                records,
                deadline: Instant::now() + self.settings.max_delay,
            },
            Some(mut pending) => match merge(&mut pending.request, request) {
                Ok(()) => {
                    pending.records += records;
                    pending
                }
                // Only profiles refuse to merge, and they never wait here.
                Err(request) => {
                    self.send(pending.request, pending.records, Trigger::Alone)
                        .await;
                    Pending {
                        request,
                        records,
                        deadline: Instant::now() + self.settings.max_delay,
                    }
                }
            },
        };
        let batch_size = self.batch_size_for(pending.records);
        if pending.records < batch_size {
            self.pending.insert(signal, pending);
            return;
        }
        // Full batches leave now; the rest keeps waiting on the oldest
        // record's deadline. One pass however large the request.
        let deadline = pending.deadline;
        for piece in split::chunks(pending.request, batch_size) {
            let records = piece.record_count();
            if records == batch_size {
                self.send(piece, records, Trigger::Full).await;
            } else if records > 0 {
                self.pending.insert(
                    signal,
                    Pending {
                        request: piece,
                        records,
                        deadline,
                    },
                );
            }
        }
    }

    /// The size to cut `records` pending records at. In adaptive mode a
    /// burst holding several batches at the current size grows it first
    /// (doubling, up to the maximum), as that many full batches would.
    fn batch_size_for(&self, records: usize) -> usize {
        let mut size = self.shared.batch_size.load(Ordering::Relaxed);
        if self.settings.adaptive_min.is_some() {
            while records >= 2 * size && size < self.settings.max_batch_size {
                size = (size * 2).min(self.settings.max_batch_size);
            }
            self.shared.batch_size.store(size, Ordering::Relaxed);
        }
        size
    }

    async fn send_expired(&mut self) {
        let now = Instant::now();
        let expired: Vec<Signal> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(signal, _)| *signal)
            .collect();
        for signal in expired {
            if let Some(pending) = self.pending.remove(&signal) {
                self.send(pending.request, pending.records, Trigger::Delay)
                    .await;
            }
        }
    }

    /// Sends everything pending and waits for every export to end.
    async fn drain(&mut self) {
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in pending {
            self.send(p.request, p.records, Trigger::Flush).await;
        }
        while let Some(joined) = self.in_flight.join_next_with_id().await {
            self.joined(joined);
        }
    }

    async fn send(&mut self, batch: ExportRequest, records: usize, trigger: Trigger) {
        self.adapt(trigger, records);
        while self.in_flight.len() >= self.settings.max_concurrent_exports {
            match self.in_flight.join_next_with_id().await {
                Some(joined) => self.joined(joined),
                None => break,
            }
        }
        self.shared.queued.fetch_sub(records, Ordering::AcqRel);
        self.shared.counters.batches.fetch_add(1, Ordering::Relaxed);
        let service = self.service.clone();
        let wire_format = self.wire_format;
        let shared = self.shared.clone();
        let task = self.in_flight.spawn(async move {
            let result = match wire_format.encode(Payload::Request(batch)) {
                Ok(encoded) => service.oneshot(encoded).await,
                Err(error) => Err(error),
            };
            shared.counters.export_done(records, result);
        });
        self.in_flight_records.insert(task.id(), records);
    }

    fn joined(&mut self, joined: Result<(Id, ()), tokio::task::JoinError>) {
        let id = match &joined {
            Ok((id, ())) => *id,
            Err(error) => error.id(),
        };
        let records = self.in_flight_records.remove(&id).unwrap_or(0);
        if joined.is_err() {
            // The export panicked before counting its records.
            self.shared.counters.export_failed(records as u64);
        }
    }

    fn adapt(&self, trigger: Trigger, records: usize) {
        let Some(min) = self.settings.adaptive_min else {
            return;
        };
        let current = self.shared.batch_size.load(Ordering::Relaxed);
        let next = match trigger {
            Trigger::Full => (current * 2).min(self.settings.max_batch_size),
            Trigger::Delay if records < current / 2 => (current / 2).max(min),
            Trigger::Delay | Trigger::Flush | Trigger::Alone => current,
        };
        self.shared.batch_size.store(next, Ordering::Relaxed);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
