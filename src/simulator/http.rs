//! The simulator over HTTP: routing of Bedrock's REST paths (and of `POST /` to Organizations or
//! STS), query parameters decoded and checked as the service checks them, faults put on the wire,
//! and the server's lifecycle.

use std::net::SocketAddr;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::json::{list_json, record_json};
use super::{Fault, Outcome, Request, Simulator};
use crate::bedrock::{kinds, Kind, ListQuery};
use crate::http::{response, serve_http, HttpResponse};

/// `maxResults` when a List request leaves it out.
const DEFAULT_MAX_RESULTS: usize = 100;

/// The simulator's way of dropping a connection: hyper closes it without a response.
#[derive(Debug, thiserror::Error)]
#[error("simulated connection close")]
pub struct ConnectionClosed;

/// A simulator serving on loopback.
#[derive(Debug)]
pub struct RunningSimulator {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningSimulator {
    /// The endpoint URL to give the SDK.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "simulator task failed");
        }
    }
}

impl Simulator {
    /// Binds `127.0.0.1:0` and serves until the returned handle is shut down.
    pub async fn spawn(&self) -> std::io::Result<RunningSimulator> {
        self.spawn_on(TcpListener::bind(("127.0.0.1", 0)).await?)
    }

    /// Serves on `listener` until the returned handle is shut down.
    pub fn spawn_on(&self, listener: TcpListener) -> std::io::Result<RunningSimulator> {
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let sim = self.clone();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            let handler_token = token.clone();
            serve_http(
                listener,
                token,
                || None,
                move |req| {
                    let sim = sim.clone();
                    let token = handler_token.clone();
                    async move { sim.handle(req, token).await }
                },
            )
            .await;
        });
        Ok(RunningSimulator {
            addr,
            shutdown,
            task,
        })
    }

    async fn handle(
        &self,
        req: hyper::Request<Incoming>,
        shutdown: CancellationToken,
    ) -> Result<HttpResponse, ConnectionClosed> {
        // Organizations (JSON 1.1) and STS (query) both post to `/`; the JSON protocol names its
        // operation in `X-Amz-Target`, the query protocol in the body.
        if req.method() == Method::POST && req.uri().path() == "/" {
            if req.headers().contains_key("x-amz-target") {
                return self.organizations(req, shutdown).await;
            }
            return Ok(self.sts(req).await);
        }
        if req.method() != Method::GET {
            return Ok(error_response(
                405,
                "UnknownOperationException",
                "Unsupported method",
            ));
        }
        let Some(access_key) = signed_by(&req) else {
            return Ok(error_response(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let params = query_params(req.uri().query().unwrap_or_default());
        let Some(params) = params else {
            return Ok(validation("Malformed query string"));
        };
        let request = match route(req.uri().path(), &params) {
            Route::Request(request) => request,
            Route::Invalid(message) => return Ok(validation(&message)),
            Route::Unknown => {
                return Ok(error_response(
                    404,
                    "UnknownOperationException",
                    "Unknown operation",
                ))
            }
        };
        let logged = match request {
            Request::List { .. } => params,
            Request::Get { .. } => Vec::new(),
        };
        let answer = self.answer(&request, logged, &access_key);
        match answer.fault {
            Some(Fault::Error {
                status,
                code,
                message,
            }) => return Ok(error_response(status, &code, &message)),
            Some(Fault::CloseConnection) => return Err(ConnectionClosed),
            Some(Fault::Raw { status, body }) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                return Ok(json_response(status, body));
            }
            Some(Fault::MalformedJson) => {
                let cut = br#"{"jobArn": "arn:aws:bedrock:us-east-1:1234"#.to_vec();
                return Ok(json_response(StatusCode::OK, cut));
            }
            Some(Fault::Delay(delay)) => tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return Err(ConnectionClosed),
            },
            Some(Fault::Hold) => tokio::select! {
                _ = self.released(answer.clears) => {}
                _ = shutdown.cancelled() => return Err(ConnectionClosed),
            },
            Some(Fault::Tokens(_)) | None => {}
        }
        Ok(match (answer.outcome, &request) {
            (Outcome::Found(record), _) => json_response(StatusCode::OK, record_json(&record)),
            (
                Outcome::Page {
                    records,
                    next_token,
                },
                Request::List { query, .. },
            ) => json_response(
                StatusCode::OK,
                list_json(query.kind, &records, next_token.as_deref()),
            ),
            (Outcome::Page { .. }, Request::Get { .. }) => validation("not a read"),
            (Outcome::Invalid(message), _) => validation(&message),
            (Outcome::NotFound, Request::Get { kind, identifier }) => not_found(*kind, identifier),
            (Outcome::NotFound, Request::List { .. }) => validation("not a listing"),
        })
    }
}

/// Where a request goes.
enum Route {
    Request(Request),
    /// A known operation with a parameter the service would refuse.
    Invalid(String),
    Unknown,
}

/// Maps a REST path and its query to the operation it calls.
fn route(path: &str, params: &[(String, String)]) -> Route {
    for &kind in Kind::ALL {
        let listing = path.strip_prefix(kind.spec().path);
        if listing.is_some_and(|rest| rest.is_empty() || rest == "/") {
            return match list_request(kind, params) {
                Ok(request) => Route::Request(request),
                Err(message) => Route::Invalid(message),
            };
        }
        let Some(raw) = path
            .strip_prefix(kind.get_path())
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|id| !id.contains('/'))
        else {
            continue;
        };
        return match percent_decode(raw) {
            Some(identifier) => Route::Request(Request::Get { kind, identifier }),
            None => Route::Invalid("Malformed identifier".to_owned()),
        };
    }
    Route::Unknown
}

