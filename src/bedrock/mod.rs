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

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

/// One `GetModelCustomizationJob` response. Every field may be absent, as in the API.
///
/// A `ListModelCustomizationJobs` summary is a record too, with only the fields summaries carry
/// (ARN, name, base model, status and stage status, times, output model, customization type).
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
///
/// A `ListCustomModels` summary is a record too, with only the fields summaries carry (ARN, name,
/// creation time, base model, customization type, status).
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

/// What a watched resource is, as the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Job,
    Model,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Job, Kind::Model];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Job => "job",
            Kind::Model => "model",
        }
    }

    /// The call that reads one resource of this kind.
    pub fn get_operation(self) -> Operation {
        match self {
            Kind::Job => Operation::GetModelCustomizationJob,
            Kind::Model => Operation::GetCustomModel,
        }
    }

    /// The call that lists resources of this kind, a page at a time.
    pub fn list_operation(self) -> Operation {
        match self {
            Kind::Job => Operation::ListModelCustomizationJobs,
            Kind::Model => Operation::ListCustomModels,
        }
    }
}

/// A job or a model, as read or as listed.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Job(JobRecord),
    Model(ModelRecord),
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Job(_) => Kind::Job,
            Record::Model(_) => Kind::Model,
        }
    }

    pub fn arn(&self) -> Option<&str> {
        match self {
            Record::Job(job) => job.job_arn.as_deref(),
            Record::Model(model) => model.model_arn.as_deref(),
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Record::Job(job) => job.job_name.as_deref(),
            Record::Model(model) => model.model_name.as_deref(),
        }
    }

    /// The job's status, or the model's.
    pub fn status(&self) -> Option<&str> {
        match self {
            Record::Job(job) => job.status.as_deref(),
            Record::Model(model) => model.model_status.as_deref(),
        }
    }

    pub fn creation_time(&self) -> Option<f64> {
        match self {
            Record::Job(job) => job.creation_time,
            Record::Model(model) => model.creation_time,
        }
    }

    /// `lastModifiedTime`, which jobs have and models do not.
    pub fn last_modified(&self) -> Option<f64> {
        match self {
            Record::Job(job) => job.last_modified_time,
            Record::Model(_) => None,
        }
    }

    /// The failure message of a failed job or model.
    pub fn failure_message(&self) -> Option<&str> {
        match self {
            Record::Job(job) => job.failure_message.as_deref(),
            Record::Model(model) => model.failure_message.as_deref(),
        }
    }

    /// Whether its status says it failed.
    pub fn is_failed(&self) -> bool {
        self.status() == Some("Failed")
    }

    /// When it ended: a finished job's `endTime`; `None` for anything else.
    pub fn end_time(&self) -> Option<f64> {
        match self {
            Record::Job(job) if job.is_terminal() => job.end_time,
            _ => None,
        }
    }

    /// The last training loss, and the validation losses (one per validator, in order).
    pub fn losses(&self) -> (Option<f64>, &[Option<f64>]) {
        match self {
            Record::Job(job) => (job.training_loss, &job.validation_losses),
            Record::Model(model) => (model.training_loss, &model.validation_losses),
        }
    }

    /// Whether it no longer changes by itself: a finished job, a model no longer `Creating`.
    pub fn is_settled(&self) -> bool {
        match self {
            Record::Job(job) => job.is_terminal(),
            Record::Model(model) => model.is_settled(),
        }
    }

    /// Whether it is still running, so its summary tells too little: a job `InProgress` or
    /// `Stopping` (its losses move while its status does not).
    pub fn is_running(&self) -> bool {
        matches!(self.status(), Some("InProgress" | "Stopping")) && self.kind() == Kind::Job
    }

    /// This record as a list summary has it: only the fields summaries carry.
    pub fn summary(&self) -> Record {
        match self {
            Record::Job(job) => Record::Job(JobRecord {
                job_arn: job.job_arn.clone(),
                job_name: job.job_name.clone(),
                output_model_name: job.output_model_name.clone(),
                output_model_arn: job.output_model_arn.clone(),
                base_model_arn: job.base_model_arn.clone(),
                status: job.status.clone(),
                status_details: job.status_details.clone(),
                customization_type: job.customization_type.clone(),
                creation_time: job.creation_time,
                last_modified_time: job.last_modified_time,
                end_time: job.end_time,
                ..JobRecord::default()
            }),
            Record::Model(model) => Record::Model(ModelRecord {
                model_arn: model.model_arn.clone(),
                model_name: model.model_name.clone(),
                base_model_arn: model.base_model_arn.clone(),
                customization_type: model.customization_type.clone(),
                model_status: model.model_status.clone(),
                creation_time: model.creation_time,
                ..ModelRecord::default()
            }),
        }
    }

    /// Takes the fields a newer summary carries, keeping the rest (losses, hyperparameters,
    /// failure message) from the last read.
    pub fn update_from_summary(&mut self, summary: &Record) {
        match (self, summary) {
            (Record::Job(job), Record::Job(s)) => {
                let rest = std::mem::take(job);
                *job = JobRecord {
                    failure_message: rest.failure_message,
                    hyper_parameters: rest.hyper_parameters,
                    training_loss: rest.training_loss,
                    validation_losses: rest.validation_losses,
                    ..s.clone()
                };
            }
            (Record::Model(model), Record::Model(s)) => {
                let rest = std::mem::take(model);
                *model = ModelRecord {
                    job_name: rest.job_name,
                    job_arn: rest.job_arn,
                    failure_message: rest.failure_message,
                    hyper_parameters: rest.hyper_parameters,
                    training_loss: rest.training_loss,
                    validation_losses: rest.validation_losses,
                    ..s.clone()
                };
            }
            _ => {}
        }
    }
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

/// The Bedrock operations the exporter calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    GetModelCustomizationJob,
    GetCustomModel,
    ListModelCustomizationJobs,
    ListCustomModels,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 4] = [
        Operation::GetModelCustomizationJob,
        Operation::GetCustomModel,
        Operation::ListModelCustomizationJobs,
        Operation::ListCustomModels,
    ];

    /// The operation's API name, used as the `operation` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::GetModelCustomizationJob => "GetModelCustomizationJob",
            Operation::GetCustomModel => "GetCustomModel",
            Operation::ListModelCustomizationJobs => "ListModelCustomizationJobs",
            Operation::ListCustomModels => "ListCustomModels",
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
    /// `statusEquals` (jobs only).
    pub status: Option<String>,
    /// `baseModelArnEquals` (models only).
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    pub next_token: Option<String>,
}

/// Reads jobs and models of one target (one account and region). Cheap to clone: clones share
/// their connections and credential caches.
///
/// What it returns comes from outside: the poller passes every result through [`boundary`]
/// before anything else sees it.
pub trait BedrockSource: Clone + Send + Sync + 'static {
    /// `GetModelCustomizationJob` or `GetCustomModel` for a name or ARN.
    fn get(
        &self,
        kind: Kind,
        identifier: &str,
    ) -> impl Future<Output = Result<Record, FetchError>> + Send;

    /// One page of `ListModelCustomizationJobs` or `ListCustomModels` (one call, full pages),
    /// from `next_token` (the first page without one). The caller follows the tokens, so that
    /// it can bound a listing.
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
