//! A bounded queue between producers and the exporter, with N consumers.
//!
//! The queue is bounded both in items and in bytes (the encoded bodies'
//! length). When a push does not fit, the [`WhenFull`] policy decides: wait
//! for room up to a timeout, refuse the new item, or evict the oldest ones.
//! Every item that does not reach the exporter is counted with its
//! [`DropReason`]; every item that does is counted as exported or failed, so
//! `accepted + recovered = exported + failed + evicted + shutdown_deadline + kept + queued + in_flight`
//! holds at any moment (`recovered` and `kept` are zero without storage).
//!
//! The consumers are Tokio tasks, each sending one item at a time through its
//! own clone of the service; put the retry layer in that service so that a
//! consumer keeps an item until it is delivered or given up.
//!
//! With a [`Storage`] ([`QueueBuilder::build_persistent`]) every item is also
//! written to disk before `push` returns, and what is not exported when the
//! process stops — crash, kill, or a shutdown deadline — is `kept` there and
//! queued again (`recovered`) on the next start; see [`crate::persist`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use otlp_transport::{Encoded, ExportService};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::error::ConfigError;
use crate::lock;
use crate::persist::{Journal, Storage, StorageError, StorageSnapshot, Ticket};

/// What a push does when the item does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenFull {
    /// Wait for room, at most this long, then refuse the item.
    Block {
        /// The longest wait.
        timeout: Duration,
    },
    /// Refuse the new item (the Collector's default).
    DropNewest,
    /// Evict the oldest queued items until the new one fits.
    DropOldest,
}

/// Why an item was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Refused on push: the queue was full ([`WhenFull::DropNewest`]).
    QueueFull,
    /// Evicted to make room for a newer item ([`WhenFull::DropOldest`]).
    Evicted,
    /// Refused on push after waiting for room ([`WhenFull::Block`]).
    BlockTimeout,
    /// Refused on push: larger alone than the queue's byte limit.
    Oversize,
    /// Refused on push: the queue was shut down.
    Closed,
    /// Still queued or in flight when the shutdown deadline passed (without
    /// storage; with it they are kept on disk instead).
    ShutdownDeadline,
    /// Refused on push: it could not be written to the queue's storage.
    Storage,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 7] = [
        Self::QueueFull,
        Self::Evicted,
        Self::BlockTimeout,
        Self::Oversize,
        Self::Closed,
        Self::ShutdownDeadline,
        Self::Storage,
    ];

    fn index(self) -> usize {
        match self {
            Self::QueueFull => 0,
            Self::Evicted => 1,
            Self::BlockTimeout => 2,
            Self::Oversize => 3,
            Self::Closed => 4,
            Self::ShutdownDeadline => 5,
            Self::Storage => 6,
        }
    }
}

/// Dropped items, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts([u64; 7]);

impl DropCounts {
    /// Items dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Items dropped for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Why a push, flush or shutdown did not do all it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The item was dropped: the queue is full. Export less often or in
    /// larger batches, add consumers, raise the limits, or choose
    /// [`WhenFull::Block`].
    #[error("queue full ({items} items, {bytes} bytes): the item was dropped")]
    Full {
        /// Items queued.
        items: usize,
        /// Bytes queued.
        bytes: usize,
    },
    /// The item was dropped after waiting this long for room.
    #[error("no room in the queue within {0:?}: the item was dropped")]
    Timeout(Duration),
    /// The item alone is larger than the queue's byte limit; split it.
    #[error("the item is {size} bytes, over the queue's limit of {limit} bytes: it was dropped")]
    TooLarge {
        /// The item's size.
        size: usize,
        /// The queue's byte limit.
        limit: usize,
    },
    /// The queue was shut down; the item was dropped.
    #[error("the queue is shut down: the item was dropped")]
    Closed,
    /// Items were still queued or in flight when the flush deadline passed
    /// (they stay queued).
    #[error("{pending} item(s) still pending when the flush deadline passed")]
    FlushTimedOut {
        /// Items queued or in flight.
        pending: usize,
    },
    /// Items were still queued or in flight when the shutdown deadline
    /// passed; they were dropped (and counted).
    #[error("{dropped} item(s) dropped: not exported before the shutdown deadline")]
    ShutdownTimedOut {
        /// Items dropped.
        dropped: u64,
    },
    /// Items were still queued or in flight when the shutdown deadline
    /// passed; they stay in the queue's storage and are queued again when it
    /// is next opened. Nothing was lost.
    #[error(
        "{kept} item(s) not exported before the shutdown deadline stay in the queue's storage for the next start"
    )]
    ShutdownKept {
        /// Items left in storage.
        kept: u64,
    },
    /// The item could not be written to the queue's storage; it was dropped.
    /// The sender may try again; check the directory's disk.
    #[error("the item was dropped: {0}")]
    Storage(#[from] StorageError),
}