/// A List request from its query parameters, each checked against the API model: enums,
/// timestamps and `maxResults` (whose range the listing itself checks); the parameters of one
/// kind by its module.
fn list_request(kind: Kind, params: &[(String, String)]) -> Result<Request, String> {
    let spec = kind.spec();
    let mut query = ListQuery::all(kind);
    let mut max_results = DEFAULT_MAX_RESULTS;
    let mut next_token = None;
    let mut ascending = false;
    for (name, value) in params {
        let invalid = || {
            format!("1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint")
        };
        let one_of = |allowed: &[&str]| {
            if allowed.contains(&value.as_str()) {
                Ok(value.clone())
            } else {
                Err(format!(
                    "{}: Member must satisfy enum value set: [{}]",
                    invalid(),
                    allowed.join(", ")
                ))
            }
        };
        match name.as_str() {
            "nameContains" => query.name_contains = Some(value.clone()),
            "creationTimeAfter" => {
                query.created_after = Some(timestamp(value).ok_or_else(invalid)?)
            }
            "creationTimeBefore" => {
                query.created_before = Some(timestamp(value).ok_or_else(invalid)?)
            }
            "maxResults" => max_results = value.parse().map_err(|_| invalid())?,
            "nextToken" => next_token = Some(value.clone()),
            "sortBy" => {
                one_of(&["CreationTime"])?;
            }
            "sortOrder" => ascending = one_of(&["Ascending", "Descending"])? == "Ascending",
            status if Some(status) == spec.status_param => {
                query.status = Some(one_of(spec.statuses)?)
            }
            other => {
                // Like the service, parameters it does not know are ignored.
                if let Some(taken) = kinds::list_param(&mut query, other, value) {
                    taken?;
                }
            }
        }
    }
    Ok(Request::List {
        query,
        max_results,
        next_token,
        ascending,
    })
}

/// An RFC 3339 timestamp as the SDK writes query parameters, as Unix seconds.
fn timestamp(text: &str) -> Option<f64> {
    DateTime::from_str(text, Format::DateTime)
        .ok()
        .map(|t| t.secs() as f64 + f64::from(t.subsec_nanos()) / 1e9)
}

/// The parameters of a query string, percent-decoded; `None` if one is malformed.
fn query_params(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// The access key ID of a SigV4 `Authorization` header, if the request is signed.
pub(super) fn signed_by(req: &hyper::Request<Incoming>) -> Option<String> {
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let credential = auth.strip_prefix("AWS4-HMAC-SHA256 Credential=")?;
    let key = credential.split('/').next()?;
    (!key.is_empty() && auth.contains("Signature=")).then(|| key.to_owned())
}

/// The service's answer for a name or ARN it does not know.
fn not_found(kind: Kind, identifier: &str) -> HttpResponse {
    let what = kind.spec().noun;
    error_response(
        404,
        "ResourceNotFoundException",
        &format!("The {what} {identifier} could not be found."),
    )
}

fn validation(message: &str) -> HttpResponse {
    error_response(400, "ValidationException", message)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut r = response(status, "application/json", body);
    r.headers_mut().insert(
        "x-amzn-RequestId",
        HeaderValue::from_static("5f3c8a2e-0000-4000-8000-000000000000"),
    );
    r
}

/// An error as the service sends it: the code in `x-amzn-ErrorType`, the message in the body.
fn error_response(status: u16, code: &str, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(
        status,
        json!({ "message": message }).to_string().into_bytes(),
    );
    let error_type = format!("{code}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    if let Ok(value) = HeaderValue::from_str(&error_type) {
        r.headers_mut().insert("x-amzn-ErrorType", value);
    }
    r
}

/// Decodes `%XX` escapes; `None` if malformed or not UTF-8.
pub(super) fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_percent_decoded() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ajob%2Fx").as_deref(),
            Some("arn:aws:bedrock:us-east-1:1:job/x")
        );
        assert_eq!(percent_decode("plain-name").as_deref(), Some("plain-name"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("cut%2"), None);
    }

    #[test]
    fn list_parameters_are_checked_as_the_service_checks_them() {
        let params = |q: &str| query_params(q).unwrap();
        let Route::Request(Request::List {
            query,
            max_results,
            next_token,
            ascending,
        }) = route(
            "/model-customization-jobs",
            &params("nameContains=bot&creationTimeAfter=2026-11-01T12%3A00%3A00Z&statusEquals=InProgress&maxResults=1000&nextToken=page-5&sortOrder=Ascending"),
        )
        else {
            panic!("not a listing")
        };
        assert_eq!(query.name_contains.as_deref(), Some("bot"));
        assert_eq!(query.created_after, Some(1_793_534_400.0));
        assert_eq!(query.status.as_deref(), Some("InProgress"));
        assert_eq!(
            (max_results, next_token.as_deref(), ascending),
            (1000, Some("page-5"), true)
        );
        for bad in [
            "statusEquals=Running",
            "creationTimeAfter=yesterday",
            "maxResults=many",
            "sortBy=Name",
        ] {
            assert!(
                matches!(
                    route("/model-customization-jobs", &params(bad)),
                    Route::Invalid(_)
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            route("/custom-models", &params("modelStatus=Creating")),
            Route::Request(_)
        ));
        assert!(matches!(route("/nope", &[]), Route::Unknown));
    }
}
