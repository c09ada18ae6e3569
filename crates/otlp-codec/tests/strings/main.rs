//! Strings through the public `Codec::decode`: protobuf strings and OTLP/JSON
//! strings without escapes are slices of the received body, and invalid UTF-8
//! is an error that says where, never a panic.

use bytes::Bytes;
use otlp_codec::Codec;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_proto::common::v1::{AnyValue, KeyValue, any_value};
use otlp_proto::strategy::{DEPTH, collector};
use otlp_proto::trace::v1::Span;
use proptest::prelude::*;

/// Whether `s` lies inside `body`'s memory.
fn inside(s: &str, body: &Bytes) -> bool {
    let range = body.as_ptr_range();
    range.contains(&s.as_ptr()) && s.as_ptr().wrapping_add(s.len()) <= range.end
}

/// Every non-empty span name and attribute key of `request`.
fn strings(request: &ExportTraceServiceRequest) -> Vec<&str> {
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans);
    spans
        .flat_map(|span| {
            std::iter::once(&*span.name).chain(span.attributes.iter().map(|kv| &*kv.key))
        })
        .filter(|s| !s.is_empty())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn decoded_strings_share_the_body(request in collector::trace::v1::export_trace_service_request(DEPTH)) {
        for codec in [Codec::Protobuf, Codec::Json] {
            let body = Bytes::from(codec.encode_to_vec(&request).unwrap());
            let decoded: ExportTraceServiceRequest = codec.decode(body.clone()).unwrap();
            prop_assert_eq!(&decoded, &request);
            for s in strings(&decoded) {
                // OTLP/JSON copies only strings that needed escapes.
                let escaped = s.chars().any(|c| c == '"' || c == '\\' || c < ' ');
                if codec == Codec::Protobuf || !escaped {
                    prop_assert!(inside(s, &body), "{} copied {:?}", codec, s);
                }
            }
        }
    }
}

#[test]
fn invalid_utf8_in_protobuf_names_the_field() {
    let kv = KeyValue {
        key: "k".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue("\u{7f}".into())),
        }),
        ..Default::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![otlp_proto::trace::v1::ResourceSpans {
            scope_spans: vec![otlp_proto::trace::v1::ScopeSpans {
                spans: vec![Span {
                    name: "\u{7f}".into(),
                    attributes: vec![kv],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let wire = Codec::Protobuf.encode_to_vec(&request).unwrap();
    // Each 0x7f (only the two strings hold one) in turn becomes a byte that is
    // not UTF-8.
    let at: Vec<usize> = (0..wire.len()).filter(|&i| wire[i] == 0x7f).collect();
    assert_eq!(at.len(), 2);
    for (i, field) in at.into_iter().zip(["Span.name", "AnyValue.value"]) {
        let mut broken = wire.clone();
        broken[i] = 0xff;
        let error = Codec::Protobuf
            .decode::<ExportTraceServiceRequest>(Bytes::from(broken))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not UTF-8"), "{error}");
        assert!(error.contains(field), "{error} does not name {field}");
    }
}

#[test]
fn invalid_utf8_in_json_is_an_error_naming_the_byte() {
    let mut body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x"}]}]}]}"#.to_vec();
    let at = body.iter().position(|&b| b == b'x').unwrap();
    body[at] = 0xff;
    let error = Codec::Json
        .decode::<ExportTraceServiceRequest>(Bytes::from(body))
        .unwrap_err();
    // JSON text must be UTF-8 as a whole (RFC 8259), so the offset is what
    // locates the fault.
    let message = error.to_string();
    assert!(
        message.contains(&format!("not UTF-8 at byte {at}")),
        "{message}"
    );
}
