//! The receiver options shared by `otlp serve` and `otlp relay`, and the
//! listeners they start.

use std::path::PathBuf;

use otlp_transport::Sink;

use crate::Error;

/// Where and how to receive.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ListenArgs {
    /// Address of the OTLP/gRPC listener.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317")]
    grpc: String,
    /// Address of the OTLP/HTTP listener (HTTP/1.1 and h2c).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    http: String,
    /// Do not listen for OTLP/gRPC.
    #[arg(long, conflicts_with = "no_http")]
    no_grpc: bool,
    /// Do not listen for OTLP/HTTP (nor OTLP/WebSocket, served on its port).
    #[arg(long)]
    no_http: bool,
    /// Path of the OTLP/WebSocket endpoint on the OTLP/HTTP listener.
    #[arg(long, value_name = "PATH", default_value = otlp_ws::DEFAULT_PATH)]
    ws: String,
    /// Do not serve OTLP/WebSocket on the OTLP/HTTP listener.
    #[arg(long)]
    no_ws: bool,
    /// Accept only requests carrying `Authorization: Bearer TOKEN`; others
    /// are answered UNAUTHENTICATED (gRPC) or 401 (HTTP).
    #[arg(
        long,
        env = "OTLP_AUTH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    auth_token: Option<String>,
    /// Largest request accepted, in bytes after decompression (at most 64 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    max_request_size: usize,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
}

impl ListenArgs {
    pub(crate) fn max_request_size(&self) -> usize {
        self.max_request_size
    }
}

/// The running listeners.
pub(crate) struct Servers(otlp::Receiver);

impl Servers {
    /// Stops accepting, answers every call in flight, and returns.
    pub(crate) async fn shutdown(self) {
        for problem in self.0.shutdown().await {
            eprintln!("otlp: {problem}");
        }
    }
}

fn read(path: &Option<PathBuf>) -> Result<Option<Vec<u8>>, Error> {
    path.as_ref()
        .map(|path| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
        })
        .transpose()
}

/// Binds the listeners, starts them on `sink`, and says where they listen on
/// standard error (`otlp <command>: OTLP/gRPC on 127.0.0.1:4317`).
pub(crate) async fn start<S: Sink + Clone>(
    args: &ListenArgs,
    sink: S,
    command: &str,
) -> Result<Servers, Error> {
    let mut builder = otlp::Receiver::builder().max_request_size(args.max_request_size);
    if !args.no_grpc {
        builder = builder.grpc(args.grpc.clone());
    }
    if !args.no_http {
        builder = builder.http(args.http.clone());
        if !args.no_ws {
            builder = builder.websocket(args.ws.clone());
        }
    }
    if let Some(token) = &args.auth_token {
        builder = builder.bearer_token(token.clone());
    }
    if let (Some(cert), Some(key)) = (read(&args.tls_cert)?, read(&args.tls_key)?) {
        builder = builder.tls(cert, key);
    }
    if let Some(ca) = read(&args.client_ca)? {
        builder = builder.client_ca(ca);
    }
    let receiver = builder.start(sink).await.map_err(|e| match e {
        otlp::receiver::ReceiverError::Bind { transport, .. } => format!(
            "{e}; pick another address with --{}",
            transport.to_ascii_lowercase()
        ),
        other => other.to_string(),
    })?;
    let scheme = if args.tls_cert.is_some() {
        "TLS"
    } else {
        "plaintext"
    };
    if let Some(addr) = receiver.grpc_addr() {
        eprintln!("otlp {command}: OTLP/gRPC on {addr} ({scheme})");
    }
    if let Some(addr) = receiver.http_addr() {
        eprintln!("otlp {command}: OTLP/HTTP on {addr} ({scheme})");
        if let Some(path) = receiver.websocket_path() {
            eprintln!("otlp {command}: OTLP/WebSocket on {addr}{path} ({scheme})");
        }
    }
    Ok(Servers(receiver))
}

/// Ctrl-C (or SIGTERM, as a service manager sends), listened for from the
/// moment this is called: call it before announcing the listening addresses,
/// so that a signal sent right after them is neither missed nor left to its
/// default action (ending the process without the drain).
pub(crate) fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (interrupt, term) {
                (Ok(mut interrupt), Ok(mut term)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
