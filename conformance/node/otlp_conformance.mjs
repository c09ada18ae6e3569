// Conformance of `otlp serve` with the official OpenTelemetry JavaScript SDK.
//
// For each protocol the JS SDK exports over (OTLP/HTTP JSON, OTLP/HTTP
// protobuf, OTLP/gRPC), uncompressed and gzip, the SDK's own exporters send
// spans, metrics and logs to `otlp serve`; what `otlp serve` wrote (OTLP/JSON
// lines, `--out FILE`) is compared record by record with the exact request
// bodies the exporters encoded (each exporter's own serializer, called on the
// same batch). Every line `otlp serve` wrote must also keep the OTLP/JSON
// output rules (lowerCamelCase keys, integer enums, 64-bit integers as
// strings, hex ids). Records are compared in a canonical form read with the
// repository's own .proto files (proto/).
//
// Usage: node conformance/node/otlp_conformance.mjs --otlp target/debug/otlp
// (after `npm ci` in conformance/node). Every wait is bounded; a failure exits
// with status 1 and says which records differ.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import protobuf from "protobufjs";

// The exporters read their configuration from the environment; only what this
// script passes must count. gRPC would also honour proxy variables.
for (const name of Object.keys(process.env)) {
  if (/^OTEL_|^(grpc|https?|all)_proxy$/i.test(name)) delete process.env[name];
}

const api = await import("@opentelemetry/api");
const { resourceFromAttributes } = await import("@opentelemetry/resources");
const { TracerProvider, BatchSpanProcessor, SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace");
const { MeterProvider, PeriodicExportingMetricReader, AggregationType } = await import(
  "@opentelemetry/sdk-metrics"
);
const { LoggerProvider, BatchLogRecordProcessor } = await import("@opentelemetry/sdk-logs");

const { ROOT_CONTEXT, SpanKind, SpanStatusCode, SeverityNumber, ValueType, trace } = api;

// What the SDK complains about (a response it cannot parse, an export
// error, a value it had to drop) fails the suite: a receiver that answers
// wrongly must not pass because the exporter only logged it.
const complaints = [];
// The crowded span and log record go past the SDK's limits on purpose.
const EXPECTED_COMPLAINT = /^Dropping extra attributes\.$|^Dropped \d+ (events|links) because (event|link)CountLimit reached$/;
const complain = (level) => (...args) => {
  const text = args.join(" ");
  if (!EXPECTED_COMPLAINT.test(text)) complaints.push(`${level}: ${text}`);
};
api.diag.setLogger(
  {
    error: complain("error"),
    warn: complain("warn"),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  },
  api.DiagLogLevel.WARN,
);

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROTO_DIR = path.resolve(HERE, "../../proto");
const SIGNALS = ["traces", "metrics", "logs"];
const WAIT_MS = 30_000; // the bound of every single wait
const WATCHDOG_MS = 150_000; // the bound of the whole run

class Failure extends Error {}

// --- the OTLP schema, from the repository's vendored .proto files ----------------

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
root.loadSync(
  ["trace", "metrics", "logs"].map((s) => `opentelemetry/proto/collector/${s}/v1/${s}_service.proto`),
  { keepCase: false },
);
root.resolveAll();
const REQUEST = {
  traces: root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"),
  metrics: root.lookupType("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest"),
  logs: root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest"),
};
const TOP_KEYS = { resourceSpans: "traces", resourceMetrics: "metrics", resourceLogs: "logs" };
const ID_KEYS = new Set(["traceId", "spanId", "parentSpanId"]);
const UNSIGNED = new Set(["uint64", "fixed64"]);
const LONGS = new Set(["int64", "sint64", "sfixed64", "uint64", "fixed64"]);

/** OTLP/JSON writes trace and span ids as hex; the proto3 JSON mapping (and
 * protobufjs) as base64. */
function hexIdsToBase64(value) {
  if (Array.isArray(value)) return value.map(hexIdsToBase64);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [key, item] of Object.entries(value)) {
    if (ID_KEYS.has(key) && typeof item === "string") {
      if (!/^([0-9a-fA-F]{2})*$/.test(item)) throw new Failure(`${key} ${JSON.stringify(item)} is not hex`);
      out[key] = Buffer.from(item, "hex").toString("base64");
    } else {
      out[key] = hexIdsToBase64(item);
    }
  }
  return out;
}

