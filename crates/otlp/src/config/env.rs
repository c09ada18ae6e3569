//! `OTEL_EXPORTER_OTLP_*`: the standard environment variables of OTLP
//! exporters, generic and per signal.

use std::path::PathBuf;
use std::time::Duration;

use http::HeaderMap;
use otlp_compression::Compression;
use otlp_transport::Signal;

use otlp_transport::proxy::Proxies;

use super::{
    ConfigError, DEFAULT_TIMEOUT, Endpoint, ExporterConfig, Protocol, TlsFiles,
    check_client_identity, check_compression, check_protocol, header,
};

/// The prefix of every variable read: `OTEL_EXPORTER_OTLP_`. A setting `X`
/// is read from `OTEL_EXPORTER_OTLP_<SIGNAL>_X` (e.g.
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), else from `OTEL_EXPORTER_OTLP_X`.
pub const ENV_PREFIX: &str = "OTEL_EXPORTER_OTLP_";

/// The exporter configuration of every signal, as the environment gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterConfigs {
    /// Spans.
    pub traces: ExporterConfig,
    /// Metric data points.
    pub metrics: ExporterConfig,
    /// Log records.
    pub logs: ExporterConfig,
    /// Profiles.
    pub profiles: ExporterConfig,
}

impl ExporterConfigs {
    /// The configuration of `signal`.
    pub fn get(&self, signal: Signal) -> &ExporterConfig {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
            Signal::Profiles => &self.profiles,
        }
    }

    /// Every signal's configuration, in [`Signal::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = &ExporterConfig> {
        Signal::ALL.into_iter().map(|signal| self.get(signal))
    }
}

impl ExporterConfig {
    /// Reads the configuration of every signal from the process environment.
    /// See [`from_lookup`](Self::from_lookup) for the rules.
    pub fn from_env() -> Result<ExporterConfigs, ConfigError> {
        resolve_all(&process_env)
    }

    /// Reads the configuration of `signal` from the process environment.
    /// See [`from_lookup`](Self::from_lookup) for the rules.
    pub fn from_env_for(signal: Signal) -> Result<ExporterConfig, ConfigError> {
        resolve(signal, &process_env)
    }

    /// Reads the configuration of every signal from `lookup`, which answers
    /// the value of an environment variable (`None` when unset): the process
    /// environment for [`from_env`](Self::from_env), a map in tests.
    ///
    /// The rules, from the specification's "OTLP Exporter Configuration":
    /// - Every setting `X` is read from `OTEL_EXPORTER_OTLP_<SIGNAL>_X` if
    ///   set, else from `OTEL_EXPORTER_OTLP_X`; `<SIGNAL>` is `TRACES`,
    ///   `METRICS`, `LOGS` or `PROFILES`. An empty value counts as unset.
    /// - `PROTOCOL`: `grpc`, `http/protobuf` (the default), `http/json`, and
    ///   this crate's `http/msgpack`, `http/cbor`, `ws`.
    /// - `ENDPOINT`: the per-signal variable is used as given (an HTTP URL
    ///   without a path gets `/`); the generic one is a base URL to which
    ///   HTTP protocols append `v1/<signal>` (after a `/` when missing).
    ///   gRPC connects to the URL's host and port; a gRPC endpoint without a
    ///   scheme (`host:port`) is accepted. Defaults: `http://localhost:4318`
    ///   (+ `/v1/<signal>`) for HTTP, `http://localhost:4317` for gRPC.
    /// - `HEADERS`: `key=value` pairs separated by commas; keys and values
    ///   trimmed, values percent-decoded (`%20` is a space; `+` stays `+`).
    /// - `COMPRESSION`: `none` or `gzip`, and this crate's `deflate`,
    ///   `zstd`, `snappy`, `x-snappy-framed`, `lz4` when compiled in.
    /// - `TIMEOUT`: whole milliseconds, 10000 by default.
    /// - `CERTIFICATE`, `CLIENT_KEY`, `CLIENT_CERTIFICATE`: paths to PEM files.
    /// - `INSECURE`: `true` or `false` (any case); it only matters for a gRPC
    ///   endpoint without a scheme.
    ///
    /// Stricter than the specification on one point: a malformed value (an
    /// unknown protocol, `INSECURE=yes`, a timeout of `10s`) is an error
    /// naming the variable, not silently replaced by the default, so that a
    /// typo cannot send telemetry somewhere unintended.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use otlp::config::ExporterConfig;
    ///
    /// let env = HashMap::from([
    ///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example.com"),
    ///     ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc%3D%3D"),
    ///     ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://logs.example.com/ingest"),
    /// ]);
    /// let configs = ExporterConfig::from_lookup(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(configs.traces.endpoint().to_string(), "https://collector.example.com/v1/traces");
    /// assert_eq!(configs.logs.endpoint().to_string(), "https://logs.example.com/ingest");
    /// assert_eq!(configs.metrics.headers()["api-key"], "abc==");
    /// # Ok::<(), otlp::config::ConfigError>(())
    /// ```
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ExporterConfigs, ConfigError> {
        resolve_all(&|name: &str| Ok(lookup(name)))
    }

