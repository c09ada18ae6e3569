//! `otlp bench compression`: compress and decompress `traces.pb` with every
//! coding at the levels users pick, beside the raw library call doing the same
//! work. MB/s of uncompressed bytes; `ratio` is uncompressed / compressed size.

use std::hint::black_box;
use std::io::{Read, Write};

use otlp_compression::{Compression, Encoder, Level};
use otlp_datagen::Signal;

use super::Bench;
use crate::Error;

fn encoders() -> Vec<Encoder> {
    let at = |c, l| Encoder::new(c).with_level(Level::Precise(l));
    let mut all: Vec<Encoder> = [1, 6, 9].map(|l| at(Compression::Gzip, l)).to_vec();
    all.extend([1, 6].map(|l| at(Compression::Deflate, l)));
    all.extend([-1, 1, 3, 9].map(|l| at(Compression::Zstd, l)));
    all.extend([
        Encoder::new(Compression::Snappy),
        Encoder::new(Compression::SnappyFramed),
        Encoder::new(Compression::Lz4),
    ]);
    all
}

pub(super) fn run(bench: &mut Bench) -> Result<(), Error> {
    let data = bench.data.protobuf(Signal::Traces)?;
    let len = data.len();
    for encoder in encoders() {
        let from = bench.figures.len();
        let packed = baseline_compress(encoder, &data)?;
        let mut ours = Vec::new();
        encoder.compress(&data, &mut ours)?;
        let ratio = |packed: usize| len as f64 / packed as f64;

        // Both sides write into a fresh Vec, so allocation weighs the same.
        bench
            .measure_bytes(format!("compress.{encoder}.traces"), len, || {
                let mut out = Vec::new();
                encoder
                    .compress(black_box(&data), &mut out)
                    .expect("compressed once already");
            })
            .extra
            .push(("ratio", ratio(ours.len())));
        bench
            .measure_bytes(format!("baseline.compress.{encoder}.traces"), len, || {
                black_box(
                    baseline_compress(encoder, black_box(&data)).expect("compressed once already"),
                );
            })
            .extra
            .push(("ratio", ratio(packed.len())));
        bench.measure_bytes(format!("decompress.{encoder}.traces"), len, || {
            let mut out = Vec::new();
            encoder
                .compression()
                .decompress(black_box(&ours), len, &mut out)
                .expect("our own output decompresses");
        });
        baseline_decompress(encoder.compression(), &packed, len)?;
        bench.measure_bytes(format!("baseline.decompress.{encoder}.traces"), len, || {
            black_box(
                baseline_decompress(encoder.compression(), black_box(&packed), len)
                    .expect("decompressed once already"),
            );
        });
        bench.emit_since(from);
    }
    Ok(())
}

/// The raw library call that does what `Encoder::compress` does, written as a
/// user of the library would.
fn baseline_compress(encoder: Encoder, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let level = encoder.level();
    let flate = || flate2::Compression::new(level.clamp(0, 9) as u32);
    match encoder.compression() {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate());
            e.write_all(data)?;
            e.finish()
        }
        Compression::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate());
            e.write_all(data)?;
            e.finish()
        }
        Compression::Zstd => zstd::bulk::compress(data, level),
        Compression::Snappy => Ok(snap::raw::Encoder::new().compress_vec(data)?),
        Compression::SnappyFramed => {
            let mut e = snap::write::FrameEncoder::new(Vec::new());
            e.write_all(data)?;
            e.into_inner().map_err(|e| e.into_error())
        }
        Compression::Lz4 => {
            // The same frame as ours: content checksum on (lz4_flex's
            // automatic block size is 4 MiB for traces.pb, as ours).
            let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(data)?;
            Ok(e.finish()?)
        }
        other => Ok(other.as_str().as_bytes().to_vec()),
    }
}

/// The raw library call that decompresses what `baseline_compress` wrote
/// (gzip multi-member, as ours: RFC 1952 allows concatenated members).
fn baseline_decompress(
    compression: Compression,
    packed: &[u8],
    len: usize,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match compression {
        Compression::Gzip => {
            flate2::bufread::MultiGzDecoder::new(packed).read_to_end(&mut out)?;
        }
        Compression::Deflate => {
            flate2::bufread::ZlibDecoder::new(packed).read_to_end(&mut out)?;
        }
        Compression::Zstd => out = zstd::bulk::decompress(packed, len)?,
        Compression::Snappy => out = snap::raw::Decoder::new().decompress_vec(packed)?,
        Compression::SnappyFramed => {
            snap::read::FrameDecoder::new(packed).read_to_end(&mut out)?;
        }
        Compression::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(packed).read_to_end(&mut out)?;
        }
        _ => out.extend_from_slice(packed),
    }
    Ok(out)
}
