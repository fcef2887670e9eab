//! Connections that must send each request head in time. `axum::serve` gives hyper no timer,
//! so hyper's own header timeout is off and a client that trickles its headers (or opens a
//! connection and sends nothing) would hold it forever, and would hold up a graceful shutdown.
//! [`HeadTimeoutListener`] wraps each accepted connection so that reads fail once a head has
//! been arriving for longer than [`Limits::head_timeout`](super::Limits::head_timeout):
//!
//! - a connection starts waiting for a head; the head ends at the first empty line;
//! - after the head, nothing is timed here (the body is bounded by `guard`, and `/train` may
//!   rightly wait long for its answer);
//! - after an answer is written, an idle keep-alive connection is left alone until the next
//!   request's first byte, which starts the clock again.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// A TCP listener whose connections are [`HeadTimeoutIo`].
pub(super) struct HeadTimeoutListener {
    inner: TcpListener,
    timeout: Duration,
}

impl HeadTimeoutListener {
    pub fn new(inner: TcpListener, timeout: Duration) -> Self {
        HeadTimeoutListener { inner, timeout }
    }
}

impl axum::serve::Listener for HeadTimeoutListener {
    type Io = HeadTimeoutIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        // Answers are small: send them at once rather than waiting on Nagle's algorithm.
        io.set_nodelay(true).ok();
        (HeadTimeoutIo::new(io, self.timeout), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head, against the clock.
    Head,
    /// The head is in: body, handling, answer.
    Rest,
    /// An answer was written; the next byte starts a new head.
    Idle,
}

/// One connection; see the module's description.
pub(super) struct HeadTimeoutIo {
    io: TcpStream,
    timeout: Duration,
    phase: Phase,
    deadline: Option<Pin<Box<Sleep>>>,
    /// The last four bytes of the head so far (to find its end, `\r\n\r\n` or `\n\n`).
    tail: u32,
}

impl HeadTimeoutIo {
    fn new(io: TcpStream, timeout: Duration) -> Self {
        HeadTimeoutIo {
            io,
            timeout,
            phase: Phase::Head,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            tail: 0,
        }
    }

    /// Follows the bytes just read.
    fn saw(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        if self.phase == Phase::Idle && !bytes.is_empty() {
            self.phase = Phase::Head;
            self.tail = 0;
            self.deadline = Some(Box::pin(tokio::time::sleep(self.timeout)));
        }
        if self.phase != Phase::Head {
            return;
        }
        while let Some((&b, rest)) = bytes.split_first() {
            bytes = rest;
            self.tail = (self.tail << 8) | u32::from(b);
            if self.tail == 0x0d0a_0d0a || self.tail & 0xffff == 0x0a0a {
                self.phase = Phase::Rest;
                self.deadline = None;
                return;
            }
        }
    }
}

impl AsyncRead for HeadTimeoutIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if let Some(deadline) = this.deadline.as_mut()
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request head did not arrive in time",
                    )));
                }
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl HeadTimeoutIo {
    /// After an answer (not an interim `100 Continue`) is written, wait for the next head.
    fn wrote(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() && !bytes.starts_with(b"HTTP/1.1 100 ") {
            self.phase = Phase::Idle;
            self.deadline = None;
        }
    }
}

impl AsyncWrite for HeadTimeoutIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let out = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = out {
            this.wrote(&buf[..n.min(buf.len())]);
        }
        out
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let out = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = out
            && n > 0
        {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            this.wrote(first);
        }
        out
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
