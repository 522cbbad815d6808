//! Bedrock as the exporter sees it: the project's own record types, the [`BedrockSource`] trait
//! that reads them, and its implementation with the real SDK ([`aws`]), behind the checks of
//! [`boundary`].
//!
//! The poller is generic over [`BedrockSource`]; [`crate::simulator`] implements it too,
//! in-process, for tests that run on paused time (and serves the same records over HTTP, for
//! the SDK).

pub mod aws;
pub mod boundary;
pub mod families;
pub mod kinds;
pub mod series;

pub use kinds::job::StatusDetails;
pub use kinds::{JobRecord, Kind, KindRecord, KindSpec, ModelRecord, Operation, Record};

use std::fmt;
use std::future::Future;

/// Why a read failed, as the `error` label of `bedrock_exporter_api_request_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    Throttling,
    AccessDenied,
    NotFound,
    Validation,
    Internal,
    Timeout,
    Network,
    Credentials,
    Other,
}

impl ErrorKind {
    /// Every kind, in label order.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Throttling,
        ErrorKind::AccessDenied,
        ErrorKind::NotFound,
        ErrorKind::Validation,
        ErrorKind::Internal,
        ErrorKind::Timeout,
        ErrorKind::Network,
        ErrorKind::Credentials,
        ErrorKind::Other,
    ];

    /// The metric label for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Throttling => "throttling",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Validation => "validation",
            ErrorKind::Internal => "internal",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::Credentials => "credentials",
            ErrorKind::Other => "other",
        }
    }

    /// Classifies a service error by its error code. The HTTP status counts only when the code
    /// is missing or unknown, and then only a 5xx (`internal`): a 404 without
    /// `ResourceNotFoundException` comes from a wrong endpoint or a proxy, not from Bedrock saying
    /// the job is gone, so it is `other` (and the job's last values stay); a 403 or 429 page
    /// without a code is a proxy's, not an IAM refusal or a throttle.
    pub fn from_service_error(code: Option<&str>, http_status: u16) -> ErrorKind {
        match code {
            Some(
                "ThrottlingException"
                | "TooManyRequestsException"
                | "ThrottledException"
                | "RequestLimitExceeded"
                | "SlowDown",
            ) => return ErrorKind::Throttling,
            Some("AccessDeniedException" | "UnauthorizedException") => {
                return ErrorKind::AccessDenied
            }
            // The request's credentials are missing, expired or unknown to AWS, or do not match
            // the signature: a problem of the credentials, not of the IAM policy.
            Some(
                "ExpiredTokenException"
                | "ExpiredToken"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
                | "MissingAuthenticationTokenException",
            ) => return ErrorKind::Credentials,
            Some("ResourceNotFoundException") => return ErrorKind::NotFound,
            Some("ValidationException" | "SerializationException") => return ErrorKind::Validation,
            Some("InternalServerException" | "ServiceUnavailableException" | "InternalFailure") => {
                return ErrorKind::Internal
            }
            _ => {}
        }
        // A 403 or 429 without a known code is a proxy's or a gateway's page, not AWS refusing:
        // only a 5xx says something without its code.
        match http_status {
            500..=599 => ErrorKind::Internal,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed read, after the SDK's retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct FetchError {
    kind: ErrorKind,
    message: String,
    /// The response was refused for its size ([`boundary::BODY_MAX`]).
    too_large: bool,
}

impl FetchError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        FetchError {
            kind,
            message: message.into(),
            too_large: false,
        }
    }

    /// A response refused while it was read, for being over [`boundary::BODY_MAX`].
    pub fn too_large() -> Self {
        FetchError {
            too_large: true,
            ..FetchError::new(
                ErrorKind::Other,
                format!(
                    "response too large: over {} MiB, refused while it was read",
                    boundary::BODY_MAX >> 20
                ),
            )
        }
    }

    /// Whether the response was refused for its size.
    pub fn is_too_large(&self) -> bool {
        self.too_large
    }

    /// The error kind, for the `error` label.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable detail (service message or transport error).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The filters of a listing, as the List operations take them.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub kind: Kind,
    /// `nameContains`.
    pub name_contains: Option<String>,
    /// `creationTimeAfter`, Unix seconds.
    pub created_after: Option<f64>,
    /// `creationTimeBefore`, Unix seconds.
    pub created_before: Option<f64>,
    /// One status, for kinds whose List call filters by status ([`KindSpec::status_param`]).
    pub status: Option<String>,
    /// `baseModelArnEquals` (custom models).
    pub base_model: Option<String>,
}