/// The settings of a [`Queue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueBuilder {
    max_items: usize,
    max_bytes: usize,
    consumers: usize,
    when_full: WhenFull,
}

impl Default for QueueBuilder {
    /// The Collector's: 1000 items, 10 consumers, refuse when full; and
    /// 64 MiB.
    fn default() -> Self {
        Self {
            max_items: 1000,
            max_bytes: 64 << 20,
            consumers: 10,
            when_full: WhenFull::DropNewest,
        }
    }
}

impl QueueBuilder {
    /// The most items queued (not counting those in flight).
    pub fn max_items(mut self, items: usize) -> Self {
        self.max_items = items;
        self
    }

    /// The most bytes queued (encoded bodies, not counting those in flight).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How many items are exported at once.
    pub fn consumers(mut self, consumers: usize) -> Self {
        self.consumers = consumers;
        self
    }

    /// What a push does when the item does not fit.
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.when_full = policy;
        self
    }

    /// Starts the consumers, each with a clone of `service`, on the current
    /// Tokio runtime.
    pub fn build<S: ExportService>(self, service: S) -> Result<Queue, ConfigError> {
        self.start(service, None)
    }

    /// Like [`build`](Self::build), with every item also kept in `storage`
    /// until it is exported, failed or dropped: the items a previous run
    /// left there are queued first (even beyond the limits), and what this
    /// run leaves is queued on the next start. See the
    /// [crate example](crate#surviving-restarts).
    pub fn build_persistent<S: ExportService>(
        self,
        storage: Storage,
        service: S,
    ) -> Result<Queue, ConfigError> {
        self.start(service, Some(storage))
    }

    fn start<S: ExportService>(
        self,
        service: S,
        storage: Option<Storage>,
    ) -> Result<Queue, ConfigError> {
        if self.max_items == 0 {
            return Err(ConfigError::new("max_items", "must be at least 1"));
        }
        if self.max_bytes == 0 {
            return Err(ConfigError::new("max_bytes", "must be at least 1"));
        }
        if self.consumers == 0 {
            return Err(ConfigError::new("consumers", "must be at least 1"));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::new("runtime", "the queue must be built within a Tokio runtime")
        })?;
        let mut state = State::default();
        let counters = Counters::default();
        let journal = storage.map(|storage| {
            let recovered = storage.recovered.len() as u64;
            for (ticket, item) in storage.recovered {
                state.bytes += item.body().len();
                state.items.push_back(Entry {
                    item,
                    ticket: Some(ticket),
                });
            }
            state.peak_items = state.items.len();
            state.peak_bytes = state.bytes;
            Counters::add(&counters.recovered, recovered);
            Arc::new(storage.journal)
        });
        let shared = Arc::new(Shared {
            config: self,
            state: Mutex::new(state),
            item_ready: Notify::new(),
            space_freed: Notify::new(),
            idle: Notify::new(),
            counters,
            consumers: Mutex::new(JoinSet::new()),
            journal,
        });
        {
            let mut consumers = shared.consumers();
            for _ in 0..shared.config.consumers {
                consumers.spawn_on(consume(shared.clone(), service.clone()), &runtime);
            }
        }
        Ok(Queue {
            producer: Arc::new(Producer { shared }),
        })
    }
}

