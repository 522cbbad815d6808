//! Bedrock as the exporter sees it: the project's own record types, the [`BedrockSource`] trait
//! that reads them, and its two implementations.
//!
//! The poller is generic over [`BedrockSource`]; [`aws`] implements it with the real SDK and
//! [`simulator`] implements it in-process for tests that run on paused time (and serves the same
//! records over HTTP, for the SDK).

pub mod aws;
pub mod simulator;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

/// One `GetModelCustomizationJob` response. Every field may be absent, as in the API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRecord {
    pub job_arn: Option<String>,
    pub job_name: Option<String>,
    pub output_model_name: Option<String>,
    pub output_model_arn: Option<String>,
    pub base_model_arn: Option<String>,
    /// `ModelCustomizationJobStatus`; a value the SDK does not know is kept as sent.
    pub status: Option<String>,
    pub status_details: StatusDetails,
    pub failure_message: Option<String>,
    pub customization_type: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_time: Option<f64>,
    pub last_modified_time: Option<f64>,
    pub end_time: Option<f64>,
    /// `hyperParameters` as the API returns them: strings, numeric or not.
    pub hyper_parameters: BTreeMap<String, String>,
    pub training_loss: Option<f64>,
    /// `validationMetrics[i].validationLoss`, by validator index.
    pub validation_losses: Vec<Option<f64>>,
}

/// `statusDetails` of a job: the status of each stage, when reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusDetails {
    pub validation: Option<String>,
    pub data_processing: Option<String>,
    pub training: Option<String>,
}

impl StatusDetails {
    /// The stages in exposition order, with their metric label.
    pub fn stages(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("validation", self.validation.as_deref()),
            ("data_processing", self.data_processing.as_deref()),
            ("training", self.training.as_deref()),
        ]
    }
}

/// One `GetCustomModel` response. Every field may be absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelRecord {
    pub model_arn: Option<String>,
    pub model_name: Option<String>,
    pub job_name: Option<String>,
    pub job_arn: Option<String>,
    pub base_model_arn: Option<String>,
    pub customization_type: Option<String>,
    /// `ModelStatus`: Active, Creating, Failed, or a newer value as sent.
    pub model_status: Option<String>,
    pub failure_message: Option<String>,
    pub creation_time: Option<f64>,
    pub hyper_parameters: BTreeMap<String, String>,
    pub training_loss: Option<f64>,
    pub validation_losses: Vec<Option<f64>>,
}

/// The kind of a configured identifier, as the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Job,
    Model,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Job => "job",
            Kind::Model => "model",
        }
    }

    pub fn operation(self) -> Operation {
        match self {
            Kind::Job => Operation::GetModelCustomizationJob,
            Kind::Model => Operation::GetCustomModel,
        }
    }
}

/// The last record read for an identifier.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Job(JobRecord),
    Model(ModelRecord),
}

/// Job statuses after which a job no longer changes.
pub const TERMINAL_JOB_STATUSES: [&str; 3] = ["Completed", "Failed", "Stopped"];

impl JobRecord {
    /// Whether the job has finished and so is re-read only at `terminal_interval`.
    pub fn is_terminal(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| TERMINAL_JOB_STATUSES.contains(&s))
    }
}

impl ModelRecord {
    /// Whether the model has settled (anything but `Creating`).
    pub fn is_settled(&self) -> bool {
        self.model_status.as_deref() != Some("Creating")
    }
}

/// The two Bedrock operations the exporter calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    GetModelCustomizationJob,
    GetCustomModel,
}

impl Operation {
    /// Every operation, in label order.
    pub const ALL: [Operation; 2] = [
        Operation::GetModelCustomizationJob,
        Operation::GetCustomModel,
    ];

    /// The operation's API name, used as the `operation` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::GetModelCustomizationJob => "GetModelCustomizationJob",
            Operation::GetCustomModel => "GetCustomModel",
        }
    }
}

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

    /// Classifies a service error by its error code first. The HTTP status counts only when the
    /// code is missing or unknown, and then only where it cannot mislead: a 404 without
    /// `ResourceNotFoundException` comes from a wrong endpoint or a proxy, not from Bedrock saying
    /// the job is gone, so it is `other` (and the job's last values stay).
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
        match http_status {
            429 => ErrorKind::Throttling,
            403 => ErrorKind::AccessDenied,
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
}

impl FetchError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        FetchError {
            kind,
            message: message.into(),
        }
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

/// Reads jobs and models of one target (one account and region).
pub trait BedrockSource: Send + Sync {
    /// `GetModelCustomizationJob` for a job name or ARN.
    fn get_job(
        &self,
        identifier: &str,
    ) -> impl Future<Output = Result<JobRecord, FetchError>> + Send;
    /// `GetCustomModel` for a model name or ARN.
    fn get_model(
        &self,
        identifier: &str,
    ) -> impl Future<Output = Result<ModelRecord, FetchError>> + Send;
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
            (Some("SomethingNew"), 429, Throttling),
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
