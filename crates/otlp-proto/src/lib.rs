//! OTLP protocol types.
