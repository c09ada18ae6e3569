//! The four OTLP signals and where each travels.

use std::fmt;
use std::str::FromStr;

/// An OTLP signal: what an export request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans (`ExportTraceServiceRequest`).
    Traces,
    /// Metric data points (`ExportMetricsServiceRequest`).
    Metrics,
    /// Log records (`ExportLogsServiceRequest`).
    Logs,
    /// Profiles (`ExportProfilesServiceRequest`, development maturity).
    Profiles,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 4] = [Self::Traces, Self::Metrics, Self::Logs, Self::Profiles];

    /// The lowercase name used in paths, environment variables and settings.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
            Self::Profiles => "profiles",
        }
    }

    /// The OTLP/HTTP path: `/v1/traces`, `/v1/metrics`, `/v1/logs`,
    /// `/v1development/profiles`.
    pub const fn http_path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Metrics => "/v1/metrics",
            Self::Logs => "/v1/logs",
            Self::Profiles => "/v1development/profiles",
        }
    }

    /// The fully qualified gRPC service.
    pub const fn grpc_service(self) -> &'static str {
        match self {
            Self::Traces => "opentelemetry.proto.collector.trace.v1.TraceService",
            Self::Metrics => "opentelemetry.proto.collector.metrics.v1.MetricsService",
            Self::Logs => "opentelemetry.proto.collector.logs.v1.LogsService",
            Self::Profiles => {
                "opentelemetry.proto.collector.profiles.v1development.ProfilesService"
            }
        }
    }

    /// The gRPC method path of the unary `Export` call.
    pub const fn grpc_path(self) -> &'static str {
        match self {
            Self::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Self::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Self::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            Self::Profiles => {
                "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
            }
        }
    }

    /// What one record of this signal is called, as partial-success counts name it.
    pub const fn record_name(self) -> &'static str {
        match self {
            Self::Traces => "spans",
            Self::Metrics => "data points",
            Self::Logs => "log records",
            Self::Profiles => "profiles",
        }
    }

    /// The signal served at an OTLP/HTTP path, if any.
    pub fn from_http_path(path: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|signal| signal.http_path() == path)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Signal {
    type Err = UnknownSignal;

    /// Parses `traces`, `metrics`, `logs` or `profiles`, in any case.
    fn from_str(name: &str) -> Result<Self, UnknownSignal> {
        Self::ALL
            .into_iter()
            .find(|signal| signal.as_str().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| UnknownSignal(name.to_string()))
    }
}

/// A name that is not one of `traces`, `metrics`, `logs`, `profiles`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal {0:?}: expected traces, metrics, logs or profiles")]
pub struct UnknownSignal(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_round_trip() {
        for signal in Signal::ALL {
            assert_eq!(signal.as_str().parse::<Signal>(), Ok(signal));
            assert_eq!(Signal::from_http_path(signal.http_path()), Some(signal));
            assert!(
                signal
                    .grpc_path()
                    .starts_with(&format!("/{}", signal.grpc_service()))
            );
        }
        assert_eq!("TRACES".parse::<Signal>(), Ok(Signal::Traces));
        assert!("spans".parse::<Signal>().is_err());
        assert_eq!(Signal::from_http_path("/v1/profiles"), None);
    }
}
