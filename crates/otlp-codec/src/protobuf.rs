//! A protobuf decoder and encoder specialised for the OTLP messages.
//!
//! prost's derived decoder is generic over `Buf` and decodes field by field
//! through shared helpers; this one is generated per message by
//! `cargo xtask codegen` (`generated/protobuf.rs`) and reads one contiguous
//! `&[u8]` with an index. It takes `bytes` and `string` fields as slices of the
//! body (no copy; strings validated as UTF-8), and sizes each repeated
//! field's `Vec` by counting the run of its elements before the first push.
//!
//! It is exact by construction where it matters: for every input it accepts it
//! builds the value prost builds (the same merge rules: last scalar wins,
//! repeated fields append, a repeated message field merges, a oneof merges into
//! the variant it already holds), and it gives up ([`Fail`]) on anything else —
//! every malformed input, and a few valid but unusual ones (groups). The caller
//! then decodes with prost, whose result and error messages are the reference.
//! So errors cost a second decode, and cost nothing on the fast path.

use bytes::Bytes;
use otlp_proto::ByteString;

#[allow(clippy::all, unused_imports)]
mod generated {
    include!("generated/protobuf.rs");
}

/// How deep messages may nest: prost's own limit, counted the same way, so
/// that nesting never decides between the two decoders.
const RECURSION_LIMIT: u32 = 100;

/// The input is not one this decoder accepts; decode it with prost instead.
#[derive(Debug)]
pub(crate) struct Fail;

/// A message the specialised decoder can merge from the wire.
pub(crate) trait Decode: Default {
    /// Merges the fields in `r.buf[r.pos..end]` into `self`, as prost's
    /// `merge` does. `depth` is how many more levels of nesting are allowed.
    fn merge(&mut self, r: &mut Reader<'_>, end: usize, depth: u32) -> Result<(), Fail>;
}

/// Decodes a whole message from `body`.
pub(crate) fn decode<M: Decode>(body: &Bytes) -> Result<M, Fail> {
    let mut reader = Reader {
        buf: body,
        source: body,
        pos: 0,
    };
    let mut message = M::default();
    message.merge(&mut reader, body.len(), RECURSION_LIMIT)?;
    Ok(message)
}

/// A cursor over the body being decoded.
///
/// Varints and keys are read up to the end of the body rather than of the
/// enclosing message: a field that runs past its message's end is caught when
/// the message's loop stops (`finish`), and every length is checked against
/// the enclosing message's end before anything is taken.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    source: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    /// Whether fields remain before `end`.
    #[inline(always)]
    pub(crate) fn more(&self, end: usize) -> bool {
        self.pos < end
    }

    /// The end of a message's fields: exactly at its end, as prost requires.
    #[inline(always)]
    pub(crate) fn finish(&self, end: usize) -> Result<(), Fail> {
        if self.pos == end { Ok(()) } else { Err(Fail) }
    }

