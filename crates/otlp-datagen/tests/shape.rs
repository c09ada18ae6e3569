//! The generated requests have the dataset's shape.

use std::collections::HashMap;
use std::time::Instant;

use otlp_datagen::{Generator, Signal, split_traces};
use otlp_proto::Message;
use otlp_proto::common::v1::any_value::Value;
use otlp_proto::metrics::v1::metric::Data;
use otlp_proto::trace::v1::Span;
use otlp_proto::trace::v1::span::SpanKind;

fn spans(request: &otlp_proto::collector::trace::v1::ExportTraceServiceRequest) -> Vec<&Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

#[test]
fn deterministic() {
    assert_eq!(otlp_datagen::traces(), otlp_datagen::traces());
    assert_eq!(otlp_datagen::metrics(), otlp_datagen::metrics());
    assert_eq!(otlp_datagen::logs(), otlp_datagen::logs());
    assert_ne!(Generator::new(1).traces(), Generator::new(2).traces());
}

#[test]
fn traces_shape() {
    let request = otlp_datagen::traces();
    assert_eq!(request.resource_spans.len(), 10);
    for rs in &request.resource_spans {
        assert_eq!(rs.resource.as_ref().unwrap().attributes.len(), 8);
        assert_eq!(rs.scope_spans.len(), 2);
        for ss in &rs.scope_spans {
            assert_eq!(ss.spans.len(), 500);
        }
    }
    let spans = spans(&request);
    assert_eq!(spans.len(), 10_000);
    let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
    assert_eq!(roots, 1_000);

    let mut kinds: HashMap<i32, usize> = HashMap::new();
    for s in &spans {
        *kinds.entry(s.kind).or_default() += 1;
    }
    let kind = |k: SpanKind| kinds.get(&(k as i32)).copied().unwrap_or(0);
    assert_eq!(kind(SpanKind::Server), 1_000);
    // 9,000 children: CLIENT 45 %, INTERNAL 40 %, PRODUCER 8 %, CONSUMER 7 %.
    assert!(
        (3_700..4_400).contains(&kind(SpanKind::Client)),
        "{kinds:?}"
    );
    assert!(
        (3_250..3_950).contains(&kind(SpanKind::Internal)),
        "{kinds:?}"
    );
    assert!((550..900).contains(&kind(SpanKind::Producer)), "{kinds:?}");
    assert!((480..800).contains(&kind(SpanKind::Consumer)), "{kinds:?}");

    for s in &spans {
        assert_eq!(s.attributes.len(), 10, "{}", s.name);
        let mut types = [0usize; 5];
        for kv in &s.attributes {
            match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(_)) => types[0] += 1,
                Some(Value::IntValue(_)) => types[1] += 1,
                Some(Value::DoubleValue(_)) => types[2] += 1,
                Some(Value::BoolValue(_)) => types[3] += 1,
                Some(Value::ArrayValue(a)) => {
                    assert!((1..=3).contains(&a.values.len()));
                    types[4] += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(types, [6, 1, 1, 1, 1], "{}", s.name);
        assert_eq!(s.trace_id.len(), 16);
        assert_eq!(s.span_id.len(), 8);
        assert_eq!(s.flags, 0x101);
        assert!(s.status.is_some());
        assert!(s.start_time_unix_nano < s.end_time_unix_nano);
        assert!(s.events.len() <= 2 && s.links.len() <= 1);
    }
    let with_events = spans.iter().filter(|s| !s.events.is_empty()).count();
    assert!((2_700..3_300).contains(&with_events), "{with_events}");
    let with_links = spans.iter().filter(|s| !s.links.is_empty()).count();
    assert!((850..1_150).contains(&with_links), "{with_links}");
    let errors = spans
        .iter()
        .filter(|s| s.status.as_ref().unwrap().code == 2)
        .count();
    assert!((480..780).contains(&errors), "{errors}");
    let with_state = spans.iter().filter(|s| !s.trace_state.is_empty()).count();
    assert!((1_600..2_400).contains(&with_state), "{with_state}");
}

#[test]
fn parents_in_trace_and_children_nested() {
    let request = otlp_datagen::traces();
    let spans = spans(&request);
    let by_id: HashMap<_, _> = spans.iter().map(|s| (s.span_id.clone(), *s)).collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");
    for (i, s) in spans.iter().enumerate() {
        if s.parent_span_id.is_empty() {
            assert_eq!(s.kind, SpanKind::Server as i32);
            assert_eq!(i % 10, 0);
            continue;
        }
        let parent = by_id[&s.parent_span_id];
        assert_eq!(parent.trace_id, s.trace_id);
        assert!(parent.start_time_unix_nano <= s.start_time_unix_nano);
        assert!(s.end_time_unix_nano <= parent.end_time_unix_nano);
        let position = spans
            .iter()
            .position(|p| p.span_id == parent.span_id)
            .unwrap();
        assert!(
            position < i && i - position < 10,
            "parent is an earlier span of the trace"
        );
    }
}

#[test]
fn split_into_batches() {
    let request = otlp_datagen::traces();
    let batches = split_traces(&request, 512);
    let sizes: Vec<usize> = batches.iter().map(|b| spans(b).len()).collect();
    assert_eq!(sizes.len(), 20);
    assert!(sizes[..19].iter().all(|&n| n == 512));
    assert_eq!(sizes[19], 272);
    let flat: Vec<&Span> = batches.iter().flat_map(spans).collect();
    assert_eq!(flat, spans(&request), "every span kept, in order");
    for batch in &batches {
        for rs in &batch.resource_spans {
            let original = request
                .resource_spans
                .iter()
                .find(|o| o.resource == rs.resource)
                .expect("resource repeated");
            for ss in &rs.scope_spans {
                assert!(!ss.spans.is_empty());
                let scope = original
                    .scope_spans
                    .iter()
                    .find(|o| o.scope == ss.scope)
                    .unwrap();
                assert!(ss.spans.iter().all(|s| scope.spans.contains(s)));
            }
        }
    }
    assert_eq!(split_traces(&request, 20_000).len(), 1);
}

#[test]
fn metrics_shape() {
    let request = otlp_datagen::metrics();
    assert_eq!(request.resource_metrics.len(), 10);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for rm in &request.resource_metrics {
        assert_eq!(rm.scope_metrics.len(), 2);
        for (s, sm) in rm.scope_metrics.iter().enumerate() {
            assert_eq!(sm.metrics.len(), 50);
            for (i, m) in sm.metrics.iter().enumerate() {
                assert_eq!(m.name.starts_with("app."), s == 1);
                let attrs = 3 + i % 3;
                let (kind, lens): (&str, Vec<usize>) = match m.data.as_ref().unwrap() {
                    Data::Sum(d) => (
                        "sum",
                        d.data_points.iter().map(|p| p.attributes.len()).collect(),
                    ),
                    Data::Gauge(d) => {
                        assert!(d.data_points.iter().all(|p| p.start_time_unix_nano == 0));
                        (
                            "gauge",
                            d.data_points.iter().map(|p| p.attributes.len()).collect(),
                        )
                    }
                    Data::Histogram(d) => {
                        for p in &d.data_points {
                            assert_eq!(p.explicit_bounds.len(), 10);
                            assert_eq!(p.bucket_counts.len(), 11);
                            assert_eq!(p.count, p.bucket_counts.iter().sum::<u64>());
                        }
                        (
                            "histogram",
                            d.data_points.iter().map(|p| p.attributes.len()).collect(),
                        )
                    }
                    Data::ExponentialHistogram(d) => {
                        for p in &d.data_points {
                            assert_eq!(p.scale, 3);
                            let n = p.positive.as_ref().unwrap().bucket_counts.len();
                            assert!((20..=40).contains(&n));
                            assert!(p.negative.is_none());
                        }
                        (
                            "exponential",
                            d.data_points.iter().map(|p| p.attributes.len()).collect(),
                        )
                    }
                    Data::Summary(d) => {
                        assert!(d.data_points.iter().all(|p| p.quantile_values.len() == 5));
                        (
                            "summary",
                            d.data_points.iter().map(|p| p.attributes.len()).collect(),
                        )
                    }
                };
                assert_eq!(lens, vec![attrs; 10], "{}", m.name);
                *counts.entry(kind).or_default() += lens.len();
            }
        }
    }
    let expected: HashMap<&str, usize> = [
        ("sum", 4_000),
        ("gauge", 3_000),
        ("histogram", 2_000),
        ("exponential", 600),
        ("summary", 400),
    ]
    .into();
    assert_eq!(counts, expected, "data points by type");
    // By metric: 400 / 300 / 200 / 60 / 40.
}

#[test]
fn logs_shape() {
    let request = otlp_datagen::logs();
    let records: Vec<_> = request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .collect();
    assert_eq!(records.len(), 10_000);
    let traced = records.iter().filter(|r| !r.trace_id.is_empty()).count();
    assert_eq!(traced, 5_000);
    let mut total = 0;
    for r in &records {
        assert_eq!(r.attributes.len(), 5);
        let Some(Value::StringValue(body)) = r.body.as_ref().and_then(|b| b.value.as_ref()) else {
            panic!("string body");
        };
        assert!((60..=200).contains(&body.len()), "{body}");
        total += body.len();
        assert!(r.observed_time_unix_nano > r.time_unix_nano);
        assert!(!r.severity_text.is_empty());
    }
    let mean = total / records.len();
    assert!((80..=120).contains(&mean), "mean body length {mean}");
    let info = records.iter().filter(|r| r.severity_text == "INFO").count();
    assert!((5_600..6_400).contains(&info), "{info}");
}

#[test]
fn other_sizes() {
    let g = Generator::new(9).resources(3).records(1_001);
    assert_eq!(spans(&g.traces()).len(), 1_001);
    let points: usize = g
        .metrics()
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match m.data.as_ref().unwrap() {
            Data::Sum(d) => d.data_points.len(),
            Data::Gauge(d) => d.data_points.len(),
            Data::Histogram(d) => d.data_points.len(),
            Data::ExponentialHistogram(d) => d.data_points.len(),
            Data::Summary(d) => d.data_points.len(),
        })
        .sum();
    assert_eq!(points, 1_001);
    let logs: usize = g
        .logs()
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    assert_eq!(logs, 1_001);
    assert_eq!(spans(&Generator::new(1).records(0).traces()).len(), 0);
}

