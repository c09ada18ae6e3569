//! CBOR without serde: a reader and a writer generated per message
//! (`generated/cbor.rs`) from the same mapping as the serde impls, like the
//! MessagePack ones (`msgpack.rs`).
//!
//! The writer writes byte for byte what minicbor-serde writes through the
//! serde impls (tested): a definite-length map per message with as many
//! entries as fields that differ from their default, keys as text strings,
//! integers in their shortest form, doubles as 64-bit floats, ids and bytes as
//! byte strings.
//!
//! The reader ([`Reader`], with `impl ReadCbor` per message) keys on bytes and
//! takes text and byte strings as slices of the body (text checked as UTF-8),
//! where the serde path copies each. It accepts a subset of what the serde
//! path accepts, builds the same value (tested), and gives up ([`Fail`]) on
//! anything else — indefinite lengths, tags, half floats, `undefined` and
//! other simple values, the JSON-style forms (hex ids, numeric strings, enum
//! names), nesting beyond [`MAX_NESTING`] — which the serde path then decodes,
//! with its own errors.

use bytes::Bytes;
use otlp_proto::ByteString;

#[allow(clippy::all)]
mod generated {
    include!("generated/cbor.rs");
}

/// A message with a generated CBOR writer.
pub(crate) trait WriteCbor {
    /// Appends `self` as a CBOR map.
    fn write_cbor(&self, out: &mut Vec<u8>);
}

