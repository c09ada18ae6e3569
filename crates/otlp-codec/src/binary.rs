//! MessagePack and CBOR without serde: one reader and one writer generated
//! per message (`generated/binary.rs`, by `cargo xtask codegen`) from the same
//! mapping as the serde impls, generic over the format.
//!
//! A format is a zero-sized type ([`MessagePack`], [`Cbor`]) implementing
//! [`BinaryWriter`] (map and array headers, strings, binary, integers,
//! doubles, booleans) and [`BinaryReader`] (the same, read, plus skipping a
//! value of an unknown key). The generated `impl WriteBinary` and
//! `impl ReadBinary` of each message are written once against these traits and
//! monomorphised per format, so each format gets code as direct as if written
//! for it alone. A map key is a [`Key`]: its whole encoding (string header and
//! name) in each format, a constant the writer copies and the reader compares.
//!
//! The writer writes byte for byte what rmp-serde or minicbor-serde writes
//! through the serde impls (tested): a map per message with as many entries
//! as fields that differ from their default, keys as strings, integers in
//! their shortest form, doubles as 64-bit floats, ids and bytes as binary.
//!
//! The reader ([`Reader`]) is the decode fast path: keys are matched as bytes,
//! and string and binary values are slices of the body (strings checked as
//! UTF-8), where the serde path copies each into a new `String` or buffer. It
//! accepts a subset of what the serde path accepts, builds the same value
//! (tested), and gives up ([`Fail`]) on anything else — the JSON-style forms
//! the serde path also reads (hex ids, numeric strings, enum names), nesting
//! beyond [`MAX_NESTING`], and each format's own unusual forms (see its
//! module) — which the serde path then decodes, with its own errors.

use std::marker::PhantomData;

use bytes::Bytes;
use otlp_proto::ByteString;

#[cfg(feature = "cbor")]
mod cbor;
#[cfg(feature = "msgpack")]
mod msgpack;

#[cfg(feature = "cbor")]
pub(crate) use cbor::Cbor;
#[cfg(feature = "msgpack")]
pub(crate) use msgpack::MessagePack;

#[allow(clippy::all)]
mod generated {
    include!("generated/binary.rs");
}

/// A field name as a map key, in each format: the string header and the
/// name, as rmp-serde and minicbor-serde write it.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    #[cfg_attr(not(feature = "msgpack"), allow(dead_code))]
    pub(crate) msgpack: &'static [u8],
    #[cfg_attr(not(feature = "cbor"), allow(dead_code))]
    pub(crate) cbor: &'static [u8],
}

/// A binary format: what its writer and reader share.
pub(crate) trait Format {
    /// `key`'s encoding in this format.
    fn key(key: Key) -> &'static [u8];
}

/// The writing primitives of a format, as its serde serializer writes values.
pub(crate) trait BinaryWriter: Format {
    /// A map header of `len` entries.
    fn map(out: &mut Vec<u8>, len: usize);
    /// An array header of `len` elements.
    fn array(out: &mut Vec<u8>, len: usize);
    /// A text string.
    fn string(out: &mut Vec<u8>, value: &str);
    /// A binary string.
    fn binary(out: &mut Vec<u8>, value: &[u8]);
    /// An unsigned integer in its shortest form.
    fn uint(out: &mut Vec<u8>, value: u64);
    /// A signed integer in its shortest form.
    fn sint(out: &mut Vec<u8>, value: i64);
    /// A 64-bit float.
    fn double(out: &mut Vec<u8>, value: f64);
    fn boolean(out: &mut Vec<u8>, value: bool);
}

/// A message with a generated writer.
pub(crate) trait WriteBinary {
    /// Appends `self` as a map of format `W`.
    fn write<W: BinaryWriter>(&self, out: &mut Vec<u8>);
}

/// The reader gave up: decode with the serde path, whose result and errors
/// (with the field path) are the reference.
#[derive(Debug)]
pub(crate) struct Fail;

