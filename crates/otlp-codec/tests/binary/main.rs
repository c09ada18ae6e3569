//! MessagePack and CBOR: OTLP/JSON's field names with native binary ids and
//! native integers, and hardened decoding of every binary codec.
#![cfg(all(feature = "msgpack", feature = "cbor"))]

use bytes::Bytes;
use otlp_codec::{Codec, MAX_DEPTH};
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_proto::common::v1::any_value::Value;
use otlp_proto::common::v1::{AnyValue, ArrayValue, KeyValue};
use otlp_proto::resource::v1::Resource;
use otlp_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
const START: u64 = 1_700_000_000_000_000_000;

fn span_request() -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: Bytes::from_static(&TRACE_ID),
        name: "GET /".into(),
        kind: 2,
        start_time_unix_nano: START,
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The worked example of the crate docs, byte for byte where it matters.
#[test]
fn msgpack_uses_json_names_native_binary_and_integers() {
    let bytes = Codec::MessagePack
        .encode_to_vec(&span_request())
        .expect("encodes");
    // "traceId" as a str8/fixstr key, then bin8 of 16 bytes.
    let mut id = vec![0xa7];
    id.extend_from_slice(b"traceId");
    id.extend_from_slice(&[0xc4, 16]);
    id.extend_from_slice(&TRACE_ID);
    assert!(contains(&bytes, &id), "{bytes:x?}");
    // "startTimeUnixNano" then uint64.
    let mut time = vec![0xb1];
    time.extend_from_slice(b"startTimeUnixNano");
    time.push(0xcf);
    time.extend_from_slice(&START.to_be_bytes());
    assert!(contains(&bytes, &time), "{bytes:x?}");
    assert!(
        contains(&bytes, &[0xa4, b'k', b'i', b'n', b'd', 0x02]),
        "{bytes:x?}"
    );
}

#[test]
fn cbor_uses_json_names_native_binary_and_integers() {
    let bytes = Codec::Cbor.encode_to_vec(&span_request()).expect("encodes");
    let mut id = vec![0x67];
    id.extend_from_slice(b"traceId");
    id.push(0x50); // byte string of 16
    id.extend_from_slice(&TRACE_ID);
    assert!(contains(&bytes, &id), "{bytes:x?}");
    let mut time = vec![0x71];
    time.extend_from_slice(b"startTimeUnixNano");
    time.push(0x1b);
    time.extend_from_slice(&START.to_be_bytes());
    assert!(contains(&bytes, &time), "{bytes:x?}");
}

/// Non-finite doubles are native floats in the binary formats.
#[test]
fn binary_formats_keep_nan() {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "nan".into(),
                    value: Some(AnyValue {
                        value: Some(Value::DoubleValue(f64::NAN)),
                    }),
                    key_strindex: 0,
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    for codec in Codec::ALL {
        let bytes = codec.encode_to_vec(&request).expect("encodes");
        let decoded: ExportTraceServiceRequest = codec.decode(Bytes::from(bytes)).expect("decodes");
        let value = decoded.resource_spans[0]
            .resource
            .as_ref()
            .and_then(|r| r.attributes[0].value.clone());
        assert!(
            matches!(value, Some(AnyValue { value: Some(Value::DoubleValue(v)) }) if v.is_nan()),
            "{codec}"
        );
    }
}

fn nested(depth: usize) -> ExportTraceServiceRequest {
    let mut value = AnyValue {
        value: Some(Value::BoolValue(true)),
    };
    for _ in 1..depth {
        value = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "k".into(),
                    value: Some(value),
                    key_strindex: 0,
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    }
}

/// Every codec rejects `AnyValue`s nested 64 deep, and accepts the limit.
#[test]
fn deep_nesting_is_an_error_in_every_codec() {
    for codec in Codec::ALL {
        let deep = codec.encode_to_vec(&nested(64)).expect("encodes");
        let error = codec
            .decode::<ExportTraceServiceRequest>(Bytes::from(deep))
            .expect_err("too deep");
        let shallow = codec.encode_to_vec(&nested(MAX_DEPTH)).expect("encodes");
        assert!(
            codec
                .decode::<ExportTraceServiceRequest>(Bytes::from(shallow))
                .is_ok(),
            "{codec}: {error}"
        );
    }
}

