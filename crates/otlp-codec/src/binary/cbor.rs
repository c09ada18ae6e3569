//! CBOR: the primitives of the generated reader and writer.
//!
//! The writer writes what minicbor-serde writes: definite-length maps and
//! arrays, keys as text strings, integers in their shortest form, doubles as
//! 64-bit floats, ids and bytes as byte strings. The reader gives up on
//! indefinite lengths, tags, half floats, `undefined` and other simple
//! values, which the serde path then decodes (or rejects).

use super::{BinaryReader, BinaryWriter, Fail, Format, Key, Reader};

/// CBOR, as minicbor-serde writes and reads it.
pub(crate) struct Cbor;

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

impl Format for Cbor {
    #[inline(always)]
    fn key(key: Key) -> &'static [u8] {
        key.cbor
    }
}

impl BinaryWriter for Cbor {
    #[inline(always)]
    fn map(out: &mut Vec<u8>, len: usize) {
        head(out, 0xa0, len64(len));
    }

    #[inline(always)]
    fn array(out: &mut Vec<u8>, len: usize) {
        head(out, 0x80, len64(len));
    }

    #[inline(always)]
    fn string(out: &mut Vec<u8>, value: &str) {
        head(out, 0x60, len64(value.len()));
        out.extend_from_slice(value.as_bytes());
    }

    #[inline(always)]
    fn binary(out: &mut Vec<u8>, value: &[u8]) {
        head(out, 0x40, len64(value.len()));
        out.extend_from_slice(value);
    }

    #[inline(always)]
    fn uint(out: &mut Vec<u8>, value: u64) {
        head(out, 0x00, value);
    }

    /// Non-negative values as unsigned ones, negative ones as major type 1
    /// with argument `-1 - value`.
    #[inline(always)]
    fn sint(out: &mut Vec<u8>, value: i64) {
        match u64::try_from(value) {
            Ok(v) => head(out, 0x00, v),
            // `!value` is `-1 - value`, non-negative here.
            Err(_) => head(out, 0x20, u64::try_from(!value).unwrap_or(0)),
        }
    }

    #[inline(always)]
    fn double(out: &mut Vec<u8>, value: f64) {
        out.push(0xfb);
        out.extend_from_slice(&value.to_be_bytes());
    }

    #[inline(always)]
    fn boolean(out: &mut Vec<u8>, value: bool) {
        out.push(if value { 0xf5 } else { 0xf4 });
    }
}

impl Reader<'_, Cbor> {
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
}

impl BinaryReader for Cbor {
    const NIL: u8 = 0xf6;
    const FALSE: u8 = 0xf4;
    const TRUE: u8 = 0xf5;

    #[inline(always)]
    fn map_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail> {
        r.length(0xa0)
    }

    #[inline(always)]
    fn array_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail> {
        r.length(0x80)
    }

    #[inline(always)]
    fn str_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail> {
        r.length(0x60)
    }

    #[inline(always)]
    fn bin_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail> {
        r.length(0x40)
    }

    #[inline(always)]
    fn int<T: TryFrom<i64> + TryFrom<u64>>(r: &mut Reader<'_, Self>) -> Result<T, Fail> {
        let initial = r.byte()?;
        // The common forms first: small values and 64-bit ones (timestamps).
        if initial < 24 {
            return T::try_from(u64::from(initial)).map_err(|_| Fail);
        }
        if initial == 0x1b {
            return T::try_from(u64::from_be_bytes(r.array_of()?)).map_err(|_| Fail);
        }
        match initial & 0xe0 {
            0x00 => T::try_from(r.argument(initial)?).map_err(|_| Fail),
            0x20 => {
                // -1 - n; beyond i64 the serde path reads an i128 and fails.
                let n = i64::try_from(r.argument(initial)?).map_err(|_| Fail)?;
                T::try_from(-1 - n).map_err(|_| Fail)
            }
            _ => Err(Fail),
        }
    }

    /// Half floats give up.
    #[inline(always)]
    fn double(r: &mut Reader<'_, Self>) -> Result<f64, Fail> {
        match r.peek() {
            Some(0xfb) => {
                r.pos += 1;
                Ok(f64::from_be_bytes(r.array_of()?))
            }
            Some(0xfa) => {
                r.pos += 1;
                Ok(f64::from(f32::from_be_bytes(r.array_of()?)))
            }
            #[allow(clippy::cast_precision_loss)]
            Some(initial) if initial & 0xe0 == 0x00 => Self::int::<u64>(r).map(|v| v as f64),
            #[allow(clippy::cast_precision_loss)]
            _ => Self::int::<i64>(r).map(|v| v as f64),
        }
    }

    /// The serde path reads keys as text: one that is not UTF-8 fails there.
    /// Field names are ASCII, so only unknown keys need the check.
    fn skips_key(key: &[u8]) -> bool {
        key.is_ascii() || std::str::from_utf8(key).is_ok()
    }

