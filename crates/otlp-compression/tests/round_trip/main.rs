//! Round trips through every coding and level, at and around the limit.

#[path = "../support/mod.rs"]
mod support;

use std::io::{self, Read};

use otlp_compression::{Compression, Encoder, Level};
use proptest::prelude::*;

use support::{compressed, encoders, otlp_like};

/// Payloads from incompressible to highly repetitive.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        proptest::collection::vec(0u8..4, 0..16384),
        (0usize..32768, any::<u64>()).prop_map(|(len, seed)| otlp_like(len, seed)),
    ]
}

fn round_trip(encoder: Encoder, data: &[u8]) -> Result<(), TestCaseError> {
    let mut packed = b"prefix".to_vec();
    encoder
        .compress(data, &mut packed)
        .map_err(|e| TestCaseError::fail(format!("{encoder}: {e}")))?;
    prop_assert!(packed.starts_with(b"prefix"));
    let packed = &packed[6..];

    let mut out = b"kept".to_vec();
    let n = encoder
        .compression()
        .decompress(packed, data.len(), &mut out)
        .map_err(|e| TestCaseError::fail(format!("{encoder}: {e}")))?;
    prop_assert_eq!(n, data.len());
    prop_assert_eq!(&out[..4], b"kept");
    prop_assert!(out[4..] == *data, "{} changed the data", encoder);
    Ok(())
}

#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
fn levels(compression: Compression) -> impl Strategy<Value = Encoder> {
    let encoders: Vec<Encoder> = encoders()
        .into_iter()
        .filter(|e| e.compression() == compression)
        .collect();
    proptest::sample::select(encoders)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn identity_round_trips(data in payload()) {
        round_trip(Encoder::new(Compression::None), &data)?;
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_round_trips(encoder in levels(Compression::Gzip), data in payload()) {
        round_trip(encoder, &data)?;
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn deflate_round_trips(encoder in levels(Compression::Deflate), data in payload()) {
        round_trip(encoder, &data)?;
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_round_trips(encoder in levels(Compression::Zstd), data in payload()) {
        round_trip(encoder, &data)?;
    }

    #[cfg(feature = "snappy")]
    #[test]
    fn snappy_round_trips(data in payload()) {
        round_trip(Encoder::new(Compression::Snappy), &data)?;
        round_trip(Encoder::new(Compression::SnappyFramed), &data)?;
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_round_trips(data in payload()) {
        round_trip(Encoder::new(Compression::Lz4), &data)?;
    }

    /// Frames as other writers shape them (block sizes, linked blocks, block
    /// checksums, no content size or checksum), several in a row with
    /// skippable frames between them, decode to their contents in order.
    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_frames_of_any_shape_decode(
        frames in proptest::collection::vec((lz4_frame_info(), payload()), 1..4),
        skippable in proptest::collection::vec(any::<bool>(), 4),
    ) {
        use std::io::Write;
        let mut packed = Vec::new();
        let mut expected = Vec::new();
        for (i, (info, data)) in frames.into_iter().enumerate() {
            if skippable[i] {
                // Magic 0x184D2A5x, a length, and that much user data.
                packed.extend_from_slice(&[0x53, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
            }
            let info = match info.content_size {
                Some(_) => info.content_size(Some(data.len() as u64)),
                None => info,
            };
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, packed);
            encoder.write_all(&data).expect("write");
            packed = encoder.finish().expect("finish");
            expected.extend_from_slice(&data);
        }
        let mut out = Vec::new();
        let n = Compression::Lz4
            .decompress(&packed, expected.len(), &mut out)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(n, expected.len());
        prop_assert!(out == expected);
        let err = Compression::Lz4.decompress(&packed, expected.len().saturating_sub(1), &mut out);
        prop_assert!(expected.is_empty() || err.is_err_and(|e| e.is_limit_exceeded()));
    }

    /// The streaming entry point gives the same result when the input
    /// arrives a few bytes at a time.
    #[test]
    fn streamed_input_decodes_like_a_slice(
        encoder in proptest::sample::select(encoders()),
        data in payload(),
        chunk in 1usize..64,
    ) {
        let packed = compressed(encoder, &data);
        let mut out = Vec::new();
        let reader = io::BufReader::with_capacity(chunk, Trickle { data: &packed, chunk });
        let n = encoder
            .compression()
            .decompress_from(reader, data.len(), &mut out)
            .map_err(|e| TestCaseError::fail(format!("{encoder}: {e}")))?;
        prop_assert_eq!(n, data.len());
        prop_assert!(out == data);
    }

    /// One byte under the size is refused; exactly the size is accepted.
    #[test]
    fn the_limit_is_exact(encoder in proptest::sample::select(encoders()), data in payload()) {
        prop_assume!(!data.is_empty());
        let packed = compressed(encoder, &data);
        let mut out = Vec::new();
        let err = encoder.compression().decompress(&packed, data.len() - 1, &mut out);
        prop_assert!(matches!(&err, Err(e) if e.is_limit_exceeded()), "{}: {:?}", encoder, err);
        prop_assert!(out.is_empty(), "output is rolled back on error");
        prop_assert_eq!(encoder.compression().decompress(&packed, data.len(), &mut out).ok(), Some(data.len()));
    }
}

#[test]
fn a_reused_buffer_keeps_its_capacity() {
    let data = otlp_like(100_000, 7);
    for compression in Compression::supported() {
        let packed = compressed(Encoder::new(compression), &data);
        let mut out = Vec::new();
        compression
            .decompress(&packed, data.len(), &mut out)
            .expect("decompress");
        let capacity = out.capacity();
        out.clear();
        compression
            .decompress(&packed, data.len(), &mut out)
            .expect("decompress");
        assert_eq!(out, data, "{compression}");
        assert_eq!(out.capacity(), capacity, "{compression} reallocated");
    }
}

#[test]
fn every_level_compresses_otlp_like_data() {
    let data = otlp_like(64 * 1024, 1);
    for encoder in encoders() {
        let stores = match encoder.compression() {
            Compression::None => true,
            Compression::Gzip | Compression::Deflate => encoder.level() == 0,
            _ => false,
        };
        let packed = compressed(encoder, &data);
        if !stores {
            assert!(
                packed.len() < data.len() / 2,
                "{encoder} compressed OTLP-like data to {} bytes",
                packed.len()
            );
        }
    }
    let best = Encoder::new(Compression::Gzip).with_level(Level::Best);
    let fastest = Encoder::new(Compression::Gzip).with_level(Level::Fastest);
    if Compression::Gzip.is_supported() {
        assert!(compressed(best, &data).len() < compressed(fastest, &data).len());
    }
}

#[cfg(feature = "lz4")]
fn lz4_frame_info() -> impl Strategy<Value = lz4_flex::frame::FrameInfo> {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
    (
        proptest::sample::select(vec![
            BlockSize::Auto,
            BlockSize::Max64KB,
            BlockSize::Max256KB,
            BlockSize::Max1MB,
            BlockSize::Max4MB,
        ]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(size, linked, block_checksums, content_checksum, content_size)| {
                let mode = if linked {
                    BlockMode::Linked
                } else {
                    BlockMode::Independent
                };
                FrameInfo::new()
                    .block_size(size)
                    .block_mode(mode)
                    .block_checksums(block_checksums)
                    .content_checksum(content_checksum)
                    // The real size is filled in per frame.
                    .content_size(content_size.then_some(0))
            },
        )
}

/// A reader that hands out at most `chunk` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
