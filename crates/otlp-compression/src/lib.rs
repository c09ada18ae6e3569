//! Bounded gzip, deflate, zstd and snappy for OTLP.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod compression;
mod decode;
mod encode;
mod error;

pub use compression::Compression;
pub use encode::{Encoder, Level};
pub use error::{Error, ParseCompressionError};
