//! Compression of `traces.pb` per coding and level, beside the raw library
//! call doing the same work in the same run.
//!
//! Figures (criterion ids): `compress.<coding>-<level>.traces`,
//! `decompress.<coding>-<level>.traces` and their `baseline.` twins; MB/s of
//! uncompressed bytes = `traces.pb` size / time. Ratios are printed as
//! `ratio <figure> <value>` lines before the measurements.
//!
//! ```text
//! OTLP_BENCH_DATA=/work/shared/bench/data cargo bench -p otlp-benches --bench compression
//! ```

use std::hint::black_box;
use std::io::{Read, Write};

use criterion::{Criterion, criterion_group, criterion_main};
use otlp_compression::{Compression, Encoder, Level};

fn encoders() -> Vec<Encoder> {
    let at = |c, l| Encoder::new(c).with_level(Level::Precise(l));
    let mut all: Vec<Encoder> = (1..=9).map(|l| at(Compression::Gzip, l)).collect();
    all.extend([1, 6].map(|l| at(Compression::Deflate, l)));
    all.extend([-7, -3, -1, 1, 2, 3, 6, 9].map(|l| at(Compression::Zstd, l)));
    all.extend([
        Encoder::new(Compression::Snappy),
        Encoder::new(Compression::SnappyFramed),
        Encoder::new(Compression::Lz4),
    ]);
    all
}

/// The raw library call that does what `Encoder::compress` does, written as a
/// user of the library would.
fn baseline_compress(encoder: Encoder, data: &[u8]) -> Vec<u8> {
    let level = encoder.level();
    let flate = || flate2::Compression::new(level as u32);
    match encoder.compression() {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate());
            e.write_all(data).expect("write");
            e.finish().expect("finish")
        }
        Compression::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate());
            e.write_all(data).expect("write");
            e.finish().expect("finish")
        }
        Compression::Zstd => zstd::bulk::compress(data, level).expect("zstd"),
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy"),
        Compression::SnappyFramed => {
            let mut e = snap::write::FrameEncoder::new(Vec::new());
            e.write_all(data).expect("write");
            e.into_inner().expect("flush")
        }
        Compression::Lz4 => {
            // The same frame as ours: content checksum on (lz4_flex's
            // automatic block size is 4 MiB for traces.pb, as ours).
            let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(data).expect("write");
            e.finish().expect("finish")
        }
        other => unreachable!("no baseline for {other}"),
    }
}

/// The raw library call that decompresses what `baseline_compress` wrote.
/// It has no output limit: the bounded call is measured against the unbounded one.
fn baseline_decompress(compression: Compression, packed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    match compression {
        // Multi-member, as the crate decodes: RFC 1952 allows concatenated
        // members, so both sides must do the same work to compare.
        Compression::Gzip => {
            flate2::bufread::MultiGzDecoder::new(packed)
                .read_to_end(&mut out)
                .expect("gzip");
        }
        Compression::Deflate => {
            flate2::bufread::ZlibDecoder::new(packed)
                .read_to_end(&mut out)
                .expect("zlib");
        }
        Compression::Zstd => out = zstd::bulk::decompress(packed, len).expect("zstd"),
        Compression::Snappy => {
            out = snap::raw::Decoder::new()
                .decompress_vec(packed)
                .expect("snappy")
        }
        Compression::SnappyFramed => {
            snap::read::FrameDecoder::new(packed)
                .read_to_end(&mut out)
                .expect("snappy framed");
        }
        Compression::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(packed)
                .read_to_end(&mut out)
                .expect("lz4");
        }
        other => unreachable!("no baseline for {other}"),
    }
    out
}

fn compression(c: &mut Criterion) {
    let data = otlp_benches::protobuf(otlp_benches::Signal::Traces).to_vec();
    let len = data.len();
    for encoder in encoders() {
        let packed = baseline_compress(encoder, &data);
        let mut ours = Vec::new();
        encoder.compress(&data, &mut ours).expect("compress");
        println!(
            "ratio compress.{encoder}.traces {:.3}",
            len as f64 / ours.len() as f64
        );
        println!(
            "ratio baseline.compress.{encoder}.traces {:.3}",
            len as f64 / packed.len() as f64
        );

        // Both sides write into a fresh Vec, so allocation and page faults
        // weigh the same on each; reusing a buffer would flatter ours.
        c.bench_function(&format!("compress.{encoder}.traces"), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                encoder
                    .compress(black_box(&data), &mut out)
                    .expect("compress");
                out.len()
            })
        });
        c.bench_function(&format!("baseline.compress.{encoder}.traces"), |b| {
            b.iter(|| baseline_compress(encoder, black_box(&data)).len())
        });
        c.bench_function(&format!("decompress.{encoder}.traces"), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                encoder
                    .compression()
                    .decompress(black_box(&ours), len, &mut out)
                    .expect("decompress")
            })
        });
        c.bench_function(&format!("baseline.decompress.{encoder}.traces"), |b| {
            b.iter(|| baseline_decompress(encoder.compression(), black_box(&packed), len).len())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = compression
}
criterion_main!(benches);
