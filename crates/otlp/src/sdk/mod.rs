//! Exporters for the OpenTelemetry Rust SDK (feature `opentelemetry-sdk`):
//! [`SpanExporter`], [`LogExporter`] and [`MetricExporter`] implement
//! `opentelemetry_sdk`'s exporter traits over the otlp-rs transports, so an
//! application already instrumented with the SDK switches exporter in one
//! line:
//!
//! ```no_run
//! use opentelemetry::trace::{Tracer, TracerProvider};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = SdkTracerProvider::builder()
//!     // was: .with_batch_exporter(opentelemetry_otlp::SpanExporter::builder()...build()?)
//!     .with_batch_exporter(otlp::sdk::SpanExporter::from_env()?)
//!     .build();
//! provider.tracer("checkout").in_span("charge", |_cx| {});
//! provider.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! Each adapter is configured by an [`ExporterConfig`] (any protocol of
//! [`Protocol`](crate::Protocol) whose transport is compiled in; `from_env`
//! reads `OTEL_EXPORTER_OTLP_*` and the signal's own variables) and retries
//! with the Collector's defaults unless its builder says otherwise.
//!
//! # How it runs
//! The SDK batches; the adapter does not batch again: each batch the SDK
//! hands over is converted (field for field as `opentelemetry-otlp` does:
//! resource, scopes, every attribute kind, span flags with the parent's
//! remoteness, events, links, log bodies of every kind, gauges, sums,
//! histograms and exponential histograms with exemplars), encoded once and
//! sent as one export request. The transport runs on a small thread of the
//! adapter's own with a current-thread tokio runtime, and `export` awaits
//! its answer over a channel: the SDK's background threads (which use no
//! tokio), an application without a runtime, and a provider's synchronous
//! `shutdown` called inside a current-thread runtime all work, none can
//! deadlock. A partial success is a success for the SDK; the rejected
//! records are counted in [`SdkExportStats`], like failed ones.

mod convert;
mod logs;
mod metrics;
#[cfg(test)]
mod tests;
mod trace;
mod worker;

pub use logs::{LogExporter, LogExporterBuilder};
pub use metrics::{MetricExporter, MetricExporterBuilder};
pub use trace::{SpanExporter, SpanExporterBuilder};
pub use worker::SdkExportStats;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::LogBatch;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::trace::SpanData;
use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_transport::Signal;

use crate::config::ExporterConfig;
use crate::exporter::ExporterError;

/// The export request the adapters send for a batch of spans of
/// `resource`: scopes in order of first appearance, every field as
/// `opentelemetry-otlp` fills it. For a pipeline of your own (a
/// [`BatchProcessor`](crate::BatchProcessor), a sink, a file).
pub fn traces_request(batch: Vec<SpanData>, resource: &Resource) -> ExportTraceServiceRequest {
    convert::traces(batch, &resource.into())
}

/// The export request the adapters send for a batch of log records of
/// `resource` (a record's target names its scope, as in
/// `opentelemetry-otlp`).
pub fn logs_request(batch: &LogBatch<'_>, resource: &Resource) -> ExportLogsServiceRequest {
    convert::logs(batch, &resource.into())
}

/// The export request the adapters send for what a metric reader collected.
pub fn metrics_request(metrics: &ResourceMetrics) -> ExportMetricsServiceRequest {
    convert::metrics(metrics)
}

/// A span exporter given a configuration of logs would send spans to the
/// logs endpoint: refuse it.
fn check_signal(config: &ExporterConfig, expected: Signal) -> Result<(), ExporterError> {
    if config.signal() == expected {
        Ok(())
    } else {
        Err(ExporterError::WrongSignal {
            expected,
            configured: config.signal(),
        })
    }
}
