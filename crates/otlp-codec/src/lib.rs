//! OTLP encodings: protobuf, OTLP/JSON, MessagePack and CBOR.
//!
//! One [`Codec`] encodes and decodes the export requests and responses of every
//! signal (traces, metrics, logs and profiles) as `otlp-proto`'s types, names
//! its `Content-Type`, and is chosen from a `Content-Type` header.
//!
//! # What it provides
//! - [`Codec`]: `Protobuf`, `Json`, `MessagePack`, `Cbor`, with
//!   [`Codec::from_content_type`], [`Codec::content_type`], [`Codec::encode`]
//!   into a reusable buffer and [`Codec::decode`] from [`bytes::Bytes`].
//! - Protobuf through a decoder and an encoder generated per OTLP message (by
//!   `cargo xtask codegen`, from the same descriptors as the types): `bytes`
//!   fields (ids, binary values) and `string` fields (`otlp_proto::ByteString`,
//!   checked to be UTF-8) of a decoded message share the body's buffer rather
//!   than copying it (so the body lives as long as any of them does; see
//!   `otlp_proto`'s docs to detach a few), each repeated field is allocated
//!   once, and each nested length is computed once when encoding. The result
//!   is exactly prost's: the same values, the same bytes, and prost's own
//!   errors (any body the generated decoder does not accept is decoded by
//!   prost).
//! - OTLP/JSON exactly as the OTLP specification defines it: lowerCamelCase
//!   keys only, trace and span ids as case-insensitive hex, enums as integers
//!   (integers, numeric strings and value names such as
//!   `SPAN_KIND_SERVER` accepted), 64-bit integers written as decimal
//!   strings (strings or numbers accepted), other bytes as base64 (standard or
//!   URL-safe, padded or not, accepted), unknown fields ignored at any depth,
//!   default values accepted whether present, `null` or absent, and `NaN`,
//!   `Infinity`, `-Infinity` as strings. Output is compact and omits fields at
//!   their default value. Decoded strings without escapes are slices of the
//!   body; decoded ids share 4 KiB buffers with the other ids of the same
//!   document (a kept id keeps its buffer alive, not the body).
//! - [`scan`]: a relay's fast path that checks a protobuf request's framing and
//!   counts its resources, scopes and records without building the message.
//! - [`DecodeError`] naming where decoding stopped: a field path such as
//!   `resourceSpans[0].scopeSpans[0].spans[3].traceId` and what was wrong there
//!   (JSON adds line and column; protobuf names the message and field).
//!
//! Decoding is hardened against hostile input: it never panics, `AnyValue`s may
//! nest at most [`MAX_DEPTH`] levels (so deep input cannot exhaust the stack),
//! and a length declared by the input reserves a bounded amount of memory before
//! the elements are actually there.
//!
//! # MessagePack and CBOR
//! Both use the OTLP/JSON mapping — the same lowerCamelCase field names as map
//! keys, fields at their default value omitted — except that ids and other
//! `bytes` are native binary (MessagePack `bin`, CBOR byte string), 64-bit
//! integers are native integers and doubles are native floats (non-finite ones
//! included). Decoders of either also accept the JSON forms (hex and base64
//! strings, numeric strings). For example the span
//!
//! ```text
//! OTLP/JSON:  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
//!              "name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000"}
//! MessagePack: map(5) { "traceId": bin8(16 bytes), "spanId": bin8(8 bytes),
//!              "name": str "GET /", "kind": 2, "startTimeUnixNano": uint64 1700000000000000000 }
//! CBOR:       map(5) { "traceId": bytes(16), "spanId": bytes(8), "name": "GET /",
//!              "kind": 2, "startTimeUnixNano": 1700000000000000000 }
//! ```
//!
//! # Place in the layers
//! Level 1: it depends on `otlp-proto` (level 0) only among the workspace
//! crates; transports (`otlp-http`, `otlp-grpc`, `otlp-ws`) use it to read and
//! write bodies.
//!
//! # Feature flags
//! Protobuf is always available.
//! - `json` (default): OTLP/JSON, written and read by code generated per
//!   message; a document the generated reader does not take (every malformed
//!   one, and a few unusual forms) is decoded through serde and serde_json,
//!   whose errors name the field path, line and column.
//! - `msgpack`: MessagePack, written and read by code generated per message
//!   (strings and binary values of a decoded message are slices of the body);
//!   a body the generated reader does not take (every malformed one, and
//!   forms such as hex ids or enum names) is decoded through serde and
//!   rmp-serde, whose errors name the field path.
//! - `cbor`: CBOR, written and read by the same generated code as
//!   MessagePack (generic over the format, compiled for each), with serde and
//!   minicbor-serde for what the generated reader does not take.
//! - `full`: all of the above.
//!
//! A codec whose feature is off reports [`DecodeError::Disabled`] /
//! [`EncodeError::Disabled`] rather than failing to compile, so a server can
//! answer 415 for it.
//!
//! # Example
//! ```
//! use bytes::Bytes;
//! use otlp_codec::Codec;
//! use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # #[cfg(feature = "json")] {
//! let body = Bytes::from_static(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
//!     "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
//!     "name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000"}]}]}]}"#);
//! let codec = Codec::from_content_type("application/json; charset=utf-8")?;
//! let request: ExportTraceServiceRequest = codec.decode(body)?;
//! assert_eq!(request.resource_spans[0].scope_spans[0].spans[0].kind, 2);
//!
//! // Re-encode as protobuf into a buffer that can be reused for the next request.
//! let mut buf = Vec::new();
//! Codec::Protobuf.encode(&request, &mut buf)?;
//! let again: ExportTraceServiceRequest = Codec::Protobuf.decode(Bytes::from(buf))?;
//! assert_eq!(again, request);
//! # }
//! # Ok(())
//! # }
//! ```
//!
//! # Fuzzing
//! `fuzz/` in the repository holds a cargo-fuzz target per decoder. A short run:
//!
//! ```text
//! cargo install cargo-fuzz
//! cd fuzz && cargo +nightly fuzz run decode_json -- -max_total_time=60
//! ```
//! (likewise `decode_protobuf`, `decode_msgpack`, `decode_cbor`). Each target
//! decodes every request type, and re-encodes and decodes whatever decodes,
//! checking that it survives unchanged; `decode_protobuf` also checks that
//! the result is prost's own. A 30-second run of each on 2026-11-23
//! (1.3–2.9 million inputs per target) found nothing, nor did a 60-second run
//! of `decode_protobuf` and `decode_json` after the generated decoders came
//! in (0.47 and 0.60 million inputs, sharing two loaded cores).
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "msgpack", feature = "cbor"))]
mod binary;
mod codec;
mod error;
#[cfg(feature = "json")]
mod json;
mod protobuf;
pub mod scan;
#[cfg(feature = "_serde")]
mod serde_impl;
#[cfg(test)]
mod test_support;

pub use codec::{Codec, OtlpMessage};
pub use error::{DecodeError, EncodeError, PathSegment, UnsupportedContentType};
#[cfg(feature = "_serde")]
pub use serde_impl::MAX_DEPTH;
