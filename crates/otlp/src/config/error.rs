//! Why a configuration was refused.

/// A configuration value that cannot be used. Each variant names where the
/// value came from (`variable`: the environment variable, or the builder
/// setter) and says what is accepted.
///
/// Header values never appear in messages: they often hold credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint is not a URL the protocol can use.
    #[error("{variable} = {value:?} is not a usable endpoint: {reason}")]
    InvalidEndpoint {
        /// Where the value came from.
        variable: String,
        /// The value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The protocol is not one this crate knows.
    #[error(
        "{variable} = {value:?} is not a protocol: expected grpc, http/protobuf, http/json, http/msgpack, http/cbor or ws"
    )]
    UnknownProtocol {
        /// Where the value came from.
        variable: String,
        /// The value.
        value: String,
    },
    /// The protocol's codec is known but not compiled into this build.
    #[error(
        "{variable} = {value:?} needs the `{feature}` feature of the `otlp` crate, which this build lacks: enable it, or choose http/protobuf or grpc"
    )]
    UnsupportedProtocol {
        /// Where the value came from.
        variable: String,
        /// The value.
        value: String,
        /// The cargo feature that compiles its codec in.
        feature: &'static str,
    },
    /// The compression is not one this crate knows.
    #[error(
        "{variable} = {value:?} is not a compression: expected none or gzip (or deflate, zstd, snappy, x-snappy-framed, lz4)"
    )]
    UnknownCompression {
        /// Where the value came from.
        variable: String,
        /// The value.
        value: String,
    },
    /// The compression is known but not compiled into this build.
    #[error(
        "{variable} = {value:?} needs the `{feature}` feature of the `otlp` crate, which this build lacks: enable it, or choose none or another compression"
    )]
    UnsupportedCompression {
        /// Where the value came from.
        variable: String,
        /// The value.
        value: String,
        /// The cargo feature that compiles it in.
        feature: &'static str,
    },
    /// The timeout is not a positive whole number of milliseconds.
    #[error(
        "{variable} = {value:?} is not a timeout: expected a positive whole number of milliseconds, such as 10000"
    )]
    InvalidTimeout {
        /// Where the value came from.
        variable: String,
        /// The value.
        value: String,
    },
    /// A boolean is neither `true` nor `false`.
    #[error("{variable} = {value:?} is not a boolean: expected true or false")]
    InvalidBool {
        /// Where the value came from.
        variable: String,
        /// The value.
        value: String,
    },
    /// A header entry is malformed (its value is not repeated here).
    #[error(
        "{variable}: entry {position} {reason}; expected comma-separated key=value pairs with percent-encoded values, such as api-key=abc,tenant=a%20b"
    )]
    InvalidHeaders {
        /// Where the value came from.
        variable: String,
        /// Which entry, counting from 1.
        position: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An environment variable holds bytes that are not UTF-8.
    #[error("{variable} is not valid UTF-8: set it to a UTF-8 string")]
    NotUnicode {
        /// The variable.
        variable: String,
    },
    /// Half of a client identity for mutual TLS.
    #[error(
        "{present} is set but {missing} is not: mutual TLS needs both the client certificate and its private key"
    )]
    IncompleteClientIdentity {
        /// The setting that is given.
        present: String,
        /// The setting that is missing.
        missing: String,
    },
    /// `HTTPS_PROXY` or `HTTP_PROXY` is not a usable proxy URL.
    #[error(transparent)]
    Proxy(#[from] otlp_transport::proxy::ProxyError),
}

impl ConfigError {
    /// The environment variable (or builder setter) the faulty value came
    /// from; for an incomplete client identity, the one that is missing.
    pub fn variable(&self) -> &str {
        match self {
            Self::InvalidEndpoint { variable, .. }
            | Self::UnknownProtocol { variable, .. }
            | Self::UnknownCompression { variable, .. }
            | Self::UnsupportedCompression { variable, .. }
            | Self::UnsupportedProtocol { variable, .. }
            | Self::InvalidTimeout { variable, .. }
            | Self::InvalidBool { variable, .. }
            | Self::InvalidHeaders { variable, .. }
            | Self::NotUnicode { variable } => variable,
            Self::IncompleteClientIdentity { missing, .. } => missing,
            Self::Proxy(error) => match error {
                otlp_transport::proxy::ProxyError::UnsupportedScheme { source_name, .. }
                | otlp_transport::proxy::ProxyError::Invalid { source_name, .. } => source_name,
                _ => "HTTPS_PROXY",
            },
        }
    }

    pub(crate) fn invalid_endpoint(variable: &str, value: &str, reason: String) -> Self {
        Self::InvalidEndpoint {
            variable: variable.into(),
            value: value.into(),
            reason,
        }
    }

    pub(crate) fn invalid_headers(variable: &str, position: usize, reason: String) -> Self {
        Self::InvalidHeaders {
            variable: variable.into(),
            position,
            reason,
        }
    }
}
