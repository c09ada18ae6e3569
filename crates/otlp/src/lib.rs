//! The `otlp` facade of otlp-rs: exporter configuration from code or the
//! standard `OTEL_EXPORTER_OTLP_*` environment variables.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod batch;
pub mod config;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub mod sink;
