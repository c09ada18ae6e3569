//! The persistent queue: what a run accepted and did not finish is exported
//! by the next one, whatever happened to the files in between (a crash
//! mid-write, a damaged byte), and nothing finished is sent again.
//!
//! A "crash" is a runtime dropped under the queue: its consumers stop
//! mid-export and no shutdown runs.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_reliability::{
    DropReason, Queue, QueueError, QueueSnapshot, Storage, StorageError, SyncPolicy, WhenFull,
};
use otlp_transport::{Encoded, ExportError, Outcome, Signal};
use tower::service_fn;

/// The receiver's behaviour for one item, by its tag.
#[derive(Clone, Copy)]
enum Answer {
    Accept,
    /// Never answers: the item stays in flight.
    Hang,
    Reject,
}

/// A receiver that answers by a rule and records what it accepted.
#[derive(Clone)]
struct Receiver {
    rule: Arc<dyn Fn(u32) -> Answer + Send + Sync>,
    accepted: Arc<Mutex<Vec<u32>>>,
    calls: Arc<Mutex<usize>>,
}

impl Receiver {
    fn new(rule: impl Fn(u32) -> Answer + Send + Sync + 'static) -> Self {
        Self {
            rule: Arc::new(rule),
            accepted: Arc::default(),
            calls: Arc::default(),
        }
    }

    fn accepted(&self) -> Vec<u32> {
        self.accepted.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }

    fn service(
        &self,
    ) -> impl tower::Service<
        Encoded,
        Response = Outcome,
        Error = ExportError,
        Future = std::pin::Pin<Box<dyn Future<Output = Result<Outcome, ExportError>> + Send>>,
    > + Clone
    + Send
    + 'static {
        let this = self.clone();
        service_fn(move |item: Encoded| {
            let this = this.clone();
            Box::pin(async move {
                let tag = tag_of(&item);
                *this.calls.lock().unwrap() += 1;
                match (this.rule)(tag) {
                    Answer::Accept => {
                        this.accepted.lock().unwrap().push(tag);
                        Ok(Outcome::Success)
                    }
                    Answer::Reject => Err(ExportError::permanent("rejected")),
                    Answer::Hang => std::future::pending().await,
                }
            })
                as std::pin::Pin<Box<dyn Future<Output = Result<Outcome, ExportError>> + Send>>
        })
    }
}

/// Item `tag`: its body names it, and its header varies with it.
fn item(tag: u32) -> Encoded {
    let signal = Signal::ALL[tag as usize % 3];
    let compression = Compression::ALL[tag as usize % Compression::ALL.len()];
    let mut body = format!("item-{tag:05}-").into_bytes();
    body.resize(40 + tag as usize % 17, b'x');
    Encoded::new(signal, Codec::Protobuf, compression, Bytes::from(body))
}

