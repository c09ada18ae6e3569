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
pub(crate) struct Servers {
    grpc: Option<otlp_grpc::ServerHandle>,
    http: Option<otlp_http::ServerHandle>,
    ws: Option<otlp_ws::Upgrade>,
}

impl Servers {
    /// Stops accepting, answers every call in flight, and returns.
    pub(crate) async fn shutdown(self) {
        if let Some(grpc) = self.grpc
            && let Err(error) = grpc.shutdown().await
        {
            eprintln!("otlp: the gRPC listener stopped with an error: {error}");
        }
        if let Some(http) = self.http
            && let Err(error) = http.shutdown().await
        {
            eprintln!("otlp: the HTTP listener stopped with an error: {error}");
        }
        // Upgraded connections outlive the HTTP server's drain: drain them too.
        if let Some(ws) = self.ws
            && !ws.shutdown().await
        {
            eprintln!("otlp: some OTLP/WebSocket connections did not close in time");
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
    let cert = read(&args.tls_cert)?;
    let key = read(&args.tls_key)?;
    let client_ca = read(&args.client_ca)?;
    let scheme = if cert.is_some() { "TLS" } else { "plaintext" };

    let grpc = if args.no_grpc {
        None
    } else {
        let mut builder = otlp_grpc::Server::builder().max_request_size(args.max_request_size);
        if let Some(token) = &args.auth_token {
            builder = builder.bearer_token(token.clone());
        }
        if let (Some(cert), Some(key)) = (&cert, &key) {
            builder = builder.tls(cert, key);
        }
        if let Some(ca) = &client_ca {
            builder = builder.client_ca(ca);
        }
        let server = builder
            .bind(args.grpc.as_str())
            .await
            .map_err(|e| format!("cannot listen for OTLP/gRPC on {}: {e} (another collector running? pick another address with --grpc)", args.grpc))?;
        eprintln!(
            "otlp {command}: OTLP/gRPC on {} ({scheme})",
            server.local_addr()
        );
        Some(server.spawn(sink.clone()))
    };
    let ws = (!args.no_http && !args.no_ws).then(|| {
        if !args.ws.starts_with('/') {
            return Err(Error::from(format!(
                "--ws {:?}: the path must start with '/'",
                args.ws
            )));
        }
        let mut settings = otlp_ws::Settings::default().max_message_size(args.max_request_size);
        if let Some(token) = &args.auth_token {
            settings = settings.bearer_token(token.clone());
        }
        Ok(otlp_ws::Upgrade::new(sink.clone(), settings))
    });
    let ws = ws.transpose()?;
    let http = if args.no_http {
        None
    } else {
        let mut builder = otlp_http::Server::builder().max_request_size(args.max_request_size);
        if let Some(ws) = &ws {
            builder = builder.route(args.ws.clone(), ws.clone());
        }
        if let Some(token) = &args.auth_token {
            builder = builder.bearer_token(token.clone());
        }
        if let (Some(cert), Some(key)) = (&cert, &key) {
            builder = builder.tls(otlp_http::tls::server_config(
                cert,
                key,
                client_ca.as_deref(),
            )?);
        }
        let server = builder
            .bind(args.http.as_str())
            .await
            .map_err(|e| format!("cannot listen for OTLP/HTTP on {}: {e} (another collector running? pick another address with --http)", args.http))?;
        eprintln!(
            "otlp {command}: OTLP/HTTP on {} ({scheme})",
            server.local_addr()
        );
        if ws.is_some() {
            eprintln!(
                "otlp {command}: OTLP/WebSocket on {}{} ({scheme})",
                server.local_addr(),
                args.ws
            );
        }
        Some(server.spawn(sink))
    };
    Ok(Servers { grpc, http, ws })
}

/// Waits for Ctrl-C (or SIGTERM, as a service manager sends).
pub(crate) async fn until_stopped() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
