//! Export requests and responses of any signal, and the outcome of an export.

use bytes::Bytes;
use otlp_codec::{Codec, DecodeError, EncodeError};
use otlp_proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use otlp_proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use otlp_proto::collector::profiles::v1development::{
    ExportProfilesPartialSuccess, ExportProfilesServiceRequest, ExportProfilesServiceResponse,
};
use otlp_proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use otlp_proto::metrics::v1::metric::Data;

use crate::Signal;

/// A decoded export request of any signal.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportRequest {
    /// Spans.
    Traces(ExportTraceServiceRequest),
    /// Metric data points.
    Metrics(ExportMetricsServiceRequest),
    /// Log records.
    Logs(ExportLogsServiceRequest),
    /// Profiles.
    Profiles(ExportProfilesServiceRequest),
}

/// A decoded export response of any signal.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportResponse {
    /// Answer to a traces export.
    Traces(ExportTraceServiceResponse),
    /// Answer to a metrics export.
    Metrics(ExportMetricsServiceResponse),
    /// Answer to a logs export.
    Logs(ExportLogsServiceResponse),
    /// Answer to a profiles export.
    Profiles(ExportProfilesServiceResponse),
}

/// What a receiver made of an export it accepted.
///
/// OTLP: a response whose `partial_success` is unset, or set with zero rejected
/// records and no message, is a full success. Zero rejected records *with* a
/// message is a warning, still a partial success. A client MUST NOT retry a
/// partial success: the rejected records were refused for good.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Everything was accepted.
    #[default]
    Success,
    /// Some records were rejected (or a warning was given, with `rejected == 0`).
    PartialSuccess {
        /// How many records (spans, data points, log records, profiles) were rejected.
        rejected: i64,
        /// The receiver's explanation, in English.
        message: String,
    },
}

impl Outcome {
    /// Builds an outcome from a response's partial-success fields, treating the
    /// all-empty form as a full success.
    pub fn from_parts(rejected: i64, message: String) -> Self {
        if rejected == 0 && message.is_empty() {
            Self::Success
        } else {
            Self::PartialSuccess { rejected, message }
        }
    }

    /// Whether nothing was rejected and nothing was said.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }

    /// The number of rejected records (0 on success and on a warning).
    pub fn rejected(&self) -> i64 {
        match self {
            Self::Success => 0,
            Self::PartialSuccess { rejected, .. } => *rejected,
        }
    }
}

macro_rules! per_signal {
    ($value:expr, $inner:ident => $body:expr) => {
        match $value {
            Self::Traces($inner) => $body,
            Self::Metrics($inner) => $body,
            Self::Logs($inner) => $body,
            Self::Profiles($inner) => $body,
        }
    };
}

/// `decode`, `encode` and `signal` for both message enums, which hold one
/// message per signal in the same variants.
macro_rules! codec_methods {
    ($($message:ident: $what:literal),*) => {$(
        impl $message {
            #[doc = concat!("Decodes ", $what, " of `signal` from an (uncompressed) body.")]
            pub fn decode(signal: Signal, codec: Codec, body: Bytes) -> Result<Self, DecodeError> {
                Ok(match signal {
                    Signal::Traces => Self::Traces(codec.decode(body)?),
                    Signal::Metrics => Self::Metrics(codec.decode(body)?),
                    Signal::Logs => Self::Logs(codec.decode(body)?),
                    Signal::Profiles => Self::Profiles(codec.decode(body)?),
                })
            }

            #[doc = concat!("Appends the encoding of this ", $what, " to `buf`.")]
            pub fn encode(&self, codec: Codec, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
                per_signal!(self, message => codec.encode(message, buf))
            }

            /// The signal carried.
            pub fn signal(&self) -> Signal {
                match self {
                    Self::Traces(_) => Signal::Traces,
                    Self::Metrics(_) => Signal::Metrics,
                    Self::Logs(_) => Signal::Logs,
                    Self::Profiles(_) => Signal::Profiles,
                }
            }
        }
    )*};
}

codec_methods!(ExportRequest: "request", ExportResponse: "response");

impl ExportRequest {
    /// The number of records as partial-success counts them: spans, metric
    /// data points, log records, or profiles.
    pub fn record_count(&self) -> usize {
        match self {
            Self::Traces(request) => request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum(),
            Self::Metrics(request) => request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|metric| match &metric.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                })
                .sum(),
            Self::Logs(request) => request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum(),
            Self::Profiles(request) => request
                .resource_profiles
                .iter()
                .flat_map(|r| &r.scope_profiles)
                .map(|s| s.profiles.len())
                .sum(),
        }
    }

    /// Whether the request carries no record at all. OTLP: a receiver SHOULD
    /// answer an empty request with success.
    pub fn is_empty(&self) -> bool {
        self.record_count() == 0
    }

    /// The protobuf size of the request, in bytes.
    pub fn encoded_len(&self) -> usize {
        per_signal!(self, request => otlp_proto::Message::encoded_len(request))
    }
}

