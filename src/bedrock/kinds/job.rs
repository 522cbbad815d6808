//! Model customization jobs (`job`): `ListModelCustomizationJobs` / `GetModelCustomizationJob`,
//! exported as `bedrock_customization_job_*`. A summary lacks the losses, hyperparameters and
//! failure message, so a discovered job is read with Get.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::{FineTuningJobStatus, ModelCustomizationJobSummary};
use aws_sdk_bedrock::Client;
use serde_json::{json, Map, Value};

use super::json::{data_configs, hyper_parameters as hyper_parameters_json, metrics, put, string, timestamp};
use super::check::{check, name_part, whole};
use super::customization::Customization;
use super::{FamilyDef, KindRecord, KindSpec};
use regex::Regex;
use crate::bedrock::aws::{fetch_error, hyper_parameters, present, seconds, training_loss, validation_losses};
use crate::bedrock::boundary::Fields;
use crate::bedrock::series::{or_empty, Ident};
use crate::bedrock::{account_of_arn, FetchError, ListQuery, Page, LIST_PAGE_MAX};

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
    /// `customizationConfig`: RFT hyperparameters (merged into `hyper_parameters` when read),
    /// reasoning effort, grader, distillation teacher.
    pub customization: Customization,
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
            ("data_processing", self.data_processing.as_deref()),
            ("training", self.training.as_deref()),
            ("validation", self.validation.as_deref()),
        ]
    }
}

/// Job statuses (`ModelCustomizationJobStatus`).
pub const STATUSES: [&str; 5] = ["InProgress", "Completed", "Failed", "Stopping", "Stopped"];
/// Stage statuses (`JobStatusDetails`).
pub const STAGE_STATUSES: [&str; 6] = [
    "InProgress",
    "Completed",
    "Stopping",
    "Stopped",
    "Failed",
    "NotStarted",
];

const CREATION: usize = 0;
const END: usize = 1;
const FAILURE: usize = 2;
const HYPERPARAMETER: usize = 3;
const INFO: usize = 4;
const LAST_MODIFIED: usize = 5;
const STAGE_STATUS: usize = 6;
const STATUS: usize = 7;
const TRAINING_LOSS: usize = 8;
const VALIDATION_LOSS: usize = 9;

static SPEC: KindSpec = KindSpec {
    label: "job",
    config_key: "jobs",
    noun: "model customization job",
    list: "ListModelCustomizationJobs",
    get: "GetModelCustomizationJob",
    identity_label: "job_name",
    statuses: &STATUSES,
    running: &["InProgress", "Stopping"],
    status_param: Some("statusEquals"),
    path: "/model-customization-jobs",
    summaries_key: "modelCustomizationJobSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "name_contains",
    reread_when_settled: false,
    discover_keys: &["name_contains", "created_within"],
    created_within: Some(Duration::from_secs(14 * 86_400)),
    lists_running_of_any_age: true,
    families: &[
        FamilyDef { name: "bedrock_customization_job_creation_timestamp_seconds", help: "Creation time of a model customization job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_customization_job_end_timestamp_seconds", help: "End time of a finished model customization job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_customization_job_failure_info", help: "Failure message of a failed model customization job (first line, at most 256 characters); always 1." },
        FamilyDef { name: "bedrock_customization_job_hyperparameter", help: "Numeric hyperparameter of a model customization job." },
        FamilyDef { name: "bedrock_customization_job_info", help: "Static facts of a model customization job, for joins; always 1." },
        FamilyDef { name: "bedrock_customization_job_last_modified_timestamp_seconds", help: "Last modification time of a model customization job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_customization_job_stage_status", help: "Status of each stage of a model customization job (statusDetails): 1 for the current status, 0 for the others." },
        FamilyDef { name: "bedrock_customization_job_status", help: "Status of a model customization job: 1 for the current status, 0 for the others." },
        FamilyDef { name: "bedrock_customization_job_training_loss", help: "Training loss reported for a model customization job (trainingMetrics.trainingLoss)." },
        FamilyDef { name: "bedrock_customization_job_validation_loss", help: "Validation loss of a model customization job per validator (validationMetrics[i].validationLoss)." },
    ],
};

