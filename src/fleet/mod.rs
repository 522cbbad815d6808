//! The watched set: every job and model the exporter reads, with what it last learned of each,
//! and the poller that keeps it current.

pub mod poller;

use crate::bedrock::{account_of_arn, FetchError, Kind, Record};

/// What the poller knows of one configured identifier.
#[derive(Debug, Clone)]
pub struct Observation {
    pub kind: Kind,
    /// The identifier as configured (name or ARN).
    pub identifier: String,
    pub region: String,
    /// The `account_id` label: of the ARN once one is known (configured, or read), else the
    /// target's role account, else empty. Kept after a 404, so the series keeps its labels.
    pub account: String,
    /// The last record read; `None` before the first success and after a 404.
    pub record: Option<Record>,
    /// Whether the last read succeeded.
    pub up: bool,
    /// Unix time of the last successful read.
    pub last_success: Option<f64>,
    /// The error of the last read, if it failed.
    pub last_error: Option<FetchError>,
}

impl Observation {
    /// A configured identifier that has not been read yet.
    pub fn new(kind: Kind, identifier: impl Into<String>, region: impl Into<String>) -> Self {
        let identifier = identifier.into();
        Observation {
            kind,
            account: account_of_arn(&identifier).unwrap_or_default().to_owned(),
            identifier,
            region: region.into(),
            record: None,
            up: false,
            last_success: None,
            last_error: None,
        }
    }

    /// Sets the account to report until an ARN tells it (the target's role account).
    pub fn with_account(mut self, role_account: &str) -> Self {
        if self.account.is_empty() {
            self.account = role_account.to_owned();
        }
        self
    }

    /// Records a successful read: the record, and the account its ARN names.
    pub fn read(&mut self, record: Record) {
        let arn = match &record {
            Record::Job(job) => job.job_arn.as_deref(),
            Record::Model(model) => model.model_arn.as_deref(),
        };
        if let Some(account) = arn.and_then(account_of_arn) {
            if account != self.account {
                self.account = account.to_owned();
            }
        }
        self.record = Some(record);
    }

    /// The failure message of a failed job or model, for the index page.
    pub fn failure_message(&self) -> Option<&str> {
        match &self.record {
            Some(Record::Job(job)) => job.failure_message.as_deref(),
            Some(Record::Model(model)) => model.failure_message.as_deref(),
            None => None,
        }
    }

    /// The status shown for this identifier on the index page.
    pub fn status(&self) -> Option<&str> {
        match &self.record {
            Some(Record::Job(job)) => job.status.as_deref(),
            Some(Record::Model(model)) => model.model_status.as_deref(),
            None => None,
        }
    }
}