/// The producers' handle on a bounded export queue; clones share the queue.
/// When the last handle is dropped the queue closes and the consumers
/// export what is left, then stop.
#[derive(Debug, Clone)]
pub struct Queue {
    producer: Arc<Producer>,
}

/// The counters and levels of a [`Queue`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueSnapshot {
    /// Items queued.
    pub items: usize,
    /// Bytes queued.
    pub bytes: usize,
    /// Items being exported.
    pub in_flight: usize,
    /// The most items ever queued at once.
    pub peak_items: usize,
    /// The most bytes ever queued at once.
    pub peak_bytes: usize,
    /// Items taken into the queue.
    pub accepted: u64,
    /// Items the exporter took (success or partial success).
    pub exported: u64,
    /// Items the exporter failed for good (permanent error, or retries given up).
    pub failed: u64,
    /// Items dropped, by reason.
    pub dropped: DropCounts,
    /// Items a previous run left in the storage, queued on start.
    pub recovered: u64,
    /// Items not exported by the shutdown deadline (or in flight when the
    /// consumers stopped), left in the storage for the next start.
    pub kept: u64,
    /// The storage's findings on open and its size now, when there is one.
    pub storage: Option<StorageSnapshot>,
}

impl Queue {
    /// Starts from the defaults.
    pub fn builder() -> QueueBuilder {
        QueueBuilder::default()
    }

    /// Queues `item`, applying the [`WhenFull`] policy if it does not fit.
    /// Only [`WhenFull::Block`] ever waits. An item refused is dropped and
    /// counted. With storage, `Ok` means the item is written (and flushed as
    /// the [`SyncPolicy`](crate::SyncPolicy) says); a failed write refuses it
    /// with [`QueueError::Storage`].
    pub async fn push(&self, item: Encoded) -> Result<(), QueueError> {
        let shared = &self.producer.shared;
        let config = &shared.config;
        let size = item.body().len();
        if size > config.max_bytes {
            shared.count_drop(DropReason::Oversize, 1);
            return Err(QueueError::TooLarge {
                size,
                limit: config.max_bytes,
            });
        }
        let deadline = match config.when_full {
            WhenFull::Block { timeout } => Some((Instant::now() + timeout, timeout)),
            _ => None,
        };
        let Some(journal) = &shared.journal else {
            return shared
                .admit(Some(Entry { item, ticket: None }), size, deadline)
                .await;
        };
        // Room first, so that an item refused costs no disk write.
        shared.admit(None, size, deadline).await?;
        let unqueued = Unqueued {
            journal: journal.clone(),
            slot: Arc::default(),
        };
        let store = {
            let (journal, slot, item) = (journal.clone(), unqueued.slot.clone(), item.clone());
            move || {
                let ticket = journal.append(&item)?;
                let mut slot = lock(&slot);
                if slot.abandoned {
                    drop(slot);
                    journal.ack(ticket);
                } else {
                    slot.ticket = Some(ticket);
                }
                Ok(ticket)
            }
        };
        let written = if journal.flushes() {
            // A flush to disk takes milliseconds: off the runtime's threads.
            tokio::task::spawn_blocking(store).await
        } else {
            // A write to the page cache takes microseconds, less than the
            // hop to a blocking thread.
            Ok(store())
        };
        let ticket = match written {
            Ok(Ok(ticket)) => ticket,
            Ok(Err(StorageError::Closed)) => {
                shared.count_drop(DropReason::Closed, 1);
                return Err(QueueError::Closed);
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot store a queue item; it is refused");
                shared.count_drop(DropReason::Storage, 1);
                return Err(error.into());
            }
            Err(_) => {
                // The runtime is shutting down.
                shared.count_drop(DropReason::Closed, 1);
                return Err(QueueError::Closed);
            }
        };
        let entry = Entry {
            item,
            ticket: Some(ticket),
        };
        // Refused (room went to another push meanwhile) or abandoned, the
        // item is marked done on disk by `unqueued`; queued, it is the
        // queue's.
        shared.admit(Some(entry), size, deadline).await?;
        lock(&unqueued.slot).ticket = None;
        Ok(())
    }