impl KindRecord for JobRecord {
    fn spec() -> &'static KindSpec {
        &SPEC
    }

    fn arn(&self) -> Option<&str> {
        self.job_arn.as_deref()
    }

    fn name(&self) -> Option<&str> {
        self.job_name.as_deref()
    }

    fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    fn creation_time(&self) -> Option<f64> {
        self.creation_time
    }

    fn last_modified(&self) -> Option<f64> {
        self.last_modified_time
    }

    /// A finished job's `endTime`.
    fn end_time(&self) -> Option<f64> {
        self.end_time.filter(|_| self.is_settled())
    }

    fn failure_message(&self) -> Option<&str> {
        self.failure_message.as_deref()
    }

    fn losses(&self) -> (Option<f64>, &[Option<f64>]) {
        (self.training_loss, &self.validation_losses)
    }

    fn summary(&self) -> JobRecord {
        JobRecord {
            job_arn: self.job_arn.clone(),
            job_name: self.job_name.clone(),
            output_model_name: self.output_model_name.clone(),
            output_model_arn: self.output_model_arn.clone(),
            base_model_arn: self.base_model_arn.clone(),
            status: self.status.clone(),
            status_details: self.status_details.clone(),
            customization_type: self.customization_type.clone(),
            creation_time: self.creation_time,
            last_modified_time: self.last_modified_time,
            end_time: self.end_time,
            ..JobRecord::default()
        }
    }

    fn update_from_summary(&mut self, summary: &JobRecord) {
        let rest = std::mem::take(self);
        *self = JobRecord {
            failure_message: rest.failure_message,
            hyper_parameters: rest.hyper_parameters,
            training_loss: rest.training_loss,
            validation_losses: rest.validation_losses,
            customization: rest.customization,
            ..summary.clone()
        };
    }

    fn check(&mut self, fields: &mut Fields) {
        for value in [
            &mut self.job_arn,
            &mut self.job_name,
            &mut self.output_model_name,
            &mut self.output_model_arn,
            &mut self.base_model_arn,
            &mut self.status,
            &mut self.customization_type,
            &mut self.status_details.validation,
            &mut self.status_details.data_processing,
            &mut self.status_details.training,
        ] {
            fields.field(value);
        }
        fields.message(&mut self.failure_message);
        fields.hyper_parameters(&mut self.hyper_parameters);
        fields.validators(&mut self.validation_losses);
        self.customization.check(fields);
    }

    fn render(&self, family: usize, id: &Ident, out: &mut Vec<u8>) {
        let name = SPEC.families[family].name;
        let s = or_empty;
        match family {
            CREATION => id.optional(out, name, self.creation_time),
            END => id.optional(out, name, self.end_time),
            FAILURE => {
                id.failure_info(out, name, self.status.as_deref(), self.failure_message.as_deref())
            }
            HYPERPARAMETER => id.hyperparameters(out, name, &self.hyper_parameters),
            INFO => {
                let mut labels = vec![
                    ("base_model", s(&self.base_model_arn)),
                    ("customization_type", s(&self.customization_type)),
                    ("job_arn", s(&self.job_arn)),
                    ("output_model_arn", s(&self.output_model_arn)),
                    ("output_model_name", s(&self.output_model_name)),
                ];
                labels.extend(self.customization.labels());
                id.series(out, name, &labels, 1.0);
            }
            LAST_MODIFIED => id.optional(out, name, self.last_modified_time),
            STAGE_STATUS => {
                for (stage, status) in self.status_details.stages() {
                    if let Some(status) = status {
                        id.state_set(out, name, &[("stage", stage)], "status", &STAGE_STATUSES, status);
                    }
                }
            }
            STATUS => id.status(out, name, &STATUSES, self.status.as_deref()),
            TRAINING_LOSS => id.optional(out, name, self.training_loss),
            VALIDATION_LOSS => id.validation_losses(out, name, &self.validation_losses),
            _ => {}
        }
    }

    async fn get(client: &Client, identifier: &str) -> Result<JobRecord, FetchError> {
        let out = client
            .get_model_customization_job()
            .job_identifier(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        let customization = Customization::of(out.customization_config());
        Ok(JobRecord {
            job_arn: present(out.job_arn()),
            job_name: present(out.job_name()),
            output_model_name: present(out.output_model_name()),
            output_model_arn: out.output_model_arn().and_then(present),
            base_model_arn: present(out.base_model_arn()),
            status: out.status().map(|s| s.as_str().to_owned()),
            status_details: stage_statuses(out.status_details()),
            failure_message: out.failure_message().map(str::to_owned),
            customization_type: out.customization_type().map(|t| t.as_str().to_owned()),
            creation_time: seconds(Some(out.creation_time())),
            last_modified_time: seconds(out.last_modified_time()),
            end_time: seconds(out.end_time()),
            hyper_parameters: {
                let mut params = hyper_parameters(out.hyper_parameters());
                customization.merge_into(&mut params);
                params
            },
            training_loss: training_loss(out.training_metrics()),
            validation_losses: validation_losses(out.validation_metrics()),
            customization,
        })
    }

    async fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page<JobRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        let page = client
            .list_model_customization_jobs()
            .set_name_contains(query.name_contains.clone())
            .set_creation_time_after(time(query.created_after))
            .set_creation_time_before(time(query.created_before))
            .set_status_equals(query.status.as_deref().map(FineTuningJobStatus::from))
            .max_results(LIST_PAGE_MAX as i32)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(Page {
            records: page
                .model_customization_job_summaries()
                .iter()
                .map(summary)
                .collect(),
            next_token: page.next_token,
        })
    }

    fn get_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "jobArn", string(&self.job_arn));
        put(&mut m, "jobName", string(&self.job_name));
        put(&mut m, "outputModelName", string(&self.output_model_name));
        put(&mut m, "outputModelArn", string(&self.output_model_arn));
        let account = self
            .job_arn
            .as_deref()
            .and_then(account_of_arn)
            .unwrap_or("123456789012");
        m.insert(
            "roleArn".to_owned(),
            json!(format!("arn:aws:iam::{account}:role/BedrockCustomization")),
        );
        put(&mut m, "status", string(&self.status));
        put(&mut m, "statusDetails", status_details_json(self));
        put(&mut m, "failureMessage", string(&self.failure_message));
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(
            &mut m,
            "lastModifiedTime",
            self.last_modified_time.map(timestamp),
        );
        put(&mut m, "endTime", self.end_time.map(timestamp));
        put(&mut m, "baseModelArn", string(&self.base_model_arn));
        put(
            &mut m,
            "hyperParameters",
            hyper_parameters_json(&self.hyper_parameters),
        );
        data_configs(
            &mut m,
            self.job_name.as_deref().unwrap_or("job"),
            self.validation_losses.len().max(1),
        );
        put(&mut m, "customizationType", string(&self.customization_type));
        put(&mut m, "customizationConfig", self.customization.json());
        metrics(&mut m, self.training_loss, &self.validation_losses);
        Value::Object(m)
    }

    fn summary_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "jobArn", string(&self.job_arn));
        put(&mut m, "baseModelArn", string(&self.base_model_arn));
        put(&mut m, "jobName", string(&self.job_name));
        put(&mut m, "status", string(&self.status));
        put(&mut m, "statusDetails", status_details_json(self));
        put(
            &mut m,
            "lastModifiedTime",
            self.last_modified_time.map(timestamp),
        );
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(&mut m, "endTime", self.end_time.map(timestamp));
        put(&mut m, "customModelArn", string(&self.output_model_arn));
        put(&mut m, "customModelName", string(&self.output_model_name));
        put(&mut m, "customizationType", string(&self.customization_type));
        Value::Object(m)
    }
}