    /// A field key (`tag << 3 | wire type`); prost rejects keys beyond `u32`.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<u32, Fail> {
        let key = self.varint()?;
        u32::try_from(key).map_err(|_| Fail)
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, Fail> {
        match self.buf.get(self.pos) {
            Some(&byte) if byte < 0x80 => {
                self.pos += 1;
                Ok(u64::from(byte))
            }
            _ => self.varint_slow(),
        }
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, Fail> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos + i).ok_or(Fail)?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                // The tenth byte may carry only the 64th bit (prost's rule).
                if i == 9 && byte > 1 {
                    return Err(Fail);
                }
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(Fail)
    }

    #[inline(always)]
    pub(crate) fn fixed64(&mut self, end: usize) -> Result<u64, Fail> {
        let bytes = self.take(8, end)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| Fail)?))
    }

    #[inline(always)]
    pub(crate) fn fixed32(&mut self, end: usize) -> Result<u32, Fail> {
        let bytes = self.take(4, end)?;
        Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| Fail)?))
    }

    /// `len` bytes, all before `end`.
    #[inline(always)]
    fn take(&mut self, len: usize, end: usize) -> Result<&[u8], Fail> {
        let start = self.pos;
        let stop = start
            .checked_add(len)
            .filter(|&stop| stop <= end)
            .ok_or(Fail)?;
        let bytes = self.buf.get(start..stop).ok_or(Fail)?;
        self.pos = stop;
        Ok(bytes)
    }

    /// The length prefix of a length-delimited field, checked against `end`.
    #[inline(always)]
    fn len(&mut self, end: usize) -> Result<usize, Fail> {
        let len = usize::try_from(self.varint()?).map_err(|_| Fail)?;
        match end.checked_sub(self.pos) {
            Some(room) if len <= room => Ok(len),
            _ => Err(Fail),
        }
    }

    /// Replaces `value` with a string field, as prost does.
    #[inline(always)]
    pub(crate) fn string(&mut self, value: &mut ByteString, end: usize) -> Result<(), Fail> {
        *value = self.new_string(end)?;
        Ok(())
    }

    /// A string field as a slice of the body, checked to be UTF-8.
    #[inline(always)]
    pub(crate) fn new_string(&mut self, end: usize) -> Result<ByteString, Fail> {
        let bytes = self.new_bytes(end)?;
        ByteString::try_from(bytes).map_err(|_| Fail)
    }

    /// Replaces `value` with a `bytes` field: a slice of the body, not a copy.
    #[inline(always)]
    pub(crate) fn bytes(&mut self, value: &mut Bytes, end: usize) -> Result<(), Fail> {
        *value = self.new_bytes(end)?;
        Ok(())
    }

    /// A `bytes` field as a slice of the body.
    #[inline(always)]
    pub(crate) fn new_bytes(&mut self, end: usize) -> Result<Bytes, Fail> {
        let len = self.len(end)?;
        let start = self.pos;
        self.pos += len;
        // An empty slice needs no reference to the body.
        Ok(if len == 0 {
            Bytes::new()
        } else {
            self.source.slice(start..start + len)
        })
    }

    /// Merges a length-delimited message field into `value`.
    #[inline(always)]
    pub(crate) fn message<M: Decode>(
        &mut self,
        value: &mut M,
        end: usize,
        depth: u32,
    ) -> Result<(), Fail> {
        let len = self.len(end)?;
        if depth == 0 {
            return Err(Fail);
        }
        value.merge(self, self.pos + len, depth - 1)
    }

    /// Appends one element of a repeated message field whose key is `key`.
    /// Before the first push into a full `Vec`, the run of consecutive
    /// elements with the same key is counted so the `Vec` grows once.
    #[inline(always)]
    pub(crate) fn repeated_message<M: Decode>(
        &mut self,
        values: &mut Vec<M>,
        key: u32,
        end: usize,
        depth: u32,
    ) -> Result<(), Fail> {
        if values.len() == values.capacity() {
            values.reserve(self.run_len(key, end));
        }
        values.push(M::default());
        let last = values.last_mut().ok_or(Fail)?;
        self.message(last, end, depth)
    }

    /// How many length-delimited fields with key `key` follow one another from
    /// here (the length of the first one), up to `end`. Stops early, never
    /// fails: a short count only means the `Vec` grows again.
    fn run_len(&self, key: u32, end: usize) -> usize {
        // Field numbers of OTLP messages are below 2048: keys fit two bytes.
        let (key_bytes, key_len) = if key < 0x80 {
            ([key as u8, 0], 1)
        } else {
            ([(key as u8) | 0x80, (key >> 7) as u8], 2)
        };
        let key_bytes = &key_bytes[..key_len];
        let mut probe = Reader {
            buf: self.buf,
            source: self.source,
            pos: self.pos,
        };
        let mut count = 1;
        while let Ok(len) = probe.len(end) {
            probe.pos += len;
            match self.buf.get(probe.pos..end) {
                Some(rest) if rest.starts_with(key_bytes) => {
                    probe.pos += key_len;
                    count += 1;
                }
                _ => break,
            }
        }
        count
    }

    /// Appends the elements of a packed repeated varint field.
    pub(crate) fn packed_varint<T>(
        &mut self,
        values: &mut Vec<T>,
        end: usize,
        convert: impl Fn(u64) -> T,
    ) -> Result<(), Fail> {
        let len = self.len(end)?;
        let stop = self.pos + len;
        let slice = self.buf.get(self.pos..stop).ok_or(Fail)?;
        // Each varint ends with one byte below 0x80.
        values.reserve(slice.iter().filter(|&&b| b < 0x80).count());
        while self.pos < stop {
            values.push(convert(self.varint()?));
        }
        self.finish(stop)
    }

    /// Appends the elements of a packed repeated 64-bit field.
    pub(crate) fn packed_fixed64<T>(
        &mut self,
        values: &mut Vec<T>,
        end: usize,
        convert: impl Fn(u64) -> T,
    ) -> Result<(), Fail> {
        let len = self.len(end)?;
        if len % 8 != 0 {
            return Err(Fail);
        }
        let stop = self.pos + len;
        values.reserve(len / 8);
        while self.pos < stop {
            values.push(convert(self.fixed64(stop)?));
        }
        Ok(())
    }

    /// Appends the elements of a packed repeated 32-bit field.
    #[allow(dead_code)] // No OTLP message has one today; generated when one does.
    pub(crate) fn packed_fixed32<T>(
        &mut self,
        values: &mut Vec<T>,
        end: usize,
        convert: impl Fn(u32) -> T,
    ) -> Result<(), Fail> {
        let len = self.len(end)?;
        if len % 4 != 0 {
            return Err(Fail);
        }
        let stop = self.pos + len;
        values.reserve(len / 4);
        while self.pos < stop {
            values.push(convert(self.fixed32(stop)?));
        }
        Ok(())
    }

    /// Skips a field this message does not know. `known` lists the message's
    /// field numbers: one of them with an unexpected wire type is an error in
    /// prost, so it is left to prost. Groups are left to prost too.
    #[inline(never)]
    pub(crate) fn skip(&mut self, key: u32, end: usize, known: &[u32]) -> Result<(), Fail> {
        let tag = key >> 3;
        if tag == 0 || known.contains(&tag) {
            return Err(Fail);
        }
        match key & 7 {
            0 => self.varint().map(drop),
            1 => self.take(8, end).map(drop),
            2 => {
                let len = self.len(end)?;
                self.pos += len;
                Ok(())
            }
            5 => self.take(4, end).map(drop),
            _ => Err(Fail),
        }
    }
}