fn tag_of(item: &Encoded) -> u32 {
    let text = std::str::from_utf8(&item.body()[5..10]).expect("a tag");
    let tag = text.parse().expect("a tag");
    assert_eq!(*item, self::item(tag), "the item came back whole");
    tag
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Pushes `tags` through a queue on `dir` whose receiver answers by `rule`,
/// waits until the receiver saw `calls` exports, then crashes: the runtime
/// is dropped mid-export, no shutdown.
fn run_and_crash(
    dir: &Path,
    consumers: usize,
    tags: impl IntoIterator<Item = u32>,
    receiver: &Receiver,
    calls: usize,
) -> QueueSnapshot {
    let runtime = runtime();
    let queue = runtime.block_on(async {
        let storage = Storage::open(dir).unwrap();
        let queue = Queue::builder()
            .consumers(consumers)
            .build_persistent(storage, receiver.service())
            .unwrap();
        for tag in tags {
            queue.push(item(tag)).await.unwrap();
        }
        within(async {
            while receiver.calls() < calls {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        queue
    });
    let stats = queue.stats();
    drop(runtime);
    drop(queue);
    stats
}

/// Opens `dir` with a receiver that accepts everything, exports what the
/// last run left, and returns what arrived and the queue's counters.
fn recover(dir: &Path) -> (Vec<u32>, QueueSnapshot) {
    let receiver = Receiver::new(|_| Answer::Accept);
    let stats = runtime().block_on(async {
        let storage = Storage::open(dir).unwrap();
        let queue = Queue::builder()
            .consumers(1)
            .build_persistent(storage, receiver.service())
            .unwrap();
        queue.shutdown(Duration::from_secs(30)).await.unwrap();
        queue.stats()
    });
    (receiver.accepted(), stats)
}

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("finished in time")
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "seg"))
        .collect();
    files.sort();
    files
}

/// Accepted and recovered items are all accounted for.
fn assert_accounted(stats: &QueueSnapshot) {
    assert_eq!(
        stats.accepted + stats.recovered,
        stats.exported
            + stats.failed
            + stats.dropped.get(DropReason::Evicted)
            + stats.dropped.get(DropReason::ShutdownDeadline)
            + stats.kept
            + (stats.items + stats.in_flight) as u64,
        "{stats:?}"
    );
}

#[test]
fn a_crash_loses_nothing_and_the_next_start_sends_each_item_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let down = Receiver::new(|_| Answer::Hang);
    let before = run_and_crash(dir.path(), 1, 0..40, &down, 1);
    assert_eq!(
        (before.accepted, before.items, before.in_flight),
        (40, 39, 1)
    );

    let (arrived, stats) = recover(dir.path());
    assert_eq!(arrived, (0..40).collect::<Vec<_>>());
    assert_eq!((stats.recovered, stats.exported, stats.kept), (40, 40, 0));
    let storage = stats.storage.unwrap();
    assert_eq!(storage.recovered_items, 40);
    assert_eq!(
        storage.recovered_bytes,
        (0..40)
            .map(|tag| item(tag).body().len() as u64)
            .sum::<u64>()
    );
    assert_eq!((storage.corrupt_records, storage.torn_records), (0, 0));
    assert_accounted(&stats);

    // Everything was done: the files are gone, nothing comes back.
    assert!(segments(dir.path()).is_empty());
    let (again, stats) = recover(dir.path());
    assert!(again.is_empty());
    assert_eq!(stats.recovered, 0);
}

#[test]
fn items_done_are_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    // Every third accepted, every fifth of the rest rejected for good, the
    // others hang; 30 consumers, so every item reaches the receiver.
    let rule = |tag: u32| match tag {
        t if t % 3 == 0 => Answer::Accept,
        t if t % 5 == 0 => Answer::Reject,
        _ => Answer::Hang,
    };
    let receiver = Receiver::new(rule);
    let before = run_and_crash(dir.path(), 30, 0..30, &receiver, 30);
    assert_eq!((before.exported, before.failed), (10, 4));

    let (arrived, stats) = recover(dir.path());
    let expected: Vec<u32> = (0..30)
        .filter(|&tag| matches!(rule(tag), Answer::Hang))
        .collect();
    assert_eq!(arrived, expected);
    assert_eq!(stats.recovered, 16);
}

#[test]
fn a_record_torn_anywhere_is_truncated_and_the_earlier_ones_are_intact() {
    let dir = tempfile::tempdir().unwrap();
    let down = Receiver::new(|_| Answer::Hang);
    run_and_crash(dir.path(), 1, 0..5, &down, 1);
    let [segment] = segments(dir.path()).try_into().unwrap();
    let whole = std::fs::read(&segment).unwrap();
    let last = whole.len() - (24 + item(4).body().len());
    for cut in last + 1..whole.len() {
        let copy = tempfile::tempdir().unwrap();
        let torn = copy.path().join(segment.file_name().unwrap());
        std::fs::write(&torn, &whole[..cut]).unwrap();
        let storage = Storage::open(copy.path()).unwrap();
        let found = storage.stats();
        assert_eq!(storage.recovered(), 4, "cut at {cut}");
        assert_eq!(
            (found.torn_records, found.corrupt_records),
            (1, 0),
            "cut at {cut}"
        );
        drop(storage);
        assert_eq!(std::fs::metadata(&torn).unwrap().len(), last as u64);
        // Counted once: the next open finds a clean file.
        let (arrived, stats) = recover(copy.path());
        assert_eq!(arrived, [0, 1, 2, 3], "cut at {cut}");
        assert_eq!(stats.storage.unwrap().torn_records, 0);
    }
}

