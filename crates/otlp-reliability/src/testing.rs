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
