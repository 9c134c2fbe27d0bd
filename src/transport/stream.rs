//! The byte streams a connection runs over (plain TCP, or TLS over TCP), and
//! how each splits into the read and write halves the driver takes.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

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
