//! The content codings and their names on the wire.

use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

use crate::error::{Error, ParseCompressionError};
use crate::{decode, encode};

/// A content coding: how an OTLP body or gRPC message is compressed.
///
/// Every variant exists whatever features are enabled, so that a receiver can
/// parse a name it does not support and answer "unsupported" (HTTP 415, gRPC
/// `UNIMPLEMENTED`) instead of "unknown"; [`is_supported`](Self::is_supported)
/// tells whether this build can encode and decode it.
///
/// Names follow HTTP `Content-Encoding` and gRPC `grpc-encoding`; parsing is
/// case-insensitive and also accepts the aliases used in the wild:
///
/// | variant | name | also accepted |
/// | --- | --- | --- |
/// | [`None`](Self::None) | `identity` | `none`, empty |
/// | [`Gzip`](Self::Gzip) | `gzip` | `x-gzip` |
/// | [`Deflate`](Self::Deflate) | `deflate` | `zlib` |
/// | [`Zstd`](Self::Zstd) | `zstd` | |
/// | [`Snappy`](Self::Snappy) | `snappy` | |
/// | [`SnappyFramed`](Self::SnappyFramed) | `x-snappy-framed` | |
/// | [`Lz4`](Self::Lz4) | `lz4` | |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// No compression (`identity`).
    #[default]
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// HTTP `deflate`: a zlib-wrapped (RFC 1950) deflate stream. Raw deflate
    /// (RFC 1951), which some senders use by mistake, is accepted on input.
    Deflate,
    /// Zstandard (RFC 8878), frames with a window of at most 8 MiB (RFC 9659).
    Zstd,
    /// Snappy block format: one block with its uncompressed length up front.
    Snappy,
    /// Snappy framing format: a checksummed stream of snappy chunks.
    SnappyFramed,
    /// The LZ4 frame format (one or more frames), as the OpenTelemetry
    /// Collector's HTTP receiver accepts it under `Content-Encoding: lz4`.
    Lz4,
}

impl Compression {
    /// Every coding, in the order this crate prefers them in accept lists.
    pub const ALL: [Compression; 7] = [
        Compression::Zstd,
        Compression::Gzip,
        Compression::Deflate,
        Compression::Snappy,
        Compression::SnappyFramed,
        Compression::Lz4,
        Compression::None,
    ];

