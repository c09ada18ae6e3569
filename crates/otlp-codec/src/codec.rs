//! The [`Codec`] enum and the messages it encodes.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError, UnsupportedContentType};

/// An OTLP encoding, named by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Protobuf, `application/x-protobuf`: OTLP's default encoding.
    Protobuf,
    /// OTLP/JSON, `application/json` (feature `json`).
    Json,
    /// MessagePack with OTLP/JSON's field names, `application/msgpack` (feature `msgpack`).
    MessagePack,
    /// CBOR with OTLP/JSON's field names, `application/cbor` (feature `cbor`).
    Cbor,
}

impl Codec {
    /// Every codec, whether compiled in or not.
    pub const ALL: [Codec; 4] = [Self::Protobuf, Self::Json, Self::MessagePack, Self::Cbor];

    /// The media type to send in `Content-Type`.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
            Self::MessagePack => "application/msgpack",
            Self::Cbor => "application/cbor",
        }
    }

    /// Parses a `Content-Type` header value: the media type is matched without
    /// regard to case and parameters such as `; charset=utf-8` are ignored.
    ///
    /// ```
    /// use otlp_codec::Codec;
    ///
    /// assert_eq!(Codec::from_content_type("Application/JSON; charset=utf-8"), Ok(Codec::Json));
    /// assert!(Codec::from_content_type("text/plain").is_err());
    /// ```
    pub fn from_content_type(value: &str) -> Result<Self, UnsupportedContentType> {
        let media_type = value.split(';').next().unwrap_or_default().trim();
        let known = [
            ("application/x-protobuf", Self::Protobuf),
            // What some senders write for protobuf; unambiguous, so accepted.
            ("application/protobuf", Self::Protobuf),
            ("application/json", Self::Json),
            ("application/msgpack", Self::MessagePack),
            // The IANA-registered name and its older unregistered form.
            ("application/vnd.msgpack", Self::MessagePack),
            ("application/x-msgpack", Self::MessagePack),
            ("application/cbor", Self::Cbor),
        ];
        known
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(media_type))
            .map(|(_, codec)| *codec)
            .ok_or_else(|| UnsupportedContentType(value.to_string()))
    }

    /// Whether this build of the crate can encode and decode with this codec.
    pub const fn is_enabled(self) -> bool {
        match self {
            Self::Protobuf => true,
            Self::Json => cfg!(feature = "json"),
            Self::MessagePack => cfg!(feature = "msgpack"),
            Self::Cbor => cfg!(feature = "cbor"),
        }
    }

    /// Appends the encoding of `message` to `buf`, which the caller may clear
    /// and reuse between messages to avoid allocating.
    pub fn encode<M: OtlpMessage>(self, message: &M, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Protobuf => {
                if !<M as private::Sealed>::encode_protobuf(message, buf) {
                    buf.reserve(message.encoded_len());
                    // A `Vec` grows as needed, so encoding cannot run out of room.
                    message.encode_raw(buf);
                }
                Ok(())
            }
            #[cfg(feature = "json")]
            Self::Json => {
                // The generated writer: what serde_json writes, without serde.
                <M as private::Sealed>::write_json(message, buf);
                Ok(())
            }
            #[cfg(feature = "msgpack")]
            Self::MessagePack => {
                // The generated writer: what rmp-serde writes, without serde.
                <M as private::Sealed>::write_msgpack(message, buf);
                Ok(())
            }
            #[cfg(feature = "cbor")]
            Self::Cbor => {
                // The generated writer: what minicbor-serde writes, without serde.
                <M as private::Sealed>::write_cbor(message, buf);
                Ok(())
            }
            #[allow(unreachable_patterns)]
            _ => Err(EncodeError::Disabled(self)),
        }
    }

    /// Encodes `message` into a new vector.
    pub fn encode_to_vec<M: OtlpMessage>(self, message: &M) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::new();
        self.encode(message, &mut buf)?;
        Ok(buf)
    }

    /// Decodes a message from `body`. Protobuf, MessagePack and CBOR `bytes`
    /// and `string` fields, and OTLP/JSON strings without escapes, share
    /// `body`'s buffer instead of copying it. OTLP/JSON trace and span ids
    /// are decoded into 4 KiB buffers each shared by many ids of the
    /// document, so a kept id keeps its buffer alive rather than the body.
    pub fn decode<M: OtlpMessage>(self, body: Bytes) -> Result<M, DecodeError> {
        match self {
            Self::Protobuf => match <M as private::Sealed>::decode_protobuf(&body) {
                Some(message) => Ok(message),
                // The specialised decoder leaves every malformed (and any
                // unusual) input to prost, whose errors name the problem.
                None => Ok(M::decode(body)?),
            },
            #[cfg(feature = "json")]
            Self::Json => match <M as private::Sealed>::read_json(&body) {
                Some(message) => Ok(message),
                // The generated reader leaves every malformed (and any
                // unusual) document to the serde path, whose errors name the
                // field path, line and column.
                None => Self::decode_json_serde(body),
            },
            #[cfg(feature = "msgpack")]
            Self::MessagePack => match <M as private::Sealed>::read_msgpack(&body) {
                Some(message) => Ok(message),
                // The generated reader leaves every malformed (and any
                // unusual) body to the serde path, whose errors name the
                // field path.
                None => Self::decode_msgpack_serde(body),
            },
            #[cfg(feature = "cbor")]
            Self::Cbor => match <M as private::Sealed>::read_cbor(&body) {
                Some(message) => Ok(message),
                // As for MessagePack: the serde path has the reference
                // result and errors.
                None => Self::decode_cbor_serde(&body),
            },
            #[allow(unreachable_patterns)]
            _ => Err(DecodeError::Disabled(self)),
        }
    }
}

