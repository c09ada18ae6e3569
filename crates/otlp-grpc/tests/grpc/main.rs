//! OTLP/gRPC end to end: our client and server on 127.0.0.1, and each of them
//! against plain tonic with `opentelemetry-proto`.

mod support;

mod interop;
mod lifecycle;
mod limits;
mod protocol;
mod proxy;
mod roundtrip;
mod streaming;
#[cfg(feature = "tls")]
mod tls;
