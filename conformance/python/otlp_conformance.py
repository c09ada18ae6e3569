"""Conformance of the `otlp` command against OpenTelemetry's own Python code.

Four suites, each comparing record by record what one side sent with what the
other side got:

  sdk-to-serve       the official Python SDK exporters (OTLP/gRPC and
                     OTLP/HTTP protobuf) send to `otlp serve`; its OTLP/JSON
                     lines are compared with what the exporters encoded.
  send-to-reference  `otlp send` replays protobuf and OTLP/JSON files to a
                     reference receiver built on the `opentelemetry-proto`
                     package (grpcio server + HTTP server), over every protocol;
                     its HTTP side decompresses gzip, deflate and lz4 (the
                     reference `lz4` package's `lz4.frame`).
  lz4-to-serve       Python posts requests compressed by `lz4.frame` (as its
                     defaults shape the frame, and as the Collector's exporters
                     do) to `otlp serve` with `Content-Encoding: lz4`.
  relay              the SDK exporters send to `otlp relay`, which forwards to
                     the reference receiver.

Usage: python otlp_conformance.py --otlp target/debug/otlp [suite ...]
Every wait is bounded; a failure exits with status 1 and says which records
differ.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import http.server
import os
import re
import signal as signals
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent import futures
from pathlib import Path

import grpc
import lz4.frame
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

SIGNALS = ("traces", "metrics", "logs")
REQUEST_TYPES = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
RESPONSE_TYPES = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}
TOP_KEYS = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}
ID_KEYS = {"traceId", "spanId", "parentSpanId"}
WAIT = 30.0  # seconds: the bound of every wait


class Failure(Exception):
    """A conformance check failed."""


# --- OTLP/JSON <-> protobuf ----------------------------------------------------


def _ids(value, to_proto: bool):
    """OTLP/JSON writes trace and span ids as hex; proto3 JSON as base64."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ID_KEYS and isinstance(item, str):
                raw = bytes.fromhex(item) if to_proto else base64.b64decode(item)
                item = base64.b64encode(raw).decode() if to_proto else raw.hex()
            else:
                item = _ids(item, to_proto)
            out[key] = item
        return out
    if isinstance(value, list):
        return [_ids(item, to_proto) for item in value]
    return value


def parse_otlp_json(obj: dict):
    """An OTLP/JSON request object as (signal, protobuf message)."""
    signal = next((TOP_KEYS[k] for k in obj if k in TOP_KEYS), None)
    if signal is None:
        # An empty request has no top-level key: it holds no records.
        return None, None
    message = REQUEST_TYPES[signal]()
    json_format.ParseDict(_ids(obj, to_proto=True), message)
    return signal, message


def to_otlp_json(message) -> dict:
    """A protobuf request as OTLP/JSON (hex ids, camelCase keys)."""
    return _ids(json_format.MessageToDict(message), to_proto=False)


# --- records -------------------------------------------------------------------


def records(signal: str, requests) -> list:
    """Every record of the requests with its resource and scope, canonically
    serialised, sorted: two lists are equal when the same records arrived."""
    out = []
    ser = lambda m: m.SerializeToString(deterministic=True)  # noqa: E731
    for request in requests:
        if signal == "traces":
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append((ser(rs.resource), rs.schema_url, ser(ss.scope), ss.schema_url, ser(span)))
        elif signal == "logs":
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        out.append((ser(rl.resource), rl.schema_url, ser(sl.scope), sl.schema_url, ser(record)))
        else:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        kind = metric.WhichOneof("data")
                        for point in getattr(metric, kind).data_points:
                            one = type(metric)()
                            one.CopyFrom(metric)
                            points = getattr(one, kind).data_points
                            del points[:]
                            points.add().CopyFrom(point)
                            out.append((ser(rm.resource), rm.schema_url, ser(sm.scope), sm.schema_url, ser(one)))
    return sorted(out)


def compare(what: str, signal: str, sent, got) -> int:
    expected, actual = records(signal, sent), records(signal, got)
    if not expected:
        raise Failure(f"{what}: nothing was sent for {signal}; the suite is broken")
    if expected != actual:
        missing = [r for r in expected if r not in actual]
        extra = [r for r in actual if r not in expected]
        detail = ""
        record_type = {"traces": "Span", "logs": "LogRecord", "metrics": "Metric"}[signal]
        for label, rows in (("missing", missing[:2]), ("unexpected", extra[:2])):
            for row in rows:
                detail += f"\n  {label} {record_type}: {row[-1]!r}"
        raise Failure(
            f"{what}: {signal}: sent {len(expected)} records, got {len(actual)}; "
            f"{len(missing)} missing, {len(extra)} unexpected{detail}"
        )
    print(f"ok  {what}: {signal}: {len(expected)} records identical", flush=True)
    return len(expected)


