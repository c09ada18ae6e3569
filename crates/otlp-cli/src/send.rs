//! `otlp send`: export generated or replayed telemetry to a receiver, with a
//! progress bar and a final report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use otlp_reliability::{RetryLayer, RetryPolicy};
use otlp_transport::{
    BoxExportService, ErrorKind, ExportRequest, Outcome, Payload, Signal, WireFormat,
};
use tokio::task::JoinSet;
use tower::{Layer, ServiceExt};

use crate::Error;
use crate::connect::{self, ExporterArgs};
use crate::input;
use crate::latency::Latencies;

/// Export telemetry to an OTLP receiver: generated (realistic spans, metrics
/// and logs) or replayed from files.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otlp send                                            # 10 requests of each signal to grpc://localhost:4317
  otlp send --protocol http/json --endpoint http://collector:4318 --signal logs --count 100
  otlp send --rate 50 --duration 60 --records 512      # 50 requests/s for a minute
  otlp send --file traces.pb --file out.jsonl          # replay files (.pb, .json, .jsonl)

Retryable failures (UNAVAILABLE, 503, a refused connection…) are retried for
--retry-for seconds; a partial success is reported, never retried. Exit
status 1 when any request failed for good.

Behind a forward proxy: HTTPS_PROXY (https://, wss://), HTTP_PROXY (http://,
ws://) and NO_PROXY are honoured, as by the OpenTelemetry SDKs; credentials go
in the URL (http://user:password@proxy:3128). Loopback endpoints are always
reached directly.")]
pub(crate) struct Args {
    #[command(flatten)]
    exporter: ExporterArgs,
    /// Which signals to generate.
    #[arg(long, value_enum, default_value = "all")]
    signal: SignalArg,
    /// Replay these files instead of generating: `.pb` (protobuf; the signal
    /// from the file name or --signal), `.json` (OTLP/JSON), `.jsonl` (one
    /// OTLP/JSON request per line, as `otlp serve` writes).
    #[arg(long, short, value_name = "FILE")]
    file: Vec<PathBuf>,
    /// Requests to send (per signal when generating; all files this many times
    /// over when replaying). Default 10 generated requests per signal, or
    /// each file once.
    #[arg(long, short = 'n')]
    count: Option<u64>,
    /// Keep sending for this many seconds (instead of a count).
    #[arg(long, value_name = "SECONDS", conflicts_with = "count")]
    duration: Option<f64>,
    /// Requests per second, at most (all signals together).
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Records (spans, data points, log records) per generated request.
    #[arg(long, default_value_t = 512)]
    records: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Retry a request the receiver answered with a retryable error (or a
    /// throttle) for up to this many seconds, with jittered exponential
    /// backoff from 200 ms; 0 sends each request once.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    retry_for: f64,
    /// Seed of the generated data: the same seed sends the same telemetry.
    #[arg(long, default_value_t = otlp_datagen::SEED)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SignalArg {
    Traces,
    Metrics,
    Logs,
    All,
}

impl SignalArg {
    fn signals(self) -> &'static [Signal] {
        match self {
            Self::Traces => &[Signal::Traces],
            Self::Metrics => &[Signal::Metrics],
            Self::Logs => &[Signal::Logs],
            Self::All => &[Signal::Traces, Signal::Metrics, Signal::Logs],
        }
    }

    fn only(self) -> Option<Signal> {
        match self.signals() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// Where the requests come from.
enum Source {
    Files(Vec<ExportRequest>),
    Generated {
        signals: &'static [Signal],
        seed: u64,
        records: usize,
    },
}

impl Source {
    /// The `n`th request to send.
    fn request(&self, n: u64) -> ExportRequest {
        match self {
            Self::Files(requests) => requests[(n % requests.len() as u64) as usize].clone(),
            Self::Generated {
                signals,
                seed,
                records,
            } => {
                let signal = signals[(n % signals.len() as u64) as usize];
                input::generate(signal, seed.wrapping_add(n), *records)
                    .expect("only traces, metrics and logs are generated")
            }
        }
    }
}

/// When to stop.
#[derive(Clone, Copy)]
enum Until {
    Count(u64),
    Deadline(Instant),
}

pub(crate) fn run(args: Args) -> Result<(), Error> {
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(
            format!("--rate must be a positive number of requests per second, not {rate}").into(),
        );
    }
    let source = if args.file.is_empty() {
        if args.records == 0 {
            return Err("--records must be at least 1".into());
        }
        Source::Generated {
            signals: args.signal.signals(),
            seed: args.seed,
            records: args.records,
        }
    } else {
        let mut requests = Vec::new();
        for path in &args.file {
            requests.extend(input::read_file(path, args.signal.only())?);
        }
        if requests.is_empty() {
            return Err("the files hold no requests".into());
        }
        Source::Files(requests)
    };
    let until = match (args.count, args.duration) {
        (_, Some(seconds)) if !(seconds.is_finite() && seconds > 0.0) => {
            return Err(
                format!("--duration must be a positive number of seconds, not {seconds}").into(),
            );
        }
        (_, Some(seconds)) => Until::Deadline(Instant::now() + Duration::from_secs_f64(seconds)),
        (Some(count), None) => Until::Count(match &source {
            Source::Files(requests) => count * requests.len() as u64,
            Source::Generated { signals, .. } => count * signals.len() as u64,
        }),
        (None, None) => Until::Count(match &source {
            Source::Files(requests) => requests.len() as u64,
            Source::Generated { signals, .. } => 10 * signals.len() as u64,
        }),
    };

    let retry = match args.retry_for {
        0.0 => None,
        seconds if seconds.is_finite() && seconds > 0.0 => Some(RetryLayer::new(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(200))
                .max_interval(Duration::from_secs(5))
                .max_elapsed(Duration::from_secs_f64(seconds))
                .build()?,
        )),
        other => {
            return Err(format!(
                "--retry-for must be 0 or a positive number of seconds, not {other}"
            )
            .into());
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        let (service, wire) = connect::exporter(&args.exporter)?;
        let retries = retry.as_ref().map(RetryLayer::stats);
        let service = match retry {
            Some(retry) => BoxExportService::new(retry.layer(service)),
            None => service,
        };
        eprintln!(
            "otlp send: {} to {} ({}, {})",
            match &source {
                Source::Files(_) => "replaying files",
                Source::Generated { .. } => "generated telemetry",
            },
            args.exporter.endpoint(),
            args.exporter.protocol,
            wire.compression().as_str(),
        );
        let source = Arc::new(source);
        let mut report = send(service, wire, source, until, args.rate, args.concurrency).await;
        report.retried = retries.map_or(0, |stats| stats.snapshot().retries);
        Ok::<_, Error>(report)
    })?;
    report.print();
    if report.failed > 0 {
        return Err(format!("{} of {} requests failed", report.failed, report.requests).into());
    }
    Ok(())
}

async fn send(
    service: BoxExportService,
    wire: WireFormat,
    source: Arc<Source>,
    until: Until,
    rate: Option<f64>,
    concurrency: usize,
) -> Report {
    let progress = match until {
        Until::Count(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} requests {per_sec} {msg}")
                .expect("a valid template"),
        ),
        Until::Deadline(_) => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {elapsed} {pos} requests {per_sec} {msg}")
                .expect("a valid template"),
        ),
    };
    let start = Instant::now();
    let mut report = Report::default();
    let mut in_flight = JoinSet::new();
    let mut n = 0u64;
    loop {
        let more = match until {
            Until::Count(count) => n < count,
            Until::Deadline(deadline) => Instant::now() < deadline,
        };
        if !more {
            break;
        }
        if in_flight.len() >= concurrency
            && let Some(done) = in_flight.join_next().await
        {
            report.add(done.expect("a send task does not panic"));
            progress.inc(1);
            progress.set_message(report.short());
        }
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(n as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let (service, source) = (service.clone(), source.clone());
        in_flight.spawn(async move {
            let request = source.request(n);
            let records = request.record_count() as u64;
            let sent = Instant::now();
            let result = match wire.encode(Payload::from(request)) {
                Ok(encoded) => service.oneshot(encoded).await,
                Err(error) => Err(error),
            };
            Done {
                records,
                latency: sent.elapsed(),
                result,
            }
        });
        n += 1;
    }
    while let Some(done) = in_flight.join_next().await {
        report.add(done.expect("a send task does not panic"));
        progress.inc(1);
    }
    progress.finish_and_clear();
    report.elapsed = start.elapsed();
    report
}

struct Done {
    records: u64,
    latency: Duration,
    result: Result<Outcome, otlp_transport::ExportError>,
}

/// What `otlp send` did.
#[derive(Default)]
struct Report {
    requests: u64,
    records: u64,
    accepted: u64,
    rejected: u64,
    failed: u64,
    failed_records: u64,
    retried: u64,
    first_error: Option<String>,
    latencies: Latencies,
    elapsed: Duration,
}

impl Report {
    fn add(&mut self, done: Done) {
        self.requests += 1;
        self.records += done.records;
        match done.result {
            Ok(outcome) => {
                self.latencies.record(done.latency);
                let rejected = outcome.rejected().clamp(0, done.records as i64) as u64;
                self.rejected += rejected;
                self.accepted += done.records - rejected;
            }
            Err(error) => {
                self.failed += 1;
                self.failed_records += done.records;
                if self.first_error.is_none() {
                    let class = match error.kind() {
                        ErrorKind::Retryable => "retryable",
                        ErrorKind::Throttled => "throttled",
                        _ => "permanent",
                    };
                    self.first_error = Some(format!("{class}: {error}"));
                }
            }
        }
    }

    fn short(&self) -> String {
        format!("{} failed", self.failed)
    }

    fn print(&self) {
        let ms = |q| {
            self.latencies.quantile(q).map_or_else(
                || "-".to_owned(),
                |d| format!("{:.2} ms", d.as_secs_f64() * 1e3),
            )
        };
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        println!(
            "requests  {} sent, {} failed, {} retries",
            self.requests, self.failed, self.retried
        );
        println!(
            "records   {} sent, {} accepted, {} rejected (partial success), {} in failed requests",
            self.records, self.accepted, self.rejected, self.failed_records
        );
        println!(
            "latency   p50 {}, p99 {} over {} answered requests",
            ms(0.5),
            ms(0.99),
            self.latencies.count()
        );
        println!(
            "rate      {:.0} records/s, {:.1} requests/s over {:.2} s",
            self.accepted as f64 / seconds,
            self.requests as f64 / seconds,
            seconds
        );
        if let Some(error) = &self.first_error {
            println!("first error: {error}");
        }
    }
}
