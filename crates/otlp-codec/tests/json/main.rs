//! OTLP/JSON golden documents, one per rule of the OTLP specification's JSON
//! encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding),
//! plus malformed input that must fail with a useful error.
#![cfg(feature = "json")]

use bytes::Bytes;
use otlp_codec::{Codec, DecodeError, PathSegment};
use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use otlp_proto::common::v1::any_value::Value;
use otlp_proto::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use otlp_proto::metrics::v1::{metric, number_data_point};
use otlp_proto::trace::v1::{ResourceSpans, ScopeSpans, Span, span};

fn decode<M: otlp_codec::OtlpMessage>(json: &str) -> M {
    match Codec::Json.decode(Bytes::copy_from_slice(json.as_bytes())) {
        Ok(message) => message,
        Err(error) => panic!("{error}\nin {json}"),
    }
}

fn decode_err<M: otlp_codec::OtlpMessage + std::fmt::Debug>(json: &str) -> DecodeError {
    match Codec::Json.decode::<M>(Bytes::copy_from_slice(json.as_bytes())) {
        Ok(message) => panic!("decoded {message:?} from {json}"),
        Err(error) => error,
    }
}

fn encode<M: otlp_codec::OtlpMessage>(message: &M) -> String {
    let bytes = Codec::Json.encode_to_vec(message).expect("encodes");
    String::from_utf8(bytes).expect("JSON is UTF-8")
}

fn spans(request: &ExportTraceServiceRequest) -> &[Span] {
    &request.resource_spans[0].scope_spans[0].spans
}

fn one_span(span: Span) -> ExportTraceServiceRequest {
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

fn any(value: Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

/// The whole output format on one span: compact, lowerCamelCase, hex ids,
/// integer enums, int64 as strings, defaults omitted.
#[test]
fn output_is_compact_lower_camel_case_with_hex_ids_integer_enums_and_string_int64() {
    let request = one_span(Span {
        trace_id: Bytes::from_static(&[
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c,
        ]),
        span_id: Bytes::from_static(&[0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]),
        parent_span_id: Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 1]),
        name: "GET /".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: u64::MAX,
        dropped_attributes_count: 0,
        ..Default::default()
    });
    assert_eq!(
        encode(&request),
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"0000000000000001","name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"18446744073709551615"}]}]}]}"#
    );
}

/// "trace/span ids ... are case-insensitive hex", as the JavaScript exporter
/// writes them (uppercase) or others do (lowercase, mixed).
#[test]
fn ids_are_case_insensitive_hex() {
    let request: ExportTraceServiceRequest = decode(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"eEe19B7ec3C1b174",
             "links":[{"traceId":"5B8EFFF798038103d269b633813fc60c","spanId":"0102030405060708"}]}]}]}]}"#,
    );
    let span = &spans(&request)[0];
    assert_eq!(
        span.trace_id.as_ref(),
        [
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c
        ]
    );
    assert_eq!(
        span.span_id.as_ref(),
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
    );
    assert_eq!(span.parent_span_id, span.span_id);
    assert_eq!(span.links[0].trace_id, span.trace_id);
    assert_eq!(span.links[0].span_id.as_ref(), [1, 2, 3, 4, 5, 6, 7, 8]);

    let logs: ExportLogsServiceRequest = decode(
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"000102030405060708090A0B0C0D0E0F","spanId":"A0A1A2A3A4A5A6A7"}]}]}]}"#,
    );
    let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.trace_id.as_ref(), (0u8..16).collect::<Vec<_>>());
    assert_eq!(
        record.span_id.as_ref(),
        [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7]
    );

    let metrics: ExportMetricsServiceRequest = decode(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"exemplars":[{"traceId":"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF","spanId":"ffffffffffffffff","asInt":"1"}]}]}}]}]}]}"#,
    );
    let Some(metric::Data::Gauge(gauge)) =
        &metrics.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        panic!("a gauge: {metrics:?}");
    };
    let exemplar = &gauge.data_points[0].exemplars[0];
    assert_eq!(exemplar.trace_id.as_ref(), [0xff; 16]);
    assert_eq!(exemplar.span_id.as_ref(), [0xff; 8]);
}

/// Ids are hex, never base64: a base64 id is an error naming the field.
#[test]
fn a_base64_id_is_an_error_naming_the_field() {
    let error = decode_err::<ExportTraceServiceRequest>(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{"traceId":"W47/95gDgQPSabYzgT/GDA=="}]}]}]}"#,
    );
    assert_eq!(
        error.path(),
        [
            PathSegment::Field("resourceSpans"),
            PathSegment::Index(0),
            PathSegment::Field("scopeSpans"),
            PathSegment::Index(0),
            PathSegment::Field("spans"),
            PathSegment::Index(1),
            PathSegment::Field("traceId"),
        ]
    );
    let message = error.to_string();
    assert!(
        message.contains("resourceSpans[0].scopeSpans[0].spans[1].traceId"),
        "{message}"
    );
    assert!(message.contains("invalid hex id"), "{message}");
    assert!(message.contains("column"), "{message}");
}

