//! Support for the otlp-rs benchmarks: the canonical datasets.
//!
//! Benchmarks read the files described in `shared/bench/README.md` from the
//! directory named by `OTLP_BENCH_DATA`; without it they synthesise payloads
//! of the same shape and print their size, so the difference is visible.

use std::path::PathBuf;

/// The environment variable naming the dataset directory.
pub const DATA_ENV: &str = "OTLP_BENCH_DATA";

/// `traces.pb`: one `ExportTraceServiceRequest` of 10,000 spans, protobuf.
///
/// Read from `$OTLP_BENCH_DATA/traces.pb`, or synthesised in the same shape
/// (10 resources × 2 scopes × 500 spans, 10 attributes per span, events on
/// 30 %, links on 10 %) when the variable is unset.
///
/// # Panics
///
/// When `OTLP_BENCH_DATA` is set but `traces.pb` cannot be read: a benchmark
/// asked for the canonical data must not quietly measure something else.
pub fn traces_pb() -> Vec<u8> {
    match std::env::var_os(DATA_ENV) {
        Some(dir) => {
            let path = PathBuf::from(dir).join("traces.pb");
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        }
        None => {
            let data = synth::traces();
            eprintln!(
                "{DATA_ENV} unset: using {} bytes of synthetic traces",
                data.len()
            );
            data
        }
    }
}

/// A stand-in for the canonical generator: protobuf written by hand, with the
/// field numbers of `opentelemetry.proto.collector.trace.v1`.
mod synth {
    const SERVICES: [&str; 10] = [
        "frontend",
        "checkout",
        "cart",
        "payment",
        "shipping",
        "email",
        "currency",
        "recommendation",
        "ad",
        "product-catalog",
    ];
    const ROUTES: [&str; 6] = [
        "/api/users/{id}",
        "/api/orders",
        "/api/cart",
        "/api/products/{id}",
        "/api/checkout",
        "/health",
    ];
    const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
    const BASE_TIME: u64 = 1_700_000_000_000_000_000;
    const SCHEMA: &str = "https://opentelemetry.io/schemas/1.26.0";

    pub(super) fn traces() -> Vec<u8> {
        let mut rng = Rng(0x4F54_4C50_2D52_5321);
        let mut request = Vec::new();
        for (r, service) in SERVICES.iter().enumerate() {
            let mut resource = Vec::new();
            for (key, value) in [
                ("service.name", service.to_string()),
                ("service.version", format!("1.{}.{}", r, rng.below(10))),
                ("service.instance.id", uuid(&mut rng)),
                ("deployment.environment.name", "production".into()),
                (
                    "host.name",
                    format!("ip-10-0-{}-{}.ec2.internal", rng.below(256), rng.below(256)),
                ),
                ("k8s.namespace.name", "shop".into()),
                (
                    "k8s.pod.name",
                    format!(
                        "{service}-{:010x}-{:05x}",
                        rng.next() >> 24,
                        rng.below(1 << 20)
                    ),
                ),
                ("telemetry.sdk.language", "rust".into()),
            ] {
                message(&mut resource, 1, &string_attribute(key, &value));
            }
            let mut resource_spans = Vec::new();
            message(&mut resource_spans, 1, &resource);
            for (name, version) in [
                ("io.opentelemetry.instrumentation.http", "2.9.0"),
                ("shop", "1.0.0"),
            ] {
                let mut scope = Vec::new();
                bytes(&mut scope, 1, name.as_bytes());
                bytes(&mut scope, 2, version.as_bytes());
                let mut scope_spans = Vec::new();
                message(&mut scope_spans, 1, &scope);
                for i in 0..500u64 {
                    message(&mut scope_spans, 2, &span(&mut rng, r as u64 * 1000 + i));
                }
                bytes(&mut scope_spans, 3, SCHEMA.as_bytes());
                message(&mut resource_spans, 2, &scope_spans);
            }
            bytes(&mut resource_spans, 3, SCHEMA.as_bytes());
            message(&mut request, 1, &resource_spans);
        }
        request
    }

