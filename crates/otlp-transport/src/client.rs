//! The exporter side: the service every transport client implements, and the
//! wire form it sends.
//!
//! A transport client (gRPC, HTTP, WebSocket) is a
//! [`tower::Service<Encoded>`](tower::Service) answering an [`Outcome`] or an
//! [`ExportError`]: [`ExportService`] names that contract. Payloads are encoded
//! once, by [`WireFormat::encode`], before they enter the stack, so the layers
//! above the client (retry, timeout, circuit breaker, queue, failover) clone
//! only reference-counted bytes and never re-encode between attempts.

use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use tower::Service;
use tower::util::BoxCloneSyncService;

use crate::{Encoded, ExportError, Outcome, Payload};

/// What an exporter's stack is: a cloneable service that sends one encoded
/// export and reports how it went.
///
/// Implemented for every service of that shape; write bounds with it instead
/// of spelling out the associated types.
pub trait ExportService:
    Service<Encoded, Response = Outcome, Error = ExportError, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> ExportService for S where
    S: Service<Encoded, Response = Outcome, Error = ExportError, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// A type-erased [`ExportService`], for stacks chosen at run time.
pub type BoxExportService = BoxCloneSyncService<Encoded, Outcome, ExportError>;

/// The default cap on an encoded request before compression: 64 MiB, the
/// largest request the OTLP specification says a receiver should accept.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 64 << 20;

/// How an exporter puts payloads on the wire: the codec, the compression, and
/// the largest body it may decompress when forwarding already-encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireFormat {
    codec: Codec,
    encoder: Encoder,
    max_size: usize,
}

impl WireFormat {
    /// `codec` bodies compressed by `encoder`, capped at
    /// [`DEFAULT_MAX_REQUEST_SIZE`].
    pub fn new(codec: Codec, encoder: Encoder) -> Self {
        Self {
            codec,
            encoder,
            max_size: DEFAULT_MAX_REQUEST_SIZE,
        }
    }

    /// Caps the uncompressed body at `bytes`.
    pub fn with_max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// The codec of the bodies.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The compression of the bodies.
    pub fn compression(&self) -> Compression {
        self.encoder.compression()
    }

    /// The compressor, with its level.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The cap on an uncompressed body, in bytes.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The payload in this wire form, doing the least work (see
    /// [`Payload::into_encoded`]). A payload that cannot be put in this form,
    /// or whose body passes the cap, is a [`Permanent`](crate::ErrorKind::Permanent)
    /// error: sending it again cannot help.
    pub fn encode(&self, payload: Payload) -> Result<Encoded, ExportError> {
        let encoded = payload
            .into_encoded(self.codec, &self.encoder, self.max_size)
            .map_err(|e| ExportError::permanent(e.to_string()).with_source(e))?;
        if encoded.compression() == Compression::None && encoded.body().len() > self.max_size {
            return Err(ExportError::permanent(format!(
                "the request is {} bytes, over the limit of {} bytes",
                encoded.body().len(),
                self.max_size
            )));
        }
        Ok(encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, ExportRequest};
    use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;

    #[test]
    fn encodes_once_and_forwards_encoded_as_is() {
        let wire = WireFormat::new(Codec::Protobuf, Encoder::new(Compression::Gzip));
        let request = ExportRequest::from(
            otlp_datagen::Generator::new(1)
                .resources(1)
                .records(3)
                .logs(),
        );
        let encoded = wire.encode(Payload::from(request)).unwrap();
        assert_eq!(encoded.compression(), Compression::Gzip);
        let again = wire.encode(Payload::from(encoded.clone())).unwrap();
        assert!(
            again.body().as_ptr() == encoded.body().as_ptr(),
            "forwarded without a copy"
        );
    }

    #[test]
    fn over_the_cap_is_permanent() {
        let wire =
            WireFormat::new(Codec::Protobuf, Encoder::new(Compression::None)).with_max_size(8);
        let request = ExportRequest::from(
            otlp_datagen::Generator::new(1)
                .resources(1)
                .records(3)
                .logs(),
        );
        let error = wire.encode(Payload::from(request)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Permanent);
        let empty = ExportRequest::from(ExportLogsServiceRequest::default());
        assert!(wire.encode(Payload::from(empty)).is_ok());
    }
}
