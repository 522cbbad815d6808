//! The HTTP server (hyper 1.x): connections (plain or TLS), their lifecycle and limits, basic
//! auth and extra headers, and response bodies shared without copying. [`routes`] answers the
//! requests, [`status_page`] writes the `/` page; [`security`] holds the web config in force.
//!
//! Nothing here calls AWS or waits for a poll: every response is built from the last published
//! [`Snapshot`](crate::exposition::Snapshot). Connections are tracked so that shutdown lets
//! in-flight scrapes finish.

pub mod auth;
pub mod routes;
pub mod security;
pub mod socket;
pub mod status_page;
pub mod tls;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use routes::{ReloadRequest, ScrapeLimit, ServerState, RESERVED_PATHS};
pub use security::Security;
pub use socket::{SendFile, Socket, SEND_STALL_TIMEOUT};
pub use status_page::escape;

// What a connection costs, and for how long, whatever its client does:
// - one file descriptor: the soft limit on open files is raised to the hard one at start
//   ([`raise_open_files_limit`]);
// - a TLS handshake not done in [`HANDSHAKE_TIMEOUT`] is dropped;
// - a request head is read into a buffer of 8 KiB that grows to at most about
//   [`MAX_HEADER_SIZE`] plus one read; a longer head gets 431 and the connection is closed;
// - a head not complete within [`HEADER_READ_TIMEOUT`] closes the connection, however slowly
//   its bytes come; hyper (1.12, `proto/h1/conn.rs`, `poll_read_head`) starts that timer
//   whenever it waits for a head, so it is also how long an idle connection, new or kept alive
//   between requests, stays open;
// - a response its client does not read is dropped after [`SEND_STALL_TIMEOUT`] without
//   progress. Meanwhile it keeps alive its own tail (the exporter's own metrics, or their gzip
//   stored blocks and trailer: a few kilobytes) and the snapshot it was cut from (the text and
//   its gzip start, made once per snapshot and shared by every scrape of it, never copied);
//   not its `--web.max-requests` place, which the scrape holds only while it makes its
//   response (`routes`): sending takes no work of ours, and a place held at a client's pace would
//   let a few clients that never read turn every scraper away.

/// How long shutdown waits for in-flight requests before closing their connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);
/// A client that has not sent its request head by then is disconnected: a slow head, and an
/// idle connection, new or kept alive, are let go after this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest request head (request line and headers) read; a longer one gets 431. A scrape's
/// head is a few hundred bytes; browsers' with cookies stay well below this (Node's limit);
/// hyper's own bound (its whole read buffer, ~400 KiB) would let each slow client hold 25 times
/// more.
pub const MAX_HEADER_SIZE: usize = 16 * 1024;
/// A client that has not finished its TLS handshake by then is disconnected.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Raises this process's soft limit on open files to its hard limit, as Go's runtime does at
/// start. Every connection is a file, and the soft limit a service manager gives (often 1,024,
/// with a hard limit far above) would let a thousand idle connections stop the server from
/// accepting a scrape until they time out. Returns the soft limit in force afterwards (`None`:
/// unlimited); a failure is logged and leaves the limit as it was.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return limit.current;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::debug!(from = ?limit.current, to = ?limit.maximum, "raised the soft limit on open files");
            limit.maximum
        }
        Err(error) => {
            tracing::warn!(%error, limit = ?limit.current, "cannot raise the soft limit on open files");
            limit.current
        }
    }
}

/// Every response of this crate's servers: whole chunks in memory.
pub type HttpResponse = Response<Body>;