/// The reading primitives of a format: what differs between formats. The
/// cursor, slicing, nesting limits and arrays are [`Reader`]'s.
pub(crate) trait BinaryReader: Format + Sized {
    /// The marker of nil / null, which leaves a field as it is.
    const NIL: u8;
    const FALSE: u8;
    const TRUE: u8;
    /// A map header: the number of entries (nesting not yet counted).
    fn map_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail>;
    /// An array header: the number of elements (nesting not yet counted).
    fn array_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail>;
    /// A text string's header: its length.
    fn str_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail>;
    /// A binary string's header: its length.
    fn bin_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail>;
    /// Any integer that fits `T`, whatever its width on the wire.
    fn int<T: TryFrom<i64> + TryFrom<u64>>(r: &mut Reader<'_, Self>) -> Result<T, Fail>;
    /// A double from a 64- or 32-bit float or an integer, as the serde path
    /// reads them.
    fn double(r: &mut Reader<'_, Self>) -> Result<f64, Fail>;
    /// Whether the serde path skips an entry with this key that names no
    /// field (rather than failing on the key itself).
    fn skips_key(key: &[u8]) -> bool;
    /// Skips a value of a key no field has (at any depth).
    fn skip(r: &mut Reader<'_, Self>) -> Result<(), Fail>;
}

/// A message with a generated reader.
pub(crate) trait ReadBinary: Sized {
    /// Reads one map (the reader stands on its header).
    fn read<F: BinaryReader>(r: &mut Reader<'_, F>) -> Result<Self, Fail>;
}

/// Decodes a whole body of format `F`, or gives up.
pub(crate) fn decode<F: BinaryReader, M: ReadBinary>(body: &Bytes) -> Result<M, Fail> {
    let mut r = Reader::<F> {
        body,
        buf: body,
        pos: 0,
        nesting: 0,
        any_depth: 0,
        format: PhantomData,
    };
    let message = M::read(&mut r)?;
    // Trailing bytes mean the body is not one message.
    if r.pos == body.len() {
        Ok(message)
    } else {
        Err(Fail)
    }
}

/// Maps and arrays nest at most this deep: below the limit the serde path
/// sets on rmp-serde (128), and for CBOR (whose serde path has no limit but
/// recursion) deeper bodies are left to the serde path rather than accepted.
const MAX_NESTING: u32 = 100;

/// A cursor over a body of format `F`.
pub(crate) struct Reader<'a, F> {
    /// The body, to slice strings and binary values out of.
    body: &'a Bytes,
    buf: &'a [u8],
    pos: usize,
    nesting: u32,
    any_depth: usize,
    format: PhantomData<F>,
}

impl<'a, F: BinaryReader> Reader<'a, F> {
    /// The next byte, not consumed.
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, Fail> {
        let byte = self.peek().ok_or(Fail)?;
        self.pos += 1;
        Ok(byte)
    }

    #[inline(always)]
    fn array_of<const N: usize>(&mut self) -> Result<[u8; N], Fail> {
        let bytes = self.buf.get(self.pos..self.pos + N).ok_or(Fail)?;
        self.pos += N;
        <[u8; N]>::try_from(bytes).map_err(|_| Fail)
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

    /// One level deeper into maps and arrays.
    fn enter(&mut self) -> Result<(), Fail> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Fail);
        }
        Ok(())
    }

    /// After a map's or an array's last element.
    #[inline(always)]
    pub(crate) fn end(&mut self) {
        self.nesting -= 1;
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
        let len = F::map_len(self)?;
        self.enter()?;
        Ok(len)
    }

    /// A map key, as raw bytes. Keys other than strings give up.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<&'a [u8], Fail> {
        let buf: &'a [u8] = self.buf;
        let len = F::str_len(self)?;
        let range = self.take(len)?;
        buf.get(range).ok_or(Fail)
    }

    /// Consumes `key` (a whole encoded key: header and name) if the body
    /// continues with it.
    #[inline(always)]
    pub(crate) fn eat(&mut self, key: &[u8]) -> bool {
        match self.buf.get(self.pos..) {
            Some(rest) if rest.starts_with(key) => {
                self.pos += key.len();
                true
            }
            _ => false,
        }
    }

    /// Skips the value of `key`, which names no field.
    pub(crate) fn skip_entry(&mut self, key: &[u8]) -> Result<(), Fail> {
        if !F::skips_key(key) {
            return Err(Fail);
        }
        F::skip(self)
    }

