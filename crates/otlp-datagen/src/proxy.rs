//! A forward proxy for networked tests, on 127.0.0.1: it answers `CONNECT`
//! with a tunnel and pipes requests in absolute form (`POST http://…`) to
//! their host, and records what each connection asked for, so a test can
//! check that a client went through it and with which credentials.
//!
//! It pipes bytes without reading them past the first request's head: a
//! kept-alive connection stays with the host of its first request, which is
//! all a test with one receiver needs. [`TestProxy::resolve`] names a
//! receiver on 127.0.0.1 with a host name only the proxy knows (clients
//! never proxy loopback addresses, and behind a proxy the target's name is
//! often resolvable only there).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let proxy = otlp_datagen::proxy::TestProxy::start().await?;
//! assert!(proxy.url().starts_with("http://127.0.0.1:"));
//! assert!(proxy.seen().is_empty());
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What one connection to the proxy asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `CONNECT`, or the method of a request in absolute form.
    pub method: String,
    /// The `CONNECT` target (`host:port`) or the absolute URI.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
}

/// How the proxy answers.
#[derive(Debug, Clone, Default)]
enum Policy {
    #[default]
    Open,
    /// 407 unless `Proxy-Authorization` is exactly this.
    Credentials(String),
    /// Every request refused with this status.
    Refuse(u16),
}

/// A running test proxy; stops when dropped.
pub struct TestProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    names: Names,
    task: JoinHandle<()>,
}

/// Targets (`host:port`) the proxy connects to elsewhere.
type Names = Arc<Mutex<HashMap<String, SocketAddr>>>;

impl TestProxy {
    /// A proxy that lets everything through.
    pub async fn start() -> io::Result<Self> {
        Self::spawn(Policy::Open).await
    }

    /// A proxy that answers 407 unless the client sends
    /// `Proxy-Authorization: Basic base64(user:password)`.
    pub async fn with_credentials(user: &str, password: &str) -> io::Result<Self> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self::spawn(Policy::Credentials(format!("Basic {token}"))).await
    }

    /// A proxy that refuses every request with `status`.
    pub async fn refusing(status: u16) -> io::Result<Self> {
        Self::spawn(Policy::Refuse(status)).await
    }

    async fn spawn(policy: Policy) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let names = Names::default();
        let (log, known) = (seen.clone(), names.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let policy = policy.clone();
                let (log, known) = (log.clone(), known.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &policy, &log, &known).await;
                });
            }
        });
        Ok(Self {
            addr,
            seen,
            names,
            task,
        })
    }

    /// Connects requests for `host` at `addr`'s port (as a client names
    /// it) to `addr`, and returns that `host:port` for the client's endpoint.
    pub fn resolve(&self, host: &str, addr: SocketAddr) -> String {
        let host_port = format!("{}:{}", host.to_ascii_lowercase(), addr.port());
        if let Ok(mut names) = self.names.lock() {
            names.insert(host_port.clone(), addr);
        }
        host_port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What each connection asked for, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut client: TcpStream,
    policy: &Policy,
    log: &Mutex<Vec<Seen>>,
    names: &Names,
) -> io::Result<()> {
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request head"))??;
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    if let Ok(mut seen) = log.lock() {
        seen.push(Seen {
            method: method.clone(),
            target: target.clone(),
            authorization: authorization.clone(),
        });
    }
    let refusal = match policy {
        Policy::Open => None,
        Policy::Credentials(expected) if authorization.as_deref() == Some(expected) => None,
        Policy::Credentials(_) => Some(407),
        Policy::Refuse(status) => Some(*status),
    };
    if let Some(status) = refusal {
        let answer = format!(
            "HTTP/1.1 {status} Refused by the test proxy\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return client.write_all(answer.as_bytes()).await;
    }
    let connect = |host_port: &str| {
        let known = names
            .lock()
            .ok()
            .and_then(|names| names.get(&host_port.to_ascii_lowercase()).copied());
        let host_port = host_port.to_owned();
        async move {
            match known {
                Some(addr) => TcpStream::connect(addr).await,
                None => TcpStream::connect(host_port).await,
            }
        }
    };
    let mut upstream = if method == "CONNECT" {
        let upstream = connect(&target).await;
        let answer: &[u8] = if upstream.is_ok() {
            b"HTTP/1.1 200 Connection established\r\n\r\n"
        } else {
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
        };
        client.write_all(answer).await?;
        upstream?
    } else {
        // Absolute form: the host is in the URI; the head goes on as it came
        // (servers accept absolute-form targets).
        let host = target
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an absolute URI"))?;
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        let mut upstream = connect(&host).await?;
        upstream.write_all(&head).await?;
        upstream
    };
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

async fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await?);
        if head.len() > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
    }
    Ok(head)
}
