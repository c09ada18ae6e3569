//! The close codes a receiver sends, each naming what went wrong (see
//! `docs/websocket.md`). Codes below 4000 are RFC 6455's; 4000 and up are
//! ours, the 44xx ones echoing the HTTP status of the same fault.

/// The exporter closed the connection after its last acknowledgement.
pub const NORMAL: u16 = 1000;
/// The receiver is shutting down: it answered every request it read; send
/// the unacknowledged ones again on a new connection.
pub const GOING_AWAY: u16 = 1001;
/// A binary message does not follow the framing (short header, unknown
/// message type, signal or compression code, non-zero reserved byte), or the
/// WebSocket protocol itself was broken.
pub const PROTOCOL: u16 = 1002;
/// A text message on a connection whose codec is not OTLP/JSON.
pub const UNSUPPORTED: u16 = 1003;
/// A text message that is not a request envelope.
pub const INVALID: u16 = 1007;
/// A message larger than the receiver's message size limit.
pub const TOO_BIG: u16 = 1009;
/// The receiver failed (its sink panicked).
pub const INTERNAL: u16 = 1011;
/// No request for the idle timeout: reconnect when there is something to send.
pub const IDLE: u16 = 4000;
/// Missing or wrong bearer token (`Authorization: Bearer …` or `?token=`).
pub const UNAUTHORIZED: u16 = 4401;
/// The page's `Origin` is not on the receiver's allow-list.
pub const FORBIDDEN_ORIGIN: u16 = 4403;

/// Whether sending the same requests again on a new connection cannot help:
/// the exporter reports its unacknowledged requests as permanent failures.
pub(crate) fn is_permanent(code: u16) -> bool {
    matches!(
        code,
        PROTOCOL | UNSUPPORTED | INVALID | TOO_BIG | UNAUTHORIZED | FORBIDDEN_ORIGIN
    )
}