impl Codec {
    /// OTLP/JSON through the serde impls: the reference decoder.
    #[cfg(feature = "json")]
    pub(crate) fn decode_json_serde<M: OtlpMessage>(body: Bytes) -> Result<M, DecodeError> {
        // JSON text is UTF-8 (RFC 8259). Checked up front: strings are read as
        // bytes to let lone surrogate escapes through (see `Text`), which
        // would let raw bytes that are not UTF-8 through as well.
        if let Err(error) = std::str::from_utf8(&body) {
            let at = error.valid_up_to();
            let message = format_args!("not UTF-8 at byte {at}: JSON text must be UTF-8");
            return Err(document_error(Self::Json, Vec::new(), message));
        }
        crate::serde_impl::with_path(|| serde_json::from_slice::<DeMessage<M>>(&body).map(|m| m.0))
            .map_err(|(e, path)| document_error(Self::Json, path, e))
    }
}

#[cfg(feature = "msgpack")]
impl Codec {
    /// MessagePack through the serde impls and rmp-serde: the reference decoder.
    pub(crate) fn decode_msgpack_serde<M: OtlpMessage>(body: Bytes) -> Result<M, DecodeError> {
        crate::serde_impl::with_path(|| {
            let mut rest: &[u8] = &body;
            let mut deserializer = rmp_serde::Deserializer::new(&mut rest);
            // Unknown fields are skipped recursively; bound that recursion.
            deserializer.set_max_depth(MAX_SKIP_DEPTH);
            let message = <DeMessage<M> as serde::Deserialize>::deserialize(&mut deserializer)?;
            // Trailing bytes mean the body is not one message.
            if deserializer.get_ref().is_empty() {
                Ok(message.0)
            } else {
                Err(serde::de::Error::custom("trailing bytes after the message"))
            }
        })
        .map_err(|(e, path): (rmp_serde::decode::Error, _)| {
            document_error(Self::MessagePack, path, e)
        })
    }

    /// MessagePack through the serde impls and rmp-serde: the reference writer.
    #[cfg(test)]
    pub(crate) fn encode_msgpack_serde<M: OtlpMessage>(message: &M) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut serializer = rmp_serde::Serializer::new(&mut buf).with_struct_map();
        serde::Serialize::serialize(&SerMessage(message), &mut serializer)
            .expect("writing to a Vec cannot fail");
        buf
    }
}

#[cfg(feature = "cbor")]
impl Codec {
    /// CBOR through the serde impls and minicbor-serde: the reference decoder.
    pub(crate) fn decode_cbor_serde<M: OtlpMessage>(body: &[u8]) -> Result<M, DecodeError> {
        crate::serde_impl::with_path(|| {
            let mut deserializer = minicbor_serde::Deserializer::new(body);
            let message = <DeMessage<M> as serde::Deserialize>::deserialize(&mut deserializer)?;
            let decoder = deserializer.decoder();
            if decoder.position() == decoder.input().len() {
                Ok(message.0)
            } else {
                Err(serde::de::Error::custom("trailing bytes after the message"))
            }
        })
        .map_err(|(e, path): (minicbor_serde::error::DecodeError, _)| {
            document_error(Self::Cbor, path, e)
        })
    }

