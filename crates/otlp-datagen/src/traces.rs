//! Traces: traces of 10 spans, a SERVER root and 9 nested children.

use otlp_proto::ByteString;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_proto::common::v1::KeyValue;
use otlp_proto::trace::v1::span::{Event, Link, SpanKind};
use otlp_proto::trace::v1::status::StatusCode;
use otlp_proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use crate::common::{
    FUNCTIONS, ROUTES, Rng, SCHEMA_URL, boolean, double, int, resource, scope, service, share,
    some_strings, string,
};
use crate::{BASE_TIME_UNIX_NANO, Generator};

/// Spans per trace.
pub(crate) const TRACE_LEN: usize = 10;
/// W3C sampled flag with the "parent is remote" bits known (0x100), as in the dataset.
const FLAGS: u32 = 0x101;
const MS: u64 = 1_000_000;

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "okhttp/4.12.0",
    "curl/8.4.0",
];
const ACCEPT: [&str; 4] = [
    "application/json",
    "text/html",
    "application/xml;q=0.9",
    "*/*;q=0.8",
];
pub(crate) const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"];
const FLAGS_ON: [&str; 5] = [
    "dark-mode",
    "free-shipping-banner",
    "currency-cache",
    "new-checkout-flow",
    "recommendations-v2",
];
const TABLES: [&str; 6] = [
    "orders",
    "users",
    "products",
    "shipments",
    "carts",
    "payments",
];
const DB_OPS: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];
const DBS: [(&str, &str, i64); 3] = [
    (
        "postgresql",
        "postgres-primary.shop.svc.cluster.local",
        5432,
    ),
    ("mysql", "mysql-orders.shop.svc.cluster.local", 3306),
    ("redis", "redis-cache.shop.svc.cluster.local", 6379),
];
pub(crate) const TOPICS: [&str; 5] = [
    "orders",
    "shipments",
    "payments",
    "notifications",
    "inventory",
];
const HEADERS: [&str; 4] = ["traceparent", "content-type", "x-request-id", "tracestate"];
const EVENTS: [&str; 4] = [
    "cache.miss",
    "db.connection.acquired",
    "retry",
    "message.received",
];
pub(crate) const ERRORS: [(&str, &str); 5] = [
    (
        "SerializationFailure",
        "could not serialize access due to concurrent update",
    ),
    ("IOError", "connection refused (os error 111)"),
    (
        "UpstreamError",
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    ),
    (
        "ValidationError",
        "invalid argument: quantity must be a positive integer",
    ),
    (
        "TimeoutError",
        "deadline exceeded after 5s waiting for response from payment",
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Server,
    HttpClient,
    DbClient,
    Internal,
    Producer,
    Consumer,
}

impl Kind {
    fn child(rng: &mut Rng) -> Self {
        match rng.below(100) {
            0..25 => Kind::HttpClient,
            25..45 => Kind::DbClient,
            45..85 => Kind::Internal,
            85..93 => Kind::Producer,
            _ => Kind::Consumer,
        }
    }

    fn span_kind(self) -> SpanKind {
        match self {
            Kind::Server => SpanKind::Server,
            Kind::HttpClient | Kind::DbClient => SpanKind::Client,
            Kind::Internal => SpanKind::Internal,
            Kind::Producer => SpanKind::Producer,
            Kind::Consumer => SpanKind::Consumer,
        }
    }
}

fn method(rng: &mut Rng) -> &'static str {
    match rng.below(100) {
        0..60 => "GET",
        60..85 => "POST",
        85..95 => "PUT",
        _ => "DELETE",
    }
}

fn status_code(rng: &mut Rng, error: bool) -> i64 {
    if error {
        [500, 502, 503][rng.below(3) as usize]
    } else {
        [200, 200, 200, 200, 201, 204, 400, 404][rng.below(8) as usize]
    }
}

fn url_path(rng: &mut Rng, route: &str) -> String {
    route.replace("{id}", &rng.range(1, 99_999).to_string())
}

