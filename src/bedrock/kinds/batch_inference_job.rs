//! Batch inference jobs (`batch_inference_job`): `ListModelInvocationJobs` /
//! `GetModelInvocationJob`, exported as `bedrock_batch_inference_job_*`. A summary carries every
//! exported field, so a discovered job is never read with Get. Jobs are dated and listed by their
//! submission time (`submitTimeAfter`); the Get call's path is `/model-invocation-job/{id}`,
//! not the List path's plural, and takes an ARN or the job id (the ARN's last part).

use std::sync::LazyLock;
use std::time::Duration;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::{ModelInvocationJobStatus, ModelInvocationJobSummary};
use aws_sdk_bedrock::Client;
use aws_smithy_types::date_time::Format;
use regex::Regex;
use serde_json::{json, Map, Value};

use super::check::{check, name_part, whole};
use super::json::{put, string, timestamp};
use super::{FamilyDef, KindRecord, KindSpec};
use crate::bedrock::aws::{fetch_error, present, seconds};
use crate::bedrock::boundary::Fields;
use crate::bedrock::series::{or_empty, Ident};
use crate::bedrock::{account_of_arn, FetchError, ListQuery, Page, LIST_PAGE_MAX};

/// One `GetModelInvocationJob` response, as far as exported. Every field may be absent.
///
/// A `ListModelInvocationJobs` summary carries every one of these fields, so a summary is a
/// whole record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchInferenceJobRecord {
    pub job_arn: Option<String>,
    pub job_name: Option<String>,
    /// `modelId`: a model id or ARN, or an inference profile.
    pub model_id: Option<String>,
    /// `ModelInvocationJobStatus`; a value the SDK does not know is kept as sent.
    pub status: Option<String>,
    /// `message`: why it failed, when it did.
    pub message: Option<String>,
    /// `modelInvocationType`: InvokeModel or Converse.
    pub invocation_type: Option<String>,
    /// Seconds since the Unix epoch.
    pub submit_time: Option<f64>,
    pub last_modified_time: Option<f64>,
    pub end_time: Option<f64>,
    pub expiration_time: Option<f64>,
    pub timeout_hours: Option<i32>,
    /// Record counts: total, processed, success, error.
    pub records: RecordCounts,
}

/// The record counts of a batch inference job, as reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RecordCounts {
    pub total: Option<i64>,
    pub processed: Option<i64>,
    pub success: Option<i64>,
    pub error: Option<i64>,
}

impl RecordCounts {
    /// Each count with its `state` label, in label order.
    pub fn states(&self) -> [(&'static str, Option<i64>); 4] {
        [
            ("error", self.error),
            ("processed", self.processed),
            ("success", self.success),
            ("total", self.total),
        ]
    }
}

/// Batch inference job statuses (`ModelInvocationJobStatus`).
pub const STATUSES: [&str; 10] = [
    "Submitted",
    "Validating",
    "Scheduled",
    "InProgress",
    "Completed",
    "PartiallyCompleted",
    "Failed",
    "Stopping",
    "Stopped",
    "Expired",
];

const END: usize = 0;
const EXPIRATION: usize = 1;
const FAILURE: usize = 2;
const INFO: usize = 3;
const LAST_MODIFIED: usize = 4;
const RECORDS: usize = 5;
const STATUS: usize = 6;
const SUBMIT: usize = 7;
const TIMEOUT: usize = 8;

static SPEC: KindSpec = KindSpec {
    label: "batch_inference_job",
    config_key: "batch_inference_jobs",
    noun: "batch inference job",
    list: "ListModelInvocationJobs",
    get: "GetModelInvocationJob",
    identity_label: "job_name",
    statuses: &STATUSES,
    running: &["Submitted", "Validating", "Scheduled", "InProgress", "Stopping"],
    status_param: Some("statusEquals"),
    path: "/model-invocation-jobs",
    summaries_key: "invocationJobSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "name_contains",
    reread_when_settled: false,
    discover_keys: &["name_contains", "created_within"],
    created_within: Some(Duration::from_secs(14 * 86_400)),
    lists_running_of_any_age: true,
    families: &[
        FamilyDef { name: "bedrock_batch_inference_job_end_timestamp_seconds", help: "End time of a finished batch inference job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_batch_inference_job_expiration_timestamp_seconds", help: "Time at which a batch inference job expires if not finished (jobExpirationTime), in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_batch_inference_job_failure_info", help: "Failure message of a failed batch inference job (first line, at most 256 characters); always 1." },
        FamilyDef { name: "bedrock_batch_inference_job_info", help: "Static facts of a batch inference job, for joins; always 1." },
        FamilyDef { name: "bedrock_batch_inference_job_last_modified_timestamp_seconds", help: "Last modification time of a batch inference job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_batch_inference_job_records", help: "Records of a batch inference job by state: total, processed, success, error." },
        FamilyDef { name: "bedrock_batch_inference_job_status", help: "Status of a batch inference job: 1 for the current status, 0 for the others." },
        FamilyDef { name: "bedrock_batch_inference_job_submit_timestamp_seconds", help: "Submission time of a batch inference job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_batch_inference_job_timeout_seconds", help: "Timeout of a batch inference job (timeoutDurationInHours), in seconds." },
    ],
};

impl KindRecord for BatchInferenceJobRecord {
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

