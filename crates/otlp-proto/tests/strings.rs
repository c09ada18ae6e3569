//! The `ByteString` string fields through the generated `prost::Message`
//! impls: decoded from a `Bytes` body they share it, invalid UTF-8 is an error
//! that names the message and field, and prost's merge rules hold.

use bytes::Bytes;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_proto::common::v1::{AnyValue, EntityRef, KeyValue, any_value};
use otlp_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_proto::{ByteString, Message};

/// Whether `s` lies inside `body`'s memory.
fn inside(s: &ByteString, body: &Bytes) -> bool {
    let range = body.as_ptr_range();
    let start = s.as_bytes().as_ptr();
    range.contains(&start) && start.wrapping_add(s.len()) <= range.end
}

fn request(span: Span) -> ExportTraceServiceRequest {
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

fn string_attribute(key: &'static str, value: &'static str) -> KeyValue {
    KeyValue {
        key: ByteString::from_static(key),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

#[test]
fn decoded_strings_share_the_body() {
    let sent = request(Span {
        name: "GET /api/users/{id}".into(),
        attributes: vec![string_attribute("http.route", "/api/users/{id}")],
        ..Default::default()
    });
    let body = Bytes::from(sent.encode_to_vec());
    let decoded = ExportTraceServiceRequest::decode(body.clone()).unwrap();
    assert_eq!(decoded, sent);

    let span = &decoded.resource_spans[0].scope_spans[0].spans[0];
    assert!(inside(&span.name, &body), "span name was copied");
    assert!(inside(&span.attributes[0].key, &body), "key was copied");
    let Some(any_value::Value::StringValue(value)) = &span.attributes[0]
        .value
        .as_ref()
        .and_then(|v| v.value.as_ref())
    else {
        panic!("not a string value: {:?}", span.attributes[0]);
    };
    assert!(inside(value, &body), "oneof string was copied");
}

#[test]
fn decoding_from_a_slice_copies_and_still_equals() {
    let sent = request(Span {
        name: "copied".into(),
        ..Default::default()
    });
    let wire = sent.encode_to_vec();
    let decoded = ExportTraceServiceRequest::decode(wire.as_slice()).unwrap();
    assert_eq!(decoded, sent);
}

/// The wire form of a message whose only field, `tag`, is the length-delimited
/// `value`.
fn field(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag << 3 | 2, u8::try_from(value.len()).unwrap()];
    out.extend_from_slice(value);
    out
}

#[track_caller]
fn assert_invalid_utf8<M: Message + Default + std::fmt::Debug>(body: Vec<u8>, field: &str) {
    let error = M::decode(Bytes::from(body)).unwrap_err().to_string();
    assert!(
        error.contains("invalid string value: data is not UTF-8 encoded"),
        "{error}"
    );
    assert!(error.contains(field), "{error} does not name {field}");
}

#[test]
fn invalid_utf8_is_an_error_naming_the_field() {
    let bad = [b'a', 0xff, b'b'];
    // A singular field, a repeated one, a oneof member.
    assert_invalid_utf8::<KeyValue>(field(1, &bad), "KeyValue.key");
    assert_invalid_utf8::<EntityRef>(field(3, &bad), "EntityRef.id_keys");
    assert_invalid_utf8::<AnyValue>(field(1, &bad), "AnyValue.value");
    // Deep inside a request: every level on the way is named, innermost first.
    let span = field(5, &bad);
    let scope_spans = field(2, &span);
    let resource_spans = field(2, &scope_spans);
    let body = field(1, &resource_spans);
    assert_invalid_utf8::<ExportTraceServiceRequest>(
        body,
        "Span.name: ScopeSpans.spans: ResourceSpans.scope_spans",
    );
    // A truncated UTF-8 sequence, and an overlong encoding of '/'.
    assert_invalid_utf8::<KeyValue>(field(1, &[0xe2, 0x82]), "KeyValue.key");
    assert_invalid_utf8::<KeyValue>(field(1, &[0xc0, 0xaf]), "KeyValue.key");
}

#[test]
fn truncated_string_is_an_error() {
    let mut body = field(1, b"abc");
    body.truncate(3);
    let error = KeyValue::decode(Bytes::from(body)).unwrap_err().to_string();
    assert!(error.contains("KeyValue.key"), "{error}");
}

#[test]
fn strings_merge_like_prost() {
    // The last value of a singular string wins; repeated strings append.
    let mut body = field(1, b"first");
    body.extend(field(1, b"second"));
    assert_eq!(KeyValue::decode(Bytes::from(body)).unwrap().key, "second");

    let mut body = field(3, b"a");
    body.extend(field(3, b""));
    body.extend(field(3, "ü".as_bytes()));
    let entity = EntityRef::decode(Bytes::from(body)).unwrap();
    assert_eq!(entity.id_keys, ["a", "", "ü"]);

    // A string replaces whatever the oneof held.
    let mut body = field(5, &field(1, &field(1, b"nested")));
    body.extend(field(1, b"text"));
    let value = AnyValue::decode(Bytes::from(body)).unwrap();
    assert_eq!(
        value.value,
        Some(any_value::Value::StringValue("text".into()))
    );

    let mut value = value;
    value.clear();
    assert_eq!(value, AnyValue::default());
}

#[test]
fn encodes_like_prost_for_strings() {
    let kv = string_attribute("k", "v");
    // Key 1 "k", then the AnyValue (field 2) holding StringValue (field 1) "v".
    assert_eq!(kv.encode_to_vec(), [10, 1, b'k', 18, 3, 10, 1, b'v']);
    assert_eq!(kv.encoded_len(), 8);
    // An empty string is not written; an empty oneof string is.
    assert!(KeyValue::default().encode_to_vec().is_empty());
    let empty = AnyValue {
        value: Some(any_value::Value::StringValue(ByteString::new())),
    };
    assert_eq!(empty.encode_to_vec(), [10, 0]);
}
