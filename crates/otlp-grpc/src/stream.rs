//! The streaming extension: one long-lived bidirectional stream per signal
//! (`otlprs.stream.v1.ExportStream/Export`, in `proto/otlprs/stream/v1/`).
//!
//! The client sends `StreamRequest`s — each an OTLP export request, encoded
//! and compressed as the exporter holds it — and the server answers each with
//! a `StreamAck`, in order, in the outcome vocabulary of unary calls (status
//! code, partial success, retry delay). The client keeps at most its window
//! of requests unacknowledged: that bound is the backpressure. A server
//! without the service answers UNIMPLEMENTED when the stream opens, and the
//! client sends unary `Export` calls from then on.
//!
//! Stream messages travel uncompressed at the gRPC level: the request inside
//! carries its own compression, so a relay can forward it untouched.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use otlp_compression::Compression;
use otlp_transport::{ExportError, Outcome, Signal, grpc_code};
use prost::Message;
use prost::encoding::{self, WireType};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Code, Status};
use tower::{Service, ServiceExt};

use crate::client::Inner;
use crate::server::{self, Shared};
use crate::wire;

#[rustfmt::skip]
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
mod proto {
    include!("generated/otlprs.stream.v1.rs");
}

use proto::{StreamAck, StreamRequest, StreamSignal};

const SERVICE: &str = "otlprs.stream.v1.ExportStream";
const PATH: &str = "/otlprs.stream.v1.ExportStream/Export";

/// Room for a stream message's own fields beside the request it carries.
const ENVELOPE: usize = 64;

// ---------------------------------------------------------------- server side

/// The stream service of a [`Server`](crate::Server).
#[derive(Clone)]
pub(crate) struct StreamService(pub(crate) Arc<Shared>);

impl NamedService for StreamService {
    const NAME: &'static str = SERVICE;
}

impl Service<Request<Body>> for StreamService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        std::future::ready(Ok(open_stream(self.0.clone(), request)))
    }
}

fn open_stream(shared: Arc<Shared>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let check = if parts.uri.path() != PATH {
        Err(Status::unimplemented(format!(
            "no method {}",
            parts.uri.path()
        )))
    } else {
        server::authorized(&shared, &parts.headers)
    };
    let refusal =
        server::refuse_content_type(&parts.headers).or_else(|| check.err().map(Status::into_http));
    let mut response = match refusal {
        Some(refusal) => refusal,
        None => {
            let (frames, outgoing) = mpsc::channel(16);
            tokio::spawn(serve_stream(shared.clone(), body, frames));
            let mut response = Response::new(Body::new(ChannelBody(outgoing)));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            response
        }
    };
    response
        .headers_mut()
        .insert("grpc-accept-encoding", shared.accept_encoding.clone());
    response
}

async fn serve_stream(shared: Arc<Shared>, body: Body, frames: mpsc::Sender<Frame<Bytes>>) {
    let status = match ack_all(&shared, body, &frames).await {
        Ok(()) => Status::ok(""),
        Err(status) => status,
    };
    let (mut parts, ()) = status.into_http::<()>().into_parts();
    parts.headers.remove(CONTENT_TYPE);
    let _ = frames.send(Frame::trailers(parts.headers)).await;
}

/// Answers every request of the stream, in order, until the client closes its
/// side (`Ok`) or the stream must end (`Err`, sent as the final status).
async fn ack_all(
    shared: &Shared,
    mut body: Body,
    frames: &mpsc::Sender<Frame<Bytes>>,
) -> Result<(), Status> {
    let mut draining = shared.draining.clone();
    let mut buffer = BytesMut::new();
    let max_message = shared.max_request_size + ENVELOPE;
    let shutting_down = || Status::unavailable("the server is shutting down: open a new stream");
    loop {
        while let Some(message) = next_message(&mut buffer, max_message)? {
            let ack = ack(shared, message).await?;
            frames
                .send(Frame::data(frame(&ack)?))
                .await
                .map_err(|_| Status::cancelled("the client went away"))?;
            if *draining.borrow() {
                return Err(shutting_down());
            }
        }
        let next = tokio::select! {
            next = body.frame() => next,
            _ = until_draining(&mut draining) => return Err(shutting_down()),
        };
        match next {
            None if buffer.is_empty() => return Ok(()),
            None => {
                return Err(Status::invalid_argument(
                    "the stream ended inside a message",
                ));
            }
            Some(Err(status)) => return Err(status),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                }
            }
        }
    }
}

