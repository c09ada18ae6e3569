//! Endpoints: parsed once, so that transports can trust scheme, host and port.

use std::fmt;
use std::str::FromStr;

use http::uri::{Authority, PathAndQuery};
use otlp_transport::Signal;

use super::Protocol;

/// The scheme of an endpoint URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`: no TLS.
    Http,
    /// `https`: TLS.
    Https,
    /// `ws`: WebSocket without TLS (protocol `ws` only).
    Ws,
    /// `wss`: WebSocket over TLS (protocol `ws` only).
    Wss,
}

impl Scheme {
    /// The scheme as written in URLs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Whether the scheme means TLS.
    pub const fn is_secure(self) -> bool {
        matches!(self, Self::Https | Self::Wss)
    }

    /// The port a URL of this scheme means when it names none.
    pub const fn default_port(self) -> u16 {
        if self.is_secure() { 443 } else { 80 }
    }
}

/// Where an exporter sends: an optional scheme, a host and port, and a path
/// (with any query).
///
/// OTLP/HTTP sends to the whole URL; OTLP/gRPC and WebSocket connect to
/// [`authority`](Self::authority). Only gRPC accepts an endpoint without a
/// scheme (`collector:4317`), as gRPC targets do; then
/// [`ExporterConfig::insecure`](super::ExporterConfig::insecure) decides TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Option<Scheme>,
    authority: Authority,
    port: u16,
    path: String,
}

impl Endpoint {
    /// The scheme, if one was given.
    pub fn scheme(&self) -> Option<Scheme> {
        self.scheme
    }

    /// The host: a name, an IPv4 address, or an IPv6 address in brackets.
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// The port: the one written, or else the scheme's (80 or 443).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, what gRPC and WebSocket clients connect to.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host(), self.port())
    }

    /// The path with its query, if any (`/v1/traces`); empty for a gRPC
    /// target written without one.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The specification's default endpoint of `signal` over `protocol`.
    pub(crate) fn default_for(protocol: Protocol, signal: Signal) -> Self {
        let url = match protocol {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::Ws => "ws://localhost:4318",
            _ => "http://localhost:4318",
        };
        Self::resolve(url, protocol, signal, true).expect("the default endpoints are valid")
    }

    /// Parses `url` as the endpoint of `signal` over `protocol`. A `base`
    /// URL gets `v1/<signal>` appended to its path for HTTP protocols (after
    /// a `/` if it lacks one); any other URL is used as given, an HTTP URL
    /// without a path getting the root path `/`. The error says what is
    /// wrong with the URL.
    pub(crate) fn resolve(
        url: &str,
        protocol: Protocol,
        signal: Signal,
        base: bool,
    ) -> Result<Self, String> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(parse_scheme(scheme, protocol)?), rest),
            None if protocol == Protocol::Grpc => (None, url),
            None => {
                return Err(format!(
                    "it has no scheme: write {}://{url} (or {}://{url} for TLS)",
                    if protocol == Protocol::Ws {
                        "ws"
                    } else {
                        "http"
                    },
                    if protocol == Protocol::Ws {
                        "wss"
                    } else {
                        "https"
                    },
                ));
            }
        };
        // The specification lets exporters ignore everything past the path;
        // a fragment never reaches a server.
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() {
            return Err("it has no host".into());
        }
        let authority = Authority::from_str(authority)
            .map_err(|e| format!("its host and port {authority:?} are not valid: {e}"))?;
        if authority.as_str().contains('@') {
            return Err(
                "it has user information before the host; send credentials as headers instead"
                    .into(),
            );
        }
        if authority.host().is_empty() {
            return Err("it has no host".into());
        }
        // `Authority` parses an out-of-range port as no port at all.
        let written_port = authority
            .as_str()
            .strip_prefix(authority.host())
            .and_then(|rest| rest.strip_prefix(':'));
        let written_port = match written_port {
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => return Err(format!("its port {text:?} is not a number from 1 to 65535")),
            },
            None => None,
        };
        let port = match (written_port, scheme) {
            (Some(port), _) => port,
            (None, Some(scheme)) => scheme.default_port(),
            (None, None) => {
                return Err(format!(
                    "it has neither a scheme nor a port: write {}:{} or http(s)://{}",
                    authority.host(),
                    protocol.default_port(),
                    authority.host()
                ));
            }
        };
        let path = if protocol.is_http() {
            http_path(path, signal, base)
        } else {
            path.to_string()
        };
        if !path.is_empty() {
            PathAndQuery::from_str(&path)
                .map_err(|e| format!("its path {path:?} is not valid: {e}"))?;
        }
        Ok(Self {
            scheme,
            authority,
            port,
            path,
        })
    }
}