/// Name and the 10 attributes (6 strings, 1 int, 1 double, 1 bool, 1 array).
fn name_and_attributes(
    rng: &mut Rng,
    kind: Kind,
    svc: &str,
    error: bool,
) -> (String, Vec<KeyValue>) {
    match kind {
        Kind::Server => {
            let (m, route) = (method(rng), rng.pick(&ROUTES));
            let attributes = vec![
                string("http.request.method", m),
                string("http.route", route),
                string("url.path", url_path(rng, route)),
                string("url.scheme", "https"),
                string("user_agent.original", rng.pick(&USER_AGENTS)),
                string(
                    "client.address",
                    format!(
                        "10.{}.{}.{}",
                        rng.below(256),
                        rng.below(256),
                        rng.below(256)
                    ),
                ),
                int("http.response.status_code", status_code(rng, error)),
                double("app.queue.wait_ms", rng.float(0.0, 50.0, 3)),
                boolean("app.cache.hit", rng.percent(40)),
                some_strings(rng, "http.request.header.accept", &ACCEPT),
            ];
            (format!("{m} {route}"), attributes)
        }
        Kind::HttpClient => {
            let (m, route) = (method(rng), rng.pick(&ROUTES));
            let peer = service(rng.below(10) as usize);
            let host = format!("{peer}.shop.svc.cluster.local");
            let attributes = vec![
                string("http.request.method", m),
                string(
                    "url.full",
                    format!("http://{host}:8080{}", url_path(rng, route)),
                ),
                string("server.address", host),
                string("network.protocol.version", rng.pick(&["1.1", "2"])),
                string(
                    "network.peer.address",
                    format!(
                        "10.{}.{}.{}",
                        rng.below(256),
                        rng.below(256),
                        rng.below(256)
                    ),
                ),
                string("peer.service", peer),
                int("http.response.status_code", status_code(rng, error)),
                double("app.retry.backoff_ms", rng.float(0.0, 200.0, 2)),
                boolean("app.retried", rng.percent(20)),
                some_strings(
                    rng,
                    "http.response.header.content-type",
                    &["application/json; charset=utf-8"],
                ),
            ];
            (format!("{m} {route}"), attributes)
        }
        Kind::DbClient => {
            let (op, table) = (rng.pick(&DB_OPS), rng.pick(&TABLES));
            let (system, host, port) = DBS[rng.below(DBS.len() as u64) as usize];
            let query = match op {
                "SELECT" => format!(
                    "SELECT id, tenant_id, payload, created_at FROM {table} WHERE id = $1 LIMIT {}",
                    rng.range(1, 100)
                ),
                "INSERT" => format!(
                    "INSERT INTO {table} (id, tenant_id, payload, created_at) VALUES ($1, $2, $3, now())"
                ),
                "UPDATE" => {
                    format!("UPDATE {table} SET payload = $1, updated_at = now() WHERE id = $2")
                }
                _ => format!("DELETE FROM {table} WHERE id = $1"),
            };
            let attributes = vec![
                string("db.system.name", system),
                string("db.namespace", "shop"),
                string("db.operation.name", op),
                string("db.collection.name", table),
                string("db.query.text", query),
                string("server.address", host),
                int("server.port", port),
                double("db.client.response.rows_per_ms", rng.float(1.0, 600.0, 3)),
                boolean("db.statement.prepared", rng.percent(50)),
                strings_pair("app.db.tables", table, rng),
            ];
            (format!("{op} shop.{table}"), attributes)
        }
        Kind::Internal => {
            let function = rng.pick(&FUNCTIONS);
            let attributes = vec![
                string("code.function.name", format!("shop::{svc}::{function}")),
                string(
                    "code.file.path",
                    format!("src/{svc}/handlers/{function}.rs"),
                ),
                string("thread.name", format!("worker-{}", rng.below(8))),
                string("app.user.id", format!("user-{}", rng.range(10_000, 99_999))),
                string("app.tenant.id", format!("tenant-{}", rng.range(1, 50))),
                string("app.region", rng.pick(&REGIONS)),
                int("code.line.number", rng.range(1, 900) as i64),
                double("app.items.total_price", rng.float(1.0, 500.0, 2)),
                boolean("app.feature.enabled", rng.percent(50)),
                some_strings(rng, "app.feature_flags", &FLAGS_ON),
            ];
            (function.to_owned(), attributes)
        }
        Kind::Producer | Kind::Consumer => {
            let topic = rng.pick(&TOPICS);
            let op = if kind == Kind::Producer {
                "publish"
            } else {
                "process"
            };
            let attributes = vec![
                string("messaging.system", "kafka"),
                string("messaging.destination.name", topic),
                string("messaging.operation.type", op),
                string("messaging.message.id", rng.hex(32)),
                string("messaging.client.id", format!("{svc}-{}", rng.below(4))),
                string(
                    "messaging.kafka.message.key",
                    format!("order-{}", rng.range(100_000, 999_999)),
                ),
                int("messaging.batch.message_count", rng.range(1, 100) as i64),
                double("app.payload.kib", rng.float(0.5, 64.0, 2)),
                boolean("messaging.kafka.message.tombstone", rng.percent(5)),
                some_strings(rng, "app.message.headers", &HEADERS),
            ];
            (format!("{op} {topic}"), attributes)
        }
    }
}

