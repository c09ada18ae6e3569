//! One decode or encode of a dataset request, ours or the baseline's, for
//! counting instructions with callgrind: a deterministic before/after figure
//! where wall-clock benchmarks on a shared machine scatter by ±10–30 %.
//!
//! ```sh
//! cargo build --release -p otlp-benches --example codec_instructions
//! bin=$CARGO_TARGET_DIR/release/examples/codec_instructions
//! count() { OTLP_BENCH_DATA=../shared/bench/data valgrind --tool=callgrind \
//!   --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 | grep -o 'Collected : [0-9]*'; }
//! count traces proto setup; count traces proto decode; count traces proto baseline-decode
//! ```
//!
//! Subtract the `setup` count (reading the dataset, decoding it once) from the
//! others. JSON decode figures, ours and the baseline's, read the dataset's
//! `.json` (as the criterion bench does) when `OTLP_BENCH_DATA` is set. Arguments: `traces|metrics|logs`, `proto|json|msgpack|cbor`,
//! `setup|decode|encode|baseline-decode|baseline-encode` (the baseline, for
//! `proto` and `json` only, is `opentelemetry-proto` with prost or serde_json).

use bytes::Bytes;
use opentelemetry_proto::tonic::collector as baseline;
use otlp_benches::Signal;
use otlp_codec::{Codec, OtlpMessage};
use otlp_proto::collector::{logs, metrics, trace};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [signal, codec, op] = [0, 1, 2].map(|i| args.get(i).map(String::as_str).unwrap_or(""));
    let signal = match signal {
        "traces" => Signal::Traces,
        "metrics" => Signal::Metrics,
        "logs" => Signal::Logs,
        _ => usage(),
    };
    let codec = match codec {
        "proto" => Codec::Protobuf,
        "json" => Codec::Json,
        "msgpack" => Codec::MessagePack,
        "cbor" => Codec::Cbor,
        _ => usage(),
    };
    match signal {
        Signal::Traces => run::<
            trace::v1::ExportTraceServiceRequest,
            baseline::trace::v1::ExportTraceServiceRequest,
        >(signal, codec, op),
        Signal::Metrics => run::<
            metrics::v1::ExportMetricsServiceRequest,
            baseline::metrics::v1::ExportMetricsServiceRequest,
        >(signal, codec, op),
        Signal::Logs => run::<
            logs::v1::ExportLogsServiceRequest,
            baseline::logs::v1::ExportLogsServiceRequest,
        >(signal, codec, op),
    }
}

fn usage() -> ! {
    panic!(
        "usage: codec_instructions traces|metrics|logs proto|json|msgpack|cbor \
         setup|decode|encode|baseline-decode|baseline-encode"
    )
}

fn run<M, B>(signal: Signal, codec: Codec, op: &str)
where
    M: OtlpMessage,
    B: prost::Message + Default + serde::Serialize + serde::de::DeserializeOwned,
{
    let pb = otlp_benches::protobuf(signal);
    let message: M = Codec::Protobuf
        .decode(pb.clone())
        .expect("the dataset decodes");
    let reference = B::decode(pb.clone()).expect("the baseline decodes the dataset");
    // As in the criterion bench, both sides decode the dataset's own JSON
    // (what opentelemetry-proto writes) when there is one.
    let dataset_json = match codec {
        Codec::Json => otlp_benches::json(signal),
        _ => None,
    };
    let body = dataset_json
        .clone()
        .unwrap_or_else(|| Bytes::from(codec.encode_to_vec(&message).expect("encodes")));
    let baseline_json = match (codec, dataset_json) {
        (Codec::Json, Some(json)) => json.to_vec(),
        (Codec::Json, None) => serde_json::to_vec(&reference).expect("the baseline encodes"),
        _ => Vec::new(),
    };
    let mut buf = Vec::with_capacity(body.len() * 2);
    match (op, codec) {
        ("setup", _) => {}
        ("decode", _) => drop(std::hint::black_box(
            codec.decode::<M>(body).expect("decodes"),
        )),
        ("encode", _) => codec.encode(&message, &mut buf).expect("encodes"),
        ("baseline-decode", Codec::Protobuf) => {
            drop(std::hint::black_box(B::decode(body).expect("decodes")))
        }
        ("baseline-encode", Codec::Protobuf) => reference.encode(&mut buf).expect("a Vec grows"),
        ("baseline-decode", Codec::Json) => drop(std::hint::black_box(
            serde_json::from_slice::<B>(&baseline_json).expect("decodes"),
        )),
        ("baseline-encode", Codec::Json) => {
            serde_json::to_writer(&mut buf, &reference).expect("encodes")
        }
        _ => usage(),
    }
    std::hint::black_box((buf, message, reference));
}
