//! The framing of `docs/websocket.md`: request and acknowledgement messages,
//! in binary frames (every codec) and JSON text frames (`otlp.v1.json`).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_transport::{Encoded, ExportError, Outcome, Signal};

/// The first byte of a request message.
pub(crate) const REQUEST: u8 = 1;
/// The first byte of an acknowledgement message.
pub(crate) const ACK: u8 = 2;
/// Bytes before the payload of a request.
pub(crate) const REQUEST_HEADER: usize = 12;
/// Bytes before the message of an acknowledgement.
pub(crate) const ACK_HEADER: usize = 24;

/// The subprotocol that names each codec (`Sec-WebSocket-Protocol`).
pub(crate) const fn subprotocol(codec: Codec) -> &'static str {
    match codec {
        Codec::Protobuf => "otlp.v1.protobuf",
        Codec::Json => "otlp.v1.json",
        Codec::MessagePack => "otlp.v1.msgpack",
        Codec::Cbor => "otlp.v1.cbor",
        // A codec added to otlp-codec later has no subprotocol until it gets
        // one here; `codec_of` never returns it.
        _ => "otlp.v1.unnamed",
    }
}

/// The codec a subprotocol names, if any.
pub(crate) fn codec_of(subprotocol: &str) -> Option<Codec> {
    Codec::ALL
        .into_iter()
        .find(|codec| self::subprotocol(*codec) == subprotocol)
}

const fn signal_code(signal: Signal) -> u8 {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
        Signal::Profiles => 3,
    }
}

fn signal_of(code: u8) -> Option<Signal> {
    Signal::ALL.into_iter().find(|s| signal_code(*s) == code)
}

/// One export request as it arrived.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) id: u64,
    pub(crate) signal: Signal,
    pub(crate) compression: Compression,
    pub(crate) payload: Bytes,
    /// Came in a text frame: answer in one.
    pub(crate) text: bool,
}

/// A message that does not follow the framing: the connection is closed with
/// the code that names the fault.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("a binary message of {0} bytes is shorter than the 12-byte request header")]
    Short(usize),
    #[error("message type {0} is not a request (1)")]
    Type(u8),
    #[error("signal code {0} is unknown (0 traces, 1 metrics, 2 logs, 3 profiles)")]
    Signal(u8),
    #[error(
        "compression code {0} is unknown (0 none, 1 gzip, 2 deflate, 3 zstd, 4 snappy, 5 x-snappy-framed, 6 lz4)"
    )]
    Compression(u8),
    #[error("reserved byte 3 must be 0, not {0}")]
    Reserved(u8),
    #[cfg(feature = "json")]
    #[error("the text message is not a request envelope: {0}")]
    Envelope(String),
}

impl FrameError {
    /// 1007 for a text envelope that does not parse, 1002 for a binary header.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            #[cfg(feature = "json")]
            Self::Envelope(_) => crate::close::INVALID,
            _ => crate::close::PROTOCOL,
        }
    }
}

/// The request message of `encoded`, numbered `id`.
pub(crate) fn encode_request(id: u64, encoded: &Encoded) -> Bytes {
    let body = encoded.body();
    let mut out = BytesMut::with_capacity(REQUEST_HEADER + body.len());
    out.put_u8(REQUEST);
    out.put_u8(signal_code(encoded.signal()));
    out.put_u8(Compression::code(encoded.compression()));
    out.put_u8(0);
    out.put_u64(id);
    out.put_slice(body);
    out.freeze()
}

/// Reads a binary request message; the payload shares its bytes.
pub(crate) fn decode_request(message: Bytes) -> Result<Request, FrameError> {
    if message.len() < REQUEST_HEADER {
        return Err(FrameError::Short(message.len()));
    }
    if message[0] != REQUEST {
        return Err(FrameError::Type(message[0]));
    }
    let signal = signal_of(message[1]).ok_or(FrameError::Signal(message[1]))?;
    let compression =
        Compression::from_code(message[2]).ok_or(FrameError::Compression(message[2]))?;
    if message[3] != 0 {
        return Err(FrameError::Reserved(message[3]));
    }
    let id = u64::from_be_bytes(message[4..12].try_into().expect("8 bytes"));
    Ok(Request {
        id,
        signal,
        compression,
        payload: message.slice(REQUEST_HEADER..),
        text: false,
    })
}

