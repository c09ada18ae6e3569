//! `google.rpc.Status`, the body of every OTLP/HTTP error response, in each codec.
//!
//! OTLP/HTTP: "The response body for all HTTP 4xx and HTTP 5xx responses MUST
//! be a Protobuf-encoded Status message" — JSON-encoded when the request was
//! JSON; MessagePack and CBOR follow the same mapping as their requests do.
//! Only `code` and `message` are written; `details` are ignored when read.

use bytes::Bytes;
use otlp_codec::Codec;
use otlp_proto::Message;
use otlp_proto::google::rpc::Status;

/// The longest status message a client keeps: enough to explain, never a
/// whole body echoed back.
const MAX_MESSAGE: usize = 1024;

/// Encodes a status with `code` (a gRPC code) and `message` in `codec`;
/// protobuf when `codec` is not compiled in.
pub(crate) fn encode(codec: Codec, code: i32, message: &str) -> (Codec, Bytes) {
    match codec {
        #[cfg(feature = "json")]
        Codec::Json => serde_json::to_vec(&Doc::new(code, message))
            .ok()
            .map(|body| (codec, Bytes::from(body)))
            .unwrap_or_else(|| protobuf(code, message)),
        #[cfg(feature = "msgpack")]
        Codec::MessagePack => rmp_serde::to_vec_named(&Doc::new(code, message))
            .ok()
            .map(|body| (codec, Bytes::from(body)))
            .unwrap_or_else(|| protobuf(code, message)),
        #[cfg(feature = "cbor")]
        Codec::Cbor => minicbor_serde::to_vec(Doc::new(code, message))
            .ok()
            .map(|body| (codec, Bytes::from(body)))
            .unwrap_or_else(|| protobuf(code, message)),
        _ => protobuf(code, message),
    }
}

/// The message of a status body in `codec`, cut to a readable length; `None`
/// when the body is not a status in that codec.
pub(crate) fn decode_message(codec: Codec, body: &[u8]) -> Option<String> {
    let message = match codec {
        Codec::Protobuf => Status::decode(body).ok()?.message,
        #[cfg(feature = "json")]
        Codec::Json => serde_json::from_slice::<Doc>(body).ok()?.message,
        #[cfg(feature = "msgpack")]
        Codec::MessagePack => rmp_serde::from_slice::<Doc>(body).ok()?.message,
        #[cfg(feature = "cbor")]
        Codec::Cbor => minicbor_serde::from_slice::<Doc>(body).ok()?.message,
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    Some(truncate(message))
}

fn protobuf(code: i32, message: &str) -> (Codec, Bytes) {
    let status = Status {
        code,
        message: message.to_string(),
        details: Vec::new(),
    };
    (Codec::Protobuf, Bytes::from(status.encode_to_vec()))
}

fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// `google.rpc.Status` in the proto3 JSON mapping (also used for MessagePack
/// and CBOR, like the OTLP messages).
#[cfg(feature = "_serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct Doc {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    message: String,
}

#[cfg(feature = "_serde")]
impl Doc {
    fn new(code: i32, message: &str) -> Self {
        Self {
            code,
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enabled_codec_round_trips() {
        for codec in Codec::ALL.into_iter().filter(|c| c.is_enabled()) {
            let (used, body) = encode(codec, 3, "bad span at resourceSpans[0]");
            assert_eq!(used, codec);
            assert_eq!(
                decode_message(codec, &body).as_deref(),
                Some("bad span at resourceSpans[0]")
            );
        }
    }

    #[test]
    fn long_messages_are_cut() {
        let (_, body) = encode(Codec::Protobuf, 3, &"é".repeat(2000));
        let message = decode_message(Codec::Protobuf, &body).unwrap();
        assert!(message.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(message.ends_with('…'));
    }
}
