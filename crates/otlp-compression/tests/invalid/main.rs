//! Truncated, corrupted and mislabelled input: always a typed error, never a panic.

#[path = "../support/mod.rs"]
mod support;

use std::io;

use otlp_compression::{Compression, Encoder, Error};
use proptest::prelude::*;

use support::{compressed, otlp_like};

const LIMIT: usize = 1 << 20;

fn decode(compression: Compression, input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = b"kept".to_vec();
    let result = compression.decompress(input, LIMIT, &mut out);
    match result {
        Ok(n) => {
            assert_eq!(n, out.len() - 4);
            Ok(out.split_off(4))
        }
        Err(e) => {
            assert_eq!(
                out, b"kept",
                "{compression}: output not rolled back after {e}"
            );
            Err(e)
        }
    }
}

/// Codings whose every prefix is invalid (identity and framed snappy streams
/// may legally end between chunks).
fn checked_codings() -> Vec<Compression> {
    Compression::supported()
        .filter(|c| !matches!(c, Compression::None | Compression::SnappyFramed))
        .collect()
}

#[test]
fn every_truncation_is_an_error() {
    let data = otlp_like(20_000, 3);
    for compression in checked_codings() {
        let packed = compressed(Encoder::new(compression), &data);
        for len in 0..packed.len() {
            let err = decode(compression, &packed[..len]).expect_err("a truncated body decodes");
            assert!(err.is_invalid_input(), "{compression} cut at {len}: {err}");
        }
    }
}