/** An OTLP/JSON request object as [signal, protobufjs message]. */
function fromOtlpJson(obj) {
  const key = Object.keys(obj).find((k) => k in TOP_KEYS);
  // An empty request has no top-level key: it holds no records.
  if (key === undefined) return [null, null];
  const signal = TOP_KEYS[key];
  return [signal, REQUEST[signal].fromObject(hexIdsToBase64(obj))];
}

/** Where `value`, written by `otlp serve` as a `type`, breaks the OTLP/JSON
 * rules for output: keys lowerCamelCase field names, enums integers, 64-bit
 * integers decimal strings, trace and span ids lowercase hex, other bytes
 * base64. */
function otlpJsonProblem(type, value, where) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return `${where}: not an object`;
  for (const [key, item] of Object.entries(value)) {
    const field = type.fields[key];
    const at = `${where}.${key}`;
    if (!field) return `${at}: not a field of ${type.name} in lowerCamelCase`;
    if (field.repeated && !Array.isArray(item)) return `${at}: not an array`;
    for (const element of field.repeated ? item : [item]) {
      const problem = fieldProblem(field, element, at);
      if (problem) return problem;
    }
  }
  return null;
}

function fieldProblem(field, value, at) {
  const wrong = (what) => `${at}: ${JSON.stringify(value)} is not ${what}`;
  if (field.resolvedType instanceof protobuf.Type) return otlpJsonProblem(field.resolvedType, value, at);
  if (field.resolvedType instanceof protobuf.Enum) return Number.isInteger(value) ? null : wrong("an integer (enums are integers)");
  if (LONGS.has(field.type)) return typeof value === "string" && /^-?\d+$/.test(value) ? null : wrong("a decimal string");
  if (field.type === "bytes") {
    if (ID_KEYS.has(field.name)) return /^([0-9a-f]{2})*$/.test(value) ? null : wrong("lowercase hex");
    return typeof value === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(value) ? null : wrong("base64");
  }
  if (field.type === "double" || field.type === "float") {
    return typeof value === "number" || ["NaN", "Infinity", "-Infinity"].includes(value) ? null : wrong("a number");
  }
  if (field.type === "bool") return typeof value === "boolean" ? null : wrong("a boolean");
  if (field.type === "string") return typeof value === "string" ? null : wrong("a string");
  return Number.isInteger(value) ? null : wrong("an integer");
}

function isDefault(value) {
  if (typeof value === "object" && value !== null) return Object.keys(value).length === 0;
  return value === 0 || value === "0" || value === "" || value === false;
}

/** A message as a plain object in one canonical form: fields in number order,
 * 64-bit integers as decimal strings, bytes as base64, enums as integers, and
 * default values left out — except oneof members and proto3 `optional`
 * fields, whose presence is data, and elements of repeated fields. Two
 * messages with equal canonical forms encode the same protobuf. */
function canonical(type, message) {
  const out = {};
  for (const field of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    const value = message[field.name];
    if (value === null || value === undefined) continue;
    const present = field.partOf != null;
    if (present && !Object.prototype.hasOwnProperty.call(message, field.name)) continue;
    let item;
    if (field.repeated) {
      item = value.map((element) => canonicalValue(field, element));
      if (item.length === 0) continue;
    } else {
      item = canonicalValue(field, value);
      if (!present && isDefault(item)) continue;
    }
    out[field.name] = item;
  }
  return out;
}

function canonicalValue(field, value) {
  if (field.resolvedType instanceof protobuf.Type) return canonical(field.resolvedType, value);
  if (LONGS.has(field.type)) {
    const long = typeof value === "number" || typeof value === "string"
      ? protobuf.util.Long.fromValue(value)
      : protobuf.util.Long.fromBits(value.low, value.high, value.unsigned);
    return (UNSIGNED.has(field.type) ? long.toUnsigned() : long.toSigned()).toString();
  }
  if (field.type === "bytes") return Buffer.from(value).toString("base64");
  // A lone UTF-16 surrogate (from a JS string cut inside a pair) is U+FFFD,
  // as the SDK's own protobuf encoder sends it.
  if (typeof value === "string") return value.toWellFormed();
  // JSON.stringify writes NaN and ±Infinity all as null, and -0 as 0.
  if (typeof value === "number" && (!Number.isFinite(value) || Object.is(value, -0))) return String(Object.is(value, -0) ? "-0" : value);
  return value;
}