    /// Nil (consumed): the serde path leaves the field as it is.
    #[inline(always)]
    pub(crate) fn nil(&mut self) -> bool {
        if self.peek() == Some(F::NIL) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A text string, as a slice of the body.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> Result<ByteString, Fail> {
        let len = F::str_len(self)?;
        if len == 0 {
            return Ok(ByteString::new());
        }
        let range = self.take(len)?;
        // Not UTF-8: the serde path may still read it (MessagePack's lone
        // surrogates) or fail with its own error.
        ByteString::try_from(self.body.slice(range)).map_err(|_| Fail)
    }

    /// A binary string, as a slice of the body.
    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Result<Bytes, Fail> {
        let len = F::bin_len(self)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let range = self.take(len)?;
        Ok(self.body.slice(range))
    }

    /// Any integer that fits `T`.
    #[inline(always)]
    pub(crate) fn int<T: TryFrom<i64> + TryFrom<u64>>(&mut self) -> Result<T, Fail> {
        F::int(self)
    }

    #[inline(always)]
    pub(crate) fn double(&mut self) -> Result<f64, Fail> {
        F::double(self)
    }

    #[inline(always)]
    pub(crate) fn boolean(&mut self) -> Result<bool, Fail> {
        match self.byte()? {
            b if b == F::FALSE => Ok(false),
            b if b == F::TRUE => Ok(true),
            _ => Err(Fail),
        }
    }

    #[inline(always)]
    pub(crate) fn message<M: ReadBinary>(&mut self) -> Result<M, Fail> {
        M::read(self)
    }

    /// An array of values read by `element`.
    #[inline(always)]
    pub(crate) fn array<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<T, Fail>,
    ) -> Result<Vec<T>, Fail> {
        let len = F::array_len(self)?;
        self.enter()?;
        // A declared length is a claim: every element takes a byte at least.
        let mut out = Vec::with_capacity(len.min(self.buf.len() - self.pos));
        for _ in 0..len {
            out.push(element(self)?);
        }
        self.end();
        Ok(out)
    }
}

/// What the tests of both formats share: each format's serde path (the
/// reference) and checks generic over the format.
#[cfg(test)]
pub(crate) mod tests {
    use otlp_proto::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
    use otlp_proto::trace::v1::Span;
    use proptest::prelude::*;

    use super::*;
    use crate::OtlpMessage;
    pub(crate) use crate::test_support::mutations;

    /// A format with its serde path, the reference the generated code is
    /// tested against.
    pub(crate) trait SerdeFormat: BinaryReader + BinaryWriter {
        /// The codec of this format.
        const CODEC: crate::Codec;
        /// What the serde path writes.
        fn encode_serde<M: OtlpMessage>(message: &M) -> Vec<u8>;
        /// What the serde path decodes from `body`.
        fn decode_serde<M: OtlpMessage>(body: &[u8]) -> Result<M, crate::DecodeError>;
        /// What the serde path decodes from `body`, for any message.
        fn serde_value<T>(body: &[u8]) -> Result<T, String>
        where
            for<'de> crate::serde_impl::De<T>: serde::Deserialize<'de>;
    }

    /// `message` as format `F` writes it.
    pub(crate) fn write<F: BinaryWriter, M: WriteBinary>(message: &M) -> Vec<u8> {
        let mut out = Vec::new();
        message.write::<F>(&mut out);
        out
    }

    /// Byte for byte what the serde path writes, and read back by the reader
    /// as the serde path reads it. Compared through protobuf so NaN equals
    /// itself.
    pub(crate) fn agrees<F: SerdeFormat, M: WriteBinary + ReadBinary + OtlpMessage>(
        message: &M,
    ) -> Result<(), TestCaseError> {
        let mut ours = vec![0xAA];
        message.write::<F>(&mut ours);
        let theirs = F::encode_serde(message);
        prop_assert_eq!(&ours[1..], &theirs[..]);
        let fast = decode::<F, M>(&Bytes::from(theirs.clone()))
            .map_err(|_| TestCaseError::fail("the reader gave up on the serde path's output"))?;
        let reference = F::decode_serde::<M>(&theirs).expect("serde reads its own output");
        prop_assert_eq!(fast.encode_to_vec(), reference.encode_to_vec());
        prop_assert_eq!(fast.encode_to_vec(), message.encode_to_vec());
        Ok(())
    }

