//! A TCP listener that keeps at most a configured number of connections
//! open: past the limit, new connections wait in the kernel's accept
//! queue until one closes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::log_throttle::LogThrottle;

/// Pause after an accept error such as running out of file descriptors,
/// so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

static ACCEPT_ERROR_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));

pub struct LimitedListener {
    listener: TcpListener,
    open_connections: Arc<Semaphore>,
}

impl LimitedListener {
    pub fn new(listener: TcpListener, max_connections: usize) -> LimitedListener {
        LimitedListener {
            listener,
            open_connections: Arc::new(Semaphore::new(max_connections)),
        }
    }

    /// Waits for a free connection slot, then for a connection. Accept errors
    /// are logged and retried.
    pub async fn accept_limited(&mut self) -> (LimitedStream, SocketAddr) {
        let permit = match self.open_connections.clone().acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore is never closed, so this branch is unreachable.
            Err(_) => return std::future::pending().await,
        };
        loop {
            match self.listener.accept().await {
                Ok((stream, address)) => {
                    // Small export requests should not wait for Nagle's algorithm.
                    let _ = stream.set_nodelay(true);
                    return (
                        LimitedStream {
                            stream,
                            _permit: permit,
                        },
                        address,
                    );
                }
                Err(error) => {
                    if let Some(suppressed) = ACCEPT_ERROR_LOG.check() {
                        tracing::warn!(%error, similar_warnings_suppressed = suppressed, "accepting a connection failed");
                    }
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
        }
    }

    /// Turns the listener into a stream of connections, for tonic.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = io::Result<LimitedStream>> + Send + 'static {
        futures_util::stream::unfold(self, |mut listener| async move {
            let (stream, _) = listener.accept_limited().await;
            Some((Ok(stream), listener))
        })
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.accept_limited().await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A connection that frees its slot when dropped.
pub struct LimitedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for LimitedStream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
