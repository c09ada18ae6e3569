//! The `otlp` command: the main job of otlp-rs on the command line.
//!
//! ```text
//! otlp bench codec --data ../shared/bench/data   # our figures beside the baseline crates
//! ```
//!
//! Run `otlp --help`, or `otlp <command> --help`, for every option with examples.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(feature = "bench")]
mod bench;
mod connect;
mod input;
mod latency;
mod listen;
mod relay;
mod send;
mod serve;

/// OpenTelemetry Protocol (OTLP) on the command line: receive, send, relay and
/// benchmark traces, metrics and logs.
#[derive(Debug, Parser)]
#[command(name = "otlp", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive OTLP on gRPC and HTTP and write every request as an OTLP/JSON line.
    Serve(serve::Args),
    /// Export generated or replayed telemetry to an OTLP receiver.
    Send(send::Args),
    /// Receive OTLP and forward it to another receiver, with a queue and retries.
    Relay(relay::Args),
    /// Measure our codecs, compressions and transports beside the baseline
    /// crates, in the same run.
    #[cfg(feature = "bench")]
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Send(args) => send::run(args),
        Command::Relay(args) => relay::run(args),
        #[cfg(feature = "bench")]
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&*error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// What a command fails with: printed with its causes, exit status 1.
type Error = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
