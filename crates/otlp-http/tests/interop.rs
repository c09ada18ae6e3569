//! Interop with what others write: a plain hyper client posting what the
//! official OpenTelemetry exporters post (opentelemetry-proto's types, prost
//! and serde, gzip), and a plain hyper server reading what our client sends.

mod support;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest as OtelRequest, ExportTraceServiceResponse as OtelResponse,
};
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_http::{Client, Server};
use otlp_transport::{Outcome, Payload, Signal};
use prost::Message;
use support::{Plain, Recorder, gzip, plain_server, post, request, respond, send};

/// The same spans as opentelemetry-proto's type (the wire formats agree).
fn otel_request() -> OtelRequest {
    let mut body = Vec::new();
    request(Signal::Traces)
        .encode(Codec::Protobuf, &mut body)
        .unwrap();
    OtelRequest::decode(&body[..]).unwrap()
}

fn as_otel(payload: &Payload) -> OtelRequest {
    let Payload::Request(request) = payload else {
        panic!("a decoded request");
    };
    let mut body = Vec::new();
    request.encode(Codec::Protobuf, &mut body).unwrap();
    OtelRequest::decode(&body[..]).unwrap()
}

#[tokio::test]
async fn receives_what_the_official_exporters_send() {
    let sink = Recorder::new();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let sent = otel_request();
    let mut bodies = vec![("application/x-protobuf", sent.encode_to_vec())];
    if Codec::Json.is_enabled() {
        bodies.push(("application/json", serde_json::to_vec(&sent).unwrap()));
    }
    for (content_type, body) in bodies {
        let mut encodings = vec![(None, body.clone())];
        if Compression::Gzip.is_supported() {
            encodings.push((Some("gzip"), gzip(&body)));
        }
        for (encoding, wire) in encodings {
            let what = format!("{content_type} {encoding:?}");
            let answer = send(addr, post("/v1/traces", content_type, encoding, wire)).await;
            assert_eq!(answer.status, 200, "{what}");
            assert_eq!(answer.headers["content-type"], content_type, "{what}");
            let response = if content_type == "application/json" {
                serde_json::from_slice::<OtelResponse>(&answer.body).unwrap()
            } else {
                OtelResponse::decode(&answer.body[..]).unwrap()
            };
            assert_eq!(response.partial_success, None, "{what}");
            let received = sink.take();
            assert_eq!(received.len(), 1);
            assert_eq!(as_otel(&received[0]), sent, "{what}");
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_plain_server_reads_what_our_client_sends() {
    let Plain { addr, seen, .. } = plain_server(|seen| {
        let content_type = seen.headers["content-type"].to_str().unwrap().to_string();
        let body = if content_type == "application/json" {
            Bytes::from_static(b"{}")
        } else {
            Bytes::from(OtelResponse::default().encode_to_vec())
        };
        respond(200, &[("content-type", content_type.as_str())], body)
    })
    .await;
    let expected = otel_request();
    let codecs = [Codec::Protobuf, Codec::Json]
        .into_iter()
        .filter(|c| c.is_enabled());
    for codec in codecs {
        for compression in [Compression::None, Compression::Gzip]
            .into_iter()
            .filter(|c| c.is_supported())
        {
            let client = Client::builder()
                .endpoint(format!("http://{addr}"))
                .codec(codec)
                .compression(compression)
                .build()
                .unwrap();
            let outcome = client.export(request(Signal::Traces)).await.unwrap();
            assert_eq!(outcome, Outcome::Success);
            let got = seen.lock().unwrap().pop().unwrap();
            let mut body = got.body.to_vec();
            if compression == Compression::Gzip {
                assert_eq!(got.headers["content-encoding"], "gzip");
                let mut plain = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&body[..]),
                    &mut plain,
                )
                .unwrap();
                body = plain;
            }
            let received = match codec {
                Codec::Json => serde_json::from_slice::<OtelRequest>(&body).unwrap(),
                _ => OtelRequest::decode(&body[..]).unwrap(),
            };
            assert_eq!(received, expected, "{codec} {compression}");
        }
    }
}

/// `Content-Encoding: lz4` as the OpenTelemetry Collector takes it: the LZ4
/// frame format, whatever the writer's block size, block mode and checksums
/// (pierrec/lz4, which the Collector's exporters use, writes 4 MiB
/// independent blocks with a content checksum), the name in any case.
#[cfg(feature = "lz4")]
#[tokio::test]
async fn receives_lz4_frames_however_they_are_shaped() {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
    let sink = Recorder::new();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let addr = server.local_addr();
    let sent = otel_request();
    let body = sent.encode_to_vec();
    let shapes = [
        (
            "lz4",
            FrameInfo::new()
                .block_size(BlockSize::Max4MB)
                .content_checksum(true),
        ),
        ("LZ4", FrameInfo::new()),
        (
            "Lz4",
            FrameInfo::new()
                .block_size(BlockSize::Max64KB)
                .block_mode(BlockMode::Linked)
                .block_checksums(true),
        ),
    ];
    for (name, info) in shapes {
        let what = format!("{name} {info:?}");
        let wire = lz4_frame(info, &body);
        let answer = send(
            addr,
            post("/v1/traces", "application/x-protobuf", Some(name), wire),
        )
        .await;
        assert_eq!(answer.status, 200, "{what}");
        let received = sink.take();
        assert_eq!(received.len(), 1, "{what}");
        assert_eq!(as_otel(&received[0]), sent, "{what}");
    }
    // A frame cut short is bad data (400), not a shorter request.
    let wire = lz4_frame(FrameInfo::new().block_size(BlockSize::Max64KB), &body);
    let cut = wire[..wire.len() - 4].to_vec();
    let answer = send(
        addr,
        post("/v1/traces", "application/x-protobuf", Some("lz4"), cut),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(sink.take().is_empty());
    // The receiver says it takes lz4.
    let answer = send(
        addr,
        post("/v1/traces", "application/x-protobuf", Some("br"), body),
    )
    .await;
    assert_eq!(answer.status, 415);
    let accepted = answer.headers["accept-encoding"].to_str().unwrap();
    assert!(accepted.split(", ").any(|c| c == "lz4"), "{accepted}");
    server.shutdown().await.unwrap();
}

/// What our client sends as `lz4` is one LZ4 frame that a plain frame reader
/// (lz4_flex's own, as any other) decodes, its content checksum verified.
#[cfg(feature = "lz4")]
#[tokio::test]
async fn a_plain_server_reads_our_lz4_frames() {
    let Plain { addr, seen, .. } = plain_server(|_| {
        let body = Bytes::from(OtelResponse::default().encode_to_vec());
        respond(200, &[("content-type", "application/x-protobuf")], body)
    })
    .await;
    let client = Client::builder()
        .endpoint(format!("http://{addr}"))
        .compression(Compression::Lz4)
        .build()
        .unwrap();
    let outcome = client.export(request(Signal::Traces)).await.unwrap();
    assert_eq!(outcome, Outcome::Success);
    let got = seen.lock().unwrap().pop().unwrap();
    assert_eq!(got.headers["content-encoding"], "lz4");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut lz4_flex::frame::FrameDecoder::new(&got.body[..]),
        &mut plain,
    )
    .unwrap();
    assert_eq!(OtelRequest::decode(&plain[..]).unwrap(), otel_request());
}

#[cfg(feature = "lz4")]
fn lz4_frame(info: lz4_flex::frame::FrameInfo, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}