    /// Its submission time: a batch inference job has no other creation time, and is listed
    /// by it (`submitTimeAfter`).
    fn creation_time(&self) -> Option<f64> {
        self.submit_time
    }

    fn last_modified(&self) -> Option<f64> {
        self.last_modified_time
    }

    /// A finished job's `endTime`.
    fn end_time(&self) -> Option<f64> {
        self.end_time.filter(|_| self.is_settled())
    }

    fn failure_message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    fn summary_lacks(&self) -> bool {
        false
    }

    /// The whole record: a summary carries every exported field.
    fn summary(&self) -> BatchInferenceJobRecord {
        self.clone()
    }

    fn update_from_summary(&mut self, summary: &BatchInferenceJobRecord) {
        *self = summary.clone();
    }

    fn check(&mut self, fields: &mut Fields) {
        for value in [
            &mut self.job_arn,
            &mut self.job_name,
            &mut self.model_id,
            &mut self.status,
            &mut self.invocation_type,
        ] {
            fields.field(value);
        }
        fields.message(&mut self.message);
    }

    fn render(&self, family: usize, id: &Ident, out: &mut Vec<u8>) {
        let name = SPEC.families[family].name;
        let s = or_empty;
        match family {
            END => id.optional(out, name, self.end_time),
            EXPIRATION => id.optional(out, name, self.expiration_time),
            FAILURE => {
                id.failure_info(out, name, self.status.as_deref(), self.message.as_deref())
            }
            INFO => {
                let labels = [
                    ("invocation_type", s(&self.invocation_type)),
                    ("job_arn", s(&self.job_arn)),
                    ("model_id", s(&self.model_id)),
                ];
                id.series(out, name, &labels, 1.0);
            }
            LAST_MODIFIED => id.optional(out, name, self.last_modified_time),
            RECORDS => {
                for (state, count) in self.records.states() {
                    if let Some(count) = count {
                        id.series(out, name, &[("state", state)], count as f64);
                    }
                }
            }
            STATUS => id.status(out, name, &STATUSES, self.status.as_deref()),
            SUBMIT => id.optional(out, name, self.submit_time),
            TIMEOUT => id.optional(
                out,
                name,
                self.timeout_hours.map(|h| f64::from(h) * 3600.0),
            ),
            _ => {}
        }
    }

