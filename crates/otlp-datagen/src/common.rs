//! Shared pieces: the SplitMix64 stream, attribute helpers and the resources.

use bytes::Bytes;
use otlp_proto::ByteString;
use otlp_proto::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use otlp_proto::resource::v1::Resource;

/// The schema URL on every resource and scope entry.
pub(crate) const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

/// The ten services, one per resource.
pub(crate) const SERVICES: [&str; 10] = [
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

const LANGUAGES: [&str; 6] = ["nodejs", "go", "java", "python", "rust", "dotnet"];

pub(crate) const FUNCTIONS: [&str; 8] = [
    "process_order",
    "validate_cart",
    "compute_price",
    "apply_discount",
    "check_inventory",
    "render_template",
    "serialize_response",
    "load_config",
];

pub(crate) const ROUTES: [&str; 12] = [
    "/api/users/{id}",
    "/api/orders",
    "/api/orders/{id}",
    "/api/products",
    "/api/products/{id}",
    "/api/cart",
    "/api/cart/items/{id}",
    "/api/checkout",
    "/api/shipping/quote",
    "/api/currency/convert",
    "/api/recommendations",
    "/api/ads",
];

/// SplitMix64: a tiny, fast, well-mixed 64-bit generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the modulo bias is negligible here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`, rounded to `decimals` places.
    pub(crate) fn float(&mut self, lo: f64, hi: f64, decimals: i32) -> f64 {
        round(lo + self.unit() * (hi - lo), decimals)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    pub(crate) fn bytes<const N: usize>(&mut self) -> Bytes {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        // An all-zero id is invalid in OTLP.
        if out.iter().all(|&b| b == 0) {
            out[0] = 1;
        }
        Bytes::copy_from_slice(&out)
    }

    /// `n` lowercase hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(n);
        let mut word = 0u64;
        for i in 0..n {
            if i % 16 == 0 {
                word = self.next_u64();
            }
            s.push(DIGITS[(word & 0xF) as usize] as char);
            word >>= 4;
        }
        s
    }
}

/// Rounds to `decimals` places so the value survives a JSON round trip.
pub(crate) fn round(x: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (x * factor).round() / factor
}

pub(crate) fn kv(key: &'static str, value: any_value::Value) -> KeyValue {
    KeyValue {
        // Static names cost no allocation.
        key: ByteString::from_static(key),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn string(key: &'static str, value: impl Into<ByteString>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

pub(crate) fn int(key: &'static str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

pub(crate) fn double(key: &'static str, value: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(value))
}

pub(crate) fn boolean(key: &'static str, value: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(value))
}

pub(crate) fn strings(key: &'static str, values: &[&'static str]) -> KeyValue {
    let values = values
        .iter()
        .map(|v| AnyValue {
            value: Some(any_value::Value::StringValue(ByteString::from_static(v))),
        })
        .collect();
    kv(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

/// `1..=3` distinct-ish strings from `items`, as an array attribute.
pub(crate) fn some_strings(rng: &mut Rng, key: &'static str, items: &[&'static str]) -> KeyValue {
    let n = rng.range(1, 3) as usize;
    let start = rng.below(items.len() as u64) as usize;
    let chosen: Vec<&'static str> = (0..n).map(|i| items[(start + i) % items.len()]).collect();
    strings(key, &chosen)
}

/// The service name of resource `index`.
pub(crate) fn service(index: usize) -> String {
    let name = SERVICES[index % SERVICES.len()];
    match index / SERVICES.len() {
        0 => name.to_owned(),
        n => format!("{name}-{n}"),
    }
}

/// Resource `index`: a service with 8 string attributes.
pub(crate) fn resource(rng: &mut Rng, index: usize) -> Resource {
    let name = service(index);
    let instance = format!(
        "{}-{}-{}-{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(4),
        rng.hex(4),
        rng.hex(12)
    );
    let host = format!(
        "ip-10-0-{}-{}.ec2.internal",
        rng.below(256),
        rng.range(1, 254)
    );
    let pod = format!("{name}-{}-{}", rng.hex(10), rng.hex(5));
    Resource {
        attributes: vec![
            string("service.name", name),
            string(
                "service.version",
                format!("1.{}.{}", rng.below(10), rng.below(10)),
            ),
            string("service.instance.id", instance),
            string("deployment.environment.name", "production"),
            string("host.name", host),
            string("k8s.namespace.name", "shop"),
            string("k8s.pod.name", pod),
            string("telemetry.sdk.language", rng.pick(&LANGUAGES)),
        ],
        ..Default::default()
    }
}

pub(crate) fn scope(name: impl Into<ByteString>, version: &'static str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.into(),
        version: ByteString::from_static(version),
        ..Default::default()
    }
}

/// How many of `total` records scope `index` of `scopes` holds (spread evenly, in order).
pub(crate) fn share(total: usize, scopes: usize, index: usize) -> usize {
    total / scopes + usize::from(index < total % scopes)
}