    /// Reads the configuration of `signal` from `lookup`, by the rules of
    /// [`from_lookup`](Self::from_lookup).
    pub fn from_lookup_for(
        signal: Signal,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ExporterConfig, ConfigError> {
        resolve(signal, &|name: &str| Ok(lookup(name)))
    }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Result<Option<String>, ConfigError>;

fn process_env(name: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var_os(name) {
        None => Ok(None),
        Some(value) => value
            .into_string()
            .map(Some)
            .map_err(|_| ConfigError::NotUnicode {
                variable: name.into(),
            }),
    }
}

fn resolve_all(lookup: Lookup<'_>) -> Result<ExporterConfigs, ConfigError> {
    Ok(ExporterConfigs {
        traces: resolve(Signal::Traces, lookup)?,
        metrics: resolve(Signal::Metrics, lookup)?,
        logs: resolve(Signal::Logs, lookup)?,
        profiles: resolve(Signal::Profiles, lookup)?,
    })
}

/// A value found in the environment, with the variable it came from.
struct Setting {
    variable: String,
    value: String,
    per_signal: bool,
}

struct Env<'a> {
    signal: Signal,
    lookup: Lookup<'a>,
}

impl Env<'_> {
    fn signal_variable(&self, key: &str) -> String {
        format!(
            "{ENV_PREFIX}{}_{key}",
            self.signal.as_str().to_ascii_uppercase()
        )
    }

    /// The per-signal variable if set and not empty, else the generic one.
    fn setting(&self, key: &str) -> Result<Option<Setting>, ConfigError> {
        let candidates = [
            (self.signal_variable(key), true),
            (format!("{ENV_PREFIX}{key}"), false),
        ];
        for (variable, per_signal) in candidates {
            // The specification: an empty value means the same as unset.
            if let Some(value) = (self.lookup)(&variable)?.filter(|v| !v.trim().is_empty()) {
                return Ok(Some(Setting {
                    variable,
                    value,
                    per_signal,
                }));
            }
        }
        Ok(None)
    }

    fn either_name(&self, key: &str) -> String {
        format!("{} (or {ENV_PREFIX}{key})", self.signal_variable(key))
    }
}

