//! What travels: a decoded request, or the bytes of one with their encoding.

use bytes::Bytes;
use otlp_codec::{Codec, DecodeError, EncodeError};
use otlp_compression::{Compression, Encoder};

use crate::{ExportRequest, Signal};

/// An export request still in its wire form: the body, and how it is encoded
/// and compressed.
///
/// A receiver can hand these to a relay, which forwards them without decoding
/// when the next hop takes the same codec (and recompresses without decoding
/// when only the compression differs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    signal: Signal,
    codec: Codec,
    compression: Compression,
    body: Bytes,
}

impl Encoded {
    /// Wire bytes of a `signal` request in `codec`, compressed with `compression`.
    pub fn new(signal: Signal, codec: Codec, compression: Compression, body: Bytes) -> Self {
        Self {
            signal,
            codec,
            compression,
            body,
        }
    }

    /// The signal of the request.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The encoding of the (decompressed) body.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The compression of the body.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The body as it travels: compressed, encoded.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the body out.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The decompressed body, which must not exceed `limit` bytes: the bytes
    /// themselves when uncompressed, so nothing is copied.
    pub fn decompressed(&self, limit: usize) -> Result<Bytes, PayloadError> {
        if self.compression == Compression::None {
            if self.body.len() > limit {
                return Err(PayloadError::TooLarge { limit });
            }
            return Ok(self.body.clone());
        }
        let mut out = Vec::new();
        self.compression
            .decompress(&self.body, limit, &mut out)
            .map_err(|source| {
                if source.is_limit_exceeded() {
                    PayloadError::TooLarge { limit }
                } else {
                    PayloadError::Decompress(source)
                }
            })?;
        Ok(Bytes::from(out))
    }

    /// Decompresses (at most `limit` bytes) and decodes the request.
    pub fn decode(&self, limit: usize) -> Result<ExportRequest, PayloadError> {
        let body = self.decompressed(limit)?;
        Ok(ExportRequest::decode(self.signal, self.codec, body)?)
    }
}

/// An export request, decoded or still encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Decoded messages.
    Request(ExportRequest),
    /// Wire bytes with their codec and compression.
    Encoded(Encoded),
}

impl Payload {
    /// The signal carried.
    pub fn signal(&self) -> Signal {
        match self {
            Self::Request(request) => request.signal(),
            Self::Encoded(encoded) => encoded.signal(),
        }
    }

    /// A size for queues and limits: the wire size when encoded, the protobuf
    /// size when decoded.
    pub fn size_hint(&self) -> usize {
        match self {
            Self::Request(request) => request.encoded_len(),
            Self::Encoded(encoded) => encoded.body().len(),
        }
    }

    /// The decoded request; an encoded payload is decompressed (at most `limit`
    /// bytes) and decoded.
    pub fn into_request(self, limit: usize) -> Result<ExportRequest, PayloadError> {
        match self {
            Self::Request(request) => Ok(request),
            Self::Encoded(encoded) => encoded.decode(limit),
        }
    }

    /// The payload as `codec` bytes compressed by `encoder`, doing the least work:
    /// bytes already in that form are passed on as they are; bytes in the right
    /// codec but another compression are recompressed without being decoded;
    /// anything else is decoded (if need be) and encoded. `limit` bounds any
    /// decompression.
    pub fn into_encoded(
        self,
        codec: Codec,
        encoder: &Encoder,
        limit: usize,
    ) -> Result<Encoded, PayloadError> {
        let compression = encoder.compression();
        let signal = self.signal();
        let raw = match self {
            Self::Encoded(encoded) if encoded.codec == codec => {
                if encoded.compression == compression {
                    return Ok(encoded);
                }
                encoded.decompressed(limit)?
            }
            other => {
                let request = other.into_request(limit)?;
                let mut buf = Vec::with_capacity(request.encoded_len());
                request.encode(codec, &mut buf)?;
                Bytes::from(buf)
            }
        };
        let body = if compression == Compression::None {
            raw
        } else {
            let mut out = Vec::with_capacity(raw.len() / 4);
            encoder
                .compress(&raw, &mut out)
                .map_err(PayloadError::Compress)?;
            Bytes::from(out)
        };
        Ok(Encoded::new(signal, codec, compression, body))
    }
}

impl From<ExportRequest> for Payload {
    fn from(request: ExportRequest) -> Self {
        Self::Request(request)
    }
}

impl From<Encoded> for Payload {
    fn from(encoded: Encoded) -> Self {
        Self::Encoded(encoded)
    }
}

/// Why a payload could not be turned into the form asked for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The decompressed body would pass the limit (HTTP 413, gRPC RESOURCE_EXHAUSTED).
    #[error("the request is larger than the limit of {limit} bytes after decompression")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be decompressed.
    #[error("cannot decompress the request body: {0}")]
    Decompress(#[source] otlp_compression::Error),
    /// The body could not be decoded.
    #[error("cannot decode the request: {0}")]
    Decode(#[from] DecodeError),
    /// The request could not be encoded.
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// The body could not be compressed.
    #[error("cannot compress the request body: {0}")]
    Compress(#[source] otlp_compression::Error),
}

impl PayloadError {
    /// Whether the fault is the sender's data (too large, corrupt, undecodable):
    /// answer it as bad input, never retry it.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. } | Self::Decompress(_) | Self::Decode(_)
        )
    }
}