    /// The reader gives up or agrees with the serde path, which must then
    /// accept the body too.
    pub(crate) fn never_disagrees<F: SerdeFormat, M: ReadBinary + OtlpMessage>(
        body: &[u8],
    ) -> Result<(), TestCaseError> {
        if let Ok(fast) = decode::<F, M>(&Bytes::copy_from_slice(body)) {
            match F::decode_serde::<M>(body) {
                Ok(reference) => prop_assert_eq!(fast.encode_to_vec(), reference.encode_to_vec()),
                Err(error) => prop_assert!(false, "reader accepted what serde rejects: {error}"),
            }
        }
        Ok(())
    }

    pub(crate) fn all_requests<F: SerdeFormat>(body: &[u8]) -> Result<(), TestCaseError> {
        use otlp_proto::collector::{logs, metrics, profiles, trace};
        never_disagrees::<F, trace::v1::ExportTraceServiceRequest>(body)?;
        never_disagrees::<F, metrics::v1::ExportMetricsServiceRequest>(body)?;
        never_disagrees::<F, logs::v1::ExportLogsServiceRequest>(body)?;
        never_disagrees::<F, profiles::v1development::ExportProfilesServiceRequest>(body)?;
        never_disagrees::<F, trace::v1::ExportTraceServiceResponse>(body)
    }

    /// Whether `s` lies inside `body`'s memory.
    fn inside(s: &[u8], body: &Bytes) -> bool {
        let range = body.as_ptr_range();
        range.contains(&s.as_ptr()) && s.as_ptr().wrapping_add(s.len()) <= range.end
    }

