//! Payload conversions with real data, real compression and real codecs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use otlp_transport::{
    Encoded, ExportRequest, ExportResponse, Outcome, Payload, PayloadError, Signal, Sink, SinkError,
};

const LIMIT: usize = 64 << 20;

fn traces() -> ExportRequest {
    let request = otlp_datagen::traces();
    otlp_datagen::split_traces(&request, 512)
        .swap_remove(0)
        .into()
}

#[test]
fn decoded_payload_encodes_compresses_and_comes_back() {
    let request = traces();
    assert_eq!(request.record_count(), 512);
    for codec in [Codec::Protobuf, Codec::Json, Codec::MessagePack] {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let encoded = Payload::from(request.clone())
                .into_encoded(codec, &Encoder::new(compression), LIMIT)
                .unwrap();
            assert_eq!(
                (encoded.signal(), encoded.codec(), encoded.compression()),
                (Signal::Traces, codec, compression)
            );
            assert_eq!(
                encoded.decode(LIMIT).unwrap(),
                request,
                "{codec} {compression}"
            );
        }
    }
}

#[test]
fn same_form_is_forwarded_without_copying() {
    let encoded = Payload::from(traces())
        .into_encoded(Codec::Protobuf, &Encoder::new(Compression::Gzip), LIMIT)
        .unwrap();
    let pointer = encoded.body().as_ptr();
    let forwarded = Payload::from(encoded)
        .into_encoded(Codec::Protobuf, &Encoder::new(Compression::Gzip), LIMIT)
        .unwrap();
    assert_eq!(
        forwarded.body().as_ptr(),
        pointer,
        "the same bytes, not a copy"
    );
}

#[test]
fn other_compression_is_recompressed_to_the_same_body() {
    let request = traces();
    let mut protobuf = Vec::new();
    request.encode(Codec::Protobuf, &mut protobuf).unwrap();
    let gzip = Payload::from(request)
        .into_encoded(Codec::Protobuf, &Encoder::new(Compression::Gzip), LIMIT)
        .unwrap();
    let zstd = Payload::from(gzip)
        .into_encoded(Codec::Protobuf, &Encoder::new(Compression::Zstd), LIMIT)
        .unwrap();
    assert_eq!(zstd.decompressed(LIMIT).unwrap(), Bytes::from(protobuf));
}

#[test]
fn other_codec_is_transcoded() {
    let request = traces();
    let protobuf = Payload::from(request.clone())
        .into_encoded(Codec::Protobuf, &Encoder::new(Compression::None), LIMIT)
        .unwrap();
    let json = Payload::from(protobuf)
        .into_encoded(Codec::Json, &Encoder::new(Compression::Gzip), LIMIT)
        .unwrap();
    assert_eq!(json.codec(), Codec::Json);
    assert_eq!(json.decode(LIMIT).unwrap(), request);
}

#[test]
fn oversized_and_corrupt_bodies_are_bad_input() {
    let encoded = Payload::from(traces())
        .into_encoded(Codec::Protobuf, &Encoder::new(Compression::Gzip), LIMIT)
        .unwrap();
    let error = encoded.decode(1024).unwrap_err();
    assert!(
        matches!(error, PayloadError::TooLarge { limit: 1024 }),
        "{error}"
    );
    assert!(error.is_bad_input());

    let raw = Encoded::new(
        Signal::Logs,
        Codec::Protobuf,
        Compression::None,
        Bytes::from_static(&[1; 2000]),
    );
    assert!(matches!(
        raw.decode(1000),
        Err(PayloadError::TooLarge { limit: 1000 })
    ));

    let garbage = Encoded::new(
        Signal::Metrics,
        Codec::Protobuf,
        Compression::Gzip,
        Bytes::from_static(b"\x1f\x8b not really gzip"),
    );
    let error = garbage.decode(LIMIT).unwrap_err();
    assert!(matches!(error, PayloadError::Decompress(_)), "{error}");
    assert!(error.is_bad_input());

    let undecodable = Encoded::new(
        Signal::Logs,
        Codec::Json,
        Compression::None,
        Bytes::from_static(b"{\"resourceLogs\": 7}"),
    );
    let error = undecodable.decode(LIMIT).unwrap_err();
    assert!(matches!(error, PayloadError::Decode(_)), "{error}");
}

#[test]
fn response_round_trips_through_codecs() {
    let outcome = Outcome::from_parts(12, "12 data points had no name".into());
    for codec in [Codec::Protobuf, Codec::Json, Codec::MessagePack] {
        let mut buf = Vec::new();
        ExportResponse::new(Signal::Metrics, &outcome)
            .encode(codec, &mut buf)
            .unwrap();
        let decoded = ExportResponse::decode(Signal::Metrics, codec, Bytes::from(buf)).unwrap();
        assert_eq!(decoded.outcome(), outcome);
    }
}

/// A relay-style sink: wants bytes, counts what it got, throttles when full.
struct Counting {
    records: AtomicUsize,
    capacity: usize,
}

#[async_trait]
impl Sink for Counting {
    fn wants_encoded(&self, _signal: Signal) -> bool {
        true
    }

    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let request = payload
            .into_request(LIMIT)
            .map_err(|e| SinkError::InvalidData(e.to_string()))?;
        let count = request.record_count();
        let before = self.records.fetch_add(count, Ordering::SeqCst);
        if before + count > self.capacity {
            self.records.fetch_sub(count, Ordering::SeqCst);
            return Err(SinkError::Throttled {
                retry_after: std::time::Duration::from_secs(1),
                message: "full".into(),
            });
        }
        Ok(Outcome::Success)
    }
}

#[tokio::test]
async fn sinks_work_through_arc_and_box() {
    let sink = Arc::new(Counting {
        records: AtomicUsize::new(0),
        capacity: 1000,
    });
    let shared: Box<dyn Sink> = Box::new(Arc::clone(&sink));
    assert!(shared.wants_encoded(Signal::Traces));
    assert_eq!(shared.export(traces().into()).await, Ok(Outcome::Success));
    let error = shared.export(traces().into()).await.unwrap_err();
    assert_eq!((error.http_status(), error.grpc_code()), (429, 8));
    assert_eq!(sink.records.load(Ordering::SeqCst), 512);
    let bad = Encoded::new(
        Signal::Traces,
        Codec::Protobuf,
        Compression::None,
        Bytes::from_static(&[0xff; 3]),
    );
    assert!(matches!(
        shared.export(bad.into()).await,
        Err(SinkError::InvalidData(_))
    ));
}
