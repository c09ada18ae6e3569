//! The span exporter.

use std::future::Future;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SpanData;
use otlp_reliability::StatsSnapshot;
use otlp_transport::Signal;

use super::SpanExporterBuilder;
use super::convert::{self, ProtoResource};
use super::worker::{SdkExportStats, Worker};
use crate::config::ExporterConfig;
use crate::exporter::ExporterError;

/// An `opentelemetry_sdk` span exporter sending each batch the SDK hands it
/// as one OTLP export request, over the transport its configuration names,
/// retried per the OTLP rules.
///
/// ```no_run
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = SdkTracerProvider::builder()
///     .with_batch_exporter(otlp::sdk::SpanExporter::from_env()?)
///     .build();
/// # provider.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SpanExporter {
    worker: Worker,
    resource: ProtoResource,
}

impl SpanExporter {
    /// A builder exporting as `config` (of [`Signal::Traces`]) says, with the
    /// Collector's retry defaults.
    pub fn builder(config: ExporterConfig) -> SpanExporterBuilder {
        SpanExporterBuilder::new(config)
    }

    /// An exporter configured by `config`, with the default retry.
    pub fn new(config: ExporterConfig) -> Result<Self, ExporterError> {
        Self::builder(config).build()
    }

    /// An exporter configured by the `OTEL_EXPORTER_OTLP_*` (and
    /// `OTEL_EXPORTER_OTLP_TRACES_*`) environment variables.
    pub fn from_env() -> Result<Self, ExporterError> {
        Self::new(ExporterConfig::from_env_for(Signal::Traces)?)
    }

    /// What it has exported, and what was rejected or lost.
    pub fn stats(&self) -> SdkExportStats {
        self.worker.stats()
    }

    /// The reliability layers' state: retries, breakers, failover health.
    pub fn reliability(&self) -> StatsSnapshot {
        self.worker.reliability()
    }
}

impl SpanExporterBuilder {
    /// Builds the clients (connecting lazily) and starts the exporter's
    /// thread; needs no runtime.
    pub fn build(self) -> Result<SpanExporter, ExporterError> {
        let worker = self.start(Signal::Traces)?;
        Ok(SpanExporter {
            worker,
            resource: ProtoResource::default(),
        })
    }
}

impl opentelemetry_sdk::trace::SpanExporter for SpanExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let request = convert::traces(batch, &self.resource);
        self.worker.export(request.into())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.worker.shutdown(timeout)
    }

    /// Nothing to flush: each export is sent and awaited when the SDK makes it.
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}
