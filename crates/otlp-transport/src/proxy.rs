//! Forward proxies for the transport clients, as the OpenTelemetry SDKs and
//! the Collector's exporters honour them: `HTTPS_PROXY` for `https://`
//! (and `wss://`) endpoints, `HTTP_PROXY` for plain ones, `NO_PROXY` for the
//! hosts to reach directly (lowercase names too; uppercase wins).
//!
//! A proxy is an `http://[user:password@]host[:port]` URL (no scheme means
//! `http://`; the port defaults to 80). A client reaches a target through it
//! with an HTTP `CONNECT` tunnel ([`Proxy::tunnel`]); an HTTP/1.1 client may
//! instead send plain-HTTP requests to the proxy in absolute form, as most
//! proxies only allow `CONNECT` to port 443. `localhost` and loopback
//! addresses are never proxied.
//!
//! `NO_PROXY` is a comma-separated list: `*` (nothing is proxied), host names
//! (`example.com` matches it and its subdomains, `.example.com` and
//! `*.example.com` only its subdomains), IP addresses, CIDR blocks
//! (`10.0.0.0/8`), each optionally with `:port`.
//!
//! ```
//! use otlp_transport::proxy::Proxies;
//!
//! let vars = |name: &str| match name {
//!     "HTTPS_PROXY" => Some("http://user:secret@proxy.internal:3128".to_owned()),
//!     "NO_PROXY" => Some(".svc.cluster.local,10.0.0.0/8".to_owned()),
//!     _ => None,
//! };
//! let proxies = Proxies::from_vars(vars)?;
//! let proxy = proxies.for_target(true, "collector.example.com", 4317).unwrap();
//! assert_eq!(proxy.authority(), "proxy.internal:3128");
//! assert!(proxies.for_target(true, "otel.svc.cluster.local", 4317).is_none());
//! assert!(proxies.for_target(true, "10.1.2.3", 4317).is_none());
//! // No HTTP_PROXY: plain endpoints are reached directly.
//! assert!(proxies.for_target(false, "collector.example.com", 4318).is_none());
//! # Ok::<(), otlp_transport::proxy::ProxyError>(())
//! ```

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest `CONNECT` answer read (status line and headers).
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// A proxy setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The URL's scheme is not `http`.
    #[error(
        "{source_name}: the proxy {url} uses {scheme}://, but only http:// proxies are supported; \
         use an HTTP proxy or list the endpoint's host in NO_PROXY"
    )]
    UnsupportedScheme {
        /// Where the URL came from (an environment variable or `proxy URL`).
        source_name: String,
        /// The URL, credentials hidden.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL has no host, or a port that is not a number.
    #[error("{source_name}: {url} is not a proxy URL ({reason}); write http://host:port")]
    Invalid {
        /// Where the URL came from.
        source_name: String,
        /// The URL, credentials hidden.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Reaching a target through a proxy failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// The proxy could not be reached, or the connection broke.
    #[error("cannot reach the proxy {proxy}: {source}")]
    Io {
        /// The proxy, `host:port`.
        proxy: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The proxy wants credentials (407), or refused the ones given.
    #[error(
        "the proxy {proxy} asks for credentials (407 Proxy Authentication Required); \
         put them in the proxy URL: http://user:password@{proxy}"
    )]
    AuthenticationRequired {
        /// The proxy, `host:port`.
        proxy: String,
    },
    /// The proxy answered `CONNECT` with another status than 2xx.
    #[error("the proxy {proxy} refused to connect to {target}: HTTP {status} {reason}")]
    Refused {
        /// The proxy, `host:port`.
        proxy: String,
        /// The target, `host:port`.
        target: String,
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The answer was not HTTP, or too long.
    #[error("the proxy {proxy} sent a malformed answer to CONNECT: {what}")]
    Malformed {
        /// The proxy, `host:port`.
        proxy: String,
        /// What was wrong.
        what: &'static str,
    },
}

/// One forward proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    host: String,
    port: u16,
    /// `Basic <base64>`, from the URL's user information.
    authorization: Option<Arc<str>>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("authority", &self.authority())
            .field("credentials", &self.authorization.is_some())
            .finish()
    }
}

