//! Cross-origin requests from browsers (the OpenTelemetry JS web exporters).

use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// Which browser origins may export, and what their preflights are told.
///
/// A matching origin is echoed in `Access-Control-Allow-Origin` (with
/// `Vary: Origin`); `*` is sent only when any origin is allowed *and*
/// credentials are not, since browsers refuse a bare `*` with credentials.
///
/// ```
/// use std::time::Duration;
/// use otlp_http::Cors;
///
/// let cors = Cors::new()
///     .allow_origin("https://app.example.com")
///     .allow_header("x-tenant")
///     .max_age(Duration::from_secs(600));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
    any_origin: bool,
    headers: Vec<String>,
    max_age: Option<Duration>,
    credentials: bool,
}

/// What a browser exporter sends besides the safelisted headers.
const DEFAULT_HEADERS: &str = "content-type, content-encoding, authorization";

impl Cors {
    /// Allows no origin yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `origin` (`https://app.example.com`), or every origin with `*`.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        if origin == "*" {
            self.any_origin = true;
        } else {
            self.origins.push(origin.trim_end_matches('/').to_string());
        }
        self
    }

    /// Allows a request header beyond `Content-Type`, `Content-Encoding` and
    /// `Authorization`, which are always allowed.
    pub fn allow_header(mut self, header: impl Into<String>) -> Self {
        self.headers.push(header.into());
        self
    }

    /// How long browsers may cache a preflight answer.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Lets browsers send cookies and credentials; the allowed origin is then
    /// always echoed, never `*`.
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        self.any_origin || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Adds the CORS headers of an actual (non-preflight) response.
    pub(crate) fn decorate(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        headers.append(VARY, HeaderValue::from_static("Origin"));
        if !self.allows(origin) {
            return;
        }
        let allowed = if self.any_origin && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        if self.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    /// Answers an `OPTIONS` preflight: 204 with what is allowed, or 403 for an
    /// origin or method that is not.
    pub(crate) fn preflight(&self, request: &HeaderMap) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::new()));
        let origin_ok = request.get(ORIGIN).is_some_and(|o| self.allows(o));
        let method_ok = request
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|m| m.as_bytes() == b"POST");
        if !(origin_ok && method_ok) {
            *response.status_mut() = StatusCode::FORBIDDEN;
            return response;
        }
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
        let mut allowed = DEFAULT_HEADERS.to_string();
        for header in &self.headers {
            allowed.push_str(", ");
            allowed.push_str(header);
        }
        if let Ok(value) = HeaderValue::from_str(&allowed) {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if let Some(max_age) = self.max_age {
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(max_age.as_secs()));
        }
        response
    }
}
