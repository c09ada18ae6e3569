//! `Debug` prints enum fields by name, as prost-derive did, and trace and
//! span ids as hex, as OTLP/JSON writes them.

use bytes::Bytes;
use otlp_proto::logs::v1::{LogRecord, SeverityNumber};
use otlp_proto::trace::v1::{Span, span};

#[test]
fn debug_prints_enum_names_and_hex_ids() {
    let span = Span {
        trace_id: Bytes::from_static(&[0x5b; 16]),
        span_id: Bytes::from_static(&[0x0a, 1, 2, 3, 4, 5, 6, 0xff]),
        kind: span::SpanKind::Server as i32,
        name: "GET /".into(),
        links: vec![span::Link {
            trace_id: Bytes::from_static(&[0xab; 16]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let shown = format!("{span:?}");
    assert!(shown.starts_with("Span { trace_id: 5b5b5b5b"), "{shown}");
    assert!(shown.contains("span_id: 0a010203040506ff,"), "{shown}");
    assert!(shown.contains("parent_span_id: ,"), "{shown}");
    assert!(shown.contains("kind: Server,"), "{shown}");
    assert!(shown.contains("name: \"GET /\""), "{shown}");
    assert!(shown.contains("Link { trace_id: abababab"), "{shown}");

    let record = LogRecord {
        severity_number: SeverityNumber::Warn as i32,
        ..Default::default()
    };
    assert!(format!("{record:?}").contains("severity_number: Warn,"));
}

#[test]
fn an_enum_value_without_a_name_prints_as_its_number() {
    let span = Span {
        kind: 99,
        ..Default::default()
    };
    assert!(format!("{span:?}").contains("kind: 99,"));
}

#[test]
fn pretty_debug_still_nests() {
    let span = Span {
        kind: span::SpanKind::Client as i32,
        ..Default::default()
    };
    let shown = format!("{span:#?}");
    assert!(shown.contains("\n    kind: Client,\n"), "{shown}");
}