    fn span(rng: &mut Rng, n: u64) -> Vec<u8> {
        let mut span = Vec::new();
        let trace = [rng.next().to_le_bytes(), rng.next().to_le_bytes()].concat();
        bytes(&mut span, 1, &trace);
        bytes(&mut span, 2, &rng.next().to_le_bytes());
        if !n.is_multiple_of(10) {
            bytes(&mut span, 4, &rng.next().to_le_bytes());
        }
        let method = METHODS[rng.below(4) as usize];
        let route = ROUTES[rng.below(ROUTES.len() as u64) as usize];
        bytes(&mut span, 5, format!("{method} {route}").as_bytes());
        varint_field(&mut span, 6, 1 + rng.below(5));
        let start = BASE_TIME + n * 2_000_000 + rng.below(1_000_000);
        fixed64(&mut span, 7, start);
        fixed64(&mut span, 8, start + 5_000_000 + rng.below(495_000_000));
        for (key, value) in [
            ("http.request.method", method.to_string()),
            ("http.route", route.to_string()),
            (
                "url.path",
                route.replace("{id}", &rng.below(100_000).to_string()),
            ),
            (
                "user_agent.original",
                "Mozilla/5.0 (X11; Linux x86_64) otel-demo/1.0".into(),
            ),
            ("server.address", "shop.example.com".into()),
            ("network.protocol.version", "1.1".into()),
        ] {
            message(&mut span, 9, &string_attribute(key, &value));
        }
        message(
            &mut span,
            9,
            &attribute("http.response.status_code", |v| varint_field(v, 3, 200)),
        );
        message(
            &mut span,
            9,
            &attribute("app.ratio", |v| {
                fixed64(v, 4, (rng.below(1000) as f64 / 1000.0).to_bits())
            }),
        );
        message(
            &mut span,
            9,
            &attribute("app.cached", |v| varint_field(v, 2, rng.below(2))),
        );
        message(
            &mut span,
            9,
            &attribute("app.tags", |v| {
                let mut array = Vec::new();
                for tag in ["alpha", "beta"] {
                    let mut value = Vec::new();
                    bytes(&mut value, 1, tag.as_bytes());
                    message(&mut array, 1, &value);
                }
                message(v, 5, &array);
            }),
        );
        if rng.below(10) < 3 {
            let mut event = Vec::new();
            fixed64(&mut event, 1, start + 1_000_000);
            bytes(&mut event, 2, b"cache.miss");
            message(
                &mut event,
                3,
                &string_attribute("cache.key", &format!("user:{}", rng.below(100_000))),
            );
            message(&mut span, 11, &event);
        }
        if rng.below(10) == 0 {
            let mut link = Vec::new();
            bytes(
                &mut link,
                1,
                &[rng.next().to_le_bytes(), rng.next().to_le_bytes()].concat(),
            );
            bytes(&mut link, 2, &rng.next().to_le_bytes());
            message(&mut span, 13, &link);
        }
        let mut status = Vec::new();
        if rng.below(100) < 6 {
            bytes(&mut status, 2, b"upstream request failed");
            varint_field(&mut status, 3, 2);
        }
        message(&mut span, 15, &status);
        fixed32(&mut span, 16, 0x101);
        span
    }

    fn attribute(key: &str, value: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut any = Vec::new();
        value(&mut any);
        let mut kv = Vec::new();
        bytes(&mut kv, 1, key.as_bytes());
        message(&mut kv, 2, &any);
        kv
    }

    fn string_attribute(key: &str, value: &str) -> Vec<u8> {
        attribute(key, |v| bytes(v, 1, value.as_bytes()))
    }

    fn uuid(rng: &mut Rng) -> String {
        let (a, b) = (rng.next(), rng.next());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    fn varint(out: &mut Vec<u8>, mut n: u64) {
        while n >= 0x80 {
            out.push(n as u8 | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    fn varint_field(out: &mut Vec<u8>, field: u64, n: u64) {
        varint(out, field << 3);
        varint(out, n);
    }

    fn fixed64(out: &mut Vec<u8>, field: u64, n: u64) {
        varint(out, field << 3 | 1);
        out.extend_from_slice(&n.to_le_bytes());
    }

    fn fixed32(out: &mut Vec<u8>, field: u64, n: u32) {
        varint(out, field << 3 | 5);
        out.extend_from_slice(&n.to_le_bytes());
    }

    fn bytes(out: &mut Vec<u8>, field: u64, data: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    fn message(out: &mut Vec<u8>, field: u64, data: &[u8]) {
        bytes(out, field, data);
    }

    /// SplitMix64: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }
}
