//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use otlp_compression::{Compression, Encoder, Level};

/// A payload shaped like OTLP protobuf: repeated keys and values, varints,
/// random ids. Deterministic in `seed`.
pub fn otlp_like(len: usize, seed: u64) -> Vec<u8> {
    const KEYS: [&[u8]; 6] = [
        b"service.name",
        b"http.request.method",
        b"http.route",
        b"/api/users/{id}",
        b"db.query.text",
        b"SELECT * FROM orders WHERE id = ?",
    ];
    let mut state = seed;
    let mut next = move || {
        // SplitMix64: deterministic and good enough for ids.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        let r = next();
        let key = KEYS[(r % KEYS.len() as u64) as usize];
        out.extend_from_slice(&[0x0a, key.len() as u8]);
        out.extend_from_slice(key);
        out.extend_from_slice(&[0x12, 0x08]);
        out.extend_from_slice(&next().to_le_bytes());
        out.extend_from_slice(&[0x19]);
        out.extend_from_slice(&(1_700_000_000_000_000_000u64 + (r >> 40)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Every supported coding at every level this crate accepts (a few for zstd's
/// slowest levels, which take seconds per case unoptimised).
pub fn encoders() -> Vec<Encoder> {
    let mut all = Vec::new();
    for compression in Compression::supported() {
        let levels: Vec<i32> = match compression {
            Compression::Gzip | Compression::Deflate => (0..=9).collect(),
            Compression::Zstd => (-7..=19).collect(),
            _ => vec![0],
        };
        all.extend(
            levels
                .into_iter()
                .map(|l| Encoder::new(compression).with_level(Level::Precise(l))),
        );
    }
    all
}

/// Compresses `input` with `encoder` into a fresh buffer.
pub fn compressed(encoder: Encoder, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encoder
        .compress(input, &mut out)
        .expect("compression into a Vec does not fail");
    out
}