    /// CBOR through the serde impls and minicbor-serde: the reference writer.
    #[cfg(test)]
    pub(crate) fn encode_cbor_serde<M: OtlpMessage>(message: &M) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut serializer = minicbor_serde::Serializer::new(&mut buf);
        serde::Serialize::serialize(&SerMessage(message), &mut serializer)
            .expect("writing to a Vec cannot fail");
        buf
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Protobuf => "protobuf",
            Self::Json => "OTLP/JSON",
            Self::MessagePack => "MessagePack",
            Self::Cbor => "CBOR",
        })
    }
}

impl FromStr for Codec {
    type Err = UnsupportedContentType;

    /// Same as [`Codec::from_content_type`].
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::from_content_type(value)
    }
}

/// An OTLP export request or response: what a [`Codec`] encodes and decodes.
///
/// Implemented for the requests and responses of traces, metrics, logs and
/// profiles; sealed, as the serde mappings are generated for exactly these.
pub trait OtlpMessage: prost::Message + Default + private::Sealed {}

/// How deep MessagePack may nest inside an unknown field that is being skipped.
#[cfg(feature = "msgpack")]
pub(crate) const MAX_SKIP_DEPTH: usize = 128;

mod private {
    /// Gives [`super::Codec`] the serde mapping of a message without naming
    /// the crate-private wrapper types in a public bound.
    #[allow(unreachable_pub)]
    pub trait Sealed: Sized {
        /// The specialised protobuf decoder; `None` when it leaves the body to prost.
        fn decode_protobuf(body: &bytes::Bytes) -> Option<Self>;
        /// The generated OTLP/JSON writer.
        #[cfg(feature = "json")]
        fn write_json(&self, buf: &mut Vec<u8>);
        /// The generated OTLP/JSON reader; `None` when it leaves the body to serde.
        #[cfg(feature = "json")]
        fn read_json(body: &bytes::Bytes) -> Option<Self>;
        /// The generated MessagePack writer.
        #[cfg(feature = "msgpack")]
        fn write_msgpack(&self, buf: &mut Vec<u8>);
        /// The generated MessagePack reader; `None` when it leaves the body to serde.
        #[cfg(feature = "msgpack")]
        fn read_msgpack(body: &bytes::Bytes) -> Option<Self>;
        /// The generated CBOR writer.
        #[cfg(feature = "cbor")]
        fn write_cbor(&self, buf: &mut Vec<u8>);
        /// The generated CBOR reader; `None` when it leaves the body to serde.
        #[cfg(feature = "cbor")]
        fn read_cbor(body: &bytes::Bytes) -> Option<Self>;
        /// The specialised protobuf encoder; `false` when it leaves the message to prost.
        fn encode_protobuf(&self, buf: &mut Vec<u8>) -> bool;
        #[cfg(feature = "_serde")]
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
        #[cfg(feature = "_serde")]
        fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D)
        -> Result<Self, D::Error>;
    }
}

macro_rules! otlp_messages {
    ($($message:ty),* $(,)?) => {$(
        impl OtlpMessage for $message {}
        impl private::Sealed for $message {
            fn decode_protobuf(body: &Bytes) -> Option<Self> {
                crate::protobuf::decode(body).ok()
            }
            fn encode_protobuf(&self, buf: &mut Vec<u8>) -> bool {
                crate::protobuf::encode(self, buf)
            }
            #[cfg(feature = "json")]
            fn write_json(&self, buf: &mut Vec<u8>) {
                crate::json::WriteJson::write_json(self, buf)
            }
            #[cfg(feature = "json")]
            fn read_json(body: &Bytes) -> Option<Self> {
                crate::json::decode(body).ok()
            }
            #[cfg(feature = "msgpack")]
            fn write_msgpack(&self, buf: &mut Vec<u8>) {
                crate::binary::WriteBinary::write::<crate::binary::MessagePack>(self, buf)
            }
            #[cfg(feature = "msgpack")]
            fn read_msgpack(body: &Bytes) -> Option<Self> {
                crate::binary::decode::<crate::binary::MessagePack, _>(body).ok()
            }
            #[cfg(feature = "cbor")]
            fn write_cbor(&self, buf: &mut Vec<u8>) {
                crate::binary::WriteBinary::write::<crate::binary::Cbor>(self, buf)
            }
            #[cfg(feature = "cbor")]
            fn read_cbor(body: &Bytes) -> Option<Self> {
                crate::binary::decode::<crate::binary::Cbor, _>(body).ok()
            }
            #[cfg(feature = "_serde")]
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&crate::serde_impl::Ser(self), serializer)
            }
            #[cfg(feature = "_serde")]
            fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <crate::serde_impl::De<Self> as serde::Deserialize>::deserialize(deserializer).map(|m| m.0)
            }
        }
    )*};
}