    /// Waits until everything queued so far is exported (or failed), at most
    /// `timeout`. Nothing is dropped when the deadline passes.
    pub async fn flush(&self, timeout: Duration) -> Result<(), QueueError> {
        let shared = &self.producer.shared;
        let deadline = Instant::now() + timeout;
        loop {
            let idle = shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let pending = shared.state().pending();
            if pending == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                let pending = shared.state().pending();
                return if pending == 0 {
                    Ok(())
                } else {
                    Err(QueueError::FlushTimedOut { pending })
                };
            }
        }
    }

    /// Refuses new items, lets the consumers export what is queued for at
    /// most `timeout`, then drops (and counts) what is left, in flight
    /// included, and stops the consumers.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), QueueError> {
        let shared = &self.producer.shared;
        shared.close();
        let mut consumers = std::mem::take(&mut *shared.consumers());
        let deadline = Instant::now() + timeout;
        while let Ok(Some(_)) = tokio::time::timeout_at(deadline, consumers.join_next()).await {}
        let before =
            shared.counters.dropped[DropReason::ShutdownDeadline.index()].load(Ordering::Relaxed);
        let kept_before = shared.counters.kept.load(Ordering::Relaxed);
        // Aborted consumers count their items in flight as they are dropped.
        consumers.abort_all();
        while consumers.join_next().await.is_some() {}
        let left: Vec<_> = {
            let mut state = shared.state();
            state.bytes = 0;
            state.items.drain(..).collect()
        };
        if let Some(journal) = &shared.journal {
            Counters::add(&shared.counters.kept, left.len() as u64);
            journal.close();
        } else {
            shared.count_drop(DropReason::ShutdownDeadline, left.len() as u64);
        }
        let dropped = shared.counters.dropped[DropReason::ShutdownDeadline.index()]
            .load(Ordering::Relaxed)
            - before;
        let kept = shared.counters.kept.load(Ordering::Relaxed) - kept_before;
        shared.idle.notify_waiters();
        if kept > 0 {
            tracing::info!(
                kept,
                ?timeout,
                "queue shut down: items not exported in time stay in storage for the next start"
            );
            return Err(QueueError::ShutdownKept { kept });
        }
        if dropped > 0 {
            tracing::warn!(
                dropped,
                ?timeout,
                "queue shut down: items not exported in time were dropped"
            );
            return Err(QueueError::ShutdownTimedOut { dropped });
        }
        tracing::debug!("queue shut down: everything exported");
        Ok(())
    }

    /// The counters and levels now.
    pub fn stats(&self) -> QueueSnapshot {
        self.producer.shared.snapshot()
    }

    /// A handle that reads the counters without keeping the queue open.
    pub fn monitor(&self) -> QueueMonitor {
        QueueMonitor(self.producer.shared.clone())
    }
}

/// Reads a [`Queue`]'s counters (for stats) without keeping it open.
#[derive(Debug, Clone)]
pub struct QueueMonitor(Arc<Shared>);

impl QueueMonitor {
    /// The counters and levels now.
    pub fn stats(&self) -> QueueSnapshot {
        self.0.snapshot()
    }
}

#[derive(Debug)]
struct Producer {
    shared: Arc<Shared>,
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shared.close();
    }
}

#[derive(Debug)]
struct Shared {
    config: QueueBuilder,
    state: Mutex<State>,
    item_ready: Notify,
    space_freed: Notify,
    idle: Notify,
    counters: Counters,
    consumers: Mutex<JoinSet<()>>,
    journal: Option<Arc<Journal>>,
}

/// An item written to storage and not queued yet: marked done on disk if its
/// push is refused or abandoned (the push future dropped, the write
/// finishing or not), so that its segment can go and it is not sent after a
/// restart.
struct Unqueued {
    journal: Arc<Journal>,
    slot: Arc<Mutex<Unwritten>>,
}