impl Proxy {
    /// Parses `http://[user:password@]host[:port]` (no scheme means
    /// `http://`; percent-encoded user and password are decoded).
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        Self::parse_from(url, "proxy URL")
    }

    fn parse_from(url: &str, source_name: &str) -> Result<Self, ProxyError> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_owned(), url),
        };
        let redacted = || redact(url);
        let invalid = |reason| ProxyError::Invalid {
            source_name: source_name.to_owned(),
            url: redacted(),
            reason,
        };
        if scheme != "http" {
            return Err(ProxyError::UnsupportedScheme {
                source_name: source_name.to_owned(),
                url: redacted(),
                scheme,
            });
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| invalid("bad port"))?;
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let authorization = userinfo.map(|userinfo| {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let credentials = format!("{}:{}", percent_decode(user), percent_decode(password));
            Arc::from(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ))
        });
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port: port.unwrap_or(80),
            authorization,
        })
    }

    /// The proxy's `host:port` (an IPv6 address in brackets).
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The `Proxy-Authorization` value (`Basic …`) when the URL carried
    /// credentials.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// Opens a TCP connection to the proxy itself (for requests in absolute
    /// form).
    pub async fn connect(&self) -> Result<TcpStream, TunnelError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| TunnelError::Io {
                proxy: self.authority(),
                source,
            })?;
        // Small requests must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// Opens a tunnel to `host:port` through the proxy (`CONNECT`): the
    /// stream returned talks to the target, ready for TLS or plain HTTP.
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, TunnelError> {
        let mut stream = self.connect().await?;
        let target = authority(host, port);
        let io_error = |source| TunnelError::Io {
            proxy: self.authority(),
            source,
        };
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(authorization) = &self.authorization {
            request.push_str("Proxy-Authorization: ");
            request.push_str(authorization);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(io_error)?;
        let head = read_head(&mut stream).await.map_err(|error| match error {
            HeadError::Io(source) => io_error(source),
            HeadError::Malformed(what) => TunnelError::Malformed {
                proxy: self.authority(),
                what,
            },
        })?;
        let (status, reason) = status_line(&head).ok_or(TunnelError::Malformed {
            proxy: self.authority(),
            what: "no HTTP status line",
        })?;
        match status {
            200..=299 => Ok(stream),
            407 => Err(TunnelError::AuthenticationRequired {
                proxy: self.authority(),
            }),
            _ => Err(TunnelError::Refused {
                proxy: self.authority(),
                target,
                status,
                reason,
            }),
        }
    }
}

enum HeadError {
    Io(io::Error),
    Malformed(&'static str),
}

/// Reads the answer's head up to its blank line, byte by byte: whatever
/// follows belongs to the tunnel (the target may speak first), so nothing
/// past the head may be consumed. An answer is a few dozen bytes, once per
/// connection.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(128);
    loop {
        let byte = match stream.read_u8().await {
            Ok(byte) => byte,
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(HeadError::Malformed(
                    "the connection closed before the answer ended",
                ));
            }
            Err(error) => return Err(HeadError::Io(error)),
        };
        head.push(byte);
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_RESPONSE_HEAD {
            return Err(HeadError::Malformed("the answer's head is over 16 KiB"));
        }
    }
}

/// The status code and reason of `HTTP/1.x NNN reason`.
fn status_line(head: &[u8]) -> Option<(u16, String)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let _minor = parts.next()?;
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    let status = code.parse().ok()?;
    Some((status, parts.next().unwrap_or_default().to_owned()))
}

/// Which proxy, if any, each endpoint is reached through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: NoProxy,
}

impl Proxies {
    /// Every endpoint reached directly.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every endpoint, plain or secure, through `proxy` (but loopback ones).
    pub fn all(proxy: Proxy) -> Self {
        Self {
            http: Some(proxy.clone()),
            https: Some(proxy),
            no_proxy: NoProxy::default(),
        }
    }

    /// The process environment's `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`
    /// (or their lowercase forms).
    pub fn from_env() -> Result<Self, ProxyError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The same variables, looked up with `var` (for tests and for
    /// configurations that are not the process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ProxyError> {
        let lookup = |upper: &str| -> Option<(String, String)> {
            let lower = upper.to_ascii_lowercase();
            [upper, lower.as_str()].into_iter().find_map(|name| {
                let value = var(name)?;
                (!value.trim().is_empty()).then(|| (name.to_owned(), value))
            })
        };
        let proxy = |upper: &str| {
            lookup(upper)
                .map(|(name, value)| Proxy::parse_from(&value, &name))
                .transpose()
        };
        Ok(Self {
            http: proxy("HTTP_PROXY")?,
            https: proxy("HTTPS_PROXY")?,
            no_proxy: lookup("NO_PROXY")
                .map(|(_, value)| NoProxy::parse(&value))
                .unwrap_or_default(),
        })
    }

    /// Reaches the hosts of `list` (`NO_PROXY` syntax) directly, in addition
    /// to those already listed.
    pub fn no_proxy(mut self, list: &str) -> Self {
        self.no_proxy.0.extend(NoProxy::parse(list).0);
        self
    }

