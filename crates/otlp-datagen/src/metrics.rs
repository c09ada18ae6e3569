//! Metrics: 50 metrics per scope of five types, 10 points each.

use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::common::v1::KeyValue;
use otlp_proto::metrics::v1::exponential_histogram_data_point::Buckets;
use otlp_proto::metrics::v1::summary_data_point::ValueAtQuantile;
use otlp_proto::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, metric, number_data_point,
};

use crate::common::{ROUTES, Rng, SCHEMA_URL, int, resource, round, scope, service, share, string};
use crate::{BASE_TIME_UNIX_NANO, Generator};

/// Data points per metric.
pub(crate) const POINTS: usize = 10;
const SECOND: u64 = 1_000_000_000;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

/// The 50 metrics of a scope, in order: 20 sums, 15 gauges, 10 histograms,
/// 3 exponential histograms, 2 summaries.
const METRICS: [(&str, &str); 50] = [
    ("http.server.request.count", "{request}"),
    ("http.client.request.count", "{request}"),
    ("rpc.server.requests", "{request}"),
    ("rpc.client.requests", "{request}"),
    ("db.client.operation.count", "{operation}"),
    ("messaging.client.sent.messages", "{message}"),
    ("messaging.client.consumed.messages", "{message}"),
    ("process.cpu.time", "s"),
    ("system.cpu.time", "s"),
    ("system.network.io", "By"),
    ("system.disk.io", "By"),
    ("system.network.packets", "{packet}"),
    ("system.network.errors", "{error}"),
    ("process.disk.io", "By"),
    ("process.network.io", "By"),
    ("runtime.gc.count", "{collection}"),
    ("runtime.alloc.bytes", "By"),
    ("orders.placed", "{order}"),
    ("cache.hits", "{hit}"),
    ("cache.misses", "{miss}"),
    ("system.memory.usage", "By"),
    ("system.memory.utilization", "1"),
    ("system.cpu.utilization", "1"),
    ("process.memory.usage", "By"),
    ("process.thread.count", "{thread}"),
    ("process.open_file_descriptor.count", "{file_descriptor}"),
    ("system.filesystem.usage", "By"),
    ("system.filesystem.utilization", "1"),
    ("http.server.active_requests", "{request}"),
    ("db.client.connection.count", "{connection}"),
    ("db.client.connection.idle", "{connection}"),
    ("runtime.heap.size", "By"),
    ("runtime.goroutines", "{goroutine}"),
    ("queue.depth", "{item}"),
    ("system.cpu.load_average.1m", "1"),
    ("http.server.request.duration", "s"),
    ("http.client.request.duration", "s"),
    ("http.server.request.body.size", "By"),
    ("http.server.response.body.size", "By"),
    ("rpc.server.duration", "ms"),
    ("rpc.client.duration", "ms"),
    ("db.client.operation.duration", "s"),
    ("messaging.process.duration", "s"),
    ("messaging.client.operation.duration", "s"),
    ("checkout.duration", "s"),
    ("request.latency", "s"),
    ("payload.size", "By"),
    ("task.duration", "s"),
    ("gc.pause", "s"),
    ("rpc.latency", "ms"),
];

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const STATUS: [i64; 5] = [200, 200, 201, 404, 500];
const DEVICES: [&str; 4] = ["eth0", "eth1", "sda", "nvme0n1"];
const MODES: [&str; 4] = ["user", "system", "idle", "iowait"];

fn attributes(base: &str, svc: &str, metric: usize, point: usize) -> Vec<KeyValue> {
    let n = 3 + metric % 3;
    let system = ["system.", "process.", "runtime."]
        .iter()
        .any(|p| base.starts_with(p));
    let all = if system {
        [
            string("system.device", DEVICES[point % DEVICES.len()]),
            int("cpu.logical_number", point as i64),
            string("cpu.mode", MODES[(point / 2) % MODES.len()]),
            string("network.io.direction", ["transmit", "receive"][point % 2]),
            string("host.arch", ["amd64", "arm64"][point / 5 % 2]),
        ]
    } else {
        [
            string("http.request.method", METHODS[point % METHODS.len()]),
            string("http.route", ROUTES[point % ROUTES.len()]),
            int("http.response.status_code", STATUS[point % STATUS.len()]),
            string("network.protocol.version", ["1.1", "2"][point / 5 % 2]),
            string("server.address", format!("{svc}.shop.svc.cluster.local")),
        ]
    };
    all.into_iter().take(n).collect()
}

fn bounds(unit: &str) -> Vec<f64> {
    match unit {
        "ms" => vec![
            5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0,
        ],
        "By" => vec![
            100.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0, 100000.0, 500000.0, 1e6, 5e6,
        ],
        _ => vec![0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0],
    }
}

fn number(rng: &mut Rng, unit: &str, sum: bool) -> number_data_point::Value {
    use number_data_point::Value::{AsDouble, AsInt};
    match (unit, sum) {
        ("1", _) => AsDouble(rng.float(0.0, 1.0, 3)),
        ("s", true) => AsDouble(rng.float(0.0, 1e6, 3)),
        ("s", false) => AsDouble(rng.float(0.0, 100.0, 3)),
        ("By", _) => AsInt(rng.range(1_000_000, 10_000_000_000) as i64),
        (_, true) => AsInt(rng.range(1_000, 1_000_000_000) as i64),
        (_, false) => AsInt(rng.range(0, 1_000) as i64),
    }
}