otlp_messages!(
    otlp_proto::collector::trace::v1::ExportTraceServiceRequest,
    otlp_proto::collector::trace::v1::ExportTraceServiceResponse,
    otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest,
    otlp_proto::collector::metrics::v1::ExportMetricsServiceResponse,
    otlp_proto::collector::logs::v1::ExportLogsServiceRequest,
    otlp_proto::collector::logs::v1::ExportLogsServiceResponse,
    otlp_proto::collector::profiles::v1development::ExportProfilesServiceRequest,
    otlp_proto::collector::profiles::v1development::ExportProfilesServiceResponse,
);

// Every format has its own writer: serializing through serde is the
// reference the tests compare the binary formats' writers with.
#[cfg(all(test, any(feature = "msgpack", feature = "cbor")))]
struct SerMessage<'a, M>(&'a M);

#[cfg(all(test, any(feature = "msgpack", feature = "cbor")))]
impl<M: OtlpMessage> serde::Serialize for SerMessage<'_, M> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        private::Sealed::serialize(self.0, serializer)
    }
}

#[cfg(feature = "_serde")]
struct DeMessage<M>(M);

#[cfg(feature = "_serde")]
impl<'de, M: OtlpMessage> serde::Deserialize<'de> for DeMessage<M> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <M as private::Sealed>::deserialize(deserializer).map(DeMessage)
    }
}

#[cfg(feature = "_serde")]
fn document_error(
    codec: Codec,
    path: Vec<crate::PathSegment>,
    error: impl fmt::Display,
) -> DecodeError {
    DecodeError::Document {
        codec,
        path,
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_round_trip() {
        for codec in Codec::ALL {
            assert_eq!(Codec::from_content_type(codec.content_type()), Ok(codec));
            assert_eq!(codec.content_type().parse(), Ok(codec));
        }
    }

    #[test]
    fn content_type_ignores_case_parameters_and_whitespace() {
        assert_eq!(
            Codec::from_content_type("APPLICATION/X-PROTOBUF"),
            Ok(Codec::Protobuf)
        );
        assert_eq!(
            Codec::from_content_type("application/json; charset=utf-8"),
            Ok(Codec::Json)
        );
        assert_eq!(
            Codec::from_content_type(" application/cbor ;q=1"),
            Ok(Codec::Cbor)
        );
        assert_eq!(
            Codec::from_content_type("application/vnd.msgpack"),
            Ok(Codec::MessagePack)
        );
    }

    #[test]
    fn unknown_content_types_are_errors() {
        for value in [
            "",
            "text/plain",
            "application/jsonx",
            "application/json-seq",
            "json",
        ] {
            let error = Codec::from_content_type(value).expect_err(value);
            assert!(
                error.to_string().contains("application/x-protobuf"),
                "{error}"
            );
        }
    }

    #[test]
    fn disabled_codecs_say_so() {
        use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
        for codec in Codec::ALL.into_iter().filter(|codec| !codec.is_enabled()) {
            let request = ExportTraceServiceRequest::default();
            assert!(
                matches!(codec.encode_to_vec(&request), Err(EncodeError::Disabled(c)) if c == codec)
            );
            let decoded = codec.decode::<ExportTraceServiceRequest>(Bytes::new());
            assert!(matches!(decoded, Err(DecodeError::Disabled(c)) if c == codec));
        }
        assert!(Codec::Protobuf.is_enabled());
    }
}
