//! One serde mapping of the OTLP messages for OTLP/JSON, MessagePack and CBOR.
//!
//! The per-message impls are generated (`generated/serde.rs`); this module holds
//! the field helpers they call. Every helper branches on
//! [`Serializer::is_human_readable`]: JSON gets hex ids, base64 bytes, 64-bit
//! integers as strings and non-finite doubles as strings; the binary formats get
//! native binary and numbers. Decoding accepts either form in every format.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use bytes::Bytes;
use otlp_proto::ByteString;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::error::PathSegment;

/// How many `AnyValue`s may nest inside each other: deeper input is rejected
/// before it can exhaust the stack.
pub const MAX_DEPTH: usize = 32;

/// Serializes the message it borrows (impls generated per message).
pub(crate) struct Ser<'a, T>(pub(crate) &'a T);

/// Deserializes into the message it holds (impls generated per message).
pub(crate) struct De<T>(pub(crate) T);

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, unused_mut, non_camel_case_types, dead_code)]
pub(crate) mod generated {
    include!("generated/serde.rs");
}

/// Deserialized field wrappers yield the value they wrap.
pub(crate) trait Wrapped {
    type Inner;
    fn into_inner(self) -> Self::Inner;
}

impl<T> Wrapped for De<T> {
    type Inner = T;
    fn into_inner(self) -> T {
        self.0
    }
}

/// Runs `f` with a fresh error path and the depth counter at zero, and returns
/// the path of the field where decoding failed, outermost first.
pub(crate) fn with_path<T, E>(
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, (E, Vec<PathSegment>)> {
    PATH.with(|path| path.borrow_mut().clear());
    DEPTH.with(|depth| depth.set(0));
    f().map_err(|error| {
        let mut path = PATH.with(|path| std::mem::take(&mut *path.borrow_mut()));
        // Segments are recorded as the error unwinds, innermost first.
        path.reverse();
        (error, path)
    })
}

thread_local! {
    static PATH: RefCell<Vec<PathSegment>> = const { RefCell::new(Vec::new()) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

fn record(segment: PathSegment) {
    PATH.with(|path| path.borrow_mut().push(segment));
}

/// Reads a field's value; `null` (or CBOR/MessagePack nil) means the default.
/// On error the field's name joins the error path.
pub(crate) fn value<'de, A, V>(map: &mut A, name: &'static str) -> Result<Option<V>, A::Error>
where
    A: MapAccess<'de>,
    V: Deserialize<'de>,
{
    map.next_value::<Option<V>>()
        .inspect_err(|_| record(PathSegment::Field(name)))
}

/// Counts `AnyValue` nesting while one is being decoded.
pub(crate) struct DepthGuard(());

impl DepthGuard {
    pub(crate) fn enter() -> Result<Self, String> {
        let depth = DEPTH.with(|depth| {
            let next = depth.get() + 1;
            depth.set(next);
            next
        });
        let guard = Self(());
        if depth > MAX_DEPTH {
            return Err(format!("values nest deeper than {MAX_DEPTH} levels"));
        }
        Ok(guard)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Maps a map key to the index of the field it names, or `usize::MAX` for an
/// unknown key (ignored, as OTLP/JSON requires).
pub(crate) struct Key(pub(crate) &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        Ok(self
            .0
            .iter()
            .position(|name| *name == key)
            .unwrap_or(usize::MAX))
    }

    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<usize, E> {
        Ok(self
            .0
            .iter()
            .position(|name| name.as_bytes() == key)
            .unwrap_or(usize::MAX))
    }

    // Non-string keys name no field; they are skipped like unknown names.
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<usize, E> {
        Ok(usize::MAX)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<usize, E> {
        Ok(usize::MAX)
    }
}

/// A value serde reads as is (strings, booleans).
pub(crate) struct Plain<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Plain<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Plain)
    }
}

impl<T> Wrapped for Plain<T> {
    type Inner = T;
    fn into_inner(self) -> T {
        self.0
    }
}

/// A `string` field. JSON text may carry a lone UTF-16 surrogate escape
/// (`"\ud83d"`): JavaScript writes one for every string cut in the middle of a
/// surrogate pair, as the OpenTelemetry JS SDK's attribute length limit does.
/// It reads as U+FFFD, the character the same SDK's protobuf encoder sends for
/// it, rather than failing the whole request.
pub(crate) struct Text(ByteString);

impl Wrapped for Text {
    type Inner = ByteString;
    fn into_inner(self) -> ByteString {
        self.0
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Utf8;
        impl<'de> Visitor<'de> for Utf8 {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.into()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                // Moves the buffer in: no copy.
                Ok(Text(v.into()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Text, E> {
                surrogates_replaced(v)
                    .map(|text| Text(text.into()))
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Bytes(v), &"a UTF-8 string"))
            }
        }
        if deserializer.is_human_readable() {
            // serde_json reads a string as bytes without rejecting lone
            // surrogate escapes: it writes them as WTF-8, resolved here.
            deserializer.deserialize_bytes(Utf8)
        } else {
            deserializer.deserialize_string(Utf8)
        }
    }
}

/// `bytes` as UTF-8 with every WTF-8 surrogate (`ED A0..BF 80..BF`) replaced
/// by U+FFFD; `None` when anything else is not UTF-8.
fn surrogates_replaced(mut bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(rest) => {
                out.push_str(rest);
                return Some(out);
            }
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                out.push_str(std::str::from_utf8(valid).ok()?);
                match rest {
                    [0xED, 0xA0..=0xBF, 0x80..=0xBF, tail @ ..] => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        bytes = tail;
                    }
                    _ => return None,
                }
            }
        }
    }
}

