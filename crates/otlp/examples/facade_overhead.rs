//! What the facade's machinery costs over the encoding it cannot avoid:
//!
//! - `batched`: 4,000 requests of 50 spans through a `BatchProcessor` (merge,
//!   split into 512-span batches, protobuf encode, hand to a service that
//!   only counts), against `direct`: encoding the same requests one by one;
//! - `sink`: the same requests through a `JsonLinesSink` writing to
//!   `tokio::io::sink()`, against `json`: encoding them to OTLP/JSON one by one.
//!
//! Wall clock, every arm in one run (figures scatter on a busy machine; the
//! ratios hold better):
//! `cargo run --release -p otlp --example facade_overhead`
//!
//! Instruction counts, deterministic: run one arm (or `setup`, which only
//! generates the requests, to subtract) under callgrind:
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/facade_overhead batched`
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use otlp::BatchProcessor;
use otlp::codec::Codec;
use otlp::compression::{Compression, Encoder};
use otlp::sink::JsonLinesSink;
use otlp::transport::{Encoded, ExportError, ExportRequest, Outcome, Payload, Sink, WireFormat};

const REQUESTS: usize = 4_000;
const SPANS: usize = 50;
const RUNS: usize = 5;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let requests: Vec<ExportRequest> = (0..REQUESTS as u64)
        .map(|seed| {
            otlp_datagen::Generator::new(seed)
                .resources(1)
                .spans(SPANS)
                .traces()
                .into()
        })
        .collect();
    if let Some(arm) = std::env::args().nth(1) {
        match arm.as_str() {
            "setup" => drop(requests),
            "direct" => direct(requests),
            "batched" => batched(requests).await,
            "json" => json(requests),
            "sink" => sink(requests).await,
            other => panic!("unknown arm {other:?}: setup, direct, batched, json or sink"),
        }
        return;
    }
    let mut times: [Vec<Duration>; 4] = Default::default();
    for _ in 0..RUNS {
        times[0].push(timed(|| direct(requests.clone())));
        let start = Instant::now();
        batched(requests.clone()).await;
        times[1].push(start.elapsed());
        times[2].push(timed(|| json(requests.clone())));
        let start = Instant::now();
        sink(requests.clone()).await;
        times[3].push(start.elapsed());
    }
    let [direct, batched, json, sink] = times.map(median);
    let spans = (REQUESTS * SPANS) as f64;
    let row = |name: &str, ours: Duration, base: Duration, base_name: &str| {
        println!(
            "{name:<38} {:>8.1} ms {:>6.2} M spans/s, {:.2}x {base_name} ({:.1} ms)",
            ours.as_secs_f64() * 1e3,
            spans / ours.as_secs_f64() / 1e6,
            ours.as_secs_f64() / base.as_secs_f64(),
            base.as_secs_f64() * 1e3,
        );
    };
    println!(
        "{REQUESTS} requests x {SPANS} spans, median of {RUNS} runs (clones included in both arms)"
    );
    row(
        "BatchProcessor (merge, split, encode)",
        batched,
        direct,
        "protobuf encode per request",
    );
    row(
        "JsonLinesSink (encode, queue, write)",
        sink,
        json,
        "OTLP/JSON encode per request",
    );
}

fn wire() -> WireFormat {
    WireFormat::new(Codec::Protobuf, Encoder::new(Compression::None))
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn direct(requests: Vec<ExportRequest>) {
    let mut bytes = 0;
    for request in requests {
        bytes += wire().encode(Payload::from(request)).unwrap().body().len();
    }
    assert!(bytes > 0);
}

async fn batched(requests: Vec<ExportRequest>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let client = tower::service_fn(move |encoded: Encoded| {
        counter.fetch_add(encoded.body().len(), Ordering::Relaxed);
        async { Ok::<_, ExportError>(Outcome::Success) }
    });
    let processor = BatchProcessor::builder()
        .max_queue_size(REQUESTS * SPANS)
        .build(client, wire())
        .unwrap();
    for request in requests {
        processor.submit(request).unwrap();
    }
    processor.shutdown().await.unwrap();
    assert_eq!(
        processor.stats().exported_records as usize,
        REQUESTS * SPANS
    );
    assert!(seen.load(Ordering::Relaxed) > 0);
}

fn json(requests: Vec<ExportRequest>) {
    let mut buf = Vec::new();
    for request in requests {
        buf.clear();
        request.encode(Codec::Json, &mut buf).unwrap();
    }
}

async fn sink(requests: Vec<ExportRequest>) {
    let sink = JsonLinesSink::builder().build(tokio::io::sink()).unwrap();
    for request in requests {
        sink.export(Payload::from(request)).await.unwrap();
    }
    let summary = sink.finish().await.unwrap();
    assert_eq!(summary.requests() as usize, REQUESTS);
}
