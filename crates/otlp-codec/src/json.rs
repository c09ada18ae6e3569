//! The OTLP/JSON writer: generated per message (`generated/json.rs`) from the
//! same mapping as the serde impls, writing bytes directly.
//!
//! Going through serde's `Serializer` costs a size hint per object (every
//! field's default checked twice), a visitor call per value, a hex id checked
//! as UTF-8 and scanned for escapes, a base64 `String` per value. Writing
//! directly does none of that. The output is byte for byte what
//! `serde_json::to_writer` writes through the serde impls (tested).
//!
//! The reader ([`Parser`], with `impl ReadJson` generated per message) is the
//! decode fast path: the body is validated as UTF-8 once; the key a writer
//! puts next (fields in declaration order) is recognised by one fixed-length
//! compare of `"key":`, any other key is matched as bytes; strings are
//! scanned eight bytes at a time and taken as slices of the body (copied only
//! when they hold escapes); decimal integers are read eight digits at a time;
//! hex ids are decoded into a buffer shared by the document's ids (no
//! allocation per id). It accepts a subset of what the serde path accepts,
//! builds the same value (tested), and gives up on anything else, which the
//! serde path then decodes with its precise errors.

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use otlp_proto::ByteString;

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
    escape_mask(word) != 0
}

/// The high bit of each byte of `word` that is a control character, `"` or
/// `\`. Only bytes above the first flagged one may be flagged wrongly (a
/// borrow carries into them), so the lowest set bit is exact.
#[inline(always)]
fn escape_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    below_space
        | zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
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

/// Each byte's value as a hex digit (either case), or 0xff.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        table[b"0123456789ABCDEF"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Whether the eight bytes of `word` (little-endian) are all ASCII digits.
#[inline(always)]
fn eight_digits(word: u64) -> bool {
    // Each byte is 0x30..=0x39 when its high nibble is 3 and adding 6 does
    // not carry into the high nibble.
    const ONES: u64 = 0x0101_0101_0101_0101;
    (word & (ONES * 0xf0)) | (((word.wrapping_add(ONES * 0x06)) & (ONES * 0xf0)) >> 4)
        == ONES * 0x33
}

/// The value of eight ASCII digits, the first in the lowest byte.
#[inline(always)]
fn eight_digits_value(word: u64) -> u64 {
    // Pairs of digits, then pairs of pairs, then the two halves, each step
    // one multiply (Lemire's SWAR parsing).
    const ONES: u64 = 0x0101_0101_0101_0101;
    const MASK: u64 = 0x0000_00ff_0000_00ff;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let digits = word - ONES * u64::from(b'0');
    let pairs = digits.wrapping_mul(10).wrapping_add(digits >> 8);
    ((pairs & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((pairs >> 16) & MASK).wrapping_mul(MUL2)))
        >> 32
}

/// An integer type of an OTLP field, built from a sign and a magnitude.
pub(crate) trait Integer: Sized {
    /// Whether `-` is a sign in a decimal string (as `str::parse` reads it).
    const SIGNED: bool;
    /// `None` when the value is out of range.
    fn from_parts(negative: bool, magnitude: u64) -> Option<Self>;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Integer for $t {
            const SIGNED: bool = false;
            fn from_parts(negative: bool, magnitude: u64) -> Option<Self> {
                if negative { None } else { Self::try_from(magnitude).ok() }
            }
        }
    )*};
}

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl Integer for $t {
            const SIGNED: bool = true;
            fn from_parts(negative: bool, magnitude: u64) -> Option<Self> {
                if !negative {
                    Self::try_from(magnitude).ok()
                } else if magnitude <= 1 << 63 {
                    #[allow(clippy::cast_possible_wrap)]
                    Self::try_from((magnitude as i64).wrapping_neg()).ok()
                } else {
                    None
                }
            }
        }
    )*};
}

unsigned!(u32, u64);
signed!(i32, i64);

/// The OTLP/JSON reader gave up: decode with the serde path, whose result and
/// errors (with the field path, line and column) are the reference.
#[derive(Debug)]
pub(crate) struct Fail;

