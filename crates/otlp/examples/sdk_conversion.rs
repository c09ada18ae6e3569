//! What converting the OpenTelemetry SDK's spans to OTLP costs in
//! `otlp::sdk` against `opentelemetry-proto`'s `transform` (what
//! `opentelemetry-otlp` uses), on the same batches of 512 spans (each with
//! 8 attributes of every kind, an event and a link), in the same run,
//! interleaved; also the protobuf encoding of the result, each with its own
//! types.
//!
//! `cargo run --release -p otlp --features opentelemetry-sdk --example sdk_conversion`
//!
//! Wall clock: figures scatter on a busy machine; the ratios hold better.
//!
//! Instruction counts, deterministic: run one arm (`ours`, `theirs`, or
//! `setup`, which only builds the batch, to subtract) under callgrind:
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/sdk_conversion ours`
//! (each arm converts 20 batches).
use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use otlp::proto::Message;

const SPANS: usize = 512;
const ROUNDS: u32 = 200;
const RUNS: usize = 5;

fn span(index: usize, scope: &InstrumentationScope) -> SpanData {
    let mut events = SpanEvents::default();
    events.events.push(Event::new(
        "retry",
        UNIX_EPOCH + Duration::from_nanos(1_500),
        vec![KeyValue::new("attempt", 2_i64)],
        0,
    ));
    let mut links = SpanLinks::default();
    links.links.push(Link::new(
        SpanContext::new(
            TraceId::from(77_u128),
            SpanId::from(88_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ),
        vec![KeyValue::new("link.kind", "follows")],
        0,
    ));
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(index as u128 + 1),
            SpanId::from(index as u64 + 1),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from(index as u64 + 1000),
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: Cow::Owned(format!("GET /api/items/{index}")),
        start_time: UNIX_EPOCH + Duration::from_nanos(1_000),
        end_time: UNIX_EPOCH + Duration::from_nanos(2_000),
        attributes: vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("url.path", format!("/api/items/{index}")),
            KeyValue::new("server.address", "shop.example.com"),
            KeyValue::new("cache.hit", true),
            KeyValue::new("duration.ratio", 0.75),
            KeyValue::new(
                "tags",
                Value::Array(Array::String(vec!["a".into(), "b".into()])),
            ),
            KeyValue::new("retries", Value::Array(Array::I64(vec![1, 2]))),
        ],
        dropped_attributes_count: 0,
        events,
        links,
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

fn main() {
    let resource = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "shop"),
            KeyValue::new("host.name", "node-1"),
        ])
        .build();
    let scope = InstrumentationScope::builder("shop.http")
        .with_version("1.0.0")
        .build();
    let batch: Vec<SpanData> = (0..SPANS).map(|i| span(i, &scope)).collect();
    let theirs_resource = ResourceAttributesWithSchema::from(&resource);
    let ours_request = otlp::sdk::traces_request(batch.clone(), &resource);
    let theirs_request =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch.clone(), &theirs_resource),
        };
    // One arm alone, for instruction counts.
    if let Some(arm) = std::env::args().nth(1) {
        for _ in 0..20 {
            let input = batch.clone();
            match arm.as_str() {
                "ours" => drop(black_box(otlp::sdk::traces_request(input, &resource))),
                "theirs" => drop(black_box(group_spans_by_resource_and_scope(
                    input,
                    &theirs_resource,
                ))),
                "setup" => drop(black_box(input)),
                other => panic!("unknown arm {other:?}: ours, theirs or setup"),
            }
        }
        return;
    }
    println!("{SPANS} spans per batch, mean of {ROUNDS} batches per run");
    for run in 0..RUNS {
        let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..ROUNDS {
            // The SDK hands batches over by value: the clone is not timed.
            let input = batch.clone();
            let start = Instant::now();
            black_box(otlp::sdk::traces_request(input, &resource));
            ours += start.elapsed();
            let input = batch.clone();
            let start = Instant::now();
            black_box(group_spans_by_resource_and_scope(input, &theirs_resource));
            theirs += start.elapsed();
        }
        let (mut ours_encode, mut theirs_encode) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            black_box(ours_request.encode_to_vec());
            ours_encode += start.elapsed();
            let start = Instant::now();
            black_box(theirs_request.encode_to_vec());
            theirs_encode += start.elapsed();
        }
        println!(
            "run {run}: convert otlp::sdk {:>9.1?}  opentelemetry-proto {:>9.1?}  ratio {:.2} | encode {:>9.1?} vs {:>9.1?}  ratio {:.2}",
            ours / ROUNDS,
            theirs / ROUNDS,
            ours.as_secs_f64() / theirs.as_secs_f64(),
            ours_encode / ROUNDS,
            theirs_encode / ROUNDS,
            ours_encode.as_secs_f64() / theirs_encode.as_secs_f64(),
        );
    }
}
