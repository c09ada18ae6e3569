//! The gRPC wire details both sides share: the five-byte message framing,
//! `grpc-timeout` values, and the `google.rpc.RetryInfo` status detail.
//!
//! Framing lives here rather than in a `tonic::codec::Codec` because tonic's
//! codec decides compression itself (no snappy, its own size accounting, a
//! copy into its buffer); doing it ourselves lets a relay hand on the message
//! bytes exactly as they arrived.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use otlp_proto::Message;
use otlp_proto::google::protobuf::{Any, Duration as ProtoDuration};
use otlp_proto::google::rpc::{RetryInfo, Status as RpcStatus};
use tonic::{Code, Status};

/// The length of the prefix before every gRPC message: a compressed flag and
/// a big-endian `u32` length.
pub(crate) const PREFIX_LEN: usize = 5;

/// The `type_url` of a packed `google.rpc.RetryInfo`.
const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The prefix of a message of `len` bytes.
pub(crate) fn prefix(compressed: bool, len: usize) -> Result<Bytes, Status> {
    let len = u32::try_from(len).map_err(|_| {
        Status::resource_exhausted(format!(
            "a gRPC message of {len} bytes passes the 4 GiB frame"
        ))
    })?;
    let mut prefix = BytesMut::with_capacity(PREFIX_LEN);
    prefix.put_u8(u8::from(compressed));
    prefix.put_u32(len);
    Ok(prefix.freeze())
}

/// Splits the body of a unary call into its compressed flag and its one
/// message, sharing `body` (no copy).
pub(crate) fn split_message(mut body: Bytes) -> Result<(bool, Bytes), FrameError> {
    if body.len() < PREFIX_LEN {
        return Err(if body.is_empty() {
            FrameError::Missing
        } else {
            FrameError::Truncated
        });
    }
    let compressed = match body[0] {
        0 => false,
        1 => true,
        flag => return Err(FrameError::Flag(flag)),
    };
    let declared = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let message = body.split_off(PREFIX_LEN);
    match message.len().cmp(&declared) {
        std::cmp::Ordering::Less => Err(FrameError::Truncated),
        std::cmp::Ordering::Greater => Err(FrameError::Trailing),
        std::cmp::Ordering::Equal => Ok((compressed, message)),
    }
}

/// What is wrong with the framing of a unary gRPC body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// No message at all.
    #[error("the body carries no gRPC message")]
    Missing,
    /// Fewer bytes than the prefix announced.
    #[error("the gRPC message is shorter than its length prefix says")]
    Truncated,
    /// More bytes than one message: a unary call carries exactly one.
    #[error("the body carries more than the one message of a unary call")]
    Trailing,
    /// A compressed flag other than 0 or 1.
    #[error("invalid gRPC compressed flag {0} (expected 0 or 1)")]
    Flag(u8),
}

/// A `grpc-timeout` value: at most eight digits and a unit, in the finest
/// unit that fits.
pub(crate) fn timeout_value(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let units = [
        (timeout.as_nanos(), 'n'),
        (timeout.as_micros(), 'u'),
        (timeout.as_millis(), 'm'),
        (u128::from(timeout.as_secs()), 'S'),
        (u128::from(timeout.as_secs() / 60), 'M'),
    ];
    units
        .into_iter()
        .find(|(value, _)| *value <= MAX)
        .map(|(value, unit)| format!("{value}{unit}"))
        .unwrap_or_else(|| format!("{}H", (timeout.as_secs() / 3600).min(MAX as u64)))
}

/// A status with a `google.rpc.RetryInfo` detail asking the client to wait
/// `delay`: what OTLP requires for throttling with RESOURCE_EXHAUSTED.
pub(crate) fn status_with_retry(code: Code, message: String, delay: Duration) -> Status {
    let retry = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
        }),
    };
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![Any {
            type_url: RETRY_INFO_TYPE_URL.into(),
            value: retry.encode_to_vec().into(),
        }],
    };
    Status::with_details(code, message, details.encode_to_vec().into())
}

/// The delay of the `google.rpc.RetryInfo` among a status's details, if any.
/// Undecodable details count as none: the code alone still classifies.
pub(crate) fn retry_delay(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    let status = RpcStatus::decode(details).ok()?;
    status
        .details
        .iter()
        .filter(|any| any.type_url.ends_with("/google.rpc.RetryInfo"))
        .find_map(|any| RetryInfo::decode(any.value.clone()).ok()?.retry_delay)
        .map(|delay| {
            Duration::new(
                u64::try_from(delay.seconds).unwrap_or(0),
                u32::try_from(delay.nanos).unwrap_or(0),
            )
        })
}

/// The whole chain of causes: tonic's transport error alone says only
/// "transport error".
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_one_message_and_rejects_bad_frames() {
        let mut body = BytesMut::new();
        body.extend_from_slice(&prefix(true, 3).unwrap());
        body.extend_from_slice(b"abc");
        let body = body.freeze();
        assert_eq!(
            split_message(body.clone()),
            Ok((true, Bytes::from_static(b"abc")))
        );
        assert_eq!(split_message(body.slice(..7)), Err(FrameError::Truncated));
        let mut long = body.to_vec();
        long.push(0);
        assert_eq!(split_message(long.into()), Err(FrameError::Trailing));
        assert_eq!(split_message(Bytes::new()), Err(FrameError::Missing));
        assert_eq!(
            split_message(Bytes::from_static(&[7, 0, 0, 0, 0])),
            Err(FrameError::Flag(7))
        );
    }

    #[test]
    fn timeouts_fit_eight_digits() {
        assert_eq!(timeout_value(Duration::from_millis(10)), "10000000n");
        assert_eq!(timeout_value(Duration::from_secs(10)), "10000000u");
        assert_eq!(timeout_value(Duration::from_secs(1000)), "1000000m");
        assert_eq!(timeout_value(Duration::from_secs(200_000)), "200000S");
        assert_eq!(timeout_value(Duration::MAX), "99999999H");
    }

    #[test]
    fn retry_info_round_trips() {
        let status = status_with_retry(
            Code::ResourceExhausted,
            "slow down".into(),
            Duration::from_millis(1500),
        );
        assert_eq!(
            retry_delay(status.details()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_delay(b"\xff\xff"), None);
        assert_eq!(retry_delay(&[]), None);
    }
}
