//! Receiver-side sinks: where a receiver puts what it accepted.
//!
//! [`JsonLinesSink`] writes every request as one line of compact OTLP/JSON
//! (what `otlp serve` prints), to standard output, a file or any
//! [`AsyncWrite`]; [`decode_line`] reads such a line back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use otlp_codec::Codec;
use otlp_transport::{
    DEFAULT_MAX_REQUEST_SIZE, ExportRequest, Outcome, Payload, Signal, Sink, SinkError,
};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};

/// Lines waiting for the writer, by default: enough to absorb a burst from
/// many connections, few enough to bound memory (each line is a request).
const DEFAULT_CAPACITY: usize = 256;

/// A [`Sink`] writing each request it receives as one line of compact
/// OTLP/JSON, through a bounded queue and one writer task.
///
/// Requests are encoded by the tasks that receive them, in parallel; the
/// writer writes what is queued, flushes, and only then answers: a request
/// is acknowledged once its line is in the output. A write or flush that
/// fails answers [`SinkError::Unavailable`] to every request written since
/// the last good flush, so senders retry (a retried line may then appear
/// twice: delivery is at least once), and is counted in [`SinkSummary`].
/// After a failure the next line starts on a new line, so one broken line
/// never swallows the next.
///
/// Requests with no record are acknowledged and counted, not written: an
/// empty object would not say its signal.
///
/// Cloning gives another handle to the same output.
///
/// ```
/// use otlp::sink::{JsonLinesSink, decode_line};
/// use otlp_transport::{ExportRequest, Payload, Sink};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (output, mut read) = tokio::io::duplex(1 << 20);
/// let sink = JsonLinesSink::builder().build(output)?;
/// let request = ExportRequest::from(otlp_datagen::Generator::new(1).records(3).logs());
/// sink.export(Payload::from(request.clone())).await?;
/// let summary = sink.finish().await?;
/// assert_eq!(summary.records(otlp_transport::Signal::Logs), 3);
///
/// let mut text = String::new();
/// tokio::io::AsyncReadExt::read_to_string(&mut read, &mut text).await?;
/// assert_eq!(decode_line(text.trim_end().as_bytes())?, request);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct JsonLinesSink {
    shared: Arc<Shared>,
    lines: mpsc::Sender<Message>,
}

/// Settings of a [`JsonLinesSink`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct JsonLinesSinkBuilder {
    capacity: usize,
    max_request_size: usize,
}

/// What a [`JsonLinesSink`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkSummary {
    /// Requests written, and their records, per signal.
    pub per_signal: HashMap<Signal, SignalSummary>,
    /// Requests with no record (acknowledged, not written).
    pub empty_requests: u64,
    /// Bytes written, newlines included.
    pub bytes: u64,
    /// Writes or flushes that failed.
    pub write_errors: u64,
    /// Requests answered with an error because their line could not be
    /// written (or the sink was finished); their senders were told.
    pub failed_requests: u64,
}

/// The requests and records of one signal in a [`SinkSummary`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalSummary {
    /// Requests written.
    pub requests: u64,
    /// Records (spans, data points, log records, profiles) written.
    pub records: u64,
}

impl SinkSummary {
    /// Requests written, all signals together.
    pub fn requests(&self) -> u64 {
        self.per_signal.values().map(|s| s.requests).sum()
    }

    /// Records of `signal` written.
    pub fn records(&self, signal: Signal) -> u64 {
        self.per_signal.get(&signal).map_or(0, |s| s.records)
    }
}

/// Why a [`JsonLinesSink`] could not be built or finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonLinesError {
    /// `build` was called outside a tokio runtime.
    #[error(
        "the JSON lines sink needs a tokio runtime for its writer task: build it inside one (e.g. in `#[tokio::main]`)"
    )]
    NoRuntime,
    /// `finish` was called after the writer had already ended.
    #[error("the JSON lines sink is already finished")]
    Finished,
}

