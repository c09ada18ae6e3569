//! `otlp bench`: our figures beside the baseline crates, measured in the same
//! run, on the canonical dataset.
//!
//! Figure names and the JSON-lines form follow the dataset's README
//! (`proto.decode.traces`, `baseline.proto.decode.traces`, …): one object per
//! figure with `figure`, `unit`, `median`, `min`, `max`, `samples` and
//! `throughput`, times in milliseconds.

mod codec;
mod compression;
mod grpc;
mod http;
mod transport;
mod ws;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use otlp_compression::Compression;
use otlp_datagen::{Dataset, Signal};

use crate::Error;

/// Measure our codecs, compressions and transports beside the baseline crates
/// (`opentelemetry-proto` with prost and serde_json; plain flate2, zstd, snap;
/// tonic's generated OTLP service; plain hyper), in the same run, and print the
/// ratios.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otlp bench                                  # everything, a table with ratios
  otlp bench codec --data ../shared/bench/data
  otlp bench compression --json > figures.jsonl
  otlp bench grpc http --time 3
  otlp bench grpc --compression none,gzip,zstd

A ratio above 1 means ours is faster. Both sides share the machine, so compare
ratios within one run rather than figures across runs.

Transports (grpc, http) send traces.pb split into 512-span requests from c
tasks at once (c = 1 and 16), client and server in this process, for --time
seconds per row after a warm-up; throughput is the spans/s the server
accepted, with p50_ms and p99_ms of one export. Every server counts what it
received and the run fails if that differs from what was sent. Rows:
  grpc.none.c16.traces             ours doing the baseline's work: the request
                                   encoded in the call, decoded by the server
  grpc.encoded.none.c16.traces     ours sending a payload encoded beforehand
  grpc.relay.none.c16.traces       the same to a server that takes the bytes as
                                   they came (a relay): no decode
  grpc.stream.none.c16.traces      encoded payloads over the streaming extension
  ws.none.c16.traces, ws.relay.none.c16.traces   WebSocket, compared with
                                   grpc.encoded… and grpc.relay… (no baseline
                                   crate speaks OTLP over WebSocket)
  baseline.grpc.none.c16.traces    tonic + opentelemetry-proto's generated
                                   client and server
  http.none.c16.traces             HTTP/1.1, both sides post the same encoded
                                   body, the server decodes
  http.relay.none.c16.traces       the same to a relay server
  http.h2c.none.c16.traces, http.h2c.relay.none.c16.traces   the same on h2c
  baseline.http.none.c16.traces    plain hyper client and server, prost decode
The ratio of a .relay or .encoded row is to the baseline of its transport.")]
pub(crate) struct Args {
    /// What to measure.
    #[arg(value_enum, default_value = "all")]
    targets: Vec<Target>,
    /// Print one JSON object per figure and line instead of a table.
    #[arg(long)]
    json: bool,
    /// Directory holding the canonical dataset (`traces.pb`, `traces.json`, …);
    /// without it the same shape is generated.
    #[arg(long, env = "OTLP_BENCH_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Time spent measuring each figure, in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    time: f64,
    /// Codings of the gRPC rows, comma-separated: none, gzip, zstd or deflate
    /// (those tonic, the baseline, has too).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none",
        value_name = "CODINGS"
    )]
    compression: Vec<Compression>,
    /// Most samples per codec or compression figure (at least 5 are always
    /// taken); a transport row keeps every export of its --time.
    #[arg(long, default_value_t = 100)]
    samples: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Encode and decode through every codec.
    Codec,
    /// Compress and decompress `traces.pb` with every coding.
    Compression,
    /// OTLP/gRPC exports of 512-span requests, against tonic.
    Grpc,
    /// OTLP/HTTP exports of 512-span requests (HTTP/1.1 and h2c), against hyper.
    Http,
    /// OTLP over WebSocket, beside our gRPC transport.
    Ws,
    /// All of the above.
    All,
}

/// The fewest samples a figure gets, however slow each one is.
const MIN_SAMPLES: usize = 5;