#[derive(Debug, Default)]
struct Unwritten {
    /// Written, not queued.
    ticket: Option<Ticket>,
    /// The push went away; the writer marks its item done itself.
    abandoned: bool,
}

impl Drop for Unqueued {
    fn drop(&mut self) {
        let mut slot = lock(&self.slot);
        slot.abandoned = true;
        if let Some(ticket) = slot.ticket.take() {
            drop(slot);
            self.journal.ack(ticket);
        }
    }
}

/// A queued item, and where it is on disk when the queue has storage.
#[derive(Debug)]
struct Entry {
    item: Encoded,
    ticket: Option<Ticket>,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Entry>,
    bytes: usize,
    in_flight: usize,
    closed: bool,
    peak_items: usize,
    peak_bytes: usize,
    /// Whether a push found no room since the queue was last half empty, so
    /// that the change is logged once each way.
    full: bool,
}

impl State {
    fn mark_full(&mut self) {
        if !self.full {
            self.full = true;
            tracing::warn!(
                items = self.items.len(),
                bytes = self.bytes,
                "export queue full"
            );
        }
    }

    fn fits(&self, config: &QueueBuilder, size: usize) -> bool {
        self.items.len() < config.max_items && self.bytes + size <= config.max_bytes
    }

    fn pending(&self) -> usize {
        self.items.len() + self.in_flight
    }
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    dropped: [AtomicU64; 7],
    recovered: AtomicU64,
    kept: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn consumers(&self) -> MutexGuard<'_, JoinSet<()>> {
        lock(&self.consumers)
    }

    fn count_drop(&self, reason: DropReason, n: u64) {
        Counters::add(&self.counters.dropped[reason.index()], n);
    }

    /// Applies the [`WhenFull`] policy to an item of `size` bytes: queues
    /// `entry` when there is room (evicting if the policy says), or only
    /// waits for room when `entry` is `None`. A refusal is counted.
    async fn admit(
        &self,
        mut entry: Option<Entry>,
        size: usize,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<(), QueueError> {
        let config = &self.config;
        loop {
            let room = self.space_freed.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut state = self.state();
                if state.closed {
                    drop(state);
                    self.count_drop(DropReason::Closed, 1);
                    return Err(QueueError::Closed);
                }
                if !state.fits(config, size) {
                    state.mark_full();
                }
                if state.fits(config, size) || config.when_full == WhenFull::DropOldest {
                    let Some(entry) = entry.take() else {
                        return Ok(());
                    };
                    let mut evicted = Vec::new();
                    while !state.fits(config, size) {
                        let Some(oldest) = state.items.pop_front() else {
                            break;
                        };
                        state.bytes -= oldest.item.body().len();
                        evicted.push(oldest.ticket);
                    }
                    state.items.push_back(entry);
                    state.bytes += size;
                    state.peak_items = state.peak_items.max(state.items.len());
                    state.peak_bytes = state.peak_bytes.max(state.bytes);
                    drop(state);
                    Counters::add(&self.counters.accepted, 1);
                    if !evicted.is_empty() {
                        tracing::debug!(
                            evicted = evicted.len(),
                            "queue full: oldest items evicted"
                        );
                        self.count_drop(DropReason::Evicted, evicted.len() as u64);
                        if let Some(journal) = &self.journal {
                            evicted.into_iter().flatten().for_each(|t| journal.ack(t));
                        }
                    }
                    self.item_ready.notify_one();
                    return Ok(());
                }
                if config.when_full == WhenFull::DropNewest {
                    let (items, bytes) = (state.items.len(), state.bytes);
                    drop(state);
                    tracing::debug!(items, bytes, "queue full: item refused");
                    self.count_drop(DropReason::QueueFull, 1);
                    return Err(QueueError::Full { items, bytes });
                }
            }
            if let Some((deadline, timeout)) = deadline
                && tokio::time::timeout_at(deadline, room).await.is_err()
            {
                self.count_drop(DropReason::BlockTimeout, 1);
                return Err(QueueError::Timeout(timeout));
            }
        }
    }

    fn close(&self) {
        self.state().closed = true;
        self.item_ready.notify_waiters();
        self.space_freed.notify_waiters();
    }

    /// The next item for a consumer; `None` once closed and empty.
    async fn next(&self) -> Option<Entry> {
        loop {
            let ready = self.item_ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut state = self.state();
                if let Some(entry) = state.items.pop_front() {
                    state.bytes -= entry.item.body().len();
                    state.in_flight += 1;
                    // Half empty before saying so, so that a queue at its
                    // limit does not log every pop and push.
                    if state.full
                        && state.items.len() <= self.config.max_items / 2
                        && state.bytes <= self.config.max_bytes / 2
                    {
                        state.full = false;
                        tracing::info!(
                            items = state.items.len(),
                            bytes = state.bytes,
                            "export queue has room again"
                        );
                    }
                    drop(state);
                    self.space_freed.notify_waiters();
                    return Some(entry);
                }
                if state.closed {
                    return None;
                }
            }
            ready.await;
        }
    }

    fn snapshot(&self) -> QueueSnapshot {
        let state = self.state();
        let counters = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        QueueSnapshot {
            items: state.items.len(),
            bytes: state.bytes,
            in_flight: state.in_flight,
            peak_items: state.peak_items,
            peak_bytes: state.peak_bytes,
            accepted: load(&counters.accepted),
            exported: load(&counters.exported),
            failed: load(&counters.failed),
            dropped: DropCounts(counters.dropped.each_ref().map(load)),
            recovered: load(&counters.recovered),
            kept: load(&counters.kept),
            storage: self.journal.as_ref().map(|journal| journal.stats()),
        }
    }
}

