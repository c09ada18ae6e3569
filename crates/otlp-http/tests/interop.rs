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
