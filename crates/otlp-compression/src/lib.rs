//! Bounded gzip, deflate, zstd, snappy and lz4 for OTLP bodies, fast by default,
//! with adaptive choice of coding and level.
//!
//! # What it provides
//!
//! - [`Compression`]: the content codings OTLP peers use (`identity`, `gzip`,
//!   `deflate`, `zstd`, `snappy`, `x-snappy-framed`, `lz4`), parsed from and written
//!   as HTTP `Content-Encoding` / gRPC `grpc-encoding` names, and the
//!   `Accept-Encoding` / `grpc-accept-encoding` lists of what this build supports.
//! - [`Encoder`]: a coding at a [`Level`]; compresses into a caller's buffer.
//! - Decompression with a mandatory output limit
//!   ([`Compression::decompress`], [`Compression::decompress_from`]): the
//!   output is streamed into the caller's buffer and the call fails with
//!   [`Error::LimitExceeded`] the moment it would pass the limit, so a
//!   decompression bomb costs at most the limit plus the decoder's fixed state
//!   (zstd: a window of at most 8 MiB, per RFC 9659; lz4: buffers for blocks
//!   of at most 4 MiB, 12 MiB when blocks are linked). Truncated, corrupt or
//!   mislabelled input is a typed [`Error`], never a panic.
//! - [`adaptive`]: a [`Selector`](adaptive::Selector) that measures the
//!   candidates on samples of the real payloads and picks coding and level for
//!   a goal (fastest, smallest, latency or bandwidth budget), telling why.
//!
//! # Place in the layers
//!
//! Level 0, beside `otlp-proto`: it depends on compression libraries only and
//! knows nothing of OTLP messages or transports. The transports (`otlp-grpc`,
//! `otlp-http`, `otlp-ws`) use it, codec-neutral, on the bytes they move.
//!
//! # Feature flags
//!
//! - `gzip` *(default)*: gzip, with flate2 on the pure-Rust zlib-rs backend.
//!   Every OTLP receiver must accept gzip, so it is the one default.
//! - `deflate`: `deflate` / `zlib` (zlib-wrapped; raw deflate accepted on input).
//! - `zstd`: Zstandard through the reference C library (needs a C compiler).
//! - `snappy`: `snappy` (block) and `x-snappy-framed`, pure Rust.
//! - `lz4`: `lz4`, the LZ4 frame format (as the OpenTelemetry Collector's
//!   HTTP receiver takes it), pure Rust (lz4_flex, its safe code only). Sent
//!   as one frame with independent blocks, the content size and a content
//!   checksum; received as one frame or several, a cut anywhere reported as
//!   [`Error::Truncated`].
//! - `full`: all of the above.
//!
//! Every [`Compression`] variant exists in every build, so a receiver can tell
//! "unknown" from "not supported here" ([`Compression::is_supported`]).
//!
//! # Default levels
//!
//! Measured on the canonical `traces.pb` (5.5 MB, 10,000 spans), zlib-rs
//! backend, on the project's 2-core machine (see `BENCHMARKS.md`):
//!
//! | encoder | ratio | compress MB/s | decompress MB/s |
//! | --- | ---: | ---: | ---: |
//! | gzip-1 | 4.77 | 561 | 1194 |
//! | gzip-3 | 5.76 | 259 | 1432 |
//! | gzip-6 (zlib's default) | 6.44 | 179 | 1591 |
//! | gzip-9 | 6.49 | 113 | 1547 |
//! | zstd--1 | 6.37 | 1034 | 2971 |
//! | zstd-1 | 6.88 | 944 | 2623 |
//! | zstd-3 (zstd's default) | 7.28 | 586 | 2431 |
//! | snappy | 4.00 | 1075 | 2950 |
//! | lz4 | 4.50 | 422 ¹ | 1054 ¹ |
//!
//! ¹ A later run on a busier machine, where snappy measured 528 and 1431
//! MB/s: lz4 (lz4_flex's safe code, with a content checksum) sends 11 % fewer
//! bytes than snappy and is somewhat slower both ways.
//!
//! - **gzip and deflate default to level 1**: 3.1× the speed of level 6 for
//!   35 % more bytes. Level 6 is what makes gzip pipelines CPU-bound; level 1
//!   compresses at over 500 MB/s, so the exporter keeps up with a 1 Gbit/s
//!   link on one core, and it wins on end-to-end time (compress + send) on any
//!   link faster than about 15 MB/s. On slow or metered links ask for
//!   [`Level::Precise`]`(6)`, or let the [`adaptive`] selector decide.
//! - **zstd defaults to level 1**: 1.6× the speed of level 3 for 6 % more
//!   bytes, and a better ratio than gzip at level 9.
//!
//! # Example
//!
//! ```
//! use otlp_compression::{Compression, Encoder, Level};
//!
//! # let request = b"an encoded ExportTraceServiceRequest".repeat(100);
//! // The sender compresses with what the peer accepts.
//! let coding: Compression = "gzip".parse()?;
//! let mut body = Vec::new();
//! Encoder::new(coding).with_level(Level::Fastest).compress(&request, &mut body)?;
//!
//! // The receiver decompresses under its size limit (4 MiB here).
//! let mut decoded = Vec::new();
//! coding.decompress(&body, 4 << 20, &mut decoded)?;
//! assert_eq!(decoded, request);
//!
//! // A body larger than the limit is refused without being inflated.
//! let err = coding.decompress(&body, 100, &mut decoded).unwrap_err();
//! assert!(err.is_limit_exceeded());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adaptive;
mod compression;
mod decode;
mod encode;
mod error;

pub use compression::Compression;
pub use encode::{Encoder, Level};
pub use error::{Error, ParseCompressionError};
