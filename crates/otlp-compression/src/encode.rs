//! Compression levels and the encoder.

use std::fmt;

use crate::{Compression, Error};

/// How hard to compress, for any coding.
///
/// [`Encoder::with_level`] turns it into the coding's own number, clamping
/// [`Precise`](Self::Precise) into the coding's range, so an encoder always
/// holds a valid level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Level {
    /// This crate's default for the coding: fast, chosen from measurements
    /// (see the crate documentation).
    #[default]
    Default,
    /// The fastest level worth using.
    Fastest,
    /// The smallest output, whatever the cost.
    Best,
    /// A level in the coding's own numbering: 0 (store) to 9 for gzip and
    /// deflate, -7 to 22 for zstd; ignored by codings without levels.
    Precise(i32),
}

/// A coding and a level: everything needed to compress.
///
/// `Display` writes the name used in benchmark figures, e.g. `gzip-1`,
/// `zstd-3`, `zstd--1`, `snappy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encoder {
    compression: Compression,
    level: i32,
}

impl Encoder {
    /// An encoder for `compression` at its default level.
    pub const fn new(compression: Compression) -> Self {
        Encoder {
            compression,
            level: levels(compression).default,
        }
    }

    /// The same coding at `level`.
    pub const fn with_level(self, level: Level) -> Self {
        let range = levels(self.compression);
        let level = match level {
            Level::Default => range.default,
            Level::Fastest => range.fastest,
            Level::Best => range.best,
            Level::Precise(n) if n < range.min => range.min,
            Level::Precise(n) if n > range.best => range.best,
            Level::Precise(n) => n,
        };
        Encoder {
            compression: self.compression,
            level,
        }
    }

    /// The coding.
    pub const fn compression(&self) -> Compression {
        self.compression
    }

    /// The level in the coding's own numbering (0 for codings without levels).
    pub const fn level(&self) -> i32 {
        self.level
    }

    /// Compresses `input`, appending the result to `out`.
    ///
    /// Bytes already in `out` are kept, so a caller can write a frame header
    /// first (gRPC's 5-byte prefix) and reuse one buffer across calls
    /// (`out.clear()` in between keeps its capacity). On error `out` is
    /// truncated back to its length on entry.
    pub fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        let result = compress(self.compression, self.level, input, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new(Compression::None)
    }
}

impl From<Compression> for Encoder {
    fn from(compression: Compression) -> Self {
        Encoder::new(compression)
    }
}

impl fmt::Display for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.compression {
            Compression::Gzip | Compression::Deflate | Compression::Zstd => {
                write!(f, "{}-{}", self.compression, self.level)
            }
            Compression::None => f.write_str("none"),
            Compression::Snappy | Compression::SnappyFramed | Compression::Lz4 => {
                f.write_str(self.compression.as_str())
            }
        }
    }
}

/// The levels of one coding.
struct Levels {
    min: i32,
    fastest: i32,
    default: i32,
    best: i32,
}

const fn levels(compression: Compression) -> Levels {
    match compression {
        // Defaults from measurements on traces.pb: see "Default levels" in
        // the crate documentation.
        Compression::Gzip | Compression::Deflate => Levels {
            min: 0,
            fastest: 1,
            default: 1,
            best: 9,
        },
        // Below -7 the ratio falls under snappy's for no more speed (-10:
        // ratio 3.9, -20: 3.1, against -7: 4.5).
        Compression::Zstd => Levels {
            min: -7,
            fastest: -7,
            default: 1,
            best: 22,
        },
        // lz4_flex has the fast mode only.
        Compression::None | Compression::Snappy | Compression::SnappyFramed | Compression::Lz4 => {
            Levels {
                min: 0,
                fastest: 0,
                default: 0,
                best: 0,
            }
        }
    }
}

fn compress(
    compression: Compression,
    level: i32,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if !compression.is_supported() {
        return Err(Error::Unsupported { compression });
    }
    // `level` is used by some codings only, depending on the features.
    let _ = level;
    match compression {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            use std::io::Write;
            let mut encoder = flate2::write::GzEncoder::new(out, flate_level(level));
            encoder.write_all(input).map_err(Error::Io)?;
            encoder.finish().map_err(Error::Io)?;
            Ok(())
        }
        #[cfg(feature = "deflate")]
        Compression::Deflate => {
            use std::io::Write;
            let mut encoder = flate2::write::ZlibEncoder::new(out, flate_level(level));
            encoder.write_all(input).map_err(Error::Io)?;
            encoder.finish().map_err(Error::Io)?;
            Ok(())
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            // The bulk API writes the frame with its content size, which lets
            // a receiver reject an oversized body before decoding it.
            out.reserve(zstd::zstd_safe::compress_bound(input.len()));
            let start = out.len() as u64;
            let mut tail = std::io::Cursor::new(out);
            tail.set_position(start);
            zstd::bulk::Compressor::new(level)
                .and_then(|mut c| c.compress_to_buffer(input, &mut tail))
                .map_err(Error::Io)?;
            Ok(())
        }
        #[cfg(feature = "snappy")]
        Compression::Snappy => {
            let start = out.len();
            let room = start + snap::raw::max_compress_len(input.len());
            if start == 0 && out.capacity() < room {
                // A fresh zeroed allocation comes zeroed from the OS for free;
                // resizing would write every byte (15% slower on traces.pb).
                *out = vec![0; room];
            } else {
                out.resize(room, 0);
            }
            // max_compress_len is 0 when the input is over the format's 4 GiB.
            if out.len() == start && !input.is_empty() {
                return Err(Error::InputTooLarge {
                    compression,
                    len: input.len(),
                    max: u32::MAX as usize,
                });
            }
            let written = snap::raw::Encoder::new()
                .compress(input, &mut out[start..])
                .map_err(|e| Error::Io(e.into()))?;
            out.truncate(start + written);
            Ok(())
        }
        #[cfg(feature = "snappy")]
        Compression::SnappyFramed => {
            use std::io::Write;
            let mut encoder = snap::write::FrameEncoder::new(out);
            encoder.write_all(input).map_err(Error::Io)?;
            encoder.flush().map_err(Error::Io)?;
            Ok(())
        }
        #[cfg(feature = "lz4")]
        Compression::Lz4 => compress_lz4(input, out),
        #[allow(unreachable_patterns)]
        _ => Err(Error::Unsupported { compression }),
    }
}

