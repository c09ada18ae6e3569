//! Compares the generated requests with the dataset files named by
//! `OTLP_BENCH_DATA`: sizes, counts and string lengths, side by side.
//!
//! ```text
//! OTLP_BENCH_DATA=shared/bench/data cargo run --release -p otlp-datagen --example compare
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use otlp_datagen::Signal;
use otlp_proto::Message;
use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_proto::common::v1::any_value::Value;
use otlp_proto::metrics::v1::metric::Data;

type Stats = BTreeMap<String, f64>;

fn add(stats: &mut Stats, key: impl Into<String>, n: f64) {
    *stats.entry(key.into()).or_default() += n;
}

fn trace_stats(r: &ExportTraceServiceRequest) -> Stats {
    let mut s = Stats::new();
    for rs in &r.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                add(&mut s, "spans", 1.0);
                add(&mut s, format!("kind {}", span.kind), 1.0);
                add(
                    &mut s,
                    "roots",
                    f64::from(u8::from(span.parent_span_id.is_empty())),
                );
                add(
                    &mut s,
                    "with events",
                    f64::from(u8::from(!span.events.is_empty())),
                );
                add(&mut s, "events", span.events.len() as f64);
                add(
                    &mut s,
                    "with links",
                    f64::from(u8::from(!span.links.is_empty())),
                );
                add(
                    &mut s,
                    "with traceState",
                    f64::from(u8::from(!span.trace_state.is_empty())),
                );
                let code = span.status.as_ref().map_or(-1, |s| s.code);
                add(&mut s, format!("status {code}"), 1.0);
                add(&mut s, "name bytes", span.name.len() as f64);
                for kv in &span.attributes {
                    add(&mut s, "attributes", 1.0);
                    if let Some(Value::StringValue(v)) =
                        kv.value.as_ref().and_then(|v| v.value.as_ref())
                    {
                        add(&mut s, "string attr bytes", v.len() as f64);
                    }
                }
            }
        }
    }
    s
}

fn metric_stats(r: &ExportMetricsServiceRequest) -> Stats {
    let mut s = Stats::new();
    for rm in &r.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                add(&mut s, "metrics", 1.0);
                let (kind, n, attrs) = match m.data.as_ref().unwrap() {
                    Data::Sum(d) => (
                        "sum",
                        d.data_points.len(),
                        d.data_points
                            .iter()
                            .map(|p| p.attributes.len())
                            .sum::<usize>(),
                    ),
                    Data::Gauge(d) => (
                        "gauge",
                        d.data_points.len(),
                        d.data_points.iter().map(|p| p.attributes.len()).sum(),
                    ),
                    Data::Histogram(d) => (
                        "histogram",
                        d.data_points.len(),
                        d.data_points.iter().map(|p| p.attributes.len()).sum(),
                    ),
                    Data::ExponentialHistogram(d) => (
                        "exp histogram",
                        d.data_points.len(),
                        d.data_points.iter().map(|p| p.attributes.len()).sum(),
                    ),
                    Data::Summary(d) => (
                        "summary",
                        d.data_points.len(),
                        d.data_points.iter().map(|p| p.attributes.len()).sum(),
                    ),
                };
                add(&mut s, "data points", n as f64);
                add(&mut s, format!("{kind} metrics"), 1.0);
                add(&mut s, "point attributes", attrs as f64);
            }
        }
    }
    s
}

fn log_stats(r: &ExportLogsServiceRequest) -> Stats {
    let mut s = Stats::new();
    for rl in &r.resource_logs {
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                add(&mut s, "records", 1.0);
                add(&mut s, format!("severity {}", rec.severity_text), 1.0);
                add(
                    &mut s,
                    "with trace",
                    f64::from(u8::from(!rec.trace_id.is_empty())),
                );
                add(&mut s, "attributes", rec.attributes.len() as f64);
                if let Some(Value::StringValue(b)) =
                    rec.body.as_ref().and_then(|b| b.value.as_ref())
                {
                    add(&mut s, "body bytes", b.len() as f64);
                }
            }
        }
    }
    s
}

fn print(signal: Signal, generated: &[u8], reference: Option<&[u8]>, stats: fn(&[u8]) -> Stats) {
    let g = stats(generated);
    let r = reference.map(stats).unwrap_or_default();
    println!("\n== {signal}");
    match reference {
        Some(file) => println!(
            "{:<24} {:>12} {:>12} {:>+8.1}%",
            "encoded bytes",
            generated.len(),
            file.len(),
            (generated.len() as f64 / file.len() as f64 - 1.0) * 100.0
        ),
        None => println!("{:<24} {:>12}", "encoded bytes", generated.len()),
    }
    let keys: std::collections::BTreeSet<_> = g.keys().chain(r.keys()).collect();
    for key in keys {
        let a = g.get(key).copied().unwrap_or(0.0);
        match r.get(key) {
            Some(b) => println!("{key:<24} {a:>12} {b:>12}"),
            None => println!("{key:<24} {a:>12}"),
        }
    }
}

fn main() {
    let start = Instant::now();
    let traces = otlp_datagen::traces();
    let t_traces = start.elapsed();
    let start = Instant::now();
    let metrics = otlp_datagen::metrics();
    let t_metrics = start.elapsed();
    let start = Instant::now();
    let logs = otlp_datagen::logs();
    let t_logs = start.elapsed();
    println!("generation: traces {t_traces:?}, metrics {t_metrics:?}, logs {t_logs:?}");
    println!(
        "columns: generated, reference file ({} = {:?})",
        otlp_datagen::ENV_VAR,
        std::env::var_os(otlp_datagen::ENV_VAR)
    );

    let file = |s| otlp_datagen::load(s).expect("read dataset file");
    print(
        Signal::Traces,
        &traces.encode_to_vec(),
        file(Signal::Traces).as_deref(),
        |b| trace_stats(&ExportTraceServiceRequest::decode(b).unwrap()),
    );
    print(
        Signal::Metrics,
        &metrics.encode_to_vec(),
        file(Signal::Metrics).as_deref(),
        |b| metric_stats(&ExportMetricsServiceRequest::decode(b).unwrap()),
    );
    print(
        Signal::Logs,
        &logs.encode_to_vec(),
        file(Signal::Logs).as_deref(),
        |b| log_stats(&ExportLogsServiceRequest::decode(b).unwrap()),
    );
}