    /// The canonical name, as sent in `Content-Encoding` and `grpc-encoding`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Compression::None => "identity",
            Compression::Gzip => "gzip",
            Compression::Deflate => "deflate",
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
            Compression::SnappyFramed => "x-snappy-framed",
            Compression::Lz4 => "lz4",
        }
    }

    /// A stable one-byte number for binary formats that record a coding
    /// (the OTLP/WebSocket framing, the persistent queue's records):
    /// 0 none, 1 gzip, 2 deflate, 3 zstd, 4 snappy, 5 x-snappy-framed, 6 lz4.
    /// A number is never reused or renumbered; a new coding takes the next.
    ///
    /// ```
    /// use otlp_compression::Compression;
    ///
    /// for compression in Compression::ALL {
    ///     assert_eq!(Compression::from_code(compression.code()), Some(compression));
    /// }
    /// assert_eq!(Compression::Zstd.code(), 3);
    /// assert_eq!(Compression::from_code(200), None);
    /// ```
    pub const fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Deflate => 2,
            Compression::Zstd => 3,
            Compression::Snappy => 4,
            Compression::SnappyFramed => 5,
            Compression::Lz4 => 6,
        }
    }

    /// The coding with this [`code`](Self::code), if any.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Whether this build can compress and decompress this coding.
    pub const fn is_supported(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Deflate => cfg!(feature = "deflate"),
            Compression::Zstd => cfg!(feature = "zstd"),
            Compression::Snappy | Compression::SnappyFramed => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
        }
    }

    /// The cargo feature of this crate that compiles this coding in.
    pub const fn feature(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Deflate => Some("deflate"),
            Compression::Zstd => Some("zstd"),
            Compression::Snappy | Compression::SnappyFramed => Some("snappy"),
            Compression::Lz4 => Some("lz4"),
        }
    }

    /// The codings this build supports, in order of preference.
    pub fn supported() -> impl Iterator<Item = Compression> {
        Compression::ALL.into_iter().filter(|c| c.is_supported())
    }

    /// The value of an HTTP `Accept-Encoding` header listing every supported
    /// coding in order of preference, e.g. `zstd, gzip, deflate, identity`.
    pub fn accept_encoding() -> String {
        Compression::supported()
            .map(Compression::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The value of a gRPC `grpc-accept-encoding` header listing every
    /// supported coding in order of preference, e.g. `zstd,gzip,identity`.
    pub fn grpc_accept_encoding() -> String {
        Compression::supported()
            .map(Compression::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Compresses `input` at this coding's default level, appending to `out`.
    ///
    /// Shorthand for `Encoder::new(self).compress(input, out)`; see
    /// [`Encoder::compress`](crate::Encoder::compress).
    pub fn compress(self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        encode::Encoder::new(self).compress(input, out)
    }

    /// Decompresses `input`, appending at most `limit` bytes to `out`, and
    /// returns how many bytes were appended.
    ///
    /// The output is produced in a stream and the call fails with
    /// [`Error::LimitExceeded`] as soon as it would pass `limit`, so a
    /// decompression bomb costs at most about `limit` bytes of memory. Bytes
    /// already in `out` stay and do not count against the limit; on any error
    /// `out` is truncated back to its length on entry. Reuse one buffer across
    /// calls (`out.clear()` in between) to keep its capacity.
    pub fn decompress(self, input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<usize, Error> {
        decode::decompress(self, input, limit, out)
    }

    /// Like [`decompress`](Self::decompress), reading the compressed input
    /// from `input` as it arrives (a body stream, a file).
    ///
    /// The block format [`Snappy`](Self::Snappy) cannot be streamed: its
    /// compressed input is collected first, up to the largest size a body of
    /// `limit` bytes can compress to.
    pub fn decompress_from(
        self,
        input: impl BufRead,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        decode::decompress_from(self, input, limit, out)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = ParseCompressionError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name = name.trim();
        let found = [
            ("identity", Compression::None),
            ("none", Compression::None),
            ("", Compression::None),
            ("gzip", Compression::Gzip),
            ("x-gzip", Compression::Gzip),
            ("deflate", Compression::Deflate),
            ("zlib", Compression::Deflate),
            ("zstd", Compression::Zstd),
            ("snappy", Compression::Snappy),
            ("x-snappy-framed", Compression::SnappyFramed),
            ("lz4", Compression::Lz4),
        ]
        .into_iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name));
        match found {
            Some((_, compression)) => Ok(compression),
            None => Err(ParseCompressionError::new(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_round_trip() {
        for c in Compression::ALL {
            assert_eq!(c.as_str().parse::<Compression>(), Ok(c));
            assert_eq!(c.to_string().to_uppercase().parse::<Compression>(), Ok(c));
        }
        let aliases = [
            ("Identity", Compression::None),
            ("none", Compression::None),
            ("", Compression::None),
            (" gzip ", Compression::Gzip),
            ("X-GZIP", Compression::Gzip),
            ("ZLIB", Compression::Deflate),
            ("deflate", Compression::Deflate),
            ("X-Snappy-Framed", Compression::SnappyFramed),
            ("SNAPPY", Compression::Snappy),
            ("ZSTD", Compression::Zstd),
            ("LZ4", Compression::Lz4),
            (" Lz4", Compression::Lz4),
        ];
        for (name, c) in aliases {
            assert_eq!(name.parse::<Compression>(), Ok(c), "{name:?}");
        }
    }

    #[test]
    fn unknown_names_are_rejected_with_the_name() {
        for name in [
            "br",
            "x-lz4",
            "lz4-framed",
            "gzip, deflate",
            "gzip;q=1",
            "snappy-framed",
        ] {
            let err = name.parse::<Compression>().expect_err(name);
            assert_eq!(err.name(), name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn accept_lists_name_exactly_the_supported_codings() {
        let http = Compression::accept_encoding();
        let grpc = Compression::grpc_accept_encoding();
        assert!(http.ends_with("identity") && grpc.ends_with("identity"));
        assert_eq!(http.replace(", ", ","), grpc);
        for c in Compression::ALL {
            let listed = grpc.split(',').any(|n| n == c.as_str());
            assert_eq!(listed, c.is_supported(), "{c} in {grpc}");
            // Every OTLP server MUST support gzip (OTLP specification, "Compression").
            if c == Compression::Gzip {
                assert_eq!(listed, cfg!(feature = "gzip"));
            }
        }
    }
}