async fn consume<S: ExportService>(shared: Arc<Shared>, mut service: S) {
    while let Some(Entry { item, ticket }) = shared.next().await {
        let mut in_flight = InFlight {
            shared: shared.clone(),
            ticket,
            exported: None,
        };
        let result = match service.ready().await {
            Ok(ready) => ready.call(item).await,
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            tracing::warn!(%error, "export failed for good; the item is dropped");
        }
        in_flight.exported = Some(result.is_ok());
    }
}

/// An item being exported; counts how it ended, or as a shutdown drop (kept
/// in storage, if any) when its consumer is aborted mid-export.
struct InFlight {
    shared: Arc<Shared>,
    ticket: Option<Ticket>,
    exported: Option<bool>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let counters = &self.shared.counters;
        match self.exported {
            Some(true) => Counters::add(&counters.exported, 1),
            Some(false) => Counters::add(&counters.failed, 1),
            None if self.shared.journal.is_some() => Counters::add(&counters.kept, 1),
            None => self.shared.count_drop(DropReason::ShutdownDeadline, 1),
        }
        if let (Some(journal), Some(ticket), Some(_)) =
            (&self.shared.journal, self.ticket, self.exported)
        {
            journal.ack(ticket);
        }
        let idle = {
            let mut state = self.shared.state();
            state.in_flight -= 1;
            state.pending() == 0
        };
        if idle {
            self.shared.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use otlp_transport::ExportError;

    use super::*;
    use crate::testing::{Fault, FaultService, sized};
    use crate::{Retry, RetryPolicy};

    fn stalling(delay: Duration) -> FaultService {
        FaultService::new(move |_, _| Fault::Stall(delay))
    }

    /// Every accepted item is exported, failed, dropped, or still held.
    fn assert_accounted(stats: &QueueSnapshot) {
        let dropped = stats.dropped.get(DropReason::Evicted)
            + stats.dropped.get(DropReason::ShutdownDeadline);
        assert_eq!(
            stats.accepted + stats.recovered,
            stats.exported
                + stats.failed
                + dropped
                + stats.kept
                + (stats.items + stats.in_flight) as u64,
            "{stats:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn drop_newest_refuses_exactly_what_overflows() {
        let inner = stalling(Duration::from_secs(1));
        let queue = Queue::builder()
            .max_items(3)
            .consumers(1)
            .build(inner.clone())
            .unwrap();
        let mut refused = 0;
        for tag in 0..10 {
            if let Err(error) = queue.push(sized(10, tag)).await {
                assert!(
                    matches!(
                        error,
                        QueueError::Full {
                            items: 3,
                            bytes: 30
                        }
                    ),
                    "{error}"
                );
                refused += 1;
            }
        }
        assert_eq!(refused, 7);
        let stats = queue.stats();
        assert_eq!(stats.dropped.get(DropReason::QueueFull), 7);
        assert_eq!(stats.dropped.total(), 7);
        assert_eq!((stats.accepted, stats.peak_items), (3, 3));
        queue.flush(Duration::from_secs(10)).await.unwrap();
        let stats = queue.stats();
        assert_eq!(stats.exported, 3);
        assert_accounted(&stats);
        let tags: Vec<u8> = inner.bodies().iter().map(|b| b[0]).collect();
        assert_eq!(tags, [0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn full_and_room_again_are_tracing_events_once_each() {
        let (events, _guard) = crate::testing::Events::record();
        let queue = Queue::builder()
            .max_items(2)
            .consumers(1)
            .build(stalling(Duration::from_secs(1)))
            .unwrap();
        for tag in 0..6 {
            let _ = queue.push(sized(1, tag)).await;
        }
        queue.flush(Duration::from_secs(10)).await.unwrap();
        let lines = events.lines();
        assert_eq!(events.matching("export queue full").len(), 1, "{lines:?}");
        assert_eq!(
            events.matching("export queue has room again").len(),
            1,
            "{lines:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn drop_oldest_evicts_and_keeps_the_newest() {
        let inner = stalling(Duration::from_secs(1));
        let queue = Queue::builder()
            .max_items(100)
            .max_bytes(300)
            .consumers(1)
            .when_full(WhenFull::DropOldest)
            .build(inner.clone())
            .unwrap();
        for tag in 0..10 {
            queue.push(sized(100, tag)).await.unwrap();
        }
        let stats = queue.stats();
        assert_eq!(stats.dropped.get(DropReason::Evicted), 7);
        assert_eq!((stats.peak_bytes, stats.bytes), (300, 300));
        queue.flush(Duration::from_secs(10)).await.unwrap();
        let tags: Vec<u8> = inner.bodies().iter().map(|b| b[0]).collect();
        assert_eq!(tags, [7, 8, 9]);
        assert_accounted(&queue.stats());
    }

    #[tokio::test(start_paused = true)]
    async fn block_waits_for_room_then_times_out() {
        let inner = stalling(Duration::from_secs(10));
        let queue = Queue::builder()
            .max_items(1)
            .consumers(1)
            .when_full(WhenFull::Block {
                timeout: Duration::from_secs(1),
            })
            .build(inner.clone())
            .unwrap();
        queue.push(sized(1, 0)).await.unwrap();
        // Room comes when the consumer takes the first item.
        queue.push(sized(1, 1)).await.unwrap();
        let start = Instant::now();
        assert_eq!(
            queue.push(sized(1, 2)).await,
            Err(QueueError::Timeout(Duration::from_secs(1)))
        );
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(queue.stats().dropped.get(DropReason::BlockTimeout), 1);
        queue.flush(Duration::from_secs(60)).await.unwrap();
        assert_eq!(queue.stats().exported, 2);
        assert_accounted(&queue.stats());
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_bound_the_queue_and_oversize_items_are_refused() {
        let queue = Queue::builder()
            .max_bytes(250)
            .consumers(1)
            .build(stalling(Duration::from_secs(1)))
            .unwrap();
        queue.push(sized(100, 0)).await.unwrap();
        queue.push(sized(100, 1)).await.unwrap();
        assert!(matches!(
            queue.push(sized(100, 2)).await,
            Err(QueueError::Full { .. })
        ));
        assert_eq!(
            queue.push(sized(251, 3)).await,
            Err(QueueError::TooLarge {
                size: 251,
                limit: 250
            })
        );
        let dropped = queue.stats().dropped;
        assert_eq!(dropped.get(DropReason::QueueFull), 1);
        assert_eq!(dropped.get(DropReason::Oversize), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn consumers_export_concurrently() {
        let queue = Queue::builder()
            .consumers(4)
            .build(stalling(Duration::from_secs(1)))
            .unwrap();
        for tag in 0..8 {
            queue.push(sized(1, tag)).await.unwrap();
        }
        let start = Instant::now();
        queue.flush(Duration::from_secs(60)).await.unwrap();
        // Eight one-second exports, four at a time.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(queue.stats().exported, 8);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_drains_within_the_deadline_and_counts_the_rest() {
        let queue = Queue::builder()
            .consumers(1)
            .build(stalling(Duration::from_secs(3)))
            .unwrap();
        for tag in 0..4 {
            queue.push(sized(1, tag)).await.unwrap();
        }
        // Flushing in time fails without dropping anything.
        assert_eq!(
            queue.flush(Duration::from_secs(1)).await,
            Err(QueueError::FlushTimedOut { pending: 4 })
        );
        assert_eq!(queue.stats().dropped.total(), 0);
        // 7 s: two exported (at 3 s and 6 s), one in flight and one queued dropped.
        assert_eq!(
            queue.shutdown(Duration::from_secs(6)).await,
            Err(QueueError::ShutdownTimedOut { dropped: 2 })
        );
        let stats = queue.stats();
        assert_eq!(stats.exported, 2);
        assert_eq!(stats.dropped.get(DropReason::ShutdownDeadline), 2);
        assert_eq!((stats.items, stats.in_flight), (0, 0));
        assert_accounted(&stats);
        assert_eq!(queue.push(sized(1, 9)).await, Err(QueueError::Closed));
        assert_eq!(queue.stats().dropped.get(DropReason::Closed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_counted_and_retries_happen_inside_the_consumer() {
        let flaky = FaultService::new(|n, _| {
            if n % 2 == 0 {
                Fault::Fail(ExportError::retryable("reset"))
            } else {
                Fault::Accept
            }
        });
        let policy = RetryPolicy::builder()
            .initial_interval(Duration::from_millis(100))
            .build()
            .unwrap();
        let queue = Queue::builder()
            .consumers(2)
            .build(Retry::new(flaky.clone(), policy))
            .unwrap();
        for tag in 0..10 {
            queue.push(sized(1, tag)).await.unwrap();
        }
        queue.shutdown(Duration::from_secs(60)).await.unwrap();
        assert_eq!(queue.stats().exported, 10);

        let rejecting = FaultService::new(|_, _| Fault::Fail(ExportError::permanent("bad")));
        let queue = Queue::builder().build(rejecting).unwrap();
        queue.push(sized(1, 0)).await.unwrap();
        queue.flush(Duration::from_secs(1)).await.unwrap();
        assert_eq!(queue.stats().failed, 1);
        assert_accounted(&queue.stats());
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_last_handle_exports_what_is_left() {
        let inner = stalling(Duration::from_millis(10));
        let queue = Queue::builder().consumers(1).build(inner.clone()).unwrap();
        for tag in 0..5 {
            queue.push(sized(1, tag)).await.unwrap();
        }
        drop(queue);
        for _ in 0..100 {
            if inner.calls() == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(inner.calls(), 5);
    }

    #[test]
    fn needs_a_runtime_and_sane_limits() {
        let service = stalling(Duration::ZERO);
        assert_eq!(
            Queue::builder()
                .build(service.clone())
                .unwrap_err()
                .setting(),
            "runtime"
        );
        assert_eq!(
            Queue::builder()
                .max_items(0)
                .build(service.clone())
                .unwrap_err()
                .setting(),
            "max_items"
        );
        assert_eq!(
            Queue::builder()
                .consumers(0)
                .build(service)
                .unwrap_err()
                .setting(),
            "consumers"
        );
    }
}