/// "keys are lowerCamelCase only": snake_case keys are unknown and ignored.
#[test]
fn snake_case_keys_are_unknown_fields() {
    let request: ExportTraceServiceRequest = decode(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","trace_id":"5b8efff798038103d269b633813fc60c","start_time_unix_nano":"5"}]}]}]}"#,
    );
    let span = &spans(&request)[0];
    assert_eq!(span.name, "x");
    assert!(span.trace_id.is_empty());
    assert_eq!(span.start_time_unix_nano, 0);
    let request: ExportTraceServiceRequest = decode(r#"{"resource_spans":[{}]}"#);
    assert!(request.resource_spans.is_empty());
}

/// 64-bit integers: decimal strings or JSON numbers on input, including the
/// values beyond 2^53 that the JavaScript exporter must send as strings.
#[test]
fn int64_accepts_strings_and_numbers() {
    let request: ExportTraceServiceRequest = decode(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"startTimeUnixNano":"1700000000000000001","endTimeUnixNano":1700000000,
             "attributes":[{"key":"a","value":{"intValue":"-9223372036854775808"}},{"key":"b","value":{"intValue":42}},
                           {"key":"c","value":{"intValue":"9007199254740993"}}]}]}]}]}"#,
    );
    let span = &spans(&request)[0];
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_001);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000);
    let ints: Vec<_> = span
        .attributes
        .iter()
        .map(|kv| kv.value.clone().and_then(|v| v.value))
        .collect();
    assert_eq!(
        ints,
        [
            Some(Value::IntValue(i64::MIN)),
            Some(Value::IntValue(42)),
            Some(Value::IntValue(9_007_199_254_740_993))
        ]
    );
    // Out of range or not an integer at all.
    decode_err::<ExportTraceServiceRequest>(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"-1"}]}]}]}"#,
    );
    decode_err::<ExportTraceServiceRequest>(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"12x"}]}]}]}"#,
    );
    decode_err::<ExportTraceServiceRequest>(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":1.5}]}]}]}"#,
    );
}

/// "enums MUST be integers": written as integers, read from integers.
#[test]
fn enums_are_integers() {
    let request: ExportTraceServiceRequest = decode(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":3,"status":{"code":2,"message":"boom"}}]}]}]}"#,
    );
    let span = &spans(&request)[0];
    assert_eq!(span.kind, span::SpanKind::Client as i32);
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
    assert!(
        encode(&request).contains(r#""kind":3,"status":{"message":"boom","code":2}"#),
        "{}",
        encode(&request)
    );
}

/// Enum value names are not OTLP/JSON, but proto3 JSON writers send them;
/// they are accepted on input (output stays numeric).
#[test]
fn enum_names_are_accepted_on_input() {
    let request: ExportTraceServiceRequest = decode(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_CONSUMER","status":{"code":"STATUS_CODE_ERROR"}},{"kind":"4"}]}]}]}"#,
    );
    let spans = spans(&request);
    assert_eq!(spans[0].kind, span::SpanKind::Consumer as i32);
    assert_eq!(spans[0].status.as_ref().map(|s| s.code), Some(2));
    assert_eq!(spans[1].kind, 4);
    decode_err::<ExportTraceServiceRequest>(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_NOPE"}]}]}]}"#,
    );
}

/// Other `bytes` fields are base64; standard and URL-safe alphabets, padded or not.
#[test]
fn bytes_are_base64_in_either_alphabet_padded_or_not() {
    for text in ["+/8=", "+/8", "-_8=", "-_8"] {
        let json = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"b","value":{{"bytesValue":"{text}"}}}}]}}}}]}}"#
        );
        let request: ExportTraceServiceRequest = decode(&json);
        let value = request.resource_spans[0]
            .resource
            .as_ref()
            .map(|r| r.attributes[0].value.clone());
        assert_eq!(
            value,
            Some(Some(any(Value::BytesValue(Bytes::from_static(&[
                0xfb, 0xff
            ]))))),
            "{text}"
        );
    }
    let request = one_span(Span {
        attributes: vec![KeyValue {
            key: "b".into(),
            value: Some(any(Value::BytesValue(Bytes::from_static(&[0xfb, 0xff])))),
            key_strindex: 0,
        }],
        ..Default::default()
    });
    assert!(
        encode(&request).contains(r#"{"bytesValue":"+/8="}"#),
        "{}",
        encode(&request)
    );
    decode_err::<ExportTraceServiceRequest>(
        r#"{"resourceSpans":[{"resource":{"attributes":[{"value":{"bytesValue":"*"}}]}}]}"#,
    );
}