/// A repeated field: a sequence of `W`, preallocating no more than a bounded
/// number of elements whatever length the input claims.
pub(crate) struct Repeated<W: Wrapped>(Vec<W::Inner>);

impl<W: Wrapped> Wrapped for Repeated<W> {
    type Inner = Vec<W::Inner>;
    fn into_inner(self) -> Vec<W::Inner> {
        self.0
    }
}

impl<'de, W: Wrapped + Deserialize<'de>> Deserialize<'de> for Repeated<W> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Elements<W>(PhantomData<W>);
        impl<'de, W: Wrapped + Deserialize<'de>> Visitor<'de> for Elements<W> {
            type Value = Repeated<W>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // A declared length is a claim, not a fact: cap what it reserves.
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                loop {
                    match seq.next_element::<W>() {
                        Ok(Some(element)) => out.push(element.into_inner()),
                        Ok(None) => return Ok(Repeated(out)),
                        Err(error) => {
                            record(PathSegment::Index(out.len()));
                            return Err(error);
                        }
                    }
                }
            }
        }
        deserializer.deserialize_seq(Elements(PhantomData))
    }
}

/// Serializes a slice element by element through `F`.
pub(crate) struct Many<'a, T, F>(&'a [T], F);

/// Builds a [`Many`]; the bound lets the closure's argument type be inferred.
pub(crate) fn many<'a, T, W: Serialize, F: Fn(&'a T) -> W>(items: &'a [T], f: F) -> Many<'a, T, F> {
    Many(items, f)
}

impl<'a, T, W: Serialize, F: Fn(&'a T) -> W> Serialize for Many<'a, T, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(&self.1))
    }
}

/// A signed 64-bit integer: a decimal string in JSON, a number elsewhere.
pub(crate) struct I64(pub(crate) i64);

impl Serialize for I64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            // itoa formats without `fmt`'s machinery: timestamps are everywhere.
            serializer.serialize_str(itoa::Buffer::new().format(self.0))
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

/// An unsigned 64-bit integer: a decimal string in JSON, a number elsewhere.
pub(crate) struct U64(pub(crate) u64);