/// Why [`decode_line`] could not read a line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not a JSON object.
    #[error("not a JSON object: {0}")]
    NotAnObject(String),
    /// No top-level key says the signal.
    #[error(
        "no top-level resourceSpans, resourceMetrics, resourceLogs or resourceProfiles key: cannot tell the signal"
    )]
    UnknownSignal,
    /// The object is not a valid OTLP/JSON request.
    #[error(transparent)]
    Decode(#[from] otlp_codec::DecodeError),
}

/// Reads one line written by [`JsonLinesSink`] (or any OTLP/JSON export
/// request on one line), telling its signal by its top-level key.
pub fn decode_line(line: &[u8]) -> Result<ExportRequest, LineError> {
    let keys: HashMap<String, serde::de::IgnoredAny> =
        serde_json::from_slice(line).map_err(|e| LineError::NotAnObject(e.to_string()))?;
    let signal = [
        ("resourceSpans", Signal::Traces),
        ("resourceMetrics", Signal::Metrics),
        ("resourceLogs", Signal::Logs),
        ("resourceProfiles", Signal::Profiles),
    ]
    .into_iter()
    .find(|(key, _)| keys.contains_key(*key))
    .map(|(_, signal)| signal)
    .ok_or(LineError::UnknownSignal)?;
    Ok(ExportRequest::decode(
        signal,
        Codec::Json,
        bytes::Bytes::copy_from_slice(line),
    )?)
}

impl Default for JsonLinesSinkBuilder {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
        }
    }
}

impl JsonLinesSinkBuilder {
    /// How many encoded lines may wait for the writer (at least 1); 256 by
    /// default. When full, receivers wait: back-pressure to the senders.
    pub fn capacity(mut self, lines: usize) -> Self {
        self.capacity = lines.max(1);
        self
    }

    /// The largest decompressed body accepted when handed an encoded
    /// payload; 64 MiB by default.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// Starts the writer task on the current tokio runtime, writing to
    /// `output` (e.g. `tokio::io::stdout()` or a `tokio::fs::File`).
    pub fn build<W>(self, output: W) -> Result<JsonLinesSink, JsonLinesError>
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| JsonLinesError::NoRuntime)?;
        let shared = Arc::new(Shared {
            max_request_size: self.max_request_size,
            counters: Counters::default(),
        });
        let (lines, receiver) = mpsc::channel(self.capacity);
        runtime.spawn(write_lines(receiver, output, shared.clone()));
        Ok(JsonLinesSink { shared, lines })
    }
}

impl JsonLinesSink {
    /// A builder: 256 lines of queue, 64 MiB requests.
    pub fn builder() -> JsonLinesSinkBuilder {
        JsonLinesSinkBuilder::default()
    }

    /// What was written so far.
    pub fn summary(&self) -> SinkSummary {
        self.shared.counters.summary()
    }

    /// Writes every line queued before the call, flushes and shuts the
    /// output down, and returns what was written. Later exports, from any
    /// handle, answer [`SinkError::Unavailable`].
    pub async fn finish(&self) -> Result<SinkSummary, JsonLinesError> {
        let (ack, done) = oneshot::channel();
        self.lines
            .send(Message::Finish(ack))
            .await
            .map_err(|_| JsonLinesError::Finished)?;
        done.await.map_err(|_| JsonLinesError::Finished)
    }
}

