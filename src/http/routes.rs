//! The exporter's endpoints: `/metrics` (or `--web.telemetry-path`), `/`, `/healthz`,
//! `/readyz`; methods, encodings and the index page.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use super::{response, status_page, Body, HttpResponse};
use crate::exposition::{Snapshot, Telemetry};

/// Paths the server answers itself, which `--web.telemetry-path` cannot take.
pub const RESERVED_PATHS: [&str; 4] = ["/", "/healthz", "/readyz", RELOAD_PATH];

/// Where a `POST` reloads the config file.
const RELOAD_PATH: &str = "/-/reload";

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A request to reload the config (from `POST /-/reload`), answered with what happened: `Ok`
/// with a line saying so, or `Err` with every problem.
pub type ReloadRequest = oneshot::Sender<Result<String, String>>;

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct ServerState {
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub telemetry: Telemetry,
    /// Path of the metrics endpoint (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// Where reload requests go.
    pub reload: mpsc::Sender<ReloadRequest>,
    /// `None`: no limit on scrapes in flight.
    pub scrapes: Option<ScrapeLimit>,
}

/// `--web.max-requests`: how many scrapes may be in flight at once.
#[derive(Debug, Clone)]
pub struct ScrapeLimit {
    places: Arc<Semaphore>,
    max: usize,
}

impl ScrapeLimit {
    /// A limit of `max` scrapes; `None` for 0, no limit.
    pub fn new(max: usize) -> Option<ScrapeLimit> {
        (max > 0).then(|| ScrapeLimit {
            places: Arc::new(Semaphore::new(max)),
            max,
        })
    }
}

/// Answers one request.
pub async fn handle(state: &ServerState, req: &Request<Incoming>) -> HttpResponse {
    let path = req.uri().path();
    let known = path == state.telemetry_path || RESERVED_PATHS.contains(&path);
    if !known {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    let allowed = if path == RELOAD_PATH {
        "POST"
    } else {
        "GET, HEAD"
    };
    let method_allowed = match path {
        RELOAD_PATH => *req.method() == Method::POST,
        _ => matches!(*req.method(), Method::GET | Method::HEAD),
    };
    if !method_allowed {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allowed));
        return response;
    }
    if path == RELOAD_PATH {
        return reload(state).await;
    }
    if path == state.telemetry_path {
        return metrics(state, req).await;
    }
    match path {
        "/" => index(state),
        "/healthz" => plain(StatusCode::OK, "ok\n"),
        _ => {
            if state
                .snapshot
                .borrow()
                .is_ready(tokio::time::Instant::now())
            {
                plain(StatusCode::OK, "ready\n")
            } else {
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: a target has not finished its first poll cycle\n",
                )
            }
        }
    }
}

fn plain(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    response(status, "text/plain; charset=utf-8", body)
}

/// `POST /-/reload`: 200 when the new config took (it applies from the next cycle), 500 with
/// every problem when it is invalid (the config in force stays).
async fn reload(state: &ServerState) -> HttpResponse {
    let (reply, outcome) = oneshot::channel();
    if state.reload.send(reply).await.is_err() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "reloading has stopped\n");
    }
    match outcome.await {
        Ok(Ok(message)) => plain(StatusCode::OK, format!("{message}\n")),
        Ok(Err(problems)) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("config reload failed; the config in force stays:\n{problems}\n"),
        ),
        Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "reloading has stopped\n"),
    }
}

/// The snapshot's text as it is (shared, not copied), then the exporter's own metrics. Gzipped:
/// one member, whose start (the snapshot's text, compressed once for every scrape of it) is
/// shared, and whose end (the own metrics as stored blocks, and the trailer) is this scrape's.
///
/// A place among the scrapes in flight (`--web.max-requests`) is held while the response is
/// made, and given back when it is returned: sending it is the client's reading, no work of
/// ours, and a place held at a client's pace would let a few clients that never read turn
/// every scraper away.
async fn metrics(state: &ServerState, req: &Request<Incoming>) -> HttpResponse {
    let _place = match &state.scrapes {
        None => None,
        Some(limit) => match limit.places.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "too many scrapes in flight (--web.max-requests={}); try again later\n",
                        limit.max
                    ),
                );
            }
        },
    };
    let snapshot = state.snapshot.borrow().clone();
    // The two parts never share a family name, so appending keeps the exposition valid.
    let own = Bytes::from(state.telemetry.encode());
    let wants_gzip = accepts_gzip(
        req.headers()
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let zipped = if wants_gzip {
        snapshot
            .gzipped()
            .await
            .map(|opened| [opened.bytes.clone(), Bytes::from(opened.close(&own))])
    } else {
        None
    };
    let mut response = Response::new(Body::default());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    *response.body_mut() = match zipped {
        Some(chunks) => {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            Body::new(chunks)
        }
        None => Body::new([snapshot.text.clone(), own]),
    };
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

fn index(state: &ServerState) -> HttpResponse {
    let snapshot = state.snapshot.borrow().clone();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let html = status_page::render(&snapshot, &state.telemetry_path, now);
    response(StatusCode::OK, "text/html; charset=utf-8", html)
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
}
