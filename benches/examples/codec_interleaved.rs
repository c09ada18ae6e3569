//! Decode wall clock of protobuf, MessagePack and CBOR measured interleaved:
//! one decode of each in turn, many rounds, reporting each codec's fastest
//! and median time and the ratio to protobuf. On a shared machine a
//! criterion run measures each figure over its own few seconds, so a burst of
//! load on another core skews one figure against the next; interleaving
//! exposes every codec to the same load, and the fastest round is what the
//! code costs when nothing interrupts it.
//!
//! ```sh
//! cargo build --release -p otlp-benches --example codec_interleaved
//! OTLP_BENCH_DATA=/work/shared/bench/data \
//!   $CARGO_TARGET_DIR/release/examples/codec_interleaved metrics 200
//! ```
//!
//! Arguments: `traces|metrics|logs`, the number of rounds (default 100), and
//! `sequential` to run each codec's rounds back to back instead (as criterion
//! does), to compare the two.

use std::time::{Duration, Instant};

use bytes::Bytes;
use otlp_benches::Signal;
use otlp_codec::{Codec, OtlpMessage};
use otlp_proto::collector::{logs, metrics, trace};

const CODECS: [(Codec, &str); 3] = [
    (Codec::Protobuf, "proto"),
    (Codec::MessagePack, "msgpack"),
    (Codec::Cbor, "cbor"),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = args
        .get(1)
        .map(|n| n.parse().expect("rounds: a number"))
        .unwrap_or(100);
    let sequential = args.get(2).map(String::as_str) == Some("sequential");
    match args.first().map(String::as_str) {
        Some("traces") => {
            run::<trace::v1::ExportTraceServiceRequest>(Signal::Traces, rounds, sequential)
        }
        Some("metrics") => {
            run::<metrics::v1::ExportMetricsServiceRequest>(Signal::Metrics, rounds, sequential)
        }
        Some("logs") => run::<logs::v1::ExportLogsServiceRequest>(Signal::Logs, rounds, sequential),
        _ => panic!("usage: codec_interleaved traces|metrics|logs [rounds] [sequential]"),
    }
}

fn run<M: OtlpMessage>(signal: Signal, rounds: usize, sequential: bool) {
    let pb = otlp_benches::protobuf(signal);
    let message: M = Codec::Protobuf
        .decode(pb.clone())
        .expect("the dataset decodes");
    let bodies: Vec<Bytes> = CODECS
        .iter()
        .map(|(codec, _)| Bytes::from(codec.encode_to_vec(&message).expect("encodes")))
        .collect();
    let decode = |i: usize| {
        let start = Instant::now();
        // Dropping the message is part of what a receiver pays.
        drop(std::hint::black_box(
            CODECS[i].0.decode::<M>(bodies[i].clone()).expect("decodes"),
        ));
        start.elapsed()
    };
    let mut times = vec![Vec::with_capacity(rounds); CODECS.len()];
    if sequential {
        for (i, t) in times.iter_mut().enumerate() {
            t.extend((0..rounds).map(|_| decode(i)));
        }
    } else {
        for _ in 0..rounds {
            for (i, t) in times.iter_mut().enumerate() {
                t.push(decode(i));
            }
        }
    }
    for t in &mut times {
        t.sort();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (proto_min, proto_median) = (times[0][0], times[0][rounds / 2]);
    for (i, (_, name)) in CODECS.iter().enumerate() {
        let (min, median) = (times[i][0], times[i][rounds / 2]);
        println!(
            "{name}.decode.{}: min {:.3} ms ({:.2}x proto), median {:.3} ms ({:.2}x proto)",
            signal.name(),
            ms(min),
            min.as_secs_f64() / proto_min.as_secs_f64(),
            ms(median),
            median.as_secs_f64() / proto_median.as_secs_f64(),
        );
    }
}
