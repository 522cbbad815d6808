//! Model evaluation jobs (`evaluation_job`): `ListEvaluationJobs` / `GetEvaluationJob`, exported
//! as `bedrock_evaluation_job_*`. A summary lacks the failure messages and the last modification
//! time, so a discovered job is read with Get; its Get call takes only an ARN.

use std::sync::LazyLock;
use std::time::Duration;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::{EvaluationJobStatus, EvaluationSummary};
use aws_sdk_bedrock::Client;
use regex::Regex;
use serde_json::{json, Map, Value};

use super::check::{check, name_part, whole};
use super::json::{put, string, timestamp};
use super::{FamilyDef, KindRecord, KindSpec};
use crate::bedrock::aws::{fetch_error, present, seconds};
use crate::bedrock::boundary::Fields;
use crate::bedrock::series::{or_empty, Ident};
use crate::bedrock::{account_of_arn, FetchError, ListQuery, Page, LIST_PAGE_MAX};

/// One `GetEvaluationJob` response, as far as exported. Every field may be absent.
///
/// A `ListEvaluationJobs` summary is a record too, with only the fields summaries carry (ARN,
/// name, status, creation time, job type, application type).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluationJobRecord {
    pub job_arn: Option<String>,
    pub job_name: Option<String>,
    /// `EvaluationJobStatus`; a value the SDK does not know is kept as sent.
    pub status: Option<String>,
    /// `EvaluationJobType`: Human or Automated.
    pub job_type: Option<String>,
    /// `ApplicationType`: ModelEvaluation or RagEvaluation.
    pub application_type: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_time: Option<f64>,
    /// Only a Get has it.
    pub last_modified_time: Option<f64>,
    /// `failureMessages` joined with "; " (only a Get has them).
    pub failure_message: Option<String>,
}

/// Evaluation job statuses (`EvaluationJobStatus`).
pub const STATUSES: [&str; 6] = [
    "InProgress",
    "Completed",
    "Failed",
    "Stopping",
    "Stopped",
    "Deleting",
];

const CREATION: usize = 0;
const FAILURE: usize = 1;
const INFO: usize = 2;
const LAST_MODIFIED: usize = 3;
const STATUS: usize = 4;

static SPEC: KindSpec = KindSpec {
    label: "evaluation_job",
    config_key: "evaluation_jobs",
    noun: "model evaluation job",
    list: "ListEvaluationJobs",
    get: "GetEvaluationJob",
    identity_label: "job_name",
    statuses: &STATUSES,
    running: &["InProgress", "Stopping", "Deleting"],
    status_param: Some("statusEquals"),
    path: "/evaluation-jobs",
    summaries_key: "jobSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "name_contains",
    reread_when_settled: false,
    discover_keys: &["name_contains", "created_within"],
    created_within: Some(Duration::from_secs(14 * 86_400)),
    lists_running_of_any_age: true,
    families: &[
        FamilyDef { name: "bedrock_evaluation_job_creation_timestamp_seconds", help: "Creation time of a model evaluation job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_evaluation_job_failure_info", help: "Failure messages of a failed model evaluation job, joined with \"; \" (first line, at most 256 characters); always 1." },
        FamilyDef { name: "bedrock_evaluation_job_info", help: "Static facts of a model evaluation job, for joins; always 1." },
        FamilyDef { name: "bedrock_evaluation_job_last_modified_timestamp_seconds", help: "Last modification time of a model evaluation job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_evaluation_job_status", help: "Status of a model evaluation job: 1 for the current status, 0 for the others." },
    ],
};

impl KindRecord for EvaluationJobRecord {
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

    // `last_modified` stays `None`: a summary has no modification time, so a change of status
    // is what tells a discovered job changed (a read's time would differ from every summary).

    fn failure_message(&self) -> Option<&str> {
        self.failure_message.as_deref()
    }

    fn summary(&self) -> EvaluationJobRecord {
        EvaluationJobRecord {
            job_arn: self.job_arn.clone(),
            job_name: self.job_name.clone(),
            status: self.status.clone(),
            job_type: self.job_type.clone(),
            application_type: self.application_type.clone(),
            creation_time: self.creation_time,
            ..EvaluationJobRecord::default()
        }
    }