/** Every record of the requests with its resource and scope, canonically
 * serialised, sorted: two lists are equal when the same records arrived. */
function records(signal, requests) {
  const out = [];
  for (const request of requests) {
    const c = canonical(REQUEST[signal], request);
    for (const [resourceKey, scopeKey, recordKey] of [
      ["resourceSpans", "scopeSpans", "spans"],
      ["resourceLogs", "scopeLogs", "logRecords"],
      ["resourceMetrics", "scopeMetrics", "metrics"],
    ]) {
      for (const r of c[resourceKey] ?? []) {
        for (const s of r[scopeKey] ?? []) {
          const head = [r.resource ?? {}, r.schemaUrl ?? "", s.scope ?? {}, s.schemaUrl ?? ""];
          for (const record of s[recordKey] ?? []) {
            if (recordKey !== "metrics") {
              out.push(JSON.stringify([...head, record]));
              continue;
            }
            // One record per data point, with its metric's description.
            const kind = ["gauge", "sum", "histogram", "exponentialHistogram", "summary"].find((k) => k in record);
            if (kind === undefined) {
              out.push(JSON.stringify([...head, record]));
              continue;
            }
            for (const point of record[kind].dataPoints ?? [{}]) {
              const one = { ...record, [kind]: { ...record[kind], dataPoints: [point] } };
              out.push(JSON.stringify([...head, one]));
            }
          }
        }
      }
    }
  }
  return out.sort();
}

function counts(list) {
  const map = new Map();
  for (const item of list) map.set(item, (map.get(item) ?? 0) + 1);
  return map;
}

function compare(what, signal, sent, got) {
  const expected = records(signal, sent);
  const actual = records(signal, got);
  if (expected.length === 0) throw new Failure(`${what}: nothing was sent for ${signal}; the suite is broken`);
  const same = expected.length === actual.length && expected.every((r, i) => r === actual[i]);
  if (!same) {
    const have = counts(actual);
    const want = counts(expected);
    const missing = [];
    const extra = [];
    for (const [r, n] of want) for (let i = have.get(r) ?? 0; i < n; i++) missing.push(r);
    for (const [r, n] of have) for (let i = want.get(r) ?? 0; i < n; i++) extra.push(r);
    const recordType = { traces: "Span", logs: "LogRecord", metrics: "Metric" }[signal];
    let detail = "";
    for (const [label, rows] of [["missing", missing.slice(0, 2)], ["unexpected", extra.slice(0, 2)]]) {
      for (const row of rows) detail += `\n  ${label} ${recordType}: ${JSON.stringify(JSON.parse(row).at(-1))}`;
    }
    throw new Failure(
      `${what}: ${signal}: sent ${expected.length} records, got ${actual.length}; ` +
        `${missing.length} missing, ${extra.length} unexpected${detail}`,
    );
  }
  console.log(`ok  ${what}: ${signal}: ${expected.length} records identical`);
  return expected.length;
}

// --- bounded waits and children ---------------------------------------------------

function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  const failed = (error) => {
    throw error instanceof Failure ? error : new Failure(`${what} failed: ${error?.message ?? error}`);
  };
  return Promise.race([promise, timeout]).catch(failed).finally(() => clearTimeout(timer));
}

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** `otlp serve` in the background, with its listening addresses. */
class Serve {
  static LISTENING = /OTLP\/(gRPC|HTTP|WebSocket) on (\S+)/;

