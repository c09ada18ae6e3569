//! Errors of compression, decompression and name parsing.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use crate::Compression;

/// A compression or decompression failure.
///
/// Callers act on the predicates: [`is_limit_exceeded`](Self::is_limit_exceeded)
/// (answer HTTP 413 / gRPC `RESOURCE_EXHAUSTED`), [`is_invalid_input`](Self::is_invalid_input)
/// (HTTP 400 / gRPC `INVALID_ARGUMENT`) and [`is_unsupported`](Self::is_unsupported)
/// (HTTP 415 / gRPC `UNIMPLEMENTED`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The decompressed data would have grown past the caller's limit.
    #[error(
        "decompressed data exceeds the limit of {limit} bytes; reject the body as too large \
         (HTTP 413, gRPC RESOURCE_EXHAUSTED) or raise the limit"
    )]
    LimitExceeded {
        /// The limit that was passed, in bytes.
        limit: usize,
    },
    /// The input ended before the compressed stream did.
    #[error(
        "{compression} data is truncated: the input ended before the compressed stream did; \
         the body was cut short by the sender or on the way"
    )]
    Truncated {
        /// The coding the input was decoded as.
        compression: Compression,
    },
    /// The input is not valid data of the coding it was decoded as.
    #[error(
        "{compression} data is corrupt ({source}); check that the body really is \
         {compression}-encoded and arrived intact"
    )]
    Corrupt {
        /// The coding the input was decoded as.
        compression: Compression,
        /// What the decoder found wrong.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The input failed to decode and carries the signature of another coding.
    #[error(
        "data declared as {declared} looks like {detected}; the sender's Content-Encoding \
         or grpc-encoding does not match its body"
    )]
    WrongCoding {
        /// The coding the input was decoded as.
        declared: Compression,
        /// The coding whose signature the input starts with.
        detected: Compression,
    },
    /// The coding is not compiled into this build.
    #[error(
        "{compression} is not supported by this build; enable the `{}` feature of \
         otlp-compression or use one of: {}",
        compression.feature().unwrap_or("default"),
        Compression::accept_encoding()
    )]
    Unsupported {
        /// The coding that was asked for.
        compression: Compression,
    },
    /// The input is larger than the coding can represent.
    #[error(
        "{len} bytes are too many for {compression} (at most {max}); split the payload or \
         use another coding"
    )]
    InputTooLarge {
        /// The coding that was asked for.
        compression: Compression,
        /// The input's length in bytes.
        len: usize,
        /// The largest input the coding takes.
        max: usize,
    },
    /// Reading the compressed input, or writing the output, failed.
    #[error("I/O error while (de)compressing: {0}")]
    Io(#[source] io::Error),
}

impl Error {
    /// Whether the output would have exceeded the caller's limit.
    pub fn is_limit_exceeded(&self) -> bool {
        matches!(self, Error::LimitExceeded { .. })
    }

    /// Whether the input is bad: truncated, corrupt or of another coding.
    /// Sending it again will fail the same way.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::Truncated { .. } | Error::Corrupt { .. } | Error::WrongCoding { .. }
        )
    }

    /// Whether the input ended early.
    pub fn is_truncated(&self) -> bool {
        matches!(self, Error::Truncated { .. })
    }

    /// Whether the coding is not compiled into this build.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported { .. })
    }
}

/// A name that is not a known content coding, from [`Compression::from_str`](std::str::FromStr).
///
/// A receiver answers it with HTTP 415 or gRPC `UNIMPLEMENTED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseCompressionError {
    name: String,
}

impl ParseCompressionError {
    /// Names come from request headers: keep enough to recognise, not a whole header.
    const MAX_NAME: usize = 64;

    pub(crate) fn new(name: &str) -> Self {
        let end = name
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .take_while(|&end| end <= Self::MAX_NAME)
            .last()
            .unwrap_or(0);
        ParseCompressionError {
            name: name[..end].to_owned(),
        }
    }

    /// The name that was not recognised (at most 64 bytes of it).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ParseCompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown compression {:?}; expected one of: identity, gzip, deflate, zlib, zstd, \
             snappy, x-snappy-framed, lz4 (of which this build supports: {})",
            self.name,
            Compression::accept_encoding()
        )
    }
}

impl StdError for ParseCompressionError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_on_a_char_boundary() {
        let name = "é".repeat(100);
        let err = ParseCompressionError::new(&name);
        assert_eq!(err.name(), "é".repeat(32));
        assert_eq!(ParseCompressionError::new("br").name(), "br");
    }

    #[test]
    fn predicates_match_variants() {
        let limit = Error::LimitExceeded { limit: 1 };
        assert!(limit.is_limit_exceeded() && !limit.is_invalid_input());
        let truncated = Error::Truncated {
            compression: Compression::Gzip,
        };
        assert!(truncated.is_truncated() && truncated.is_invalid_input());
        let unsupported = Error::Unsupported {
            compression: Compression::Zstd,
        };
        assert!(unsupported.is_unsupported() && !unsupported.is_invalid_input());
        assert!(
            unsupported.to_string().contains("`zstd` feature"),
            "{unsupported}"
        );
    }
}
