//! The PostgreSQL connection loop, with output sent the way PostgreSQL sends it: messages
//! are buffered and written when the server is about to wait for the client's next message
//! (or when much output is pending), not one write per message.
//!
//! pgwire flushes after ParseComplete, BindComplete, CommandComplete and ReadyForQuery, so
//! an extended-protocol round trip cost four `sendto` calls, each waking the client; the
//! profile of `oltp_point_select` showed most server time in those sends. [`Corked`] turns
//! a flush into nothing and writes its buffer before the next read instead. The loop itself
//! is pgwire's `process_socket` (same message handling, same startup timeout) over a
//! `Corked` stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::messages::PgWireFrontendMessage;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};

/// Output beyond this is written at once rather than held for the next read.
const HOLD_LIMIT: usize = 64 * 1024;

/// PostgreSQL's limit for completing startup (authentication_timeout is 1 min).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A stream whose writes are held until the next read, a large buffer, or shutdown.
pub struct Corked<S> {
    inner: S,
    out: Vec<u8>,
    /// How much of `out` has been written.
    sent: usize,
}

impl<S: AsyncWrite + Unpin> Corked<S> {
    pub fn new(inner: S) -> Corked<S> {
        Corked {
            inner,
            out: Vec::new(),
            sent: 0,
        }
    }

    /// Writes everything held.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.sent = 0;
        Pin::new(&mut self.inner).poll_flush(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Corked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // The server waits for the client: everything it has to say goes out first.
        if !this.out.is_empty() {
            match this.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Corked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() >= HOLD_LIMIT {
            match this.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Held until the next read: see the module comment.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

/// Serves one PostgreSQL connection (plain TCP; an SSLRequest is refused, as without TLS
/// configured).
pub async fn process_socket<H: PgWireServerHandlers>(
    tcp: TcpStream,
    handlers: H,
) -> io::Result<()> {
    let startup = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup);
    let negotiated = tokio::select! {
        _ = &mut startup => return Ok(()),
        s = negotiate_tls(tcp, None) => s?,
    };
    let Some(framed) = negotiated else {
        return Ok(());
    };
    let old = framed.into_parts();
    let mut parts = FramedParts::new(Corked::new(old.io), old.codec);
    parts.read_buf = old.read_buf;
    parts.write_buf = old.write_buf;
    let mut socket = Framed::from_parts(parts);

    let startup_handler = handlers.startup_handler();
    let simple_query_handler = handlers.simple_query_handler();
    let extended_query_handler = handlers.extended_query_handler();
    let copy_handler = handlers.copy_handler();
    let cancel_handler = handlers.cancel_handler();
    let error_handler = handlers.error_handler();
    loop {
        let msg = if matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        ) {
            tokio::select! {
                _ = &mut startup => None,
                msg = socket.next() => msg,
            }
        } else {
            socket.next().await
        };
        let Some(Ok(msg)) = msg else {
            break;
        };
        // Terminate: the client is leaving and may wait for the server to close.
        if matches!(msg, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let is_extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => msg.is_extended_query(),
        };
        if let Err(mut e) = process_message(
            msg,
            &mut socket,
            startup_handler.clone(),
            simple_query_handler.clone(),
            extended_query_handler.clone(),
            copy_handler.clone(),
            cancel_handler.clone(),
        )
        .await
        {
            error_handler.on_error(&socket, &mut e);
            process_error(&mut socket, e, is_extended_query).await?;
        }
    }
    // Whatever is still held (a final error) goes out before the connection closes.
    socket.close().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_are_held_until_the_next_read_or_shutdown() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut corked = Corked::new(a);
        corked.write_all(b"one").await.unwrap();
        corked.flush().await.unwrap();
        let mut buf = [0u8; 8];
        // Nothing reached the peer yet.
        let pending = tokio::time::timeout(Duration::from_millis(50), b.read(&mut buf)).await;
        assert!(pending.is_err());
        // A read on the corked side sends the held bytes first.
        b.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        corked.read_exact(&mut one).await.unwrap();
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        corked.write_all(b"two").await.unwrap();
        corked.shutdown().await.unwrap();
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two");
    }

    #[tokio::test]
    async fn large_output_is_written_without_waiting() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut corked = Corked::new(a);
        let chunk = vec![7u8; HOLD_LIMIT];
        corked.write_all(&chunk).await.unwrap();
        corked.write_all(b"more").await.unwrap();
        let mut got = vec![0u8; HOLD_LIMIT];
        b.read_exact(&mut got).await.unwrap();
        assert!(got.iter().all(|&x| x == 7));
    }
}
