//! The body of a unary gRPC message: its chunks, then the trailers.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

/// Up to two data chunks (a prefix and a message, sent without joining them)
/// and optional trailers.
#[derive(Debug, Default)]
pub(crate) struct UnaryBody {
    chunks: [Option<Bytes>; 2],
    trailers: Option<HeaderMap>,
}

impl UnaryBody {
    pub(crate) fn new(prefix: Bytes, message: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            chunks: [Some(prefix), Some(message).filter(|m| !m.is_empty())],
            trailers,
        }
    }
}

impl http_body::Body for UnaryBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(chunk) = this.chunks.iter_mut().find_map(Option::take) {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.iter().all(Option::is_none) && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let len = self.chunks.iter().flatten().map(|c| c.len() as u64).sum();
        SizeHint::with_exact(len)
    }
}