#[test]
fn a_damaged_record_in_the_middle_is_skipped_and_counted_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let down = Receiver::new(|_| Answer::Hang);
    run_and_crash(dir.path(), 1, 0..5, &down, 1);
    let [segment] = segments(dir.path()).try_into().unwrap();
    let whole = std::fs::read(&segment).unwrap();
    let start = 12 + (0..2).map(|tag| 24 + item(tag).body().len()).sum::<usize>();
    let end = start + 24 + item(2).body().len();
    for at in start..end {
        let copy = tempfile::tempdir().unwrap();
        let mut damaged = whole.clone();
        damaged[at] ^= 0x04;
        std::fs::write(copy.path().join(segment.file_name().unwrap()), &damaged).unwrap();
        let (arrived, stats) = recover(copy.path());
        assert_eq!(arrived, [0, 1, 3, 4], "byte {at}");
        let found = stats.storage.unwrap();
        assert_eq!(
            (found.corrupt_records, found.torn_records),
            (1, 0),
            "byte {at}"
        );
        assert_eq!(found.corrupt_bytes, (end - start) as u64, "byte {at}");
    }
}

#[test]
fn segments_roll_and_are_deleted_once_all_their_items_are_done() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    runtime.block_on(async {
        // Every record starts a new segment.
        let storage = Storage::builder(dir.path())
            .segment_bytes(1)
            .sync(SyncPolicy::Never)
            .open()
            .unwrap();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let receiver = {
            let gate = gate.clone();
            service_fn(move |_: Encoded| {
                let gate = gate.clone();
                async move {
                    gate.acquire().await.unwrap().forget();
                    Ok::<_, ExportError>(Outcome::Success)
                }
            })
        };
        let queue = Queue::builder()
            .consumers(1)
            .build_persistent(storage, receiver)
            .unwrap();
        for tag in 0..6 {
            queue.push(item(tag)).await.unwrap();
        }
        assert_eq!(segments(dir.path()).len(), 6);
        assert_eq!(queue.stats().storage.unwrap().segments, 6);
        gate.add_permits(3);
        within(async {
            while queue.stats().exported < 3 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert_eq!(segments(dir.path()).len(), 3);
        gate.add_permits(3);
        queue.flush(Duration::from_secs(30)).await.unwrap();
        // The active segment stays open for the next push.
        assert_eq!(segments(dir.path()).len(), 1);
        queue.shutdown(Duration::from_secs(30)).await.unwrap();
        assert!(segments(dir.path()).is_empty());
        let storage = queue.stats().storage.unwrap();
        assert_eq!((storage.segments, storage.disk_bytes), (0, 0));
    });
}

#[test]
fn a_directory_in_use_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = Storage::open(dir.path()).unwrap();
    let error = Storage::open(dir.path()).unwrap_err();
    assert_eq!(
        error,
        StorageError::Locked {
            path: dir.path().to_owned(),
            pid: Some(std::process::id()),
        }
    );
    assert!(error.to_string().contains("in use by process"), "{error}");
    drop(first);
    Storage::open(dir.path()).unwrap();
}

#[test]
fn a_segment_of_a_newer_format_stops_the_open_instead_of_being_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000007.seg");
    let mut header = b"OTLPQSEG".to_vec();
    header.extend_from_slice(&2u32.to_le_bytes());
    std::fs::write(&path, &header).unwrap();
    assert_eq!(
        Storage::open(dir.path()).unwrap_err(),
        StorageError::UnsupportedVersion { path, version: 2 }
    );
    std::fs::write(
        dir.path().join("00000000000000000007.seg"),
        b"garbage, not ours",
    )
    .unwrap();
    assert!(matches!(
        Storage::open(dir.path()),
        Err(StorageError::NotASegment { .. })
    ));
}

#[test]
fn a_shutdown_past_its_deadline_keeps_the_rest_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let down = Receiver::new(|_| Answer::Hang);
    let stats = runtime().block_on(async {
        let storage = Storage::open(dir.path()).unwrap();
        let queue = Queue::builder()
            .consumers(2)
            .build_persistent(storage, down.service())
            .unwrap();
        for tag in 0..7 {
            queue.push(item(tag)).await.unwrap();
        }
        assert_eq!(
            queue.shutdown(Duration::from_millis(50)).await,
            Err(QueueError::ShutdownKept { kept: 7 })
        );
        // The directory is free again even though the handle lives.
        assert!(Storage::open(dir.path()).is_ok());
        queue.stats()
    });
    assert_eq!(stats.kept, 7);
    assert_eq!(stats.dropped.total(), 0);
    assert_accounted(&stats);
    let (arrived, _) = recover(dir.path());
    assert_eq!(arrived, (0..7).collect::<Vec<_>>());
}

