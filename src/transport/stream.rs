//! The byte streams a connection runs over (plain TCP, or TLS over TCP), and
//! how each splits into the read and write halves the driver takes.

use crate::protocol::handshake::MAX_HEAD_BYTES;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

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