/// The path of an HTTP endpoint: a base gets the signal's path appended
/// relative to it (`/otlp` and `/otlp/` both become `/otlp/v1/traces`, the
/// query kept after it); a per-signal URL keeps its path, `/` when empty.
fn http_path(path: &str, signal: Signal, base: bool) -> String {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let mut out = String::with_capacity(path.len() + 32);
    out.push_str(path);
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    if base {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(signal.http_path().trim_start_matches('/'));
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn parse_scheme(scheme: &str, protocol: Protocol) -> Result<Scheme, String> {
    let found = [Scheme::Http, Scheme::Https, Scheme::Ws, Scheme::Wss]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(scheme));
    match found {
        Some(Scheme::Ws | Scheme::Wss) if protocol != Protocol::Ws => Err(format!(
            "its scheme {scheme:?} is for protocol ws, not {protocol}: use http or https"
        )),
        Some(found) => Ok(found),
        None if protocol == Protocol::Ws => Err(format!(
            "its scheme {scheme:?} is not one of ws, wss, http or https"
        )),
        None => Err(format!("its scheme {scheme:?} is not http or https")),
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = self.scheme {
            write!(f, "{}://", scheme.as_str())?;
        }
        write!(f, "{}{}", self.authority, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str, base: bool) -> Result<String, String> {
        Endpoint::resolve(url, Protocol::HttpProtobuf, Signal::Traces, base).map(|e| e.to_string())
    }

    #[test]
    fn base_endpoint_gets_the_signal_path_appended_after_a_slash() {
        assert_eq!(
            http("http://collector:4318", true).unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            http("http://collector:4318/", true).unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            http("https://example.com/otlp", true).unwrap(),
            "https://example.com/otlp/v1/traces"
        );
        assert_eq!(
            http("https://example.com/otlp/", true).unwrap(),
            "https://example.com/otlp/v1/traces"
        );
        assert_eq!(
            http("https://example.com/otlp?tenant=a", true).unwrap(),
            "https://example.com/otlp/v1/traces?tenant=a"
        );
        let profiles =
            Endpoint::resolve("http://c:4318/", Protocol::HttpJson, Signal::Profiles, true)
                .unwrap();
        assert_eq!(profiles.path(), "/v1development/profiles");
    }

    #[test]
    fn signal_endpoint_is_used_as_is_with_root_path_when_empty() {
        assert_eq!(
            http("http://collector:4318/custom/traces", false).unwrap(),
            "http://collector:4318/custom/traces"
        );
        assert_eq!(
            http("http://collector:4318", false).unwrap(),
            "http://collector:4318/"
        );
        assert_eq!(
            http("http://collector:4318/v1/traces/", false).unwrap(),
            "http://collector:4318/v1/traces/"
        );
    }

    #[test]
    fn grpc_uses_host_and_port() {
        let https =
            Endpoint::resolve("https://example.com", Protocol::Grpc, Signal::Logs, true).unwrap();
        assert_eq!(https.authority(), "example.com:443");
        assert_eq!(https.scheme(), Some(Scheme::Https));
        let bare = Endpoint::resolve("collector:4317", Protocol::Grpc, Signal::Logs, true).unwrap();
        assert_eq!(bare.scheme(), None);
        assert_eq!(bare.authority(), "collector:4317");
        assert_eq!(bare.to_string(), "collector:4317");
        let v6 =
            Endpoint::resolve("http://[::1]:4317", Protocol::Grpc, Signal::Logs, false).unwrap();
        assert_eq!(v6.authority(), "[::1]:4317");
    }

    #[test]
    fn bad_endpoints_say_what_is_wrong() {
        let cases = [
            ("collector:4318/v1/traces", "no scheme"),
            ("ftp://collector", "not http or https"),
            ("ws://collector", "for protocol ws"),
            ("http://", "no host"),
            ("http:///v1/traces", "no host"),
            ("http://collector:99999", "from 1 to 65535"),
            ("http://collector:0", "from 1 to 65535"),
            ("http://collector:/x", "from 1 to 65535"),
            ("http://user:pw@collector", "user information"),
            ("http://collector/a b", "not valid"),
        ];
        for (url, says) in cases {
            let error = http(url, false).unwrap_err();
            assert!(error.contains(says), "{url}: {error}");
        }
        let error = Endpoint::resolve("collector", Protocol::Grpc, Signal::Logs, true).unwrap_err();
        assert!(error.contains("collector:4317"), "{error}");
    }

    #[test]
    fn scheme_is_case_insensitive_and_fragment_ignored() {
        assert_eq!(
            http("HTTPS://collector/x#frag", false).unwrap(),
            "https://collector/x"
        );
    }
}
