//! The byte streams a connection runs over (plain TCP, or TLS over TCP), and
//! how each splits into the read and write halves the driver takes.

use crate::protocol::handshake::MAX_HEAD_BYTES;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
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

/// A connected stream the driver can run over.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The read half.
    type Reader: AsyncRead + Unpin + Send + 'static;
    /// The write half.
    type Writer: AsyncWrite + Unpin + Send + 'static;
    /// Splits the stream so reads and writes can wait independently.
    fn into_halves(self) -> (Self::Reader, Self::Writer);
}

impl Stream for TcpStream {
    type Reader = tokio::net::tcp::OwnedReadHalf;
    type Writer = tokio::net::tcp::OwnedWriteHalf;

    /// TCP splits without a lock.
    fn into_halves(self) -> (Self::Reader, Self::Writer) {
        self.into_split()
    }
}

/// TLS state is shared by both directions, so the halves share it behind a lock.
macro_rules! tls_stream {
    ($t:ty) => {
        impl Stream for $t {
            type Reader = tokio::io::ReadHalf<$t>;
            type Writer = tokio::io::WriteHalf<$t>;

            fn into_halves(self) -> (Self::Reader, Self::Writer) {
                tokio::io::split(self)
            }
        }
    };
}

tls_stream!(tokio_rustls::client::TlsStream<TcpStream>);
tls_stream!(tokio_rustls::server::TlsStream<TcpStream>);
