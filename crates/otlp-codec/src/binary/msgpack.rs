//! MessagePack: the primitives of the generated reader and writer.
//!
//! The writer writes what rmp-serde writes: keys as `str`, integers in their
//! smallest form, doubles as `float 64`, ids and bytes as `bin`, lengths as
//! rmp-serde does. The reader gives up on `bin` strings, non-`str` keys and
//! extension types, which the serde path then decodes (or rejects).

use super::{BinaryReader, BinaryWriter, Fail, Format, Key, Reader};

/// MessagePack, as rmp-serde writes and reads it.
pub(crate) struct MessagePack;

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

impl Format for MessagePack {
    #[inline(always)]
    fn key(key: Key) -> &'static [u8] {
        key.msgpack
    }
}

impl BinaryWriter for MessagePack {
    #[inline(always)]
    fn map(out: &mut Vec<u8>, len: usize) {
        header(out, len, 0x80, 15, 0xde, 0xdf);
    }

    #[inline(always)]
    fn array(out: &mut Vec<u8>, len: usize) {
        header(out, len, 0x90, 15, 0xdc, 0xdd);
    }

    #[inline(always)]
    fn string(out: &mut Vec<u8>, value: &str) {
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

    #[inline(always)]
    fn binary(out: &mut Vec<u8>, value: &[u8]) {
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

    /// `rmp::encode::write_uint`.
    #[inline(always)]
    fn uint(out: &mut Vec<u8>, value: u64) {
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

    /// `rmp::encode::write_sint`: non-negative values as unsigned ones.
    #[inline(always)]
    fn sint(out: &mut Vec<u8>, value: i64) {
        if let Ok(v) = u64::try_from(value) {
            Self::uint(out, v);
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
    fn double(out: &mut Vec<u8>, value: f64) {
        out.push(0xcb);
        out.extend_from_slice(&value.to_be_bytes());
    }

    #[inline(always)]
    fn boolean(out: &mut Vec<u8>, value: bool) {
        out.push(if value { 0xc3 } else { 0xc2 });
    }
}

impl Reader<'_, MessagePack> {
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

    /// The length of a `str` whose marker is `marker`.
    #[inline(always)]
    fn str_len_of(&mut self, marker: u8) -> Result<usize, Fail> {
        match marker {
            0xa0..=0xbf => Ok(usize::from(marker & 0x1f)),
            0xd9 => self.u8(),
            0xda => self.u16(),
            0xdb => self.u32(),
            _ => Err(Fail),
        }
    }
}

impl BinaryReader for MessagePack {
    const NIL: u8 = 0xc0;
    const FALSE: u8 = 0xc2;
    const TRUE: u8 = 0xc3;

    #[inline(always)]
    fn map_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail> {
        match r.byte()? {
            marker @ 0x80..=0x8f => Ok(usize::from(marker & 0x0f)),
            0xde => r.u16(),
            0xdf => r.u32(),
            _ => Err(Fail),
        }
    }

    #[inline(always)]
    fn array_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail> {
        match r.byte()? {
            marker @ 0x90..=0x9f => Ok(usize::from(marker & 0x0f)),
            0xdc => r.u16(),
            0xdd => r.u32(),
            _ => Err(Fail),
        }
    }

    #[inline(always)]
    fn str_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail> {
        let marker = r.byte()?;
        r.str_len_of(marker)
    }

    #[inline(always)]
    fn bin_len(r: &mut Reader<'_, Self>) -> Result<usize, Fail> {
        match r.byte()? {
            0xc4 => r.u8(),
            0xc5 => r.u16(),
            0xc6 => r.u32(),
            _ => Err(Fail),
        }
    }

    #[inline(always)]
    fn int<T: TryFrom<i64> + TryFrom<u64>>(r: &mut Reader<'_, Self>) -> Result<T, Fail> {
        let marker = r.byte()?;
        // The common forms first, ahead of the jump table: small values and
        // `uint 64` (timestamps).
        if marker <= 0x7f {
            return T::try_from(u64::from(marker)).map_err(|_| Fail);
        }
        if marker == 0xcf {
            return T::try_from(u64::from_be_bytes(r.array_of()?)).map_err(|_| Fail);
        }
        let signed = match marker {
            0x00..=0x7f => return T::try_from(u64::from(marker)).map_err(|_| Fail),
            0xe0..=0xff => i64::from(i8::from_be_bytes([marker])),
            0xcc => return T::try_from(u64::from(r.byte()?)).map_err(|_| Fail),
            0xcd => {
                return T::try_from(u64::from(u16::from_be_bytes(r.array_of()?))).map_err(|_| Fail);
            }
            0xce => {
                return T::try_from(u64::from(u32::from_be_bytes(r.array_of()?))).map_err(|_| Fail);
            }
            0xcf => return T::try_from(u64::from_be_bytes(r.array_of()?)).map_err(|_| Fail),
            0xd0 => i64::from(i8::from_be_bytes(r.array_of()?)),
            0xd1 => i64::from(i16::from_be_bytes(r.array_of()?)),
            0xd2 => i64::from(i32::from_be_bytes(r.array_of()?)),
            0xd3 => i64::from_be_bytes(r.array_of()?),
            _ => return Err(Fail),
        };
        T::try_from(signed).map_err(|_| Fail)
    }

    /// `float 64`, `float 32` or an integer.
    #[inline(always)]
    fn double(r: &mut Reader<'_, Self>) -> Result<f64, Fail> {
        match r.peek() {
            Some(0xcb) => {
                r.pos += 1;
                Ok(f64::from_be_bytes(r.array_of()?))
            }
            Some(0xca) => {
                r.pos += 1;
                Ok(f64::from(f32::from_be_bytes(r.array_of()?)))
            }
            #[allow(clippy::cast_precision_loss)]
            Some(0x00..=0x7f | 0xcc..=0xcf) => Self::int::<u64>(r).map(|v| v as f64),
            #[allow(clippy::cast_precision_loss)]
            _ => Self::int::<i64>(r).map(|v| v as f64),
        }
    }

    /// Any key: the serde path matches a key that is not UTF-8 as bytes, and
    /// skips it.
    fn skips_key(_key: &[u8]) -> bool {
        true
    }

    fn skip(r: &mut Reader<'_, Self>) -> Result<(), Fail> {
        let marker = r.byte()?;
        let len = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
            0xcc | 0xd0 => 1,
            0xcd | 0xd1 => 2,
            0xce | 0xd2 | 0xca => 4,
            0xcf | 0xd3 | 0xcb => 8,
            0xa0..=0xbf | 0xd9..=0xdb => r.str_len_of(marker)?,
            0xc4 => r.u8()?,
            0xc5 => r.u16()?,
            0xc6 => r.u32()?,
            0x80..=0x8f | 0xde | 0xdf => {
                r.pos -= 1;
                let entries = r.begin_map()?;
                for _ in 0..entries {
                    Self::skip(r)?;
                    Self::skip(r)?;
                }
                r.end();
                return Ok(());
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                r.pos -= 1;
                let elements = Self::array_len(r)?;
                r.enter()?;
                for _ in 0..elements {
                    Self::skip(r)?;
                }
                r.end();
                return Ok(());
            }
            // Extension types and the reserved marker: left to the serde path.
            _ => return Err(Fail),
        };
        r.take(len).map(|_| ())
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

    impl SerdeFormat for MessagePack {
        const CODEC: Codec = Codec::MessagePack;

        fn encode_serde<M: OtlpMessage>(message: &M) -> Vec<u8> {
            Codec::encode_msgpack_serde(message)
        }

        fn decode_serde<M: OtlpMessage>(body: &[u8]) -> Result<M, crate::DecodeError> {
            Codec::decode_msgpack_serde(Bytes::copy_from_slice(body))
        }

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
    }

    crate::binary::tests::format_tests!(MessagePack);

    proptest! {
        #[test]
        fn writes_integers_as_rmp_does(v in any::<i64>(), u in any::<u64>()) {
            let mut ours = Vec::new();
            MessagePack::sint(&mut ours, v);
            prop_assert_eq!(&ours, &rmp_serde::to_vec(&v).expect("serializes"));
            ours.clear();
            MessagePack::uint(&mut ours, u);
            prop_assert_eq!(&ours, &rmp_serde::to_vec(&u).expect("serializes"));
        }
    }

    fn span(entries: &[(&str, &[u8])]) -> Vec<u8> {
        span_map::<MessagePack>(entries)
    }

    fn text(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        MessagePack::string(&mut v, s);
        v
    }

    #[test]
    fn integers_of_any_width_unknown_keys_and_nil_are_read() {
        let body = span(&[
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
        let fast = decode::<MessagePack, Span>(&Bytes::from(body.clone())).expect("read");
        assert_eq!(fast.kind, 2);
        assert_eq!(fast.start_time_unix_nano, 1 << 16);
        assert_eq!(fast.flags, 5);
        assert!(fast.name.is_empty() && fast.status.is_none());
        assert_eq!(
            fast,
            MessagePack::serde_value::<Span>(&body).expect("serde reads it too")
        );
    }

    #[test]
    fn forms_only_serde_reads_are_left_to_it() {
        // A hex id, an enum name, a numeric string, a `bin` string: the
        // reader gives up and `Codec::decode` gets serde's value.
        for body in [
            span(&[("traceId", &text("5b8efff798038103d269b633813fc60c"))]),
            span(&[("kind", &text("SPAN_KIND_SERVER"))]),
            span(&[("startTimeUnixNano", b"\xa11")]),
            span(&[("name", b"\xc4\x01a")]),
            // A lone surrogate as WTF-8: serde reads it as U+FFFD.
            span(&[("name", b"\xa3\xed\xa0\x80")]),
        ] {
            assert!(decode::<MessagePack, Span>(&Bytes::from(body.clone())).is_err());
            let request = request_with::<MessagePack>(&body);
            let decoded: ExportTraceServiceRequest = Codec::MessagePack
                .decode(Bytes::from(request.clone()))
                .expect("the serde path reads it");
            assert_eq!(decoded, MessagePack::decode_serde(&request).unwrap());
        }
    }

    #[test]
    fn unknown_values_nested_past_the_limit_fail_on_the_serde_path_too() {
        let mut body = span(&[]);
        body[0] = 0x81;
        MessagePack::string(&mut body, "x");
        body.extend(std::iter::repeat_n(0x91, 10_000));
        body.push(0xc0);
        assert!(decode::<MessagePack, Span>(&Bytes::from(body.clone())).is_err());
        assert!(MessagePack::serde_value::<Span>(&body).is_err());
    }

    #[test]
    fn keys_in_a_longer_string_form_are_read() {
        // `name` as a str8 rather than a fixstr: not the writers' encoding of
        // the key, so the general key match reads it.
        let body = [
            0x82, 0xd9, 4, b'n', b'a', b'm', b'e', 0xa1, b'x', 0xa4, b'k', b'i', b'n', b'd', 2,
        ];
        let fast = decode::<MessagePack, Span>(&Bytes::copy_from_slice(&body)).expect("read");
        assert_eq!((fast.name.as_ref(), fast.kind), ("x", 2));
        assert_eq!(
            fast,
            MessagePack::serde_value::<Span>(&body).expect("serde reads it")
        );
    }

    #[test]
    fn claimed_lengths_reserve_only_what_the_body_can_hold() {
        // A span claiming 2^32 - 1 attributes in a few bytes.
        let body = span(&[("attributes", &[0xdd, 0xff, 0xff, 0xff, 0xff])]);
        assert!(decode::<MessagePack, Span>(&Bytes::from(body.clone())).is_err());
        assert!(MessagePack::serde_value::<Span>(&body).is_err());
    }
}
