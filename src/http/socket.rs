//! A connection's stream as the server writes to it: writes that make no progress for too long
//! fail (a client that stops reading cannot hold its response for ever), and a slice of a sealed
//! exposition text goes out with `sendfile`, from the kernel's pages, not copied through user
//! space (as nginx serves a file).

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::exposition::text;

/// A client that takes nothing of a response for this long is disconnected: it would otherwise
/// hold its snapshot in memory (and its connection) for as long as it likes.
pub const SEND_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A stream that can send a file's bytes itself.
pub trait SendFile {
    /// Sends up to `len` bytes of `file` from `offset`, if this stream can; `None` if it cannot
    /// (then the caller writes the bytes as usual), which is what a stream that does not say
    /// otherwise does.
    fn poll_send_file(
        &mut self,
        _cx: &mut Context<'_>,
        _file: std::os::fd::BorrowedFd<'_>,
        _offset: u64,
        _len: usize,
    ) -> Option<Poll<io::Result<usize>>> {
        None
    }
}

impl SendFile for TcpStream {
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: std::os::fd::BorrowedFd<'_>,
        offset: u64,
        len: usize,
    ) -> Option<Poll<io::Result<usize>>> {
        Some(loop {
            match self.try_io(Interest::WRITABLE, || {
                let mut at = offset;
                rustix::fs::sendfile(self.as_fd(), file, Some(&mut at), len)
                    .map_err(io::Error::from)
            }) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    match self.poll_write_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(error)) => break Poll::Ready(Err(error)),
                        Poll::Pending => break Poll::Pending,
                    }
                }
                result => break Poll::Ready(result),
            }
        })
    }
}

/// Through TLS, bytes must be encrypted on their way out: no `sendfile`.
impl SendFile for tokio_rustls::server::TlsStream<TcpStream> {}

/// The server's side of a connection.
#[derive(Debug)]
pub struct Socket<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write waits for the peer; reset by every write that goes through.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> Socket<S> {
    pub fn new(inner: S, limit: Duration) -> Socket<S> {
        Socket {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes a write's outcome on: progress disarms the timer, waiting arms it, and a wait
    /// past the limit becomes an error.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer took nothing of the response for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Socket<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + SendFile + Unpin> AsyncWrite for Socket<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = self.write_some(cx, &[io::IoSlice::new(buf)]);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = self.write_some(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncWrite + SendFile + Unpin> Socket<S> {
    /// Writes from the front of `bufs`: a leading slice of a sealed text with `sendfile`, else
    /// the slices before the first such one, as one vectored write.
    fn write_some(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs: Vec<&io::IoSlice<'_>> = bufs.iter().filter(|b| !b.is_empty()).collect();
        let Some(first) = bufs.first() else {
            return Poll::Ready(Ok(0));
        };
        if let Some((text, offset)) = text::find(first) {
            if let Some(poll) = self
                .inner
                .poll_send_file(cx, text.fd(), offset, first.len())
            {
                return poll;
            }
        }
        let plain: Vec<io::IoSlice<'_>> = bufs
            .iter()
            .take_while(|b| text::find(b).is_none())
            .map(|b| io::IoSlice::new(b))
            .collect();
        let plain = if plain.is_empty() {
            vec![io::IoSlice::new(first)]
        } else {
            plain
        };
        Pin::new(&mut self.inner).poll_write_vectored(cx, &plain)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use tokio::io::DuplexStream;

    impl SendFile for DuplexStream {}

    /// A peer that reads nothing: once the pipe is full, the write waits, and after the limit
    /// it fails instead of waiting for ever.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_fails_after_the_limit() {
        let (writer, _reader) = tokio::io::duplex(1024);
        let mut guarded = Socket::new(writer, Duration::from_secs(30));
        let start = tokio::time::Instant::now();
        let error = guarded.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    /// A peer that reads, however slowly, keeps its connection.
    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_not_cut_off() {
        use tokio::io::AsyncReadExt;
        let (writer, mut reader) = tokio::io::duplex(1024);
        let mut guarded = Socket::new(writer, Duration::from_secs(30));
        let read = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut total = 0;
            while total < 8192 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                total += reader.read(&mut buf).await.unwrap();
            }
            total
        });
        guarded.write_all(&[0u8; 8192]).await.unwrap();
        assert_eq!(read.await.unwrap(), 8192);
    }
}
