//! MessagePack without serde: a reader and a writer generated per message
//! (`generated/msgpack.rs`) from the same mapping as the serde impls.
//!
//! The writer writes byte for byte what rmp-serde writes through the serde
//! impls (tested): a map per message with as many entries as fields that differ
//! from their default, keys as `str`, integers in their smallest form, doubles
//! as `float 64`, ids and bytes as `bin`. The map headers and keys are
//! constants of the generated code.
//!
//! The reader ([`Reader`], with `impl ReadMsgpack` per message) is the decode
//! fast path: keys are matched as bytes, and `str` and `bin` values are slices
//! of the body (strings checked as UTF-8), where the serde path copies each
//! into a new `String` or buffer. It accepts a subset of what the serde path
//! accepts, builds the same value (tested), and gives up ([`Fail`]) on anything
//! else — the JSON-style forms the serde path also reads (hex ids, numeric
//! strings, enum names), `bin` strings, non-`str` keys, extension types,
//! nesting beyond [`MAX_NESTING`] — which the serde path then decodes, with its
//! own errors.

use bytes::Bytes;
use otlp_proto::ByteString;

#[allow(clippy::all)]
mod generated {
    include!("generated/msgpack.rs");
}

/// A message with a generated MessagePack writer.
pub(crate) trait WriteMsgpack {
    /// Appends `self` as a MessagePack map.
    fn write_msgpack(&self, out: &mut Vec<u8>);
}

/// A length as rmp-serde writes it: truncated to 32 bits, which only a value
/// of 4 GiB or more could notice.
#[allow(clippy::cast_possible_truncation)]
#[inline(always)]
fn len32(len: usize) -> u32 {
    len as u32
}