    async fn get(
        client: &Client,
        identifier: &str,
    ) -> Result<BatchInferenceJobRecord, FetchError> {
        let out = client
            .get_model_invocation_job()
            .job_identifier(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(BatchInferenceJobRecord {
            job_arn: present(out.job_arn()),
            job_name: out.job_name().and_then(present),
            model_id: present(out.model_id()),
            status: out.status().map(|s| s.as_str().to_owned()),
            message: out.message().map(str::to_owned),
            invocation_type: out.model_invocation_type().map(|t| t.as_str().to_owned()),
            submit_time: seconds(Some(out.submit_time())),
            last_modified_time: seconds(out.last_modified_time()),
            end_time: seconds(out.end_time()),
            expiration_time: seconds(out.job_expiration_time()),
            timeout_hours: out.timeout_duration_in_hours(),
            records: RecordCounts {
                total: out.total_record_count(),
                processed: out.processed_record_count(),
                success: out.success_record_count(),
                error: out.error_record_count(),
            },
        })
    }

    async fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page<BatchInferenceJobRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        // The listing's creation times are submission times (see `creation_time`).
        let page = client
            .list_model_invocation_jobs()
            .set_name_contains(query.name_contains.clone())
            .set_submit_time_after(time(query.created_after))
            .set_submit_time_before(time(query.created_before))
            .set_status_equals(query.status.as_deref().map(ModelInvocationJobStatus::from))
            .max_results(LIST_PAGE_MAX as i32)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(Page {
            records: page.invocation_job_summaries().iter().map(summary).collect(),
            next_token: page.next_token,
        })
    }

    fn get_json(&self) -> Value {
        // A Get answer and a summary have the same members (the Get adds only what is not
        // exported: a client token the simulator does not invent).
        self.summary_json()
    }

    fn summary_json(&self) -> Value {
        let name = self.job_name.as_deref().unwrap_or("batch");
        let account = self
            .job_arn
            .as_deref()
            .and_then(account_of_arn)
            .unwrap_or("123456789012");
        let mut m = Map::new();
        put(&mut m, "jobArn", string(&self.job_arn));
        put(&mut m, "jobName", string(&self.job_name));
        put(&mut m, "modelId", string(&self.model_id));
        m.insert(
            "roleArn".to_owned(),
            json!(format!("arn:aws:iam::{account}:role/BedrockBatchInference")),
        );
        put(&mut m, "status", string(&self.status));
        put(&mut m, "message", string(&self.message));
        put(&mut m, "submitTime", self.submit_time.map(timestamp));
        put(
            &mut m,
            "lastModifiedTime",
            self.last_modified_time.map(timestamp),
        );
        put(&mut m, "endTime", self.end_time.map(timestamp));
        m.insert(
            "inputDataConfig".to_owned(),
            json!({ "s3InputDataConfig": {
                "s3InputFormat": "JSONL",
                "s3Uri": format!("s3://demo-batch-input/{name}/records.jsonl")
            }}),
        );
        m.insert(
            "outputDataConfig".to_owned(),
            json!({ "s3OutputDataConfig": { "s3Uri": format!("s3://demo-batch-output/{name}/") } }),
        );
        put(
            &mut m,
            "timeoutDurationInHours",
            self.timeout_hours.map(|h| json!(h)),
        );
        put(
            &mut m,
            "jobExpirationTime",
            self.expiration_time.map(timestamp),
        );
        put(&mut m, "modelInvocationType", string(&self.invocation_type));
        for (key, count) in [
            ("totalRecordCount", self.records.total),
            ("processedRecordCount", self.records.processed),
            ("successRecordCount", self.records.success),
            ("errorRecordCount", self.records.error),
        ] {
            put(&mut m, key, count.map(|c| json!(c)));
        }
        Value::Object(m)
    }

    /// `submitTimeAfter` and `submitTimeBefore`, taken as the query's creation times.
    fn list_param(query: &mut ListQuery, name: &str, value: &str) -> Option<Result<(), String>> {
        let bound = match name {
            "submitTimeAfter" => &mut query.created_after,
            "submitTimeBefore" => &mut query.created_before,
            _ => return None,
        };
        Some(match aws_smithy_types::DateTime::from_str(value, Format::DateTime) {
            Ok(t) => {
                *bound = Some(t.secs() as f64 + f64::from(t.subsec_nanos()) / 1e9);
                Ok(())
            }
            Err(_) => Err(format!(
                "1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint"
            )),
        })
    }

