//! One compression operation, ours or the raw library call, for counting
//! instructions with callgrind: a deterministic overhead figure where wall-clock
//! benchmarks on a shared machine scatter by ±10 %.
//!
//! ```sh
//! cargo build --release -p otlp-benches --example compression_instructions
//! bin=target/release/examples/compression_instructions
//! count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 | grep -o 'Collected : [0-9]*'; }
//! count gzip setup; count gzip ours decompress; count gzip raw decompress
//! ```
//!
//! Subtract the `setup` count (reading the dataset, compressing it once) from
//! the others. Arguments: `gzip|zstd|snappy|lz4`, `setup|ours|raw`,
//! `compress|decompress`; level 1 throughout.

use std::io::{Read, Write};

use otlp_compression::{Compression, Encoder, Level};

const LEVEL: i32 = 1;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [algo, side, op] = [0, 1, 2].map(|i| args.get(i).map(String::as_str).unwrap_or(""));
    let compression: Compression = algo.parse().expect("gzip, zstd, snappy or lz4");
    let data = otlp_benches::protobuf(otlp_benches::Signal::Traces).to_vec();
    let encoder = Encoder::new(compression).with_level(Level::Precise(LEVEL));
    let mut packed = Vec::new();
    encoder.compress(&data, &mut packed).expect("compress");
    let mut out = Vec::new();
    match (side, op) {
        ("setup", _) => {}
        ("ours", "compress") => encoder.compress(&data, &mut out).expect("compress"),
        ("ours", "decompress") => {
            compression
                .decompress(&packed, 64 << 20, &mut out)
                .expect("decompress");
        }
        ("raw", "compress") => out = raw_compress(compression, &data),
        ("raw", "decompress") => out = raw_decompress(compression, &packed),
        _ => panic!(
            "usage: compression_instructions gzip|zstd|snappy|lz4 setup|ours|raw compress|decompress"
        ),
    }
    std::hint::black_box(out);
}

fn raw_compress(compression: Compression, data: &[u8]) -> Vec<u8> {
    match compression {
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(LEVEL as u32));
            encoder.write_all(data).expect("gzip");
            encoder.finish().expect("gzip")
        }
        Compression::Zstd => zstd::bulk::compress(data, LEVEL).expect("zstd"),
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy"),
        Compression::Lz4 => {
            // The same frame as ours: content checksum on, 4 MiB blocks.
            let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            encoder.write_all(data).expect("lz4");
            encoder.finish().expect("lz4")
        }
        other => panic!("no raw call for {other}"),
    }
}

fn raw_decompress(compression: Compression, packed: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match compression {
        Compression::Gzip => {
            flate2::bufread::MultiGzDecoder::new(packed)
                .read_to_end(&mut out)
                .expect("gzip");
        }
        Compression::Zstd => out = zstd::bulk::decompress(packed, 64 << 20).expect("zstd"),
        Compression::Snappy => {
            out = snap::raw::Decoder::new()
                .decompress_vec(packed)
                .expect("snappy")
        }
        Compression::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(packed)
                .read_to_end(&mut out)
                .expect("lz4");
        }
        other => panic!("no raw call for {other}"),
    }
    out
}
