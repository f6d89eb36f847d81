//! One port for HTTPS and TURN: each new connection is sorted by its first
//! bytes, before TLS and again after it.
//!
//! Networks that drop UDP still let TCP through to the HTTPS port, so the
//! gateway's TURN relay listens there too (RFC 8656 over TCP and over TLS).
//! A connection whose first bytes are a STUN message is TURN over TCP; one
//! that starts with a TLS record goes through the handshake, and then its
//! first plaintext bytes tell TURN over TLS from HTTP. TURN connections are
//! handed to a [`TurnHandoff`] (the relay lives with the media plane) and
//! leave the HTTP server; everything else is served as before, with the
//! bytes read to decide given back to it first.
//!
//! The sorting is written as an [`Accept`] layer so that it composes with
//! axum-server's TLS acceptor: `Demux(Rustls(Demux(tcp)))`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What a connection's first bytes say it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TURN: hand the connection to the relay.
    Turn,
    /// Anything else: TLS (to be unwrapped) or HTTP, or garbage that the
    /// next layer refuses as it always has.
    Other,
    /// Too few bytes to tell.
    NeedMore,
}

/// Where connections that speak TURN go.
pub trait TurnHandoff: Send + Sync + 'static {
    /// Sorts a connection by the bytes read from it so far.
    fn protocol(&self, first_bytes: &[u8]) -> Protocol;

    /// Takes over a TURN connection from `client`. The bytes read to sort
    /// it are still at the start of `stream`.
    fn take(&self, stream: TurnStream, client: SocketAddr, over_tls: bool);
}

/// A TURN connection handed over: TCP, or TLS already unwrapped.
pub type TurnStream = Box<dyn ByteStream>;

/// A bidirectional byte stream that can move to another task.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// More than any protocol needs to be told apart (a STUN header is 20
/// bytes); a client that sends this much without deciding is not TURN.
const MAX_SORTING_BYTES: usize = 64;

/// The error an accept ends with when the connection went to the relay;
/// axum-server then simply forgets it.
fn handed_over() -> io::Error {
    io::Error::other("the connection speaks TURN and was handed to the relay")
}

/// The [`Accept`] layer that sorts connections (see the module docs).
#[derive(Clone)]
pub struct Demux<A> {
    inner: A,
    handoff: Arc<dyn TurnHandoff>,
    over_tls: bool,
    /// How long a client may take, in all, to send the bytes that sort it:
    /// a deadline, not a wait per read, so one dribbling a byte at a time
    /// cannot hold a connection open.
    wait: Duration,
}

impl<A> Demux<A> {
    /// Sorts what `inner` accepts; `over_tls` says whether `inner` has
    /// already unwrapped TLS.
    pub fn new(inner: A, handoff: Arc<dyn TurnHandoff>, over_tls: bool, wait: Duration) -> Self {
        Self {
            inner,
            handoff,
            over_tls,
            wait,
        }
    }
}

impl<A, I, S> Accept<I, S> for Demux<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: ByteStream + PeerAddress,
    A::Service: Send + 'static,
{
    type Stream = Prefixed<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.inner.accept(stream, service);
        let handoff = self.handoff.clone();
        let (over_tls, wait) = (self.over_tls, self.wait);
        Box::pin(async move {
            let (mut stream, service) = accepted.await?;
            let peer = stream.peer_address()?;
            // TURN carries media, and HTTP answers are written whole: Nagle's
            // delay helps neither.
            stream.set_nodelay()?;
            let mut first = Vec::with_capacity(MAX_SORTING_BYTES);
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                match handoff.protocol(&first) {
                    Protocol::Other => {
                        return Ok((Prefixed::new(first, stream, peer), service));
                    }
                    Protocol::Turn => {
                        stream.hold_little_unsent()?;
                        handoff.take(Box::new(Prefixed::new(first, stream, peer)), peer, over_tls);
                        return Err(handed_over());
                    }
                    Protocol::NeedMore if first.len() >= MAX_SORTING_BYTES => {
                        return Ok((Prefixed::new(first, stream, peer), service));
                    }
                    Protocol::NeedMore => {
                        let mut chunk = [0u8; MAX_SORTING_BYTES];
                        let room = MAX_SORTING_BYTES - first.len();
                        let read =
                            tokio::time::timeout_at(deadline, stream.read(&mut chunk[..room]))
                                .await
                                .map_err(|_| {
                                    io::Error::new(io::ErrorKind::TimedOut, "no request in time")
                                })??;
                        if read == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        first.extend_from_slice(&chunk[..read]);
                    }
                }
            }
        })
    }
}

/// What a TURN connection may leave unsent in the kernel. A relayed viewer
/// whose network stalls must lose its own old video at the relay's queue,
/// where the gateway can drop RTP and ask for a keyframe, not watch seconds
/// of it later from a kernel buffer that autotuning grew to a megabyte.
const TURN_SEND_BUFFER: usize = 64 * 1024;
/// Writable again only when less than this is unsent (`TCP_NOTSENT_LOWAT`).
const TURN_UNSENT_LOW_WATER: libc::c_int = 16 * 1024;

/// The TCP connection under an accepted stream, through any wrapping.
pub trait PeerAddress {
    fn peer_address(&self) -> io::Result<SocketAddr>;
    fn set_nodelay(&self) -> io::Result<()>;
    /// Bounds what the kernel holds unsent (see [`TURN_SEND_BUFFER`]).
    fn hold_little_unsent(&self) -> io::Result<()>;
}

impl PeerAddress for TcpStream {
    fn peer_address(&self) -> io::Result<SocketAddr> {
        self.peer_addr()
    }

    fn set_nodelay(&self) -> io::Result<()> {
        TcpStream::set_nodelay(self, true)
    }

