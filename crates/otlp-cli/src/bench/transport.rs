//! What the transport benchmarks (`otlp bench grpc`, `http`, …) share: the
//! 512-span requests, the export loop at a given concurrency, the sink that
//! counts what our server received, and the figures of a row.
//!
//! A row runs `c` tasks, each exporting one request after another, first for
//! a warm-up (a fifth of `--time`, at least 50 ms) and then for `--time`; every
//! task exports at least once in each phase, so a row always has samples. The
//! figure's samples are the latencies of single exports, its throughput the
//! spans/s the receiver accepted, with `p50_ms` and `p99_ms`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use otlp_compression::Compression;
use otlp_datagen::Signal;
use otlp_proto::Message;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_transport::{ExportRequest, Outcome, Payload, Sink, SinkError};

use super::{Bench, Figure, Samples};
use crate::Error;

/// Spans per request, the OpenTelemetry SDK's default batch.
pub(super) const SPANS_PER_REQUEST: usize = 512;
/// The concurrencies every transport is measured at.
pub(super) const CONCURRENCY: [usize; 2] = [1, 16];

/// One export request of the benchmark, in the forms the two sides send it.
pub(super) struct Request {
    /// Our decoded request.
    pub(super) message: ExportRequest,
    /// Its protobuf encoding, what both sides put on the wire.
    pub(super) protobuf: Bytes,
    /// How many spans it holds.
    pub(super) spans: u64,
}

/// `traces.pb` split in order into requests of [`SPANS_PER_REQUEST`] spans
/// (the last one shorter), as the dataset's README prescribes.
pub(super) fn requests(bench: &Bench) -> Result<Arc<Vec<Request>>, Error> {
    let full = ExportTraceServiceRequest::decode(bench.data.protobuf(Signal::Traces)?)
        .map_err(|e| format!("the traces dataset does not decode: {e}"))?;
    let requests: Vec<Request> = otlp_datagen::split_traces(&full, SPANS_PER_REQUEST)
        .into_iter()
        .map(|part| {
            let protobuf = Bytes::from(part.encode_to_vec());
            let message = ExportRequest::Traces(part);
            Request {
                spans: message.record_count() as u64,
                message,
                protobuf,
            }
        })
        .collect();
    if requests.is_empty() {
        return Err("the traces dataset holds no spans to send".into());
    }
    Ok(Arc::new(requests))
}

/// The coding's name in a figure: `none`, `gzip`, … (the dataset README's
/// names, where HTTP would say `identity`).
pub(super) fn coding(compression: Compression) -> String {
    match compression {
        Compression::None => "none".to_owned(),
        other => other.to_string(),
    }
}

/// A tokio runtime for client and server alike: they share the machine's
/// cores, as they would on one host.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the tokio runtime: {e}").into())
}

/// What one row measured, before it becomes a [`Figure`].
pub(super) struct Measured {
    latencies: Vec<Duration>,
    /// Spans exported in the measured phase.
    spans: u64,
    elapsed: Duration,
    /// Spans and requests exported in both phases: what the receiver must
    /// have counted.
    pub(super) sent: Sent,
}

/// What a row's clients sent, warm-up included.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sent {
    pub(super) requests: u64,
    pub(super) spans: u64,
    /// Protobuf bytes: what a receiver that does not decode can count.
    pub(super) bytes: u64,
}

impl Sent {
    fn add(&mut self, other: Sent) {
        self.requests += other.requests;
        self.spans += other.spans;
        self.bytes += other.bytes;
    }
}

/// Runs `concurrency` tasks, each calling `export(i)` for its share of the
/// request indices `i` one after another, for a warm-up and then `budget`.
/// `export` returns once the receiver has answered, with what it sent.
pub(super) async fn measure<F, Fut>(
    concurrency: usize,
    budget: Duration,
    export: F,
) -> Result<Measured, Error>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Sent, Error>> + Send + 'static,
{
    let warmup = (budget / 5).max(Duration::from_millis(50));
    let (_, mut sent) = phase(concurrency, warmup, export.clone()).await?;
    let start = Instant::now();
    let (latencies, measured) = phase(concurrency, budget, export).await?;
    let elapsed = start.elapsed();
    sent.add(measured);
    Ok(Measured {
        latencies,
        spans: measured.spans,
        elapsed,
        sent,
    })
}