#[test]
fn items_refused_or_evicted_are_done_on_disk_too() {
    let dir = tempfile::tempdir().unwrap();
    let down = Receiver::new(|_| Answer::Hang);
    let runtime = runtime();
    let queue = runtime.block_on(async {
        let storage = Storage::open(dir.path()).unwrap();
        let queue = Queue::builder()
            .consumers(1)
            .max_items(3)
            .when_full(WhenFull::DropOldest)
            .build_persistent(storage, down.service())
            .unwrap();
        queue.push(item(0)).await.unwrap();
        within(async {
            while down.calls() < 1 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        // 1..=3 queued, then 4 and 5 evict 1 and 2.
        for tag in 1..6 {
            queue.push(item(tag)).await.unwrap();
        }
        assert_eq!(queue.stats().dropped.get(DropReason::Evicted), 2);
        queue
    });
    drop(runtime);
    drop(queue);
    let (arrived, stats) = recover(dir.path());
    assert_eq!(arrived, [0, 3, 4, 5]);
    assert_eq!(stats.recovered, 4);
}

#[test]
fn recovered_items_are_queued_even_beyond_smaller_limits() {
    let dir = tempfile::tempdir().unwrap();
    let down = Receiver::new(|_| Answer::Hang);
    run_and_crash(dir.path(), 1, 0..10, &down, 1);
    let receiver = Receiver::new(|_| Answer::Accept);
    let stats = runtime().block_on(async {
        let storage = Storage::open(dir.path()).unwrap();
        let queue = Queue::builder()
            .max_items(2)
            .consumers(1)
            .build_persistent(storage, receiver.service())
            .unwrap();
        assert_eq!(queue.stats().peak_items, 10);
        queue.flush(Duration::from_secs(30)).await.unwrap();
        queue.push(item(10)).await.unwrap();
        queue.shutdown(Duration::from_secs(30)).await.unwrap();
        queue.stats()
    });
    assert_eq!(receiver.accepted(), (0..11).collect::<Vec<_>>());
    assert_eq!(
        (stats.recovered, stats.accepted, stats.exported),
        (10, 1, 11)
    );
    assert_accounted(&stats);
}

#[test]
fn a_push_abandoned_mid_write_is_not_sent_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let down = Receiver::new(|_| Answer::Hang);
    let runtime = runtime();
    let (queue, abandoned) = runtime.block_on(async {
        let storage = Storage::open(dir.path()).unwrap();
        let queue = Queue::builder()
            .consumers(1)
            .build_persistent(storage, down.service())
            .unwrap();
        queue.push(item(0)).await.unwrap();
        // Dropped at its first wait: while the item is being written.
        let abandoned = tokio::select! {
            biased;
            pushed = queue.push(item(1)) => {
                pushed.unwrap();
                false
            }
            () = std::future::ready(()) => true,
        };
        // The writer finishes on its thread, and marks the item done.
        tokio::time::sleep(Duration::from_millis(200)).await;
        (queue, abandoned)
    });
    drop(runtime);
    drop(queue);
    let (arrived, _) = recover(dir.path());
    if abandoned {
        assert_eq!(arrived, [0]);
    } else {
        assert_eq!(arrived, [0, 1]);
    }
}

#[test]
fn a_failed_write_refuses_the_push_with_a_typed_error_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let queue_dir = dir.path().join("queue");
    let receiver = Receiver::new(|_| Answer::Accept);
    runtime().block_on(async {
        // Each push starts a segment, which needs the directory.
        let storage = Storage::builder(&queue_dir)
            .segment_bytes(1)
            .open()
            .unwrap();
        let queue = Queue::builder()
            .build_persistent(storage, receiver.service())
            .unwrap();
        queue.push(item(0)).await.unwrap();
        std::fs::remove_dir_all(&queue_dir).unwrap();
        let Err(QueueError::Storage(StorageError::Io { action, path, .. })) =
            queue.push(item(1)).await
        else {
            panic!("the write failed");
        };
        assert_eq!(action, "create");
        assert!(path.starts_with(&queue_dir), "{}", path.display());
        let stats = queue.stats();
        assert_eq!(stats.dropped.get(DropReason::Storage), 1);
        assert_eq!(stats.accepted, 1);
        queue.shutdown(Duration::from_secs(30)).await.unwrap();
    });
    assert_eq!(receiver.accepted(), [0]);
}
