use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use otlp_datagen::Generator;
use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use otlp_proto::profiles::v1development::{Profile, ResourceProfiles, ScopeProfiles};
use otlp_transport::Encoded;
use tokio::sync::{Notify, Semaphore};

use super::*;

/// How the in-memory service answers each batch.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Success,
    Reject(i64),
    Fail,
    Panic,
}

/// An export service that decodes and keeps every batch it is handed.
#[derive(Clone)]
struct Recorder {
    batches: Arc<Mutex<Vec<ExportRequest>>>,
    changed: Arc<Notify>,
    answer: Answer,
    gate: Option<Arc<Semaphore>>,
}

impl Recorder {
    fn new(answer: Answer) -> Self {
        Self {
            batches: Arc::default(),
            changed: Arc::default(),
            answer,
            gate: None,
        }
    }

    /// Every export waits for a permit of `gate`.
    fn gated(gate: Arc<Semaphore>) -> Self {
        Self {
            gate: Some(gate),
            ..Self::new(Answer::Success)
        }
    }

    fn batches(&self) -> Vec<ExportRequest> {
        self.batches.lock().unwrap().clone()
    }

    fn sizes(&self, signal: Signal) -> Vec<usize> {
        self.batches()
            .iter()
            .filter(|b| b.signal() == signal)
            .map(ExportRequest::record_count)
            .collect()
    }

    fn records(&self, signal: Signal) -> usize {
        self.sizes(signal).iter().sum()
    }

    /// Waits (at most 10 s of the test's clock) until `records` records arrived.
    async fn wait_for_records(&self, records: usize) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                let got: usize = self.batches().iter().map(ExportRequest::record_count).sum();
                if got >= records {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the records arrive");
    }
}

impl tower::Service<Encoded> for Recorder {
    type Response = Outcome;
    type Error = ExportError;
    type Future = Pin<Box<dyn Future<Output = Result<Outcome, ExportError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, encoded: Encoded) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if let Some(gate) = &this.gate {
                gate.acquire().await.expect("gate open").forget();
            }
            let request = encoded
                .decode(usize::MAX)
                .map_err(|e| ExportError::permanent(e.to_string()))?;
            this.batches.lock().unwrap().push(request);
            this.changed.notify_waiters();
            match this.answer {
                Answer::Success => Ok(Outcome::Success),
                Answer::Reject(n) => Ok(Outcome::from_parts(n, "refused".into())),
                Answer::Fail => Err(ExportError::permanent("refused for good")),
                Answer::Panic => panic!("the service panicked"),
            }
        })
    }
}

fn wire() -> WireFormat {
    WireFormat::new(Codec::Protobuf, Encoder::new(Compression::None))
}

fn traces(seed: u64, spans: usize) -> ExportRequest {
    Generator::new(seed)
        .resources(2)
        .spans(spans)
        .traces()
        .into()
}

fn of_signal(signal: Signal, seed: u64, records: usize) -> ExportRequest {
    let generator = Generator::new(seed).resources(2).records(records);
    match signal {
        Signal::Traces => generator.traces().into(),
        Signal::Metrics => generator.metrics().into(),
        _ => generator.logs().into(),
    }
}