fn strings_pair(key: &'static str, table: &'static str, rng: &mut Rng) -> KeyValue {
    if rng.percent(80) {
        crate::common::strings(key, &[table, "tenants"])
    } else {
        crate::common::strings(key, &[table])
    }
}

fn events(rng: &mut Rng, start: u64, end: u64, error: Option<(&str, &str)>) -> Vec<Event> {
    let n = rng.range(1, 2);
    (0..n)
        .map(|i| {
            let time_unix_nano = start + rng.below(end - start + 1);
            match error {
                Some((ty, message)) if i == 0 => Event {
                    time_unix_nano,
                    name: "exception".into(),
                    attributes: vec![
                        string("exception.type", ty),
                        string("exception.message", message),
                        string(
                            "exception.stacktrace",
                            format!(
                                "{ty}: {message}\n    at shop.handlers.Orders.Place (orders.go:{})\n    at shop.http.Router.ServeHTTP (router.go:{})\n    at net/http.serverHandler.ServeHTTP (server.go:2938)",
                                rng.range(10, 400),
                                rng.range(10, 400)
                            ),
                        ),
                    ],
                    ..Default::default()
                },
                _ => Event {
                    time_unix_nano,
                    name: rng.pick(&EVENTS).into(),
                    attributes: vec![
                        string("app.detail", format!("key=product:{}", rng.range(1000, 9999))),
                        int("app.attempt", rng.range(1, 3) as i64),
                    ],
                    ..Default::default()
                },
            }
        })
        .collect()
}

fn link(rng: &mut Rng) -> Link {
    Link {
        trace_id: rng.bytes::<16>(),
        span_id: rng.bytes::<8>(),
        attributes: vec![string("app.link.kind", "follows_from")],
        flags: FLAGS,
        ..Default::default()
    }
}