#[async_trait]
impl Sink for JsonLinesSink {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let request = payload
            .into_request(self.shared.max_request_size)
            .map_err(|e| SinkError::InvalidData(e.to_string()))?;
        let counters = &self.shared.counters;
        let records = request.record_count();
        if records == 0 {
            counters.empty_requests.fetch_add(1, Ordering::Relaxed);
            return Ok(Outcome::Success);
        }
        // No capacity hint: sizing the request first costs more (callgrind,
        // `facade_overhead sink`: 4% of the instructions) than growing.
        let mut line = Vec::new();
        request
            .encode(Codec::Json, &mut line)
            .map_err(|e| SinkError::Internal(format!("cannot write the request as JSON: {e}")))?;
        line.push(b'\n');
        let (ack, written) = oneshot::channel();
        let message = Message::Line {
            line,
            signal: request.signal(),
            records,
            ack,
        };
        let finished = || {
            counters.failed_requests.fetch_add(1, Ordering::Relaxed);
            SinkError::Unavailable {
                retry_after: None,
                message: "the JSON lines output is closed".into(),
            }
        };
        self.lines.send(message).await.map_err(|_| finished())?;
        match written.await {
            Ok(Ok(())) => Ok(Outcome::Success),
            // Counted by the writer.
            Ok(Err(message)) => Err(SinkError::Unavailable {
                retry_after: None,
                message,
            }),
            Err(_) => Err(finished()),
        }
    }
}

#[derive(Debug)]
enum Message {
    Line {
        line: Vec<u8>,
        signal: Signal,
        records: usize,
        ack: oneshot::Sender<Result<(), String>>,
    },
    Finish(oneshot::Sender<SinkSummary>),
}

#[derive(Debug)]
struct Shared {
    max_request_size: usize,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    /// Requests and records per signal, in `Signal::ALL` order.
    requests: [AtomicU64; 4],
    records: [AtomicU64; 4],
    empty_requests: AtomicU64,
    bytes: AtomicU64,
    write_errors: AtomicU64,
    failed_requests: AtomicU64,
}

impl Counters {
    fn written(&self, signal: Signal, records: usize, bytes: usize) {
        let index = signal_index(signal);
        self.requests[index].fetch_add(1, Ordering::Relaxed);
        self.records[index].fetch_add(records as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn summary(&self) -> SinkSummary {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let per_signal = Signal::ALL
            .into_iter()
            .map(|signal| {
                let index = signal_index(signal);
                let summary = SignalSummary {
                    requests: load(&self.requests[index]),
                    records: load(&self.records[index]),
                };
                (signal, summary)
            })
            .filter(|(_, s)| s.requests > 0)
            .collect();
        SinkSummary {
            per_signal,
            empty_requests: load(&self.empty_requests),
            bytes: load(&self.bytes),
            write_errors: load(&self.write_errors),
            failed_requests: load(&self.failed_requests),
        }
    }
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
        Signal::Profiles => 3,
    }
}

/// A line written but not yet flushed, with the request waiting for it.
struct Unflushed {
    signal: Signal,
    records: usize,
    bytes: usize,
    ack: oneshot::Sender<Result<(), String>>,
}

/// The writer task: takes what is queued, writes it, flushes, answers.
async fn write_lines<W>(mut lines: mpsc::Receiver<Message>, output: W, shared: Arc<Shared>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let counters = &shared.counters;
    let mut out = BufWriter::new(output);
    // After a failed write, part of a line may be in the output.
    let mut line_broken = false;
    let mut finish = None;
    while let Some(first) = lines.recv().await {
        let mut group = Vec::new();
        let mut error: Option<std::io::Error> = None;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line {
                    line,
                    signal,
                    records,
                    ack,
                } => {
                    if error.is_none()
                        && let Err(e) = write_line(&mut out, &line, &mut line_broken).await
                    {
                        error = Some(e);
                    }
                    group.push(Unflushed {
                        signal,
                        records,
                        bytes: line.len(),
                        ack,
                    });
                }
                Message::Finish(ack) => {
                    // Lines already queued are still written; later ones are refused.
                    lines.close();
                    finish = Some(ack);
                }
            }
            next = lines.try_recv().ok();
        }
        if error.is_none()
            && let Err(e) = out.flush().await
        {
            error = Some(e);
        }
        match error {
            None => {
                for unflushed in group {
                    counters.written(unflushed.signal, unflushed.records, unflushed.bytes);
                    // Ignored: the receiver may have given up on the request.
                    let _ = unflushed.ack.send(Ok(()));
                }
            }
            Some(e) => {
                counters.write_errors.fetch_add(1, Ordering::Relaxed);
                counters
                    .failed_requests
                    .fetch_add(group.len() as u64, Ordering::Relaxed);
                let message = format!("cannot write the JSON lines output: {e}");
                for unflushed in group {
                    let _ = unflushed.ack.send(Err(message.clone()));
                }
                // Whatever the buffer still holds belongs to requests just
                // refused: drop it rather than write it later.
                out = BufWriter::new(out.into_inner());
                line_broken = true;
            }
        }
        if finish.is_some() {
            break;
        }
    }
    if out.shutdown().await.is_err() {
        counters.write_errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(ack) = finish {
        let _ = ack.send(counters.summary());
    }
}