impl ListQuery {
    /// Everything of `kind`, unfiltered.
    pub fn all(kind: Kind) -> ListQuery {
        ListQuery {
            kind,
            name_contains: None,
            created_after: None,
            created_before: None,
            status: None,
            base_model: None,
        }
    }
}

/// The most entries a List page may hold (`MaxResults`); listings ask for full pages.
pub const LIST_PAGE_MAX: usize = 1000;

/// One page of a listing: its summaries, and the token of the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<R = Record> {
    pub records: Vec<R>,
    pub next_token: Option<String>,
}

impl<R> Default for Page<R> {
    fn default() -> Self {
        Page {
            records: Vec::new(),
            next_token: None,
        }
    }
}

impl<R> Page<R> {
    /// The same page, each summary mapped.
    pub fn map<T>(self, f: impl FnMut(R) -> T) -> Page<T> {
        Page {
            records: self.records.into_iter().map(f).collect(),
            next_token: self.next_token,
        }
    }
}

/// Reads the resources of one target (one account and region). Cheap to clone: clones share
/// their connections and credential caches.
///
/// What it returns comes from outside: the poller passes every result through [`boundary`]
/// before anything else sees it.
pub trait BedrockSource: Clone + Send + Sync + 'static {
    /// The Get call of `kind` for a name or ARN (whatever its Get call takes).
    fn get(
        &self,
        kind: Kind,
        identifier: &str,
    ) -> impl Future<Output = Result<Record, FetchError>> + Send;

    /// One page of the List call of `query`'s kind (one call, full pages), from `next_token`
    /// (the first page without one). The caller follows the tokens, so that it can bound a
    /// listing.
    fn list_page(
        &self,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<Page, FetchError>> + Send;
}

/// The account ID field of an ARN (`arn:partition:service:region:account:resource`).
pub fn account_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    let account = parts.nth(3)?;
    (!account.is_empty()).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_is_read_from_arns() {
        assert_eq!(
            account_of_arn("arn:aws:bedrock:us-east-1:123456789012:custom-model/a.b/abcdefghijkl"),
            Some("123456789012")
        );
        assert_eq!(
            account_of_arn("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan"),
            None
        );
        assert_eq!(account_of_arn("my-job"), None);
        assert_eq!(account_of_arn("arn:aws:bedrock"), None);
    }

    #[test]
    fn errors_are_classified_by_code_before_status() {
        use ErrorKind::*;
        let cases = [
            (Some("ThrottlingException"), 400, Throttling),
            (Some("AccessDeniedException"), 400, AccessDenied),
            (Some("ResourceNotFoundException"), 400, NotFound),
            (Some("ValidationException"), 500, Validation),
            (Some("InternalServerException"), 400, Internal),
            (Some("UnrecognizedClientException"), 403, Credentials),
            (Some("ExpiredTokenException"), 400, Credentials),
            (Some("SomethingNew"), 429, Other),
            (None, 429, Other),
            (None, 403, Other),
            (None, 404, Other),
            (Some("UnknownOperationException"), 404, Other),
            (None, 400, Other),
            (None, 503, Internal),
            (None, 418, Other),
        ];
        for (code, status, want) in cases {
            assert_eq!(
                ErrorKind::from_service_error(code, status),
                want,
                "{code:?} {status}"
            );
        }
    }
}
