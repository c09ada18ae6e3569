//! The metric exporter.

use std::future::Future;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use otlp_reliability::StatsSnapshot;
use otlp_transport::Signal;

use super::MetricExporterBuilder;
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

impl MetricExporter {
    /// A builder exporting as `config` (of [`Signal::Metrics`]) says, with
    /// the Collector's retry defaults and cumulative temporality.
    pub fn builder(config: ExporterConfig) -> MetricExporterBuilder {
        MetricExporterBuilder::new(config)
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

    /// The reliability layers' state: retries, breakers, failover health.
    pub fn reliability(&self) -> StatsSnapshot {
        self.worker.reliability()
    }
}

impl MetricExporterBuilder {
    /// Builds the clients (connecting lazily) and starts the exporter's
    /// thread; needs no runtime.
    pub fn build(self) -> Result<MetricExporter, ExporterError> {
        let worker = self.start(Signal::Metrics)?;
        Ok(MetricExporter {
            worker,
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
