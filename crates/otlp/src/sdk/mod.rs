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

pub use logs::LogExporter;
pub use metrics::MetricExporter;
pub use trace::SpanExporter;
pub use worker::SdkExportStats;

use std::marker::PhantomData;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::LogBatch;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::trace::SpanData;
use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_reliability::{BreakerConfig, RetryPolicy};
use otlp_transport::Signal;

use crate::config::ExporterConfig;
use crate::exporter::{ExporterError, Layers};
use worker::Worker;

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

/// Builds a [`SpanExporter`].
pub type SpanExporterBuilder = SdkExporterBuilder<SpanExporter>;
/// Builds a [`LogExporter`].
pub type LogExporterBuilder = SdkExporterBuilder<LogExporter>;
/// Builds a [`MetricExporter`].
pub type MetricExporterBuilder = SdkExporterBuilder<MetricExporter>;

/// Builds one of the SDK exporters: its configuration, the reliability
/// layers as on [`ExporterBuilder`](crate::exporter::ExporterBuilder)
/// (the Collector's retry defaults unless set; on request a circuit breaker
/// per endpoint, an attempt timeout and failover endpoints) and, for
/// metrics, the temporality.
#[must_use = "a builder does nothing until `build` is called"]
pub struct SdkExporterBuilder<E> {
    config: ExporterConfig,
    layers: Layers,
    temporality: Temporality,
    exporter: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for SdkExporterBuilder<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkExporterBuilder")
            .field("config", &self.config)
            .field("layers", &self.layers)
            .field("temporality", &self.temporality)
            .finish()
    }
}

impl<E> Clone for SdkExporterBuilder<E> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            layers: self.layers.clone(),
            temporality: self.temporality,
            exporter: PhantomData,
        }
    }
}

impl<E> SdkExporterBuilder<E> {
    fn new(config: ExporterConfig) -> Self {
        Self {
            config,
            layers: Layers::default(),
            temporality: Temporality::Cumulative,
            exporter: PhantomData,
        }
    }

    /// The retry policy; the OpenTelemetry Collector's defaults unless set.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.layers.retry = Some(policy);
        self
    }

    /// No retry: a failed export is reported to the SDK at once.
    pub fn no_retry(mut self) -> Self {
        self.layers.retry = None;
        self
    }

    /// A circuit breaker in front of each endpoint (see
    /// [`ExporterBuilder::breaker`](crate::exporter::ExporterBuilder::breaker)).
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.layers.breaker = Some(config);
        self
    }

    /// Adds an endpoint tried, in the order added, when those before it
    /// fail (see
    /// [`ExporterBuilder::failover`](crate::exporter::ExporterBuilder::failover)).
    pub fn failover(mut self, config: ExporterConfig) -> Self {
        self.layers.failover.push(config);
        self
    }

    /// Bounds each attempt on each endpoint (see
    /// [`ExporterBuilder::attempt_timeout`](crate::exporter::ExporterBuilder::attempt_timeout)).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.layers.attempt_timeout = Some(timeout);
        self
    }

    /// The worker of an exporter of `signal`: the clients (connecting
    /// lazily) on their own thread; needs no runtime.
    fn start(&self, signal: Signal) -> Result<Worker, ExporterError> {
        if self.config.signal() != signal {
            return Err(ExporterError::WrongSignal {
                expected: signal,
                configured: self.config.signal(),
            });
        }
        Worker::start(&self.config, &self.layers)
    }
}

impl SdkExporterBuilder<MetricExporter> {
    /// The temporality asked of the SDK's aggregations: cumulative (the
    /// default, what Prometheus-like backends want) or delta.
    pub fn temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = temporality;
        self
    }
}
