//! Deterministic, realistic OTLP telemetry in the shape of the otlp-rs benchmark
//! dataset, and a loader for the dataset files.
//!
//! The canonical benchmark dataset (`shared/bench/data`: `traces.pb`,
//! `metrics.pb`, `logs.pb` and their OTLP/JSON twins) holds one export request of
//! 10,000 records per signal. This crate generates requests of the same shape —
//! same nesting, counts, attribute counts and types, similar string lengths —
//! from a fixed seed with no clock, so a benchmark that cannot read the files
//! still measures comparable data, and load generators can produce any volume.
//!
//! # What it provides
//! - [`traces`], [`metrics`], [`logs`]: the canonical 10,000-record requests
//!   (10 resources × 2 scopes; spans in traces of 10 with nested children;
//!   50 metrics × 10 points per scope in five metric types; logs with six
//!   severities, 60–200-character bodies and trace context on every other record).
//! - [`Generator`]: the same generators for another seed, resource count or
//!   record count, for load generation.
//! - [`split_traces`]: splits a request in order into requests of N spans (512 in
//!   the benchmarks), as an SDK batch processor would send them.
//! - [`Signal`], [`Dataset`], [`load`], [`load_json`], [`protobuf`]: read the
//!   dataset files from the directory named by [`ENV_VAR`] (`OTLP_BENCH_DATA`),
//!   falling back to the generated requests.
//!
//! - [`pki`] (feature `pki`): a private CA and leaf certificates for TLS
//!   tests.
//! - [`proxy`] (feature `proxy`): a forward proxy on 127.0.0.1 for tests of
//!   clients behind `HTTPS_PROXY` / `HTTP_PROXY`.
//!
//! The generator is not byte-for-byte identical to the files: compare sizes with
//! `encoded_len` when it matters.
//!
//! # Place in the layers
//! Level 1, beside `otlp-codec`: it depends on `otlp-proto` only among the
//! workspace crates. Benchmarks, conformance tests and the `otlp send` command use
//! it to produce traffic.
//!
//! # Example
//! ```
//! use otlp_datagen::{Generator, Signal, split_traces};
//! use otlp_proto::Message;
//!
//! // The canonical shape: 10,000 spans in 1,000 traces.
//! let request = otlp_datagen::traces();
//! let spans: usize = request
//!     .resource_spans
//!     .iter()
//!     .flat_map(|rs| &rs.scope_spans)
//!     .map(|ss| ss.spans.len())
//!     .sum();
//! assert_eq!(spans, 10_000);
//!
//! // Batches of 512 spans: 19 × 512 + 272.
//! let batches = split_traces(&request, 512);
//! assert_eq!(batches.len(), 20);
//!
//! // Another seed and volume for load generation.
//! let small = Generator::new(7).resources(2).records(100).logs();
//! assert_eq!(small.resource_logs.len(), 2);
//!
//! // The file when OTLP_BENCH_DATA is set, else the generated request encoded.
//! let wire = otlp_datagen::protobuf(Signal::Metrics);
//! assert!(!wire.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod common;
mod dataset;
mod logs;
mod metrics;
#[cfg(feature = "pki")]
#[cfg_attr(docsrs, doc(cfg(feature = "pki")))]
pub mod pki;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy;
mod traces;

use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;

pub use dataset::{Dataset, ENV_VAR, Signal, generate, load, load_json, protobuf};

/// The seed of the canonical dataset (`"OTLP-RS!"` in ASCII). Traces draw from
/// `SEED`, metrics from `SEED + 1`, logs from `SEED + 2`.
pub const SEED: u64 = 0x4F54_4C50_2D52_5321;

/// The base time of the dataset: 1,700,000,000 s after the epoch
/// (2023-11-14T22:13:20Z), in nanoseconds.
pub const BASE_TIME_UNIX_NANO: u64 = 1_700_000_000_000_000_000;

/// Records per signal in the canonical dataset.
pub const RECORDS: usize = 10_000;

/// Resources (services) in the canonical dataset; each has 2 scopes.
pub const RESOURCES: usize = 10;

/// Spans per request when the benchmarks send traces over a transport (the
/// OpenTelemetry SDK's default batch size).
pub const SPANS_PER_REQUEST: usize = 512;

/// The canonical traces request: 10,000 spans in 1,000 traces of 10.
pub fn traces() -> ExportTraceServiceRequest {
    Generator::default().traces()
}

/// The canonical metrics request: 10,000 data points (1,000 metrics of 10 points).
pub fn metrics() -> ExportMetricsServiceRequest {
    Generator::default().metrics()
}

/// The canonical logs request: 10,000 log records.
pub fn logs() -> ExportLogsServiceRequest {
    Generator::default().logs()
}

/// Splits `request` in order into requests of `spans_per_request` spans (the last
/// may hold fewer), each repeating the resource and scope of the spans it holds.
///
/// The canonical request split by 512 gives 19 requests of 512 spans and one of 272.
///
/// # Panics
/// If `spans_per_request` is 0.
pub fn split_traces(
    request: &ExportTraceServiceRequest,
    spans_per_request: usize,
) -> Vec<ExportTraceServiceRequest> {
    traces::split(request, spans_per_request)
}

/// A configurable generator of the dataset's shape: seed, resources and records.
///
/// [`Generator::default`] is the canonical dataset ([`SEED`], 10 resources,
/// 10,000 records). Records are spread evenly over the `resources × 2` scopes, in
/// order; spans come in traces of 10 (the last of a scope may be shorter),
/// data points in metrics of 10.
///
/// ```
/// use otlp_datagen::Generator;
///
/// let request = Generator::new(42).resources(3).spans(1_500).traces();
/// assert_eq!(request.resource_spans.len(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generator {
    seed: u64,
    resources: usize,
    records: usize,
}

impl Default for Generator {
    fn default() -> Self {
        Self::new(SEED)
    }
}

impl Generator {
    /// A generator of the canonical shape (10 resources, 10,000 records) from `seed`.
    /// Each signal draws from its own stream: traces `seed`, metrics `seed + 1`,
    /// logs `seed + 2`.
    pub const fn new(seed: u64) -> Self {
        Self {
            seed,
            resources: RESOURCES,
            records: RECORDS,
        }
    }

    /// Sets the number of resources (services; at least 1), each with 2 scopes.
    pub const fn resources(mut self, resources: usize) -> Self {
        self.resources = if resources == 0 { 1 } else { resources };
        self
    }

    /// Sets the number of records per request: spans, data points or log records.
    pub const fn records(mut self, records: usize) -> Self {
        self.records = records;
        self
    }

    /// Same as [`Generator::records`], named for traces.
    pub const fn spans(self, spans: usize) -> Self {
        self.records(spans)
    }

    /// The seed.
    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// The traces request: `records` spans.
    pub fn traces(&self) -> ExportTraceServiceRequest {
        traces::generate(self)
    }

    /// The metrics request: `records` data points.
    pub fn metrics(&self) -> ExportMetricsServiceRequest {
        metrics::generate(self)
    }

    /// The logs request: `records` log records.
    pub fn logs(&self) -> ExportLogsServiceRequest {
        logs::generate(self)
    }

    /// The request of `signal`, protobuf-encoded.
    pub fn protobuf(&self, signal: Signal) -> bytes::Bytes {
        use prost::Message;
        match signal {
            Signal::Traces => self.traces().encode_to_vec(),
            Signal::Metrics => self.metrics().encode_to_vec(),
            Signal::Logs => self.logs().encode_to_vec(),
        }
        .into()
    }
}