#[test]
fn generation_time() {
    let start = Instant::now();
    let request = otlp_datagen::traces();
    let elapsed = start.elapsed();
    eprintln!("traces(): {elapsed:?}, {} bytes", request.encoded_len());
    // Debug builds are slow; the release figure is reported by the compare example.
    assert!(elapsed.as_secs() < 5);
}

#[test]
fn loader_without_env_generates() {
    // The variable is not set in the test environment unless the caller sets it.
    if std::env::var_os(otlp_datagen::ENV_VAR).is_some() {
        for signal in Signal::ALL {
            let bytes = otlp_datagen::load(signal).unwrap().unwrap();
            assert_eq!(bytes, otlp_datagen::protobuf(signal));
            assert!(!otlp_datagen::load_json(signal).unwrap().unwrap().is_empty());
        }
    } else {
        assert!(otlp_datagen::load(Signal::Traces).unwrap().is_none());
        let wire = otlp_datagen::protobuf(Signal::Traces);
        let decoded =
            otlp_proto::collector::trace::v1::ExportTraceServiceRequest::decode(wire).unwrap();
        assert_eq!(decoded, otlp_datagen::traces());
    }
    let missing = otlp_datagen::Dataset::new("/nonexistent-otlp-bench");
    assert!(missing.protobuf(Signal::Logs).is_err());
}