fn resolve(signal: Signal, lookup: Lookup<'_>) -> Result<ExporterConfig, ConfigError> {
    let env = Env { signal, lookup };

    let protocol = match env.setting("PROTOCOL")? {
        None => Protocol::default(),
        Some(s) => {
            let protocol: Protocol = s.value.parse().map_err(|_| ConfigError::UnknownProtocol {
                variable: s.variable.clone(),
                value: s.value.clone(),
            })?;
            check_protocol(&s.variable, protocol)?;
            protocol
        }
    };

    let endpoint = match env.setting("ENDPOINT")? {
        None => Endpoint::default_for(protocol, signal),
        Some(s) => Endpoint::resolve(&s.value, protocol, signal, !s.per_signal)
            .map_err(|reason| ConfigError::invalid_endpoint(&s.variable, &s.value, reason))?,
    };

    let headers = match env.setting("HEADERS")? {
        None => HeaderMap::new(),
        Some(s) => parse_headers(&s.variable, &s.value)?,
    };

    let compression = match env.setting("COMPRESSION")? {
        None => Compression::None,
        Some(s) => {
            let compression: Compression =
                s.value
                    .parse()
                    .map_err(|_| ConfigError::UnknownCompression {
                        variable: s.variable.clone(),
                        value: s.value.clone(),
                    })?;
            check_compression(&s.variable, compression)?;
            compression
        }
    };

    let timeout = match env.setting("TIMEOUT")? {
        None => DEFAULT_TIMEOUT,
        Some(s) => match s.value.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => {
                return Err(ConfigError::InvalidTimeout {
                    variable: s.variable,
                    value: s.value,
                });
            }
        },
    };

    let path = |key: &str| -> Result<Option<PathBuf>, ConfigError> {
        Ok(env.setting(key)?.map(|s| PathBuf::from(s.value.trim())))
    };
    let tls = TlsFiles {
        certificate: path("CERTIFICATE")?,
        client_key: path("CLIENT_KEY")?,
        client_certificate: path("CLIENT_CERTIFICATE")?,
    };
    check_client_identity(
        &tls,
        &env.either_name("CLIENT_KEY"),
        &env.either_name("CLIENT_CERTIFICATE"),
    )?;

    let insecure = match env.setting("INSECURE")? {
        None => false,
        Some(s) => match s.value.trim() {
            v if v.eq_ignore_ascii_case("true") => true,
            v if v.eq_ignore_ascii_case("false") => false,
            _ => {
                return Err(ConfigError::InvalidBool {
                    variable: s.variable,
                    value: s.value,
                });
            }
        },
    };

    // Not OTLP variables, but what every OpenTelemetry SDK's exporter
    // honours; read here so that a lookup decides them too.
    let proxies = Proxies::from_vars(|name| (env.lookup)(name).ok().flatten())?;

    Ok(ExporterConfig {
        signal,
        protocol,
        endpoint,
        headers,
        compression,
        timeout,
        tls,
        insecure,
        proxies: Some(proxies),
    })
}