fn metric(rng: &mut Rng, index: usize, prefix: &str, svc: &str, points: usize) -> Metric {
    let (base, unit) = METRICS[index % METRICS.len()];
    let start = BASE_TIME_UNIX_NANO - 3600 * SECOND;
    let time = BASE_TIME_UNIX_NANO + 60 * SECOND;
    let kind = index % METRICS.len();
    let attrs = |p: usize| attributes(base, svc, index, p);
    let number_point = |rng: &mut Rng, p: usize, sum: bool| NumberDataPoint {
        attributes: attrs(p),
        start_time_unix_nano: if sum { start } else { 0 },
        time_unix_nano: time,
        value: Some(number(rng, unit, sum)),
        ..Default::default()
    };
    let data = match kind {
        0..20 => metric::Data::Sum(Sum {
            data_points: (0..points).map(|p| number_point(rng, p, true)).collect(),
            aggregation_temporality: CUMULATIVE,
            is_monotonic: true,
        }),
        20..35 => metric::Data::Gauge(Gauge {
            data_points: (0..points).map(|p| number_point(rng, p, false)).collect(),
        }),
        35..45 => {
            let bounds = bounds(unit);
            metric::Data::Histogram(Histogram {
                data_points: (0..points)
                    .map(|p| {
                        let bucket_counts: Vec<u64> =
                            (0..=bounds.len()).map(|_| rng.range(0, 4000)).collect();
                        let count: u64 = bucket_counts.iter().sum();
                        let (lo, hi) = (bounds[0] / 10.0, bounds[bounds.len() - 1] * 2.0);
                        let mean = bounds[0] + rng.unit() * (bounds[5] - bounds[0]);
                        HistogramDataPoint {
                            attributes: attrs(p),
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                            count,
                            sum: Some(round(count as f64 * mean, 3)),
                            bucket_counts,
                            explicit_bounds: bounds.clone(),
                            min: Some(round(lo, 4)),
                            max: Some(hi),
                            ..Default::default()
                        }
                    })
                    .collect(),
                aggregation_temporality: CUMULATIVE,
            })
        }
        45..48 => metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: (0..points)
                .map(|p| {
                    let n = rng.range(20, 40);
                    let bucket_counts: Vec<u64> = (0..n).map(|_| rng.range(0, 800)).collect();
                    let zero_count = rng.range(0, 10);
                    let count = bucket_counts.iter().sum::<u64>() + zero_count;
                    let offset = -(rng.range(20, 60) as i32);
                    let base = 2f64.powf(1.0 / 8.0);
                    let min = base.powi(offset);
                    let max = base.powi(offset + n as i32);
                    ExponentialHistogramDataPoint {
                        attributes: attrs(p),
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        count,
                        sum: Some(round(count as f64 * (min + max) / 2.0, 3)),
                        scale: 3,
                        zero_count,
                        positive: Some(Buckets {
                            offset,
                            bucket_counts,
                        }),
                        min: Some(round(min, 6)),
                        max: Some(round(max, 6)),
                        ..Default::default()
                    }
                })
                .collect(),
            aggregation_temporality: CUMULATIVE,
        }),
        _ => metric::Data::Summary(Summary {
            data_points: (0..points)
                .map(|p| {
                    let count = rng.range(1_000, 100_000);
                    let median = rng.float(0.01, 0.1, 4);
                    let quantile_values = [
                        (0.0, median / rng.range(2, 5) as f64),
                        (0.5, median),
                        (0.9, median * (2.0 + rng.unit())),
                        (0.99, median * (10.0 + 10.0 * rng.unit())),
                        (1.0, median * (50.0 + 50.0 * rng.unit())),
                    ]
                    .into_iter()
                    .map(|(quantile, value)| ValueAtQuantile {
                        quantile,
                        value: round(value, 4),
                    })
                    .collect();
                    SummaryDataPoint {
                        attributes: attrs(p),
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        count,
                        sum: round(count as f64 * median * 0.3, 2),
                        quantile_values,
                        ..Default::default()
                    }
                })
                .collect(),
        }),
    };
    Metric {
        name: format!("{prefix}{base}").into(),
        description: format!("Measures {}", base.replace(['.', '_'], " ")).into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

pub(crate) fn generate(config: &Generator) -> ExportMetricsServiceRequest {
    let mut rng = Rng::new(config.seed.wrapping_add(1));
    let scopes = config.resources * 2;
    let resource_metrics = (0..config.resources)
        .map(|r| {
            let resource = resource(&mut rng, r);
            let svc = service(r);
            let scope_metrics = (0..2)
                .map(|s| {
                    let mut left = share(config.records, scopes, r * 2 + s);
                    let prefix = if s == 0 { "" } else { "app." };
                    let mut metrics = Vec::with_capacity(left.div_ceil(POINTS));
                    let mut index = 0;
                    while left > 0 {
                        let points = left.min(POINTS);
                        metrics.push(metric(&mut rng, index, prefix, &svc, points));
                        index += 1;
                        left -= points;
                    }
                    let scope = if s == 0 {
                        scope("io.opentelemetry.instrumentation.runtime", "2.9.0")
                    } else {
                        scope(format!("shop.{svc}"), "1.0.0")
                    };
                    ScopeMetrics {
                        scope: Some(scope),
                        metrics,
                        schema_url: SCHEMA_URL.into(),
                    }
                })
                .collect();
            ResourceMetrics {
                resource: Some(resource),
                scope_metrics,
                schema_url: SCHEMA_URL.into(),
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}