/// A header of `len` elements: `fix` (ORed with small lengths), or the 16- or
/// 32-bit form.
#[inline(always)]
fn header(out: &mut Vec<u8>, len: usize, fix: u8, fix_max: usize, m16: u8, m32: u8) {
    let len = len32(len);
    if (len as usize) <= fix_max {
        // Lengths up to `fix_max` fit the marker's low bits.
        out.push(fix | len.to_be_bytes()[3]);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(m16);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// A map header of `len` entries.
#[inline(always)]
pub(crate) fn map(out: &mut Vec<u8>, len: usize) {
    header(out, len, 0x80, 15, 0xde, 0xdf);
}

/// An array header of `len` elements.
#[inline(always)]
pub(crate) fn array(out: &mut Vec<u8>, len: usize) {
    header(out, len, 0x90, 15, 0xdc, 0xdd);
}

/// A `str`.
#[inline(always)]
pub(crate) fn string(out: &mut Vec<u8>, value: &str) {
    let len = len32(value.len());
    if len < 32 {
        out.push(0xa0 | len.to_be_bytes()[3]);
    } else if let Ok(short) = u8::try_from(len) {
        out.push(0xd9);
        out.push(short);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0xda);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(value.as_bytes());
}

/// A `bin`.
#[inline(always)]
pub(crate) fn binary(out: &mut Vec<u8>, value: &[u8]) {
    let len = len32(value.len());
    if let Ok(short) = u8::try_from(len) {
        out.push(0xc4);
        out.push(short);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0xc5);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(value);
}

/// An unsigned integer in its smallest form (`rmp::encode::write_uint`).
#[inline(always)]
pub(crate) fn uint(out: &mut Vec<u8>, value: u64) {
    if let Ok(v) = u8::try_from(value) {
        if v < 128 {
            out.push(v);
        } else {
            out.extend_from_slice(&[0xcc, v]);
        }
    } else if let Ok(v) = u16::try_from(value) {
        out.push(0xcd);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(value) {
        out.push(0xce);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// A signed integer in its smallest form (`rmp::encode::write_sint`):
/// non-negative values as unsigned ones.
#[inline(always)]
pub(crate) fn sint(out: &mut Vec<u8>, value: i64) {
    if let Ok(v) = u64::try_from(value) {
        uint(out, v);
    } else if value >= -32 {
        // Negative fixint: the byte is the value itself.
        out.push(value.to_be_bytes()[7]);
    } else if let Ok(v) = i8::try_from(value) {
        out.push(0xd0);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i16::try_from(value) {
        out.push(0xd1);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i32::try_from(value) {
        out.push(0xd2);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

#[inline(always)]
pub(crate) fn double(out: &mut Vec<u8>, value: f64) {
    out.push(0xcb);
    out.extend_from_slice(&value.to_be_bytes());
}

#[inline(always)]
pub(crate) fn boolean(out: &mut Vec<u8>, value: bool) {
    out.push(if value { 0xc3 } else { 0xc2 });
}

/// The MessagePack reader gave up: decode with the serde path, whose result
/// and errors (with the field path) are the reference.
#[derive(Debug)]
pub(crate) struct Fail;

/// A message with a generated MessagePack reader.
pub(crate) trait ReadMsgpack: Sized {
    /// Reads one map (the reader stands on its header).
    fn read_msgpack(r: &mut Reader<'_>) -> Result<Self, Fail>;
}

/// Decodes a whole body, or gives up.
pub(crate) fn decode<M: ReadMsgpack>(body: &Bytes) -> Result<M, Fail> {
    let mut r = Reader {
        body,
        buf: body,
        pos: 0,
        nesting: 0,
        any_depth: 0,
    };
    let message = M::read_msgpack(&mut r)?;
    // Trailing bytes mean the body is not one message.
    if r.pos == body.len() {
        Ok(message)
    } else {
        Err(Fail)
    }
}

/// Maps and arrays nest at most this deep: below the limit the serde path
/// sets on rmp-serde (128), so that the reader never accepts what it refuses.
const MAX_NESTING: u32 = 100;

/// A cursor over a MessagePack body.
pub(crate) struct Reader<'a> {
    /// The body, to slice strings and binary values out of.
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

    #[inline(always)]
    fn u8(&mut self) -> Result<usize, Fail> {
        self.byte().map(usize::from)
    }

    #[inline(always)]
    fn u16(&mut self) -> Result<usize, Fail> {
        self.array_of().map(|b| usize::from(u16::from_be_bytes(b)))
    }

    #[inline(always)]
    fn u32(&mut self) -> Result<usize, Fail> {
        let value = u32::from_be_bytes(self.array_of()?);
        usize::try_from(value).map_err(|_| Fail)
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

    /// A map header: the number of entries.
    #[inline(always)]
    pub(crate) fn begin_map(&mut self) -> Result<usize, Fail> {
        let len = match self.byte()? {
            marker @ 0x80..=0x8f => usize::from(marker & 0x0f),
            0xde => self.u16()?,
            0xdf => self.u32()?,
            _ => return Err(Fail),
        };
        self.enter()?;
        Ok(len)
    }

    /// After a map's or an array's last element.
    #[inline(always)]
    pub(crate) fn end(&mut self) {
        self.nesting -= 1;
    }

    /// An array header: the number of elements.
    #[inline(always)]
    fn begin_array(&mut self) -> Result<usize, Fail> {
        let len = match self.byte()? {
            marker @ 0x90..=0x9f => usize::from(marker & 0x0f),
            0xdc => self.u16()?,
            0xdd => self.u32()?,
            _ => return Err(Fail),
        };
        self.enter()?;
        Ok(len)
    }

    /// The length of a `str` whose marker is `marker`.
    #[inline(always)]
    fn str_len(&mut self, marker: u8) -> Result<usize, Fail> {
        match marker {
            0xa0..=0xbf => Ok(usize::from(marker & 0x1f)),
            0xd9 => self.u8(),
            0xda => self.u16(),
            0xdb => self.u32(),
            _ => Err(Fail),
        }
    }

    /// A map key, as raw bytes. Keys other than `str` give up.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<&'a [u8], Fail> {
        let buf: &'a [u8] = self.buf;
        let marker = self.byte()?;
        let len = self.str_len(marker)?;
        let range = self.take(len)?;
        buf.get(range).ok_or(Fail)
    }

    /// Nil (consumed): the serde path leaves the field as it is.
    #[inline(always)]
    pub(crate) fn nil(&mut self) -> bool {
        if self.buf.get(self.pos) == Some(&0xc0) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A `str`, as a slice of the body.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> Result<ByteString, Fail> {
        let marker = self.byte()?;
        let len = self.str_len(marker)?;
        if len == 0 {
            return Ok(ByteString::new());
        }
        let range = self.take(len)?;
        // Not UTF-8: the serde path may still read it (lone surrogates).
        ByteString::try_from(self.body.slice(range)).map_err(|_| Fail)
    }

    /// A `bin`, as a slice of the body.
    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Result<Bytes, Fail> {
        let len = match self.byte()? {
            0xc4 => self.u8()?,
            0xc5 => self.u16()?,
            0xc6 => self.u32()?,
            _ => return Err(Fail),
        };
        if len == 0 {
            return Ok(Bytes::new());
        }
        let range = self.take(len)?;
        Ok(self.body.slice(range))
    }

    /// Any integer that fits `T`, whatever its width on the wire.
    #[inline(always)]
    pub(crate) fn int<T: TryFrom<i64> + TryFrom<u64>>(&mut self) -> Result<T, Fail> {
        let marker = self.byte()?;
        let signed = match marker {
            0x00..=0x7f => return T::try_from(u64::from(marker)).map_err(|_| Fail),
            0xe0..=0xff => i64::from(i8::from_be_bytes([marker])),
            0xcc => return T::try_from(u64::from(self.byte()?)).map_err(|_| Fail),
            0xcd => {
                return T::try_from(u64::from(u16::from_be_bytes(self.array_of()?)))
                    .map_err(|_| Fail);
            }
            0xce => {
                return T::try_from(u64::from(u32::from_be_bytes(self.array_of()?)))
                    .map_err(|_| Fail);
            }
            0xcf => return T::try_from(u64::from_be_bytes(self.array_of()?)).map_err(|_| Fail),
            0xd0 => i64::from(i8::from_be_bytes(self.array_of()?)),
            0xd1 => i64::from(i16::from_be_bytes(self.array_of()?)),
            0xd2 => i64::from(i32::from_be_bytes(self.array_of()?)),
            0xd3 => i64::from_be_bytes(self.array_of()?),
            _ => return Err(Fail),
        };
        T::try_from(signed).map_err(|_| Fail)
    }

    /// A double from `float 64`, `float 32` or an integer, as the serde path
    /// reads them.
    #[inline(always)]
    pub(crate) fn double(&mut self) -> Result<f64, Fail> {
        match self.buf.get(self.pos) {
            Some(0xcb) => {
                self.pos += 1;
                Ok(f64::from_be_bytes(self.array_of()?))
            }
            Some(0xca) => {
                self.pos += 1;
                Ok(f64::from(f32::from_be_bytes(self.array_of()?)))
            }
            #[allow(clippy::cast_precision_loss)]
            _ => match self.buf.get(self.pos) {
                Some(0x00..=0x7f | 0xcc..=0xcf) => self.int::<u64>().map(|v| v as f64),
                _ => self.int::<i64>().map(|v| v as f64),
            },
        }
    }

    #[inline(always)]
    pub(crate) fn boolean(&mut self) -> Result<bool, Fail> {
        match self.byte()? {
            0xc2 => Ok(false),
            0xc3 => Ok(true),
            _ => Err(Fail),
        }
    }

    #[inline(always)]
    pub(crate) fn message<M: ReadMsgpack>(&mut self) -> Result<M, Fail> {
        M::read_msgpack(self)
    }

    /// An array of values read by `element`.
    #[inline(always)]
    pub(crate) fn array<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<T, Fail>,
    ) -> Result<Vec<T>, Fail> {
        let len = self.begin_array()?;
        // A declared length is a claim: every element takes a byte at least.
        let mut out = Vec::with_capacity(len.min(self.buf.len() - self.pos));
        for _ in 0..len {
            out.push(element(self)?);
        }
        self.end();
        Ok(out)
    }

    /// Skips the value of a key that names no field. (Keys need no check:
    /// the serde path matches a key that is not UTF-8 as bytes, and skips it.)
    pub(crate) fn skip_entry(&mut self, _key: &[u8]) -> Result<(), Fail> {
        self.skip()
    }

    /// Skips a value of a key no field has (at any depth).
    pub(crate) fn skip(&mut self) -> Result<(), Fail> {
        let marker = self.byte()?;
        let len = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
            0xcc | 0xd0 => 1,
            0xcd | 0xd1 => 2,
            0xce | 0xd2 | 0xca => 4,
            0xcf | 0xd3 | 0xcb => 8,
            0xa0..=0xbf | 0xd9..=0xdb => self.str_len(marker)?,
            0xc4 => self.u8()?,
            0xc5 => self.u16()?,
            0xc6 => self.u32()?,
            0x80..=0x8f | 0xde | 0xdf => {
                self.pos -= 1;
                let entries = self.begin_map()?;
                for _ in 0..entries {
                    self.skip()?;
                    self.skip()?;
                }
                self.end();
                return Ok(());
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                self.pos -= 1;
                let elements = self.begin_array()?;
                for _ in 0..elements {
                    self.skip()?;
                }
                self.end();
                return Ok(());
            }
            // Extension types and the reserved marker: left to the serde path.
            _ => return Err(Fail),
        };
        self.take(len).map(|_| ())
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
        Codec::decode_msgpack_serde(Bytes::copy_from_slice(body))
    }

    /// What the serde path decodes from `body`, for any message.
    fn serde_value<T>(mut body: &[u8]) -> Result<T, String>
    where
        for<'de> crate::serde_impl::De<T>: serde::Deserialize<'de>,
    {
        crate::serde_impl::with_path(|| {
            let mut deserializer = rmp_serde::Deserializer::new(&mut body);
            deserializer.set_max_depth(crate::codec::MAX_SKIP_DEPTH);
            serde::Deserialize::deserialize(&mut deserializer)
                .map(|v: crate::serde_impl::De<T>| v.0)
        })
        .map_err(|(error, _)| error.to_string())
        .and_then(|v| {
            if body.is_empty() {
                Ok(v)
            } else {
                Err("trailing bytes".into())
            }
        })
    }

    /// Byte for byte what rmp-serde writes, and read back by the reader as
    /// the serde path reads it. Compared through protobuf so NaN equals itself.
    fn agrees<M: WriteMsgpack + ReadMsgpack + OtlpMessage>(
        message: &M,
    ) -> Result<(), TestCaseError> {
        let mut ours = vec![0xAA];
        WriteMsgpack::write_msgpack(message, &mut ours);
        let theirs = Codec::encode_msgpack_serde(message);
        prop_assert_eq!(&ours[1..], &theirs[..]);
        let fast = decode::<M>(&Bytes::from(theirs.clone()))
            .map_err(|_| TestCaseError::fail("the reader gave up on rmp-serde's output"))?;
        let reference = serde_decode::<M>(&theirs).expect("serde reads its own output");
        prop_assert_eq!(fast.encode_to_vec(), reference.encode_to_vec());
        prop_assert_eq!(fast.encode_to_vec(), message.encode_to_vec());
        Ok(())
    }

    /// The reader gives up or agrees with the serde path, which must then
    /// accept the body too.
    fn never_disagrees<M: ReadMsgpack + OtlpMessage>(body: &[u8]) -> Result<(), TestCaseError> {
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
            for body in [Codec::encode_msgpack_serde(&m), Codec::encode_msgpack_serde(&l),
                         Codec::encode_msgpack_serde(&p)] {
                for broken in mutations(&body, at, byte) {
                    all_requests(&broken)?;
                }
            }
        }

        #[test]
        fn writes_integers_as_rmp_does(v in any::<i64>(), u in any::<u64>()) {
            let mut ours = Vec::new();
            sint(&mut ours, v);
            prop_assert_eq!(&ours, &rmp_serde::to_vec(&v).expect("serializes"));
            ours.clear();
            uint(&mut ours, u);
            prop_assert_eq!(&ours, &rmp_serde::to_vec(&u).expect("serializes"));
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
        span.write_msgpack(&mut body);
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

    #[test]
    fn integers_of_any_width_unknown_keys_and_nil_are_read() {
        let body = span_map(&[
            // `kind` as an int64, a timestamp as a uint32, flags as an int8.
            ("kind", &[0xd3, 0, 0, 0, 0, 0, 0, 0, 2]),
            ("startTimeUnixNano", &[0xce, 0, 1, 0, 0]),
            ("flags", &[0xd0, 0x05]),
            // Unknown keys with nested values are skipped.
            ("future", &[0x92, 0x81, 0xa1, b'a', 0xc0, 0xc4, 1, 9]),
            ("other", &[0xcb, 0, 0, 0, 0, 0, 0, 0, 0]),
            // Nil leaves the field at its default.
            ("name", &[0xc0]),
            ("status", &[0xc0]),
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
        // A hex id, an enum name, a numeric string, a `bin` string: the
        // reader gives up and `Codec::decode` gets serde's value.
        let hex = {
            let mut v = Vec::new();
            string(&mut v, "5b8efff798038103d269b633813fc60c");
            v
        };
        let kind = {
            let mut v = Vec::new();
            string(&mut v, "SPAN_KIND_SERVER");
            v
        };
        for body in [
            span_map(&[("traceId", &hex)]),
            span_map(&[("kind", &kind)]),
            span_map(&[("startTimeUnixNano", b"\xa11")]),
            span_map(&[("name", b"\xc4\x01a")]),
            // A lone surrogate as WTF-8: serde reads it as U+FFFD.
            span_map(&[("name", b"\xa3\xed\xa0\x80")]),
        ] {
            assert!(decode::<Span>(&Bytes::from(body.clone())).is_err());
            let request = {
                let mut r = Vec::new();
                map(&mut r, 1);
                string(&mut r, "resourceSpans");
                r.extend_from_slice(&[0x91, 0x81]);
                string(&mut r, "scopeSpans");
                r.extend_from_slice(&[0x91, 0x81]);
                string(&mut r, "spans");
                r.push(0x91);
                r.extend_from_slice(&body);
                r
            };
            let decoded: ExportTraceServiceRequest = Codec::MessagePack
                .decode(Bytes::from(request.clone()))
                .expect("the serde path reads it");
            assert_eq!(decoded, serde_decode(&request).unwrap());
        }
    }

    #[test]
    fn errors_are_the_serde_paths() {
        let body = span_map(&[("kind", b"\xa3bad")]);
        let mut request = vec![0x81];
        string(&mut request, "resourceSpans");
        request.extend_from_slice(&[0x91, 0x81]);
        string(&mut request, "scopeSpans");
        request.extend_from_slice(&[0x91, 0x81]);
        string(&mut request, "spans");
        request.push(0x91);
        request.extend_from_slice(&body);
        let ours = Codec::MessagePack
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
        nested(crate::MAX_DEPTH - 1).write_msgpack(&mut ok);
        assert!(decode::<AnyValue>(&Bytes::from(ok)).is_ok());
        let mut deep = Vec::new();
        nested(crate::MAX_DEPTH).write_msgpack(&mut deep);
        assert!(decode::<AnyValue>(&Bytes::from(deep.clone())).is_err());
        assert!(serde_value::<AnyValue>(&deep).is_err());
        // Unknown values nested past the limit give up rather than recurse.
        let mut body = span_map(&[]);
        body[0] = 0x81;
        string(&mut body, "x");
        body.extend(std::iter::repeat_n(0x91, 10_000));
        body.push(0xc0);
        assert!(decode::<Span>(&Bytes::from(body.clone())).is_err());
        assert!(serde_value::<Span>(&body).is_err());
    }

    #[test]
    fn claimed_lengths_reserve_only_what_the_body_can_hold() {
        // A span claiming 2^32 - 1 attributes in a few bytes.
        let body = span_map(&[("attributes", &[0xdd, 0xff, 0xff, 0xff, 0xff])]);
        assert!(decode::<Span>(&Bytes::from(body.clone())).is_err());
        assert!(serde_value::<Span>(&body).is_err());
    }
}