    /// Integers, floats, booleans, null and definite strings, arrays and maps
    /// only.
    fn skip(r: &mut Reader<'_, Self>) -> Result<(), Fail> {
        let initial = r.byte()?;
        match initial {
            0x00..=0x3b => r.argument(initial).map(|_| ()),
            0x40..=0x5b | 0x60..=0x7b => {
                let len = usize::try_from(r.argument(initial)?).map_err(|_| Fail)?;
                let range = r.take(len)?;
                // Text that is not UTF-8 is left to the serde path.
                match (initial & 0xe0, r.buf.get(range)) {
                    (0x60, Some(text))
                        if !text.is_ascii() && std::str::from_utf8(text).is_err() =>
                    {
                        Err(Fail)
                    }
                    _ => Ok(()),
                }
            }
            0x80..=0x9b | 0xa0..=0xbb => {
                let len = r.argument(initial)?;
                let items = if initial < 0xa0 {
                    len
                } else {
                    len.checked_mul(2).ok_or(Fail)?
                };
                r.enter()?;
                for _ in 0..items {
                    Self::skip(r)?;
                }
                r.end();
                Ok(())
            }
            0xf4..=0xf6 => Ok(()),
            0xfa => r.take(4).map(|_| ()),
            0xfb => r.take(8).map(|_| ()),
            // Tags, indefinite lengths, half floats, other simple values.
            _ => Err(Fail),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
    use otlp_proto::trace::v1::Span;

    use super::*;
    use crate::binary::decode;
    use crate::binary::tests::{SerdeFormat, request_with, span_map};
    use crate::{Codec, OtlpMessage};

    impl SerdeFormat for Cbor {
        const CODEC: Codec = Codec::Cbor;

        fn encode_serde<M: OtlpMessage>(message: &M) -> Vec<u8> {
            Codec::encode_cbor_serde(message)
        }

        fn decode_serde<M: OtlpMessage>(body: &[u8]) -> Result<M, crate::DecodeError> {
            Codec::decode_cbor_serde(body)
        }

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
    }

    crate::binary::tests::format_tests!(Cbor);

    proptest! {
        #[test]
        fn writes_integers_as_minicbor_does(v in any::<i64>(), u in any::<u64>()) {
            let mut ours = Vec::new();
            Cbor::sint(&mut ours, v);
            prop_assert_eq!(&ours, &minicbor::to_vec(v).expect("encodes"));
            ours.clear();
            Cbor::uint(&mut ours, u);
            prop_assert_eq!(&ours, &minicbor::to_vec(u).expect("encodes"));
        }
    }

    fn span(entries: &[(&str, &[u8])]) -> Vec<u8> {
        span_map::<Cbor>(entries)
    }

    fn text(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        Cbor::string(&mut v, s);
        v
    }

    #[test]
    fn integers_of_any_width_unknown_keys_and_null_are_read() {
        let body = span(&[
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
        let fast = decode::<Cbor, Span>(&Bytes::from(body.clone())).expect("read");
        assert_eq!(fast.kind, 2);
        assert_eq!(fast.start_time_unix_nano, 1 << 16);
        assert_eq!(fast.flags, 5);
        assert!(fast.name.is_empty() && fast.status.is_none());
        assert_eq!(
            fast,
            Cbor::serde_value::<Span>(&body).expect("serde reads it too")
        );
    }

    #[test]
    fn forms_only_serde_reads_are_left_to_it() {
        for body in [
            span(&[("traceId", &text("5b8efff798038103d269b633813fc60c"))]),
            span(&[("kind", &text("SPAN_KIND_SERVER"))]),
            span(&[("startTimeUnixNano", &text("1"))]),
            // An indefinite-length text string.
            span(&[("name", &[0x7f, 0x61, b'a', 0x61, b'b', 0xff])]),
            // A tagged string: the serde path's error.
            span(&[("name", &[0xc1, 0x61, b'a'])]),
        ] {
            let request = request_with::<Cbor>(&body);
            let decoded: Result<ExportTraceServiceRequest, _> =
                Codec::Cbor.decode(Bytes::from(request.clone()));
            let reference = Cbor::decode_serde::<ExportTraceServiceRequest>(&request);
            assert_eq!(
                decoded.map_err(|e| e.to_string()),
                reference.map_err(|e| e.to_string())
            );
        }
        // Those the reader does give up on.
        for body in [
            span(&[("traceId", &text("5b8efff798038103d269b633813fc60c"))]),
            span(&[("name", &[0x7f, 0x61, b'a', 0x61, b'b', 0xff])]),
        ] {
            assert!(decode::<Cbor, Span>(&Bytes::from(body)).is_err());
        }
    }

    #[test]
    fn claimed_lengths_reserve_only_what_the_body_can_hold() {
        // A span claiming 2^32 - 1 attributes in a few bytes.
        let body = span(&[("attributes", &[0x9a, 0xff, 0xff, 0xff, 0xff])]);
        assert!(decode::<Cbor, Span>(&Bytes::from(body.clone())).is_err());
        assert!(Cbor::serde_value::<Span>(&body).is_err());
    }
}