impl Serialize for U64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            // itoa formats without `fmt`'s machinery: timestamps are everywhere.
            serializer.serialize_str(itoa::Buffer::new().format(self.0))
        } else {
            serializer.serialize_u64(self.0)
        }
    }
}

/// An integer field read from a number or a decimal string (proto3 JSON
/// accepts both for every integer type).
pub(crate) struct Int<T>(T);

impl<T> Wrapped for Int<T> {
    type Inner = T;
    fn into_inner(self) -> T {
        self.0
    }
}

impl<'de, T> Deserialize<'de> for Int<T>
where
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Number(PhantomData))
    }
}

/// Reads an integer of type `T` from a number or a decimal string.
struct Number<T>(PhantomData<T>);
impl<T> Visitor<'_> for Number<T>
where
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr,
{
    type Value = Int<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an integer of type {} or a decimal string",
            std::any::type_name::<T>()
        )
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        T::try_from(v)
            .map(Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        T::try_from(v)
            .map(Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
    // JSON numbers such as `1e3` or `5.0` are integers when they are whole.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let whole = v.fract() == 0.0 && v.abs() < 2f64.powi(63);
        #[allow(clippy::cast_possible_truncation)]
        let as_int = v as i64;
        if whole && let Ok(n) = T::try_from(as_int) {
            return Ok(Int(n));
        }
        Err(E::invalid_value(de::Unexpected::Float(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        v.parse()
            .map(Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// The names of an enum's values, for reading proto3 JSON enum names.
pub(crate) trait EnumNames {
    const NAMES: &'static [(&'static str, i32)];
}

/// An enum field: written as its number (OTLP/JSON requires integers), read
/// from a number, a decimal string or, leniently, the value's name.
pub(crate) struct Enum<E>(i32, PhantomData<E>);

impl<E> Wrapped for Enum<E> {
    type Inner = i32;
    fn into_inner(self) -> i32 {
        self.0
    }
}

impl<'de, E: EnumNames> Deserialize<'de> for Enum<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Named<E>(PhantomData<E>);
        impl<E: EnumNames> Visitor<'_> for Named<E> {
            type Value = Enum<E>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an enum number or value name")
            }
            fn visit_i64<Er: de::Error>(self, v: i64) -> Result<Self::Value, Er> {
                Number::<i32>(PhantomData)
                    .visit_i64(v)
                    .map(|n| Enum(n.0, PhantomData))
            }
            fn visit_u64<Er: de::Error>(self, v: u64) -> Result<Self::Value, Er> {
                Number::<i32>(PhantomData)
                    .visit_u64(v)
                    .map(|n| Enum(n.0, PhantomData))
            }
            fn visit_f64<Er: de::Error>(self, v: f64) -> Result<Self::Value, Er> {
                Number::<i32>(PhantomData)
                    .visit_f64(v)
                    .map(|n| Enum(n.0, PhantomData))
            }
            fn visit_str<Er: de::Error>(self, v: &str) -> Result<Self::Value, Er> {
                match E::NAMES.iter().find(|(name, _)| *name == v) {
                    Some(&(_, number)) => Ok(Enum(number, PhantomData)),
                    None => Number::<i32>(PhantomData)
                        .visit_str(v)
                        .map(|n| Enum(n.0, PhantomData)),
                }
            }
        }
        deserializer.deserialize_any(Named(PhantomData))
    }
}

/// A double: non-finite values are the strings `NaN`, `Infinity` and
/// `-Infinity` in JSON (proto3 JSON), native floats elsewhere.
pub(crate) struct F64(pub(crate) f64);

impl Wrapped for F64 {
    type Inner = f64;
    fn into_inner(self) -> f64 {
        self.0
    }
}

impl Serialize for F64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if !serializer.is_human_readable() || v.is_finite() {
            serializer.serialize_f64(v)
        } else if v.is_nan() {
            serializer.serialize_str("NaN")
        } else if v > 0.0 {
            serializer.serialize_str("Infinity")
        } else {
            serializer.serialize_str("-Infinity")
        }
    }
}

