//! The byte streams a connection runs over: plain TCP, or TLS over TCP.

use super::connection::Connection;
use super::reactor::Socket;
use crate::protocol::handshake::MAX_HEAD_BYTES;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep, Instant, Sleep};

/// A writer that fails with `TimedOut` when a write or flush makes no progress
/// for `idle`: a long transfer to a reading client goes on as long as it
/// takes, one to a client that stopped reading ends.
pub(crate) struct IdleTimeout<'a, W> {
    inner: &'a mut W,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    /// The timer runs: the last poll made no progress.
    armed: bool,
}

impl<'a, W: AsyncWrite + Unpin> IdleTimeout<'a, W> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: &'a mut W, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            idle,
            timer: Box::pin(sleep(idle)),
            armed: false,
        }
    }

    /// Passes `result` on when ready; while pending, fails once `idle` passed.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.armed = false;
            return result;
        }
        if !self.armed {
            self.armed = true;
            self.timer.as_mut().reset(Instant::now() + self.idle);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<'_, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut *self.inner).poll_write(cx, buf);
        self.watch(cx, result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut *self.inner).poll_flush(cx);
        self.watch(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut *self.inner).poll_shutdown(cx);
        self.watch(cx, result)
    }
}

/// Reads what has arrived of an HTTP head into `head` (at most 4 KiB at a time,
/// and one byte past `MAX_HEAD_BYTES` so the parser can tell it is too long).
/// Returns how many bytes came; 0 at end of stream. Reads straight into the
/// vector, so a connection's task holds no read buffer of its own.
pub(crate) async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let start = head.len();
    let room = (MAX_HEAD_BYTES + 1).saturating_sub(start).clamp(1, 4096);
    head.resize(start + room, 0);
    let result = stream.read(&mut head[start..]).await;
    head.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}

/// A connected stream a connection can run over.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The stream as the driver of the open connection `conn` holds it
    /// (called on `conn`'s I/O thread).
    fn into_transport(self, conn: &Arc<Connection>) -> io::Result<Transport>;
}

impl Stream for TcpStream {
    /// The socket leaves tokio for its thread's own epoll instance.
    fn into_transport(self, conn: &Arc<Connection>) -> io::Result<Transport> {
        Socket::register(self.into_std()?, conn).map(Transport::Plain)
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {
    fn into_transport(self, _: &Arc<Connection>) -> io::Result<Transport> {
        Ok(Transport::TlsServer(Box::new(self)))
    }
}

impl Stream for tokio_rustls::client::TlsStream<TcpStream> {
    fn into_transport(self, _: &Arc<Connection>) -> io::Result<Transport> {
        Ok(Transport::TlsClient(Box::new(self)))
    }
}

/// A frame with this much still to come is read in large pieces (see
/// [`Transport::expect`]).
const LOW_WATER_FROM: u64 = 64 * 1024;
/// The largest piece waited for at once.
const LOW_WATER_MAX: u64 = 256 * 1024;

/// The byte stream of an open connection. TLS state is large and boxed, so
/// plain connections do not carry its size.
pub(crate) enum Transport {
    /// Plain TCP, watched by the thread's own epoll instance.
    Plain(Socket),
    /// TLS, accepted by a server.
    TlsServer(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// TLS, made by a client.
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// The connection is over and its socket closed.
    Closed,
}

impl Transport {
    /// Writes what the socket takes right now, without waiting and without
    /// disturbing the task waiting on the socket; returns how many bytes went
    /// (0 when it would block, on errors, which the next wait reports, and for
    /// TLS, whose writes need that task).
    pub(crate) fn write_now(&mut self, slices: &[IoSlice<'_>]) -> usize {
        match self {
            Transport::Plain(socket) => socket.write_now(slices),
            _ => 0,
        }
    }

    /// Tells the socket that the peer is known to send `bytes` next (the
    /// rest of a frame): large amounts are waited for in large pieces.
    pub(crate) fn expect(&mut self, bytes: u64) {
        if let Transport::Plain(socket) = self {
            let wait_for = if bytes >= LOW_WATER_FROM {
                bytes.min(LOW_WATER_MAX) as u32
            } else {
                1
            };
            socket.low_water(wait_for);
        }
    }

    /// Tells a plain socket what its thread's epoll said about it.
    pub(crate) fn ready(&mut self, events: u32) {
        if let Transport::Plain(socket) = self {
            socket.ready(events);
        }
    }

    /// Makes the next read of a plain socket try it, even before its
    /// thread's epoll reported what arrived.
    pub(crate) fn look_again(&mut self) {
        if let Transport::Plain(socket) = self {
            socket.look_again();
        }
    }

    /// True when written bytes may wait in a buffer until flushed (TLS).
    pub(crate) fn needs_flush(&self) -> bool {
        matches!(self, Transport::TlsServer(_) | Transport::TlsClient(_))
    }
}

/// Calls `$method` on the stream inside any variant.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Transport::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Transport::TlsServer($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            Transport::TlsClient($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            Transport::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_shutdown(cx))
    }
}