# --- the `otlp` command ----------------------------------------------------------


class Otlp:
    """`otlp serve` or `otlp relay` in the background, with its listening addresses."""

    LISTENING = re.compile(r"OTLP/(gRPC|HTTP|WebSocket) on (\S+)")

    def __init__(self, binary: str, args: list[str]):
        self.process = subprocess.Popen(
            [binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.addresses: dict[str, str] = {}
        self.stderr: list[str] = []
        deadline = time.monotonic() + WAIT
        while not {"gRPC", "HTTP"} <= self.addresses.keys():
            if time.monotonic() > deadline:
                self.process.kill()
                raise Failure(f"`otlp {args[0]}` did not say where it listens: {self.stderr}")
            line = self.process.stderr.readline()
            if not line:
                raise Failure(f"`otlp {args[0]}` exited: {''.join(self.stderr)}")
            self.stderr.append(line)
            match = self.LISTENING.search(line)
            if match:
                self.addresses[match.group(1)] = match.group(2)
        # Keep draining stderr so the process never blocks on a full pipe.
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()

    def _read_rest(self):
        for line in self.process.stderr:
            self.stderr.append(line)

    def stop(self) -> str:
        """Ctrl-C, as a user would: the command drains and prints its summary."""
        self.process.send_signal(signals.SIGINT)
        try:
            stdout, _ = self.process.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise Failure("the command did not stop within 30 s of Ctrl-C")
        self._drain.join(timeout=WAIT)
        if self.process.returncode != 0:
            raise Failure(f"exit status {self.process.returncode}: {''.join(self.stderr)}")
        return stdout


def read_json_lines(path: Path) -> dict[str, list]:
    got: dict[str, list] = {s: [] for s in SIGNALS}
    import json

    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            signal, message = parse_otlp_json(json.loads(line))
        except Exception as error:  # noqa: BLE001 - report which line
            raise Failure(f"{path}:{number}: not an OTLP/JSON request: {error}") from error
        if signal:
            got[signal].append(message)
    return got


# --- the OpenTelemetry Python SDK ---------------------------------------------------


def run_sdk(protocol: str, endpoint: str) -> dict[str, list]:
    """Exports spans, metrics and logs with the official SDK exporters over
    `protocol` to `endpoint`; returns the requests the exporters encoded."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
    from opentelemetry._logs import SeverityNumber

    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kwargs = lambda signal: {"endpoint": endpoint, "insecure": True}  # noqa: E731
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        kwargs = lambda signal: {"endpoint": f"{endpoint}/v1/{signal}"}  # noqa: E731

    sent: dict[str, list] = {s: [] for s in SIGNALS}
    failures: list[str] = []

    class Spans(SpanExporter):
        inner = OTLPSpanExporter(**kwargs("traces"))

        def export(self, spans):
            sent["traces"].append(encode_spans(spans))
            result = self.inner.export(spans)
            if result != SpanExportResult.SUCCESS:
                failures.append(f"span export: {result}")
            return result

        def shutdown(self):
            self.inner.shutdown()

    class Logs(LogRecordExporter):
        inner = OTLPLogExporter(**kwargs("logs"))

        def export(self, batch):
            sent["logs"].append(encode_logs(batch))
            result = self.inner.export(batch)
            if result not in (LogRecordExportResult.SUCCESS,) and getattr(result, "name", "") != "SUCCESS":
                failures.append(f"log export: {result}")
            return result

        def force_flush(self, timeout_millis=30_000):
            return True

        def shutdown(self):
            self.inner.shutdown()

    class Metrics(MetricExporter):
        inner = OTLPMetricExporter(**kwargs("metrics"))

        def __init__(self):
            super().__init__(self.inner._preferred_temporality, self.inner._preferred_aggregation)

        def export(self, metrics_data, timeout_millis=10_000, **kw):
            sent["metrics"].append(encode_metrics(metrics_data))
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kw)
            if result != MetricExportResult.SUCCESS:
                failures.append(f"metric export: {result}")
            return result

        def force_flush(self, timeout_millis=10_000):
            return True

        def shutdown(self, timeout_millis=30_000, **kw):
            self.inner.shutdown()

    resource = Resource.create({"service.name": f"conformance-{protocol}", "service.version": "1.2.3", "host.id": 42})

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(Spans(), max_export_batch_size=64, schedule_delay_millis=50))
    tracer = tracer_provider.get_tracer("conformance.tracer", "0.1.0", schema_url="https://opentelemetry.io/schemas/1.26.0")
    for trace_number in range(40):
        with tracer.start_as_current_span(
            f"GET /orders/{trace_number}", kind=SpanKind.SERVER,
            attributes={"http.request.method": "GET", "http.response.status_code": 200, "ratio": 0.25,
                        "cached": trace_number % 2 == 0, "tags": ["a", "b"], "codes": [1, 2, 3],
                        "weights": [0.5, 1.5], "flags": [True, False], "unicode": "żółw 🐢 \"quoted\""},
        ) as root:
            root.add_event("request.received", {"size": 1024, "path": "/orders"})
            for child_number in range(4):
                kind = [SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER][child_number]
                links = [Link(root.get_span_context(), {"link.kind": "parent-copy"})] if child_number == 2 else []
                with tracer.start_as_current_span(f"child-{child_number}", kind=kind, links=links) as child:
                    child.set_attribute("child.index", child_number)
                    if child_number == 3 and trace_number % 5 == 0:
                        child.set_status(Status(StatusCode.ERROR, "payment declined"))
                        child.record_exception(ValueError("declined"))
            root.set_status(Status(StatusCode.OK))

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(Logs(), max_export_batch_size=50, schedule_delay_millis=50))
    logger = logger_provider.get_logger("conformance.logger", "0.2.0")
    for number in range(120):
        # Every other record is emitted inside a span, so it carries its ids.
        span = tracer.start_span(f"log-{number}") if number % 2 else None
        context = __import__("opentelemetry.trace", fromlist=["set_span_in_context"]).set_span_in_context(span) if span else None
        severity = [SeverityNumber.INFO, SeverityNumber.WARN, SeverityNumber.ERROR, SeverityNumber.DEBUG][number % 4]
        logger.emit(
            timestamp=1_700_000_000_000_000_000 + number * 1_000,
            observed_timestamp=1_700_000_000_000_500_000 + number * 1_000,
            severity_number=severity,
            severity_text=severity.name,
            body={"message": f"order {number} processed", "items": [number, "x", 1.5, None, True], "raw": b"\x00\xff"}
            if number % 3 == 0 else f"order {number} processed",
            attributes={"order.id": number, "amount": number * 1.25, "ok": number % 2 == 0, "region": "eu-west-1"},
            event_name="order.processed" if number % 10 == 0 else None,
            context=context,
        )
        if span:
            span.end()
    logger_provider.shutdown()
    tracer_provider.shutdown()

    reader = PeriodicExportingMetricReader(Metrics(), export_interval_millis=60_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("conformance.meter", "0.3.0")
    counter = meter.create_counter("requests", unit="1", description="requests served")
    updown = meter.create_up_down_counter("queue.depth", unit="{item}")
    histogram = meter.create_histogram("latency", unit="ms", description="request latency")
    gauge = meter.create_gauge("temperature", unit="Cel")
    meter.create_observable_gauge("cpu.usage", callbacks=[lambda options: [
        __import__("opentelemetry.metrics", fromlist=["Observation"]).Observation(0.42, {"cpu": 0})]])
    for number in range(50):
        attributes = {"route": f"/r{number % 3}", "method": "GET" if number % 2 else "POST"}
        counter.add(number + 1, attributes)
        updown.add(5 - number % 7, attributes)
        histogram.record(number * 3.7, attributes)
        gauge.set(20 + number % 5, {"room": f"r{number % 2}"})
    meter_provider.force_flush()
    meter_provider.shutdown()

    if failures:
        raise Failure(f"the SDK exporters failed to export over {protocol}: {failures[:3]}")
    return sent


# --- a reference receiver on opentelemetry-proto ------------------------------------


class Reference:
    """OTLP receivers built plainly on the `opentelemetry-proto` package: a grpcio
    server and an HTTP server that decode every request and keep it."""

    def __init__(self):
        self.got: dict[str, list] = {s: [] for s in SIGNALS}
        self.lock = threading.Lock()
        reference = self

        def servicer(base, signal):
            class Servicer(base):
                def Export(self, request, context):  # noqa: N802 - the gRPC method name
                    with reference.lock:
                        reference.got[signal].append(request)
                    return RESPONSE_TYPES[signal]()

            return Servicer()

        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer(trace_service_pb2_grpc.TraceServiceServicer, "traces"), self.grpc)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(servicer(metrics_service_pb2_grpc.MetricsServiceServicer, "metrics"), self.grpc)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(servicer(logs_service_pb2_grpc.LogsServiceServicer, "logs"), self.grpc)
        self.grpc_port = self.grpc.add_insecure_port("127.0.0.1:0")
        self.grpc.start()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server hook
                signal = self.path.rsplit("/", 1)[-1]
                if self.path != f"/v1/{signal}" or signal not in SIGNALS:
                    return self.answer(404, "text/plain", b"unknown path")
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "identity")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding.lower() == "lz4":
                    body = lz4.frame.decompress(body)
                elif encoding != "identity":
                    return self.answer(415, "text/plain", f"unsupported encoding {encoding}".encode())
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                if content_type == "application/x-protobuf":
                    message = REQUEST_TYPES[signal].FromString(body)
                    reply = RESPONSE_TYPES[signal]().SerializeToString()
                elif content_type == "application/json":
                    import json

                    _, message = parse_otlp_json(json.loads(body))
                    message = message or REQUEST_TYPES[signal]()
                    reply = b"{}"
                else:
                    return self.answer(415, "text/plain", f"unsupported type {content_type}".encode())
                with reference.lock:
                    reference.got[signal].append(message)
                self.answer(200, content_type, reply)

            def answer(self, status, content_type, body):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http_port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def take(self) -> dict[str, list]:
        with self.lock:
            got, self.got = self.got, {s: [] for s in SIGNALS}
        return got

    def stop(self):
        self.grpc.stop(grace=None)
        self.http.shutdown()


# --- suites ----------------------------------------------------------------------


def sdk_to_serve(binary: str, work: Path) -> int:
    total = 0
    for protocol in ("grpc", "http/protobuf"):
        out = work / f"serve-{protocol.replace('/', '-')}.jsonl"
        serve = Otlp(binary, ["serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--out", str(out)])
        try:
            endpoint = serve.addresses["gRPC"] if protocol == "grpc" else f"http://{serve.addresses['HTTP']}"
            sent = run_sdk(protocol, endpoint if protocol != "grpc" else f"http://{endpoint}")
        finally:
            serve.stop()
        got = read_json_lines(out)
        for signal in SIGNALS:
            total += compare(f"Python SDK {protocol} -> otlp serve", signal, sent[signal], got[signal])
    return total


def sdk_requests() -> dict[str, list]:
    """The requests the SDK exporters encode, checked against what the
    reference receiver decodes of them."""
    sdk_reference = Reference()
    try:
        sent = run_sdk("grpc", f"http://127.0.0.1:{sdk_reference.grpc_port}")
        compare_all = sdk_reference.take()
        for signal in SIGNALS:
            compare("Python SDK grpc -> reference receiver (self-check)", signal, sent[signal], compare_all[signal])
    finally:
        sdk_reference.stop()
    return sent


def send_to_reference(binary: str, work: Path) -> int:
    """Replays files the Python encoders wrote with `otlp send`, over every protocol."""
    sent = sdk_requests()

    total = 0
    reference = Reference()
    try:
        import json

        for signal in SIGNALS:
            pb = work / f"{signal}.pb"
            merged = REQUEST_TYPES[signal]()
            for request in sent[signal]:
                merged.MergeFrom(request)
            pb.write_bytes(merged.SerializeToString())
            as_json = work / f"{signal}.json"
            as_json.write_text(json.dumps(to_otlp_json(merged)))
            for protocol, compression, file in (
                ("grpc", "gzip", pb),
                ("grpc", "none", as_json),
                ("http/protobuf", "gzip", pb),
                ("http/protobuf", "none", pb),
                ("http/json", "none", as_json),
                ("http/json", "gzip", pb),
                ("http/protobuf", "lz4", pb),
                ("http/json", "lz4", as_json),
            ):
                endpoint = (
                    f"http://127.0.0.1:{reference.grpc_port}" if protocol == "grpc"
                    else f"http://127.0.0.1:{reference.http_port}"
                )
                command = [binary, "send", "--endpoint", endpoint, "--protocol", protocol,
                           "--compression", compression, "--file", str(file)]
                result = subprocess.run(command, capture_output=True, text=True, timeout=WAIT)
                if result.returncode != 0:
                    raise Failure(f"{' '.join(command)} failed: {result.stderr}")
                got = reference.take()
                total += compare(f"otlp send {protocol} {compression} {file.suffix} -> reference", signal, [merged], got[signal])
    finally:
        reference.stop()
    return total


def lz4_to_serve(binary: str, work: Path) -> int:
    """Posts `lz4.frame`-compressed requests to `otlp serve`, in the shapes
    that writers give LZ4 frames."""
    import json
    import urllib.request

    sent = sdk_requests()
    shapes = {
        # python-lz4's defaults: 64 KiB linked blocks, no checksum.
        "lz4.frame defaults": {},
        # What pierrec/lz4 (the Collector's) writes: 4 MiB independent blocks,
        # a content checksum; here with the content size and block checksums too.
        "4 MiB independent blocks, checksums": {
            "block_size": lz4.frame.BLOCKSIZE_MAX4MB,
            "block_linked": False,
            "content_checksum": True,
            "block_checksum": True,
            "store_size": True,
        },
    }
    out = work / "serve-lz4.jsonl"
    serve = Otlp(binary, ["serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--out", str(out)])
    expected: dict[str, list] = {s: [] for s in SIGNALS}
    try:
        for signal in SIGNALS:
            merged = REQUEST_TYPES[signal]()
            for request in sent[signal]:
                merged.MergeFrom(request)
            bodies = [("application/x-protobuf", merged.SerializeToString())]
            bodies.append(("application/json", json.dumps(to_otlp_json(merged)).encode()))
            for shape, options in shapes.items():
                for content_type, body in bodies:
                    post = urllib.request.Request(
                        f"http://{serve.addresses['HTTP']}/v1/{signal}",
                        data=lz4.frame.compress(body, **options),
                        headers={"Content-Type": content_type, "Content-Encoding": "lz4"},
                        method="POST",
                    )
                    try:
                        with urllib.request.urlopen(post, timeout=WAIT) as answer:
                            status = answer.status
                    except urllib.error.HTTPError as error:
                        raise Failure(f"lz4 ({shape}) {content_type} -> otlp serve: HTTP {error.code}: "
                                      f"{error.read()[:200]!r}") from error
                    if status != 200:
                        raise Failure(f"lz4 ({shape}) {content_type} -> otlp serve: HTTP {status}")
                    expected[signal].append(merged)
    finally:
        serve.stop()
    got = read_json_lines(out)
    total = 0
    for signal in SIGNALS:
        total += compare("Python lz4.frame -> otlp serve", signal, expected[signal], got[signal])
    return total


def relay(binary: str, work: Path) -> int:
    total = 0
    reference = Reference()
    try:
        for to_protocol in ("grpc", "http/protobuf"):
            to = f"http://127.0.0.1:{reference.grpc_port if to_protocol == 'grpc' else reference.http_port}"
            relay = Otlp(binary, ["relay", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                  "--to", to, "--protocol", to_protocol])
            try:
                sent = run_sdk("http/protobuf", f"http://{relay.addresses['HTTP']}")
            finally:
                relay.stop()
            got = reference.take()
            for signal in SIGNALS:
                total += compare(f"Python SDK -> otlp relay -> {to_protocol} reference", signal, sent[signal], got[signal])
    finally:
        reference.stop()
    return total


SUITES = {
    "sdk-to-serve": sdk_to_serve,
    "send-to-reference": send_to_reference,
    "lz4-to-serve": lz4_to_serve,
    "relay": relay,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--otlp", required=True, help="path to the otlp binary")
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of {', '.join(SUITES)} (default: all)")
    args = parser.parse_args()
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite {unknown[0]}: choose from {', '.join(SUITES)}")
    binary = os.path.abspath(args.otlp)
    with tempfile.TemporaryDirectory(prefix="otlp-conformance-") as work:
        try:
            for suite in args.suites or SUITES:
                total = SUITES[suite](binary, Path(work))
                print(f"ok  {suite}: {total} records compared", flush=True)
        except Failure as failure:
            print(f"FAIL {failure}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