    /// Whether any endpoint is proxied.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// How to reach the endpoint of URL scheme `scheme` (`https` and `wss`
    /// are secure) at `host` and `port` (the scheme's by default): through
    /// which proxy, to which target; `None` to connect directly.
    pub fn route(&self, scheme: Option<&str>, host: &str, port: Option<u16>) -> Option<Via> {
        let secure = matches!(scheme, Some(s) if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("wss"));
        let port = port.unwrap_or(if secure { 443 } else { 80 });
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let proxy = self.for_target(secure, host, port)?;
        Some(Via {
            proxy: proxy.clone(),
            host: host.to_owned(),
            port,
        })
    }

    /// The proxy for an endpoint at `host:port`, `secure` for `https` or
    /// `wss`; `None` to connect directly.
    pub fn for_target(&self, secure: bool, host: &str, port: u16) -> Option<&Proxy> {
        let proxy = if secure { &self.https } else { &self.http }.as_ref()?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if is_loopback(&host) || self.no_proxy.matches(&host, port) {
            return None;
        }
        Some(proxy)
    }
}

/// An endpoint reached through a proxy: the proxy and the endpoint's host
/// and port, worked out once when a client is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    proxy: Proxy,
    host: String,
    port: u16,
}

impl Via {
    /// The proxy.
    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// Opens a `CONNECT` tunnel to the endpoint through the proxy.
    pub async fn tunnel(&self) -> Result<TcpStream, TunnelError> {
        self.proxy.tunnel(&self.host, self.port).await
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The hosts reached directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NoProxy(Vec<Rule>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Everything,
    /// A name: `subdomains_only` for `.example.com` / `*.example.com`.
    Domain {
        name: String,
        subdomains_only: bool,
        port: Option<u16>,
    },
    Ip(IpAddr, Option<u16>),
    Cidr(IpAddr, u8),
}

impl NoProxy {
    fn parse(list: &str) -> Self {
        let rules = list
            .split(',')
            .map(|entry| entry.trim().to_ascii_lowercase())
            .filter(|entry| !entry.is_empty())
            .filter_map(|entry| {
                if entry == "*" {
                    return Some(Rule::Everything);
                }
                if let Some((ip, bits)) = entry.split_once('/') {
                    let ip: IpAddr = ip.parse().ok()?;
                    let bits: u8 = bits.parse().ok()?;
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    return (bits <= max).then_some(Rule::Cidr(ip, bits));
                }
                if let Ok(ip) = entry.parse::<IpAddr>() {
                    return Some(Rule::Ip(ip, None));
                }
                let (host, port) = split_host_port(&entry)?;
                if let Ok(ip) = host.parse::<IpAddr>() {
                    return Some(Rule::Ip(ip, port));
                }
                let (name, subdomains_only) =
                    match host.strip_prefix("*.").or_else(|| host.strip_prefix('.')) {
                        Some(name) => (name, true),
                        None => (host, false),
                    };
                let name = name.trim_end_matches('.');
                (!name.is_empty()).then(|| Rule::Domain {
                    name: name.to_owned(),
                    subdomains_only,
                    port,
                })
            })
            .collect();
        Self(rules)
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        let ip = host.parse::<IpAddr>().ok();
        self.0.iter().any(|rule| match rule {
            Rule::Everything => true,
            Rule::Ip(rule_ip, rule_port) => {
                ip == Some(*rule_ip) && rule_port.is_none_or(|p| p == port)
            }
            Rule::Cidr(network, bits) => ip.is_some_and(|ip| in_network(ip, *network, *bits)),
            Rule::Domain {
                name,
                subdomains_only,
                port: rule_port,
            } => {
                let subdomain = host
                    .strip_suffix(name.as_str())
                    .is_some_and(|head| head.ends_with('.'));
                (subdomain || (!subdomains_only && host == name))
                    && rule_port.is_none_or(|p| p == port)
            }
        })
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(network)) => ip
            .to_ipv4_mapped()
            .is_some_and(|ip| in_network(IpAddr::V4(ip), IpAddr::V4(network), bits)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// `host[:port]` or `[v6][:port]`; `None` when the port is not a number.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    // A bare IPv6 address has several colons and no port.
    if text.matches(':').count() > 1 {
        return text.parse::<Ipv6Addr>().ok().map(|_| (text, None));
    }
    match text.split_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

fn authority(host: &str, port: u16) -> String {
    if host.parse::<Ipv6Addr>().is_ok() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}:***@{host}{}", &rest[end..])
        }
        None => rest.to_owned(),
    };
    if scheme.is_empty() {
        shown
    } else {
        format!("{scheme}://{shown}")
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                out.push((hex(hi).unwrap_or(0) * 16 + hex(lo).unwrap_or(0)) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
