//! `otlp bench` end to end: the binary, its JSON lines, and its errors.

use std::process::Command;

fn otlp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_otlp"))
}

#[test]
fn bench_compression_writes_a_json_line_per_figure_with_its_baseline() {
    let output = otlp()
        .args([
            "bench",
            "compression",
            "--json",
            "--time",
            "0.001",
            "--samples",
            "5",
        ])
        .env_remove("OTLP_BENCH_DATA")
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let figures: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    let names: Vec<&str> = figures
        .iter()
        .map(|f| f["figure"].as_str().expect("a name"))
        .collect();
    for name in [
        "compress.gzip-1.traces",
        "decompress.zstd-1.traces",
        "compress.snappy.traces",
        "decompress.lz4.traces",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
        let baseline = format!("baseline.{name}");
        assert!(names.contains(&baseline.as_str()), "{baseline} missing");
    }
    for figure in &figures {
        assert_eq!(figure["unit"], "ms");
        assert_eq!(figure["samples"], 5);
        let (min, median, max) = (
            figure["min"].as_f64().expect("min"),
            figure["median"].as_f64().expect("median"),
            figure["max"].as_f64().expect("max"),
        );
        assert!(0.0 < min && min <= median && median <= max, "{figure}");
        assert!(figure["throughput"].as_f64().expect("throughput") > 0.0);
    }
    let gzip = &figures[names
        .iter()
        .position(|n| *n == "compress.gzip-1.traces")
        .expect("found")];
    assert!(gzip["ratio"].as_f64().expect("a ratio") > 2.0, "{gzip}");
}

/// Runs `otlp bench <target> --json --time 0.05 <extra>` on generated data
/// and returns its figures.
fn transport_figures(target: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let output = otlp()
        .args(["bench", target, "--json", "--time", "0.05"])
        .args(extra)
        .env_remove("OTLP_BENCH_DATA")
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect()
}

/// Checks that `figures` are exactly `expected` (our rows; each with its
/// baseline twin when it has no variant) with the transport fields.
fn check_transport_figures(figures: &[serde_json::Value], expected: &[String]) {
    let names: Vec<&str> = figures
        .iter()
        .map(|f| f["figure"].as_str().expect("a name"))
        .collect();
    let mut sorted_names = names.clone();
    sorted_names.sort_unstable();
    let mut sorted_expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    sorted_expected.sort_unstable();
    assert_eq!(sorted_names, sorted_expected);
    for figure in figures {
        assert_eq!(figure["unit"], "ms", "{figure}");
        assert_eq!(figure["throughput_unit"], "spans/s", "{figure}");
        assert!(
            figure["samples"].as_u64().expect("samples") >= 1,
            "{figure}"
        );
        let field = |key: &str| {
            figure[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} missing from {figure}"))
        };
        let (min, median, max) = (field("min"), field("median"), field("max"));
        assert!(0.0 < min && min <= median && median <= max, "{figure}");
        let (p50, p99) = (field("p50_ms"), field("p99_ms"));
        assert!(min <= p50 && p50 <= p99 && p99 <= max, "{figure}");
        assert!(field("throughput") > 0.0, "{figure}");
    }
}

#[test]
fn bench_grpc_compares_compressed_calls_with_tonic_compressing_too() {
    let figures = transport_figures("grpc", &["--compression", "gzip,zstd"]);
    let mut expected = Vec::new();
    for coding in ["gzip", "zstd"] {
        for c in [1, 16] {
            // No stream rows: the extension does not compress its messages.
            for prefix in ["baseline.grpc.", "grpc.", "grpc.encoded.", "grpc.relay."] {
                expected.push(format!("{prefix}{coding}.c{c}.traces"));
            }
        }
    }
    check_transport_figures(&figures, &expected);
}

#[test]
fn bench_grpc_refuses_a_coding_the_baseline_lacks() {
    let output = otlp()
        .args(["bench", "grpc", "--compression", "snappy", "--time", "0.05"])
        .env_remove("OTLP_BENCH_DATA")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tonic, the baseline, has no snappy"),
        "{stderr}"
    );
}

#[test]
fn bench_grpc_measures_ours_and_tonic_with_latency_percentiles() {
    let figures = transport_figures("grpc", &[]);
    let mut expected = Vec::new();
    for c in [1, 16] {
        for prefix in [
            "baseline.grpc.",
            "grpc.",
            "grpc.encoded.",
            "grpc.relay.",
            "grpc.stream.",
        ] {
            expected.push(format!("{prefix}none.c{c}.traces"));
        }
    }
    check_transport_figures(&figures, &expected);
}

#[test]
fn bench_http_measures_ours_and_hyper_on_both_protocols() {
    let figures = transport_figures("http", &[]);
    let mut expected = Vec::new();
    for protocol in ["", "h2c."] {
        for c in [1, 16] {
            for prefix in ["baseline.http.", "http.", "http.relay."] {
                let prefix = prefix.replacen("http.", &format!("http.{protocol}"), 1);
                expected.push(format!("{prefix}none.c{c}.traces"));
            }
        }
    }
    check_transport_figures(&figures, &expected);
}

#[test]
fn a_data_directory_without_the_dataset_is_a_clear_error() {
    let output = otlp()
        .args(["bench", "codec", "--data", env!("CARGO_MANIFEST_DIR")])
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("holds no traces.pb"), "{stderr}");
}

#[test]
fn every_command_has_help_with_examples() {
    for args in [&["--help"][..], &["bench", "--help"]] {
        let output = otlp().args(args).output().expect("the binary runs");
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Usage: otlp"), "{help}");
    }
    let output = otlp().args(["bench", "--help"]).output().expect("runs");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Examples:"));
}

#[test]
fn bench_ws_measures_websocket_beside_our_grpc() {
    let figures = transport_figures("ws", &[]);
    let mut expected = Vec::new();
    for c in [1, 16] {
        for prefix in ["ws.", "ws.relay.", "grpc.encoded.", "grpc.relay."] {
            expected.push(format!("{prefix}none.c{c}.traces"));
        }
    }
    check_transport_figures(&figures, &expected);
}