/// Writes `line`, first ending the line a failed write may have left open.
async fn write_line<W: AsyncWrite + Unpin>(
    out: &mut BufWriter<W>,
    line: &[u8],
    line_broken: &mut bool,
) -> std::io::Result<()> {
    if *line_broken {
        out.write_all(b"\n").await?;
        *line_broken = false;
    }
    out.write_all(line).await
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll};

    use otlp_compression::{Compression, Encoder};
    use otlp_datagen::Generator;
    use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
    use otlp_transport::Encoded;

    use super::*;

    fn request(index: u64) -> ExportRequest {
        let generator = Generator::new(index)
            .resources(1)
            .records(1 + (index % 7) as usize);
        match index % 3 {
            0 => generator.traces().into(),
            1 => generator.metrics().into(),
            _ => generator.logs().into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_exports_become_lines_that_parse_back_to_the_same_requests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let file = tokio::fs::File::create(&path).await.unwrap();
        let sink = JsonLinesSink::builder().capacity(4).build(file).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..8u64 {
            let sink = sink.clone();
            tasks.spawn(async move {
                for i in 0..20 {
                    let request = request(task * 100 + i);
                    assert_eq!(
                        sink.export(Payload::from(request)).await,
                        Ok(Outcome::Success)
                    );
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap();
        }
        let summary = sink.finish().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut read: Vec<ExportRequest> = text
            .lines()
            .map(|line| decode_line(line.as_bytes()).unwrap())
            .collect();
        let mut sent: Vec<ExportRequest> = (0..8u64)
            .flat_map(|task| (0..20).map(move |i| request(task * 100 + i)))
            .collect();
        assert_eq!(read.len(), 160);
        // Lines from concurrent senders interleave; compare as sets.
        let key = |r: &ExportRequest| {
            let mut buf = Vec::new();
            r.encode(Codec::Protobuf, &mut buf).unwrap();
            buf
        };
        read.sort_by_key(key);
        sent.sort_by_key(key);
        assert_eq!(read, sent);
        assert_eq!(summary.requests(), 160);
        assert_eq!(summary.bytes, text.len() as u64);
        for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            let expected: usize = sent
                .iter()
                .filter(|r| r.signal() == signal)
                .map(ExportRequest::record_count)
                .sum();
            assert_eq!(summary.records(signal), expected as u64, "{signal}");
        }
        assert_eq!((summary.write_errors, summary.failed_requests), (0, 0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn encoded_payloads_are_decoded_and_bad_ones_refused_as_invalid() {
        let (output, mut input) = tokio::io::duplex(1 << 20);
        let sink = JsonLinesSink::builder().build(output).unwrap();
        let request = request(2);
        let encoded = Payload::from(request.clone())
            .into_encoded(Codec::Protobuf, &Encoder::new(Compression::None), 1 << 20)
            .unwrap();
        sink.export(Payload::from(encoded)).await.unwrap();
        let garbage = Encoded::new(
            Signal::Logs,
            Codec::Protobuf,
            Compression::None,
            bytes::Bytes::from_static(b"\xff\xff\xff"),
        );
        let refused = sink.export(Payload::from(garbage)).await.unwrap_err();
        assert!(matches!(refused, SinkError::InvalidData(_)), "{refused}");
        sink.finish().await.unwrap();
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut input, &mut text)
            .await
            .unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(!text.trim_end().contains('\n'), "compact: one line");
        assert_eq!(decode_line(text.trim_end().as_bytes()).unwrap(), request);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn empty_requests_are_counted_not_written() {
        let (output, mut input) = tokio::io::duplex(1 << 16);
        let sink = JsonLinesSink::builder().build(output).unwrap();
        let empty = ExportRequest::from(ExportLogsServiceRequest::default());
        assert_eq!(
            sink.export(Payload::from(empty)).await,
            Ok(Outcome::Success)
        );
        let summary = sink.finish().await.unwrap();
        assert_eq!(
            (summary.empty_requests, summary.requests(), summary.bytes),
            (1, 0, 0)
        );
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut input, &mut text)
            .await
            .unwrap();
        assert!(text.is_empty());
    }

    /// An output whose first `failures` writes fail; what it accepts is kept.
    #[derive(Clone)]
    struct Flaky {
        failures: Arc<Mutex<usize>>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncWrite for Flaky {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                // Half a line gets out before the failure, as on a full disk.
                self.written
                    .lock()
                    .unwrap()
                    .extend_from_slice(&buf[..buf.len() / 2]);
                return Poll::Ready(Err(io::Error::other("disk full")));
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn write_errors_answer_unavailable_are_counted_and_never_corrupt_later_lines() {
        let output = Flaky {
            failures: Arc::new(Mutex::new(1)),
            written: Arc::default(),
        };
        let sink = JsonLinesSink::builder().build(output.clone()).unwrap();
        let refused = sink.export(Payload::from(request(1))).await.unwrap_err();
        assert!(
            matches!(refused, SinkError::Unavailable { .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("disk full"), "{refused}");
        // The sender retries, and this time it is written.
        assert_eq!(
            sink.export(Payload::from(request(1))).await,
            Ok(Outcome::Success)
        );
        let summary = sink.finish().await.unwrap();
        assert_eq!((summary.write_errors, summary.failed_requests), (1, 1));
        assert_eq!(summary.requests(), 1);
        let written = String::from_utf8(output.written.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 2, "the broken half line, then the good one");
        assert!(decode_line(lines[0].as_bytes()).is_err());
        assert_eq!(decode_line(lines[1].as_bytes()).unwrap(), request(1));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn exports_after_finish_answer_unavailable_and_are_counted() {
        let (output, _input) = tokio::io::duplex(1 << 16);
        let sink = JsonLinesSink::builder().build(output).unwrap();
        sink.export(Payload::from(request(0))).await.unwrap();
        let summary = sink.finish().await.unwrap();
        assert_eq!(summary.requests(), 1);
        let refused = sink.export(Payload::from(request(0))).await.unwrap_err();
        assert!(
            matches!(refused, SinkError::Unavailable { .. }),
            "{refused}"
        );
        assert_eq!(sink.summary().failed_requests, 1);
        assert_eq!(sink.finish().await, Err(JsonLinesError::Finished));
    }

    #[test]
    fn build_outside_a_runtime_is_an_error() {
        let error = JsonLinesSink::builder()
            .build(tokio::io::sink())
            .unwrap_err();
        assert_eq!(error, JsonLinesError::NoRuntime);
    }

    #[test]
    fn lines_that_are_not_requests_are_refused_with_the_reason() {
        assert!(matches!(
            decode_line(b"not json"),
            Err(LineError::NotAnObject(_))
        ));
        assert!(matches!(
            decode_line(b"[1,2]"),
            Err(LineError::NotAnObject(_))
        ));
        assert!(matches!(decode_line(b"{}"), Err(LineError::UnknownSignal)));
        assert!(matches!(
            decode_line(br#"{"resourceSpans":[{"scopeSpans":7}]}"#),
            Err(LineError::Decode(_))
        ));
    }
}