/// A response body of whole chunks: one for most responses, two for a scrape (the shared
/// exposition, then the exporter's own metrics). Chunks are `Bytes`, so a snapshot shared by
/// many scrapes is never copied.
#[derive(Debug, Default)]
pub struct Body {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Body {
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Body {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Body { chunks, remaining }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = self.chunks.pop_front();
        if let Some(chunk) = &chunk {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A response with a body and its content type.
pub fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = Response::new(Body::new([body.into()]));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serves the exporter's endpoints on `listener` until `shutdown` is cancelled, with the TLS,
/// basic auth and headers of `security`, whose files are watched meanwhile.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    security: Arc<Security>,
    shutdown: CancellationToken,
) {
    let state = Arc::new(state);
    let tls = {
        let security = security.clone();
        move || security.current().tls.clone()
    };
    let watching = security.clone().watch(shutdown.clone());
    let serving = serve_http(listener, shutdown, tls, move |req| {
        let state = state.clone();
        let active = security.current();
        async move { Ok::<_, Infallible>(answer(&state, &active, req).await) }
    });
    tokio::join!(serving, watching);
}

/// Checks a request's credentials, routes it, and adds the headers every response carries.
async fn answer(
    state: &ServerState,
    active: &security::Active,
    req: Request<Incoming>,
) -> HttpResponse {
    let verdict = match &active.users {
        None => auth::Verdict::Allowed,
        Some(users) => users.check(req.headers().get(header::AUTHORIZATION)).await,
    };
    let mut response = match verdict {
        auth::Verdict::Allowed => routes::handle(state, &req).await,
        auth::Verdict::Denied => {
            let mut response = response(
                StatusCode::UNAUTHORIZED,
                "text/plain; charset=utf-8",
                "Unauthorized\n",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            response
        }
        auth::Verdict::Busy => {
            let mut response = response(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "too many credential checks at once; try again\n",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    };
    let headers = response.headers_mut();
    // Nothing here is meant to be sniffed into HTML or script: error messages and names from
    // outside appear in bodies.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    for (name, value) in &active.headers {
        headers.insert(name.clone(), value.clone());
    }
    response
}

/// Serves HTTP/1.1 on `listener` with `handler` until `shutdown` is cancelled, then lets in-flight
/// requests finish for at most [`SHUTDOWN_GRACE`]. Every connection task is joined before return.
/// A connection speaks TLS when `tls` gives a config as it starts; the handshake runs in the
/// connection's own task, within [`HANDSHAKE_TIMEOUT`], and plain HTTP sent to it is answered
/// in the clear with 400 ([`tls::accept`]). A handler error closes its connection
/// without a response.
pub async fn serve_http<T, H, F, E>(
    listener: TcpListener,
    shutdown: CancellationToken,
    tls: T,
    handler: H,
) where
    T: Fn() -> Option<Arc<ServerConfig>> + Clone + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<HttpResponse, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a moment instead of spinning.
                        tracing::warn!(%error, "cannot accept connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // A response's last, short write (the own metrics after the exposition) goes
                // out at once, not held back by Nagle's algorithm until the client's delayed
                // acknowledgement comes (up to 40 ms a scrape on Linux).
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
                }
                let watcher = graceful.watcher();
                let (tls, handler, shutdown) = (tls.clone(), handler.clone(), shutdown.clone());
                connections.spawn(async move {
                    let Some(config) = tls() else {
                        return connection(stream, handler, watcher).await;
                    };
                    let handshake = tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        tls::accept(stream, config),
                    );
                    let stream = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        done = handshake => match done {
                            Ok(Ok(tls::Accepted::Tls(stream))) => stream,
                            Ok(Ok(tls::Accepted::PlainHttp)) => {
                                tracing::debug!(%peer, "plain HTTP on the TLS port; answered 400");
                                return;
                            }
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        },
                    };
                    connection(*stream, handler, watcher).await;
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(open = connections.len(), "closing connections still open after the grace period");
        }
    }
    connections.shutdown().await;
}

/// Serves HTTP/1.1 on one connection until it closes or graceful shutdown ends it.
async fn connection<S, H, F, E>(stream: S, handler: H, watcher: Watcher)
where
    S: AsyncRead + AsyncWrite + SendFile + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<HttpResponse, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(Socket::new(stream, SEND_STALL_TIMEOUT));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Not `max_buf_size`: in hyper it caps the write queue too, and a response's chunks
        // are shared bytes that cost nothing more queued.
        .max_header_size(MAX_HEADER_SIZE)
        // A client that shuts its write side after its request still waits for the answer:
        // without this, hyper drops the response when it reads that end of input first.
        .half_close(true)
        .serve_connection(io, service_fn(handler));
    if let Err(error) = watcher.watch(conn).await {
        tracing::debug!(%error, "connection ended with an error");
    }
}
