//! One request in, one response out: routing, negotiation, limits, the sink,
//! and the status the OTLP specification gives for each outcome.

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_transport::{Encoded, ExportResponse, Payload, PayloadError, Signal, grpc_code};

use crate::body::{ReadError, read_capped};
use crate::server::{Config, Shared};
use crate::{retry_after, status};

/// The signal paths of a server, matched exactly.
pub(crate) struct Routes {
    paths: Vec<(String, Signal)>,
}

impl Routes {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            paths: config.paths.iter().cloned().zip(Signal::ALL).collect(),
        }
    }

    fn signal(&self, path: &str) -> Option<Signal> {
        self.paths
            .iter()
            .find(|(known, _)| known == path)
            .map(|(_, signal)| *signal)
    }
}

pub(crate) type HttpResponse = Response<Full<Bytes>>;

pub(crate) async fn handle(shared: &Shared, request: Request<Incoming>) -> HttpResponse {
    let cors = shared.config.cors.as_ref();
    let origin = request.headers().get(http::header::ORIGIN).cloned();
    let accepted = accepted_coding(request.headers());
    let mut response = route(shared, request).await;
    if let Some(coding) = accepted {
        response = compressed(response, coding).await;
    }
    if response.status().is_client_error() || response.status().is_server_error() {
        shared
            .stats
            .requests_rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if let (Some(cors), Some(origin)) = (cors, origin) {
        cors.decorate(&origin, response.headers_mut());
    }
    response
}

async fn route(shared: &Shared, request: Request<Incoming>) -> HttpResponse {
    let config = &shared.config;
    let path = request.uri().path();
    if let Some(route) = config.routes.iter().find(|route| route.path == path) {
        use tower::ServiceExt;
        let Ok(response) = route.service.clone().oneshot(request).await;
        return response;
    }
    if config.health_path.as_deref() == Some(path) {
        return health(request.method());
    }
    // Errors before the body is understood answer in the codec the client
    // asked for when it is one we speak, protobuf otherwise.
    let asked = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Codec::from_content_type(v).ok())
        .filter(|codec| codec.is_enabled());
    let reply = asked.unwrap_or(Codec::Protobuf);
    let Some(signal) = shared.routes.signal(path) else {
        return error(
            reply,
            StatusCode::NOT_FOUND,
            grpc_code::UNIMPLEMENTED,
            "no OTLP endpoint at this path; exports go to /v1/traces, /v1/metrics, /v1/logs or /v1development/profiles",
        );
    };
    if request.method() == Method::OPTIONS
        && let Some(cors) = &config.cors
    {
        return cors.preflight(request.headers());
    }
    if request.method() != Method::POST {
        let mut response = error(
            reply,
            StatusCode::METHOD_NOT_ALLOWED,
            grpc_code::UNIMPLEMENTED,
            "OTLP exports are sent with POST",
        );
        let allow = if config.cors.is_some() {
            "POST, OPTIONS"
        } else {
            "POST"
        };
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return response;
    }
    if let Some(token) = &config.bearer_token
        && !authorized(request.headers(), token)
    {
        let mut response = error(
            reply,
            StatusCode::UNAUTHORIZED,
            grpc_code::UNAUTHENTICATED,
            "missing or wrong bearer token; send Authorization: Bearer <token>",
        );
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let Some(codec) = asked else {
        return unsupported(
            "unsupported Content-Type; send application/x-protobuf or application/json \
             (also application/msgpack or application/cbor when enabled)",
        );
    };
    let compression = match content_encoding(request.headers()) {
        Some(compression) => compression,
        None => {
            let mut response = unsupported(
                "unsupported Content-Encoding; see Accept-Encoding for what this server decodes",
            );
            response.headers_mut().insert(
                ACCEPT_ENCODING,
                HeaderValue::from_str(&Compression::accept_encoding())
                    .unwrap_or(HeaderValue::from_static("identity")),
            );
            return response;
        }
    };
    export(shared, request, signal, codec, compression).await
}

async fn export(
    shared: &Shared,
    request: Request<Incoming>,
    signal: Signal,
    codec: Codec,
    compression: Compression,
) -> HttpResponse {
    let limit = shared.config.max_request_size;
    // The body as it travels is held to the limit too, so a request costs at
    // most the limit on the wire plus the limit decompressed.
    let read = tokio::time::timeout(
        shared.config.body_read_timeout,
        read_capped(request.into_body(), limit),
    )
    .await;
    let body = match read {
        Ok(Ok(body)) => body,
        Ok(Err(ReadError::TooLarge)) => return too_large(codec, limit),
        Ok(Err(ReadError::Body(_))) => {
            return error(
                codec,
                StatusCode::BAD_REQUEST,
                grpc_code::INVALID_ARGUMENT,
                "the request body could not be read to its end",
            );
        }
        Err(_) => {
            return error(
                codec,
                StatusCode::REQUEST_TIMEOUT,
                grpc_code::DEADLINE_EXCEEDED,
                "the request body arrived too slowly",
            );
        }
    };
    let encoded = Encoded::new(signal, codec, compression, body);
    let payload = if shared.sink.wants_encoded(signal) {
        Payload::Encoded(encoded)
    } else {
        match encoded.decode(limit) {
            Ok(request) => Payload::Request(request),
            Err(PayloadError::TooLarge { .. }) => return too_large(codec, limit),
            Err(bad) => {
                return error(
                    codec,
                    StatusCode::BAD_REQUEST,
                    grpc_code::INVALID_ARGUMENT,
                    &bad.to_string(),
                );
            }
        }
    };
    match shared.sink.export(payload).await {
        Ok(outcome) => {
            let mut body = Vec::new();
            match ExportResponse::new(signal, &outcome).encode(codec, &mut body) {
                Ok(()) => with_body(StatusCode::OK, codec, Bytes::from(body)),
                Err(failed) => error(
                    Codec::Protobuf,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    grpc_code::INTERNAL,
                    &failed.to_string(),
                ),
            }
        }
        Err(refused) => {
            let status = StatusCode::from_u16(refused.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error(codec, status, refused.grpc_code(), refused.message());
            if let Some(delay) = refused.retry_after() {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, retry_after::format(delay));
            }
            response
        }
    }
}

fn health(method: &Method) -> HttpResponse {
    if method == Method::GET || method == Method::HEAD {
        let mut response = Response::new(Full::new(Bytes::from_static(b"ok\n")));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return response;
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// Compares the token in constant time, so its bytes cannot be guessed one
/// by one from response times.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some(given) = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|_| &value[7..])
    else {
        return false;
    };
    let expected = token.as_bytes();
    let mut diff = given.len() ^ expected.len();
    for (i, byte) in expected.iter().enumerate() {
        diff |= usize::from(byte ^ given.get(i).copied().unwrap_or(!byte));
    }
    diff == 0
}

/// The request's coding, `None` when it is unknown to this build or stacked
/// (`gzip, zstd`), which OTLP senders never do.
fn content_encoding(headers: &HeaderMap) -> Option<Compression> {
    let mut values = headers.get_all(CONTENT_ENCODING).iter();
    let Some(value) = values.next() else {
        return Some(Compression::None);
    };
    if values.next().is_some() {
        return None;
    }
    let name = value.to_str().ok()?;
    if name.contains(',') {
        return None;
    }
    name.parse::<Compression>()
        .ok()
        .filter(|compression| compression.is_supported())
}

/// The first coding of the request's `Accept-Encoding` that this build can
/// write (`q=0` means "not this one"); `None` for identity or nothing usable.
fn accepted_coding(headers: &HeaderMap) -> Option<Compression> {
    let value = headers.get(ACCEPT_ENCODING)?.to_str().ok()?;
    value
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (!refused)
                .then(|| name.parse::<Compression>().ok())
                .flatten()
        })
        .find(|coding| coding.is_supported())
        .filter(|coding| *coding != Compression::None)
}