/// What the receiver made of a request: the OTLP outcome vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Success,
    PartialSuccess { rejected: i64, message: String },
    Retryable { message: String },
    Throttled { delay: Duration, message: String },
    Permanent { message: String },
}

impl Reply {
    fn status(&self) -> u8 {
        match self {
            Self::Success => 0,
            Self::PartialSuccess { .. } => 1,
            Self::Retryable { .. } => 2,
            Self::Throttled { .. } => 3,
            Self::Permanent { .. } => 4,
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::Success => "",
            Self::PartialSuccess { message, .. }
            | Self::Retryable { message }
            | Self::Throttled { message, .. }
            | Self::Permanent { message } => message,
        }
    }

    pub(crate) fn from_outcome(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => Self::Success,
            Outcome::PartialSuccess { rejected, message } => {
                Self::PartialSuccess { rejected, message }
            }
        }
    }

    /// What the exporter reports for it.
    pub(crate) fn into_result(self) -> Result<Outcome, ExportError> {
        match self {
            Self::Success => Ok(Outcome::Success),
            Self::PartialSuccess { rejected, message } => {
                Ok(Outcome::from_parts(rejected, message))
            }
            Self::Retryable { message } => Err(ExportError::retryable(message)),
            Self::Throttled { delay, message } => Err(ExportError::throttled(message, Some(delay))),
            Self::Permanent { message } => Err(ExportError::permanent(message)),
        }
    }
}

/// The binary acknowledgement of request `id`.
pub(crate) fn encode_ack(id: u64, reply: &Reply) -> Bytes {
    let message = reply.message();
    let mut out = BytesMut::with_capacity(ACK_HEADER + message.len());
    out.put_u8(ACK);
    out.put_u8(reply.status());
    out.put_u16(0);
    out.put_u64(id);
    out.put_i64(match reply {
        Reply::PartialSuccess { rejected, .. } => *rejected,
        _ => 0,
    });
    out.put_u32(match reply {
        Reply::Throttled { delay, .. } => u32::try_from(delay.as_millis()).unwrap_or(u32::MAX),
        _ => 0,
    });
    out.put_slice(message.as_bytes());
    out.freeze()
}

/// A server message that does not follow the framing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AckError {
    #[error(
        "the receiver sent a {0}-byte binary message, shorter than an acknowledgement (24 bytes)"
    )]
    Short(usize),
    #[error("the receiver sent message type {0}, not an acknowledgement (2)")]
    Type(u8),
    #[error("the receiver sent an acknowledgement of unknown status {0}")]
    Status(u8),
}

/// Reads a binary acknowledgement.
pub(crate) fn decode_ack(message: &[u8]) -> Result<(u64, Reply), AckError> {
    if message.len() < ACK_HEADER {
        return Err(AckError::Short(message.len()));
    }
    if message[0] != ACK {
        return Err(AckError::Type(message[0]));
    }
    let id = u64::from_be_bytes(message[4..12].try_into().expect("8 bytes"));
    let rejected = i64::from_be_bytes(message[12..20].try_into().expect("8 bytes"));
    let delay = u32::from_be_bytes(message[20..24].try_into().expect("4 bytes"));
    let status = message[1];
    let message = String::from_utf8_lossy(&message[ACK_HEADER..]).into_owned();
    let reply = match status {
        0 => Reply::Success,
        1 => Reply::PartialSuccess { rejected, message },
        2 => Reply::Retryable { message },
        3 => Reply::Throttled {
            delay: Duration::from_millis(u64::from(delay)),
            message,
        },
        4 => Reply::Permanent { message },
        other => return Err(AckError::Status(other)),
    };
    Ok((id, reply))
}

