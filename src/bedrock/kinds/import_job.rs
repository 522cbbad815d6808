//! Model import jobs (`import_job`): `ListModelImportJobs` / `GetModelImportJob`, exported as
//! `bedrock_model_import_job_*`. A summary carries everything but the failure message, so a
//! discovered import job is read with Get only once it has failed.

use std::sync::LazyLock;
use std::time::Duration;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::{ModelImportJobStatus, ModelImportJobSummary};
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

/// One `GetModelImportJob` response. Every field may be absent, as in the API.
///
/// A `ListModelImportJobs` summary is a record too, with every field but the failure message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportJobRecord {
    pub job_arn: Option<String>,
    pub job_name: Option<String>,
    pub imported_model_name: Option<String>,
    pub imported_model_arn: Option<String>,
    /// `ModelImportJobStatus`; a value the SDK does not know is kept as sent.
    pub status: Option<String>,
    pub failure_message: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_time: Option<f64>,
    pub last_modified_time: Option<f64>,
    pub end_time: Option<f64>,
}

/// Import job statuses (`ModelImportJobStatus`).
pub const STATUSES: [&str; 3] = ["InProgress", "Completed", "Failed"];

const CREATION: usize = 0;
const END: usize = 1;
const FAILURE: usize = 2;
const INFO: usize = 3;
const LAST_MODIFIED: usize = 4;
const STATUS: usize = 5;

static SPEC: KindSpec = KindSpec {
    label: "import_job",
    config_key: "import_jobs",
    noun: "model import job",
    list: "ListModelImportJobs",
    get: "GetModelImportJob",
    identity_label: "job_name",
    statuses: &STATUSES,
    running: &["InProgress"],
    status_param: Some("statusEquals"),
    path: "/model-import-jobs",
    summaries_key: "modelImportJobSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "name_contains",
    reread_when_settled: false,
    discover_keys: &["name_contains", "created_within"],
    created_within: Some(Duration::from_secs(14 * 86_400)),
    lists_running_of_any_age: true,
    families: &[
        FamilyDef { name: "bedrock_model_import_job_creation_timestamp_seconds", help: "Creation time of a model import job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_model_import_job_end_timestamp_seconds", help: "End time of a finished model import job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_model_import_job_failure_info", help: "Failure message of a failed model import job (first line, at most 256 characters); always 1." },
        FamilyDef { name: "bedrock_model_import_job_info", help: "Static facts of a model import job, for joins; always 1." },
        FamilyDef { name: "bedrock_model_import_job_last_modified_timestamp_seconds", help: "Last modification time of a model import job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_model_import_job_status", help: "Status of a model import job: 1 for the current status, 0 for the others." },
    ],
};

impl KindRecord for ImportJobRecord {
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

    /// Only the failure message is missing from a summary: a Get is worth it for a failed job.
    fn summary_lacks(&self) -> bool {
        self.status.as_deref() == Some("Failed")
    }

    fn summary(&self) -> ImportJobRecord {
        ImportJobRecord {
            failure_message: None,
            ..self.clone()
        }
    }

    fn update_from_summary(&mut self, summary: &ImportJobRecord) {
        let failure_message = self.failure_message.take();
        *self = ImportJobRecord {
            failure_message,
            ..summary.clone()
        };
    }

    fn check(&mut self, fields: &mut Fields) {
        for value in [
            &mut self.job_arn,
            &mut self.job_name,
            &mut self.imported_model_name,
            &mut self.imported_model_arn,
            &mut self.status,
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
            END => id.optional(out, name, self.end_time()),
            FAILURE => {
                id.failure_info(out, name, self.status.as_deref(), self.failure_message.as_deref())
            }
            INFO => {
                let labels = [
                    ("imported_model_arn", s(&self.imported_model_arn)),
                    ("imported_model_name", s(&self.imported_model_name)),
                    ("job_arn", s(&self.job_arn)),
                ];
                id.series(out, name, &labels, 1.0);
            }
            LAST_MODIFIED => id.optional(out, name, self.last_modified_time),
            STATUS => id.status(out, name, &STATUSES, self.status.as_deref()),
            _ => {}
        }
    }