/// A truncated MessagePack or CBOR document is always an error (maps and
/// arrays declare their lengths); so is trailing garbage.
#[test]
fn truncated_and_trailing_input_is_an_error() {
    for codec in [Codec::MessagePack, Codec::Cbor] {
        let bytes = codec.encode_to_vec(&span_request()).expect("encodes");
        for end in 0..bytes.len() {
            let result =
                codec.decode::<ExportTraceServiceRequest>(Bytes::copy_from_slice(&bytes[..end]));
            assert!(
                result.is_err(),
                "{codec} accepted {end} of {} bytes",
                bytes.len()
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(
            codec
                .decode::<ExportTraceServiceRequest>(Bytes::from(trailing))
                .is_err(),
            "{codec}"
        );
    }
    // Protobuf cut inside the span's length-delimited bytes.
    let bytes = Codec::Protobuf
        .encode_to_vec(&span_request())
        .expect("encodes");
    let error = Codec::Protobuf
        .decode::<ExportTraceServiceRequest>(Bytes::copy_from_slice(&bytes[..bytes.len() - 3]))
        .expect_err("truncated");
    assert!(error.to_string().contains("protobuf"), "{error}");
}

/// Hostile lengths: a map claiming 2^32 entries must not allocate for them.
#[test]
fn huge_declared_lengths_fail_without_allocating() {
    // MessagePack: map32 of u32::MAX entries with key "resourceSpans" → array32 of u32::MAX.
    let mut msgpack = vec![0xdf, 0xff, 0xff, 0xff, 0xff, 0xad];
    msgpack.extend_from_slice(b"resourceSpans");
    msgpack.extend_from_slice(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
    assert!(
        Codec::MessagePack
            .decode::<ExportTraceServiceRequest>(Bytes::from(msgpack))
            .is_err()
    );
    // CBOR: map of 2^64-1 entries, array of 2^64-1 elements.
    let mut cbor = vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x6d];
    cbor.extend_from_slice(b"resourceSpans");
    cbor.extend_from_slice(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert!(
        Codec::Cbor
            .decode::<ExportTraceServiceRequest>(Bytes::from(cbor))
            .is_err()
    );
}

/// Deeply nested unknown MessagePack values are refused, CBOR skips them
/// without recursion; neither overflows the stack.
#[test]
fn deep_unknown_values_do_not_overflow() {
    let mut msgpack = vec![0x81, 0xa1, b'x'];
    msgpack.extend(std::iter::repeat_n(0x91, 100_000));
    msgpack.push(0xc0);
    assert!(
        Codec::MessagePack
            .decode::<ExportTraceServiceRequest>(Bytes::from(msgpack))
            .is_err()
    );
    let mut cbor = vec![0xa1, 0x61, b'x'];
    cbor.extend(std::iter::repeat_n(0x81, 100_000));
    cbor.push(0xf6);
    let decoded = Codec::Cbor.decode::<ExportTraceServiceRequest>(Bytes::from(cbor));
    assert_eq!(decoded.ok(), Some(ExportTraceServiceRequest::default()));
}

/// Protobuf `bytes` fields share the body instead of copying it.
#[test]
fn protobuf_ids_share_the_body() {
    let body = Bytes::from(
        Codec::Protobuf
            .encode_to_vec(&span_request())
            .expect("encodes"),
    );
    let decoded: ExportTraceServiceRequest = Codec::Protobuf.decode(body.clone()).expect("decodes");
    let id = &decoded.resource_spans[0].scope_spans[0].spans[0].trace_id;
    let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
    assert!(range.contains(&(id.as_ptr() as usize)), "the id was copied");
}