/// One LZ4 frame with independent blocks (what every reader takes, pierrec's
/// included), the content size up front (so a receiver can refuse an
/// oversized body before inflating it) and a content checksum (so corruption
/// is caught: LZ4 blocks have no integrity check of their own).
#[cfg(feature = "lz4")]
fn compress_lz4(input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    use std::io::Write;

    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

    // The smallest block that holds the whole input: the receiver's decoder
    // allocates a block-sized buffer or two whatever the body's size.
    let block_size = match input.len() {
        0..=0x1_0000 => BlockSize::Max64KB,
        0x1_0001..=0x4_0000 => BlockSize::Max256KB,
        0x4_0001..=0x10_0000 => BlockSize::Max1MB,
        _ => BlockSize::Max4MB,
    };
    let info = FrameInfo::new()
        .block_size(block_size)
        .block_mode(BlockMode::Independent)
        .content_size(Some(input.len() as u64))
        .content_checksum(true);
    let mut encoder = FrameEncoder::with_frame_info(info, out);
    encoder.write_all(input).map_err(Error::Io)?;
    encoder.finish().map_err(|e| Error::Io(e.into()))?;
    Ok(())
}

#[cfg(any(feature = "gzip", feature = "deflate"))]
fn flate_level(level: i32) -> flate2::Compression {
    // Encoder::with_level keeps flate levels in 0..=9.
    flate2::Compression::new(level.clamp(0, 9) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_clamped_into_the_codings_range() {
        let gzip = Encoder::new(Compression::Gzip);
        assert_eq!(gzip.with_level(Level::Precise(42)).level(), 9);
        assert_eq!(gzip.with_level(Level::Precise(-3)).level(), 0);
        assert_eq!(gzip.with_level(Level::Best).level(), 9);
        let zstd = Encoder::new(Compression::Zstd);
        assert_eq!(zstd.with_level(Level::Precise(-100)).level(), -7);
        assert_eq!(zstd.with_level(Level::Precise(19)).level(), 19);
        assert_eq!(zstd.with_level(Level::Best).level(), 22);
        let snappy = Encoder::new(Compression::Snappy);
        assert_eq!(snappy.with_level(Level::Best).level(), 0);
    }

    #[test]
    fn display_is_the_figure_name() {
        let zstd = Encoder::new(Compression::Zstd);
        assert_eq!(zstd.with_level(Level::Precise(3)).to_string(), "zstd-3");
        assert_eq!(zstd.with_level(Level::Precise(-1)).to_string(), "zstd--1");
        assert_eq!(
            Encoder::new(Compression::Gzip)
                .with_level(Level::Fastest)
                .to_string(),
            "gzip-1"
        );
        assert_eq!(
            Encoder::new(Compression::SnappyFramed).to_string(),
            "x-snappy-framed"
        );
        assert_eq!(Encoder::default().to_string(), "none");
    }

    #[test]
    fn compress_appends_and_keeps_what_was_there() {
        for compression in Compression::supported() {
            let mut out = b"header".to_vec();
            compression
                .compress(b"payload payload payload", &mut out)
                .expect("compress");
            assert!(out.starts_with(b"header"), "{compression}");
            let mut plain = Vec::new();
            compression
                .decompress(&out[6..], 1 << 10, &mut plain)
                .expect("decompress");
            assert_eq!(plain, b"payload payload payload", "{compression}");
        }
    }

    #[test]
    fn unsupported_codings_fail_without_touching_the_buffer() {
        for compression in Compression::ALL.into_iter().filter(|c| !c.is_supported()) {
            let mut out = b"kept".to_vec();
            let err = compression
                .compress(b"data", &mut out)
                .expect_err("unsupported");
            assert!(err.is_unsupported(), "{err}");
            assert_eq!(out, b"kept");
        }
    }
}