    async fn get(client: &Client, identifier: &str) -> Result<ImportJobRecord, FetchError> {
        let out = client
            .get_model_import_job()
            .job_identifier(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(ImportJobRecord {
            job_arn: out.job_arn().and_then(present),
            job_name: out.job_name().and_then(present),
            imported_model_name: out.imported_model_name().and_then(present),
            imported_model_arn: out.imported_model_arn().and_then(present),
            status: out.status().map(|s| s.as_str().to_owned()),
            failure_message: out.failure_message().map(str::to_owned),
            creation_time: seconds(out.creation_time()),
            last_modified_time: seconds(out.last_modified_time()),
            end_time: seconds(out.end_time()),
        })
    }

    async fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page<ImportJobRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        let page = client
            .list_model_import_jobs()
            .set_name_contains(query.name_contains.clone())
            .set_creation_time_after(time(query.created_after))
            .set_creation_time_before(time(query.created_before))
            .set_status_equals(query.status.as_deref().map(ModelImportJobStatus::from))
            .max_results(LIST_PAGE_MAX as i32)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(Page {
            records: page
                .model_import_job_summaries()
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
        put(
            &mut m,
            "importedModelName",
            string(&self.imported_model_name),
        );
        put(&mut m, "importedModelArn", string(&self.imported_model_arn));
        let account = self
            .job_arn
            .as_deref()
            .and_then(account_of_arn)
            .unwrap_or("123456789012");
        m.insert(
            "roleArn".to_owned(),
            json!(format!("arn:aws:iam::{account}:role/BedrockModelImport")),
        );
        let source = self.imported_model_name.as_deref().unwrap_or("model");
        m.insert(
            "modelDataSource".to_owned(),
            json!({ "s3DataSource": { "s3Uri": format!("s3://demo-model-import/{source}/") } }),
        );
        put(&mut m, "status", string(&self.status));
        put(&mut m, "failureMessage", string(&self.failure_message));
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(
            &mut m,
            "lastModifiedTime",
            self.last_modified_time.map(timestamp),
        );
        put(&mut m, "endTime", self.end_time.map(timestamp));
        Value::Object(m)
    }

    fn summary_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "jobArn", string(&self.job_arn));
        put(&mut m, "jobName", string(&self.job_name));
        put(&mut m, "status", string(&self.status));
        put(
            &mut m,
            "lastModifiedTime",
            self.last_modified_time.map(timestamp),
        );
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(&mut m, "endTime", self.end_time.map(timestamp));
        put(&mut m, "importedModelArn", string(&self.imported_model_arn));
        put(
            &mut m,
            "importedModelName",
            string(&self.imported_model_name),
        );
        Value::Object(m)
    }
}

/// `ModelImportJobIdentifier` of GetModelImportJob.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-import-job/[a-z0-9]{12})|([a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*)",
    )
});
const IDENTIFIER_MAX: usize = 1011;
/// `JobName`: a job named rather than given by ARN has at most this many characters.
const NAME_MAX: usize = 63;
/// `JobName`, which `nameContains` of ListModelImportJobs takes.
static NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*"));

/// Checks a job name or ARN against `jobIdentifier` of GetModelImportJob.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check(
        id,
        &IDENTIFIER,
        IDENTIFIER_MAX,
        ("job name", NAME_MAX),
        |arn| {
            if arn {
                "is not a model import job ARN (arn:aws:bedrock:REGION:ACCOUNT:model-import-job/ID)"
            } else {
                "is not a job name: it must start with a letter or digit and hold only letters, digits, '+', '-' and '.'"
            }
        },
    )
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as a job name: a letter or digit first, then letters, digits, '+', '-' and '.'",
    )
}

/// A `ListModelImportJobs` entry, as a record with the fields summaries carry.
fn summary(s: &ModelImportJobSummary) -> ImportJobRecord {
    ImportJobRecord {
        job_arn: present(s.job_arn()),
        job_name: present(s.job_name()),
        imported_model_name: s.imported_model_name().and_then(present),
        imported_model_arn: s.imported_model_arn().and_then(present),
        status: present(s.status().as_str()),
        failure_message: None,
        creation_time: seconds(Some(s.creation_time())),
        last_modified_time: seconds(s.last_modified_time()),
        end_time: seconds(s.end_time()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_job_identifiers_follow_the_api_pattern() {
        let good = [
            "import-llama-2026-11",
            "a",
            "Job.v2+x",
            "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abcdef012345",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:model-import-job/a1b2c3d4e5f6",
        ];
        for id in good {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        let bad = [
            "",
            "-leading-dash",
            "has space",
            "under_score",
            "arn:aws:bedrock:us-east-1:123456789012:model-import-job/short",
            "arn:aws:bedrock:us-east-1:123456789012:model-import-job/ABCDEF012345",
            "arn:aws:bedrock:us-east-1:1234:model-import-job/abcdef012345",
            "arn:aws:bedrock:us-east-1:123456789012:model-copy-job/abcdef012345",
        ];
        for id in bad {
            assert!(check_identifier(id).is_err(), "{id}");
        }
        assert!(check_identifier(&"a".repeat(64)).is_err());
        assert!(check_identifier(&"a".repeat(63)).is_ok());
        assert_eq!(check_name_part("llama"), Ok(()));
        assert!(check_name_part("under_score").is_err());
    }

    #[test]
    fn only_a_failed_summary_needs_a_get() {
        let job = |status: &str| ImportJobRecord {
            status: Some(status.to_owned()),
            ..ImportJobRecord::default()
        };
        assert!(!job("InProgress").summary_lacks());
        assert!(!job("Completed").summary_lacks());
        assert!(job("Failed").summary_lacks());
    }
}