    fn update_from_summary(&mut self, summary: &EvaluationJobRecord) {
        let rest = std::mem::take(self);
        *self = EvaluationJobRecord {
            last_modified_time: rest.last_modified_time,
            failure_message: rest.failure_message,
            ..summary.clone()
        };
    }

    fn check(&mut self, fields: &mut Fields) {
        for value in [
            &mut self.job_arn,
            &mut self.job_name,
            &mut self.status,
            &mut self.job_type,
            &mut self.application_type,
        ] {
            fields.field(value);
        }
        fields.message(&mut self.failure_message);
    }

    fn render(&self, family: usize, id: &Ident, out: &mut Vec<u8>) {
        let name = SPEC.families[family].name;
        let s = or_empty;
        match family {
            CREATION => id.optional(out, name, self.creation_time),
            FAILURE => {
                id.failure_info(out, name, self.status.as_deref(), self.failure_message.as_deref())
            }
            INFO => {
                let labels = [
                    ("application_type", s(&self.application_type)),
                    ("job_arn", s(&self.job_arn)),
                    ("job_type", s(&self.job_type)),
                ];
                id.series(out, name, &labels, 1.0);
            }
            LAST_MODIFIED => id.optional(out, name, self.last_modified_time),
            STATUS => id.status(out, name, &STATUSES, self.status.as_deref()),
            _ => {}
        }
    }

    async fn get(client: &Client, identifier: &str) -> Result<EvaluationJobRecord, FetchError> {
        let out = client
            .get_evaluation_job()
            .job_identifier(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        let messages = out.failure_messages();
        Ok(EvaluationJobRecord {
            job_arn: present(out.job_arn()),
            job_name: present(out.job_name()),
            status: sent(out.status().as_str()),
            job_type: sent(out.job_type().as_str()),
            application_type: out.application_type().map(|t| t.as_str().to_owned()),
            creation_time: seconds(Some(out.creation_time())),
            last_modified_time: seconds(out.last_modified_time()),
            failure_message: (!messages.is_empty()).then(|| messages.join("; ")),
        })
    }

    async fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page<EvaluationJobRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        let page = client
            .list_evaluation_jobs()
            .set_name_contains(query.name_contains.clone())
            .set_creation_time_after(time(query.created_after))
            .set_creation_time_before(time(query.created_before))
            .set_status_equals(query.status.as_deref().map(EvaluationJobStatus::from))
            .max_results(LIST_PAGE_MAX as i32)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(Page {
            records: page.job_summaries().iter().map(summary).collect(),
            next_token: page.next_token,
        })
    }

    fn get_json(&self) -> Value {
        let name = self.job_name.as_deref().unwrap_or("evaluation");
        let account = self
            .job_arn
            .as_deref()
            .and_then(account_of_arn)
            .unwrap_or("123456789012");
        let mut m = Map::new();
        put(&mut m, "jobName", string(&self.job_name));
        put(&mut m, "status", string(&self.status));
        put(&mut m, "jobArn", string(&self.job_arn));
        m.insert(
            "roleArn".to_owned(),
            json!(format!("arn:aws:iam::{account}:role/BedrockEvaluation")),
        );
        put(&mut m, "jobType", string(&self.job_type));
        put(&mut m, "applicationType", string(&self.application_type));
        let metrics = json!({ "datasetMetricConfigs": [{
            "taskType": "Generation",
            "dataset": { "name": "Builtin.Bold" },
            "metricNames": ["Builtin.Accuracy", "Builtin.Robustness", "Builtin.Toxicity"]
        }]});
        let config = if self.job_type.as_deref() == Some("Human") {
            "human"
        } else {
            "automated"
        };
        let mut evaluation = Map::new();
        evaluation.insert(config.to_owned(), metrics);
        m.insert("evaluationConfig".to_owned(), Value::Object(evaluation));
        m.insert(
            "inferenceConfig".to_owned(),
            json!({ "models": [{ "bedrockModel": { "modelIdentifier": EVALUATED_MODEL } }] }),
        );
        m.insert(
            "outputDataConfig".to_owned(),
            json!({ "s3Uri": format!("s3://demo-evaluation-output/{name}/") }),
        );
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(
            &mut m,
            "lastModifiedTime",
            self.last_modified_time.map(timestamp),
        );
        put(
            &mut m,
            "failureMessages",
            self.failure_message
                .as_deref()
                .map(|message| json!(message.split("; ").collect::<Vec<_>>())),
        );
        Value::Object(m)
    }