/// `key=value,key2=value2`: entries split on commas, keys and values
/// trimmed, values percent-decoded. Empty entries (`a=1,,b=2`, a trailing
/// comma) are skipped.
fn parse_headers(variable: &str, list: &str) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    for (index, entry) in list.split(',').enumerate() {
        let position = index + 1;
        if entry.trim().is_empty() {
            continue;
        }
        let (key, value) = entry.split_once('=').ok_or_else(|| {
            ConfigError::invalid_headers(
                variable,
                position,
                "has no '=' between key and value".into(),
            )
        })?;
        let value = percent_decode(value.trim())
            .map_err(|reason| ConfigError::invalid_headers(variable, position, reason))?;
        let (name, value) = header(key, &value)
            .map_err(|reason| ConfigError::invalid_headers(variable, position, reason))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Decodes `%XX` escapes; the result must be UTF-8. Messages never quote
/// the value: headers hold credentials.
fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or("has a '%' not followed by two hex digits in its value")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| "has a value that percent-decodes to bytes that are not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Scheme;

    fn configs(vars: &[(&str, &str)]) -> Result<ExporterConfigs, ConfigError> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ExporterConfig::from_lookup(|name| env.get(name).cloned())
    }

    fn traces(vars: &[(&str, &str)]) -> Result<ExporterConfig, ConfigError> {
        configs(vars).map(|c| c.traces)
    }

    #[test]
    fn defaults_http_protobuf_to_localhost_4318_with_the_signal_path() {
        let all = configs(&[]).unwrap();
        assert_eq!(all.iter().count(), 4);
        for (config, signal) in all.iter().zip(Signal::ALL) {
            assert_eq!(config.signal(), signal);
            assert_eq!(config.protocol(), Protocol::HttpProtobuf);
            assert_eq!(
                config.endpoint().to_string(),
                format!("http://localhost:4318{}", signal.http_path())
            );
            assert_eq!(config.timeout(), Duration::from_millis(10_000));
            assert_eq!(config.compression(), Compression::None);
            assert!(config.headers().is_empty());
            assert_eq!(config.tls(), &TlsFiles::default());
            assert!(!config.insecure());
        }
    }

    #[test]
    fn default_grpc_endpoint_is_localhost_4317() {
        let config = traces(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap();
        assert_eq!(config.protocol(), Protocol::Grpc);
        assert_eq!(config.endpoint().to_string(), "http://localhost:4317");
        assert_eq!(config.endpoint().authority(), "localhost:4317");
        assert!(!config.is_secure());
    }

    #[test]
    fn generic_endpoint_is_a_base_with_v1_signal_appended_for_http() {
        let all = configs(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]).unwrap();
        assert_eq!(
            all.traces.endpoint().to_string(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            all.metrics.endpoint().to_string(),
            "http://collector:4318/v1/metrics"
        );
        assert_eq!(
            all.logs.endpoint().to_string(),
            "http://collector:4318/v1/logs"
        );
        assert_eq!(
            all.profiles.endpoint().to_string(),
            "http://collector:4318/v1development/profiles"
        );
    }

    #[test]
    fn generic_endpoint_trailing_slash_is_not_doubled() {
        for base in [
            "http://collector:4318/mycollector",
            "http://collector:4318/mycollector/",
        ] {
            let config = traces(&[("OTEL_EXPORTER_OTLP_ENDPOINT", base)]).unwrap();
            assert_eq!(
                config.endpoint().to_string(),
                "http://collector:4318/mycollector/v1/traces",
                "{base}"
            );
        }
    }

    #[test]
    fn signal_endpoint_is_used_as_is() {
        let all = configs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:4318/custom/path",
            ),
        ])
        .unwrap();
        assert_eq!(
            all.traces.endpoint().to_string(),
            "http://traces:4318/custom/path"
        );
        assert_eq!(
            all.metrics.endpoint().to_string(),
            "http://generic:4318/v1/metrics"
        );
    }

    #[test]
    fn signal_endpoint_without_path_gets_the_root_path() {
        let config = traces(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318",
        )])
        .unwrap();
        assert_eq!(config.endpoint().to_string(), "http://collector:4318/");
        assert_eq!(config.endpoint().path(), "/");
    }

    #[test]
    fn grpc_generic_endpoint_gets_no_signal_path() {
        let config = traces(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector.example.com:443",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.endpoint().to_string(),
            "https://collector.example.com:443"
        );
        assert_eq!(config.endpoint().authority(), "collector.example.com:443");
        assert!(config.is_secure());
    }

    #[test]
    fn every_setting_per_signal_overrides_the_generic_one() {
        let all = configs(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "b=2"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2000"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic/ca.pem"),
            ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/logs/ca.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/generic/key.pem"),
            ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "/logs/key.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/generic/cert.pem"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
                "/logs/cert.pem",
            ),
            ("OTEL_EXPORTER_OTLP_INSECURE", "false"),
            ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "true"),
        ]);
        let Ok(all) = all else {
            // gzip not compiled in: the error must say so.
            let error = all.unwrap_err();
            assert!(
                matches!(error, ConfigError::UnsupportedCompression { .. }),
                "{error}"
            );
            assert!(!Compression::Gzip.is_supported());
            return;
        };
        let (logs, traces) = (&all.logs, &all.traces);
        assert_eq!(
            (logs.protocol(), traces.protocol()),
            (Protocol::HttpProtobuf, Protocol::Grpc)
        );
        assert_eq!(logs.headers().get("b").unwrap(), "2");
        assert!(
            logs.headers().get("a").is_none(),
            "the per-signal list replaces the generic one"
        );
        assert_eq!(traces.headers().get("a").unwrap(), "1");
        assert_eq!(
            (logs.compression(), traces.compression()),
            (Compression::Gzip, Compression::None)
        );
        assert_eq!(logs.timeout(), Duration::from_millis(2000));
        assert_eq!(traces.timeout(), Duration::from_millis(1000));
        assert_eq!(
            logs.tls().certificate().unwrap(),
            std::path::Path::new("/logs/ca.pem")
        );
        assert_eq!(
            logs.tls().client_key().unwrap(),
            std::path::Path::new("/logs/key.pem")
        );
        assert_eq!(
            logs.tls().client_certificate().unwrap(),
            std::path::Path::new("/logs/cert.pem")
        );
        assert_eq!(
            traces.tls().certificate().unwrap(),
            std::path::Path::new("/generic/ca.pem")
        );
        assert!(traces.tls().has_client_identity());
        assert!(logs.insecure() && !traces.insecure());
    }

    #[test]
    fn empty_value_is_as_if_unset() {
        let config = traces(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "  "),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", ""),
            ("OTEL_EXPORTER_OTLP_HEADERS", ""),
        ])
        .unwrap();
        assert_eq!(
            config.endpoint().to_string(),
            "http://generic:4318/v1/traces"
        );
        assert_eq!(config.protocol(), Protocol::HttpProtobuf);
        assert_eq!(config.timeout(), DEFAULT_TIMEOUT);
        assert!(config.headers().is_empty());
    }

    #[test]
    fn headers_are_percent_decoded_and_trimmed() {
        let config = traces(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            " api-key = abc%3D%3D , Tenant=a%20b%2Cc ,x=1+2,, empty= ",
        )])
        .unwrap();
        let headers = config.headers();
        assert_eq!(headers["api-key"], "abc==");
        assert_eq!(headers["tenant"], "a b,c", "keys are case-insensitive");
        assert_eq!(headers["x"], "1+2", "+ is not a space outside forms");
        assert_eq!(headers["empty"], "");
        assert_eq!(headers.len(), 4);
    }

    #[test]
    fn repeated_header_keys_send_every_value() {
        let config = traces(&[("OTEL_EXPORTER_OTLP_HEADERS", "k=1,k=2")]).unwrap();
        let values: Vec<_> = config.headers().get_all("k").iter().collect();
        assert_eq!(values, ["1", "2"]);
    }

    #[test]
    fn malformed_headers_name_the_entry_but_never_the_value() {
        let cases = [
            ("a=1,novalue", 2, "no '='"),
            ("=secret", 1, "empty key"),
            ("bad key=secret", 1, "not a valid header name"),
            ("k=secret%zz", 1, "two hex digits"),
            ("k=secret%FF", 1, "not UTF-8"),
            ("k=secret%0A", 1, "not printable ASCII"),
            ("k=caf%C3%A9secret", 1, "not printable ASCII"),
            ("content-type=secret", 1, "sets itself"),
        ];
        for (list, position, says) in cases {
            let error = traces(&[("OTEL_EXPORTER_OTLP_HEADERS", list)]).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, ConfigError::InvalidHeaders { position: p, .. } if p == position),
                "{list}: {message}"
            );
            assert!(message.contains(says), "{list}: {message}");
            assert!(message.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{message}");
            assert!(!message.contains("secret"), "leaks the value: {message}");
        }
    }

    #[test]
    fn compression_accepts_gzip_and_none() {
        let none = traces(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]).unwrap();
        assert_eq!(none.compression(), Compression::None);
        let gzip = traces(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP")]);
        if Compression::Gzip.is_supported() {
            assert_eq!(gzip.unwrap().compression(), Compression::Gzip);
        } else {
            assert!(matches!(
                gzip,
                Err(ConfigError::UnsupportedCompression {
                    feature: "gzip",
                    ..
                })
            ));
        }
        let error = traces(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")]).unwrap_err();
        assert_eq!(
            error,
            ConfigError::UnknownCompression {
                variable: "OTEL_EXPORTER_OTLP_COMPRESSION".into(),
                value: "brotli".into()
            }
        );
        assert!(
            error.to_string().contains("expected none or gzip"),
            "{error}"
        );
    }

    #[test]
    fn timeout_is_whole_milliseconds() {
        let config = traces(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]).unwrap();
        assert_eq!(config.timeout(), Duration::from_millis(2500));
        for bad in ["10s", "-1", "0", "1.5", "soon"] {
            let error = traces(&[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", bad)]).unwrap_err();
            assert_eq!(
                error,
                ConfigError::InvalidTimeout {
                    variable: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT".into(),
                    value: bad.into()
                }
            );
            assert!(error.to_string().contains("milliseconds"), "{error}");
        }
    }

    #[test]
    fn insecure_applies_only_to_grpc_without_scheme() {
        let bare = |insecure: &str| {
            traces(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
                ("OTEL_EXPORTER_OTLP_INSECURE", insecure),
            ])
            .unwrap()
        };
        assert!(bare("true").endpoint().scheme().is_none());
        assert!(!bare("true").is_secure());
        assert!(bare("false").is_secure());
        assert!(bare("FALSE").is_secure());
        let error = traces(&[("OTEL_EXPORTER_OTLP_INSECURE", "yes")]).unwrap_err();
        assert!(matches!(error, ConfigError::InvalidBool { .. }), "{error}");
        assert!(
            error.to_string().contains("OTEL_EXPORTER_OTLP_INSECURE"),
            "{error}"
        );
    }

    #[test]
    fn proxy_variables_are_read_with_the_rest_and_named_when_unusable() {
        let config = traces(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector.example.com",
            ),
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("no_proxy", ".internal"),
        ])
        .unwrap();
        let proxies = config.proxies().expect("read from the lookup");
        let proxy = proxies
            .for_target(true, "collector.example.com", 443)
            .unwrap();
        assert_eq!(proxy.authority(), "proxy.corp:3128");
        assert!(proxies.for_target(true, "otel.internal", 443).is_none());
        // None set: an explicit "no proxy", not the process environment.
        assert!(traces(&[]).unwrap().proxies().is_some_and(|p| p.is_empty()));

        let error = traces(&[("HTTP_PROXY", "socks5://proxy:1080")]).unwrap_err();
        assert!(matches!(error, ConfigError::Proxy(_)), "{error}");
        assert_eq!(error.variable(), "HTTP_PROXY");
    }

    #[test]
    fn scheme_decides_tls_over_insecure() {
        let https = traces(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ])
        .unwrap();
        assert_eq!(https.endpoint().scheme(), Some(Scheme::Https));
        assert!(https.is_secure());
        let http = traces(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "false"),
        ])
        .unwrap();
        assert!(!http.is_secure());
    }

    #[test]
    fn http_endpoint_without_scheme_is_an_error() {
        let error = traces(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).unwrap_err();
        assert_eq!(error.variable(), "OTEL_EXPORTER_OTLP_ENDPOINT");
        let message = error.to_string();
        assert!(message.contains("\"collector:4318\""), "{message}");
        assert!(message.contains("http://collector:4318"), "{message}");
    }

    #[test]
    fn unknown_protocol_names_the_variable_value_and_choices() {
        let error = traces(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/proto")]).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            "{message}"
        );
        assert!(message.contains("\"http/proto\""), "{message}");
        assert!(message.contains("http/protobuf"), "{message}");
    }

    #[test]
    fn extension_protocols_are_accepted() {
        for (name, protocol) in [
            ("http/json", Protocol::HttpJson),
            ("http/msgpack", Protocol::HttpMsgpack),
            ("http/cbor", Protocol::HttpCbor),
            ("ws", Protocol::Ws),
        ] {
            match traces(&[("OTEL_EXPORTER_OTLP_PROTOCOL", name)]) {
                Ok(config) => assert_eq!(config.protocol(), protocol),
                // Built without the codec: the error names the feature to enable.
                Err(error) => {
                    assert!(!protocol.codec().is_enabled(), "{name}: {error}");
                    assert!(
                        matches!(error, ConfigError::UnsupportedProtocol { .. }),
                        "{error}"
                    );
                }
            }
        }
        let ws = traces(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "ws"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "wss://collector"),
        ])
        .unwrap();
        assert_eq!(ws.endpoint().authority(), "collector:443");
        assert!(ws.is_secure());
    }

    #[test]
    fn half_a_client_identity_is_an_error_naming_the_missing_variable() {
        let error = traces(&[("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/key.pem")]).unwrap_err();
        assert!(
            matches!(error, ConfigError::IncompleteClientIdentity { .. }),
            "{error}"
        );
        assert!(
            error
                .variable()
                .contains("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"),
            "{error}"
        );
    }

    #[test]
    fn lookup_errors_pass_through() {
        let error = resolve(Signal::Logs, &|name: &str| {
            if name == "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT" {
                Err(ConfigError::NotUnicode {
                    variable: name.into(),
                })
            } else {
                Ok(None)
            }
        })
        .unwrap_err();
        assert_eq!(error.variable(), "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT");
    }

    /// Runs in a child process of the test binary, so that the environment is
    /// set for it alone: tests never change their own process's environment.
    #[test]
    fn from_env_reads_the_process_environment() {
        const CHILD: &str = "OTLP_FACADE_ENV_TEST_CHILD";
        const NAME: &str = "config::env::tests::from_env_reads_the_process_environment";
        if std::env::var_os(CHILD).is_some() {
            let config = |signal| ExporterConfig::from_env_for(signal).unwrap();
            assert_eq!(
                config(Signal::Traces).endpoint().to_string(),
                "http://from-env:4318/v1/traces"
            );
            assert_eq!(
                config(Signal::Logs).endpoint().to_string(),
                "http://logs-from-env/"
            );
            assert_eq!(
                config(Signal::Metrics).timeout(),
                Duration::from_millis(1234)
            );
            #[cfg(not(unix))]
            assert!(ExporterConfig::from_env().is_ok());
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                assert!(
                    std::env::var_os("OTEL_EXPORTER_OTLP_PROFILES_HEADERS")
                        .is_some_and(|v| v.as_bytes() == b"k=\xff")
                );
                let error = ExporterConfig::from_env().unwrap_err();
                assert_eq!(
                    error,
                    ConfigError::NotUnicode {
                        variable: "OTEL_EXPORTER_OTLP_PROFILES_HEADERS".into()
                    }
                );
            }
            return;
        }
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args(["--exact", NAME, "--test-threads", "1"]);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with(ENV_PREFIX) {
                child.env_remove(name);
            }
        }
        child
            .env(CHILD, "1")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-env:4318")
            .env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs-from-env")
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "1234");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            child.env(
                "OTEL_EXPORTER_OTLP_PROFILES_HEADERS",
                std::ffi::OsStr::from_bytes(b"k=\xff"),
            );
        }
        let output = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test: {stdout}"
        );
    }

    #[test]
    fn from_lookup_for_reads_one_signal() {
        let config = ExporterConfig::from_lookup_for(Signal::Metrics, |name| {
            (name == "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").then(|| "http://m:1/x".to_string())
        })
        .unwrap();
        assert_eq!(config.signal(), Signal::Metrics);
        assert_eq!(config.endpoint().to_string(), "http://m:1/x");
    }
}