/// Reads a JSON text request:
/// `{"id": 1, "signal": "traces", "payload": {…OTLP/JSON…}}`.
#[cfg(feature = "json")]
pub(crate) fn decode_text(text: &str) -> Result<Request, FrameError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Envelope<'a> {
        id: u64,
        signal: String,
        #[serde(default)]
        compression: Option<String>,
        #[serde(borrow)]
        payload: &'a serde_json::value::RawValue,
    }
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| FrameError::Envelope(e.to_string()))?;
    let signal: Signal = envelope
        .signal
        .parse()
        .map_err(|e: otlp_transport::UnknownSignal| FrameError::Envelope(e.to_string()))?;
    if let Some(compression) = envelope.compression
        && compression != "none"
    {
        return Err(FrameError::Envelope(format!(
            "compression {compression:?} in a text frame: text frames carry plain OTLP/JSON; \
             send compressed payloads in binary frames"
        )));
    }
    Ok(Request {
        id: envelope.id,
        signal,
        compression: Compression::None,
        payload: Bytes::copy_from_slice(envelope.payload.get().as_bytes()),
        text: true,
    })
}

/// The JSON text acknowledgement of request `id`.
#[cfg(feature = "json")]
pub(crate) fn encode_text_ack(id: u64, reply: &Reply) -> String {
    use serde_json::json;
    let value = match reply {
        Reply::Success => json!({"id": id, "status": "success"}),
        Reply::PartialSuccess { rejected, message } => json!({
            "id": id, "status": "partial_success", "rejected": rejected, "message": message
        }),
        Reply::Retryable { message } => {
            json!({"id": id, "status": "retryable", "message": message})
        }
        Reply::Throttled { delay, message } => json!({
            "id": id, "status": "throttled",
            "retry_after_ms": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "message": message
        }),
        Reply::Permanent { message } => {
            json!({"id": id, "status": "permanent", "message": message})
        }
    };
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of docs/websocket.md: fixed on the wire, one per coding.
    #[test]
    fn compression_codes_are_the_documented_ones() {
        let documented = [
            (0, Compression::None),
            (1, Compression::Gzip),
            (2, Compression::Deflate),
            (3, Compression::Zstd),
            (4, Compression::Snappy),
            (5, Compression::SnappyFramed),
            (6, Compression::Lz4),
        ];
        for (code, compression) in documented {
            assert_eq!(Compression::code(compression), code, "{compression}");
            assert_eq!(Compression::from_code(code), Some(compression), "{code}");
        }
        assert_eq!(documented.len(), Compression::ALL.len());
        assert_eq!(Compression::from_code(7), None);
    }

    #[test]
    fn requests_round_trip() {
        let encoded = Encoded::new(
            Signal::Logs,
            Codec::Protobuf,
            Compression::Zstd,
            Bytes::from_static(b"body"),
        );
        let request = decode_request(encode_request(u64::MAX - 1, &encoded)).unwrap();
        assert_eq!(request.id, u64::MAX - 1);
        assert_eq!(request.signal, Signal::Logs);
        assert_eq!(request.compression, Compression::Zstd);
        assert_eq!(&request.payload[..], b"body");
        for bad in [
            &[1u8, 0, 0][..],
            &[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            &[1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            &[1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            &[1, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1],
        ] {
            assert!(
                decode_request(Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn acks_round_trip() {
        let replies = [
            Reply::Success,
            Reply::PartialSuccess {
                rejected: 3,
                message: "three".into(),
            },
            Reply::Retryable {
                message: "again".into(),
            },
            Reply::Throttled {
                delay: Duration::from_millis(1500),
                message: "slow".into(),
            },
            Reply::Permanent {
                message: "never".into(),
            },
        ];
        for (id, reply) in replies.into_iter().enumerate() {
            let bytes = encode_ack(id as u64, &reply);
            assert_eq!(decode_ack(&bytes).unwrap(), (id as u64, reply));
        }
        assert!(decode_ack(&[2; 10]).is_err());
        let mut bad = encode_ack(1, &Reply::Success).to_vec();
        bad[1] = 9;
        assert!(decode_ack(&bad).is_err());
    }

    #[test]
    fn subprotocols_name_codecs() {
        for codec in Codec::ALL {
            assert_eq!(codec_of(subprotocol(codec)), Some(codec));
        }
        assert_eq!(codec_of("otlp.v2.protobuf"), None);
    }
}
