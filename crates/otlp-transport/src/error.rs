//! Export failures, classified as the OTLP specification says a client must
//! treat them, and the failures a receiver's sink reports.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// How a client must treat a failed export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Transient: retry with exponential backoff and jitter.
    Retryable,
    /// The receiver asked the client to slow down: retry, but not before the
    /// delay it gave ([`ExportError::retry_after`]).
    Throttled,
    /// The data will never be accepted as sent: drop it (and count the drop).
    Permanent,
}

/// A failed export, from any transport.
///
/// Build it from what the peer answered with [`from_grpc_code`](Self::from_grpc_code)
/// or [`from_http_status`](Self::from_http_status), which apply the OTLP rules,
/// or with the constructors for failures the client sees itself.
pub struct ExportError {
    kind: ErrorKind,
    retry_after: Option<Duration>,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// gRPC status codes, by number (the OTLP rules name them).
pub mod grpc_code {
    /// `OK`.
    pub const OK: i32 = 0;
    /// `CANCELLED`.
    pub const CANCELLED: i32 = 1;
    /// `UNKNOWN`.
    pub const UNKNOWN: i32 = 2;
    /// `INVALID_ARGUMENT`.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// `DEADLINE_EXCEEDED`.
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// `NOT_FOUND`.
    pub const NOT_FOUND: i32 = 5;
    /// `ALREADY_EXISTS`.
    pub const ALREADY_EXISTS: i32 = 6;
    /// `PERMISSION_DENIED`.
    pub const PERMISSION_DENIED: i32 = 7;
    /// `RESOURCE_EXHAUSTED`.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// `FAILED_PRECONDITION`.
    pub const FAILED_PRECONDITION: i32 = 9;
    /// `ABORTED`.
    pub const ABORTED: i32 = 10;
    /// `OUT_OF_RANGE`.
    pub const OUT_OF_RANGE: i32 = 11;
    /// `UNIMPLEMENTED`.
    pub const UNIMPLEMENTED: i32 = 12;
    /// `INTERNAL`.
    pub const INTERNAL: i32 = 13;
    /// `UNAVAILABLE`.
    pub const UNAVAILABLE: i32 = 14;
    /// `DATA_LOSS`.
    pub const DATA_LOSS: i32 = 15;
    /// `UNAUTHENTICATED`.
    pub const UNAUTHENTICATED: i32 = 16;
}

impl ExportError {
    /// A transient failure (connection refused or reset, timeout).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retryable, None, message.into())
    }

    /// The receiver is throttling; retry no sooner than `retry_after` when given.
    pub fn throttled(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self::new(ErrorKind::Throttled, retry_after, message.into())
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, None, message.into())
    }

    /// Attaches the underlying cause, reachable through `source()`.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Classifies a gRPC status per OTLP/gRPC: CANCELLED, DEADLINE_EXCEEDED,
    /// ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are retryable;
    /// RESOURCE_EXHAUSTED only when the status carries `google.rpc.RetryInfo`
    /// (`retry_info`); every other code is permanent. A `RetryInfo` delay on a
    /// retryable status makes it [`Throttled`](ErrorKind::Throttled).
    pub fn from_grpc_code(code: i32, message: &str, retry_info: Option<Duration>) -> Self {
        use grpc_code::*;
        let retryable = matches!(
            code,
            CANCELLED | DEADLINE_EXCEEDED | ABORTED | OUT_OF_RANGE | UNAVAILABLE | DATA_LOSS
        ) || (code == RESOURCE_EXHAUSTED && retry_info.is_some());
        let kind = match (retryable, retry_info) {
            (false, _) => ErrorKind::Permanent,
            (true, Some(_)) => ErrorKind::Throttled,
            (true, None) => ErrorKind::Retryable,
        };
        let retry_after = if retryable { retry_info } else { None };
        Self::new(
            kind,
            retry_after,
            format!("gRPC status {} ({code}): {message}", grpc_code_name(code)),
        )
    }

    /// Classifies an OTLP/HTTP error status: 429, 502, 503 and 504 are
    /// retryable (throttled when `Retry-After` gave a delay); every other
    /// status is permanent. `message` is the `google.rpc.Status` message, if any.
    pub fn from_http_status(status: u16, message: &str, retry_after: Option<Duration>) -> Self {
        let retryable = matches!(status, 429 | 502 | 503 | 504);
        let kind = match (retryable, retry_after) {
            (false, _) => ErrorKind::Permanent,
            (true, Some(_)) => ErrorKind::Throttled,
            (true, None) => ErrorKind::Retryable,
        };
        let retry_after = if retryable { retry_after } else { None };
        let message = if message.is_empty() {
            format!("HTTP status {status}")
        } else {
            format!("HTTP status {status}: {message}")
        };
        Self::new(kind, retry_after, message)
    }

    /// How to treat the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the export may be tried again (retryable or throttled).
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Retryable | ErrorKind::Throttled)
    }

    /// The delay the receiver asked for (`Retry-After`, `RetryInfo`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn new(kind: ErrorKind, retry_after: Option<Duration>, message: String) -> Self {
        Self {
            kind,
            retry_after,
            message,
            source: None,
        }
    }
}

