//! The OTLP/JSON writer: generated per message (`generated/json.rs`) from the
//! same mapping as the serde impls, writing bytes directly.
//!
//! Going through serde's `Serializer` costs a size hint per object (every
//! field's default checked twice), a visitor call per value, a hex id checked
//! as UTF-8 and scanned for escapes, a base64 `String` per value. Writing
//! directly does none of that. The output is byte for byte what
//! `serde_json::to_writer` writes through the serde impls (tested).

use base64::Engine as _;
use bytes::Bytes;

#[allow(clippy::all)]
mod generated {
    include!("generated/json.rs");
}

/// A message with an OTLP/JSON writer.
pub(crate) trait WriteJson {
    /// Appends `self` as a compact OTLP/JSON object.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// A string, quoted and escaped as serde_json escapes it.
pub(crate) fn string(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Most strings need no escape: check eight bytes at a time.
    let mut clean = 0;
    for chunk in bytes.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        if needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        clean += 8;
    }
    let mut run = 0;
    for (i, &byte) in bytes.iter().enumerate().skip(clean) {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[run..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
                run = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(escape);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

const HEX: [u8; 16] = *b"0123456789abcdef";

/// Whether any byte of `word` is a control character, `"` or `\`.
#[inline(always)]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    below_space
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
}

/// A trace or span id as lowercase hex.
pub(crate) fn hex(out: &mut Vec<u8>, value: &Bytes) {
    out.push(b'"');
    let start = out.len();
    out.resize(start + value.len() * 2, 0);
    // The slice is exactly twice the input, so encoding cannot fail.
    let _ = const_hex::encode_to_slice(value, &mut out[start..]);
    out.push(b'"');
}

/// Other bytes as padded standard base64.
pub(crate) fn base64(out: &mut Vec<u8>, value: &Bytes) {
    let engine = &base64::engine::general_purpose::STANDARD;
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(value.len(), true).unwrap_or(usize::MAX);
    if len == usize::MAX {
        // Beyond what a Vec can hold anyway: let the engine report it.
        out.extend_from_slice(engine.encode(value).as_bytes());
    } else {
        out.resize(start + len, 0);
        let written = engine
            .encode_slice(value, &mut out[start..])
            .unwrap_or_default();
        out.truncate(start + written);
    }
    out.push(b'"');
}

/// A 64-bit integer as a decimal string, as OTLP/JSON writes them.
pub(crate) fn quoted_int<I: itoa::Integer>(out: &mut Vec<u8>, value: I) {
    out.push(b'"');
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    out.push(b'"');
}

/// A 32-bit integer or enum as a number.
pub(crate) fn int<I: itoa::Integer>(out: &mut Vec<u8>, value: I) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

pub(crate) fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// A double as serde_json writes it; non-finite ones as proto3 JSON strings.
pub(crate) fn double(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
    } else if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

#[cfg(test)]
mod tests {
    use otlp_proto::common::v1::{AnyValue, KeyValue, any_value};
    use otlp_proto::metrics::v1::{HistogramDataPoint, NumberDataPoint, number_data_point};
    use otlp_proto::strategy::{DEPTH, collector};
    use proptest::prelude::*;

    use super::*;
    use crate::serde_impl::Ser;

    /// Byte for byte what serde_json writes through the serde impls.
    fn same_as_serde<M: WriteJson>(message: &M) -> Result<(), TestCaseError>
    where
        for<'a> Ser<'a, M>: serde::Serialize,
    {
        let mut ours = Vec::new();
        message.write_json(&mut ours);
        let theirs = serde_json::to_vec(&Ser(message)).expect("serializes");
        prop_assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn writes_what_serde_writes(
            t in collector::trace::v1::export_trace_service_request(DEPTH),
            m in collector::metrics::v1::export_metrics_service_request(DEPTH),
            l in collector::logs::v1::export_logs_service_request(DEPTH),
            p in collector::profiles::v1development::export_profiles_service_request(DEPTH),
            r in collector::trace::v1::export_trace_service_response(DEPTH),
        ) {
            same_as_serde(&t)?;
            same_as_serde(&m)?;
            same_as_serde(&l)?;
            same_as_serde(&p)?;
            same_as_serde(&r)?;
        }

        #[test]
        fn strings_escape_like_serde(s in any::<String>(), ascii in "[\\x00-\\x7f]{0,40}") {
            for s in [s, ascii] {
                let mut ours = Vec::new();
                string(&mut ours, &s);
                prop_assert_eq!(ours, serde_json::to_vec(&s).expect("serializes"));
            }
        }
    }

    #[test]
    fn non_finite_doubles_empty_messages_and_controls() {
        let values = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1e300,
            5e-324,
        ];
        for value in values {
            same_as_serde(&NumberDataPoint {
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            })
            .unwrap();
            same_as_serde(&HistogramDataPoint {
                sum: Some(value),
                explicit_bounds: vec![value, 0.0],
                ..Default::default()
            })
            .unwrap();
        }
        same_as_serde(&AnyValue::default()).unwrap();
        same_as_serde(&KeyValue {
            key: "\u{0}\u{1f}\"\\\u{7f}\u{8}\u{c}é\n\r\tlong enough to take the chunked path\u{1}"
                .into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::BytesValue(Bytes::from_static(
                    b"\x00\xff\x10",
                ))),
            }),
            ..Default::default()
        })
        .unwrap();
    }
}