impl<'de> Deserialize<'de> for F64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Double;
        impl Visitor<'_> for Double {
            type Value = F64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a decimal string, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<F64, E> {
                Ok(F64(v))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<F64, E> {
                Ok(F64(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<F64, E> {
                Ok(F64(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<F64, E> {
                double_from_str(v)
                    .map(F64)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(Double)
    }
}

/// A double written as a string: `NaN`, `Infinity`, `-Infinity` or a number.
pub(crate) fn double_from_str(v: &str) -> Option<f64> {
    match v {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        // Rust also parses "inf" and "nan", which proto3 JSON does not allow.
        _ if v
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => v.parse().ok(),
    }
}

/// A trace or span id: hex in JSON, raw bytes elsewhere.
pub(crate) struct Hex<'a>(pub(crate) &'a Bytes);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let mut buf = [0u8; 64];
            match self
                .0
                .len()
                .checked_mul(2)
                .and_then(|len| buf.get_mut(..len))
            {
                Some(out) => {
                    // Ids are 8 or 16 bytes; the stack buffer avoids an allocation.
                    const_hex::encode_to_slice(self.0, out).map_err(serde::ser::Error::custom)?;
                    let text = std::str::from_utf8(out).map_err(serde::ser::Error::custom)?;
                    serializer.serialize_str(text)
                }
                None => serializer.serialize_str(&const_hex::encode(self.0)),
            }
        } else {
            serializer.serialize_bytes(self.0)
        }
    }
}

/// Reads an id from case-insensitive hex or raw bytes.
pub(crate) struct HexBytes(Bytes);

impl Wrapped for HexBytes {
    type Inner = Bytes;
    fn into_inner(self) -> Bytes {
        self.0
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Id;
        impl<'de> Visitor<'de> for Id {
            type Value = HexBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex string or bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HexBytes, E> {
                const_hex::decode(v)
                    .map(|id| HexBytes(id.into()))
                    .map_err(|e| E::custom(format_args!("invalid hex id {v:?}: {e}")))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<HexBytes, E> {
                Ok(HexBytes(Bytes::copy_from_slice(v)))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<HexBytes, E> {
                Ok(HexBytes(v.into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<HexBytes, A::Error> {
                byte_seq(seq).map(HexBytes)
            }
        }
        deserializer.deserialize_any(Id)
    }
}

/// Other `bytes` fields: base64 in JSON, raw bytes elsewhere.
pub(crate) struct Base64<'a>(pub(crate) &'a Bytes);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.0))
        } else {
            serializer.serialize_bytes(self.0)
        }
    }
}

/// Reads bytes from base64 (standard or URL-safe alphabet, padded or not) or
/// raw bytes.
pub(crate) struct Base64Bytes(Bytes);

impl Wrapped for Base64Bytes {
    type Inner = Bytes;
    fn into_inner(self) -> Bytes {
        self.0
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Binary;
        impl<'de> Visitor<'de> for Binary {
            type Value = Base64Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string or bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Base64Bytes, E> {
                decode_base64(v)
                    .map(|b| Base64Bytes(b.into()))
                    .ok_or_else(|| E::custom("invalid base64"))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Base64Bytes, E> {
                Ok(Base64Bytes(Bytes::copy_from_slice(v)))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Base64Bytes, E> {
                Ok(Base64Bytes(v.into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Base64Bytes, A::Error> {
                byte_seq(seq).map(Base64Bytes)
            }
        }
        deserializer.deserialize_any(Binary)
    }
}

pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    if text.contains(['-', '_']) {
        URL_SAFE.decode(text).ok()
    } else {
        STANDARD.decode(text).ok()
    }
}

/// Bytes written as an array of small integers (how some serializers write
/// binary without a native type).
fn byte_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Bytes, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
    while let Some(byte) = seq.next_element::<u8>()? {
        out.push(byte);
    }
    Ok(out.into())
}