/// A message the specialised encoder can write.
///
/// prost's `encode` asks every nested message for its `encoded_len` at every
/// level above it, so a leaf's length is computed once per ancestor. Here
/// `measure` computes each nested length once, recording it in pre-order, and
/// `write` takes them back in the same order.
pub(crate) trait Encode {
    /// The encoded length of `self`'s fields; pushes the length of every
    /// nested message (and packed varint field) below it onto `lens`.
    fn measure(&self, lens: &mut Vec<u32>) -> usize;
    /// Writes `self`'s fields, exactly the bytes prost writes.
    fn write(&self, w: &mut Writer<'_>);
}

/// The output and the lengths `measure` recorded.
pub(crate) struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    lens: &'a [u32],
    next: usize,
}

impl Writer<'_> {
    /// Writes the next recorded length.
    #[inline(always)]
    pub(crate) fn len_prefix(&mut self) {
        // Always present: `write` visits what `measure` visited, in order.
        let len = self.lens.get(self.next).copied().unwrap_or_default();
        self.next += 1;
        self.varint(u64::from(len));
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push(value as u8 | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    #[inline(always)]
    pub(crate) fn fixed64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    #[inline(always)]
    #[allow(dead_code)] // No OTLP message has a singular 32-bit field written today.
    pub(crate) fn fixed32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    #[inline(always)]
    pub(crate) fn bytes(&mut self, value: &[u8]) {
        self.buf.extend_from_slice(value);
    }
}

/// The encoded length of a varint.
#[inline(always)]
pub(crate) fn varint_len(value: u64) -> usize {
    ((((value | 1).ilog2()) * 9 + 73) / 64) as usize
}

std::thread_local! {
    /// The lengths of the last encode on this thread, kept for the next one.
    static LENS: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A lengths buffer larger than this (16 MiB) is not kept between encodes.
const MAX_KEPT_LENS: usize = 4 << 20;

/// Appends `message`'s encoding to `buf`. Returns `false`, writing nothing,
/// for a message of 4 GiB or more, whose nested lengths may not fit the
/// `u32`s recorded (protobuf itself caps messages at 2 GiB).
pub(crate) fn encode<M: Encode>(message: &M, buf: &mut Vec<u8>) -> bool {
    let mut lens = LENS.take();
    lens.clear();
    let len = message.measure(&mut lens);
    // Every nested length is at most the total, so this bounds them all.
    let fits = u32::try_from(len).is_ok();
    if fits {
        buf.reserve(len);
        message.write(&mut Writer {
            buf,
            lens: &lens,
            next: 0,
        });
    }
    if lens.capacity() <= MAX_KEPT_LENS {
        LENS.set(lens);
    }
    fits
}

/// `sint32`'s zigzag encoding, undone.
#[inline(always)]
pub(crate) fn zigzag32(value: u64) -> i32 {
    let value = value as u32;
    ((value >> 1) as i32) ^ (-((value & 1) as i32))
}

/// `sint64`'s zigzag encoding, undone.
#[allow(dead_code)] // No OTLP message has a `sint64` today.
#[inline(always)]
pub(crate) fn zigzag64(value: u64) -> i64 {
    ((value >> 1) as i64) ^ (-((value & 1) as i64))
}

#[cfg(test)]
mod tests {
    use crate::test_support::mutations;
    use otlp_proto::collector::{logs, metrics, profiles, trace};
    use otlp_proto::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
    use otlp_proto::strategy::{DEPTH, collector};
    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    /// The fast decoder accepts what prost encodes and builds prost's value.
    fn agrees<M: Decode + Encode + Message + PartialEq + std::fmt::Debug>(
        message: &M,
    ) -> Result<(), TestCaseError> {
        encodes_like_prost(message)?;
        let body = Bytes::from(message.encode_to_vec());
        let fast = decode::<M>(&body).map_err(|_| TestCaseError::fail("fast decode failed"))?;
        prop_assert_eq!(&fast, message);
        prop_assert_eq!(
            &fast,
            &M::decode(body).expect("prost decodes its own output")
        );
        Ok(())
    }

    /// The specialised encoder writes exactly prost's bytes.
    fn encodes_like_prost<M: Encode + Message>(message: &M) -> Result<(), TestCaseError> {
        let mut ours = vec![0xAA];
        prop_assert!(encode(message, &mut ours));
        prop_assert_eq!(&ours[1..], &message.encode_to_vec()[..]);
        Ok(())
    }

    /// On any input, the fast decoder either gives up or agrees with prost;
    /// it never accepts what prost rejects. Compared through prost's encoding
    /// so that NaN equals itself.
    fn never_disagrees<M: Decode + Message>(body: &[u8]) -> Result<(), TestCaseError> {
        let body = Bytes::copy_from_slice(body);
        if let Ok(fast) = decode::<M>(&body) {
            match M::decode(body) {
                Ok(reference) => prop_assert_eq!(fast.encode_to_vec(), reference.encode_to_vec()),
                Err(error) => {
                    prop_assert!(false, "fast decode accepted what prost rejects: {error}")
                }
            }
        }
        Ok(())
    }

    fn all_requests(body: &[u8]) -> Result<(), TestCaseError> {
        never_disagrees::<trace::v1::ExportTraceServiceRequest>(body)?;
        never_disagrees::<metrics::v1::ExportMetricsServiceRequest>(body)?;
        never_disagrees::<logs::v1::ExportLogsServiceRequest>(body)?;
        never_disagrees::<profiles::v1development::ExportProfilesServiceRequest>(body)?;
        never_disagrees::<trace::v1::ExportTraceServiceResponse>(body)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn equals_prost_on_traces(m in collector::trace::v1::export_trace_service_request(DEPTH),
                                  r in collector::trace::v1::export_trace_service_response(DEPTH)) {
            agrees(&m)?;
            agrees(&r)?;
        }

        #[test]
        fn equals_prost_on_metrics(m in collector::metrics::v1::export_metrics_service_request(DEPTH),
                                   r in collector::metrics::v1::export_metrics_service_response(DEPTH)) {
            agrees(&m)?;
            agrees(&r)?;
        }

        #[test]
        fn equals_prost_on_logs(m in collector::logs::v1::export_logs_service_request(DEPTH),
                                r in collector::logs::v1::export_logs_service_response(DEPTH)) {
            agrees(&m)?;
            agrees(&r)?;
        }

        #[test]
        fn equals_prost_on_profiles(m in collector::profiles::v1development::export_profiles_service_request(DEPTH),
                                    r in collector::profiles::v1development::export_profiles_service_response(DEPTH)) {
            agrees(&m)?;
            agrees(&r)?;
        }

        #[test]
        fn never_disagrees_on_garbage(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            all_requests(&body)?;
        }

        #[test]
        fn never_disagrees_on_broken_messages(
            m in collector::trace::v1::export_trace_service_request(3),
            l in collector::logs::v1::export_logs_service_request(3),
            p in collector::metrics::v1::export_metrics_service_request(3),
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            for body in [m.encode_to_vec(), l.encode_to_vec(), p.encode_to_vec()] {
                for broken in mutations(&body, at, byte) {
                    all_requests(&broken)?;
                }
            }
        }
    }

    fn string_value(s: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }
    }

    fn fast<M: Decode>(body: &[u8]) -> Result<M, Fail> {
        decode(&Bytes::copy_from_slice(body))
    }

    #[test]
    fn encoder_writes_defaults_negatives_and_nan_like_prost() {
        use otlp_proto::metrics::v1::{HistogramDataPoint, NumberDataPoint, number_data_point};
        use otlp_proto::trace::v1::Span;
        let span = Span {
            kind: -1,
            dropped_attributes_count: u32::MAX,
            start_time_unix_nano: u64::MAX,
            ..Default::default()
        };
        let points = [
            NumberDataPoint {
                value: Some(number_data_point::Value::AsDouble(0.0)),
                ..Default::default()
            },
            NumberDataPoint {
                value: Some(number_data_point::Value::AsDouble(f64::NAN)),
                ..Default::default()
            },
            NumberDataPoint {
                value: Some(number_data_point::Value::AsInt(-1)),
                ..Default::default()
            },
        ];
        let histogram = HistogramDataPoint {
            sum: Some(-0.0),
            min: Some(0.0),
            bucket_counts: vec![0, 1],
            explicit_bounds: vec![-0.0],
            ..Default::default()
        };
        encodes_like_prost(&span).unwrap();
        for point in &points {
            encodes_like_prost(point).unwrap();
        }
        encodes_like_prost(&histogram).unwrap();
        encodes_like_prost(&Span::default()).unwrap();
    }

    #[test]
    fn varint_len_matches_prost() {
        for shift in 0..64 {
            for value in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                assert_eq!(
                    varint_len(value),
                    prost::encoding::encoded_len_varint(value)
                );
            }
        }
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn unknown_fields_are_skipped_in_every_wire_type() {
        let mut body = string_value("x").encode_to_vec();
        // field 15 as varint, 64-bit, length-delimited and 32-bit.
        body.extend_from_slice(&[15 << 3, 0x96, 0x01]);
        body.extend_from_slice(&[15 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8]);
        body.extend_from_slice(&[15 << 3 | 2, 2, 0xff, 0xfe]);
        body.extend_from_slice(&[15 << 3 | 5, 1, 2, 3, 4]);
        assert_eq!(fast::<AnyValue>(&body).unwrap(), string_value("x"));
        // Groups are left to prost.
        assert!(fast::<AnyValue>(&[15 << 3 | 3, 15 << 3 | 4]).is_err());
    }

    #[test]
    fn known_field_with_another_wire_type_is_left_to_prost() {
        // key (field 1) as a varint: prost rejects it, so must we.
        assert!(fast::<KeyValue>(&[1 << 3, 1]).is_err());
        assert!(KeyValue::decode(&[1u8 << 3, 1][..]).is_err());
    }

    #[test]
    fn repeated_singular_message_fields_merge_like_prost() {
        // KeyValue.value twice: the second merges into the first.
        let first = KeyValue {
            key: "a".into(),
            value: Some(string_value("x")),
            ..Default::default()
        };
        let second = KeyValue {
            key: "b".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![string_value("1")],
                })),
            }),
            ..Default::default()
        };
        let third = KeyValue {
            value: Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![string_value("2")],
                })),
            }),
            ..Default::default()
        };
        let mut body = first.encode_to_vec();
        body.extend(second.encode_to_vec());
        body.extend(third.encode_to_vec());
        let reference = KeyValue::decode(&body[..]).unwrap();
        assert_eq!(fast::<KeyValue>(&body).unwrap(), reference);
        // The oneof's array was merged: both elements are there.
        assert!(matches!(
            &reference.value.as_ref().unwrap().value,
            Some(any_value::Value::ArrayValue(a)) if a.values.len() == 2
        ));
    }

    #[test]
    fn packed_and_unpacked_repeated_scalars_both_decode() {
        use otlp_proto::metrics::v1::HistogramDataPoint;
        let point = HistogramDataPoint {
            bucket_counts: vec![1, 2, u64::MAX],
            explicit_bounds: vec![0.5, f64::INFINITY],
            ..Default::default()
        };
        let packed = point.encode_to_vec();
        assert_eq!(fast::<HistogramDataPoint>(&packed).unwrap(), point);
        // The same values unpacked: field 6 (fixed64) and 7 (double) one by one.
        let mut unpacked = Vec::new();
        for count in &point.bucket_counts {
            unpacked.push(6 << 3 | 1);
            unpacked.extend_from_slice(&count.to_le_bytes());
        }
        for bound in &point.explicit_bounds {
            unpacked.push(7 << 3 | 1);
            unpacked.extend_from_slice(&bound.to_le_bytes());
        }
        assert_eq!(fast::<HistogramDataPoint>(&unpacked).unwrap(), point);
        assert_eq!(HistogramDataPoint::decode(&unpacked[..]).unwrap(), point);
    }

    #[test]
    fn non_canonical_varints_decode_and_overlong_ones_fail() {
        // int_value = 1 written in 10 bytes; then the same with a bad 10th byte.
        let mut long = vec![3 << 3, 0x81];
        long.extend_from_slice(&[0x80; 8]);
        long.push(0x00);
        let expected = AnyValue {
            value: Some(any_value::Value::IntValue(1)),
        };
        assert_eq!(fast::<AnyValue>(&long).unwrap(), expected);
        assert_eq!(AnyValue::decode(&long[..]).unwrap(), expected);
        *long.last_mut().unwrap() = 0x02;
        assert!(fast::<AnyValue>(&long).is_err());
        assert!(AnyValue::decode(&long[..]).is_err());
    }

    #[test]
    fn nesting_stops_at_prosts_limit() {
        fn nested(levels: usize) -> AnyValue {
            let mut value = string_value("leaf");
            for _ in 0..levels {
                value = AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue {
                        values: vec![value],
                    })),
                };
            }
            value
        }
        for levels in [10, 49, 50, 51, 200] {
            let body = nested(levels).encode_to_vec();
            let ours = fast::<AnyValue>(&body);
            let prost = AnyValue::decode(&body[..]);
            assert_eq!(ours.is_ok(), prost.is_ok(), "{levels} levels");
            if let Ok(value) = ours {
                assert_eq!(value, nested(levels));
            }
        }
    }

    #[test]
    fn ids_share_the_body() {
        use otlp_proto::trace::v1::Span;
        let span = Span {
            trace_id: Bytes::from_static(&[7; 16]),
            ..Default::default()
        };
        let body = Bytes::from(span.encode_to_vec());
        let decoded = decode::<Span>(&body).unwrap();
        assert_eq!(decoded.trace_id, span.trace_id);
        assert_eq!(decoded.trace_id.as_ptr(), body[2..].as_ptr());
    }

    /// Whether `s` lies inside `body`'s memory.
    fn inside(s: &str, body: &Bytes) -> bool {
        let range = body.as_ptr_range();
        range.contains(&s.as_ptr()) && s.as_ptr().wrapping_add(s.len()) <= range.end
    }

    #[test]
    fn strings_share_the_body() {
        use otlp_proto::common::v1::EntityRef;
        use otlp_proto::trace::v1::Span;
        let span = Span {
            name: "GET /api/users/{id}".into(),
            attributes: vec![KeyValue {
                key: "http.route".into(),
                value: Some(string_value("/api/users/{id}")),
                ..Default::default()
            }],
            ..Default::default()
        };
        let body = Bytes::from(span.encode_to_vec());
        let decoded = decode::<Span>(&body).unwrap();
        assert_eq!(decoded, span);
        assert!(inside(&decoded.name, &body));
        assert!(inside(&decoded.attributes[0].key, &body));
        let Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }) = &decoded.attributes[0].value
        else {
            panic!("not a string value: {decoded:?}");
        };
        assert!(inside(value, &body));

        let entity = EntityRef {
            id_keys: vec!["service.name".into(), "ü".into()],
            ..Default::default()
        };
        let body = Bytes::from(entity.encode_to_vec());
        let decoded = decode::<EntityRef>(&body).unwrap();
        assert_eq!(decoded, entity);
        assert!(decoded.id_keys.iter().all(|key| inside(key, &body)));
    }

    #[test]
    fn invalid_utf8_and_truncation_fail() {
        assert!(fast::<KeyValue>(&[1 << 3 | 2, 1, 0xff]).is_err());
        assert!(fast::<KeyValue>(&[1 << 3 | 2, 5, b'a']).is_err());
        // A field running past the end of its message.
        assert!(fast::<AnyValue>(&[5 << 3 | 2, 2, 1 << 3 | 2, 1, b'a']).is_err());
    }
}
