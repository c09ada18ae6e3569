//! The receiver side: where received exports go.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Outcome, Payload, Signal, SinkError};

/// Takes the exports a receiver accepted and says how they went.
///
/// Every transport's server hands each request to a sink and turns its answer
/// into the response: `Ok(Outcome::Success)` and partial success into a success
/// response, [`SinkError`] into the status the OTLP specification gives.
///
/// A sink gets decoded requests unless [`wants_encoded`](Self::wants_encoded)
/// says otherwise; a relay that forwards bytes as they came asks for them
/// encoded and skips decoding altogether.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Whether to receive `signal` payloads still encoded
    /// ([`Payload::Encoded`]) instead of decoded. Decoded by default.
    fn wants_encoded(&self, signal: Signal) -> bool {
        let _ = signal;
        false
    }

    /// Consumes one export.
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError>;
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn wants_encoded(&self, signal: Signal) -> bool {
        (**self).wants_encoded(signal)
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        (**self).export(payload).await
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for Box<S> {
    fn wants_encoded(&self, signal: Signal) -> bool {
        (**self).wants_encoded(signal)
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        (**self).export(payload).await
    }
}
