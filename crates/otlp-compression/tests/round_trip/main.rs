//! Round trips through every coding and level, at and around the limit.

#[path = "../support.rs"]
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