fn assert_all_accounted(stats: &BatchStats) {
    assert_eq!(
        stats.submitted_records,
        stats.exported_records + stats.rejected_records + stats.dropped_records(),
        "{stats:?}"
    );
    assert_eq!(stats.queued_records, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_counted_exactly_and_nothing_is_lost() {
    let recorder = Recorder::new(Answer::Success);
    let processor = BatchProcessor::builder()
        .max_queue_size(1_000_000)
        .max_concurrent_exports(3)
        .build(recorder.clone(), wire())
        .unwrap();
    let mut producers = JoinSet::new();
    for producer in 0..4u64 {
        let processor = processor.clone();
        producers.spawn(async move {
            let mut sent = [0usize; 3];
            for i in 0..60u64 {
                let records = 1 + ((producer * 97 + i * 31) % 300) as usize;
                let index = (i % 3) as usize;
                let request = of_signal(Signal::ALL[index], producer * 1000 + i, records);
                sent[index] += request.record_count();
                processor.submit(request).unwrap();
                tokio::task::yield_now().await;
            }
            sent
        });
    }
    let mut sent = [0usize; 3];
    while let Some(counts) = producers.join_next().await {
        for (total, count) in sent.iter_mut().zip(counts.unwrap()) {
            *total += count;
        }
    }
    processor.flush().await.unwrap();
    for (index, signal) in Signal::ALL[..3].iter().enumerate() {
        assert_eq!(recorder.records(*signal), sent[index], "{signal}");
        assert!(recorder.sizes(*signal).iter().all(|&size| size <= 512));
    }
    let stats = processor.stats();
    assert_eq!(stats.submitted_records, sent.iter().sum::<usize>() as u64);
    assert_eq!(stats.exported_records, stats.submitted_records);
    assert_eq!(stats.batches, recorder.batches().len() as u64);
    assert_all_accounted(&stats);
}

#[tokio::test(flavor = "current_thread")]
async fn requests_larger_than_a_batch_are_split() {
    let recorder = Recorder::new(Answer::Success);
    let processor = BatchProcessor::builder()
        .build(recorder.clone(), wire())
        .unwrap();
    let request = traces(1, 2_000);
    processor.submit(request.clone()).unwrap();
    processor.flush().await.unwrap();
    assert_eq!(recorder.sizes(Signal::Traces), [512, 512, 512, 464]);
    let mut joined = recorder.batches().into_iter();
    let mut first = joined.next().unwrap();
    for batch in joined {
        merge(&mut first, batch).unwrap();
    }
    assert_eq!(first, request, "the batches hold the request, in order");
}

#[tokio::test(flavor = "current_thread")]
async fn small_requests_are_merged_into_batches_of_max_batch_size() {
    let recorder = Recorder::new(Answer::Success);
    let processor = BatchProcessor::builder()
        .max_batch_size(100)
        .build(recorder.clone(), wire())
        .unwrap();
    for seed in 0..25 {
        processor.submit(traces(seed, 10)).unwrap();
    }
    processor.flush().await.unwrap();
    assert_eq!(recorder.sizes(Signal::Traces), [100, 100, 50]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_delay_sends_a_batch_that_did_not_fill() {
    let recorder = Recorder::new(Answer::Success);
    let delay = Duration::from_millis(200);
    let processor = BatchProcessor::builder()
        .max_delay(delay)
        .build(recorder.clone(), wire())
        .unwrap();
    processor.submit(traces(1, 10)).unwrap();
    tokio::time::sleep(delay - Duration::from_millis(1)).await;
    assert!(recorder.batches().is_empty(), "sent before the delay");
    recorder.wait_for_records(10).await;
    assert_eq!(recorder.sizes(Signal::Traces), [10]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn each_signal_waits_its_own_max_delay() {
    let recorder = Recorder::new(Answer::Success);
    let delay = Duration::from_millis(200);
    let processor = BatchProcessor::builder()
        .max_delay(delay)
        .build(recorder.clone(), wire())
        .unwrap();
    let start = tokio::time::Instant::now();
    processor.submit(traces(1, 4)).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    processor.submit(of_signal(Signal::Logs, 2, 3)).unwrap();
    recorder.wait_for_records(4).await;
    assert_eq!(recorder.sizes(Signal::Traces), [4]);
    // Just before the logs' own deadline (150 + 200 ms), they still wait.
    tokio::time::sleep_until(start + Duration::from_millis(349)).await;
    assert!(
        recorder.sizes(Signal::Logs).is_empty(),
        "logs left with the traces"
    );
    recorder.wait_for_records(7).await;
    assert_eq!(recorder.sizes(Signal::Logs), [3]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_refuses_and_counts_the_records() {
    let gate = Arc::new(Semaphore::new(0));
    let recorder = Recorder::gated(gate.clone());
    let processor = BatchProcessor::builder()
        .max_batch_size(50)
        .max_queue_size(100)
        .build(recorder.clone(), wire())
        .unwrap();
    let (mut accepted, mut refused) = (0, 0);
    for seed in 0..100 {
        let request = traces(seed, 10);
        match processor.submit(request) {
            Ok(()) => accepted += 10,
            Err(SubmitError::QueueFull {
                records, capacity, ..
            }) => {
                assert_eq!((records, capacity), (10, 100));
                refused += 10;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!((accepted, refused), (100, 900));
    let stats = processor.stats();
    assert_eq!(stats.dropped_queue_full, 900);
    assert_eq!(stats.queued_records, 100);
    gate.add_permits(1_000);
    processor.flush().await.unwrap();
    assert_eq!(recorder.records(Signal::Traces), 100);
    assert_all_accounted(&processor.stats());
}

#[tokio::test(flavor = "current_thread")]
async fn flush_and_shutdown_do_not_deadlock_on_a_current_thread_runtime() {
    let recorder = Recorder::new(Answer::Success);
    let processor = BatchProcessor::builder()
        .build(recorder.clone(), wire())
        .unwrap();
    processor.submit(traces(1, 10)).unwrap();
    processor.submit(of_signal(Signal::Logs, 2, 7)).unwrap();
    processor.flush().await.unwrap();
    assert_eq!(recorder.records(Signal::Traces), 10);
    assert_eq!(recorder.records(Signal::Logs), 7);

    processor.submit(traces(3, 5)).unwrap();
    let other_handle = processor.clone();
    processor.shutdown().await.unwrap();
    assert_eq!(recorder.records(Signal::Traces), 15, "shutdown drains");
    assert_eq!(
        other_handle.submit(traces(4, 3)),
        Err(SubmitError::Closed { records: 3 })
    );
    assert_eq!(other_handle.flush().await, Err(Closed));
    other_handle.shutdown().await.unwrap();
    let stats = processor.stats();
    assert_eq!(stats.dropped_closed, 3);
    assert_all_accounted(&stats);
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_every_handle_exports_what_is_held() {
    let recorder = Recorder::new(Answer::Success);
    let processor = BatchProcessor::builder()
        .build(recorder.clone(), wire())
        .unwrap();
    processor.submit(traces(1, 10)).unwrap();
    drop(processor);
    recorder.wait_for_records(10).await;
}

#[tokio::test(flavor = "current_thread")]
async fn failed_exports_are_counted_as_dropped() {
    let recorder = Recorder::new(Answer::Fail);
    let processor = BatchProcessor::builder()
        .max_batch_size(8)
        .max_queue_size(100)
        .build(recorder.clone(), wire())
        .unwrap();
    processor.submit(traces(1, 20)).unwrap();
    processor.flush().await.unwrap();
    let stats = processor.stats();
    assert_eq!(stats.dropped_export_failed, 20);
    assert_eq!((stats.batches, stats.failed_batches), (3, 3));
    assert_eq!(stats.exported_records, 0);
    assert_all_accounted(&stats);
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_export_is_counted_as_failed() {
    let recorder = Recorder::new(Answer::Panic);
    let processor = BatchProcessor::builder()
        .build(recorder.clone(), wire())
        .unwrap();
    processor.submit(traces(1, 20)).unwrap();
    processor.flush().await.unwrap();
    let stats = processor.stats();
    assert_eq!(stats.dropped_export_failed, 20);
    assert_all_accounted(&stats);
}

#[tokio::test(flavor = "current_thread")]
async fn partial_success_counts_rejected_records() {
    let recorder = Recorder::new(Answer::Reject(2));
    let processor = BatchProcessor::builder()
        .max_batch_size(10)
        .build(recorder.clone(), wire())
        .unwrap();
    processor.submit(traces(1, 30)).unwrap();
    processor.flush().await.unwrap();
    let stats = processor.stats();
    assert_eq!((stats.rejected_records, stats.exported_records), (6, 24));
    assert_all_accounted(&stats);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn adaptive_size_grows_under_load_and_shrinks_when_idle() {
    let recorder = Recorder::new(Answer::Success);
    let delay = Duration::from_millis(100);
    let processor = BatchProcessor::builder()
        .max_batch_size(64)
        .max_queue_size(1_000)
        .max_delay(delay)
        .adaptive(8)
        .build(recorder.clone(), wire())
        .unwrap();
    assert_eq!(processor.stats().batch_size, 8);
    // Load: every batch fills, so each doubles the size up to the maximum.
    for (seed, grown) in [(1, 16), (2, 32), (3, 64), (4, 64)] {
        let size = processor.stats().batch_size as usize;
        processor.submit(traces(seed, size)).unwrap();
        processor.flush().await.unwrap();
        assert_eq!(processor.stats().batch_size, grown);
    }
    assert_eq!(recorder.sizes(Signal::Traces), [8, 16, 32, 64]);
    // Idle: a lone record leaves on the timer, and each time the size halves.
    let mut sent = 8 + 16 + 32 + 64;
    for (seed, shrunk) in [(5, 32), (6, 16), (7, 8), (8, 8)] {
        processor.submit(traces(seed, 1)).unwrap();
        sent += 1;
        recorder.wait_for_records(sent).await;
        assert_eq!(processor.stats().batch_size, shrunk);
    }
    assert_all_accounted(&processor.stats());
}

#[tokio::test(flavor = "current_thread")]
async fn empty_requests_are_accepted_and_not_sent() {
    let recorder = Recorder::new(Answer::Success);
    let processor = BatchProcessor::builder()
        .build(recorder.clone(), wire())
        .unwrap();
    processor
        .submit(ExportLogsServiceRequest::default().into())
        .unwrap();
    processor.flush().await.unwrap();
    assert!(recorder.batches().is_empty());
    assert_eq!(processor.stats().submitted_requests, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn profiles_are_sent_one_request_per_batch() {
    let recorder = Recorder::new(Answer::Success);
    let processor = BatchProcessor::builder()
        .max_batch_size(2)
        .max_queue_size(100)
        .build(recorder.clone(), wire())
        .unwrap();
    let profiles = |n: usize| {
        ExportRequest::from(ExportProfilesServiceRequest {
            resource_profiles: vec![ResourceProfiles {
                scope_profiles: vec![ScopeProfiles {
                    profiles: vec![Profile::default(); n],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            dictionary: None,
        })
    };
    processor.submit(profiles(5)).unwrap();
    processor.submit(profiles(1)).unwrap();
    processor.flush().await.unwrap();
    assert_eq!(recorder.sizes(Signal::Profiles), [5, 1]);
    assert_all_accounted(&processor.stats());
}

#[tokio::test(flavor = "current_thread")]
async fn as_a_sink_a_full_queue_throttles_the_sender() {
    let gate = Arc::new(Semaphore::new(0));
    let recorder = Recorder::gated(gate.clone());
    let processor = BatchProcessor::builder()
        .max_batch_size(10)
        .max_queue_size(10)
        .build(recorder.clone(), wire())
        .unwrap();
    let outcome = Sink::export(&processor, Payload::from(traces(1, 10))).await;
    assert_eq!(outcome, Ok(Outcome::Success));
    let refused = Sink::export(&processor, Payload::from(traces(2, 10)))
        .await
        .unwrap_err();
    assert!(matches!(refused, SinkError::Throttled { .. }), "{refused}");
    gate.add_permits(10);
    processor.shutdown().await.unwrap();
    let refused = Sink::export(&processor, Payload::from(traces(3, 1)))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SinkError::Unavailable { .. }),
        "{refused}"
    );
    assert_all_accounted(&processor.stats());
}

#[test]
fn build_outside_a_runtime_is_an_error() {
    let error = BatchProcessor::builder()
        .build(Recorder::new(Answer::Success), wire())
        .unwrap_err();
    assert_eq!(error, BuildError::NoRuntime);
    assert!(error.to_string().contains("tokio runtime"));
}

#[tokio::test(flavor = "current_thread")]
async fn out_of_range_settings_are_refused() {
    let builders = [
        BatchProcessor::builder().max_batch_size(0),
        BatchProcessor::builder().max_concurrent_exports(0),
        BatchProcessor::builder()
            .max_batch_size(100)
            .max_queue_size(10),
        BatchProcessor::builder().max_delay(Duration::ZERO),
        BatchProcessor::builder().adaptive(0),
        BatchProcessor::builder().max_batch_size(10).adaptive(11),
    ];
    for builder in builders {
        let error = builder
            .clone()
            .build(Recorder::new(Answer::Success), wire())
            .unwrap_err();
        assert!(
            matches!(error, BuildError::InvalidSetting(_)),
            "{builder:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_submits_exports_or_counts_every_record() {
    let recorder = Recorder::new(Answer::Success);
    let processor = BatchProcessor::builder()
        .max_batch_size(64)
        .max_queue_size(1_000_000)
        .build(recorder.clone(), wire())
        .unwrap();
    let mut producers = JoinSet::new();
    for producer in 0..3u64 {
        let processor = processor.clone();
        producers.spawn(async move {
            let mut refused = 0;
            for i in 0..200u64 {
                match processor.submit(traces(producer * 1_000 + i, 5)) {
                    Ok(()) => {}
                    Err(SubmitError::Closed { records }) => refused += records,
                    Err(other) => panic!("{other}"),
                }
                tokio::task::yield_now().await;
            }
            refused
        });
    }
    tokio::task::yield_now().await;
    processor.shutdown().await.unwrap();
    let mut refused = 0;
    while let Some(joined) = producers.join_next().await {
        refused += joined.unwrap();
    }
    let stats = processor.stats();
    assert_eq!(stats.submitted_records, 3 * 200 * 5);
    assert_eq!(stats.dropped_closed, refused as u64);
    assert_eq!(
        stats.exported_records,
        recorder.records(Signal::Traces) as u64
    );
    assert_all_accounted(&stats);
}