    pub(crate) fn string_value(s: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }
    }

    pub(crate) fn strings_and_ids_share_the_body<F: SerdeFormat>() {
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
        let body = Bytes::from(write::<F, _>(&span));
        let decoded = decode::<F, Span>(&body).expect("reads its own output");
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
    pub(crate) fn span_map<F: BinaryWriter>(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        F::map(&mut out, entries.len());
        for (key, value) in entries {
            F::string(&mut out, key);
            out.extend_from_slice(value);
        }
        out
    }

    /// A trace request holding one span, encoded as `span`.
    pub(crate) fn request_with<F: BinaryWriter>(span: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        for key in ["resourceSpans", "scopeSpans", "spans"] {
            F::map(&mut r, 1);
            F::string(&mut r, key);
            F::array(&mut r, 1);
        }
        r.extend_from_slice(span);
        r
    }

    /// Errors on a body the reader gives up on are the serde path's, field
    /// path included.
    pub(crate) fn errors_are_the_serde_paths<F: SerdeFormat>() {
        let mut bad = Vec::new();
        F::string(&mut bad, "bad");
        let request = request_with::<F>(&span_map::<F>(&[("kind", &bad)]));
        let ours = F::CODEC
            .decode::<otlp_proto::collector::trace::v1::ExportTraceServiceRequest>(Bytes::from(
                request.clone(),
            ))
            .unwrap_err();
        let theirs =
            F::decode_serde::<otlp_proto::collector::trace::v1::ExportTraceServiceRequest>(
                &request,
            )
            .unwrap_err();
        assert_eq!(ours.to_string(), theirs.to_string());
        assert!(ours.to_string().contains("kind"), "{ours}");
    }

    /// The reader tries the keys after the last field read first: keys in
    /// any other order, repeated, unknown or between known ones read as the
    /// serde path reads them (the last duplicate wins).
    pub(crate) fn fields_in_any_order_read_as_serde_does<F: SerdeFormat>() {
        let int = |v: u64| {
            let mut out = Vec::new();
            F::uint(&mut out, v);
            out
        };
        let text = |s: &str| {
            let mut out = Vec::new();
            F::string(&mut out, s);
            out
        };
        let (name, other, start, end, kind) = (text("a"), text("b"), int(7), int(9), int(2));
        for entries in [
            vec![
                ("name", &name),
                ("kind", &kind),
                ("startTimeUnixNano", &start),
            ],
            vec![
                ("startTimeUnixNano", &start),
                ("kind", &kind),
                ("name", &name),
            ],
            vec![
                ("kind", &kind),
                ("future", &other),
                ("endTimeUnixNano", &end),
                ("name", &name),
            ],
            vec![
                ("name", &name),
                ("name", &other),
                ("kind", &kind),
                ("kind", &int(3)),
            ],
        ] {
            let entries: Vec<(&str, &[u8])> =
                entries.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            let body = span_map::<F>(&entries);
            let fast = decode::<F, Span>(&Bytes::from(body.clone())).expect("read");
            assert_eq!(fast, F::serde_value::<Span>(&body).expect("serde reads it"));
            assert!(!fast.name.is_empty() && fast.kind != 0, "{fast:?}");
        }
    }

    /// `AnyValue`s nest at most `MAX_DEPTH` levels, as on the serde path.
    pub(crate) fn deep_values_are_left_to_serde<F: SerdeFormat>() {
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
        let ok = write::<F, _>(&nested(crate::MAX_DEPTH - 1));
        assert!(decode::<F, AnyValue>(&Bytes::from(ok)).is_ok());
        let deep = write::<F, _>(&nested(crate::MAX_DEPTH));
        assert!(decode::<F, AnyValue>(&Bytes::from(deep.clone())).is_err());
        assert!(F::serde_value::<AnyValue>(&deep).is_err());
        // Unknown values nested past the limit give up rather than recurse.
        let mut body = Vec::new();
        F::map(&mut body, 1);
        F::string(&mut body, "x");
        for _ in 0..10_000 {
            F::array(&mut body, 1);
        }
        body.push(F::NIL);
        assert!(decode::<F, Span>(&Bytes::from(body)).is_err());
    }

    /// The proptests and checks of [`super::tests`] for format `$format`.
    macro_rules! format_tests {
        ($format:ty) => {
            use otlp_proto::strategy::{DEPTH, collector};
            use proptest::prelude::*;

            use crate::binary::tests as shared;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(64))]

                #[test]
                fn writes_what_serde_writes_and_reads_what_serde_reads_traces(
                    m in collector::trace::v1::export_trace_service_request(DEPTH),
                    r in collector::trace::v1::export_trace_service_response(DEPTH)) {
                    shared::agrees::<$format, _>(&m)?;
                    shared::agrees::<$format, _>(&r)?;
                }

                #[test]
                fn writes_what_serde_writes_and_reads_what_serde_reads_metrics(
                    m in collector::metrics::v1::export_metrics_service_request(DEPTH),
                    r in collector::metrics::v1::export_metrics_service_response(DEPTH)) {
                    shared::agrees::<$format, _>(&m)?;
                    shared::agrees::<$format, _>(&r)?;
                }

                #[test]
                fn writes_what_serde_writes_and_reads_what_serde_reads_logs(
                    m in collector::logs::v1::export_logs_service_request(DEPTH),
                    r in collector::logs::v1::export_logs_service_response(DEPTH)) {
                    shared::agrees::<$format, _>(&m)?;
                    shared::agrees::<$format, _>(&r)?;
                }

                #[test]
                fn writes_what_serde_writes_and_reads_what_serde_reads_profiles(
                    m in collector::profiles::v1development::export_profiles_service_request(DEPTH),
                    r in collector::profiles::v1development::export_profiles_service_response(DEPTH)) {
                    shared::agrees::<$format, _>(&m)?;
                    shared::agrees::<$format, _>(&r)?;
                }

                #[test]
                fn never_disagrees_on_garbage(body in proptest::collection::vec(any::<u8>(), 0..256)) {
                    shared::all_requests::<$format>(&body)?;
                }

                #[test]
                fn never_disagrees_on_broken_messages(
                    m in collector::trace::v1::export_trace_service_request(3),
                    l in collector::logs::v1::export_logs_service_request(3),
                    p in collector::metrics::v1::export_metrics_service_request(3),
                    at in any::<usize>(),
                    byte in any::<u8>(),
                ) {
                    use crate::binary::tests::SerdeFormat;
                    for body in [<$format>::encode_serde(&m), <$format>::encode_serde(&l),
                                 <$format>::encode_serde(&p)] {
                        for broken in shared::mutations(&body, at, byte) {
                            shared::all_requests::<$format>(&broken)?;
                        }
                    }
                }
            }

            #[test]
            fn strings_and_ids_share_the_body() {
                shared::strings_and_ids_share_the_body::<$format>();
            }

            #[test]
            fn errors_are_the_serde_paths() {
                shared::errors_are_the_serde_paths::<$format>();
            }

            #[test]
            fn fields_in_any_order_read_as_serde_does() {
                shared::fields_in_any_order_read_as_serde_does::<$format>();
            }

            #[test]
            fn deep_values_are_left_to_serde() {
                shared::deep_values_are_left_to_serde::<$format>();
            }
        };
    }
    pub(crate) use format_tests;
}
