//! OTLP/gRPC end to end: our client and server on 127.0.0.1, and each of them
//! against plain tonic with `opentelemetry-proto`.

mod support;

mod interop;
mod lifecycle;
mod limits;
mod roundtrip;
#[cfg(feature = "tls")]
mod tls;
