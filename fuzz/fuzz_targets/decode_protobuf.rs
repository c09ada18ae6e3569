//! Any input to the Protobuf decoder: an error or a message, never a panic; the
//! result is prost's own (the specialised decoder must never accept what prost
//! rejects, nor build another value), and a decoded message survives
//! re-encoding and decoding unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otlp_codec::{Codec, OtlpMessage};
use otlp_proto::collector::{logs, metrics, profiles, trace};

fn check<M: OtlpMessage + PartialEq + std::fmt::Debug>(data: &[u8]) {
    let codec = Codec::Protobuf;
    let decoded = codec.decode::<M>(bytes::Bytes::copy_from_slice(data));
    match (&decoded, M::decode(data)) {
        // NaN is not equal to itself; compare through protobuf instead.
        (Ok(ours), Ok(prost)) => assert_eq!(ours.encode_to_vec(), prost.encode_to_vec()),
        (Err(_), Err(_)) => {}
        (ours, prost) => panic!("ours {ours:?} but prost {prost:?}"),
    }
    if let Ok(message) = decoded {
        let encoded = codec.encode_to_vec(&message).expect("a decoded message encodes");
        let again: M = codec.decode(encoded.into()).expect("what we encode decodes");
        // NaN is not equal to itself; compare through protobuf instead.
        assert_eq!(again.encode_to_vec(), message.encode_to_vec());
    }
}

fuzz_target!(|data: &[u8]| {
    check::<trace::v1::ExportTraceServiceRequest>(data);
    check::<metrics::v1::ExportMetricsServiceRequest>(data);
    check::<logs::v1::ExportLogsServiceRequest>(data);
    check::<profiles::v1development::ExportProfilesServiceRequest>(data);
    check::<trace::v1::ExportTraceServiceResponse>(data);
});
