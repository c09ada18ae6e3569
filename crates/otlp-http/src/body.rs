//! Reading a body whole, never holding more than a cap.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

/// Why a body was not read whole.
#[derive(Debug)]
pub(crate) enum ReadError<E> {
    /// It passed the cap (by its declared length or as it arrived).
    TooLarge,
    /// The stream failed (peer gone, protocol error).
    Body(E),
}

/// Reads `body` whole, failing as soon as it passes `cap` bytes.
///
/// A single-frame body (the usual case over HTTP/1.1 with `Content-Length`
/// and small HTTP/2 bodies) is kept as it arrived, without a copy; otherwise
/// frames are gathered into one buffer sized from the declared length.
pub(crate) async fn read_capped<B: Body<Data = Bytes> + Unpin>(
    mut body: B,
    cap: usize,
) -> Result<Bytes, ReadError<B::Error>> {
    let declared = body.size_hint().exact();
    if declared.is_some_and(|len| len > cap as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(ReadError::Body)?.into_data() else {
            // Trailers carry nothing OTLP reads.
            continue;
        };
        let held =
            first.as_ref().map_or(0, Bytes::len) + gathered.as_ref().map_or(0, BytesMut::len);
        if held + data.len() > cap {
            return Err(ReadError::TooLarge);
        }
        match (&mut first, &mut gathered) {
            (None, None) => first = Some(data),
            (Some(_), None) => {
                let head = first.take().unwrap_or_default();
                let hint = declared
                    .map_or(0, |len| len as usize)
                    .max(head.len() + data.len());
                let mut buf = BytesMut::with_capacity(hint.min(cap));
                buf.extend_from_slice(&head);
                buf.extend_from_slice(&data);
                gathered = Some(buf);
            }
            (_, Some(buf)) => buf.extend_from_slice(&data),
        }
    }
    Ok(match (first, gathered) {
        (_, Some(buf)) => buf.freeze(),
        (Some(data), None) => data,
        (None, None) => Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::body::Frame;
    use std::convert::Infallible;

    fn chunks(parts: &[&'static [u8]]) -> impl Body<Data = Bytes, Error = Infallible> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        Iter(frames.into_iter())
    }

    /// A body of ready frames, one per poll.
    struct Iter<I>(I);

    impl<I: Iterator<Item = Result<Frame<Bytes>, Infallible>> + Unpin> Body for Iter<I> {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            std::task::Poll::Ready(self.0.next())
        }
    }

    #[tokio::test]
    async fn gathers_frames_under_the_cap() {
        let body = read_capped(chunks(&[b"ab", b"cd", b"e"]), 5).await.unwrap();
        assert_eq!(&body[..], b"abcde");
        let one = read_capped(Full::new(Bytes::from_static(b"xyz")), 3)
            .await
            .unwrap();
        assert_eq!(&one[..], b"xyz");
    }

    #[tokio::test]
    async fn stops_past_the_cap() {
        assert!(matches!(
            read_capped(chunks(&[b"ab", b"cd", b"ef"]), 5).await,
            Err(ReadError::TooLarge)
        ));
        assert!(matches!(
            read_capped(Full::new(Bytes::from_static(b"abcdef")), 5).await,
            Err(ReadError::TooLarge)
        ));
    }
}
