//! Logs: 10,000 records with six severities and realistic bodies.

use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::common::v1::{AnyValue, any_value};
use otlp_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};

use crate::common::{
    FUNCTIONS, ROUTES, Rng, SCHEMA_URL, double, int, resource, scope, service, share, string,
};
use crate::traces::{ERRORS, REGIONS, TOPICS};
use crate::{BASE_TIME_UNIX_NANO, Generator};

const MICROS: u64 = 1_000;

fn severity(rng: &mut Rng) -> (SeverityNumber, &'static str) {
    match rng.below(100) {
        0..60 => (SeverityNumber::Info, "INFO"),
        60..75 => (SeverityNumber::Debug, "DEBUG"),
        75..90 => (SeverityNumber::Warn, "WARN"),
        90..97 => (SeverityNumber::Error, "ERROR"),
        97..99 => (SeverityNumber::Trace, "TRACE"),
        _ => (SeverityNumber::Fatal, "FATAL"),
    }
}

fn method(rng: &mut Rng) -> &'static str {
    rng.pick(&["GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"])
}

fn body(rng: &mut Rng, severity: SeverityNumber, svc: &str) -> String {
    let second = rng.percent(50);
    match (severity, second) {
        (SeverityNumber::Trace, false) => format!(
            "Entering handler {} with {} arguments request_id={}",
            rng.pick(&FUNCTIONS),
            rng.range(1, 6),
            rng.hex(16)
        ),
        (SeverityNumber::Trace, true) => format!(
            "Cache lookup for key session:{} in region {} returned {} bytes",
            rng.hex(12),
            rng.pick(&REGIONS),
            rng.range(0, 65_536)
        ),
        (SeverityNumber::Debug, false) => format!(
            "Resolved {} product ids from catalog in {} ms (cache hit ratio {:.2})",
            rng.range(1, 60),
            rng.range(10, 2500),
            rng.unit()
        ),
        (SeverityNumber::Debug, true) => format!(
            "SQL query executed: SELECT id, name, price FROM products WHERE category = '{}' LIMIT {} took {} ms",
            rng.pick(&["books", "games", "garden", "kitchen", "toys"]),
            rng.range(1, 100),
            rng.range(1, 1000)
        ),
        (SeverityNumber::Info, false) => {
            let route = rng.pick(&ROUTES);
            format!(
                "Request completed: method={} path={} status=200 duration_ms={} bytes={} user_id={}",
                method(rng),
                route.replace("{id}", &rng.range(1, 99_999).to_string()),
                rng.range(1, 2000),
                rng.range(100, 20_000),
                rng.range(10_000, 99_999)
            )
        }
        (SeverityNumber::Info, true) => format!(
            "Order {} placed by customer {}: {} items, total {:.2} {}, payment via {}",
            rng.hex(12),
            rng.range(10_000, 99_999),
            rng.range(1, 12),
            rng.float(1.0, 900.0, 2),
            rng.pick(&["USD", "EUR", "GBP", "JPY"]),
            rng.pick(&["card", "paypal", "voucher"])
        ),
        (SeverityNumber::Warn, false) => format!(
            "Slow response from upstream {} after {} ms for {} {}; retrying (attempt {} of 3)",
            service(rng.below(10) as usize),
            rng.range(300, 2500),
            method(rng),
            rng.pick(&ROUTES),
            rng.range(1, 3)
        ),
        (SeverityNumber::Warn, true) => {
            let used = rng.range(48, 64);
            format!(
                "Connection pool for {} is {}% utilized ({used} of 64 connections in use)",
                rng.pick(&["postgres-primary", "mysql-orders", "redis-cache"]),
                used * 100 / 64
            )
        }
        (SeverityNumber::Error, false) => format!(
            "Failed to charge card for order {}: gateway returned 502 ({}); the order was left in pending state",
            rng.hex(12),
            ERRORS[rng.below(ERRORS.len() as u64) as usize].1
        ),
        (SeverityNumber::Error, true) => format!(
            "Unhandled exception while processing message {} from topic {}: {}",
            rng.hex(16),
            rng.pick(&TOPICS),
            ERRORS[rng.below(ERRORS.len() as u64) as usize].1
        ),
        (_, false) => format!(
            "Out of memory: failed to allocate {} bytes for request buffer; shutting down worker {}",
            rng.range(100_000_000, 999_999_999),
            rng.below(8)
        ),
        (_, true) => format!(
            "Configuration file /etc/shop/{svc}.yaml is corrupt: unexpected token at line {}; cannot start service {svc}",
            rng.range(1, 400)
        ),
    }
}

pub(crate) fn generate(config: &Generator) -> ExportLogsServiceRequest {
    let mut rng = Rng::new(config.seed.wrapping_add(2));
    let scopes = config.resources * 2;
    let mut number = 0u64;
    let resource_logs = (0..config.resources)
        .map(|r| {
            let resource = resource(&mut rng, r);
            let svc = service(r);
            let scope_logs = (0..2)
                .map(|s| {
                    let n = share(config.records, scopes, r * 2 + s);
                    let log_records = (0..n)
                        .map(|_| {
                            let time = BASE_TIME_UNIX_NANO
                                + number * 100 * MICROS
                                + rng.below(100 * MICROS);
                            let observed = time + rng.range(10 * MICROS, 5_000 * MICROS);
                            let (severity, text) = severity(&mut rng);
                            let function = rng.pick(&FUNCTIONS);
                            let body = body(&mut rng, severity, &svc);
                            let attributes = vec![
                                string("code.function.name", format!("shop::{svc}::{function}")),
                                string(
                                    "code.file.path",
                                    format!("src/{svc}/handlers/{function}.rs"),
                                ),
                                string("thread.name", format!("worker-{}", rng.below(8))),
                                int("thread.id", rng.range(1, 64) as i64),
                                double("app.duration_ms", rng.float(0.1, 100.0, 3)),
                            ];
                            let traced = number.is_multiple_of(2);
                            let record = LogRecord {
                                time_unix_nano: time,
                                observed_time_unix_nano: observed,
                                severity_number: severity as i32,
                                severity_text: text.into(),
                                body: Some(AnyValue {
                                    value: Some(any_value::Value::StringValue(body.into())),
                                }),
                                attributes,
                                flags: u32::from(traced),
                                trace_id: if traced {
                                    rng.bytes::<16>()
                                } else {
                                    Default::default()
                                },
                                span_id: if traced {
                                    rng.bytes::<8>()
                                } else {
                                    Default::default()
                                },
                                ..Default::default()
                            };
                            number += 1;
                            record
                        })
                        .collect();
                    ScopeLogs {
                        scope: Some(scope(
                            format!("shop.{svc}.{}", if s == 0 { "api" } else { "worker" }),
                            "1.0.0",
                        )),
                        log_records,
                        schema_url: SCHEMA_URL.into(),
                    }
                })
                .collect();
            ResourceLogs {
                resource: Some(resource),
                scope_logs,
                schema_url: SCHEMA_URL.into(),
            }
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}