#[test]
fn truncation_is_reported_as_such() {
    let data = otlp_like(20_000, 4);
    for compression in Compression::supported().filter(|c| *c != Compression::None) {
        let packed = compressed(Encoder::new(compression), &data);
        let err = decode(compression, &packed[..packed.len() / 2]).expect_err("half a body");
        assert!(err.is_truncated(), "{compression}: {err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

#[cfg(feature = "snappy")]
#[test]
fn framed_snappy_cut_inside_a_chunk_is_truncated() {
    let data = otlp_like(200_000, 5);
    let packed = compressed(Encoder::new(Compression::SnappyFramed), &data);
    let err = decode(Compression::SnappyFramed, &packed[..packed.len() - 1]).expect_err("cut");
    assert!(err.is_truncated(), "{err}");
}

#[test]
fn corrupted_checksums_are_caught() {
    let data = otlp_like(20_000, 6);
    // Codings with a checksum over the content (raw snappy has none).
    let checksummed = Compression::supported().filter(|c| {
        matches!(
            c,
            Compression::Gzip | Compression::Deflate | Compression::SnappyFramed | Compression::Lz4
        )
    });
    for compression in checksummed {
        let mut packed = compressed(Encoder::new(compression), &data);
        let last = packed.len() - 1;
        // gzip ends in CRC-32 + length, zlib in Adler-32, an lz4 frame in its
        // content checksum (xxHash32); a framed snappy chunk starts with its
        // CRC-32C after the 4-byte chunk header.
        let at = match compression {
            Compression::SnappyFramed => 14,
            Compression::Lz4 => last,
            _ => last - 5,
        };
        packed[at] ^= 0x01;
        let err = decode(compression, &packed).expect_err("checksum mismatch");
        assert!(
            err.is_invalid_input() && !err.is_truncated(),
            "{compression}: {err}"
        );
    }
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_checksum_is_verified_when_present() {
    use std::io::Write;
    let data = otlp_like(20_000, 7);
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).expect("encoder");
    encoder.include_checksum(true).expect("checksum flag");
    encoder.write_all(&data).expect("write");
    let mut packed = encoder.finish().expect("finish");
    let last = packed.len() - 1;
    packed[last] ^= 0x01;
    let err = decode(Compression::Zstd, &packed).expect_err("checksum mismatch");
    assert!(err.is_invalid_input() && !err.is_truncated(), "{err}");
}

#[test]
fn mislabelled_bodies_name_their_real_coding() {
    let data = otlp_like(5_000, 8);
    let magic = [
        Compression::Gzip,
        Compression::Zstd,
        Compression::SnappyFramed,
        Compression::Lz4,
    ];
    for actual in Compression::supported().filter(|c| magic.contains(c)) {
        let packed = compressed(Encoder::new(actual), &data);
        for declared in Compression::supported().filter(|c| *c != actual && *c != Compression::None)
        {
            let err = decode(declared, &packed).expect_err("decoded under the wrong coding");
            match err {
                Error::WrongCoding {
                    declared: d,
                    detected,
                } => {
                    assert_eq!((d, detected), (declared, actual));
                    assert!(err.is_invalid_input());
                }
                other => panic!("{actual} as {declared}: {other}"),
            }
        }
    }
}

#[test]
fn codings_without_magic_fail_as_corrupt_under_another_name() {
    let data = otlp_like(5_000, 9);
    for actual in
        Compression::supported().filter(|c| matches!(c, Compression::Deflate | Compression::Snappy))
    {
        let packed = compressed(Encoder::new(actual), &data);
        for declared in Compression::supported().filter(|c| *c != actual && *c != Compression::None)
        {
            let err = decode(declared, &packed).expect_err("decoded under the wrong coding");
            assert!(err.is_invalid_input(), "{actual} as {declared}: {err}");
        }
    }
}

/// A real multi-block frame (64 KiB blocks, as pierrec and lz4 write them
/// with small block sizes) and our own single-block one, cut at every offset:
/// lz4_flex's decoder alone would end quietly at some of these cuts (right
/// after the magic number, between blocks), yielding a short payload.
#[cfg(feature = "lz4")]
#[test]
fn an_lz4_frame_cut_anywhere_is_an_error() {
    use lz4_flex::frame::{BlockSize, FrameInfo};
    let data = two_lz4_blocks(12);
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .content_checksum(true);
    let blocks = lz4_frame(info, &data);
    let unchecked = lz4_frame(FrameInfo::new().block_size(BlockSize::Max64KB), &data);
    let ours = compressed(Encoder::new(Compression::Lz4), &data);
    for packed in [blocks, unchecked, ours] {
        assert_eq!(decode(Compression::Lz4, &packed).expect("whole"), data);
        for len in 0..packed.len() {
            let err = decode(Compression::Lz4, &packed[..len]).expect_err("a cut frame decodes");
            assert!(
                err.is_truncated(),
                "cut at {len} of {}: {err}",
                packed.len()
            );
        }
    }
}

/// Two frames in a row decode to both contents; cut anywhere but between
/// them, they are truncated (a cut between them leaves a valid stream).
#[cfg(feature = "lz4")]
#[test]
fn concatenated_lz4_frames_decode_and_cuts_are_caught() {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
    let first = two_lz4_blocks(13);
    let second = otlp_like(3_000, 14);
    let mut packed = compressed(Encoder::new(Compression::Lz4), &first);
    let boundary = packed.len();
    let linked = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Linked)
        .block_checksums(true);
    packed.extend_from_slice(&lz4_frame(linked, &second));
    let mut both = first.clone();
    both.extend_from_slice(&second);
    assert_eq!(decode(Compression::Lz4, &packed).expect("two frames"), both);
    assert_eq!(
        decode(Compression::Lz4, &packed[..boundary]).expect("first frame"),
        first
    );
    for len in (0..packed.len()).filter(|&len| len != boundary) {
        let err = decode(Compression::Lz4, &packed[..len]).expect_err("a cut frame decodes");
        assert!(err.is_truncated(), "cut at {len}: {err}");
    }
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_corruption_is_caught_by_the_checksums() {
    let data = otlp_like(50_000, 15);
    let packed = compressed(Encoder::new(Compression::Lz4), &data);
    // Magic (4), FLG, BD, content size (8), header checksum: 15 bytes; then
    // the block size (4) and the block. Flip a bit in the header, in the block
    // and in the content checksum.
    for at in [4, 6, 15 + 4 + 100, packed.len() - 2] {
        let mut bad = packed.clone();
        bad[at] ^= 0x10;
        let err = decode(Compression::Lz4, &bad).expect_err("corrupt");
        assert!(
            err.is_invalid_input() && !err.is_truncated(),
            "flipped at {at}: {err}"
        );
    }
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_bad_magic_numbers_are_refused() {
    let data = otlp_like(5_000, 16);
    let packed = compressed(Encoder::new(Compression::Lz4), &data);
    let mut bad = packed.clone();
    bad[0] ^= 0x01;
    let err = decode(Compression::Lz4, &bad).expect_err("bad magic");
    assert!(
        matches!(err, Error::Corrupt { .. }) && err.to_string().contains("magic"),
        "{err}"
    );
    // The legacy format (`lz4 -l`): refused, not decoded with 8 MiB blocks.
    let mut legacy = vec![0x02, 0x21, 0x4c, 0x18];
    legacy.extend_from_slice(&packed[4..]);
    let err = decode(Compression::Lz4, &legacy).expect_err("legacy");
    assert!(err.to_string().contains("legacy"), "{err}");
    // Trailing bytes after a frame are not another frame.
    let mut trailing = packed.clone();
    trailing.extend_from_slice(b"\0\0\0\0");
    let err = decode(Compression::Lz4, &trailing).expect_err("trailing zeros");
    assert!(err.is_invalid_input() && !err.is_truncated(), "{err}");
}

#[cfg(feature = "lz4")]
#[test]
fn an_lz4_frame_declaring_more_than_the_limit_is_refused_at_its_header() {
    let data = otlp_like(5_000, 17);
    let packed = compressed(Encoder::new(Compression::Lz4), &data);
    let mut out = Vec::new();
    let err = Compression::Lz4
        .decompress(&packed[..15], data.len() - 1, &mut out)
        .expect_err("over the limit");
    assert!(err.is_limit_exceeded(), "{err}");
}

/// Two blocks' worth at 64 KiB blocks: a compressible block, then one of
/// random bytes, which the encoder stores as is, so cuts hit both kinds.
#[cfg(feature = "lz4")]
fn two_lz4_blocks(seed: u64) -> Vec<u8> {
    let mut data = otlp_like(4096, seed).repeat(16);
    let mut state = seed | 1;
    data.extend((0..1500).map(|_| {
        // xorshift64: incompressible enough for LZ4.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    data
}

#[cfg(feature = "lz4")]
fn lz4_frame(info: lz4_flex::frame::FrameInfo, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    encoder.write_all(data).expect("write");
    encoder.finish().expect("finish")
}

#[cfg(feature = "deflate")]
#[test]
fn raw_deflate_is_accepted_as_deflate() {
    use std::io::Write;
    let data = otlp_like(50_000, 10);
    for level in [0, 1, 6, 9] {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        encoder.write_all(&data).expect("write");
        let raw = encoder.finish().expect("finish");
        assert_eq!(
            decode(Compression::Deflate, &raw).expect("raw deflate"),
            data,
            "level {level}"
        );
        // What we send is zlib-wrapped, as HTTP's `deflate` is defined.
        let ours = compressed(Encoder::new(Compression::Deflate), &data);
        assert_eq!(ours[0] & 0x0f, 8, "zlib header");
        assert_eq!((u16::from(ours[0]) << 8 | u16::from(ours[1])) % 31, 0);
    }
}

#[test]
fn empty_bodies() {
    for compression in Compression::supported() {
        let packed = compressed(Encoder::new(compression), b"");
        assert_eq!(
            decode(compression, &packed).expect("empty payload"),
            b"",
            "{compression}"
        );
    }
    // An empty body is not a valid gzip, zlib, zstd or snappy block stream.
    for compression in checked_codings() {
        assert!(
            decode(compression, b"")
                .expect_err("empty body")
                .is_truncated(),
            "{compression}"
        );
    }
}

#[test]
fn unsupported_codings_are_refused() {
    for compression in Compression::ALL.into_iter().filter(|c| !c.is_supported()) {
        let err = decode(compression, b"anything").expect_err("not compiled in");
        assert!(err.is_unsupported(), "{err}");
        assert!(
            err.to_string()
                .contains(compression.feature().expect("a feature")),
            "{err}"
        );
    }
}

#[test]
fn reader_failures_are_io_errors_not_bad_data() {
    struct Failing;
    impl io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "peer went away",
            ))
        }
    }
    for compression in Compression::supported() {
        let mut out = Vec::new();
        let err = compression
            .decompress_from(io::BufReader::new(Failing), LIMIT, &mut out)
            .expect_err("the reader fails");
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{compression}: {err}"
        );
        assert!(!err.is_invalid_input());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes under any coding: an answer or a typed error, never a
    /// panic, and never more than the limit.
    #[test]
    fn garbage_never_panics(
        compression in proptest::sample::select(Compression::supported().collect::<Vec<_>>()),
        input in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut out = Vec::new();
        if let Ok(n) = compression.decompress(&input, 4096, &mut out) {
            prop_assert!(n <= 4096 && n == out.len());
        }
    }

    /// Valid streams with bits flipped anywhere.
    #[test]
    fn flipped_bits_never_panic(
        compression in proptest::sample::select(Compression::supported().collect::<Vec<_>>()),
        seed in any::<u64>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8),
    ) {
        let data = otlp_like(4096, seed);
        let mut packed = compressed(Encoder::new(compression), &data);
        for (at, bit) in flips {
            let at = at.index(packed.len());
            packed[at] ^= 1 << bit;
        }
        let mut out = Vec::new();
        if let Ok(n) = compression.decompress(&packed, 8192, &mut out) {
            prop_assert!(n <= 8192 && n == out.len());
        }
    }
}