async fn until_draining(draining: &mut tokio::sync::watch::Receiver<bool>) {
    while !*draining.borrow_and_update() {
        if draining.changed().await.is_err() {
            // The server is gone; the body ends on its own.
            std::future::pending::<()>().await;
        }
    }
}

/// The ack of one request. Only a message that is not a `StreamRequest` ends
/// the stream (its sequence is unknown, so the order of acks would break);
/// everything wrong with the request inside is answered in its ack.
async fn ack(shared: &Shared, message: Bytes) -> Result<StreamAck, Status> {
    let request = StreamRequest::decode(message).map_err(|error| {
        Status::invalid_argument(format!("a stream message is not a StreamRequest: {error}"))
    })?;
    let sequence = request.sequence;
    let status_ack = |status: Status| StreamAck {
        sequence,
        code: status.code() as i32,
        message: status.message().to_string(),
        ..StreamAck::default()
    };
    let signal = match StreamSignal::try_from(request.signal) {
        Ok(StreamSignal::Traces) => Signal::Traces,
        Ok(StreamSignal::Metrics) => Signal::Metrics,
        Ok(StreamSignal::Logs) => Signal::Logs,
        Ok(StreamSignal::Profiles) => Signal::Profiles,
        _ => {
            return Ok(status_ack(Status::invalid_argument(format!(
                "unknown signal {}",
                request.signal
            ))));
        }
    };
    let compression = match request.compression.as_str() {
        "" => Compression::None,
        name => match name.parse::<Compression>() {
            Ok(compression) if compression.is_supported() => compression,
            _ => {
                return Ok(status_ack(Status::unimplemented(format!(
                    "compression {name:?} is not supported; supported: {}",
                    Compression::grpc_accept_encoding()
                ))));
            }
        },
    };
    let payload = match server::to_payload(shared, signal, compression, request.request) {
        Ok(payload) => payload,
        Err(status) => return Ok(status_ack(status)),
    };
    Ok(match server::call_sink(shared, payload).await {
        Ok(outcome) => StreamAck {
            sequence,
            code: 0,
            rejected: outcome.rejected(),
            message: match outcome {
                Outcome::Success => String::new(),
                Outcome::PartialSuccess { message, .. } => message,
            },
            retry_delay_nanos: 0,
        },
        Err(error) => StreamAck {
            sequence,
            code: error.grpc_code(),
            message: error.to_string(),
            rejected: 0,
            retry_delay_nanos: error.retry_after().map_or(0, |delay| {
                u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX)
            }),
        },
    })
}

// ---------------------------------------------------------------- client side

/// A client's streams, one per signal, opened on first use.
pub(crate) struct Streams {
    window: usize,
    /// Set when a server answered UNIMPLEMENTED: unary calls from then on.
    unsupported: AtomicBool,
    open: [tokio::sync::Mutex<Option<Stream>>; 4],
}

/// One open stream: where requests go, and what waits for acks.
struct Stream {
    requests: mpsc::Sender<Frame<Bytes>>,
    acks: Arc<Mutex<AckState>>,
    window: Arc<Semaphore>,
}

/// Shared with the task reading acks. It does not hold the request sender, so
/// dropping the client closes the stream.
#[derive(Default)]
struct AckState {
    next_sequence: u64,
    pending: VecDeque<Pending>,
    closed: bool,
}

struct Pending {
    sequence: u64,
    reply: oneshot::Sender<Result<Outcome, ExportError>>,
    /// A place in the window, given back with the ack.
    _slot: OwnedSemaphorePermit,
}

impl Streams {
    pub(crate) fn new(window: usize) -> Self {
        Self {
            window,
            unsupported: AtomicBool::new(false),
            open: Default::default(),
        }
    }

    /// Whether the server said it has no stream service.
    pub(crate) fn unsupported(&self) -> bool {
        self.unsupported.load(Ordering::Relaxed)
    }