/// A head of major type `major` (its top three bits) and argument `value`, in
/// the shortest form, as minicbor writes it.
#[inline(always)]
fn head(out: &mut Vec<u8>, major: u8, value: u64) {
    if value < 24 {
        out.push(major | value.to_be_bytes()[7]);
    } else if let Ok(v) = u8::try_from(value) {
        out.extend_from_slice(&[major | 24, v]);
    } else if let Ok(v) = u16::try_from(value) {
        out.push(major | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(value) {
        out.push(major | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// A length as a head's argument (lossless: `usize` is at most 64 bits).
#[inline(always)]
fn len64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// A definite-length map header of `len` entries.
#[inline(always)]
pub(crate) fn map(out: &mut Vec<u8>, len: usize) {
    head(out, 0xa0, len64(len));
}

/// A definite-length array header of `len` elements.
#[inline(always)]
pub(crate) fn array(out: &mut Vec<u8>, len: usize) {
    head(out, 0x80, len64(len));
}

/// A text string.
#[inline(always)]
pub(crate) fn string(out: &mut Vec<u8>, value: &str) {
    head(out, 0x60, len64(value.len()));
    out.extend_from_slice(value.as_bytes());
}

/// A byte string.
#[inline(always)]
pub(crate) fn binary(out: &mut Vec<u8>, value: &[u8]) {
    head(out, 0x40, len64(value.len()));
    out.extend_from_slice(value);
}

#[inline(always)]
pub(crate) fn uint(out: &mut Vec<u8>, value: u64) {
    head(out, 0x00, value);
}

/// A signed integer: non-negative values as unsigned ones, negative ones as
/// major type 1 with argument `-1 - value`.
#[inline(always)]
pub(crate) fn sint(out: &mut Vec<u8>, value: i64) {
    match u64::try_from(value) {
        Ok(v) => head(out, 0x00, v),
        // `!value` is `-1 - value`, non-negative here.
        Err(_) => head(out, 0x20, u64::try_from(!value).unwrap_or(0)),
    }
}

#[inline(always)]
pub(crate) fn double(out: &mut Vec<u8>, value: f64) {
    out.push(0xfb);
    out.extend_from_slice(&value.to_be_bytes());
}

#[inline(always)]
pub(crate) fn boolean(out: &mut Vec<u8>, value: bool) {
    out.push(if value { 0xf5 } else { 0xf4 });
}

/// The CBOR reader gave up: decode with the serde path, whose result and
/// errors (with the field path) are the reference.
#[derive(Debug)]
pub(crate) struct Fail;

/// A message with a generated CBOR reader.
pub(crate) trait ReadCbor: Sized {
    /// Reads one map (the reader stands on its head).
    fn read_cbor(r: &mut Reader<'_>) -> Result<Self, Fail>;
}

/// Decodes a whole body, or gives up.
pub(crate) fn decode<M: ReadCbor>(body: &Bytes) -> Result<M, Fail> {
    let mut r = Reader {
        body,
        buf: body,
        pos: 0,
        nesting: 0,
        any_depth: 0,
    };
    let message = M::read_cbor(&mut r)?;
    // Trailing bytes mean the body is not one message.
    if r.pos == body.len() {
        Ok(message)
    } else {
        Err(Fail)
    }
}

/// Maps and arrays nest at most this deep: the serde path has no limit of its
/// own but recursion, so deeper bodies are left to it rather than accepted.
const MAX_NESTING: u32 = 100;

/// A cursor over a CBOR body.
pub(crate) struct Reader<'a> {
    /// The body, to slice strings and byte strings out of.
    body: &'a Bytes,
    buf: &'a [u8],
    pos: usize,
    nesting: u32,
    any_depth: usize,
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn byte(&mut self) -> Result<u8, Fail> {
        let byte = *self.buf.get(self.pos).ok_or(Fail)?;
        self.pos += 1;
        Ok(byte)
    }

    #[inline(always)]
    fn array_of<const N: usize>(&mut self) -> Result<[u8; N], Fail> {
        let bytes = self.buf.get(self.pos..self.pos + N).ok_or(Fail)?;
        self.pos += N;
        <[u8; N]>::try_from(bytes).map_err(|_| Fail)
    }

    /// The argument of the head whose first byte is `initial`; indefinite
    /// lengths and reserved values give up.
    #[inline(always)]
    fn argument(&mut self, initial: u8) -> Result<u64, Fail> {
        match initial & 0x1f {
            small @ 0..=23 => Ok(u64::from(small)),
            24 => self.byte().map(u64::from),
            25 => self.array_of().map(|b| u64::from(u16::from_be_bytes(b))),
            26 => self.array_of().map(|b| u64::from(u32::from_be_bytes(b))),
            27 => self.array_of().map(u64::from_be_bytes),
            _ => Err(Fail),
        }
    }

    /// The length of an item of major type `major` (`0x40` bytes, `0x60`
    /// text, `0x80` array, `0xa0` map).
    #[inline(always)]
    fn length(&mut self, major: u8) -> Result<usize, Fail> {
        let initial = self.byte()?;
        if initial & 0xe0 != major {
            return Err(Fail);
        }
        usize::try_from(self.argument(initial)?).map_err(|_| Fail)
    }

    /// The next `len` bytes' range, checked to be inside the body.
    #[inline(always)]
    fn take(&mut self, len: usize) -> Result<std::ops::Range<usize>, Fail> {
        let start = self.pos;
        let end = start.checked_add(len).ok_or(Fail)?;
        if end > self.buf.len() {
            return Err(Fail);
        }
        self.pos = end;
        Ok(start..end)
    }

    fn enter(&mut self) -> Result<(), Fail> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Fail);
        }
        Ok(())
    }

    /// Enters an `AnyValue`, counting its depth as the serde path does.
    pub(crate) fn enter_any(&mut self) -> Result<(), Fail> {
        self.any_depth += 1;
        if self.any_depth > crate::MAX_DEPTH {
            return Err(Fail);
        }
        Ok(())
    }

    pub(crate) fn leave_any(&mut self) {
        self.any_depth -= 1;
    }

    /// A definite-length map header: the number of entries.
    #[inline(always)]
    pub(crate) fn begin_map(&mut self) -> Result<usize, Fail> {
        let len = self.length(0xa0)?;
        self.enter()?;
        Ok(len)
    }

    /// After a map's or an array's last element.
    #[inline(always)]
    pub(crate) fn end(&mut self) {
        self.nesting -= 1;
    }

    /// A map key, as raw bytes. Keys other than definite text give up.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<&'a [u8], Fail> {
        let buf: &'a [u8] = self.buf;
        let len = self.length(0x60)?;
        let range = self.take(len)?;
        buf.get(range).ok_or(Fail)
    }

    /// Skips the value of `key`, which names no field.
    pub(crate) fn skip_entry(&mut self, key: &[u8]) -> Result<(), Fail> {
        // The serde path reads keys as text: one that is not UTF-8 fails
        // there. Field names are ASCII, so only unknown keys need the check.
        if !key.is_ascii() && std::str::from_utf8(key).is_err() {
            return Err(Fail);
        }
        self.skip()
    }

    /// Null (consumed): the serde path leaves the field as it is.
    #[inline(always)]
    pub(crate) fn nil(&mut self) -> bool {
        if self.buf.get(self.pos) == Some(&0xf6) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A definite text string, as a slice of the body.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> Result<ByteString, Fail> {
        let len = self.length(0x60)?;
        if len == 0 {
            return Ok(ByteString::new());
        }
        let range = self.take(len)?;
        ByteString::try_from(self.body.slice(range)).map_err(|_| Fail)
    }

    /// A definite byte string, as a slice of the body.
    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Result<Bytes, Fail> {
        let len = self.length(0x40)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let range = self.take(len)?;
        Ok(self.body.slice(range))
    }

    /// Any integer that fits `T`, whatever its width on the wire.
    #[inline(always)]
    pub(crate) fn int<T: TryFrom<i64> + TryFrom<u64>>(&mut self) -> Result<T, Fail> {
        let initial = self.byte()?;
        match initial & 0xe0 {
            0x00 => T::try_from(self.argument(initial)?).map_err(|_| Fail),
            0x20 => {
                // -1 - n; beyond i64 the serde path reads an i128 and fails.
                let n = i64::try_from(self.argument(initial)?).map_err(|_| Fail)?;
                T::try_from(-1 - n).map_err(|_| Fail)
            }
            _ => Err(Fail),
        }
    }

    /// A double from a 64- or 32-bit float or an integer, as the serde path
    /// reads them (half floats give up).
    #[inline(always)]
    pub(crate) fn double(&mut self) -> Result<f64, Fail> {
        match self.buf.get(self.pos) {
            Some(0xfb) => {
                self.pos += 1;
                Ok(f64::from_be_bytes(self.array_of()?))
            }
            Some(0xfa) => {
                self.pos += 1;
                Ok(f64::from(f32::from_be_bytes(self.array_of()?)))
            }
            #[allow(clippy::cast_precision_loss)]
            Some(initial) if initial & 0xe0 == 0x00 => self.int::<u64>().map(|v| v as f64),
            #[allow(clippy::cast_precision_loss)]
            _ => self.int::<i64>().map(|v| v as f64),
        }
    }

    #[inline(always)]
    pub(crate) fn boolean(&mut self) -> Result<bool, Fail> {
        match self.byte()? {
            0xf4 => Ok(false),
            0xf5 => Ok(true),
            _ => Err(Fail),
        }
    }

    #[inline(always)]
    pub(crate) fn message<M: ReadCbor>(&mut self) -> Result<M, Fail> {
        M::read_cbor(self)
    }

    /// A definite-length array of values read by `element`.
    #[inline(always)]
    pub(crate) fn array<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<T, Fail>,
    ) -> Result<Vec<T>, Fail> {
        let len = self.length(0x80)?;
        self.enter()?;
        // A declared length is a claim: every element takes a byte at least.
        let mut out = Vec::with_capacity(len.min(self.buf.len() - self.pos));
        for _ in 0..len {
            out.push(element(self)?);
        }
        self.end();
        Ok(out)
    }

    /// Skips a value of a key no field has (at any depth): integers, floats,
    /// booleans, null and definite strings, arrays and maps only.
    pub(crate) fn skip(&mut self) -> Result<(), Fail> {
        let initial = self.byte()?;
        match initial {
            0x00..=0x3b => self.argument(initial).map(|_| ()),
            0x40..=0x5b | 0x60..=0x7b => {
                let len = usize::try_from(self.argument(initial)?).map_err(|_| Fail)?;
                let range = self.take(len)?;
                // Text that is not UTF-8 is left to the serde path.
                match (initial & 0xe0, self.buf.get(range)) {
                    (0x60, Some(text))
                        if !text.is_ascii() && std::str::from_utf8(text).is_err() =>
                    {
                        Err(Fail)
                    }
                    _ => Ok(()),
                }
            }
            0x80..=0x9b | 0xa0..=0xbb => {
                let len = self.argument(initial)?;
                let items = if initial < 0xa0 {
                    len
                } else {
                    len.checked_mul(2).ok_or(Fail)?
                };
                self.enter()?;
                for _ in 0..items {
                    self.skip()?;
                }
                self.end();
                Ok(())
            }
            0xf4..=0xf6 => Ok(()),
            0xfa => self.take(4).map(|_| ()),
            0xfb => self.take(8).map(|_| ()),
            // Tags, indefinite lengths, half floats, other simple values.
            _ => Err(Fail),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::mutations;
    use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
    use otlp_proto::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
    use otlp_proto::strategy::{DEPTH, collector};
    use otlp_proto::trace::v1::Span;
    use proptest::prelude::*;

    use super::*;
    use crate::{Codec, OtlpMessage};

    /// What the serde path decodes from `body`.
    fn serde_decode<M: OtlpMessage>(body: &[u8]) -> Result<M, crate::DecodeError> {
        Codec::decode_cbor_serde(body)
    }

    /// What the serde path decodes from `body`, for any message.
    fn serde_value<T>(body: &[u8]) -> Result<T, String>
    where
        for<'de> crate::serde_impl::De<T>: serde::Deserialize<'de>,
    {
        crate::serde_impl::with_path(|| {
            let mut deserializer = minicbor_serde::Deserializer::new(body);
            let value: crate::serde_impl::De<T> =
                serde::Deserialize::deserialize(&mut deserializer)?;
            if deserializer.decoder().position() == body.len() {
                Ok(value.0)
            } else {
                Err(serde::de::Error::custom("trailing bytes"))
            }
        })
        .map_err(|(error, _): (minicbor_serde::error::DecodeError, _)| error.to_string())
    }

    /// Byte for byte what minicbor-serde writes, and read back by the reader
    /// as the serde path reads it. Compared through protobuf so NaN equals
    /// itself.
    fn agrees<M: WriteCbor + ReadCbor + OtlpMessage>(message: &M) -> Result<(), TestCaseError> {
        let mut ours = vec![0xAA];
        WriteCbor::write_cbor(message, &mut ours);
        let theirs = Codec::encode_cbor_serde(message);
        prop_assert_eq!(&ours[1..], &theirs[..]);
        let fast = decode::<M>(&Bytes::from(theirs.clone()))
            .map_err(|_| TestCaseError::fail("the reader gave up on minicbor-serde's output"))?;
        let reference = serde_decode::<M>(&theirs).expect("serde reads its own output");
        prop_assert_eq!(fast.encode_to_vec(), reference.encode_to_vec());
        prop_assert_eq!(fast.encode_to_vec(), message.encode_to_vec());
        Ok(())
    }

    /// The reader gives up or agrees with the serde path, which must then
    /// accept the body too.
    fn never_disagrees<M: ReadCbor + OtlpMessage>(body: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(fast) = decode::<M>(&Bytes::copy_from_slice(body)) {
            match serde_decode::<M>(body) {
                Ok(reference) => prop_assert_eq!(fast.encode_to_vec(), reference.encode_to_vec()),
                Err(error) => prop_assert!(false, "reader accepted what serde rejects: {error}"),
            }
        }
        Ok(())
    }

    fn all_requests(body: &[u8]) -> Result<(), TestCaseError> {
        use otlp_proto::collector::{logs, metrics, profiles, trace};
        never_disagrees::<trace::v1::ExportTraceServiceRequest>(body)?;
        never_disagrees::<metrics::v1::ExportMetricsServiceRequest>(body)?;
        never_disagrees::<logs::v1::ExportLogsServiceRequest>(body)?;
        never_disagrees::<profiles::v1development::ExportProfilesServiceRequest>(body)?;
        never_disagrees::<trace::v1::ExportTraceServiceResponse>(body)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn writes_what_serde_writes_and_reads_what_serde_reads_traces(
            m in collector::trace::v1::export_trace_service_request(DEPTH),
            r in collector::trace::v1::export_trace_service_response(DEPTH)) {
            agrees(&m)?;
            agrees(&r)?;
        }

        #[test]
        fn writes_what_serde_writes_and_reads_what_serde_reads_metrics(
            m in collector::metrics::v1::export_metrics_service_request(DEPTH),
            r in collector::metrics::v1::export_metrics_service_response(DEPTH)) {
            agrees(&m)?;
            agrees(&r)?;
        }

        #[test]
        fn writes_what_serde_writes_and_reads_what_serde_reads_logs(
            m in collector::logs::v1::export_logs_service_request(DEPTH),
            r in collector::logs::v1::export_logs_service_response(DEPTH)) {
            agrees(&m)?;
            agrees(&r)?;
        }

        #[test]
        fn writes_what_serde_writes_and_reads_what_serde_reads_profiles(
            m in collector::profiles::v1development::export_profiles_service_request(DEPTH),
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
            for body in [Codec::encode_cbor_serde(&m), Codec::encode_cbor_serde(&l),
                         Codec::encode_cbor_serde(&p)] {
                for broken in mutations(&body, at, byte) {
                    all_requests(&broken)?;
                }
            }
        }

        #[test]
        fn writes_integers_as_minicbor_does(v in any::<i64>(), u in any::<u64>()) {
            let mut ours = Vec::new();
            sint(&mut ours, v);
            prop_assert_eq!(&ours, &minicbor::to_vec(v).expect("encodes"));
            ours.clear();
            uint(&mut ours, u);
            prop_assert_eq!(&ours, &minicbor::to_vec(u).expect("encodes"));
        }
    }

    /// Whether `s` lies inside `body`'s memory.
    fn inside(s: &[u8], body: &Bytes) -> bool {
        let range = body.as_ptr_range();
        range.contains(&s.as_ptr()) && s.as_ptr().wrapping_add(s.len()) <= range.end
    }

    fn string_value(s: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }
    }

    #[test]
    fn strings_and_ids_share_the_body() {
        let span = Span {
            trace_id: Bytes::from_static(&[7; 16]),
            name: "GET /api/users/{id}".into(),
            attributes: vec![KeyValue {
                key: "http.route".into(),
                value: Some(string_value("/api/users/{id}, and a longer string ü")),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut body = Vec::new();
        span.write_cbor(&mut body);
        let body = Bytes::from(body);
        let decoded = decode::<Span>(&body).expect("reads its own output");
        assert_eq!(decoded, span);
        assert!(inside(&decoded.trace_id, &body));
        assert!(inside(decoded.name.as_bytes(), &body));
        assert!(inside(decoded.attributes[0].key.as_bytes(), &body));
        let Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }) = &decoded.attributes[0].value
        else {
            panic!("not a string value: {decoded:?}");
        };
        assert!(inside(value.as_bytes(), &body));
    }

    /// A span as a map of the given (key, value) pairs, each already encoded.
    fn span_map(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        map(&mut out, entries.len());
        for (key, value) in entries {
            string(&mut out, key);
            out.extend_from_slice(value);
        }
        out
    }

    /// A trace request holding one span, encoded as `span`.
    fn request_with(span: &[u8]) -> Vec<u8> {
        let mut r = vec![0xa1];
        string(&mut r, "resourceSpans");
        r.extend_from_slice(&[0x81, 0xa1]);
        string(&mut r, "scopeSpans");
        r.extend_from_slice(&[0x81, 0xa1]);
        string(&mut r, "spans");
        r.push(0x81);
        r.extend_from_slice(span);
        r
    }

    #[test]
    fn integers_of_any_width_unknown_keys_and_null_are_read() {
        let body = span_map(&[
            // `kind` in an eight-byte head, a timestamp in four, flags in one.
            ("kind", &[0x1b, 0, 0, 0, 0, 0, 0, 0, 2]),
            ("startTimeUnixNano", &[0x1a, 0, 1, 0, 0]),
            ("flags", &[0x18, 0x05]),
            // Unknown keys with nested values are skipped.
            ("future", &[0x82, 0xa1, 0x61, b'a', 0xf6, 0x41, 9]),
            ("other", &[0xfb, 0, 0, 0, 0, 0, 0, 0, 0]),
            // Null leaves the field at its default.
            ("name", &[0xf6]),
            ("status", &[0xf6]),
        ]);
        let fast = decode::<Span>(&Bytes::from(body.clone())).expect("read");
        assert_eq!(fast.kind, 2);
        assert_eq!(fast.start_time_unix_nano, 1 << 16);
        assert_eq!(fast.flags, 5);
        assert!(fast.name.is_empty() && fast.status.is_none());
        assert_eq!(
            fast,
            serde_value::<Span>(&body).expect("serde reads it too")
        );
    }

    #[test]
    fn forms_only_serde_reads_are_left_to_it() {
        let text = |s: &str| {
            let mut v = Vec::new();
            string(&mut v, s);
            v
        };
        for body in [
            span_map(&[("traceId", &text("5b8efff798038103d269b633813fc60c"))]),
            span_map(&[("kind", &text("SPAN_KIND_SERVER"))]),
            span_map(&[("startTimeUnixNano", &text("1"))]),
            // An indefinite-length text string.
            span_map(&[("name", &[0x7f, 0x61, b'a', 0x61, b'b', 0xff])]),
            // A tagged string: the serde path's error.
            span_map(&[("name", &[0xc1, 0x61, b'a'])]),
        ] {
            let request = request_with(&body);
            let decoded: Result<ExportTraceServiceRequest, _> =
                Codec::Cbor.decode(Bytes::from(request.clone()));
            let reference = serde_decode::<ExportTraceServiceRequest>(&request);
            assert_eq!(
                decoded.map_err(|e| e.to_string()),
                reference.map_err(|e| e.to_string())
            );
        }
        // Those the reader does give up on.
        for body in [
            span_map(&[("traceId", &text("5b8efff798038103d269b633813fc60c"))]),
            span_map(&[("name", &[0x7f, 0x61, b'a', 0x61, b'b', 0xff])]),
        ] {
            assert!(decode::<Span>(&Bytes::from(body)).is_err());
        }
    }

    #[test]
    fn errors_are_the_serde_paths() {
        let request = request_with(&span_map(&[("kind", &[0x63, b'b', b'a', b'd'])]));
        let ours = Codec::Cbor
            .decode::<ExportTraceServiceRequest>(Bytes::from(request.clone()))
            .unwrap_err();
        let theirs = serde_decode::<ExportTraceServiceRequest>(&request).unwrap_err();
        assert_eq!(ours.to_string(), theirs.to_string());
        assert!(ours.to_string().contains("kind"), "{ours}");
    }

    #[test]
    fn deep_values_are_left_to_serde() {
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
        let mut ok = Vec::new();
        nested(crate::MAX_DEPTH - 1).write_cbor(&mut ok);
        assert!(decode::<AnyValue>(&Bytes::from(ok)).is_ok());
        let mut deep = Vec::new();
        nested(crate::MAX_DEPTH).write_cbor(&mut deep);
        assert!(decode::<AnyValue>(&Bytes::from(deep.clone())).is_err());
        assert!(serde_value::<AnyValue>(&deep).is_err());
        // Unknown values nested past the limit give up rather than recurse.
        let mut body = vec![0xa1];
        string(&mut body, "x");
        body.extend(std::iter::repeat_n(0x81, 10_000));
        body.push(0xf6);
        assert!(decode::<Span>(&Bytes::from(body)).is_err());
    }

    #[test]
    fn claimed_lengths_reserve_only_what_the_body_can_hold() {
        // A span claiming 2^32 - 1 attributes in a few bytes.
        let body = span_map(&[("attributes", &[0x9a, 0xff, 0xff, 0xff, 0xff])]);
        assert!(decode::<Span>(&Bytes::from(body.clone())).is_err());
        assert!(serde_value::<Span>(&body).is_err());
    }
}
