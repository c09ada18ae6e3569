//! `otlp bench codec`: encode and decode of each signal's 10,000-record request
//! through every codec, beside `opentelemetry-proto`'s prost types and its
//! serde OTLP/JSON through serde_json.
//!
//! A decode figure includes dropping the decoded message, as a receiver pays
//! it for every request.

use std::hint::black_box;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector as baseline;
use otlp_codec::{Codec, OtlpMessage};
use otlp_datagen::Signal;
use otlp_proto::collector::{logs, metrics, trace};

use super::Bench;
use crate::Error;

pub(super) fn run(bench: &mut Bench) -> Result<(), Error> {
    for signal in Signal::ALL {
        let from = bench.figures.len();
        match signal {
            Signal::Traces => signal_figures::<
                trace::v1::ExportTraceServiceRequest,
                baseline::trace::v1::ExportTraceServiceRequest,
            >(bench, signal)?,
            Signal::Metrics => signal_figures::<
                metrics::v1::ExportMetricsServiceRequest,
                baseline::metrics::v1::ExportMetricsServiceRequest,
            >(bench, signal)?,
            Signal::Logs => signal_figures::<
                logs::v1::ExportLogsServiceRequest,
                baseline::logs::v1::ExportLogsServiceRequest,
            >(bench, signal)?,
        }
        bench.emit_since(from);
    }
    Ok(())
}

fn prefix(codec: Codec) -> &'static str {
    match codec {
        Codec::Protobuf => "proto",
        Codec::Json => "json",
        Codec::MessagePack => "msgpack",
        _ => "cbor",
    }
}

fn signal_figures<M, B>(bench: &mut Bench, signal: Signal) -> Result<(), Error>
where
    M: OtlpMessage,
    B: prost::Message + Default + serde::Serialize + serde::de::DeserializeOwned,
{
    let name = signal.name();
    let pb = bench.data.protobuf(signal)?;
    let message: M = Codec::Protobuf
        .decode(pb.clone())
        .map_err(|e| format!("the {name} dataset does not decode: {e}"))?;
    // Both sides decode the same JSON document: the dataset's (what
    // opentelemetry-proto writes) when there is one, ours otherwise.
    let json = match bench.data.json(signal)? {
        Some(json) => json,
        None => Bytes::from(Codec::Json.encode_to_vec(&message)?),
    };

    for codec in Codec::ALL {
        let prefix = prefix(codec);
        let body = match codec {
            Codec::Protobuf => pb.clone(),
            Codec::Json => json.clone(),
            _ => Bytes::from(codec.encode_to_vec(&message)?),
        };
        let encoded_len = codec.encode_to_vec(&message)?.len();
        let mut buf = Vec::with_capacity(encoded_len);
        bench.measure_bytes(format!("{prefix}.encode.{name}"), encoded_len, || {
            buf.clear();
            codec
                .encode(black_box(&message), &mut buf)
                .expect("encoded once already");
        });
        let mut failed = None;
        bench.measure_bytes(format!("{prefix}.decode.{name}"), body.len(), || {
            if let Err(e) = codec.decode::<M>(black_box(body.clone())) {
                failed = Some(e);
            }
        });
        if let Some(e) = failed {
            return Err(format!("{prefix}.decode.{name}: {e}").into());
        }
    }

    let reference = B::decode(pb.clone())
        .map_err(|e| format!("the baseline cannot decode the {name} dataset: {e}"))?;
    let mut buf = Vec::with_capacity(pb.len());
    bench.measure_bytes(format!("baseline.proto.encode.{name}"), pb.len(), || {
        buf.clear();
        reference.encode(&mut buf).expect("a Vec grows");
    });
    bench.measure_bytes(format!("baseline.proto.decode.{name}"), pb.len(), || {
        black_box(B::decode(black_box(pb.clone())).expect("decoded once already"));
    });
    let baseline_json = serde_json::to_vec(&reference)?;
    let mut buf = Vec::with_capacity(baseline_json.len());
    bench.measure_bytes(
        format!("baseline.json.encode.{name}"),
        baseline_json.len(),
        || {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(&reference)).expect("encoded once already");
        },
    );
    let mut failed = None;
    bench.measure_bytes(format!("baseline.json.decode.{name}"), json.len(), || {
        if let Err(e) = serde_json::from_slice::<B>(black_box(&json)) {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(format!("the baseline cannot decode the {name} JSON: {e}").into());
    }
    Ok(())
}