/// `ModelCustomizationJobIdentifier` of GetModelCustomizationJob.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-customization-job/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([a-z0-9-]{1,63}[.]){0,2}[a-z0-9-]{1,63}([:][a-z0-9-]{1,63}){0,2}/[a-z0-9]{12})|([a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*)",
    )
});
const IDENTIFIER_MAX: usize = 1011;
/// `JobName`: a job named rather than given by ARN has at most this many characters.
const NAME_MAX: usize = 63;
/// `JobName`, which `nameContains` of ListModelCustomizationJobs takes.
static NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*"));

/// Checks a job name or ARN against `jobIdentifier` of GetModelCustomizationJob.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check(id, &IDENTIFIER, IDENTIFIER_MAX, ("job name", NAME_MAX), |arn| {
        if arn {
            "is not a model customization job ARN (arn:aws:bedrock:REGION:ACCOUNT:model-customization-job/BASE-MODEL/ID)"
        } else {
            "is not a job name: it must start with a letter or digit and hold only letters, digits, '+', '-' and '.'"
        }
    })
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as a job name: a letter or digit first, then letters, digits, '+', '-' and '.'",
    )
}

/// A `ListModelCustomizationJobs` entry, as a record with the fields summaries carry.
fn summary(s: &ModelCustomizationJobSummary) -> JobRecord {
    JobRecord {
        job_arn: present(s.job_arn()),
        job_name: present(s.job_name()),
        output_model_name: s.custom_model_name().and_then(present),
        output_model_arn: s.custom_model_arn().and_then(present),
        base_model_arn: present(s.base_model_arn()),
        status: Some(s.status().as_str().to_owned()).filter(|s| !s.is_empty()),
        status_details: stage_statuses(s.status_details()),
        customization_type: s.customization_type().map(|t| t.as_str().to_owned()),
        creation_time: seconds(Some(s.creation_time())),
        last_modified_time: seconds(s.last_modified_time()),
        end_time: seconds(s.end_time()),
        ..JobRecord::default()
    }
}

