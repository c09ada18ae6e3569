//! Trace and span identifiers.
//!
//! On the wire they are plain `bytes` fields; these types give them a fixed
//! length, hex parsing that accepts either case (as OTLP/JSON requires) and
//! lowercase formatting (as OTLP/JSON writes).

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// The all-zero id, which OTLP defines as invalid.
            pub const INVALID: Self = Self([0; $len]);

            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Whether the id is valid, i.e. has at least one non-zero byte.
            pub const fn is_valid(&self) -> bool {
                let mut i = 0;
                while i < $len {
                    if self.0[i] != 0 {
                        return true;
                    }
                    i += 1;
                }
                false
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// A `Bytes` value for the generated message fields.
            pub fn to_bytes(&self) -> Bytes {
                Bytes::copy_from_slice(&self.0)
            }

            /// Parses `$len * 2` hex digits, upper or lower case.
            pub fn from_hex(hex: &str) -> Result<Self, IdError> {
                let mut out = [0u8; $len];
                decode_hex(hex.as_bytes(), &mut out, $what)?;
                Ok(Self(out))
            }

            /// Writes the id as lowercase hex into `out`.
            pub fn write_hex(&self, out: &mut [u8; $len * 2]) {
                encode_hex(&self.0, out);
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; $len] {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = IdError;

            fn try_from(bytes: &[u8]) -> Result<Self, IdError> {
                <[u8; $len]>::try_from(bytes).map(Self).map_err(|_| IdError::Length {
                    what: $what,
                    expected: $len,
                    found: bytes.len(),
                })
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(hex: &str) -> Result<Self, IdError> {
                Self::from_hex(hex)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = [0u8; $len * 2];
                self.write_hex(&mut out);
                f.write_str(std::str::from_utf8(&out).expect("hex digits are ASCII"))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

id_type!(
    /// A 16-byte trace id.
    ///
    /// ```
    /// use otlp_proto::TraceId;
    /// let id: TraceId = "5B8EFFF798038103D269B633813FC60C".parse()?;
    /// assert!(id.is_valid());
    /// assert_eq!(id.to_string(), "5b8efff798038103d269b633813fc60c");
    /// # Ok::<(), otlp_proto::IdError>(())
    /// ```
    TraceId,
    16,
    "trace id"
);

id_type!(
    /// An 8-byte span id.
    ///
    /// ```
    /// use otlp_proto::SpanId;
    /// let id = SpanId::from_hex("eee19b7ec3c1b174")?;
    /// assert_eq!(id.as_bytes()[0], 0xee);
    /// assert!(!SpanId::INVALID.is_valid());
    /// # Ok::<(), otlp_proto::IdError>(())
    /// ```
    SpanId,
    8,
    "span id"
);

/// Why a trace or span id could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The input had the wrong number of bytes (or of hex digits divided by two).
    Length {
        /// "trace id" or "span id".
        what: &'static str,
        /// The required number of bytes.
        expected: usize,
        /// The number found.
        found: usize,
    },
    /// A character that is not a hex digit.
    InvalidHex {
        /// "trace id" or "span id".
        what: &'static str,
        /// Byte offset of the bad character.
        offset: usize,
    },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Length {
                what,
                expected,
                found,
            } => write!(
                f,
                "a {what} has {expected} bytes ({} hex digits), found {found} bytes",
                expected * 2
            ),
            IdError::InvalidHex { what, offset } => {
                write!(f, "a {what} must be hex digits; offset {offset} is not one")
            }
        }
    }
}

impl std::error::Error for IdError {}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
}

fn decode_hex(hex: &[u8], out: &mut [u8], what: &'static str) -> Result<(), IdError> {
    if hex.len() != out.len() * 2 {
        return Err(IdError::Length {
            what,
            expected: out.len(),
            found: hex.len() / 2,
        });
    }
    for (i, (pair, byte)) in hex.chunks_exact(2).zip(out.iter_mut()).enumerate() {
        let hi = nibble(pair[0]).ok_or(IdError::InvalidHex {
            what,
            offset: i * 2,
        })?;
        let lo = nibble(pair[1]).ok_or(IdError::InvalidHex {
            what,
            offset: i * 2 + 1,
        })?;
        *byte = (hi << 4) | lo;
    }
    Ok(())
}

const fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_either_case_and_formats_lowercase() {
        let upper: TraceId = "5B8EFFF798038103D269B633813FC60C".parse().unwrap();
        let lower: TraceId = "5b8efff798038103d269b633813fc60c".parse().unwrap();
        assert_eq!(upper, lower);
        assert_eq!(upper.to_string(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            format!("{upper:?}"),
            "TraceId(5b8efff798038103d269b633813fc60c)"
        );
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        assert_eq!(
            SpanId::from_hex("abcd"),
            Err(IdError::Length {
                what: "span id",
                expected: 8,
                found: 2
            })
        );
        assert_eq!(
            SpanId::from_hex("eee19b7ec3c1b17g"),
            Err(IdError::InvalidHex {
                what: "span id",
                offset: 15
            })
        );
        let err = TraceId::try_from(&[1u8; 15][..]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a trace id has 16 bytes (32 hex digits), found 15 bytes"
        );
    }

    #[test]
    fn validity_is_any_non_zero_byte() {
        assert!(!TraceId::INVALID.is_valid());
        let mut bytes = [0u8; 16];
        bytes[15] = 1;
        assert!(TraceId::from(bytes).is_valid());
    }

    proptest! {
        #[test]
        fn hex_round_trip(bytes in any::<[u8; 16]>(), upper in any::<bool>()) {
            let id = TraceId::from(bytes);
            let text = id.to_string();
            let text = if upper { text.to_uppercase() } else { text };
            prop_assert_eq!(text.parse::<TraceId>().unwrap(), id);
        }

        #[test]
        fn parse_never_panics(text in ".{0,40}") {
            let _ = SpanId::from_hex(&text);
        }
    }
}