/// Appends one trace of `len` spans, numbered `number`, to `out`.
fn trace(rng: &mut Rng, number: u64, len: usize, svc: &str, out: &mut Vec<Span>) {
    let trace_id = rng.bytes::<16>();
    let trace_state = if rng.percent(20) {
        format!("congo=t61rcWkgMzE,rojo={}", rng.hex(16))
    } else {
        String::new()
    };
    let first = out.len();
    for i in 0..len {
        let (kind, parent, start, end) = if i == 0 {
            let start = BASE_TIME_UNIX_NANO + number * 2 * MS + rng.below(MS);
            (
                Kind::Server,
                None,
                start,
                start + rng.range(5 * MS, 500 * MS),
            )
        } else {
            let parent = first + rng.below(i as u64) as usize;
            let (ps, pe) = (
                out[parent].start_time_unix_nano,
                out[parent].end_time_unix_nano,
            );
            let span = pe - ps;
            let start = ps + (rng.unit() * 0.7 * span as f64) as u64;
            let end = start + 1 + (rng.unit() * (pe - start - 1) as f64) as u64;
            (Kind::child(rng), Some(parent), start, end.min(pe))
        };
        let error = rng.percent(6);
        let (name, attributes) = name_and_attributes(rng, kind, svc, error);
        let failure = error.then(|| ERRORS[rng.below(ERRORS.len() as u64) as usize]);
        let status = match failure {
            Some((_, message)) => Status {
                message: message.into(),
                code: StatusCode::Error as i32,
            },
            None if rng.percent(20) => Status {
                message: ByteString::new(),
                code: StatusCode::Ok as i32,
            },
            None => Status::default(),
        };
        let events = if rng.percent(30) {
            events(rng, start, end, failure)
        } else {
            Vec::new()
        };
        let links = if rng.percent(10) {
            vec![link(rng)]
        } else {
            Vec::new()
        };
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: rng.bytes::<8>(),
            trace_state: trace_state.clone().into(),
            parent_span_id: parent.map(|p| out[p].span_id.clone()).unwrap_or_default(),
            flags: FLAGS,
            name: name.into(),
            kind: kind.span_kind() as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            events,
            links,
            status: Some(status),
            ..Default::default()
        });
    }
}

pub(crate) fn generate(config: &Generator) -> ExportTraceServiceRequest {
    let mut rng = Rng::new(config.seed);
    let scopes = config.resources * 2;
    let mut trace_number = 0u64;
    let resource_spans = (0..config.resources)
        .map(|r| {
            let resource = resource(&mut rng, r);
            let svc = service(r);
            let scope_spans = (0..2)
                .map(|s| {
                    let n = share(config.records, scopes, r * 2 + s);
                    let mut spans = Vec::with_capacity(n);
                    let mut left = n;
                    while left > 0 {
                        let len = left.min(TRACE_LEN);
                        trace(&mut rng, trace_number, len, &svc, &mut spans);
                        trace_number += 1;
                        left -= len;
                    }
                    let scope = if s == 0 {
                        scope("io.opentelemetry.instrumentation.http", "2.9.0")
                    } else {
                        scope(format!("shop.{svc}"), "1.0.0")
                    };
                    ScopeSpans {
                        scope: Some(scope),
                        spans,
                        schema_url: SCHEMA_URL.into(),
                    }
                })
                .collect();
            ResourceSpans {
                resource: Some(resource),
                scope_spans,
                schema_url: SCHEMA_URL.into(),
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// Splits `request` in order into requests of at most `spans_per_request` spans.
pub(crate) fn split(
    request: &ExportTraceServiceRequest,
    spans_per_request: usize,
) -> Vec<ExportTraceServiceRequest> {
    assert!(spans_per_request > 0, "spans_per_request must be positive");
    let mut out = Vec::new();
    let mut current = ExportTraceServiceRequest::default();
    let mut count = 0;
    for rs in &request.resource_spans {
        let mut resource_open = false;
        for ss in &rs.scope_spans {
            let mut scope_open = false;
            for span in &ss.spans {
                if !resource_open {
                    current.resource_spans.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs.schema_url.clone(),
                    });
                    resource_open = true;
                }
                if !scope_open {
                    let last = current.resource_spans.last_mut().expect("resource pushed");
                    last.scope_spans.push(ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss.schema_url.clone(),
                    });
                    scope_open = true;
                }
                let last = current.resource_spans.last_mut().expect("resource pushed");
                let spans = &mut last.scope_spans.last_mut().expect("scope pushed").spans;
                spans.push(span.clone());
                count += 1;
                if count == spans_per_request {
                    out.push(std::mem::take(&mut current));
                    count = 0;
                    resource_open = false;
                    scope_open = false;
                }
            }
        }
    }
    if count > 0 {
        out.push(current);
    }
    out
}
