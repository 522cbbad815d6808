//! The HTTP server (hyper 1.x): `/metrics`, `/`, `/healthz`, `/readyz`.
//!
//! Every response is built from the last published [`Snapshot`]; nothing here calls AWS or waits
//! for a poll. Connections are tracked so shutdown can let in-flight scrapes finish.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::exposition::{encode, Telemetry};
use crate::fleet::poller::Snapshot;
use crate::fleet::Origin;

/// Paths the server answers itself, which `--web.telemetry-path` cannot take.
pub const RESERVED_PATHS: [&str; 3] = ["/", "/healthz", "/readyz"];

/// How long shutdown waits for in-flight requests before closing their connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);
/// A client that has not sent its request head by then is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct ServerState {
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub telemetry: Telemetry,
    /// Path of the metrics endpoint (`--web.telemetry-path`).
    pub telemetry_path: String,
}

/// Every response of this crate's servers has its whole body in memory.
pub type HttpResponse = Response<Full<Bytes>>;

/// Serves the exporter's endpoints on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, state: ServerState, shutdown: CancellationToken) {
    let state = Arc::new(state);
    serve_http(listener, shutdown, move |req| {
        let state = state.clone();
        async move {
            let mut response = handle(&state, &req);
            // Nothing here is meant to be sniffed into HTML or script: error messages and names
            // from outside appear in bodies.
            response.headers_mut().insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            Ok::<_, Infallible>(response)
        }
    })
    .await;
}

/// Serves HTTP/1.1 on `listener` with `handler` until `shutdown` is cancelled, then lets in-flight
/// requests finish for at most [`SHUTDOWN_GRACE`]. Every connection task is joined before return.
/// A handler error closes its connection without a response.
pub async fn serve_http<H, F, E>(listener: TcpListener, shutdown: CancellationToken, handler: H)
where
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
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a moment instead of spinning.
                        tracing::warn!(%error, "cannot accept connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service_fn(handler.clone()));
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    if let Err(error) = conn.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
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

fn handle(state: &ServerState, req: &Request<Incoming>) -> HttpResponse {
    let path = req.uri().path();
    let get_or_head = matches!(*req.method(), Method::GET | Method::HEAD);
    let known = path == state.telemetry_path || RESERVED_PATHS.contains(&path);
    if !known {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if !get_or_head {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == state.telemetry_path {
        return metrics(state, req);
    }
    match path {
        "/" => index(state),
        "/healthz" => plain(StatusCode::OK, "ok\n"),
        _ => {
            if state.snapshot.borrow().cycles > 0 {
                plain(StatusCode::OK, "ready\n")
            } else {
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: the first poll cycle has not finished\n",
                )
            }
        }
    }
}

/// A response with a body and its content type.
pub fn response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn plain(status: StatusCode, body: &'static str) -> HttpResponse {
    response(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn metrics(state: &ServerState, req: &Request<Incoming>) -> HttpResponse {
    let snapshot = state.snapshot.borrow().clone();
    // The Bedrock part was encoded when the cycle ended; families of the two parts never share a
    // name, so appending keeps the exposition valid.
    let mut body = snapshot.exposition.clone();
    body.extend(encode(state.telemetry.gather()));
    let gzip = accepts_gzip(
        req.headers()
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let mut response = if gzip {
        match gzip_bytes(&body) {
            Ok(compressed) => {
                let mut r = response(StatusCode::OK, TEXT_FORMAT, compressed);
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            Err(error) => {
                tracing::warn!(%error, "cannot gzip metrics; sending them uncompressed");
                response(StatusCode::OK, TEXT_FORMAT, body)
            }
        }
    } else {
        response(StatusCode::OK, TEXT_FORMAT, body)
    };
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// Whether Accept-Encoding values allow gzip (RFC 9110, 12.5.3): an explicit `gzip` entry
/// decides by its weight (`gzip;q=0` refuses even beside `*`); without one, `*` decides.
fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let mut gzip = None;
    let mut any = None;
    for item in values.into_iter().flat_map(|v| v.split(',')) {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let weight = parts
            .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
            .next_back()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight);
        } else if coding == "*" {
            any = Some(weight);
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

fn gzip_bytes(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

fn index(state: &ServerState) -> HttpResponse {
    let snapshot = state.snapshot.borrow().clone();
    let path = escape(&state.telemetry_path);
    let mut html = String::with_capacity(4096);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Bedrock Exporter</title>\
         <style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:left}}</style></head>\n\
         <body><h1>Bedrock Exporter</h1>\n<p>Version {version} ({revision}). \
         <a href=\"{path}\">Metrics</a> · <a href=\"/healthz\">Health</a> · <a href=\"/readyz\">Readiness</a></p>\n\
         <p>Poll cycles finished: {cycles}</p>\n",
        version = env!("CARGO_PKG_VERSION"),
        revision = env!("BEDROCK_EXPORTER_REVISION"),
        cycles = snapshot.cycles,
    );
    if !snapshot.discoveries.is_empty() {
        html.push_str("<h2>Discovery</h2>\n<table><tr><th>Kind</th><th>Account</th><th>Region</th><th>Up</th><th>Found</th><th>Last error</th></tr>\n");
        for d in &snapshot.discoveries {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                d.kind.as_str(),
                escape(&d.account),
                escape(&d.region),
                if d.up { "yes" } else { "no" },
                d.discovered,
                escape(
                    &d.last_error
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str("<h2>Jobs and models</h2>\n<table><tr><th>Kind</th><th>Identifier</th><th>Account</th><th>Region</th><th>Origin</th><th>Up</th><th>Status</th><th>Failure message</th><th>Last error</th><th>Last success</th></tr>\n");
    for resource in &snapshot.resources {
        let last_success = resource
            .last_success
            .map(|t| {
                DateTime::from_secs(t as i64)
                    .fmt(Format::DateTime)
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "never".to_owned());
        let last_error = resource
            .last_error
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let origin = match resource.origin {
            Origin::Configured => "configured",
            Origin::Discovered => "discovered",
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            resource.kind.as_str(),
            escape(&resource.identifier),
            escape(&resource.account),
            escape(&resource.region),
            origin,
            if resource.up { "yes" } else { "no" },
            escape(resource.status().unwrap_or("")),
            escape(resource.failure_message().unwrap_or("")),
            escape(&last_error),
            last_success,
        );
    }
    html.push_str("</table></body></html>\n");
    response(
        StatusCode::OK,
        "text/html; charset=utf-8",
        html.into_bytes(),
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_negotiated_by_quality() {
        let accepts = |v: &str| accepts_gzip([v]);
        assert!(accepts("gzip"));
        assert!(accepts("deflate, gzip;q=0.5"));
        assert!(accepts("*"));
        assert!(accepts("GZIP"));
        assert!(accepts("identity;q=1, *;q=0.1"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip;q=0, *"));
        assert!(!accepts("*, gzip;q=0.000"));
        assert!(!accepts("*;q=0"));
        assert!(!accepts("identity"));
        assert!(!accepts(""));
        // Several header lines count as one list.
        assert!(!accepts_gzip(["*", "gzip;q=0"]));
        assert!(accepts_gzip(["identity", "gzip"]));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