impl fmt::Debug for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportError")
            .field("kind", &self.kind)
            .field("retry_after", &self.retry_after)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Retryable => "export failed (retryable)",
            ErrorKind::Throttled => "export throttled",
            ErrorKind::Permanent => "export rejected (not retryable)",
        };
        write!(f, "{what}: {}", self.message)?;
        if let Some(delay) = self.retry_after {
            write!(f, "; retry after {delay:?}")?;
        }
        Ok(())
    }
}

impl StdError for ExportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// The name of a gRPC status code.
pub fn grpc_code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|index| NAMES.get(index))
        .copied()
        .unwrap_or("UNKNOWN_CODE")
}

/// Why a receiver's sink did not take an export. Each transport answers it
/// with the status the OTLP specification gives for that case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The sink is overloaded and the client must slow down. Answered with
    /// gRPC RESOURCE_EXHAUSTED *with* `RetryInfo` (without it a client would
    /// drop the data) and HTTP 429 with `Retry-After`.
    #[error("throttled: {message}; retry after {retry_after:?}")]
    Throttled {
        /// How long the client should wait.
        retry_after: Duration,
        /// Why.
        message: String,
    },
    /// The sink cannot take data right now (starting, draining, a downstream
    /// outage). Answered with gRPC UNAVAILABLE and HTTP 503, with the delay
    /// when one is given.
    #[error("unavailable: {message}")]
    Unavailable {
        /// How long the client should wait, if known.
        retry_after: Option<Duration>,
        /// Why.
        message: String,
    },
    /// The data is invalid and will never be accepted. Answered with gRPC
    /// INVALID_ARGUMENT and HTTP 400; the client drops it.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// The sink failed in a way that retrying will not fix. Answered with
    /// gRPC INTERNAL and HTTP 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SinkError {
    /// The gRPC status code to answer with.
    pub fn grpc_code(&self) -> i32 {
        match self {
            Self::Throttled { .. } => grpc_code::RESOURCE_EXHAUSTED,
            Self::Unavailable { .. } => grpc_code::UNAVAILABLE,
            Self::InvalidData(_) => grpc_code::INVALID_ARGUMENT,
            Self::Internal(_) => grpc_code::INTERNAL,
        }
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Throttled { .. } => 429,
            Self::Unavailable { .. } => 503,
            Self::InvalidData(_) => 400,
            Self::Internal(_) => 500,
        }
    }

    /// The delay to send (`RetryInfo`, `Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => Some(*retry_after),
            Self::Unavailable { retry_after, .. } => *retry_after,
            Self::InvalidData(_) | Self::Internal(_) => None,
        }
    }

    /// The message for the status body, without secrets.
    pub fn message(&self) -> &str {
        match self {
            Self::Throttled { message, .. } | Self::Unavailable { message, .. } => message,
            Self::InvalidData(message) | Self::Internal(message) => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::grpc_code::*;
    use super::*;

    const DELAY: Duration = Duration::from_millis(1500);

    /// OTLP/gRPC: "The client SHOULD interpret gRPC status codes as retryable
    /// or not-retryable according to the following table."
    #[test]
    fn grpc_retryable_codes_follow_the_spec_table() {
        for code in [
            CANCELLED,
            DEADLINE_EXCEEDED,
            ABORTED,
            OUT_OF_RANGE,
            UNAVAILABLE,
            DATA_LOSS,
        ] {
            let error = ExportError::from_grpc_code(code, "", None);
            assert_eq!(
                error.kind(),
                ErrorKind::Retryable,
                "{}",
                grpc_code_name(code)
            );
        }
        for code in [
            UNKNOWN,
            INVALID_ARGUMENT,
            NOT_FOUND,
            ALREADY_EXISTS,
            PERMISSION_DENIED,
            UNAUTHENTICATED,
            FAILED_PRECONDITION,
            UNIMPLEMENTED,
            INTERNAL,
        ] {
            let error = ExportError::from_grpc_code(code, "", Some(DELAY));
            assert_eq!(
                error.kind(),
                ErrorKind::Permanent,
                "{}",
                grpc_code_name(code)
            );
            assert_eq!(error.retry_after(), None);
        }
    }

    /// OTLP/gRPC: RESOURCE_EXHAUSTED is retryable only when the server sent
    /// `RetryInfo`; the client then waits `retry_delay`.
    #[test]
    fn grpc_resource_exhausted_is_retryable_only_with_retry_info() {
        let without = ExportError::from_grpc_code(RESOURCE_EXHAUSTED, "full", None);
        assert_eq!(without.kind(), ErrorKind::Permanent);
        let with = ExportError::from_grpc_code(RESOURCE_EXHAUSTED, "full", Some(DELAY));
        assert_eq!(with.kind(), ErrorKind::Throttled);
        assert_eq!(with.retry_after(), Some(DELAY));
        assert!(with.is_retryable());
    }

    /// OTLP/HTTP: retry only 429, 502, 503 and 504; honour `Retry-After`.
    #[test]
    fn http_retryable_statuses_follow_the_spec() {
        for status in [429, 502, 503, 504] {
            assert_eq!(
                ExportError::from_http_status(status, "", None).kind(),
                ErrorKind::Retryable
            );
            let throttled = ExportError::from_http_status(status, "", Some(DELAY));
            assert_eq!(throttled.kind(), ErrorKind::Throttled);
            assert_eq!(throttled.retry_after(), Some(DELAY));
        }
        for status in [400, 401, 403, 404, 405, 413, 415, 500, 501, 505] {
            let error = ExportError::from_http_status(status, "nope", Some(DELAY));
            assert_eq!(error.kind(), ErrorKind::Permanent, "{status}");
            assert_eq!(error.retry_after(), None);
        }
    }

    /// What a sink reports must classify back, on the client, as meant.
    #[test]
    fn sink_errors_classify_back_as_meant() {
        let cases = [
            (
                SinkError::Throttled {
                    retry_after: DELAY,
                    message: "busy".into(),
                },
                ErrorKind::Throttled,
            ),
            (
                SinkError::Unavailable {
                    retry_after: None,
                    message: "draining".into(),
                },
                ErrorKind::Retryable,
            ),
            (
                SinkError::Unavailable {
                    retry_after: Some(DELAY),
                    message: "draining".into(),
                },
                ErrorKind::Throttled,
            ),
            (SinkError::InvalidData("bad".into()), ErrorKind::Permanent),
            (SinkError::Internal("bug".into()), ErrorKind::Permanent),
        ];
        for (sink_error, expected) in cases {
            let over_grpc = ExportError::from_grpc_code(
                sink_error.grpc_code(),
                sink_error.message(),
                sink_error.retry_after(),
            );
            let over_http = ExportError::from_http_status(
                sink_error.http_status(),
                sink_error.message(),
                sink_error.retry_after(),
            );
            assert_eq!(over_grpc.kind(), expected, "{sink_error}");
            assert_eq!(over_http.kind(), expected, "{sink_error}");
            assert_eq!(over_grpc.retry_after(), sink_error.retry_after());
        }
    }

    #[test]
    fn display_says_what_to_do() {
        let error = ExportError::from_grpc_code(UNAVAILABLE, "down", Some(DELAY));
        assert_eq!(
            error.to_string(),
            "export throttled: gRPC status UNAVAILABLE (14): down; retry after 1.5s"
        );
        assert_eq!(grpc_code_name(99), "UNKNOWN_CODE");
        let with_source =
            ExportError::retryable("connect").with_source(std::io::Error::other("refused"));
        assert_eq!(
            StdError::source(&with_source).unwrap().to_string(),
            "refused"
        );
    }
}
