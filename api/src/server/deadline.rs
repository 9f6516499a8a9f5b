//! A request body with a deadline: the whole body must arrive within the body
//! timeout of its headers, however it is sliced. A per-frame idle timeout
//! would let a client trickle one byte just under it forever.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The body did not arrive in time (the client is answered 408).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
pub struct BodyTimedOut;

/// Wraps a body so that reading it fails with [`BodyTimedOut`] once `deadline`
/// passes before its end.
pub struct DeadlineBody<B> {
    body: B,
    deadline: Instant,
    /// Created on the first poll: a body nobody reads costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    /// `body`, which must end before `deadline`.
    pub fn new(body: B, deadline: Instant) -> Self {
        Self {
            body,
            deadline,
            sleep: None,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // What has arrived is handed on even at the deadline.
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whether `error` or one of its causes is a [`BodyTimedOut`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::stream;
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_trickles_past_the_deadline_fails_with_a_timeout() {
        // One byte per 900 ms: never idle for a second, still too slow in all.
        let trickle = Box::pin(stream::unfold(0u8, |n| async move {
            tokio::time::sleep(Duration::from_millis(900)).await;
            Some((
                Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![n]))),
                n + 1,
            ))
        }));
        let body = DeadlineBody::new(
            StreamBody::new(trickle),
            Instant::now() + Duration::from_secs(3),
        );
        let started = Instant::now();
        let error = body.collect().await.expect_err("the body times out");
        assert!(is_body_timeout(error.as_ref()));
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_in_time_is_read_whole() {
        let chunks = stream::iter(
            ["he", "llo"].map(|c| Ok::<_, std::io::Error>(Frame::data(Bytes::from(c)))),
        );
        let body = DeadlineBody::new(
            StreamBody::new(chunks),
            Instant::now() + Duration::from_secs(1),
        );
        let bytes = body.collect().await.expect("read").to_bytes();
        assert_eq!(&bytes[..], b"hello");
    }
}