    /// The job id, the last part of its ARN, which its Get call takes too.
    fn known_as(&self, identifier: &str) -> bool {
        self.job_arn
            .as_deref()
            .and_then(|arn| arn.rsplit_once('/'))
            .is_some_and(|(_, id)| id == identifier)
    }

    fn get_path() -> &'static str {
        "/model-invocation-job"
    }
}

/// `ModelInvocationJobIdentifier` of GetModelInvocationJob: an ARN or a job id.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(r"((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/)?[a-z0-9]{12})")
});
const IDENTIFIER_MAX: usize = 1011;
/// A job id has exactly this many characters (the pattern says so too).
const JOB_ID_LEN: usize = 12;
/// `ModelInvocationJobName`, which `nameContains` of ListModelInvocationJobs takes.
const NAME_MAX: usize = 63;
static NAME: LazyLock<Regex> =
    LazyLock::new(|| whole(r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}"));

/// Checks a batch inference job ARN or job id against `jobIdentifier` of GetModelInvocationJob.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check(id, &IDENTIFIER, IDENTIFIER_MAX, ("job id", JOB_ID_LEN), |arn| {
        if arn {
            "is not a batch inference job ARN (arn:aws:bedrock:REGION:ACCOUNT:model-invocation-job/ID)"
        } else {
            "is not a batch inference job id: GetModelInvocationJob takes a job ARN or its 12-character id (lowercase letters and digits), not a job name"
        }
    })
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as a batch inference job name: a letter or digit first, then letters, digits, '+', '-' and '.'",
    )
}

/// A `ListModelInvocationJobs` entry: every exported field.
fn summary(s: &ModelInvocationJobSummary) -> BatchInferenceJobRecord {
    BatchInferenceJobRecord {
        job_arn: present(s.job_arn()),
        job_name: present(s.job_name()),
        model_id: present(s.model_id()),
        status: s.status().map(|s| s.as_str().to_owned()),
        message: s.message().map(str::to_owned),
        invocation_type: s.model_invocation_type().map(|t| t.as_str().to_owned()),
        submit_time: seconds(Some(s.submit_time())),
        last_modified_time: seconds(s.last_modified_time()),
        end_time: seconds(s.end_time()),
        expiration_time: seconds(s.job_expiration_time()),
        timeout_hours: s.timeout_duration_in_hours(),
        records: RecordCounts {
            total: s.total_record_count(),
            processed: s.processed_record_count(),
            success: s.success_record_count(),
            error: s.error_record_count(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_inference_job_identifiers_are_arns_or_job_ids() {
        for id in [
            "a1b2c3d4e5f6",
            "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/a1b2c3d4e5f6",
            "arn:aws-cn:bedrock:cn-north-1:123456789012:model-invocation-job/abcdefghijkl",
        ] {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        for id in [
            "",
            // A name: the Get call takes an ARN or a job id.
            "nightly-batch",
            "a1b2c3d4e5f",
            "a1b2c3d4e5f6a",
            "A1B2C3D4E5F6",
            "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/short",
            "arn:aws:bedrock:us-east-1:1234:model-invocation-job/a1b2c3d4e5f6",
            "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/a1b2c3d4e5f6",
        ] {
            assert!(check_identifier(id).is_err(), "{id}");
        }
        assert!(check_identifier("nightly-batch")
            .unwrap_err()
            .contains("not a job name"));
    }

    #[test]
    fn name_filters_follow_the_job_name_pattern() {
        assert_eq!(check_name_part("Nightly.batch+v2"), Ok(()));
        for part in ["", "-lead", "under_score", "has space", &"a".repeat(64)] {
            assert!(check_name_part(part).is_err(), "{part}");
        }
    }

    #[test]
    fn a_job_id_names_the_job() {
        let job = BatchInferenceJobRecord {
            job_arn: Some(
                "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/a1b2c3d4e5f6"
                    .to_owned(),
            ),
            ..BatchInferenceJobRecord::default()
        };
        assert!(job.known_as("a1b2c3d4e5f6"));
        assert!(!job.known_as("b1b2c3d4e5f6"));
    }
}
