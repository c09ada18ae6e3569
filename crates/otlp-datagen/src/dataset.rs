//! Loading the dataset files from `OTLP_BENCH_DATA`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// The environment variable naming the dataset directory.
pub const ENV_VAR: &str = "OTLP_BENCH_DATA";

/// One of the three signals of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `traces.pb` / `traces.json`: an `ExportTraceServiceRequest`.
    Traces,
    /// `metrics.pb` / `metrics.json`: an `ExportMetricsServiceRequest`.
    Metrics,
    /// `logs.pb` / `logs.json`: an `ExportLogsServiceRequest`.
    Logs,
}

impl Signal {
    /// The three signals, in file order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The file stem and figure suffix: `traces`, `metrics` or `logs`.
    pub const fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dataset directory holding `<signal>.pb` and `<signal>.json` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    dir: PathBuf,
}

impl Dataset {
    /// The dataset in `dir` (not checked until a file is read).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The dataset named by [`ENV_VAR`], or `None` when it is unset or empty.
    pub fn from_env() -> Option<Self> {
        std::env::var_os(ENV_VAR)
            .filter(|v| !v.is_empty())
            .map(Self::new)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `<signal>.pb`.
    pub fn protobuf_path(&self, signal: Signal) -> PathBuf {
        self.dir.join(format!("{signal}.pb"))
    }

    /// The path of `<signal>.json`.
    pub fn json_path(&self, signal: Signal) -> PathBuf {
        self.dir.join(format!("{signal}.json"))
    }

    /// The bytes of `<signal>.pb`: the protobuf-encoded export request.
    pub fn protobuf(&self, signal: Signal) -> io::Result<Bytes> {
        std::fs::read(self.protobuf_path(signal)).map(Bytes::from)
    }

    /// The raw bytes of `<signal>.json`: the OTLP/JSON export request.
    pub fn json(&self, signal: Signal) -> io::Result<Bytes> {
        std::fs::read(self.json_path(signal)).map(Bytes::from)
    }
}

/// Reads `<signal>.pb` from the directory named by [`ENV_VAR`]; `Ok(None)` when
/// the variable is unset.
///
/// # Errors
/// When the variable is set but the file cannot be read.
pub fn load(signal: Signal) -> Result<Option<Bytes>, io::Error> {
    Dataset::from_env().map(|d| d.protobuf(signal)).transpose()
}

/// Reads `<signal>.json` (raw bytes) from the directory named by [`ENV_VAR`];
/// `Ok(None)` when the variable is unset.
///
/// # Errors
/// When the variable is set but the file cannot be read.
pub fn load_json(signal: Signal) -> Result<Option<Bytes>, io::Error> {
    Dataset::from_env().map(|d| d.json(signal)).transpose()
}

/// The canonical generated request of `signal`, protobuf-encoded.
pub fn generate(signal: Signal) -> Bytes {
    crate::Generator::default().protobuf(signal)
}

/// The protobuf bytes of `signal`: the dataset file when [`ENV_VAR`] is set, else
/// the [generated](generate) request.
///
/// # Panics
/// When [`ENV_VAR`] is set but the file cannot be read: a benchmark asked for the
/// files must not silently measure something else. Use [`load`] to handle the error.
pub fn protobuf(signal: Signal) -> Bytes {
    match load(signal) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => generate(signal),
        Err(e) => panic!(
            "{ENV_VAR} is set but {signal}.pb cannot be read: {e} (unset it to generate the data)"
        ),
    }
}
