//! The metric exporter.

use std::future::Future;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use otlp_reliability::RetryPolicy;
use otlp_transport::Signal;

use super::check_signal;
use super::convert;
use super::worker::{SdkExportStats, Worker};
use crate::config::ExporterConfig;
use crate::exporter::ExporterError;

/// An `opentelemetry_sdk` push metric exporter sending what each collection
/// gathered as one OTLP export request, over the transport its
/// configuration names, retried per the OTLP rules. Cumulative temporality
/// unless [`MetricExporterBuilder::temporality`] says otherwise.
///
/// ```no_run
/// use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let exporter = otlp::sdk::MetricExporter::from_env()?;
/// let provider = SdkMeterProvider::builder()
///     .with_reader(PeriodicReader::builder(exporter).build())
///     .build();
/// # provider.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MetricExporter {
    worker: Worker,
    temporality: Temporality,
}

/// Builds a [`MetricExporter`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct MetricExporterBuilder {
    config: ExporterConfig,
    retry: Option<RetryPolicy>,
    temporality: Temporality,
}

impl MetricExporter {
    /// A builder exporting as `config` (of [`Signal::Metrics`]) says, with
    /// the Collector's retry defaults and cumulative temporality.
    pub fn builder(config: ExporterConfig) -> MetricExporterBuilder {
        MetricExporterBuilder {
            config,
            retry: Some(RetryPolicy::default()),
            temporality: Temporality::Cumulative,
        }
    }

    /// An exporter configured by `config`, with the defaults.
    pub fn new(config: ExporterConfig) -> Result<Self, ExporterError> {
        Self::builder(config).build()
    }

    /// An exporter configured by the `OTEL_EXPORTER_OTLP_*` (and
    /// `OTEL_EXPORTER_OTLP_METRICS_*`) environment variables.
    pub fn from_env() -> Result<Self, ExporterError> {
        Self::new(ExporterConfig::from_env_for(Signal::Metrics)?)
    }

    /// What it has exported (in data points), and what was rejected or lost.
    pub fn stats(&self) -> SdkExportStats {
        self.worker.stats()
    }
}

impl MetricExporterBuilder {
    /// The retry policy; the OpenTelemetry Collector's defaults unless set.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// No retry: a failed export is reported to the SDK at once.
    pub fn no_retry(mut self) -> Self {
        self.retry = None;
        self
    }

    /// The temporality asked of the SDK's aggregations: cumulative (the
    /// default, what Prometheus-like backends want) or delta.
    pub fn temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = temporality;
        self
    }

    /// Builds the client (connecting lazily) and starts its thread; needs
    /// no runtime.
    pub fn build(self) -> Result<MetricExporter, ExporterError> {
        check_signal(&self.config, Signal::Metrics)?;
        Ok(MetricExporter {
            worker: Worker::start(&self.config, self.retry)?,
            temporality: self.temporality,
        })
    }
}

impl PushMetricExporter for MetricExporter {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        let request = convert::metrics(metrics);
        self.worker.export(request.into())
    }

    /// Nothing to flush: each export is sent and awaited when the SDK makes it.
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.worker.shutdown(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}