  static async start(binary, out) {
    const serve = new Serve();
    serve.stderr = [];
    serve.addresses = {};
    serve.process = spawn(binary, ["serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--out", out], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(serve.process);
    serve.stdout = "";
    serve.process.stdout.setEncoding("utf8").on("data", (chunk) => (serve.stdout += chunk));
    serve.exited = new Promise((resolve) => serve.process.on("exit", (code, signal) => resolve({ code, signal })));
    serve.spawnError = new Promise((_, reject) =>
      serve.process.on("error", (error) => reject(new Failure(`cannot run ${binary}: ${error.message}`))),
    );
    serve.spawnError.catch(() => {});
    const listening = new Promise((resolve, reject) => {
      // The rest of stderr keeps being read, so the child never blocks on a full pipe.
      createInterface({ input: serve.process.stderr }).on("line", (line) => {
        serve.stderr.push(line);
        const match = Serve.LISTENING.exec(line);
        if (match) serve.addresses[match[1]] = match[2];
        if (serve.addresses.gRPC && serve.addresses.HTTP) resolve();
      });
      serve.exited.then(() => reject(new Failure(`\`otlp serve\` exited: ${serve.stderr.join("\n")}`)));
    });
    try {
      await within(WAIT_MS, "`otlp serve` saying where it listens", Promise.race([listening, serve.spawnError]));
    } catch (error) {
      serve.process.kill("SIGKILL");
      throw error;
    }
    return serve;
  }

  /** Ctrl-C, as a user would: the command drains, writes and exits. */
  async stop() {
    this.process.kill("SIGINT");
    let status;
    try {
      status = await within(WAIT_MS, "`otlp serve` stopping after Ctrl-C", this.exited);
    } catch (error) {
      this.process.kill("SIGKILL");
      throw error;
    } finally {
      children.delete(this.process);
    }
    if (status.code !== 0) {
      throw new Failure(`\`otlp serve\` exit status ${status.code ?? status.signal}: ${this.stderr.join("\n")}`);
    }
  }
}

function readJsonLines(file) {
  const got = { traces: [], metrics: [], logs: [] };
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((line, index) => {
      if (!line.trim()) return;
      let signal, message, problem;
      try {
        const obj = JSON.parse(line);
        [signal, message] = fromOtlpJson(obj);
        problem = signal && otlpJsonProblem(REQUEST[signal], obj, "request");
      } catch (error) {
        throw new Failure(`${file}:${index + 1}: not an OTLP/JSON request: ${error.message}`);
      }
      if (problem) throw new Failure(`${file}:${index + 1}: breaks the OTLP/JSON rules: ${problem}`);
      if (signal) got[signal].push(message);
    });
  return got;
}

// --- the OpenTelemetry JavaScript SDK ------------------------------------------------

const PROTOCOLS = {
  "http/json": { suffix: "http", serializer: "Json", decode: (signal, body) => fromOtlpJson(JSON.parse(Buffer.from(body).toString("utf8")))[1] },
  "http/protobuf": { suffix: "proto", serializer: "Protobuf", decode: (signal, body) => REQUEST[signal].decode(body) },
  grpc: { suffix: "grpc", serializer: "Protobuf", decode: (signal, body) => REQUEST[signal].decode(body) },
};
const EXPORTER = { traces: "OTLPTraceExporter", metrics: "OTLPMetricExporter", logs: "OTLPLogExporter" };
const SERIALIZER = { traces: "TraceSerializer", metrics: "MetricsSerializer", logs: "LogsSerializer" };
const PACKAGE = { traces: "trace", metrics: "metrics", logs: "logs" };
const requireHere = createRequire(import.meta.url);

/** The SDK exporter for `signal` over `protocol`, and the serializer that very
 * exporter encodes its requests with (resolved from the exporter's own
 * dependencies, so a nested copy is the one used). */
async function exporterFor(protocol, compression, signal, addresses) {
  const { suffix, serializer } = PROTOCOLS[protocol];
  const name = `@opentelemetry/exporter-${PACKAGE[signal]}-otlp-${suffix}`;
  const module = await import(name);
  const transformer = createRequire(requireHere.resolve(name))("@opentelemetry/otlp-transformer");
  const url = protocol === "grpc" ? `http://${addresses.gRPC}` : `http://${addresses.HTTP}/v1/${signal}`;
  const options = { url, compression };
  if (signal === "metrics") {
    // Cumulative sums uncompressed, delta with gzip: both temporalities arrive.
    // The proto and gRPC packages use the enum of the HTTP one without exporting it.
    const { DELTA, CUMULATIVE } = (await import("@opentelemetry/exporter-metrics-otlp-http")).AggregationTemporalityPreference;
    options.temporalityPreference = compression === "gzip" ? DELTA : CUMULATIVE;
  }
  return { exporter: new module[EXPORTER[signal]](options), serializer: transformer[`${serializer}${SERIALIZER[signal]}`] };
}

/** An exporter that records the request body its inner exporter sends (the
 * inner exporter's own serializer on the same batch), then lets it send. */
function capturing(inner, serializer, bodies, failures, what) {
  const wrapper = {
    export(batch, done) {
      bodies.push(serializer.serializeRequest(batch));
      inner.export(batch, (result) => {
        if (result.code !== 0) failures.push(`${what}: ${result.error?.message ?? `code ${result.code}`}`);
        done(result);
      });
    },
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    shutdown: () => inner.shutdown(),
  };
  if (inner.selectAggregationTemporality) {
    wrapper.selectAggregationTemporality = (type) => inner.selectAggregationTemporality(type);
  }
  if (inner.selectAggregation) wrapper.selectAggregation = (type) => inner.selectAggregation(type);
  return wrapper;
}

const T0 = 1_700_000_000; // seconds: every timestamp is explicit, so runs repeat
const SCHEMA = "https://opentelemetry.io/schemas/1.26.0";

async function runSdk(protocol, compression, addresses) {
  const bodies = { traces: [], metrics: [], logs: [] };
  const failures = [];
  const exporters = {};
  for (const signal of SIGNALS) {
    const { exporter, serializer } = await exporterFor(protocol, compression, signal, addresses);
    exporters[signal] = capturing(exporter, serializer, bodies[signal], failures, `${signal} export`);
  }
  const resource = resourceFromAttributes(
    { "service.name": `conformance-${protocol}-${compression}`, "service.version": "1.2.3", "host.id": 42 },
    { schemaUrl: "https://opentelemetry.io/schemas/1.25.0" },
  );

  // Spans: every attribute type, events, links, status, kinds, parent/child,
  // a remote parent with a trace state.
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [
      new BatchSpanProcessor({ exporter: exporters.traces, maxExportBatchSize: 64, scheduledDelayMillis: 50, maxQueueSize: 4096 }),
    ],
  });
  let tracer = tracerProvider.getTracer("conformance.tracer", "0.1.0", { schemaUrl: SCHEMA });
  const remote = {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: api.TraceFlags.SAMPLED,
    traceState: api.createTraceState("vendor=value,other=1"),
    isRemote: true,
  };
  const kinds = [SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER];
  for (let t = 0; t < 40; t++) {
    const parent = t % 8 === 7 ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
    const rootSpan = tracer.startSpan(
      `GET /orders/${t}`,
      {
        kind: SpanKind.SERVER,
        startTime: [T0 + t, 0],
        attributes: {
          "http.request.method": "GET",
          "http.response.status_code": 200,
          ratio: 0.25,
          negative: -42,
          big: 9007199254740991,
          cached: t % 2 === 0,
          tags: ["a", "b"],
          codes: [1, 2, 3],
          weights: [0.5, 1.5],
          flags: [true, false],
          empty: "",
          unicode: 'żółw 🐢 "quoted"\n\t\\',
          nan: NaN,
          infinity: -Infinity,
          holes: ["a", null, "b"],
        },
      },
      parent,
    );
    rootSpan.addEvent("request.received", { size: 1024, path: "/orders" }, [T0 + t, 1_000]);
    rootSpan.addEvent("no.attributes", [T0 + t, 2_000]);
    const context = trace.setSpan(ROOT_CONTEXT, rootSpan);
    for (let c = 0; c < 4; c++) {
      const links =
        c === 2
          ? [
              { context: rootSpan.spanContext(), attributes: { "link.kind": "parent-copy" } },
              { context: remote, attributes: { "link.kind": "remote", n: c } },
            ]
          : [];
      const child = tracer.startSpan(
        `child-${c}`,
        { kind: kinds[c], links, startTime: [T0 + t, 10_000 * (c + 1)] },
        context,
      );
      child.setAttribute("child.index", c);
      if (c === 3 && t % 5 === 0) {
        child.setStatus({ code: SpanStatusCode.ERROR, message: "payment declined" });
        child.recordException({ name: "ValueError", message: "declined", stack: "at pay (pay.js:1:1)" }, [T0 + t, 40_500]);
      }
      child.end([T0 + t, 10_000 * (c + 1) + 5_000]);
    }
    rootSpan.setStatus({ code: SpanStatusCode.OK });
    rootSpan.end([T0 + t, 900_000_000]);
  }
  // Past the SDK's limits (128 attributes, events, links): dropped counts.
  const crowded = tracer.startSpan("crowded", { startTime: [T0 + 50, 0] }, ROOT_CONTEXT);
  for (let n = 0; n < 130; n++) {
    crowded.setAttribute(`attribute.${n}`, n);
    crowded.addEvent(`event.${n}`, [T0 + 50, n]);
    crowded.addLink({ context: remote, attributes: { n } });
  }
  crowded.end([T0 + 51, 0]);
  // A second scope, with neither version nor schema URL; a span with no name.
  tracer = tracerProvider.getTracer("conformance.tracer.bare");
  tracer.startSpan("", { startTime: [T0 + 60, 0] }, ROOT_CONTEXT).end([T0 + 60, 1]);

  // Logs: every body type, severities, event names, trace context.
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ exporter: exporters.logs, maxExportBatchSize: 50, scheduledDelayMillis: 50, maxQueueSize: 4096 })],
  });
  const logger = loggerProvider.getLogger("conformance.logger", "0.2.0", { schemaUrl: SCHEMA });
  const severities = [
    [SeverityNumber.INFO, "INFO"],
    [SeverityNumber.WARN, "WARN"],
    [SeverityNumber.ERROR, "ERROR"],
    [SeverityNumber.DEBUG, "DEBUG"],
    [SeverityNumber.FATAL4, "FATAL4"],
  ];
  for (let n = 0; n < 120; n++) {
    // Every other record is emitted inside a span, so it carries its ids.
    const span = n % 2 ? tracer.startSpan(`log-${n}`, { startTime: [T0 + 100 + n, 0] }) : undefined;
    const bodies = [
      {
        message: `order ${n} processed`,
        items: [n, "x", 1.5, null, true, new Uint8Array([0, 255])],
        raw: new Uint8Array([0, 255, 16]),
        nested: { deep: { level: 3, ok: false } },
        empty: {},
      },
      `order ${n} processed`,
      new Uint8Array([n & 0xff, 0, 255]),
      n * 1000,
      n + 0.5,
      n % 4 === 0,
      ["list", n, 2.5, false, ["nested"]],
    ];
    const [severityNumber, severityText] = severities[n % severities.length];
    logger.emit({
      timestamp: [T0 + 100 + n, 1_000],
      observedTimestamp: [T0 + 100 + n, 500_000],
      severityNumber,
      severityText,
      body: bodies[n % bodies.length],
      attributes: { "order.id": n, amount: n * 1.25, ok: n % 2 === 0, region: "eu-west-1", sizes: [1, 2] },
      eventName: n % 10 === 0 ? "order.processed" : undefined,
      context: span ? trace.setSpan(ROOT_CONTEXT, span) : undefined,
    });
    span?.end([T0 + 100 + n, 2_000]);
  }
  // Map and bytes attributes (logs take any value); a record with nothing but
  // attributes (the SDK stamps the observed time).
  logger.emit({
    timestamp: [T0 + 299, 0],
    attributes: {
      map: { a: 1, b: ["x", { c: true }] },
      payload: new Uint8Array([1, 2, 254]),
      none: null,
      cut: "emoji \ud83d",
    },
  });
  // Past the SDK's limit of 128 attributes: a dropped count.
  logger.emit({
    timestamp: [T0 + 300, 0],
    body: "crowded",
    attributes: Object.fromEntries(Array.from({ length: 130 }, (_, n) => [`attribute.${n}`, n])),
  });
  // A burst: one export per span, all in flight at once (up to the exporters'
  // limit of 30 concurrent requests), on a provider of its own whose length
  // limit cuts an attribute inside a surrogate pair (JS strings are UTF-16):
  // OTLP/JSON then carries a lone surrogate escape.
  const burst = await exporterFor(protocol, compression, "traces", addresses);
  const burstProvider = new TracerProvider({
    resource,
    spanLimits: { attributeValueLengthLimit: 7 },
    spanProcessors: [
      new SimpleSpanProcessor({ exporter: capturing(burst.exporter, burst.serializer, bodies.traces, failures, "burst export") }),
    ],
  });
  const burstTracer = burstProvider.getTracer("conformance.burst", "0.4.0");
  for (let n = 0; n < 25; n++) {
    burstTracer.startSpan(`burst-${n}`, { startTime: [T0 + 400, n], attributes: { n, emoji: "turtle🐢" } }, ROOT_CONTEXT).end([T0 + 400, n + 1]);
  }
  await within(WAIT_MS, `${protocol} burst force-flush`, burstProvider.forceFlush());
  await within(WAIT_MS, `${protocol} burst shutdown`, burstProvider.shutdown());

  await within(WAIT_MS, `${protocol} logs force-flush`, loggerProvider.forceFlush());
  await within(WAIT_MS, `${protocol} spans force-flush`, tracerProvider.forceFlush());
  await within(WAIT_MS, `${protocol} logs shutdown`, loggerProvider.shutdown());
  await within(WAIT_MS, `${protocol} spans shutdown`, tracerProvider.shutdown());

  // Metrics: counters, up-down counters, histograms (explicit and exponential),
  // gauges, observable instruments, all with attributes.
  const reader = new PeriodicExportingMetricReader({
    exporter: exporters.metrics,
    exportIntervalMillis: 60_000,
    exportTimeoutMillis: WAIT_MS,
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [reader],
    views: [{ instrumentName: "latency.exponential", aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = meterProvider.getMeter("conformance.meter", "0.3.0", { schemaUrl: SCHEMA });
  const counter = meter.createCounter("requests", { unit: "1", description: "requests served" });
  const bytes = meter.createCounter("bytes", { unit: "By", valueType: ValueType.INT });
  const updown = meter.createUpDownCounter("queue.depth", { unit: "{item}" });
  const histogram = meter.createHistogram("latency", {
    unit: "ms",
    description: "request latency",
    advice: { explicitBucketBoundaries: [0, 5, 10, 25, 50, 100] },
  });
  const exponential = meter.createHistogram("latency.exponential", { unit: "ms" });
  const gauge = meter.createGauge("temperature", { unit: "Cel" });
  meter.createObservableGauge("cpu.usage").addCallback((result) => result.observe(0.42, { cpu: 0 }));
  meter.createObservableCounter("uptime", { valueType: ValueType.INT }).addCallback((result) => result.observe(123));
  meter.createObservableUpDownCounter("connections").addCallback((result) => result.observe(-7, { pool: "a" }));
  for (let n = 0; n < 50; n++) {
    const attributes = { route: `/r${n % 3}`, method: n % 2 ? "GET" : "POST" };
    counter.add(n + 1.5, attributes);
    bytes.add(n * 1024, { direction: n % 2 ? "in" : "out" });
    updown.add(5 - (n % 7), attributes);
    histogram.record(n * 3.7, attributes);
    exponential.record(n % 5 === 0 ? 0 : n * 0.3, { route: `/r${n % 2}` });
    gauge.record(20 + (n % 5), { room: `r${n % 2}` });
  }
  await within(WAIT_MS, `${protocol} metrics force-flush`, meterProvider.forceFlush());
  await within(WAIT_MS, `${protocol} metrics shutdown`, meterProvider.shutdown());

  if (failures.length) {
    throw new Failure(`the SDK exporters failed to export over ${protocol}: ${failures.slice(0, 3).join("; ")}`);
  }
  if (complaints.length) {
    throw new Failure(`the SDK logged ${complaints.length} complaints over ${protocol} ${compression}: ${complaints.slice(0, 3).join("; ")}`);
  }
  const sent = {};
  for (const signal of SIGNALS) sent[signal] = bodies[signal].map((body) => PROTOCOLS[protocol].decode(signal, body));
  return sent;
}

// --- the suite ------------------------------------------------------------------------

async function sdkToServe(binary, work) {
  let total = 0;
  for (const [protocol, compression] of Object.keys(PROTOCOLS).flatMap((p) => [[p, "none"], [p, "gzip"]])) {
    const out = path.join(work, `serve-${protocol.replace("/", "-")}-${compression}.jsonl`);
    const serve = await Serve.start(binary, out);
    let sent;
    try {
      sent = await runSdk(protocol, compression, serve.addresses);
    } finally {
      await serve.stop();
    }
    const what = `JS SDK ${protocol} ${compression}`;
    checkCoverage(what, compression, sent);
    if (total === 0) selfCheck(sent);
    const got = readJsonLines(out);
    for (const signal of SIGNALS) total += compare(`${what} -> otlp serve`, signal, sent[signal], got[signal]);
  }
  return total;
}

/** What the SDK sent must hold every form this suite means to cover: a
 * newer SDK that stopped producing one would otherwise pass unnoticed. */
const COVERAGE = {
  traces: ["turtle\ufffd", '"droppedAttributesCount":2', '"droppedEventsCount":2', '"droppedLinksCount":2', '"parentSpanId"', '"links"', '"events"', '"traceState"', '"status":{"message"', '"code":1', '"arrayValue"', '"doubleValue"', '"boolValue"', '"intValue":"-42"', ...[1, 2, 3, 4, 5].map((k) => `"kind":${k}`)],
  metrics: ['"sum"', '"isMonotonic":true', '"gauge"', '"histogram"', '"exponentialHistogram"', '"asInt"', '"asDouble"', '"bucketCounts"', '"explicitBounds"', '"zeroCount"'],
  logs: ["emoji \ufffd", '"droppedAttributesCount":2', '"kvlistValue"', '"bytesValue"', '"arrayValue"', '"body":{"stringValue"', '"body":{"intValue"', '"body":{"doubleValue"', '"body":{"boolValue"', '"eventName"', '"traceId"', '"severityNumber":24', '"observedTimeUnixNano"', "{}"],
};

function checkCoverage(what, compression, sent) {
  const temporality = `"aggregationTemporality":${compression === "gzip" ? 1 : 2}`;
  for (const signal of SIGNALS) {
    const text = records(signal, sent[signal]).join("\n");
    const needles = signal === "metrics" ? [...COVERAGE[signal], temporality] : COVERAGE[signal];
    const absent = needles.filter((needle) => !text.includes(needle));
    if (absent.length) throw new Failure(`${what}: the ${signal} sent lack ${absent.join(", ")}; the suite is broken`);
  }
}

/** The checks themselves must be able to fail: one changed attribute value in
 * one record is reported, and so are enum names and numeric 64-bit integers. */
function selfCheck(sent) {
  for (const span of [{ kind: "SPAN_KIND_SERVER" }, { startTimeUnixNano: 1 }, { traceId: "AAECAwQFBgcICQoLDA0ODw==" }, { span_id: "00" }]) {
    const request = { resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] };
    if (!otlpJsonProblem(REQUEST.traces, request, "request")) {
      throw new Failure(`self-check: ${JSON.stringify(span)} passed the OTLP/JSON rules; the suite is broken`);
    }
  }
  console.log("ok  self-check: enum names, numeric 64-bit integers, base64 ids and snake_case keys break the OTLP/JSON rules");
  const changed = sent.logs.map((request) => structuredClone(request));
  const record = changed[0].resourceLogs[0].scopeLogs[0].logRecords[0];
  record.attributes[0].value = { stringValue: "changed" };
  try {
    compare("self-check", "logs", sent.logs, changed);
  } catch (error) {
    if (error instanceof Failure && /1 missing, 1 unexpected/.test(error.message)) {
      console.log("ok  self-check: one changed log attribute is reported as 1 missing, 1 unexpected");
      return;
    }
    throw error;
  }
  throw new Failure("self-check: the comparison did not notice a changed log record; the suite is broken");
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf("--otlp");
  if (at < 0 || !args[at + 1]) {
    console.error("usage: node conformance/node/otlp_conformance.mjs --otlp PATH_TO_OTLP_BINARY");
    return 2;
  }
  const binary = path.resolve(args[at + 1]);
  const work = mkdtempSync(path.join(tmpdir(), "otlp-conformance-node-"));
  try {
    const total = await sdkToServe(binary, work);
    console.log(`ok  sdk-to-serve: ${total} records compared`);
    return 0;
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    console.error(`FAIL ${error.message}`);
    return 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => {
  console.error(`FAIL the suite did not finish within ${WATCHDOG_MS / 1000} s`);
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error("FAIL", error);
    process.exit(1);
  },
);
