//! The log exporter.

use std::future::Future;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::LogBatch;
use otlp_reliability::StatsSnapshot;
use otlp_transport::Signal;

use super::LogExporterBuilder;
use super::convert::{self, ProtoResource};
use super::worker::{SdkExportStats, Worker};
use crate::config::ExporterConfig;
use crate::exporter::ExporterError;

/// An `opentelemetry_sdk` log exporter sending each batch the SDK hands it
/// as one OTLP export request, over the transport its configuration names,
/// retried per the OTLP rules.
///
/// A record's target, when it has one, names its instrumentation scope, as
/// with `opentelemetry-otlp`.
///
/// ```no_run
/// use opentelemetry_sdk::logs::SdkLoggerProvider;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = SdkLoggerProvider::builder()
///     .with_batch_exporter(otlp::sdk::LogExporter::from_env()?)
///     .build();
/// # provider.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LogExporter {
    worker: Worker,
    resource: ProtoResource,
}

impl LogExporter {
    /// A builder exporting as `config` (of [`Signal::Logs`]) says, with the
    /// Collector's retry defaults.
    pub fn builder(config: ExporterConfig) -> LogExporterBuilder {
        LogExporterBuilder::new(config)
    }

    /// An exporter configured by `config`, with the default retry.
    pub fn new(config: ExporterConfig) -> Result<Self, ExporterError> {
        Self::builder(config).build()
    }

    /// An exporter configured by the `OTEL_EXPORTER_OTLP_*` (and
    /// `OTEL_EXPORTER_OTLP_LOGS_*`) environment variables.
    pub fn from_env() -> Result<Self, ExporterError> {
        Self::new(ExporterConfig::from_env_for(Signal::Logs)?)
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

impl LogExporterBuilder {
    /// Builds the clients (connecting lazily) and starts the exporter's
    /// thread; needs no runtime.
    pub fn build(self) -> Result<LogExporter, ExporterError> {
        let worker = self.start(Signal::Logs)?;
        Ok(LogExporter {
            worker,
            resource: ProtoResource::default(),
        })
    }
}

impl opentelemetry_sdk::logs::LogExporter for LogExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let request = convert::logs(&batch, &self.resource);
        self.worker.export(request.into())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.worker.shutdown(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}