/// A message with a generated OTLP/JSON reader.
pub(crate) trait ReadJson: Sized {
    /// Reads one object (the parser stands on its `{`).
    fn read_json(p: &mut Parser<'_>) -> Result<Self, Fail>;
}

/// Decodes a whole document, or gives up.
pub(crate) fn decode<M: ReadJson>(body: &Bytes) -> Result<M, Fail> {
    // One validation of the whole body: every string between two ASCII
    // quotes of valid UTF-8 is then valid UTF-8 too, so a string without
    // escapes is taken as a slice of the body, with no check and no copy.
    let source = ByteString::try_from(body.clone()).map_err(|_| Fail)?;
    let text: &str = &source;
    let mut p = Parser {
        source: &source,
        text,
        buf: body,
        pos: 0,
        nesting: 0,
        any_depth: 0,
        ids: BytesMut::new(),
    };
    p.ws();
    let message = M::read_json(&mut p)?;
    p.ws();
    if p.pos == body.len() {
        Ok(message)
    } else {
        Err(Fail)
    }
}

/// Objects and arrays nest at most this deep: below serde_json's own limit
/// (128), so that the reader never accepts what serde_json refuses.
const MAX_NESTING: u32 = 100;

/// A cursor over an OTLP/JSON document.
///
/// It accepts a subset of what the serde path accepts — never more — and
/// gives up ([`Fail`]) on the rest: any syntax error, escapes in keys, a
/// number where serde_json would produce a float for an integer field, ids or
/// bytes written as arrays, nesting beyond [`MAX_NESTING`] or `AnyValue`s
/// beyond [`crate::MAX_DEPTH`].
pub(crate) struct Parser<'a> {
    /// The body, to slice strings out of.
    source: &'a ByteString,
    text: &'a str,
    buf: &'a [u8],
    pos: usize,
    nesting: u32,
    any_depth: usize,
    /// Where hex ids are decoded: each id is split off as a `Bytes`, so the
    /// ids of a document share a few [`ID_CHUNK`]-byte buffers instead of
    /// one allocation each.
    ids: BytesMut,
}

/// The size of the buffers hex ids are decoded into (256 trace ids).
const ID_CHUNK: usize = 4096;