/// "receivers MUST ignore unknown fields", at any depth and of any shape.
#[test]
fn unknown_fields_are_ignored_at_any_depth() {
    let request: ExportTraceServiceRequest = decode(
        r#"{"extra":{"deep":[1,{"x":null}]},"resourceSpans":[{"unknown":true,"scopeSpans":[{"scope":{"name":"s","future":[[]]},
            "spans":[{"name":"n","newField":{"a":"b"},"attributes":[{"key":"k","value":{"stringValue":"v","otherValue":1},"x":2}]}]}]}]}"#,
    );
    let span = &spans(&request)[0];
    assert_eq!(span.name, "n");
    assert_eq!(
        span.attributes[0].value,
        Some(any(Value::StringValue("v".into())))
    );
    assert_eq!(
        request.resource_spans[0].scope_spans[0]
            .scope
            .as_ref()
            .map(|s| &*s.name),
        Some("s")
    );
}

/// Fields at their default value decode the same whether present, `null` or
/// absent — what `opentelemetry-proto`'s serde writes (defaults present) included.
#[test]
fn defaults_present_null_or_absent_decode_alike() {
    let present = r#"{"resourceSpans":[{"resource":{"attributes":[],"droppedAttributesCount":0,"entityRefs":[]},"scopeSpans":[{"scope":{"name":"","version":"","attributes":[],"droppedAttributesCount":0},"spans":[{"traceId":"","spanId":"","traceState":"","parentSpanId":"","flags":0,"name":"x","kind":0,"startTimeUnixNano":"0","endTimeUnixNano":"0","attributes":[],"droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"links":[],"droppedLinksCount":0,"status":null}],"schemaUrl":""}],"schemaUrl":""}]}"#;
    let null = r#"{"resourceSpans":[{"resource":{"attributes":null,"droppedAttributesCount":null},"scopeSpans":[{"scope":{"name":null},"spans":[{"traceId":null,"spanId":null,"traceState":null,"name":"x","kind":null,"startTimeUnixNano":null,"events":null,"status":null}],"schemaUrl":null}],"schemaUrl":null}]}"#;
    let absent =
        r#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"name":"x"}]}]}]}"#;
    let expected: ExportTraceServiceRequest = decode(absent);
    assert_eq!(decode::<ExportTraceServiceRequest>(present), expected);
    assert_eq!(decode::<ExportTraceServiceRequest>(null), expected);
    assert_eq!(spans(&expected)[0].name, "x");
}

/// Non-finite doubles are the proto3 JSON strings, both ways; finite doubles
/// may come as strings too.
#[test]
fn non_finite_doubles_are_strings() {
    let request: ExportMetricsServiceRequest = decode(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"asDouble":"NaN"},{"asDouble":"Infinity"},{"asDouble":"-Infinity"},{"asDouble":"2.5"},{"asDouble":1e3}]}}]}]}]}"#,
    );
    let Some(metric::Data::Gauge(gauge)) =
        &request.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        panic!("a gauge: {request:?}");
    };
    let values: Vec<f64> = gauge
        .data_points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(values[0].is_nan());
    assert_eq!(
        &values[1..],
        [f64::INFINITY, f64::NEG_INFINITY, 2.5, 1000.0]
    );
    let json = encode(&request);
    assert!(json.contains(r#"[{"asDouble":"NaN"},{"asDouble":"Infinity"},{"asDouble":"-Infinity"},{"asDouble":2.5},{"asDouble":1000.0}]"#), "{json}");
    // Rust's own spellings are not proto3 JSON.
    decode_err::<ExportMetricsServiceRequest>(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"asDouble":"inf"}]}}]}]}]}"#,
    );
}

/// Every `AnyValue` variant, nested arrays and kvlists included, both ways.
#[test]
fn every_any_value_variant() {
    let nested = any(Value::ArrayValue(ArrayValue {
        values: vec![
            any(Value::StringValue("s".into())),
            any(Value::BoolValue(true)),
            any(Value::IntValue(-7)),
            any(Value::DoubleValue(0.5)),
            any(Value::BytesValue(Bytes::from_static(b"hi"))),
            any(Value::ArrayValue(ArrayValue {
                values: vec![any(Value::ArrayValue(ArrayValue::default()))],
            })),
            any(Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "k".into(),
                    value: Some(any(Value::StringValue(Default::default()))),
                    key_strindex: 0,
                }],
            })),
            AnyValue { value: None },
        ],
    }));
    let request = one_span(Span {
        attributes: vec![KeyValue {
            key: "a".into(),
            value: Some(nested),
            key_strindex: 0,
        }],
        ..Default::default()
    });
    let json = encode(&request);
    assert_eq!(
        json,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"s"},{"boolValue":true},{"intValue":"-7"},{"doubleValue":0.5},{"bytesValue":"aGk="},{"arrayValue":{"values":[{"arrayValue":{}}]}},{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":""}}]}},{}]}}}]}]}]}]}"#
    );
    assert_eq!(decode::<ExportTraceServiceRequest>(&json), request);
}