    fn hold_little_unsent(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        socket2::SockRef::from(self).set_send_buffer_size(TURN_SEND_BUFFER)?;
        let value = TURN_UNSENT_LOW_WATER;
        // SAFETY: a valid socket of this stream and an int option value
        // of the size given.
        #[allow(unsafe_code, reason = "socket2 has no TCP_NOTSENT_LOWAT")]
        let set = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl<S: PeerAddress> PeerAddress for Prefixed<S> {
    fn peer_address(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    fn set_nodelay(&self) -> io::Result<()> {
        self.inner.set_nodelay()
    }

    fn hold_little_unsent(&self) -> io::Result<()> {
        self.inner.hold_little_unsent()
    }
}

impl<S: PeerAddress> PeerAddress for tokio_rustls::server::TlsStream<S> {
    fn peer_address(&self) -> io::Result<SocketAddr> {
        self.get_ref().0.peer_address()
    }

    fn set_nodelay(&self) -> io::Result<()> {
        self.get_ref().0.set_nodelay()
    }

    fn hold_little_unsent(&self) -> io::Result<()> {
        self.get_ref().0.hold_little_unsent()
    }
}

/// A stream with bytes already read from it put back in front.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    /// How much of `prefix` has been read again.
    consumed: usize,
    inner: S,
    peer: SocketAddr,
}

impl<S> Prefixed<S> {
    fn new(prefix: Vec<u8>, inner: S, peer: SocketAddr) -> Self {
        Self {
            prefix,
            consumed: 0,
            inner,
            peer,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.consumed < this.prefix.len() {
            let rest = &this.prefix[this.consumed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.consumed += n;
            if this.consumed == this.prefix.len() {
                this.prefix = Vec::new();
                this.consumed = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum_server::accept::DefaultAcceptor;
    use proptest::prelude::*;
    use std::sync::Mutex;
    use tokio::io::AsyncWriteExt;

    const PEER: &str = "192.0.2.1:5000";

    impl PeerAddress for tokio::io::DuplexStream {
        fn peer_address(&self) -> io::Result<SocketAddr> {
            Ok(PEER.parse().unwrap())
        }
        fn set_nodelay(&self) -> io::Result<()> {
            Ok(())
        }
        fn hold_little_unsent(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Sorts streams that start with `TURN` to itself and keeps them.
    #[derive(Default)]
    struct Keeper {
        taken: Mutex<Vec<TurnStream>>,
    }

    impl TurnHandoff for Keeper {
        fn protocol(&self, first_bytes: &[u8]) -> Protocol {
            if first_bytes.starts_with(b"TURN") {
                Protocol::Turn
            } else if b"TURN".starts_with(first_bytes) {
                Protocol::NeedMore
            } else {
                Protocol::Other
            }
        }

        fn take(&self, stream: TurnStream, _client: SocketAddr, _over_tls: bool) {
            self.taken.lock().unwrap().push(stream);
        }
    }

    /// Sends `bytes` (in `pieces`) through a [`Demux`]: what the HTTP side
    /// reads back, or what the TURN side does, or the accept's error.
    async fn sort(bytes: &[u8], pieces: usize) -> (Option<Vec<u8>>, Option<Vec<u8>>, bool) {
        let keeper = Arc::new(Keeper::default());
        let demux = Demux::new(
            DefaultAcceptor,
            keeper.clone(),
            false,
            Duration::from_secs(5),
        );
        let (mut client, server) = tokio::io::duplex(1024);
        let chunk = bytes.len().div_ceil(pieces.max(1)).max(1);
        let owned = bytes.to_vec();
        let writer = tokio::spawn(async move {
            for piece in owned.chunks(chunk) {
                client.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let accepted = demux.accept(server, ()).await;
        writer.await.unwrap();
        let mut http = None;
        let failed = match accepted {
            Ok((mut stream, ())) => {
                let mut read = Vec::new();
                stream.read_to_end(&mut read).await.unwrap();
                http = Some(read);
                false
            }
            Err(_) => true,
        };
        let taken = keeper.taken.lock().unwrap().pop();
        let turn = match taken {
            Some(mut stream) => {
                let mut read = Vec::new();
                // The writer is done and gone: the stream ends.
                stream.read_to_end(&mut read).await.unwrap();
                Some(read)
            }
            None => None,
        };
        (http, turn, failed)
    }

    proptest! {
        /// Whatever arrives, in whatever pieces: TURN goes to the relay with
        /// every byte, anything else to HTTP with every byte, and a stream
        /// that ends before it can be told apart is refused.
        #[test]
        fn every_byte_reaches_the_side_it_was_sorted_to(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..80),
                proptest::collection::vec(any::<u8>(), 0..60)
                    .prop_map(|rest| [b"TURN".to_vec(), rest].concat()),
            ],
            pieces in 1usize..6,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (http, turn, failed) = runtime.block_on(sort(&bytes, pieces));
            if bytes.starts_with(b"TURN") {
                prop_assert_eq!(turn, Some(bytes.clone()));
                prop_assert!(failed && http.is_none());
            } else if b"TURN".starts_with(&bytes) {
                prop_assert!(failed && http.is_none() && turn.is_none());
            } else {
                prop_assert_eq!(http, Some(bytes.clone()));
                prop_assert!(turn.is_none());
            }
        }
    }

    #[tokio::test]
    async fn bytes_read_to_sort_a_stream_are_read_again_first() {
        let (mut client, server) = tokio::io::duplex(64);
        let peer: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let mut prefixed = Prefixed::new(b"GET ".to_vec(), server, peer);
        client.write_all(b"/ HTTP/1.1").await.unwrap();
        drop(client);
        let mut all = String::new();
        prefixed.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET / HTTP/1.1");
        assert_eq!(prefixed.peer, peer);
    }
}
