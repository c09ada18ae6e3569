//! Cross-checks against `opentelemetry-proto`'s serde OTLP/JSON, the ecosystem's
//! reference: each side decodes what the other writes, to equal values
//! (compared by protobuf), and the canonical bench files decode as their `.pb`.
#![cfg(feature = "json")]

use bytes::Bytes;
use opentelemetry_proto::tonic::collector as theirs;
use otlp_codec::{Codec, OtlpMessage};
use otlp_proto::strategy::{DEPTH, collector};
use proptest::prelude::*;

/// Drops what `opentelemetry-proto` does not model (fields newer than its
/// proto version) by a protobuf round trip through its type, so both sides
/// hold the same value.
fn project<M: OtlpMessage, T: prost::Message + Default>(message: &M) -> (M, T) {
    let theirs =
        T::decode(message.encode_to_vec().as_slice()).expect("their type decodes our protobuf");
    let ours =
        M::decode(theirs.encode_to_vec().as_slice()).expect("our type decodes their protobuf");
    (ours, theirs)
}

/// We decode what `opentelemetry-proto`'s serde writes, to the same value.
///
/// The other direction is checked on realistic requests only
/// (`they_read_our_realistic_requests`, and the bench files), because their
/// reader deviates from OTLP/JSON on arbitrary values: it requires keys a writer
/// may omit at their default (`key`, `schemaUrl`), reads the responses' int64
/// `rejected*` counts only as numbers, rejects `"NaN"`/`"Infinity"` in
/// `doubleValue`, and drops some histogram points.
fn cross_check<M, T>(message: &M) -> Result<(), TestCaseError>
where
    M: OtlpMessage + std::fmt::Debug + PartialEq,
    T: prost::Message + Default + serde::Serialize + serde::de::DeserializeOwned,
{
    let (ours, _) = project::<M, T>(message);
    let (_, reference) = project::<M, T>(&finite(&ours)?);

    // We decode what they write.
    let json = serde_json::to_vec(&reference).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let decoded: M = Codec::Json
        .decode(Bytes::from(json.clone()))
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&json))))?;
    prop_assert_eq!(
        decoded.encode_to_vec(),
        reference.encode_to_vec(),
        "we read {}",
        String::from_utf8_lossy(&json)
    );
    Ok(())
}

/// The value with every non-finite double replaced by 1.0: their writer turns
/// those into `null` (serde_json's default), which is not OTLP/JSON.
fn finite<M: OtlpMessage>(message: &M) -> Result<M, TestCaseError> {
    let json = Codec::Json
        .encode_to_vec(message)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let json = String::from_utf8(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Inside JSON strings a quote is escaped, so these only match whole values.
    let json = json
        .replace("\"NaN\"", "1.0")
        .replace("\"Infinity\"", "1.0")
        .replace("\"-Infinity\"", "1.0");
    Codec::Json
        .decode(Bytes::from(json))
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn traces(request in collector::trace::v1::export_trace_service_request(DEPTH),
              response in collector::trace::v1::export_trace_service_response(DEPTH)) {
        cross_check::<_, theirs::trace::v1::ExportTraceServiceRequest>(&request)?;
        cross_check::<_, theirs::trace::v1::ExportTraceServiceResponse>(&response)?;
    }

    #[test]
    fn metrics(request in collector::metrics::v1::export_metrics_service_request(DEPTH),
               response in collector::metrics::v1::export_metrics_service_response(DEPTH)) {
        cross_check::<_, theirs::metrics::v1::ExportMetricsServiceRequest>(&request)?;
        cross_check::<_, theirs::metrics::v1::ExportMetricsServiceResponse>(&response)?;
    }

    #[test]
    fn logs(request in collector::logs::v1::export_logs_service_request(DEPTH),
            response in collector::logs::v1::export_logs_service_response(DEPTH)) {
        cross_check::<_, theirs::logs::v1::ExportLogsServiceRequest>(&request)?;
        cross_check::<_, theirs::logs::v1::ExportLogsServiceResponse>(&response)?;
    }
}

/// A realistic request of each signal, every key that `opentelemetry-proto`
/// insists on present: they read exactly what we wrote.
#[test]
fn they_read_our_realistic_requests() {
    use otlp_proto::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
    use otlp_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use otlp_proto::resource::v1::Resource;
    use otlp_proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};

    let attribute = |key: &str, value: Value| KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    };
    let resource = Resource {
        attributes: vec![attribute(
            "service.name",
            Value::StringValue("checkout".into()),
        )],
        ..Default::default()
    };
    let scope = InstrumentationScope {
        name: "shop".into(),
        version: "1.0.0".into(),
        ..Default::default()
    };
    let schema_url = "https://opentelemetry.io/schemas/1.26.0".to_string();
    let traces = otlp_proto::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope.clone()),
                spans: vec![Span {
                    trace_id: Bytes::from_static(&[7; 16]),
                    span_id: Bytes::from_static(&[9; 8]),
                    name: "GET /api/users/{id}".into(),
                    kind: 2,
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_250_000_000,
                    attributes: vec![
                        attribute("http.response.status_code", Value::IntValue(200)),
                        attribute("ratio", Value::DoubleValue(0.25)),
                        attribute("ok", Value::BoolValue(true)),
                    ],
                    events: vec![Event {
                        time_unix_nano: 1_700_000_000_100_000_000,
                        name: "exception".into(),
                        ..Default::default()
                    }],
                    status: Some(Status {
                        message: "boom".into(),
                        code: 2,
                    }),
                    ..Default::default()
                }],
                schema_url: schema_url.clone().into(),
            }],
            schema_url: schema_url.clone().into(),
        }],
    };
    let logs = otlp_proto::collector::logs::v1::ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope),
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    severity_number: 9,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue {
                        value: Some(Value::StringValue("Request completed".into())),
                    }),
                    trace_id: Bytes::from_static(&[7; 16]),
                    span_id: Bytes::from_static(&[9; 8]),
                    flags: 1,
                    ..Default::default()
                }],
                schema_url: schema_url.clone().into(),
            }],
            schema_url: schema_url.into(),
        }],
    };
    fn they_read<M: OtlpMessage, T: prost::Message + serde::de::DeserializeOwned>(message: &M) {
        let json = Codec::Json.encode_to_vec(message).expect("encodes");
        let decoded: T = serde_json::from_slice(&json)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&json)));
        assert_eq!(
            decoded.encode_to_vec(),
            message.encode_to_vec(),
            "{}",
            String::from_utf8_lossy(&json)
        );
    }
    they_read::<_, theirs::trace::v1::ExportTraceServiceRequest>(&traces);
    they_read::<_, theirs::logs::v1::ExportLogsServiceRequest>(&logs);
}