    fn summary_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "jobArn", string(&self.job_arn));
        put(&mut m, "jobName", string(&self.job_name));
        put(&mut m, "status", string(&self.status));
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(&mut m, "jobType", string(&self.job_type));
        m.insert("evaluationTaskTypes".to_owned(), json!(["Generation"]));
        m.insert("modelIdentifiers".to_owned(), json!([EVALUATED_MODEL]));
        put(&mut m, "applicationType", string(&self.application_type));
        Value::Object(m)
    }

    fn list_param(_query: &mut ListQuery, name: &str, value: &str) -> Option<Result<(), String>> {
        // Checked, not applied: the exporter never sends it.
        (name == "applicationTypeEquals").then(|| {
            if ["ModelEvaluation", "RagEvaluation"].contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "1 validation error detected: Value '{value}' at 'applicationTypeEquals' failed to satisfy constraint: Member must satisfy enum value set: [ModelEvaluation, RagEvaluation]"
                ))
            }
        })
    }
}

/// The model the simulator says every evaluation job evaluates.
const EVALUATED_MODEL: &str = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0";

/// A required enum the SDK fills with "no value was set" when the service leaves it out.
fn sent(value: &str) -> Option<String> {
    Some(value)
        .filter(|v| !v.is_empty() && *v != "no value was set")
        .map(str::to_owned)
}

/// `EvaluationJobIdentifier` of GetEvaluationJob: an ARN, never a name.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:evaluation-job/[a-z0-9]{12})")
});
const IDENTIFIER_MAX: usize = 1011;
/// `EvaluationJobName`, which `nameContains` of ListEvaluationJobs takes.
const NAME_MAX: usize = 63;
static NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"[a-z0-9](-*[a-z0-9]){0,62}"));

/// Checks an evaluation job ARN against `jobIdentifier` of GetEvaluationJob.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check(id, &IDENTIFIER, IDENTIFIER_MAX, ("job name", NAME_MAX), |arn| {
        if arn {
            "is not an evaluation job ARN (arn:aws:bedrock:REGION:ACCOUNT:evaluation-job/ID)"
        } else {
            "is not an evaluation job ARN: GetEvaluationJob takes an ARN only (arn:aws:bedrock:REGION:ACCOUNT:evaluation-job/ID)"
        }
    })
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as an evaluation job name: lowercase letters and digits, with '-' between them",
    )
}

/// A `ListEvaluationJobs` entry, as a record with the fields summaries carry.
fn summary(s: &EvaluationSummary) -> EvaluationJobRecord {
    EvaluationJobRecord {
        job_arn: present(s.job_arn()),
        job_name: present(s.job_name()),
        status: sent(s.status().as_str()),
        job_type: sent(s.job_type().as_str()),
        application_type: s.application_type().map(|t| t.as_str().to_owned()),
        creation_time: seconds(Some(s.creation_time())),
        ..EvaluationJobRecord::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_job_identifiers_are_arns() {
        for id in [
            "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/a1b2c3d4e5f6",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:evaluation-job/abcdefghijkl",
        ] {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        for id in [
            "",
            // A name: the Get call takes an ARN only.
            "my-evaluation",
            "a1b2c3d4e5f6",
            "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/short",
            "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/A1B2C3D4E5F6",
            "arn:aws:bedrock:us-east-1:1234:evaluation-job/a1b2c3d4e5f6",
            "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/a1b2c3d4e5f6",
        ] {
            assert!(check_identifier(id).is_err(), "{id}");
        }
        assert!(check_identifier("my-evaluation")
            .unwrap_err()
            .contains("ARN only"));
    }

    #[test]
    fn name_filters_follow_the_job_name_pattern() {
        assert_eq!(check_name_part("nightly-eval"), Ok(()));
        for part in ["", "Upper", "under_score", "-lead", &"a".repeat(64)] {
            assert!(check_name_part(part).is_err(), "{part}");
        }
    }
}