impl<'a> Parser<'a> {
    /// Skips JSON whitespace.
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.buf.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Result<(), Fail> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Fail)
        }
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

    /// Consumes `{`; `false` when the object is empty (its `}` consumed too).
    pub(crate) fn begin_object(&mut self) -> Result<bool, Fail> {
        self.expect(b'{')?;
        self.enter()?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.nesting -= 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After a member: `true` when another follows, `false` at the `}`.
    pub(crate) fn next_member(&mut self) -> Result<bool, Fail> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.ws();
                Ok(true)
            }
            Some(b'}') => {
                self.pos += 1;
                self.nesting -= 1;
                Ok(false)
            }
            _ => Err(Fail),
        }
    }

    /// A member's key and its `:`, as raw bytes; keys with escapes give up.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<&'a [u8], Fail> {
        let buf: &'a [u8] = self.buf;
        self.expect(b'"')?;
        let start = self.pos;
        let end = self.string_end()?;
        if self.buf.get(end) != Some(&b'"') {
            return Err(Fail);
        }
        self.pos = end + 1;
        self.ws();
        self.expect(b':')?;
        self.ws();
        buf.get(start..end).ok_or(Fail)
    }

    /// Consumes `key` (a quoted key and its `:`, as the writers write it) and
    /// the whitespace after it, if the input continues with exactly these
    /// bytes: the readers' fast path for the key they expect next, one
    /// fixed-length compare instead of [`Parser::key`]'s scan and match.
    /// Anything else (other keys, whitespace before the `:`, escapes) is left
    /// to [`Parser::key`].
    #[inline(always)]
    pub(crate) fn eat_key<const N: usize>(&mut self, key: &[u8; N]) -> bool {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if rest.first_chunk::<N>() != Some(key) {
            return false;
        }
        self.pos += N;
        self.ws();
        true
    }

    /// The index of the first `"` or `\` from here; gives up on a control
    /// character or the end of input.
    #[inline(always)]
    fn string_end(&self) -> Result<usize, Fail> {
        let mut i = self.pos;
        // Eight bytes at a time; the lowest flagged byte is the first match.
        while let Some(chunk) = self.buf.get(i..i + 8) {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).map_err(|_| Fail)?);
            let mask = escape_mask(word);
            if mask != 0 {
                let at = i + (mask.trailing_zeros() / 8) as usize;
                return match self.buf.get(at) {
                    Some(b'"' | b'\\') => Ok(at),
                    _ => Err(Fail),
                };
            }
            i += 8;
        }
        let tail = self.buf.get(i..).unwrap_or_default();
        for (j, &byte) in tail.iter().enumerate() {
            match byte {
                b'"' | b'\\' => return Ok(i + j),
                0x00..=0x1f => return Err(Fail),
                _ => {}
            }
        }
        Err(Fail)
    }

    /// `null` (consumed): the serde path leaves the field as it is.
    #[inline(always)]
    pub(crate) fn null(&mut self) -> bool {
        if self.buf.get(self.pos..self.pos + 4) == Some(b"null") {
            self.pos += 4;
            true
        } else {
            false
        }
    }

    /// A string value, unescaped: a slice of the body when it has no escapes.
    pub(crate) fn string(&mut self) -> Result<ByteString, Fail> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = self.string_end()?;
        if self.buf.get(end) == Some(&b'"') {
            self.pos = end + 1;
            if start == end {
                return Ok(ByteString::new());
            }
            let text = self.text.get(start..end).ok_or(Fail)?;
            return Ok(self.source.slice_ref(text));
        }
        self.escaped_string(start, end).map(ByteString::from)
    }

    /// The rest of a string with escapes, from `start` (escape at `end`).
    #[inline(never)]
    fn escaped_string(&mut self, start: usize, mut end: usize) -> Result<String, Fail> {
        let mut out = String::from(self.text.get(start..end).ok_or(Fail)?);
        loop {
            // At a backslash.
            self.pos = end + 1;
            let escape = self.peek().ok_or(Fail)?;
            self.pos += 1;
            match escape {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let unit = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&unit) {
                        // A surrogate pair, or serde_json's error.
                        if self.buf.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(Fail);
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return Err(Fail);
                        }
                        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                    } else {
                        char::from_u32(unit)
                    };
                    out.push(c.ok_or(Fail)?);
                }
                _ => return Err(Fail),
            }
            let run = self.pos;
            end = self.string_end()?;
            out.push_str(self.text.get(run..end).ok_or(Fail)?);
            if self.buf.get(end) == Some(&b'"') {
                self.pos = end + 1;
                return Ok(out);
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Fail> {
        let digits = self.text.get(self.pos..self.pos + 4).ok_or(Fail)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Fail);
        }
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| Fail)
    }

    /// A string without escapes, borrowed (ids, bytes, numbers in strings).
    fn plain_str(&mut self) -> Result<&'a str, Fail> {
        let text: &'a str = self.text;
        self.expect(b'"')?;
        let start = self.pos;
        let end = self.string_end()?;
        if self.buf.get(end) != Some(&b'"') {
            return Err(Fail);
        }
        self.pos = end + 1;
        text.get(start..end).ok_or(Fail)
    }

    /// A trace or span id from hex, as `const_hex::decode` (the serde path)
    /// reads it: an even number of digits of either case after an optional
    /// `0x`. Decoded into the shared id buffer, so no allocation per id.
    pub(crate) fn hex(&mut self) -> Result<Bytes, Fail> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = self.string_end()?;
        // An escape gives up (the serde path unescapes it first).
        if self.buf.get(end) != Some(&b'"') {
            return Err(Fail);
        }
        self.pos = end + 1;
        let text = self.buf.get(start..end).ok_or(Fail)?;
        if text.len() % 2 != 0 {
            return Err(Fail);
        }
        let digits = match text {
            [b'0', b'x' | b'X', rest @ ..] => rest,
            _ => text,
        };
        let len = digits.len() / 2;
        if len == 0 {
            return Ok(Bytes::new());
        }
        if self.ids.capacity() < len {
            self.ids = BytesMut::with_capacity(len.max(ID_CHUNK));
        }
        // `ids` is empty here: every id is split off whole. On an invalid
        // digit the whole decode gives up, so what was written is dropped.
        self.ids.resize(len, 0);
        let mut invalid = 0;
        for (byte, pair) in self.ids.iter_mut().zip(digits.chunks_exact(2)) {
            let high = HEX_VALUE[usize::from(pair[0])];
            let low = HEX_VALUE[usize::from(pair[1])];
            invalid |= high | low;
            *byte = (high << 4) | (low & 0xf);
        }
        // Any digit that was not hex set bits above the low four.
        if invalid > 0xf {
            return Err(Fail);
        }
        Ok(self.ids.split().freeze())
    }

    /// Other bytes from base64.
    pub(crate) fn base64(&mut self) -> Result<Bytes, Fail> {
        let text = self.plain_str()?;
        crate::serde_impl::decode_base64(text)
            .map(Bytes::from)
            .ok_or(Fail)
    }

    pub(crate) fn boolean(&mut self) -> Result<bool, Fail> {
        if self.buf.get(self.pos..self.pos + 4) == Some(b"true") {
            self.pos += 4;
            Ok(true)
        } else if self.buf.get(self.pos..self.pos + 5) == Some(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            Err(Fail)
        }
    }

    /// A number token per JSON's grammar, as text; `(text, is_integer)`.
    fn number(&mut self) -> Result<(&'a str, bool), Fail> {
        let text: &'a str = self.text;
        let start = self.pos;
        let b = self.buf;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = b.get(i) {
                    i += 1;
                }
            }
            _ => return Err(Fail),
        }
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            let digits = i;
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
            if i == digits {
                return Err(Fail);
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            integer = false;
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let digits = i;
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
            if i == digits {
                return Err(Fail);
            }
        }
        self.pos = i;
        Ok((text.get(start..i).ok_or(Fail)?, integer))
    }

    /// An integer from a JSON integer or a decimal string, as the serde path
    /// reads it. Numbers serde_json would read as floats give up.
    pub(crate) fn int<T: Integer>(&mut self) -> Result<T, Fail> {
        if self.peek() == Some(b'"') {
            // `str::parse`'s rules: an optional `+` (or `-` for a signed
            // type), then at least one digit, leading zeros allowed.
            self.pos += 1;
            let negative = match self.peek() {
                Some(b'+') => {
                    self.pos += 1;
                    false
                }
                Some(b'-') if T::SIGNED => {
                    self.pos += 1;
                    true
                }
                _ => false,
            };
            let magnitude = self.digits().ok_or(Fail)?;
            // Anything else before the closing quote (an escape too) gives up.
            self.expect(b'"')?;
            return T::from_parts(negative, magnitude).ok_or(Fail);
        }
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let start = self.pos;
        let magnitude = self.digits().ok_or(Fail)?;
        // JSON allows no leading zero; a fraction or an exponent makes a
        // float in serde_json, and so does -0.
        let leading_zero = self.buf.get(start) == Some(&b'0') && self.pos - start > 1;
        if leading_zero
            || matches!(self.peek(), Some(b'.' | b'e' | b'E'))
            || (negative && magnitude == 0)
        {
            return Err(Fail);
        }
        T::from_parts(negative, magnitude).ok_or(Fail)
    }

    /// Decimal digits from here, as a `u64`: `None` when there are none or
    /// they overflow. Eight at a time while they last (most timestamps are
    /// 19 digits).
    #[inline(always)]
    fn digits(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(chunk) = self.buf.get(self.pos..).and_then(|r| r.first_chunk::<8>()) {
            let word = u64::from_le_bytes(*chunk);
            if !eight_digits(word) {
                break;
            }
            value = value
                .checked_mul(100_000_000)?
                .checked_add(eight_digits_value(word))?;
            self.pos += 8;
        }
        while let Some(&byte) = self.buf.get(self.pos) {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
            self.pos += 1;
        }
        (self.pos > start).then_some(value)
    }

    /// An enum: a number, a decimal string or a value name.
    pub(crate) fn enumeration<E: crate::serde_impl::EnumNames>(&mut self) -> Result<i32, Fail> {
        if self.peek() == Some(b'"') {
            let start = self.pos;
            let text = self.plain_str()?;
            if let Some(&(_, number)) = E::NAMES.iter().find(|(name, _)| *name == text) {
                return Ok(number);
            }
            self.pos = start;
        }
        self.int()
    }

    /// A double from a number or a string (`NaN`, `Infinity`, decimal).
    pub(crate) fn double(&mut self) -> Result<f64, Fail> {
        if self.peek() == Some(b'"') {
            let text = self.plain_str()?;
            return crate::serde_impl::double_from_str(text).ok_or(Fail);
        }
        // Both std and serde_json (float_roundtrip) round correctly; a number
        // beyond f64's range is an error in serde_json, infinity in std.
        let (text, _) = self.number()?;
        text.parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or(Fail)
    }

    /// A message: an object.
    #[inline(always)]
    pub(crate) fn message<M: ReadJson>(&mut self) -> Result<M, Fail> {
        M::read_json(self)
    }

    /// An array of values read by `element`.
    pub(crate) fn array<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<T, Fail>,
    ) -> Result<Vec<T>, Fail> {
        self.expect(b'[')?;
        self.enter()?;
        self.ws();
        let mut out = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.nesting -= 1;
            return Ok(out);
        }
        loop {
            out.push(element(self)?);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    self.nesting -= 1;
                    return Ok(out);
                }
                _ => return Err(Fail),
            }
        }
    }

    /// Skips the value of an unknown field, checking it as strictly as
    /// serde_json does.
    pub(crate) fn skip_value(&mut self) -> Result<(), Fail> {
        match self.peek().ok_or(Fail)? {
            b'"' => {
                self.pos += 1;
                loop {
                    let end = self.string_end()?;
                    self.pos = end + 1;
                    if self.buf.get(end) == Some(&b'"') {
                        return Ok(());
                    }
                    match self.peek().ok_or(Fail)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                        b'u' => {
                            self.pos += 1;
                            self.hex4()?;
                        }
                        _ => return Err(Fail),
                    }
                }
            }
            b'{' => {
                if self.begin_object()? {
                    loop {
                        self.key()?;
                        self.skip_value()?;
                        if !self.next_member()? {
                            break;
                        }
                    }
                }
                Ok(())
            }
            b'[' => self.array(|p| p.skip_value()).map(drop),
            b't' | b'f' => self.boolean().map(drop),
            b'n' if self.null() => Ok(()),
            _ => self.number().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use otlp_proto::common::v1::{AnyValue, KeyValue, any_value};
    use otlp_proto::metrics::v1::{HistogramDataPoint, NumberDataPoint, number_data_point};
    use otlp_proto::strategy::{DEPTH, collector};
    use proptest::prelude::*;
    use prost::Message as _;

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

    /// What the serde path decodes from `body`.
    fn serde_decode<M: crate::OtlpMessage>(body: &[u8]) -> Result<M, crate::DecodeError> {
        crate::Codec::decode_json_serde(Bytes::copy_from_slice(body))
    }

    /// The reader gives up or agrees with the serde path, which must then
    /// accept the document too. Compared through protobuf so NaN equals itself.
    fn never_disagrees<M: ReadJson + crate::OtlpMessage + std::fmt::Debug>(
        body: &[u8],
    ) -> Result<(), TestCaseError> {
        if let Ok(fast) = decode::<M>(&Bytes::copy_from_slice(body)) {
            match serde_decode::<M>(&Bytes::copy_from_slice(body)) {
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

    /// The reader accepts what the writer writes and reads the message back.
    fn reads_back<M>(message: &M) -> Result<(), TestCaseError>
    where
        M: ReadJson + WriteJson + crate::OtlpMessage + PartialEq + std::fmt::Debug,
    {
        let mut body = Vec::new();
        WriteJson::write_json(message, &mut body);
        let fast = decode::<M>(&Bytes::copy_from_slice(&body))
            .map_err(|_| TestCaseError::fail("reader gave up"))?;
        prop_assert_eq!(&fast, message);
        never_disagrees::<M>(&body)
    }

    /// Whether `s` lies inside `body`'s memory.
    fn inside(s: &str, body: &Bytes) -> bool {
        let range = body.as_ptr_range();
        range.contains(&s.as_ptr()) && s.as_ptr().wrapping_add(s.len()) <= range.end
    }

    #[test]
    fn unescaped_strings_share_the_body_escaped_ones_are_unescaped() {
        let body = Bytes::from_static(
            br#"{"key":"service.name","value":{"stringValue":"caf\u00e9 \"au lait\""}}"#,
        );
        let decoded = decode::<KeyValue>(&body).unwrap();
        assert_eq!(decoded.key, "service.name");
        assert!(inside(&decoded.key, &body));
        let Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }) = &decoded.value
        else {
            panic!("not a string value: {decoded:?}");
        };
        assert_eq!(value, "café \"au lait\"");
        assert!(!inside(value, &body));

        // Non-ASCII text without escapes is a slice too.
        let body = Bytes::from(r#"{"key":"größe"}"#);
        let decoded = decode::<KeyValue>(&body).unwrap();
        assert_eq!(decoded.key, "größe");
        assert!(inside(&decoded.key, &body));
    }

    /// What `read` makes of the whole of `json`, or `None` if it gives up.
    fn read_alone<R>(
        json: &str,
        read: impl FnOnce(&mut Parser<'_>) -> Result<R, Fail>,
    ) -> Option<R> {
        let body = Bytes::copy_from_slice(json.as_bytes());
        let source = ByteString::try_from(body.clone()).ok()?;
        let mut p = Parser {
            source: &source,
            text: &source,
            buf: &body,
            pos: 0,
            nesting: 0,
            any_depth: 0,
            ids: BytesMut::new(),
        };
        let value = read(&mut p).ok()?;
        (p.pos == body.len()).then_some(value)
    }

    /// A quoted integer reads as `str::parse` (the serde path) reads it.
    fn quoted_int_like_parse(text: &str) -> Result<(), TestCaseError> {
        fn same<T>(text: &str) -> Result<(), TestCaseError>
        where
            T: Integer + std::str::FromStr + PartialEq + std::fmt::Debug,
        {
            let quoted = format!("\"{text}\"");
            prop_assert_eq!(
                read_alone(&quoted, |p| p.int::<T>()),
                text.parse::<T>().ok(),
                "{}",
                text
            );
            Ok(())
        }
        same::<u64>(text)?;
        same::<i64>(text)?;
        same::<u32>(text)?;
        same::<i32>(text)
    }

    /// A JSON number the reader reads as an integer is that integer (it may
    /// give up on others, such as `-0` or `1e3`).
    fn number_int_exact(text: &str) -> Result<(), TestCaseError> {
        let exact = text.parse::<i128>().ok();
        let check = |read: Option<i128>| -> Result<(), TestCaseError> {
            if let Some(read) = read {
                prop_assert_eq!(Some(read), exact, "{}", text);
                // JSON has no leading zeros, and serde_json reads -0 as a float.
                let leading_zero = text.starts_with('0') && text.len() > 1;
                prop_assert!(!leading_zero && !text.starts_with("-0"), "{}", text);
            }
            Ok(())
        };
        check(read_alone(text, |p| p.int::<u64>()).map(i128::from))?;
        check(read_alone(text, |p| p.int::<i64>()).map(i128::from))?;
        check(read_alone(text, |p| p.int::<u32>()).map(i128::from))?;
        check(read_alone(text, |p| p.int::<i32>()).map(i128::from))
    }

    /// A hex id reads as `const_hex::decode` (the serde path) reads it.
    fn hex_like_const_hex(text: &str) -> Result<(), TestCaseError> {
        let read = read_alone(&format!("\"{text}\""), |p| p.hex());
        let reference = const_hex::decode(text).ok();
        prop_assert_eq!(read.as_deref(), reference.as_deref(), "{}", text);
        Ok(())
    }

    /// `value` as JSON with every object's keys in reverse order and a space
    /// before each `:` (what the expected-key fast path does not take).
    fn reversed_keys(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                out.push('{');
                for (i, (key, value)) in map.iter().rev().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key).unwrap());
                    out.push_str(" :");
                    reversed_keys(value, out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    reversed_keys(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
        }
    }

    /// The reader reads `message` back from its JSON with reversed keys.
    fn reads_reversed<M>(message: &M) -> Result<(), TestCaseError>
    where
        M: ReadJson + WriteJson + crate::OtlpMessage + PartialEq + std::fmt::Debug,
    {
        let mut body = Vec::new();
        WriteJson::write_json(message, &mut body);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        let mut reversed = String::new();
        reversed_keys(&value, &mut reversed);
        let fast = decode::<M>(&Bytes::from(reversed.clone()))
            .map_err(|_| TestCaseError::fail(format!("reader gave up on {reversed}")))?;
        prop_assert_eq!(&fast, message);
        never_disagrees::<M>(reversed.as_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn reads_keys_in_any_order(
            t in collector::trace::v1::export_trace_service_request(DEPTH),
            m in collector::metrics::v1::export_metrics_service_request(DEPTH),
            l in collector::logs::v1::export_logs_service_request(DEPTH),
        ) {
            reads_reversed(&t)?;
            reads_reversed(&m)?;
            reads_reversed(&l)?;
        }

        #[test]
        fn quoted_ints_read_like_str_parse(
            text in "[+-]{0,2}[0-9]{0,24}",
            digits in "[0-9]{0,24}[^0-9\"\\\\]?[0-9]{0,10}",
        ) {
            quoted_int_like_parse(&text)?;
            quoted_int_like_parse(&digits)?;
        }

        #[test]
        fn number_ints_read_exactly(text in "-?[0-9]{1,24}([.eE][0-9]{0,3})?") {
            number_int_exact(&text)?;
        }

        #[test]
        fn hex_ids_read_like_const_hex(text in "(0[xX])?[0-9a-fA-Fg ]{0,40}") {
            hex_like_const_hex(&text)?;
        }


        #[test]
        fn reads_what_it_writes(
            t in collector::trace::v1::export_trace_service_request(DEPTH),
            m in collector::metrics::v1::export_metrics_service_request(DEPTH),
            l in collector::logs::v1::export_logs_service_request(DEPTH),
            p in collector::profiles::v1development::export_profiles_service_request(DEPTH),
            r in collector::trace::v1::export_trace_service_response(DEPTH),
        ) {
            reads_back(&t)?;
            reads_back(&m)?;
            reads_back(&l)?;
            reads_back(&p)?;
            reads_back(&r)?;
        }

        #[test]
        fn never_disagrees_on_broken_documents(
            t in collector::trace::v1::export_trace_service_request(3),
            m in collector::metrics::v1::export_metrics_service_request(3),
            at in any::<usize>(),
            byte in prop::sample::select(b"{}[]\",:0123456789-+.eE \\\nabtrunlfsxX\x00\xff".to_vec()),
        ) {
            for message in [crate::Codec::Json.encode_to_vec(&t).unwrap(), crate::Codec::Json.encode_to_vec(&m).unwrap()] {
                let at = at % (message.len() + 1);
                let mut flipped = message.clone();
                if let Some(b) = flipped.get_mut(at) {
                    *b = byte;
                }
                let mut spliced = message.clone();
                spliced.insert(at, byte);
                for body in [&message[..at], &flipped[..], &spliced[..]] {
                    all_requests(body)?;
                }
            }
        }

        #[test]
        fn never_disagrees_on_garbage(body in "[{}\\[\\],:\"a-zA-Z0-9 .\\\\-]{0,64}") {
            all_requests(body.as_bytes())?;
        }

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
    fn int_edges_read_like_the_serde_path() {
        for text in [
            "0",
            "00000000000000000000000000000001",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "4294967295",
            "4294967296",
            "2147483647",
            "-2147483648",
            "-2147483649",
            "-0",
            "+0",
            "+18446744073709551615",
            "+",
            "-",
            "",
            "+-1",
            "--1",
            " 1",
            "1 ",
            "12345678a",
            "1234567a",
            "\u{ff11}",
            "1.0",
            "1e3",
        ] {
            quoted_int_like_parse(text).unwrap();
            number_int_exact(text).unwrap();
        }
        assert_eq!(
            read_alone("\"18446744073709551615\"", |p| p.int::<u64>()),
            Some(u64::MAX)
        );
        assert_eq!(
            read_alone("18446744073709551615", |p| p.int::<u64>()),
            Some(u64::MAX)
        );
        assert_eq!(
            read_alone("\"-9223372036854775808\"", |p| p.int::<i64>()),
            Some(i64::MIN)
        );
        assert_eq!(
            read_alone("-9223372036854775808", |p| p.int::<i64>()),
            Some(i64::MIN)
        );
        assert_eq!(
            read_alone("\"0001700000000000000000\"", |p| p.int::<u64>()),
            Some(1_700_000_000_000_000_000)
        );
        // An escaped digit gives up (the serde path unescapes it).
        assert_eq!(read_alone("\"\\u0031\"", |p| p.int::<u64>()), None);
        // Whole documents, quoted and not, every integer type of OTLP.
        all_requests(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"18446744073709551615","endTimeUnixNano":18446744073709551615,"flags":"+4294967295","kind":"-2147483648","attributes":[{"key":"k","value":{"intValue":"-9223372036854775808"}},{"key":"l","value":{"intValue":-9223372036854775808}},{"key":"m","value":{"intValue":"0009"}}]}]}]}]}"#).unwrap();
        all_requests(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"18446744073709551616"}]}]}]}"#).unwrap();
        all_requests(
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"-1"}]}]}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn hex_ids_of_any_case_and_length_share_a_buffer() {
        for text in [
            "",
            "0x",
            "0X",
            "0",
            "abc",
            "0x0x12",
            "5B8EFFF798038103D269B633813FC60C",
            "5b8eFFF798038103d269B633813fc60c",
            "0x5b8efff798038103",
            "5b8efff79803810g",
            "5b8efff79803810 ",
        ] {
            hex_like_const_hex(text).unwrap();
        }
        // Ids longer than a chunk, and more ids than a chunk holds.
        let long = "ab".repeat(ID_CHUNK + 1);
        hex_like_const_hex(&long).unwrap();
        let ids: Vec<String> = (0..600_u32)
            .map(|i| format!("{:032x}", u128::from(i) * 0x0123_4567_89ab_cdef))
            .collect();
        let spans: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"traceId":"{id}","spanId":"{}"}}"#, &id[16..]))
            .collect();
        let document = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
            spans.join(",")
        );
        let decoded = decode::<otlp_proto::collector::trace::v1::ExportTraceServiceRequest>(
            &Bytes::from(document.clone()),
        )
        .unwrap();
        let read = &decoded.resource_spans[0].scope_spans[0].spans;
        assert_eq!(read.len(), ids.len());
        for (span, id) in read.iter().zip(&ids) {
            assert_eq!(const_hex::encode(&span.trace_id), *id);
            assert_eq!(const_hex::encode(&span.span_id), id[16..]);
        }
        all_requests(document.as_bytes()).unwrap();
    }

    #[test]
    fn keys_out_of_order_spaced_or_prefixed_read_like_the_serde_path() {
        use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
        let span = |members: &str| {
            format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{{members}}}]}}]}}]}}"#)
        };
        let id = "5b8efff798038103d269b633813fc60c";
        for members in [
            format!(r#""spanId":"eee19b7ec3c1b174","traceId":"{id}","name":"n""#),
            format!(
                r#""traceId" :"{id}", "spanId"
: "eee19b7ec3c1b174"	,	"name"	:	"n""#
            ),
            r#""name":"a","nameX":"b","nam":"c","":1,"name ":2"#.to_string(),
            r#""trace":1,"traceIdx":"zz","traceId":null,"spanId":"00""#.to_string(),
            format!(r#""name":"a","name":"b","traceId":"{id}","spanId":"aa","traceId":"CC""#),
            format!(
                r#""x":{{"traceId":1}},"traceId":"{id}","spanId":"aa","traceState":"s","kind":2,"kind":"SPAN_KIND_CLIENT""#
            ),
        ] {
            let document = span(&members);
            let body = Bytes::from(document.clone());
            let fast = decode::<ExportTraceServiceRequest>(&body)
                .unwrap_or_else(|_| panic!("reader gave up on {document}"));
            let reference = serde_decode::<ExportTraceServiceRequest>(&body).unwrap();
            assert_eq!(fast, reference, "{document}");
        }
        // The last duplicate wins.
        let document = span(r#""name":"a","spanId":"01","name":"b""#);
        let decoded = decode::<ExportTraceServiceRequest>(&Bytes::from(document)).unwrap();
        assert_eq!(decoded.resource_spans[0].scope_spans[0].spans[0].name, "b");
        // A key with an escape gives up, even the expected one.
        let document = span(&format!(r#""trace\u0049d":"{id}""#));
        assert!(decode::<ExportTraceServiceRequest>(&Bytes::from(document.clone())).is_err());
        all_requests(document.as_bytes()).unwrap();
    }

    #[test]
    fn reads_every_form_the_serde_path_reads() {
        use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
        use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
        let traces = [
            // Uppercase hex, ints as strings and numbers, enum names, nulls,
            // unknown fields at every depth, escapes, whitespace.
            r#" { "resourceSpans" : [ { "scopeSpans": [ { "spans": [ {
                "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "eee19b7ec3c1b174",
                "name": "GET \"/\" \u00e9\ud83d\ude00\n\/", "kind": "SPAN_KIND_SERVER",
                "startTimeUnixNano": 1700000000000000000, "endTimeUnixNano": "1700000000000000001",
                "droppedAttributesCount": "3", "parentSpanId": null, "status": null,
                "unknown": {"a": [1, -2.5e3, "x\u0041\"", true, false, null, {}], "b": []},
                "attributes": [ {"key": "k", "value": {"intValue": "-9223372036854775808"}},
                  {"key": "d", "value": {"doubleValue": "NaN"}},
                  {"key": "e", "value": {"doubleValue": -0.0}},
                  {"key": "i", "value": {"doubleValue": 12345678901234567890123}},
                  {"key": "b", "value": {"bytesValue": "AAEC"}},
                  {"key": "u", "value": {"bytesValue": "_-8"}},
                  {"key": "n", "value": null},
                  {"key": "l", "value": {"kvlistValue": {"values": [{"key": "x", "value": {"arrayValue": {"values": [{"boolValue": true}]}}}]}}}
                ] } ] } ] } ] } "#,
            // Duplicate keys: the last wins, for a oneof too.
            r#"{"resourceSpans":[{"schemaUrl":"a","schemaUrl":"b","scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"stringValue":"s","intValue":"5"}}]}]}]}]}"#,
            "{}",
            r#"{"resourceSpans":[]}"#,
        ];
        for document in traces {
            let fast =
                decode::<ExportTraceServiceRequest>(&Bytes::copy_from_slice(document.as_bytes()))
                    .unwrap_or_else(|_| panic!("reader gave up on {document}"));
            let reference = serde_decode::<ExportTraceServiceRequest>(&Bytes::copy_from_slice(
                document.as_bytes(),
            ))
            .unwrap();
            assert_eq!(
                fast.encode_to_vec(),
                reference.encode_to_vec(),
                "{document}"
            );
        }
        let metrics = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{
            "aggregationTemporality":2,"dataPoints":[{"count":"3","sum":1.5,"bucketCounts":["1",2],
            "explicitBounds":[0.5,"Infinity"],"min":"-Infinity","max":1e300}]}}]}]}]}"#;
        let fast =
            decode::<ExportMetricsServiceRequest>(&Bytes::copy_from_slice(metrics.as_bytes()))
                .unwrap();
        let reference = serde_decode::<ExportMetricsServiceRequest>(&Bytes::copy_from_slice(
            metrics.as_bytes(),
        ))
        .unwrap();
        assert_eq!(fast, reference);
    }

    #[test]
    fn gives_up_where_the_serde_path_decides() {
        use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
        for document in [
            r#"{"resourceSpans":[{"schemaUrl":"\ud800"}]}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":1.0}]}]}]}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":-0}]}]}]}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":[1,2]}]}]}]}"#,
            r#"{"resource\u0053pans":[]}"#,
            "{\"resourceSpans\":[{\"schemaUrl\":\"a\tb\"}]}",
            r#"{"resourceSpans":[] } x"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
            r#"{"unknown": 01}"#,
        ] {
            assert!(
                decode::<ExportTraceServiceRequest>(&Bytes::copy_from_slice(document.as_bytes()))
                    .is_err(),
                "{document}"
            );
        }
        // An ignored number out of f64's range: whatever serde_json says.
        all_requests(br#"{"unknown": 1e400}"#).unwrap();
        // Deep AnyValues stop at MAX_DEPTH, as in the serde path.
        let mut value = String::from(r#"{"intValue":"1"}"#);
        for _ in 0..crate::MAX_DEPTH {
            value = format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#);
        }
        let document = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"k","value":{value}}}]}}}}]}}"#
        );
        assert!(
            decode::<ExportTraceServiceRequest>(&Bytes::copy_from_slice(document.as_bytes()))
                .is_err()
        );
        assert!(
            serde_decode::<ExportTraceServiceRequest>(&Bytes::copy_from_slice(document.as_bytes()))
                .is_err()
        );
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