impl ExportResponse {
    /// The response of `signal` that reports `outcome`.
    pub fn new(signal: Signal, outcome: &Outcome) -> Self {
        let (rejected, message) = match outcome {
            Outcome::Success => return Self::success(signal),
            Outcome::PartialSuccess { rejected, message } => (*rejected, message.clone()),
        };
        match signal {
            Signal::Traces => Self::Traces(ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message.into(),
                }),
            }),
            Signal::Metrics => Self::Metrics(ExportMetricsServiceResponse {
                partial_success: Some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message.into(),
                }),
            }),
            Signal::Logs => Self::Logs(ExportLogsServiceResponse {
                partial_success: Some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message.into(),
                }),
            }),
            Signal::Profiles => Self::Profiles(ExportProfilesServiceResponse {
                partial_success: Some(ExportProfilesPartialSuccess {
                    rejected_profiles: rejected,
                    error_message: message.into(),
                }),
            }),
        }
    }

    /// A full success: `partial_success` left unset, as OTLP asks.
    pub fn success(signal: Signal) -> Self {
        match signal {
            Signal::Traces => Self::Traces(ExportTraceServiceResponse::default()),
            Signal::Metrics => Self::Metrics(ExportMetricsServiceResponse::default()),
            Signal::Logs => Self::Logs(ExportLogsServiceResponse::default()),
            Signal::Profiles => Self::Profiles(ExportProfilesServiceResponse::default()),
        }
    }

    /// What the receiver reported.
    pub fn outcome(&self) -> Outcome {
        let parts = match self {
            Self::Traces(r) => r
                .partial_success
                .as_ref()
                .map(|p| (p.rejected_spans, p.error_message.clone())),
            Self::Metrics(r) => r
                .partial_success
                .as_ref()
                .map(|p| (p.rejected_data_points, p.error_message.clone())),
            Self::Logs(r) => r
                .partial_success
                .as_ref()
                .map(|p| (p.rejected_log_records, p.error_message.clone())),
            Self::Profiles(r) => r
                .partial_success
                .as_ref()
                .map(|p| (p.rejected_profiles, p.error_message.clone())),
        };
        let (rejected, message) = parts.unwrap_or_default();
        // An owned copy: the response's string may share a whole received body.
        Outcome::from_parts(rejected, message.to_string())
    }
}

macro_rules! from_message {
    ($($variant:ident($request:ty, $response:ty)),*) => {$(
        impl From<$request> for ExportRequest {
            fn from(request: $request) -> Self {
                Self::$variant(request)
            }
        }
        impl From<$response> for ExportResponse {
            fn from(response: $response) -> Self {
                Self::$variant(response)
            }
        }
    )*};
}

from_message!(
    Traces(ExportTraceServiceRequest, ExportTraceServiceResponse),
    Metrics(ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    Logs(ExportLogsServiceRequest, ExportLogsServiceResponse),
    Profiles(ExportProfilesServiceRequest, ExportProfilesServiceResponse)
);

#[cfg(test)]
mod tests {
    use super::*;

    /// OTLP: "If the request is only partially accepted … the server MUST
    /// initialize the partial_success field"; an all-empty one is a success.
    #[test]
    fn empty_partial_success_is_success() {
        let response = ExportResponse::Traces(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess::default()),
        });
        assert_eq!(response.outcome(), Outcome::Success);
    }

    #[test]
    fn warning_is_a_partial_success_with_nothing_rejected() {
        let outcome = Outcome::from_parts(0, "deprecated attribute".into());
        assert!(!outcome.is_success());
        assert_eq!(outcome.rejected(), 0);
    }

    #[test]
    fn outcome_survives_every_signal_response() {
        let outcome = Outcome::from_parts(3, "3 spans had no trace id".into());
        for signal in Signal::ALL {
            assert_eq!(ExportResponse::new(signal, &outcome).outcome(), outcome);
            assert_eq!(
                ExportResponse::new(signal, &Outcome::Success).outcome(),
                Outcome::Success
            );
        }
    }

    /// Full success leaves `partial_success` unset: the protobuf body is empty.
    #[test]
    fn success_encodes_to_an_empty_body() {
        let mut buf = Vec::new();
        ExportResponse::success(Signal::Logs)
            .encode(Codec::Protobuf, &mut buf)
            .unwrap();
        assert!(buf.is_empty());
    }
}
