//! The `idle_close` fault: an HTTP connection idle for at least the fault's duration since
//! the server last wrote to it is closed, unread, when the next request arrives, as a
//! server's idle timeout that runs out just as a client reuses the connection.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A listener whose connections close on a request that comes after an idle spell.
pub struct IdleCloseListener<L> {
    inner: L,
    after: Duration,
}

impl<L> IdleCloseListener<L> {
    /// Wraps `inner`: its connections close on a request that arrives `after` or longer
    /// since the connection's last write.
    pub fn new(inner: L, after: Duration) -> Self {
        Self { inner, after }
    }
}

impl<L: Listener> Listener for IdleCloseListener<L> {
    type Io = IdleCloseIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (inner, addr) = self.inner.accept().await;
        let io = IdleCloseIo {
            inner,
            after: self.after,
            last_write: None,
            closed: false,
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// One connection of an [`IdleCloseListener`].
pub struct IdleCloseIo<T> {
    inner: T,
    after: Duration,
    /// When the server last wrote to the connection; `None` before its first answer.
    last_write: Option<Instant>,
    /// Set once a request was dropped: every later read is the end of the stream.
    closed: bool,
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleCloseIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let idle = this.last_write.is_some_and(|at| at.elapsed() >= this.after);
            if idle {
                // The request is dropped unread and the server sees the end of the stream.
                buf.set_filled(before);
                this.closed = true;
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleCloseIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.last_write = Some(Instant::now());
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.last_write = Some(Instant::now());
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