    /// Sends one request on the signal's stream and waits for its ack;
    /// `None` when the server has no stream service (send it unary).
    pub(crate) async fn send(
        &self,
        inner: &Inner,
        signal: Signal,
        compression: Compression,
        message: Bytes,
        deadline: tokio::time::Instant,
    ) -> Option<Result<Outcome, ExportError>> {
        let (requests, acks, window) = {
            let mut slot = self.open[signal_index(signal)].lock().await;
            let reusable = slot
                .as_ref()
                .is_some_and(|stream| !stream.acks.lock().expect("not poisoned").closed);
            if !reusable {
                *slot = match self.open_stream(inner).await {
                    Ok(Some(stream)) => Some(stream),
                    Ok(None) => return None,
                    Err(error) => return Some(Err(error)),
                };
            }
            let stream = slot.as_ref().expect("opened above");
            (
                stream.requests.clone(),
                stream.acks.clone(),
                stream.window.clone(),
            )
        };
        // The caller's deadline covers this wait too; saying which wait ran
        // out tells a full window (the server acks slower than requests
        // come) from a slow ack.
        let slot = match tokio::time::timeout_at(deadline, window.acquire_owned()).await {
            Ok(slot) => slot.expect("never closed"),
            Err(_) => {
                return Some(Err(ExportError::from_grpc_code(
                    grpc_code::DEADLINE_EXCEEDED,
                    &format!(
                        "the stream's window of {} requests stayed full until the deadline",
                        self.window
                    ),
                    None,
                )));
            }
        };
        let (reply, answer) = oneshot::channel();
        {
            let mut state = acks.lock().expect("not poisoned");
            if state.closed {
                return Some(Err(stream_ended("before the request was sent")));
            }
            let sequence = state.next_sequence;
            let [head, body] = match envelope(sequence, signal, compression, message) {
                Ok(frames) => frames,
                Err(error) => return Some(Err(error)),
            };
            // The window bounds what is queued, so there is always room.
            if requests.try_send(Frame::data(head)).is_err()
                || requests.try_send(Frame::data(body)).is_err()
            {
                state.closed = true;
                return Some(Err(stream_ended("before the request was sent")));
            }
            state.next_sequence += 1;
            state.pending.push_back(Pending {
                sequence,
                reply,
                _slot: slot,
            });
        }
        Some(
            answer
                .await
                .unwrap_or_else(|_| Err(stream_ended("before the ack"))),
        )
    }

    async fn open_stream(&self, inner: &Inner) -> Result<Option<Stream>, ExportError> {
        if self.unsupported() {
            return Ok(None);
        }
        // Two frames a request (envelope, then the request's own bytes).
        let (requests, outgoing) = mpsc::channel(2 * self.window + 2);
        let mut request = Request::new(Body::new(ChannelBody(outgoing)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = http::Uri::from_static(PATH);
        *request.headers_mut() = inner.headers.clone();
        // A stream lives for many requests; each has its own deadline here.
        request.headers_mut().remove("grpc-timeout");
        let (uri, channel) = inner.channel();
        let response = channel
            .ready_oneshot()
            .await
            .map_err(|error| crate::client::unreachable_error(uri, &error))?
            .call(request)
            .await
            .map_err(|error| crate::client::unreachable_error(uri, &error))?;
        if response.status() != StatusCode::OK {
            return Err(crate::client::http_status_error(response.status()));
        }
        // Refusals (no such service, authentication) come at once, trailers-only.
        if let Some(status) = Status::from_header_map(response.headers()) {
            match status.code() {
                Code::Ok => {}
                Code::Unimplemented => {
                    self.unsupported.store(true, Ordering::Relaxed);
                    return Ok(None);
                }
                _ => return Err(crate::client::status_error(&status)),
            }
        }
        let acks = Arc::new(Mutex::new(AckState::default()));
        tokio::spawn(read_acks(
            acks.clone(),
            response.into_body(),
            inner.max_response_size,
        ));
        Ok(Some(Stream {
            requests,
            acks,
            window: Arc::new(Semaphore::new(self.window)),
        }))
    }
}

/// Resolves the pending requests with their acks, in order; when the stream
/// ends, fails whatever is still pending with why it ended.
async fn read_acks(acks: Arc<Mutex<AckState>>, mut body: Body, max_ack: usize) {
    let mut buffer = BytesMut::new();
    let (code, message, delay) = loop {
        let frame = match body.frame().await {
            None => break (grpc_code::UNAVAILABLE, "the stream ended".to_string(), None),
            Some(Err(status)) => {
                break (
                    status.code() as i32,
                    status.message().to_string(),
                    wire::retry_delay(status.details()),
                );
            }
            Some(Ok(frame)) => frame,
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                let status = frame
                    .into_trailers()
                    .ok()
                    .as_ref()
                    .and_then(Status::from_header_map)
                    .unwrap_or_else(|| Status::internal("the stream ended without a status"));
                break match status.code() {
                    Code::Ok => (
                        grpc_code::UNAVAILABLE,
                        "the server closed the stream".to_string(),
                        None,
                    ),
                    code => (
                        code as i32,
                        status.message().to_string(),
                        wire::retry_delay(status.details()),
                    ),
                };
            }
        };
        buffer.extend_from_slice(&data);
        match resolve_acks(&acks, &mut buffer, max_ack) {
            Ok(()) => {}
            Err(status) => break (status.code() as i32, status.message().to_string(), None),
        }
    };
    let mut state = acks.lock().expect("not poisoned");
    state.closed = true;
    for pending in state.pending.drain(..) {
        let _ = pending
            .reply
            .send(Err(ExportError::from_grpc_code(code, &message, delay)));
    }
}

fn resolve_acks(
    acks: &Mutex<AckState>,
    buffer: &mut BytesMut,
    max_ack: usize,
) -> Result<(), Status> {
    while let Some(message) = next_message(buffer, max_ack)? {
        let ack = StreamAck::decode(message)
            .map_err(|error| Status::internal(format!("an undecodable ack: {error}")))?;
        let mut state = acks.lock().expect("not poisoned");
        let pending = match state.pending.front() {
            Some(pending) if pending.sequence == ack.sequence => {
                state.pending.pop_front().expect("just seen")
            }
            _ => {
                return Err(Status::internal(format!(
                    "ack {} does not answer the oldest request",
                    ack.sequence
                )));
            }
        };
        drop(state);
        let result = if ack.code == 0 {
            Ok(Outcome::from_parts(ack.rejected, ack.message))
        } else {
            let delay =
                (ack.retry_delay_nanos > 0).then(|| Duration::from_nanos(ack.retry_delay_nanos));
            Err(ExportError::from_grpc_code(ack.code, &ack.message, delay))
        };
        let _ = pending.reply.send(result);
    }
    Ok(())
}

fn stream_ended(when: &str) -> ExportError {
    ExportError::from_grpc_code(
        grpc_code::UNAVAILABLE,
        &format!("the stream ended {when}"),
        None,
    )
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
        Signal::Profiles => 3,
    }
}

