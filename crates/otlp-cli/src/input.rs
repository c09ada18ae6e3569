//! What `otlp send` sends: requests replayed from files, or generated.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use otlp_codec::Codec;
use otlp_datagen::Generator;
use otlp_transport::{ExportRequest, Signal};

/// Why a file could not be replayed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Nothing says which signal a protobuf file holds.
    #[error(
        "{path}: cannot tell which signal this protobuf file holds; name it after the signal (traces.pb, metrics.pb, logs.pb) or pass --signal"
    )]
    UnknownSignal { path: PathBuf },
    /// A JSON document does not start with `resourceSpans`, `resourceMetrics`,
    /// `resourceLogs` or `resourceProfiles`.
    #[error(
        "{path}{line}: not an OTLP/JSON export request (expected an object whose first key is resourceSpans, resourceMetrics, resourceLogs or resourceProfiles)"
    )]
    NotOtlpJson { path: PathBuf, line: String },
    /// The body did not decode.
    #[error("{path}{line}: {source}")]
    Decode {
        path: PathBuf,
        line: String,
        #[source]
        source: otlp_codec::DecodeError,
    },
}

/// The requests a file holds: `.pb` (one protobuf request; the signal from
/// `signal` or the file name), `.json` (one OTLP/JSON request), `.jsonl` or
/// `.ndjson` (one OTLP/JSON request per line, as `otlp serve` writes them).
pub(crate) fn read_file(
    path: &Path,
    signal: Option<Signal>,
) -> Result<Vec<ExportRequest>, InputError> {
    let body = std::fs::read(path).map_err(|source| InputError::Read {
        path: path.to_owned(),
        source,
    })?;
    let body = Bytes::from(body);
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension {
        "json" => Ok(vec![json_request(path, None, body)?]),
        "jsonl" | "ndjson" => {
            let mut requests = Vec::new();
            let mut start = 0;
            for (number, line) in body.split(|b| *b == b'\n').enumerate() {
                let end = start + line.len();
                if !line.iter().all(u8::is_ascii_whitespace) {
                    requests.push(json_request(
                        path,
                        Some(number + 1),
                        body.slice(start..end),
                    )?);
                }
                start = end + 1;
            }
            Ok(requests)
        }
        _ => {
            let signal = signal.or_else(|| signal_from_name(path)).ok_or_else(|| {
                InputError::UnknownSignal {
                    path: path.to_owned(),
                }
            })?;
            let request =
                ExportRequest::decode(signal, Codec::Protobuf, body).map_err(|source| {
                    InputError::Decode {
                        path: path.to_owned(),
                        line: String::new(),
                        source,
                    }
                })?;
            Ok(vec![request])
        }
    }
}

fn signal_from_name(path: &Path) -> Option<Signal> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    Signal::ALL
        .into_iter()
        .find(|signal| name.contains(signal.as_str()))
}

fn json_request(
    path: &Path,
    line: Option<usize>,
    body: Bytes,
) -> Result<ExportRequest, InputError> {
    let line = line.map(|n| format!(":{n}")).unwrap_or_default();
    let signal = json_signal(&body).ok_or_else(|| InputError::NotOtlpJson {
        path: path.to_owned(),
        line: line.clone(),
    })?;
    ExportRequest::decode(signal, Codec::Json, body).map_err(|source| InputError::Decode {
        path: path.to_owned(),
        line,
        source,
    })
}

/// The signal of an OTLP/JSON request, from its first key; `{}` (an empty
/// request of no telling signal) counts as traces.
fn json_signal(body: &[u8]) -> Option<Signal> {
    let mut rest = body
        .trim_ascii_start()
        .strip_prefix(b"{")?
        .trim_ascii_start();
    if rest.starts_with(b"}") {
        return Some(Signal::Traces);
    }
    rest = rest.strip_prefix(b"\"")?;
    let key = &rest[..rest.iter().position(|b| *b == b'"')?];
    match key {
        b"resourceSpans" => Some(Signal::Traces),
        b"resourceMetrics" => Some(Signal::Metrics),
        b"resourceLogs" => Some(Signal::Logs),
        b"resourceProfiles" => Some(Signal::Profiles),
        _ => None,
    }
}

/// A generated request of `signal` with `records` records, realistic and
/// different for every `seed`.
pub(crate) fn generate(signal: Signal, seed: u64, records: usize) -> Option<ExportRequest> {
    let generator = Generator::new(seed)
        .resources(1 + records / 2_000)
        .records(records);
    Some(match signal {
        Signal::Traces => ExportRequest::Traces(generator.traces()),
        Signal::Metrics => ExportRequest::Metrics(generator.metrics()),
        Signal::Logs => ExportRequest::Logs(generator.logs()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_of_a_json_request_is_its_first_key() {
        assert_eq!(
            json_signal(b" {\n \"resourceLogs\": []}"),
            Some(Signal::Logs)
        );
        assert_eq!(
            json_signal(br#"{"resourceMetrics":[]}"#),
            Some(Signal::Metrics)
        );
        assert_eq!(json_signal(b"{}"), Some(Signal::Traces));
        assert_eq!(json_signal(br#"{"resource_spans":[]}"#), None);
        assert_eq!(json_signal(b"[1]"), None);
        assert_eq!(json_signal(b"{\"resourceSpans"), None);
    }

    #[test]
    fn files_of_every_form_replay() {
        let dir = std::env::temp_dir().join(format!("otlp-cli-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let traces = generate(Signal::Traces, 7, 20).unwrap();
        let logs = generate(Signal::Logs, 8, 5).unwrap();
        let encode = |request: &ExportRequest, codec| {
            let mut buf = Vec::new();
            request.encode(codec, &mut buf).unwrap();
            buf
        };

        let pb = dir.join("my-traces.pb");
        std::fs::write(&pb, encode(&traces, Codec::Protobuf)).unwrap();
        assert_eq!(read_file(&pb, None).unwrap(), vec![traces.clone()]);

        let unnamed = dir.join("dump.bin");
        std::fs::write(&unnamed, encode(&logs, Codec::Protobuf)).unwrap();
        assert!(matches!(
            read_file(&unnamed, None),
            Err(InputError::UnknownSignal { .. })
        ));
        assert_eq!(
            read_file(&unnamed, Some(Signal::Logs)).unwrap(),
            vec![logs.clone()]
        );

        let lines = dir.join("out.jsonl");
        let mut body = encode(&traces, Codec::Json);
        body.extend_from_slice(b"\n\n");
        body.extend(encode(&logs, Codec::Json));
        body.push(b'\n');
        std::fs::write(&lines, body).unwrap();
        assert_eq!(read_file(&lines, None).unwrap(), vec![traces, logs]);

        let broken = dir.join("broken.jsonl");
        std::fs::write(
            &broken,
            b"{\"resourceSpans\":[]}\n{\"resourceSpans\":[{]}\n",
        )
        .unwrap();
        let error = read_file(&broken, None).unwrap_err().to_string();
        assert!(error.contains("broken.jsonl:2"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
