//! In-memory fault-injecting export services for the unit tests.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_transport::{Encoded, ExportError, Outcome, Signal};
use tokio::time::Instant;
use tower::Service;

use crate::retry::BoxFuture;

/// What the fake receiver does with one call.
pub(crate) enum Fault {
    Accept,
    Fail(ExportError),
    /// Answers (accepting) only after this long.
    Stall(Duration),
}

type Script = dyn Fn(usize, &Encoded) -> Fault + Send + Sync;

/// A service that answers each call as its script says, and records when
/// each call arrived and what it carried.
#[derive(Clone)]
pub(crate) struct FaultService {
    script: Arc<Script>,
    log: Arc<Mutex<Vec<(Instant, Bytes)>>>,
}

impl FaultService {
    pub(crate) fn new(script: impl Fn(usize, &Encoded) -> Fault + Send + Sync + 'static) -> Self {
        Self {
            script: Arc::new(script),
            log: Arc::default(),
        }
    }

    pub(crate) fn calls(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    pub(crate) fn arrivals(&self) -> Vec<Instant> {
        self.log.lock().unwrap().iter().map(|(at, _)| *at).collect()
    }

    pub(crate) fn bodies(&self) -> Vec<Bytes> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

impl Service<Encoded> for FaultService {
    type Response = Outcome;
    type Error = ExportError;
    type Future = BoxFuture<Result<Outcome, ExportError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Encoded) -> Self::Future {
        let n = {
            let mut log = self.log.lock().unwrap();
            log.push((Instant::now(), request.body().clone()));
            log.len() - 1
        };
        let fault = (self.script)(n, &request);
        Box::pin(async move {
            match fault {
                Fault::Accept => Ok(Outcome::Success),
                Fault::Fail(error) => Err(error),
                Fault::Stall(delay) => {
                    tokio::time::sleep(delay).await;
                    Ok(Outcome::Success)
                }
            }
        })
    }
}

pub(crate) fn item(body: &'static [u8]) -> Encoded {
    Encoded::new(
        Signal::Traces,
        Codec::Protobuf,
        Compression::None,
        Bytes::from_static(body),
    )
}

pub(crate) fn sized(n: usize, tag: u8) -> Encoded {
    Encoded::new(
        Signal::Traces,
        Codec::Protobuf,
        Compression::None,
        Bytes::from(vec![tag; n]),
    )
}

/// Records the `tracing` events emitted on this thread while its guard
/// lives, as `LEVEL field=value …` lines.
///
/// One global subscriber, installed once, hands each event to the recorder
/// of the thread that emitted it. A scoped (`set_default`) subscriber per
/// test is not enough: tests run in parallel, and a callsite first reached
/// on a thread without a subscriber can have its interest cached as "never",
/// so a later test's events from that callsite were lost now and then.
#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<String>>>);

thread_local! {
    static RECORDER: std::cell::RefCell<Option<Events>> = const { std::cell::RefCell::new(None) };
}

/// Stops this thread's recording when dropped.
pub(crate) struct Recording(());

impl Drop for Recording {
    fn drop(&mut self) {
        RECORDER.with(|r| r.borrow_mut().take());
    }
}

/// The global subscriber: every event to the emitting thread's recorder.
struct Router;

impl Events {
    /// Starts recording on this thread until the guard is dropped.
    pub(crate) fn record() -> (Self, Recording) {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            tracing::subscriber::set_global_default(Router)
                .expect("no other global subscriber in the unit tests");
        });
        let events = Self::default();
        RECORDER.with(|r| *r.borrow_mut() = Some(events.clone()));
        (events, Recording(()))
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The events whose line contains `needle`.
    pub(crate) fn matching(&self, needle: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| line.contains(needle))
            .collect()
    }
}

impl tracing::Subscriber for Router {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                use std::fmt::Write;
                let _ = write!(self.0, " {}={:?}", field.name(), value);
            }
        }
        RECORDER.with(|r| {
            if let Some(events) = r.borrow().as_ref() {
                let mut line = Line(event.metadata().level().to_string());
                event.record(&mut line);
                events.0.lock().unwrap().push(line.0);
            }
        });
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
