//! `otlp bench ws`: OTLP over our WebSocket transport, 512-span trace
//! requests encoded beforehand, beside our gRPC transport doing the same in
//! the same run (WebSocket is not in the OTLP specification, so there is no
//! baseline crate; the yardstick is gRPC).
//!
//! Rows, at each concurrency, each compared with the gRPC row of the same job:
//! - `ws.none.c<c>.traces`: to a sink that decodes, beside
//!   `grpc.encoded.none.c<c>.traces`;
//! - `ws.relay.none.c<c>.traces`: to a sink that takes the bytes as they
//!   came, beside `grpc.relay.none.c<c>.traces`.
//!
//! The gRPC rows (`otlp bench grpc`'s own row function) are measured here unless `otlp bench all` (or `grpc`)
//! already measured them in this run.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_transport::{Encoded, ExportService, Outcome, Signal};
use tower::ServiceExt;

use super::Bench;
use super::grpc::{self, Setup};
use super::transport::{self, CONCURRENCY, CountingSink, Measured, Request, check_received};
use crate::Error;

pub(super) fn run(bench: &mut Bench) -> Result<(), Error> {
    let requests = transport::requests(bench)?;
    let runtime = transport::runtime()?;
    for concurrency in CONCURRENCY {
        let from = bench.figures.len();
        for relay in [false, true] {
            let infix = if relay { "relay." } else { "" };
            let grpc = format!(
                "grpc.{}none.c{concurrency}.traces",
                if relay { "relay." } else { "encoded." }
            );
            if !bench.figures.iter().any(|f| f.name == grpc) {
                bench.progress.set_message(grpc.clone());
                let row = grpc::Row {
                    concurrency,
                    budget: bench.budget,
                    setup: if relay { Setup::Relay } else { Setup::Encoded },
                    compression: Compression::None,
                };
                let measured = runtime.block_on(grpc::our_row(&requests, row, &grpc))?;
                bench.push_transport(grpc.clone(), grpc.clone(), measured);
            }
            let name = format!("ws.{infix}none.c{concurrency}.traces");
            bench.progress.set_message(name.clone());
            let measured =
                runtime.block_on(ws_row(&requests, concurrency, bench.budget, relay, &name))?;
            bench.push_transport(name, grpc, measured);
        }
        bench.emit_since(from);
    }
    Ok(())
}

/// One row: our WebSocket server with a counting sink, our client sending
/// to it, the server shut down (so that every accepted call is counted),
/// then checked.
async fn ws_row(
    requests: &Arc<Vec<Request>>,
    concurrency: usize,
    budget: Duration,
    relay: bool,
    name: &str,
) -> Result<Measured, Error> {
    let sink = CountingSink::new(relay);
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{name}: {what}: {e}");
    let server = otlp_ws::Server::builder()
        .bind("127.0.0.1:0")
        .await
        .map_err(|e| failed("binding our WebSocket server", &e))?
        .spawn(sink.clone());
    let client = otlp_ws::Client::builder()
        .endpoint(format!("ws://{}", server.local_addr()))
        .build()
        .map_err(|e| failed("building our WebSocket client", &e))?;
    let measured = row(client.clone(), requests, concurrency, budget).await;
    client.close().await;
    server
        .shutdown()
        .await
        .map_err(|e| failed("shutting our WebSocket server down", &e))?;
    let measured = measured.map_err(|e| format!("{name}: {e}"))?;
    check_received(name, measured.sent, sink.received())?;
    Ok(measured)
}

/// Exports the requests, encoded beforehand, through `client`.
fn row<C: ExportService>(
    client: C,
    requests: &Arc<Vec<Request>>,
    concurrency: usize,
    budget: Duration,
) -> impl Future<Output = Result<Measured, Error>> + use<C> {
    let requests = requests.clone();
    transport::measure(concurrency, budget, move |i| {
        let client = client.clone();
        let requests = requests.clone();
        async move {
            let request = &requests[i % requests.len()];
            let encoded = Encoded::new(
                Signal::Traces,
                Codec::Protobuf,
                Compression::None,
                request.protobuf.clone(),
            );
            match client.oneshot(encoded).await {
                Ok(Outcome::Success) => Ok(request.sent()),
                Ok(other) => Err(format!("the server answered {other:?}").into()),
                Err(e) => Err(Error::from(format!("the export failed: {e}"))),
            }
        }
    })
}