/// JSON allows any `\uXXXX` escape, a lone UTF-16 surrogate included, and
/// JavaScript writes one for every string cut inside a surrogate pair (the
/// OpenTelemetry JS SDK's attribute length limit cuts by UTF-16 units). Such a
/// string decodes with U+FFFD in place of the lone surrogate — what the same
/// SDK's protobuf encoder sends for it — instead of failing the request;
/// paired escapes still decode to their character, in keys and values alike.
#[test]
fn lone_surrogate_escapes_decode_as_replacement_characters() {
    let request: ExportTraceServiceRequest = decode(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"cut \ud83d","attributes":[{"key":"k\udc00","value":{"stringValue":"\ud83d\ud83d\ude00 \ud83d\n\ude00"}}]}]}]}]}"#,
    );
    let span = &spans(&request)[0];
    assert_eq!(span.name, "cut \u{fffd}");
    assert_eq!(span.attributes[0].key, "k\u{fffd}");
    assert_eq!(
        span.attributes[0].value,
        Some(any(Value::StringValue(
            "\u{fffd}😀 \u{fffd}\n\u{fffd}".into()
        )))
    );
    // What is written back is valid UTF-8 and reads back the same.
    assert_eq!(
        decode::<ExportTraceServiceRequest>(&encode(&request)),
        request
    );
    // Raw bytes that are not UTF-8 stay an error, a raw encoded surrogate too.
    for raw in [&[0xff][..], &[0xed, 0xa0, 0xbd]] {
        let mut body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":""#.to_vec();
        let at = body.len();
        body.extend_from_slice(raw);
        body.extend_from_slice(br#""}]}]}]}"#);
        let error = Codec::Json
            .decode::<ExportTraceServiceRequest>(Bytes::from(body))
            .expect_err("not UTF-8");
        let expected = format!("not UTF-8 at byte {at}");
        assert!(error.to_string().contains(&expected), "{error}");
    }
}

/// Responses: partial success with int64 counts as strings.
#[test]
fn partial_success_response() {
    let response: ExportTraceServiceResponse =
        decode(r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad spans"}}"#);
    assert_eq!(
        response.partial_success.as_ref().map(|p| p.rejected_spans),
        Some(3)
    );
    assert_eq!(
        encode(&response),
        r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad spans"}}"#
    );
    assert_eq!(
        decode::<ExportTraceServiceResponse>("{}"),
        ExportTraceServiceResponse::default()
    );
}

/// Deep `AnyValue` nesting is rejected, not a stack overflow.
#[test]
fn deep_nesting_is_an_error() {
    let depth = 64;
    let mut json =
        String::from(r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":"#);
    for _ in 0..depth {
        json.push_str(r#"{"arrayValue":{"values":["#);
    }
    for _ in 0..depth {
        json.push_str("]}}");
    }
    json.push_str("}]}}]}");
    decode_err::<ExportTraceServiceRequest>(&json);

    // Within the limit, nesting is fine.
    let mut json =
        String::from(r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":"#);
    for _ in 0..16 {
        json.push_str(r#"{"arrayValue":{"values":["#);
    }
    for _ in 0..16 {
        json.push_str("]}}");
    }
    json.push_str("}]}}]}");
    decode::<ExportTraceServiceRequest>(&json);

    // Very deep plain JSON nesting in an unknown field is skipped without
    // recursion, so it neither crashes nor fails.
    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        decode::<ExportTraceServiceRequest>(&deep),
        ExportTraceServiceRequest::default()
    );
}

/// Malformed documents fail with an error, never a panic.
#[test]
fn malformed_documents_are_errors() {
    let valid = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"n","traceId":"5b8efff798038103d269b633813fc60c"}]}]}]}"#;
    for end in 0..valid.len() - 1 {
        decode_err::<ExportTraceServiceRequest>(&valid[..end]);
    }
    for wrong in [
        r#"[]"#,
        r#"{"resourceSpans":{}}"#,
        r#"{"resourceSpans":[1]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8"}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"x"}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"droppedEventsCount":-1}]}]}]}"#,
        r#"{"resourceSpans":[]} trailing"#,
        "\u{feff}{}",
    ] {
        decode_err::<ExportTraceServiceRequest>(wrong);
    }
}
