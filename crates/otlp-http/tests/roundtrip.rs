//! Every signal × codec × compression, over HTTP/1.1 and h2c, through our
//! client and our server.

mod support;

use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_http::{Client, Protocol, Server};
use otlp_transport::{Outcome, Payload, Signal};
use support::{Recorder, request};

const SIGNALS: [Signal; 4] = [
    Signal::Traces,
    Signal::Metrics,
    Signal::Logs,
    Signal::Profiles,
];

async fn round_trip_all(encoded_sink: bool) {
    let sink = if encoded_sink {
        Recorder::encoded()
    } else {
        Recorder::new()
    };
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let endpoint = format!("http://{}", server.local_addr());
    let mut cases = 0;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        for codec in Codec::ALL.into_iter().filter(|c| c.is_enabled()) {
            for compression in Compression::ALL.into_iter().filter(|c| c.is_supported()) {
                let client = Client::builder()
                    .endpoint(&endpoint)
                    .protocol(protocol)
                    .codec(codec)
                    .compression(compression)
                    .build()
                    .unwrap();
                for signal in SIGNALS {
                    let what = format!("{protocol:?} {codec} {compression} {signal}");
                    let sent = request(signal);
                    let outcome = client.export(sent.clone()).await.expect(&what);
                    assert_eq!(outcome, Outcome::Success, "{what}");
                    let mut received = sink.take();
                    assert_eq!(received.len(), 1, "{what}");
                    let got = match received.pop().unwrap() {
                        Payload::Encoded(encoded) => {
                            assert!(encoded_sink, "{what}: decoded sinks get decoded requests");
                            assert_eq!(encoded.codec(), codec, "{what}");
                            assert_eq!(encoded.compression(), compression, "{what}");
                            assert_eq!(encoded.signal(), signal, "{what}");
                            encoded.decode(64 << 20).expect(&what)
                        }
                        Payload::Request(request) => {
                            assert!(!encoded_sink, "{what}: encoded sinks get bytes");
                            request
                        }
                    };
                    assert_eq!(got, sent, "{what}");
                    cases += 1;
                }
            }
        }
    }
    // With every feature on: 2 protocols × 4 codecs × 7 codings × 4 signals.
    if cfg!(all(
        feature = "json",
        feature = "msgpack",
        feature = "cbor",
        feature = "gzip",
        feature = "deflate",
        feature = "zstd",
        feature = "snappy",
        feature = "lz4"
    )) {
        assert_eq!(cases, 2 * 4 * 7 * 4);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_codec_and_compression_round_trips_decoded() {
    round_trip_all(false).await;
}

/// A relay's sink gets the body exactly as it came, in its codec and coding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_codec_and_compression_round_trips_encoded() {
    round_trip_all(true).await;
}

/// Bytes already in another form than the client's are sent as they are,
/// with their own Content-Type and Content-Encoding.
#[tokio::test]
async fn already_encoded_payloads_are_sent_as_is() {
    use tower::ServiceExt;
    let sink = Recorder::encoded();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(sink.clone());
    let client = Client::builder()
        .endpoint(format!("http://{}", server.local_addr()))
        .build()
        .unwrap();
    let codec = Codec::ALL
        .into_iter()
        .rev()
        .find(|c| c.is_enabled())
        .unwrap();
    let compression = Compression::ALL
        .into_iter()
        .find(|c| c.is_supported())
        .unwrap();
    let encoded = Payload::from(request(Signal::Logs))
        .into_encoded(codec, &otlp_compression::Encoder::new(compression), 1 << 20)
        .unwrap();
    let outcome = client.clone().oneshot(encoded.clone()).await.unwrap();
    assert_eq!(outcome, Outcome::Success);
    let received = sink.take();
    assert_eq!(received, vec![Payload::Encoded(encoded)]);
    server.shutdown().await.unwrap();
}
