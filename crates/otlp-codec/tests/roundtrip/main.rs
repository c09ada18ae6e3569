//! `decode(encode(x)) == x` for every signal's request and response through
//! every codec, on messages with every field populated.

use bytes::Bytes;
use otlp_codec::{Codec, OtlpMessage};
use otlp_proto::strategy::{DEPTH, collector};
use proptest::prelude::*;

fn round_trip<M: OtlpMessage + std::fmt::Debug + PartialEq>(
    message: &M,
) -> Result<(), TestCaseError> {
    for codec in Codec::ALL {
        let mut buf = Vec::new();
        codec
            .encode(message, &mut buf)
            .map_err(|e| TestCaseError::fail(format!("{codec}: {e}")))?;
        let decoded: M = codec
            .decode(Bytes::from(buf))
            .map_err(|e| TestCaseError::fail(format!("{codec}: {e}")))?;
        prop_assert_eq!(&decoded, message, "through {}", codec);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn traces(request in collector::trace::v1::export_trace_service_request(DEPTH),
              response in collector::trace::v1::export_trace_service_response(DEPTH)) {
        round_trip(&request)?;
        round_trip(&response)?;
    }

    #[test]
    fn metrics(request in collector::metrics::v1::export_metrics_service_request(DEPTH),
               response in collector::metrics::v1::export_metrics_service_response(DEPTH)) {
        round_trip(&request)?;
        round_trip(&response)?;
    }

    #[test]
    fn logs(request in collector::logs::v1::export_logs_service_request(DEPTH),
            response in collector::logs::v1::export_logs_service_response(DEPTH)) {
        round_trip(&request)?;
        round_trip(&response)?;
    }

    #[test]
    fn profiles(request in collector::profiles::v1development::export_profiles_service_request(DEPTH),
                response in collector::profiles::v1development::export_profiles_service_response(DEPTH)) {
        round_trip(&request)?;
        round_trip(&response)?;
    }
}
