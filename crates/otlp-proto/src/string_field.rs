//! `prost::encoding::string` for [`ByteString`] fields, used by the generated
//! `prost::Message` impls (prost itself only knows `String`).
//!
//! `merge` takes the string with `Buf::copy_to_bytes`, which for a `Bytes`
//! buffer is a slice of it (one reference count, no copy), then validates it
//! as UTF-8 as prost does.

use bytes::{Buf, BufMut};
use prost::DecodeError;
use prost::encoding::{
    DecodeContext, WireType, check_wire_type, decode_varint, encode_key, encode_varint,
    encoded_len_varint, key_len,
};

use crate::ByteString;

pub(crate) fn encode(tag: u32, value: &ByteString, buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(value.len() as u64, buf);
    buf.put_slice(value.as_bytes());
}

/// Replaces `value` with the string at the front of `buf`; the last value of
/// a repeated singular field wins, as in prost.
pub(crate) fn merge(
    wire_type: WireType,
    value: &mut ByteString,
    buf: &mut impl Buf,
    _ctx: DecodeContext,
) -> Result<(), DecodeError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = decode_varint(buf)?;
    if len > buf.remaining() as u64 {
        return Err(error("buffer underflow"));
    }
    let bytes = buf.copy_to_bytes(len as usize);
    *value = ByteString::try_from(bytes)
        .map_err(|_| error("invalid string value: data is not UTF-8 encoded"))?;
    Ok(())
}

/// prost's own wording; its error kinds cannot be built outside prost.
#[cold]
#[allow(deprecated)] // `DecodeError::new` is what prost-derive's expansions used too.
fn error(description: &'static str) -> DecodeError {
    DecodeError::new(description)
}

pub(crate) fn encoded_len(tag: u32, value: &ByteString) -> usize {
    key_len(tag) + encoded_len_varint(value.len() as u64) + value.len()
}

pub(crate) fn encode_repeated(tag: u32, values: &[ByteString], buf: &mut impl BufMut) {
    for value in values {
        encode(tag, value, buf);
    }
}

pub(crate) fn merge_repeated(
    wire_type: WireType,
    values: &mut Vec<ByteString>,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let mut value = ByteString::new();
    merge(wire_type, &mut value, buf, ctx)?;
    values.push(value);
    Ok(())
}

pub(crate) fn encoded_len_repeated(tag: u32, values: &[ByteString]) -> usize {
    values.iter().map(|value| encoded_len(tag, value)).sum()
}