/// OTLP/HTTP: the server MAY compress its response when the client's
/// `Accept-Encoding` asks for it. Empty bodies stay as they are.
async fn compressed(response: HttpResponse, coding: Compression) -> HttpResponse {
    use http_body_util::BodyExt;
    let (mut parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    if body.is_empty() {
        return Response::from_parts(parts, Full::new(body));
    }
    let mut out = Vec::new();
    if coding.compress(&body, &mut out).is_err() {
        return Response::from_parts(parts, Full::new(body));
    }
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static(coding.as_str()));
    parts.headers.append(
        http::header::VARY,
        HeaderValue::from_static("Accept-Encoding"),
    );
    Response::from_parts(parts, Full::new(Bytes::from(out)))
}

fn too_large(codec: Codec, limit: usize) -> HttpResponse {
    error(
        codec,
        StatusCode::PAYLOAD_TOO_LARGE,
        grpc_code::RESOURCE_EXHAUSTED,
        &format!(
            "the request is larger than this server's limit of {limit} bytes (after decompression); \
             send smaller batches"
        ),
    )
}

fn unsupported(message: &str) -> HttpResponse {
    error(
        Codec::Protobuf,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        grpc_code::INVALID_ARGUMENT,
        message,
    )
}

pub(crate) fn error(codec: Codec, status: StatusCode, code: i32, message: &str) -> HttpResponse {
    let (codec, body) = status::encode(codec, code, message);
    with_body(status, codec, body)
}

fn with_body(status: StatusCode, codec: Codec, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(codec.content_type()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!authorized(&headers, "s3cret"));
        for (value, ok) in [
            ("Bearer s3cret", true),
            ("bearer s3cret", true),
            ("Bearer s3cre", false),
            ("Bearer s3cret!", false),
            ("Basic s3cret", false),
            ("Bearer", false),
        ] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(authorized(&headers, "s3cret"), ok, "{value}");
        }
    }

    #[test]
    fn accept_encoding_picks_the_first_writable_coding() {
        let mut headers = HeaderMap::new();
        assert_eq!(accepted_coding(&headers), None);
        let gzip = Compression::Gzip
            .is_supported()
            .then_some(Compression::Gzip);
        for (value, expected) in [
            ("gzip", gzip),
            ("br, gzip;q=0.8", gzip),
            ("gzip;q=0, identity", None),
            ("identity", None),
            ("br", None),
        ] {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(value));
            assert_eq!(accepted_coding(&headers), expected, "{value}");
        }
    }

    #[test]
    fn content_encodings() {
        let mut headers = HeaderMap::new();
        assert_eq!(content_encoding(&headers), Some(Compression::None));
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(content_encoding(&headers), None);
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip, zstd"));
        assert_eq!(content_encoding(&headers), None);
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
        assert_eq!(content_encoding(&headers), Some(Compression::None));
    }
}
