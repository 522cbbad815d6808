//! The exporter's endpoints: `/metrics` (or `--web.telemetry-path`), `/`, `/healthz`,
//! `/readyz`; methods, encodings and the index page.

use std::fmt::Write as _;
use std::sync::Arc;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use super::{response, Body, HttpResponse};
use crate::exposition::{Snapshot, Telemetry};
use crate::fleet::Origin;

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
async fn metrics(state: &ServerState, req: &Request<Incoming>) -> HttpResponse {
    let permit = match &state.scrapes {
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
    }
    .holding(permit);
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
    let path = escape(&state.telemetry_path);
    let mut html = String::with_capacity(4096 + 256 * snapshot.resources.len());
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
            escape(resource.status.as_deref().unwrap_or("")),
            escape(resource.failure_message.as_deref().unwrap_or("")),
            escape(resource.last_error.as_deref().unwrap_or("")),
            last_success,
        );
    }
    html.push_str("</table></body></html>\n");
    response(StatusCode::OK, "text/html; charset=utf-8", html)
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
    use proptest::prelude::*;

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

    /// The references `escape` writes, and the characters they stand for.
    const REFERENCES: [(&str, char); 5] = [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&#39;", '\''),
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text, and text made of markup and of what looks like references already.
        #[test]
        fn any_text_is_inert_in_html_and_reads_back(
            text in prop_oneof![any::<String>(), "[<>\"'&;#0-9a-z/= \n]{0,24}"],
        ) {
            let html = escape(&text);
            for c in ['<', '>', '"', '\''] {
                prop_assert!(!html.contains(c), "{:?} in {:?}", c, html);
            }
            if !text.contains('\n') {
                prop_assert!(!html.contains('\n'), "{:?}", html);
            }
            // Every `&` starts a reference; read back, they give the text again.
            let mut read = String::new();
            let mut rest = html.as_str();
            while let Some(at) = rest.find('&') {
                read.push_str(&rest[..at]);
                let Some((r, c)) = REFERENCES.iter().find(|(r, _)| rest[at..].starts_with(r))
                else {
                    return Err(TestCaseError::fail(format!("an unescaped & in {html:?}")));
                };
                read.push(*c);
                rest = &rest[at + r.len()..];
            }
            read.push_str(rest);
            prop_assert_eq!(read, text);
        }
    }
}
