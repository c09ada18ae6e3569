//! What can go wrong when encoding or decoding.

use std::fmt;

use crate::Codec;

/// A message could not be decoded.
///
/// The message names where decoding stopped (a field path such as
/// `resourceSpans[0].scopeSpans[2].spans[7].traceId`, or a byte offset for
/// protobuf) and what was wrong there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not valid protobuf for the expected message.
    #[error("invalid protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The body is not a valid document of a serde-based encoding.
    #[error("invalid {codec} at {}: {message}", PathDisplay(path))]
    Document {
        /// The encoding that was being decoded.
        codec: Codec,
        /// Where decoding stopped, outermost field first (empty at the top level).
        path: Vec<PathSegment>,
        /// What was wrong, with the line and column for JSON.
        message: String,
    },
    /// The codec is not compiled in (enable its cargo feature).
    #[error("{0} support is not enabled in this build of otlp-codec")]
    Disabled(Codec),
}

impl DecodeError {
    /// The field path where a document failed to decode (empty for protobuf
    /// errors, whose message carries the message and field names instead).
    pub fn path(&self) -> &[PathSegment] {
        match self {
            Self::Document { path, .. } => path,
            _ => &[],
        }
    }
}

/// A message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The serializer failed (for example on a string that CBOR cannot hold).
    #[error("cannot encode {codec}: {message}")]
    Serialize {
        /// The encoding that was being written.
        codec: Codec,
        /// What went wrong.
        message: String,
    },
    /// The codec is not compiled in (enable its cargo feature).
    #[error("{0} support is not enabled in this build of otlp-codec")]
    Disabled(Codec),
}

/// A `Content-Type` names no encoding this crate knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported content type {0:?}: expected application/x-protobuf, application/json, application/msgpack or application/cbor"
)]
pub struct UnsupportedContentType(pub String);

/// One step of a field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathSegment {
    /// A field, by its OTLP/JSON name.
    Field(&'static str),
    /// An element of a repeated field.
    Index(usize),
}

struct PathDisplay<'a>(&'a [PathSegment]);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("the top level");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Field(name) if i == 0 => f.write_str(name)?,
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}