/// A `StreamRequest` as two chunks: the gRPC prefix with the small fields and
/// the `request` field's key and length, then the request's own bytes, which
/// are never copied.
fn envelope(
    sequence: u64,
    signal: Signal,
    compression: Compression,
    request: Bytes,
) -> Result<[Bytes; 2], ExportError> {
    let signal = match signal {
        Signal::Traces => StreamSignal::Traces,
        Signal::Metrics => StreamSignal::Metrics,
        Signal::Logs => StreamSignal::Logs,
        Signal::Profiles => StreamSignal::Profiles,
    } as i32;
    let mut fields = BytesMut::with_capacity(32);
    encoding::uint64::encode(1, &sequence, &mut fields);
    encoding::int32::encode(2, &signal, &mut fields);
    if compression != Compression::None {
        encoding::string::encode(4, &compression.as_str().to_string(), &mut fields);
    }
    encoding::encode_key(3, WireType::LengthDelimited, &mut fields);
    encoding::encode_varint(request.len() as u64, &mut fields);
    let prefix = wire::prefix(false, fields.len() + request.len())
        .map_err(|status| ExportError::permanent(status.message()))?;
    let mut head = BytesMut::with_capacity(prefix.len() + fields.len());
    head.extend_from_slice(&prefix);
    head.extend_from_slice(&fields);
    Ok([head.freeze(), request])
}

/// The ack as one framed gRPC message.
fn frame(ack: &StreamAck) -> Result<Bytes, Status> {
    let prefix = wire::prefix(false, ack.encoded_len())?;
    let mut out = BytesMut::with_capacity(prefix.len() + ack.encoded_len());
    out.extend_from_slice(&prefix);
    ack.encode(&mut out)
        .map_err(|error| Status::internal(format!("cannot encode an ack: {error}")))?;
    Ok(out.freeze())
}

/// The next whole message in `buffer`, if it holds one. Stream messages are
/// never compressed at the gRPC level (the request inside carries its own).
fn next_message(buffer: &mut BytesMut, max: usize) -> Result<Option<Bytes>, Status> {
    if buffer.len() < wire::PREFIX_LEN {
        return Ok(None);
    }
    if buffer[0] != 0 {
        return Err(Status::unimplemented(
            "stream messages travel uncompressed; compress the requests inside them",
        ));
    }
    let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if len > max {
        return Err(server::too_large(max));
    }
    if buffer.len() < wire::PREFIX_LEN + len {
        return Ok(None);
    }
    let mut message = buffer.split_to(wire::PREFIX_LEN + len).freeze();
    Ok(Some(message.split_off(wire::PREFIX_LEN)))
}

/// A body fed by a channel: request messages of a stream, or acks and the
/// final status.
struct ChannelBody(mpsc::Receiver<Frame<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}