/// The status of each stage (`statusDetails`), as far as reported.
fn stage_statuses(details: Option<&aws_sdk_bedrock::types::StatusDetails>) -> StatusDetails {
    StatusDetails {
        validation: details
            .and_then(|d| d.validation_details())
            .and_then(|d| d.status())
            .map(|s| s.as_str().to_owned()),
        data_processing: details
            .and_then(|d| d.data_processing_details())
            .and_then(|d| d.status())
            .map(|s| s.as_str().to_owned()),
        training: details
            .and_then(|d| d.training_details())
            .and_then(|d| d.status())
            .map(|s| s.as_str().to_owned()),
    }
}

/// `statusDetails`: each reported stage with its status (the simulator dates every stage with
/// the job's own times).
fn status_details_json(job: &JobRecord) -> Option<Value> {
    let mut details = Map::new();
    for (key, status) in [
        ("validationDetails", &job.status_details.validation),
        ("dataProcessingDetails", &job.status_details.data_processing),
        ("trainingDetails", &job.status_details.training),
    ] {
        if let Some(status) = status {
            let mut stage = Map::new();
            stage.insert("status".to_owned(), json!(status));
            put(&mut stage, "creationTime", job.creation_time.map(timestamp));
            put(
                &mut stage,
                "lastModifiedTime",
                job.last_modified_time.map(timestamp),
            );
            details.insert(key.to_owned(), Value::Object(stage));
        }
    }
    (!details.is_empty()).then_some(Value::Object(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_identifiers_follow_the_api_pattern() {
        let good = [
            "my-fine-tune-2026-11-01",
            "a",
            "Job.v2+x",
            "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/abcdefghijkl",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:model-customization-job/meta.llama3-1-8b-instruct-v1:0/a1b2c3d4e5f6",
        ];
        for id in good {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        let bad = [
            "",
            "-leading-dash",
            "has space",
            "under_score",
            "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan/short",
            "arn:aws:bedrock:us-east-1:1234:model-customization-job/amazon.titan/abcdefghijkl",
        ];
        for id in bad {
            assert!(check_identifier(id).is_err(), "{id}");
        }
        assert!(check_identifier(&"a".repeat(64)).is_err());
        assert!(check_identifier(&"a".repeat(63)).is_ok());
    }
}
