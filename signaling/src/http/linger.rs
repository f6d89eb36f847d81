//! Lingering on request bodies nobody read, as nginx's lingering close does.
//!
//! A request refused before its body is read (too large, no token, wrong
//! content type) is answered at once. Left alone, the server would then
//! close the connection while the client is still sending the body, and the
//! unread bytes make the kernel reset it: a simple client that writes the
//! whole body before it reads (Python's `urllib`, `curl` without
//! `Expect`) sees a broken pipe or a reset instead of the JSON error.
//!
//! So each request body is wrapped; when the handler drops it unread, the
//! rest is read and thrown away in a task of its own, after (and while) the
//! answer goes out, for at most [`LINGER_MAX_BYTES`] or [`LINGER_MAX_TIME`],
//! whichever comes first. Then the body is dropped and the connection
//! closes as before: a client cannot hold the gateway's attention longer by
//! sending more.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// The most of an unread body that is read and thrown away.
pub(crate) const LINGER_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// The longest an unread body is read and thrown away.
pub(crate) const LINGER_MAX_TIME: Duration = Duration::from_secs(5);

/// Wraps the request's body so that it is drained, within bounds, when it
/// is dropped unread.
pub(crate) async fn linger_on_unread_body(request: Request) -> Request {
    request.map(|body| {
        if body.is_end_stream() {
            body
        } else {
            Body::new(Lingering {
                inner: Some(body),
                finished: false,
            })
        }
    })
}

/// A request body that drains itself when dropped before its end.
struct Lingering {
    inner: Option<Body>,
    /// The inner body gave its last frame.
    finished: bool,
}

impl HttpBody for Lingering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if self.finished || body.is_end_stream() {
            return;
        }
        // Dropped outside the runtime (never while serving): nothing to
        // drain it with, so the connection closes as it would have.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body, LINGER_MAX_BYTES, LINGER_MAX_TIME));
        }
    }
}

/// Reads `body` to its end and forgets it, stopping after `max_bytes` or
/// `max_time`; returns the bytes read.
async fn drain(mut body: Body, max_bytes: u64, max_time: Duration) -> u64 {
    let mut read = 0u64;
    let reading = async {
        while read < max_bytes {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
            match frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        read += data.len() as u64;
                    }
                }
                // The end, or the client went away.
                Some(Err(_)) | None => return,
            }
        }
    };
    if tokio::time::timeout(max_time, reading).await.is_err() || read >= max_bytes {
        tracing::debug!(
            read,
            "stopped reading a request body nobody wanted; closing the connection"
        );
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A body of `chunks` chunks of `size` bytes (endless with
    /// `u64::MAX`), each `every` apart; counts the bytes it gave.
    struct Ticking {
        left: u64,
        size: usize,
        every: Duration,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
        given: Arc<AtomicU64>,
    }

    fn ticking(chunks: u64, size: usize, every: Duration) -> (Body, Arc<AtomicU64>) {
        let given = Arc::new(AtomicU64::new(0));
        let body = Ticking {
            left: chunks,
            size,
            every,
            sleep: None,
            given: given.clone(),
        };
        (Body::new(body), given)
    }

    impl HttpBody for Ticking {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            if !self.every.is_zero() {
                let every = self.every;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            self.left -= 1;
            self.given.fetch_add(self.size as u64, Ordering::Relaxed);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; self.size])))))
        }
    }

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn an_unread_body_is_read_to_its_end_within_the_bounds() {
        let (body, _) = ticking(4, MIB, Duration::ZERO);
        let read = drain(body, 8 * MIB as u64, Duration::from_secs(5)).await;
        assert_eq!(read, 4 * MIB as u64);
    }

    #[tokio::test]
    async fn an_endless_body_is_read_up_to_the_byte_bound() {
        let (body, given) = ticking(u64::MAX, 64 * 1024, Duration::ZERO);
        let read = drain(body, 2 * MIB as u64, Duration::from_secs(60)).await;
        assert_eq!(read, 2 * MIB as u64);
        assert_eq!(given.load(Ordering::Relaxed), read);
    }

    #[tokio::test]
    async fn a_trickling_body_is_read_up_to_the_time_bound() {
        let (body, _) = ticking(u64::MAX, 1, Duration::from_millis(20));
        let started = std::time::Instant::now();
        let read = drain(body, 8 * MIB as u64, Duration::from_millis(300)).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert!(read < 100, "read {read}");
    }

    #[tokio::test]
    async fn a_body_dropped_unread_drains_itself_and_a_read_one_does_not() {
        let (inner, given) = ticking(3, MIB, Duration::from_millis(10));
        let request = linger_on_unread_body(Request::new(inner)).await;
        drop(request);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while given.load(Ordering::Relaxed) < 3 * MIB as u64 {
            assert!(tokio::time::Instant::now() < deadline, "not drained");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let (inner, _) = ticking(1, 10, Duration::ZERO);
        let request = linger_on_unread_body(Request::new(inner)).await;
        let body = axum::body::to_bytes(request.into_body(), 100)
            .await
            .unwrap();
        assert_eq!(body.len(), 10);

        // An empty body is not wrapped at all.
        let request = linger_on_unread_body(Request::new(Body::empty())).await;
        assert!(request.body().is_end_stream());
    }
}
