//! Encode and decode of the canonical dataset through every codec of
//! `otlp-codec`, with the baseline (`opentelemetry-proto`'s prost types and its
//! serde OTLP/JSON through serde_json) in the same run.
//!
//! ```text
//! OTLP_BENCH_DATA=../shared/bench/data cargo bench -p otlp-benches --bench codec
//! ```
//! Figures are named as in `../shared/bench/README.md`; throughput is in bytes
//! of each figure's own encoding. A decode figure includes dropping the decoded
//! message, as a receiver does for every request: measuring without the drop
//! rewards data models that defer work to it.

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector as baseline;
use otlp_benches::Signal;
use otlp_codec::{Codec, OtlpMessage};
use otlp_proto::collector::{logs, metrics, trace};

fn codecs(c: &mut Criterion) {
    for signal in Signal::ALL {
        match signal {
            Signal::Traces => bench::<
                trace::v1::ExportTraceServiceRequest,
                baseline::trace::v1::ExportTraceServiceRequest,
            >(c, signal),
            Signal::Metrics => bench::<
                metrics::v1::ExportMetricsServiceRequest,
                baseline::metrics::v1::ExportMetricsServiceRequest,
            >(c, signal),
            Signal::Logs => bench::<
                logs::v1::ExportLogsServiceRequest,
                baseline::logs::v1::ExportLogsServiceRequest,
            >(c, signal),
        }
    }
}

fn bench<M, B>(c: &mut Criterion, signal: Signal)
where
    M: OtlpMessage,
    B: prost::Message + Default + serde::Serialize + serde::de::DeserializeOwned,
{
    let name = signal.name();
    let pb = otlp_benches::protobuf(signal);
    let message: M = Codec::Protobuf
        .decode(pb.clone())
        .expect("the dataset decodes");
    // The dataset's JSON is what opentelemetry-proto writes; without it, ours.
    let json = otlp_benches::json(signal)
        .unwrap_or_else(|| Bytes::from(Codec::Json.encode_to_vec(&message).expect("encodes")));

    let mut group = c.benchmark_group(name);
    for codec in Codec::ALL {
        let prefix = match codec {
            Codec::Protobuf => "proto",
            Codec::Json => "json",
            Codec::MessagePack => "msgpack",
            Codec::Cbor => "cbor",
            _ => continue,
        };
        let body = match codec {
            Codec::Protobuf => pb.clone(),
            Codec::Json => json.clone(),
            _ => Bytes::from(codec.encode_to_vec(&message).expect("encodes")),
        };
        let encoded_len = codec.encode_to_vec(&message).expect("encodes").len();
        eprintln!("{prefix}.{name}: {encoded_len} bytes encoded");

        group.throughput(Throughput::Bytes(encoded_len as u64));
        let mut buf = Vec::with_capacity(encoded_len);
        group.bench_function(format!("{prefix}.encode.{name}"), |b| {
            b.iter(|| {
                buf.clear();
                codec.encode(&message, &mut buf).expect("encodes");
            })
        });
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{prefix}.decode.{name}"), |b| {
            b.iter(|| codec.decode::<M>(body.clone()).expect("decodes"))
        });
    }

    // The relay's path: framing checked and records counted, nothing built.
    let scanned = match signal {
        Signal::Traces => otlp_codec::scan::Signal::Traces,
        Signal::Metrics => otlp_codec::scan::Signal::Metrics,
        Signal::Logs => otlp_codec::scan::Signal::Logs,
    };
    group.throughput(Throughput::Bytes(pb.len() as u64));
    group.bench_function(format!("proto.scan.{name}"), |b| {
        b.iter(|| otlp_codec::scan::scan(scanned, &pb).expect("scans"))
    });

    let reference = B::decode(pb.clone()).expect("the baseline decodes the dataset");
    group.throughput(Throughput::Bytes(pb.len() as u64));
    let mut buf = Vec::with_capacity(pb.len());
    group.bench_function(format!("baseline.proto.encode.{name}"), |b| {
        b.iter(|| {
            buf.clear();
            reference.encode(&mut buf).expect("a Vec grows");
        })
    });
    group.bench_function(format!("baseline.proto.decode.{name}"), |b| {
        b.iter(|| B::decode(pb.clone()).expect("decodes"))
    });
    let baseline_json = serde_json::to_vec(&reference).expect("the baseline encodes");
    group.throughput(Throughput::Bytes(baseline_json.len() as u64));
    let mut buf = Vec::with_capacity(baseline_json.len());
    group.bench_function(format!("baseline.json.encode.{name}"), |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, &reference).expect("encodes");
        })
    });
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function(format!("baseline.json.decode.{name}"), |b| {
        b.iter(|| serde_json::from_slice::<B>(&json).expect("decodes"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = codecs
}
criterion_main!(benches);
