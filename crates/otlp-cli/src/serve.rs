//! `otlp serve`: receive OTLP over gRPC and HTTP and write every request as
//! one OTLP/JSON line.

use std::path::PathBuf;

use otlp::sink::{JsonLinesSink, SinkSummary};
use otlp_transport::Signal;

use crate::Error;
use crate::listen::{self, ListenArgs};

/// Receive OTLP on gRPC and HTTP and write every request as one OTLP/JSON line
/// to standard output or a file. Ctrl-C stops it: calls in flight are
/// answered, every line is written, and a summary is printed.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otlp serve                                # gRPC on 127.0.0.1:4317, HTTP on 127.0.0.1:4318, lines on stdout
  otlp serve --out telemetry.jsonl          # append the lines to a file
  otlp serve --grpc 0.0.0.0:4317 --http 0.0.0.0:4318 --auth-token s3cret
  otlp serve --tls-cert server.pem --tls-key server.key --client-ca ca.pem

Then point an OpenTelemetry SDK at it, e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, or send test data with `otlp send`.")]
pub(crate) struct Args {
    #[command(flatten)]
    listen: ListenArgs,
    /// Append the lines to FILE instead of writing them to standard output.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<(), Error> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let writer: Box<dyn tokio::io::AsyncWrite + Send + Unpin> = match &args.out {
            Some(path) => Box::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|e| format!("cannot open {} for writing: {e}", path.display()))?,
            ),
            None => Box::new(tokio::io::stdout()),
        };
        let sink = JsonLinesSink::builder()
            .max_request_size(args.listen.max_request_size())
            .build(writer)?;
        let stopped = listen::stop_signal();
        let servers = listen::start(&args.listen, sink.clone(), "serve").await?;
        stopped.await;
        eprintln!("otlp serve: stopping; answering the calls in flight");
        servers.shutdown().await;
        let summary = sink.finish().await?;
        eprintln!("otlp serve: {}", describe(&summary));
        Ok(())
    })
}

/// One line saying what was received and written.
fn describe(summary: &SinkSummary) -> String {
    let mut parts: Vec<String> = Signal::ALL
        .into_iter()
        .filter_map(|signal| {
            let s = summary.per_signal.get(&signal)?;
            let plural = if s.requests == 1 { "" } else { "s" };
            Some(format!(
                "{} {} in {} request{plural}",
                s.records,
                signal.record_name(),
                s.requests
            ))
        })
        .collect();
    if parts.is_empty() {
        parts.push("nothing".to_owned());
    }
    let mut line = format!(
        "received {}; wrote {} bytes",
        parts.join(", "),
        summary.bytes
    );
    if summary.empty_requests > 0 {
        line += &format!("; {} empty requests acknowledged", summary.empty_requests);
    }
    if summary.failed_requests > 0 {
        line += &format!(
            "; {} requests could not be written ({} write errors) and were answered with an error",
            summary.failed_requests, summary.write_errors
        );
    }
    line
}
