//! The export protocols and their names in `OTEL_EXPORTER_OTLP_PROTOCOL`.

use std::fmt;
use std::str::FromStr;

use otlp_codec::Codec;

/// How an exporter talks to its endpoint: the transport and the codec.
///
/// The specification names three (`grpc`, `http/protobuf`, `http/json`);
/// this crate adds `http/msgpack`, `http/cbor` and `ws` (OTLP over
/// WebSocket, otlp-rs's streaming extension).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/gRPC (`grpc`), default port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), default port 4318;
    /// the specification's default.
    #[default]
    HttpProtobuf,
    /// OTLP/HTTP with OTLP/JSON bodies (`http/json`).
    HttpJson,
    /// OTLP/HTTP with MessagePack bodies (`http/msgpack`, an extension).
    HttpMsgpack,
    /// OTLP/HTTP with CBOR bodies (`http/cbor`, an extension).
    HttpCbor,
    /// OTLP over WebSocket (`ws`, an extension): one connection carries
    /// every signal.
    Ws,
}

impl Protocol {
    /// Every protocol.
    pub const ALL: [Protocol; 6] = [
        Self::Grpc,
        Self::HttpProtobuf,
        Self::HttpJson,
        Self::HttpMsgpack,
        Self::HttpCbor,
        Self::Ws,
    ];

    /// The name used in `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
            Self::HttpMsgpack => "http/msgpack",
            Self::HttpCbor => "http/cbor",
            Self::Ws => "ws",
        }
    }

    /// The codec of the bodies. gRPC is protobuf by definition; WebSocket
    /// starts from protobuf (its subprotocol may negotiate another).
    pub const fn codec(self) -> Codec {
        match self {
            Self::Grpc | Self::HttpProtobuf | Self::Ws => Codec::Protobuf,
            Self::HttpJson => Codec::Json,
            Self::HttpMsgpack => Codec::MessagePack,
            Self::HttpCbor => Codec::Cbor,
        }
    }

    /// Whether this is OTLP/HTTP, whose endpoints are per-signal URLs.
    pub const fn is_http(self) -> bool {
        matches!(
            self,
            Self::HttpProtobuf | Self::HttpJson | Self::HttpMsgpack | Self::HttpCbor
        )
    }

    /// The port the specification gives the protocol: 4317 for gRPC, 4318
    /// for HTTP (and WebSocket, which shares the HTTP listener).
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Grpc => 4317,
            _ => 4318,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ParseProtocolError;

    /// Parses a protocol name, ignoring case and surrounding whitespace.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let trimmed = name.trim();
        Self::ALL
            .into_iter()
            .find(|protocol| protocol.as_str().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| ParseProtocolError(name.to_string()))
    }
}

/// A name that is not one of the protocols.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown protocol {0:?}: expected grpc, http/protobuf, http/json, http/msgpack, http/cbor or ws"
)]
pub struct ParseProtocolError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for protocol in Protocol::ALL {
            assert_eq!(protocol.as_str().parse::<Protocol>(), Ok(protocol));
            assert_eq!(
                protocol.as_str().to_uppercase().parse::<Protocol>(),
                Ok(protocol)
            );
        }
        assert_eq!(" grpc ".parse::<Protocol>(), Ok(Protocol::Grpc));
    }

    #[test]
    fn protocol_default_is_http_protobuf() {
        assert_eq!(Protocol::default(), Protocol::HttpProtobuf);
    }

    #[test]
    fn unknown_protocol_names_what_is_accepted() {
        for name in ["http", "grpc/json", "http/proto", ""] {
            let error = name.parse::<Protocol>().unwrap_err();
            assert!(error.to_string().contains("http/protobuf"), "{error}");
            assert_eq!(error.0, name);
        }
    }
}