pub(crate) fn run(args: Args) -> Result<(), Error> {
    if !(args.time.is_finite() && args.time > 0.0) {
        return Err(format!(
            "--time must be a positive number of seconds, not {}",
            args.time
        )
        .into());
    }
    let mut bench = Bench {
        data: Data::new(args.data.clone())?,
        budget: Duration::from_secs_f64(args.time),
        max_samples: args.samples.max(MIN_SAMPLES),
        grpc_compressions: args.compression.clone(),
        figures: Vec::new(),
        json: args.json,
        progress: ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
        ),
    };
    bench
        .progress
        .enable_steady_tick(Duration::from_millis(120));
    let all = args.targets.contains(&Target::All);
    if all || args.targets.contains(&Target::Codec) {
        codec::run(&mut bench)?;
    }
    if all || args.targets.contains(&Target::Compression) {
        compression::run(&mut bench)?;
    }
    if all || args.targets.contains(&Target::Grpc) {
        grpc::run(&mut bench)?;
    }
    if all || args.targets.contains(&Target::Http) {
        http::run(&mut bench)?;
    }
    if all || args.targets.contains(&Target::Ws) {
        ws::run(&mut bench)?;
    }
    bench.progress.finish_and_clear();
    if !args.json {
        print_table(&bench.figures);
    }
    Ok(())
}

/// Where the inputs come from: the dataset directory, or generated.
struct Data {
    dataset: Option<Dataset>,
}

impl Data {
    fn new(dir: Option<PathBuf>) -> Result<Self, Error> {
        let dataset = dir.map(Dataset::new);
        if let Some(dataset) = &dataset
            && !dataset.protobuf_path(Signal::Traces).is_file()
        {
            return Err(format!(
                "{} holds no traces.pb: point --data (or OTLP_BENCH_DATA) at the dataset directory, or leave it out to generate the data",
                dataset.dir().display()
            )
            .into());
        }
        Ok(Self { dataset })
    }

    fn protobuf(&self, signal: Signal) -> Result<Bytes, Error> {
        match &self.dataset {
            Some(dataset) => dataset.protobuf(signal).map_err(|e| {
                format!("reading {}: {e}", dataset.protobuf_path(signal).display()).into()
            }),
            None => Ok(otlp_datagen::generate(signal)),
        }
    }

    /// The dataset's OTLP/JSON file, when there is a dataset.
    fn json(&self, signal: Signal) -> Result<Option<Bytes>, Error> {
        match &self.dataset {
            Some(dataset) => dataset.json(signal).map(Some).map_err(|e| {
                format!("reading {}: {e}", dataset.json_path(signal).display()).into()
            }),
            None => Ok(None),
        }
    }
}

struct Bench {
    data: Data,
    budget: Duration,
    max_samples: usize,
    grpc_compressions: Vec<Compression>,
    figures: Vec<Figure>,
    json: bool,
    progress: ProgressBar,
}

impl Bench {
    /// Times `f` until the budget is spent (at least [`MIN_SAMPLES`] times, at
    /// most `max_samples`), after one warm-up call, and records the figure with
    /// `bytes` per call as its MB/s.
    fn measure_bytes(&mut self, name: String, bytes: usize, f: impl FnMut()) -> &mut Figure {
        self.progress.set_message(name.clone());
        let samples = self.time(f);
        let median = samples.median();
        let throughput = bytes as f64 / median.as_secs_f64() / 1e6;
        self.push(Figure {
            name,
            samples,
            throughput,
            throughput_unit: "MB/s",
            extra: Vec::new(),
            baseline: None,
        })
    }

    fn time(&self, mut f: impl FnMut()) -> Samples {
        f();
        let start = Instant::now();
        let mut samples = Vec::with_capacity(self.max_samples.min(1024));
        while samples.len() < self.max_samples
            && (samples.len() < MIN_SAMPLES || start.elapsed() < self.budget)
        {
            let t = Instant::now();
            f();
            samples.push(t.elapsed());
        }
        Samples::new(samples)
    }

    fn push(&mut self, figure: Figure) -> &mut Figure {
        self.figures.push(figure);
        self.figures.last_mut().expect("just pushed")
    }

    /// Prints the figures pushed since `from` as JSON lines, when asked to.
    fn emit_since(&self, from: usize) {
        if self.json {
            for figure in &self.figures[from..] {
                self.progress.suspend(|| println!("{}", figure.to_json()));
            }
        }
    }
}

/// Sorted sample durations.
struct Samples(Vec<Duration>);