/// One phase of [`measure`]: the latencies and what was sent.
async fn phase<F, Fut>(
    concurrency: usize,
    duration: Duration,
    export: F,
) -> Result<(Vec<Duration>, Sent), Error>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Sent, Error>> + Send + 'static,
{
    let end = Instant::now() + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let export = export.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut sent = Sent::default();
                let mut i = task;
                loop {
                    let before = Instant::now();
                    sent.add(export(i).await?);
                    latencies.push(before.elapsed());
                    if Instant::now() >= end {
                        return Ok::<_, Error>((latencies, sent));
                    }
                    i += concurrency;
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut sent = Sent::default();
    let mut failed = None;
    // Every task is awaited, also after a failure, so that none outlives
    // the row and its server.
    for task in tasks {
        match task.await {
            Ok(Ok((l, s))) => {
                latencies.extend(l);
                sent.add(s);
            }
            Ok(Err(e)) => failed = failed.or(Some(e)),
            Err(e) => failed = failed.or(Some(format!("an export task failed: {e}").into())),
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok((latencies, sent)),
    }
}

impl Bench {
    /// Records a transport row as figure `name`, compared in the table with
    /// `baseline` (the figure of the baseline doing the same job).
    pub(super) fn push_transport(&mut self, name: String, baseline: String, measured: Measured) {
        let samples = Samples::new(measured.latencies);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let extra = vec![
            ("p50_ms", ms(samples.quantile(0.50))),
            ("p99_ms", ms(samples.quantile(0.99))),
        ];
        self.push(Figure {
            name,
            samples,
            throughput: measured.spans as f64 / measured.elapsed.as_secs_f64(),
            throughput_unit: "spans/s",
            extra,
            baseline: Some(baseline),
        });
    }
}

/// What a receiver counted: spans when it decodes, bytes when it takes
/// them as they came (a relay cannot count spans without decoding).
#[derive(Debug, Clone, Copy)]
pub(super) enum Received {
    Decoded { requests: u64, spans: u64 },
    Encoded { requests: u64, bytes: u64 },
}

/// Checks that the receiver of row `row` counted what its clients sent.
pub(super) fn check_received(row: &str, sent: Sent, received: Received) -> Result<(), Error> {
    let (requests, what, counted, expected) = match received {
        Received::Decoded { requests, spans } => (requests, "spans", spans, sent.spans),
        Received::Encoded { requests, bytes } => (requests, "bytes", bytes, sent.bytes),
    };
    if requests == sent.requests && counted == expected {
        Ok(())
    } else {
        Err(format!(
            "{row}: the receiver counted {requests} requests and {counted} {what}, the clients sent {} requests and {expected} {what}: the transport lost or duplicated data",
            sent.requests,
        )
        .into())
    }
}

/// Our server's sink: counts what it is given, decoded (as a collector that
/// processes telemetry) or as the bytes came (`relay`, as a relay that
/// forwards them).
pub(super) struct CountingSink {
    relay: bool,
    requests: AtomicU64,
    spans: AtomicU64,
    bytes: AtomicU64,
}

impl CountingSink {
    pub(super) fn new(relay: bool) -> Arc<Self> {
        Arc::new(Self {
            relay,
            requests: AtomicU64::new(0),
            spans: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// What the sink received, for [`check_received`].
    pub(super) fn received(&self) -> Received {
        let requests = self.requests.load(Ordering::Relaxed);
        if self.relay {
            Received::Encoded {
                requests,
                bytes: self.bytes.load(Ordering::Relaxed),
            }
        } else {
            Received::Decoded {
                requests,
                spans: self.spans.load(Ordering::Relaxed),
            }
        }
    }
}

#[async_trait::async_trait]
impl Sink for CountingSink {
    fn wants_encoded(&self, _signal: otlp_transport::Signal) -> bool {
        self.relay
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        match &payload {
            Payload::Request(request) => {
                self.spans
                    .fetch_add(request.record_count() as u64, Ordering::Relaxed);
            }
            Payload::Encoded(encoded) => {
                self.bytes
                    .fetch_add(encoded.body().len() as u64, Ordering::Relaxed);
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        // Dropping the decoded request is part of what a receiver pays.
        drop(payload);
        Ok(Outcome::Success)
    }
}

/// A baseline server's count of the requests and spans it decoded.
#[derive(Clone, Default)]
pub(super) struct BaselineCount(Arc<(AtomicU64, AtomicU64)>);

impl BaselineCount {
    pub(super) fn add(
        &self,
        request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    ) {
        let spans: usize = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.0.fetch_add(1, Ordering::Relaxed);
        self.0.1.fetch_add(spans as u64, Ordering::Relaxed);
    }

    pub(super) fn received(&self) -> Received {
        Received::Decoded {
            requests: self.0.0.load(Ordering::Relaxed),
            spans: self.0.1.load(Ordering::Relaxed),
        }
    }
}

impl Request {
    /// What sending this request adds to [`Sent`].
    pub(super) fn sent(&self) -> Sent {
        Sent {
            requests: 1,
            spans: self.spans,
            bytes: self.protobuf.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use otlp_codec::Codec;
    use otlp_compression::Compression;
    use otlp_transport::Encoded;

    use super::*;

    #[test]
    fn a_relay_sink_counts_requests_and_bytes_and_the_check_catches_a_loss() {
        let sink = CountingSink::new(true);
        let body = Bytes::from_static(b"0123456789");
        let encoded = Encoded::new(
            otlp_transport::Signal::Traces,
            Codec::Protobuf,
            Compression::None,
            body,
        );
        let runtime = runtime().expect("a runtime");
        for _ in 0..2 {
            let outcome = runtime
                .block_on(sink.export(Payload::Encoded(encoded.clone())))
                .expect("the sink accepts");
            assert_eq!(outcome, Outcome::Success);
        }
        let sent = Sent {
            requests: 2,
            spans: 1024,
            bytes: 20,
        };
        check_received("row", sent, sink.received()).expect("everything arrived");
        let three = Sent {
            requests: 3,
            spans: 1536,
            bytes: 30,
        };
        let error = check_received("row", three, sink.received()).expect_err("one is missing");
        assert!(
            error
                .to_string()
                .contains("counted 2 requests and 20 bytes"),
            "{error}"
        );
    }
}