/// The canonical bench files: each `.json` decodes to what its `.pb` holds.
/// Needs `OTLP_BENCH_DATA` (e.g. `../shared/bench/data`); skipped without it.
#[test]
fn bench_data_json_matches_protobuf() {
    let Some(dir) = std::env::var_os("OTLP_BENCH_DATA") else {
        eprintln!("skipped: set OTLP_BENCH_DATA to the bench data directory to run this check");
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let read = |name: &str| -> Bytes {
        let path = dir.join(name);
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .into()
    };
    fn same<M: OtlpMessage + PartialEq + std::fmt::Debug>(json: Bytes, pb: Bytes, name: &str) {
        let from_json: M = Codec::Json
            .decode(json)
            .unwrap_or_else(|e| panic!("{name}.json: {e}"));
        let from_pb: M = Codec::Protobuf
            .decode(pb)
            .unwrap_or_else(|e| panic!("{name}.pb: {e}"));
        assert!(from_json == from_pb, "{name}.json and {name}.pb differ");
    }
    fn they_read<M: OtlpMessage, T: prost::Message + serde::de::DeserializeOwned>(
        pb: Bytes,
        name: &str,
    ) {
        let ours: M = Codec::Protobuf
            .decode(pb)
            .unwrap_or_else(|e| panic!("{name}.pb: {e}"));
        let json = Codec::Json.encode_to_vec(&ours).expect("encodes");
        let theirs: T =
            serde_json::from_slice(&json).unwrap_or_else(|e| panic!("they read our {name}: {e}"));
        assert!(
            theirs.encode_to_vec() == ours.encode_to_vec(),
            "they read our {name} differently"
        );
    }
    use otlp_proto::collector::{logs, metrics, trace};
    same::<trace::v1::ExportTraceServiceRequest>(read("traces.json"), read("traces.pb"), "traces");
    same::<metrics::v1::ExportMetricsServiceRequest>(
        read("metrics.json"),
        read("metrics.pb"),
        "metrics",
    );
    same::<logs::v1::ExportLogsServiceRequest>(read("logs.json"), read("logs.pb"), "logs");
    they_read::<trace::v1::ExportTraceServiceRequest, theirs::trace::v1::ExportTraceServiceRequest>(
        read("traces.pb"),
        "traces",
    );
    they_read::<
        metrics::v1::ExportMetricsServiceRequest,
        theirs::metrics::v1::ExportMetricsServiceRequest,
    >(read("metrics.pb"), "metrics");
    they_read::<logs::v1::ExportLogsServiceRequest, theirs::logs::v1::ExportLogsServiceRequest>(
        read("logs.pb"),
        "logs",
    );
}