impl Samples {
    fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    fn median(&self) -> Duration {
        let n = self.0.len();
        if n % 2 == 1 {
            self.0[n / 2]
        } else {
            (self.0[n / 2 - 1] + self.0[n / 2]) / 2
        }
    }

    fn min(&self) -> Duration {
        self.0[0]
    }

    fn max(&self) -> Duration {
        self.0[self.0.len() - 1]
    }

    /// The sample below which a fraction `q` of them lie (nearest rank).
    fn quantile(&self, q: f64) -> Duration {
        let rank = (self.0.len() as f64 * q).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }
}

/// One measured figure.
struct Figure {
    name: String,
    samples: Samples,
    /// Higher is better: MB/s for codecs and compression, spans/s for
    /// transports.
    throughput: f64,
    throughput_unit: &'static str,
    /// Further numbers of the figure, such as a compression `ratio`.
    extra: Vec<(&'static str, f64)>,
    /// The baseline figure the table compares it with, when not
    /// `baseline.<name>`.
    baseline: Option<String>,
}

impl Figure {
    fn to_json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut object = serde_json::json!({
            "figure": self.name,
            "unit": "ms",
            "median": ms(self.samples.median()),
            "min": ms(self.samples.min()),
            "max": ms(self.samples.max()),
            "samples": self.samples.0.len(),
            "throughput": self.throughput,
            "throughput_unit": self.throughput_unit,
        });
        for (key, value) in &self.extra {
            object[*key] = serde_json::json!(value);
        }
        object
    }
}

/// Our figures with their baseline twin (`baseline.<name>`) and the speed-up.
fn print_table(figures: &[Figure]) {
    let width = figures
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:width$}  {:>10}  {:>16}  {:>16}  {:>8}",
        "figure", "median ms", "ours", "baseline", "ratio"
    );
    // A baseline row that names its own comparison (a transport's) is shown
    // too, for its latencies.
    for figure in figures
        .iter()
        .filter(|f| !f.name.starts_with("baseline.") || f.baseline.is_some())
    {
        let baseline_name = match &figure.baseline {
            Some(name) => name.clone(),
            None => format!("baseline.{}", figure.name),
        };
        let baseline = figures.iter().find(|f| f.name == baseline_name);
        let unit = figure.throughput_unit;
        let ours = format!("{:.0} {unit}", figure.throughput);
        let (theirs, ratio) = match baseline {
            Some(b) => (
                format!("{:.0} {unit}", b.throughput),
                format!("{:.2}x", figure.throughput / b.throughput),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let extra: String = figure
            .extra
            .iter()
            .map(|(k, v)| format!("  {k} {v:.3}"))
            .collect();
        println!(
            "{:width$}  {:>10.3}  {:>16}  {:>16}  {:>8}{extra}",
            figure.name,
            figure.samples.median().as_secs_f64() * 1e3,
            ours,
            theirs,
            ratio,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_sample_counts() {
        let ms = Duration::from_millis;
        assert_eq!(Samples::new(vec![ms(3), ms(1), ms(2)]).median(), ms(2));
        assert_eq!(
            Samples::new(vec![ms(4), ms(1), ms(2), ms(3)]).median(),
            Duration::from_micros(2500)
        );
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let samples = Samples::new((1..=100).map(Duration::from_millis).collect());
        assert_eq!(samples.quantile(0.50), Duration::from_millis(50));
        assert_eq!(samples.quantile(0.99), Duration::from_millis(99));
        let one = Samples::new(vec![Duration::from_millis(7)]);
        assert_eq!(one.quantile(0.99), Duration::from_millis(7));
    }

    #[test]
    fn a_figure_as_json_has_the_dataset_readme_fields() {
        let figure = Figure {
            name: "proto.decode.traces".into(),
            samples: Samples::new(vec![
                Duration::from_millis(2),
                Duration::from_millis(4),
                Duration::from_millis(3),
            ]),
            throughput: 1.5,
            throughput_unit: "MB/s",
            extra: vec![("ratio", 0.25)],
            baseline: None,
        };
        let json = figure.to_json();
        for key in [
            "figure",
            "unit",
            "median",
            "min",
            "max",
            "samples",
            "throughput",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert_eq!(json["median"], 3.0);
        assert_eq!(json["min"], 2.0);
        assert_eq!(json["samples"], 3);
        assert_eq!(json["ratio"], 0.25);
    }
}
