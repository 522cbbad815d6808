//! Model copy jobs (`copy_job`): `ListModelCopyJobs` / `GetModelCopyJob`, exported as
//! `bedrock_model_copy_job_*`. A copy job has no name: it goes by `job_id`, the last part of its
//! ARN, and Get takes only the ARN. A summary carries everything a Get does, so a discovered
//! copy job is never read with Get.

use std::sync::LazyLock;
use std::time::Duration;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::{ModelCopyJobStatus, ModelCopyJobSummary};
use aws_sdk_bedrock::Client;
use regex::Regex;
use serde_json::{json, Map, Value};

use super::check::{check, name_part, whole};
use super::json::{put, string, timestamp};
use super::{FamilyDef, KindRecord, KindSpec};
use crate::bedrock::aws::{fetch_error, present, seconds};
use crate::bedrock::boundary::Fields;
use crate::bedrock::series::{or_empty, Ident};
use crate::bedrock::{FetchError, ListQuery, Page, LIST_PAGE_MAX};

/// One `GetModelCopyJob` response, or a `ListModelCopyJobs` summary (the same fields). Every
/// field may be absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyJobRecord {
    pub job_arn: Option<String>,
    /// `ModelCopyJobStatus`; a value the SDK does not know is kept as sent.
    pub status: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_time: Option<f64>,
    pub target_model_arn: Option<String>,
    pub target_model_name: Option<String>,
    pub source_account_id: Option<String>,
    pub source_model_arn: Option<String>,
    pub source_model_name: Option<String>,
    pub failure_message: Option<String>,
}

impl CopyJobRecord {
    /// The last part of its ARN: its identity, copy jobs having no name.
    pub fn job_id(&self) -> Option<&str> {
        let (_, id) = self.job_arn.as_deref()?.rsplit_once('/')?;
        (!id.is_empty()).then_some(id)
    }
}

/// Copy job statuses (`ModelCopyJobStatus`).
pub const STATUSES: [&str; 3] = ["InProgress", "Completed", "Failed"];

const CREATION: usize = 0;
const FAILURE: usize = 1;
const INFO: usize = 2;
const STATUS: usize = 3;

static SPEC: KindSpec = KindSpec {
    label: "copy_job",
    config_key: "copy_jobs",
    noun: "model copy job",
    list: "ListModelCopyJobs",
    get: "GetModelCopyJob",
    identity_label: "job_id",
    statuses: &STATUSES,
    running: &["InProgress"],
    status_param: Some("statusEquals"),
    path: "/model-copy-jobs",
    summaries_key: "modelCopyJobSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "target_model_name_contains",
    reread_when_settled: false,
    discover_keys: &["target_model_name_contains", "created_within"],
    created_within: Some(Duration::from_secs(14 * 86_400)),
    lists_running_of_any_age: true,
    families: &[
        FamilyDef { name: "bedrock_model_copy_job_creation_timestamp_seconds", help: "Creation time of a model copy job, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_model_copy_job_failure_info", help: "Failure message of a failed model copy job (first line, at most 256 characters); always 1." },
        FamilyDef { name: "bedrock_model_copy_job_info", help: "Static facts of a model copy job, for joins; always 1." },
        FamilyDef { name: "bedrock_model_copy_job_status", help: "Status of a model copy job: 1 for the current status, 0 for the others." },
    ],
};

impl KindRecord for CopyJobRecord {
    fn spec() -> &'static KindSpec {
        &SPEC
    }

    fn arn(&self) -> Option<&str> {
        self.job_arn.as_deref()
    }

    /// Its `job_id`.
    fn name(&self) -> Option<&str> {
        self.job_id()
    }

    fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    fn creation_time(&self) -> Option<f64> {
        self.creation_time
    }

    fn failure_message(&self) -> Option<&str> {
        self.failure_message.as_deref()
    }

    fn summary_lacks(&self) -> bool {
        false
    }

    fn summary(&self) -> CopyJobRecord {
        self.clone()
    }

    fn update_from_summary(&mut self, summary: &CopyJobRecord) {
        *self = summary.clone();
    }

    fn check(&mut self, fields: &mut Fields) {
        for value in [
            &mut self.job_arn,
            &mut self.status,
            &mut self.target_model_arn,
            &mut self.target_model_name,
            &mut self.source_account_id,
            &mut self.source_model_arn,
            &mut self.source_model_name,
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
                    ("job_arn", s(&self.job_arn)),
                    ("source_account_id", s(&self.source_account_id)),
                    ("source_model_arn", s(&self.source_model_arn)),
                    ("source_model_name", s(&self.source_model_name)),
                    ("target_model_arn", s(&self.target_model_arn)),
                    ("target_model_name", s(&self.target_model_name)),
                ];
                id.series(out, name, &labels, 1.0);
            }
            STATUS => id.status(out, name, &STATUSES, self.status.as_deref()),
            _ => {}
        }
    }

    async fn get(client: &Client, identifier: &str) -> Result<CopyJobRecord, FetchError> {
        let out = client
            .get_model_copy_job()
            .job_arn(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(CopyJobRecord {
            job_arn: present(out.job_arn()),
            status: present(out.status().as_str()),
            creation_time: seconds(Some(out.creation_time())),
            target_model_arn: present(out.target_model_arn()),
            target_model_name: out.target_model_name().and_then(present),
            source_account_id: present(out.source_account_id()),
            source_model_arn: present(out.source_model_arn()),
            source_model_name: out.source_model_name().and_then(present),
            failure_message: out.failure_message().map(str::to_owned),
        })
    }

    async fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page<CopyJobRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        let page = client
            .list_model_copy_jobs()
            .set_target_model_name_contains(query.name_contains.clone())
            .set_creation_time_after(time(query.created_after))
            .set_creation_time_before(time(query.created_before))
            .set_status_equals(query.status.as_deref().map(ModelCopyJobStatus::from))
            .max_results(LIST_PAGE_MAX as i32)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(Page {
            records: page
                .model_copy_job_summaries()
                .iter()
                .map(summary)
                .collect(),
            next_token: page.next_token,
        })
    }

    /// `GetModelCopyJobResponse` and `ModelCopyJobSummary` have the same members.
    fn get_json(&self) -> Value {
        self.summary_json()
    }

    fn summary_json(&self) -> Value {
        // Required members are always sent; the others only when known.
        let required = |v: &Option<String>| Some(json!(v.as_deref().unwrap_or_default()));
        let mut m = Map::new();
        put(&mut m, "jobArn", required(&self.job_arn));
        put(&mut m, "status", required(&self.status));
        put(
            &mut m,
            "creationTime",
            Some(timestamp(self.creation_time.unwrap_or_default())),
        );
        put(&mut m, "targetModelArn", required(&self.target_model_arn));
        put(&mut m, "targetModelName", string(&self.target_model_name));
        put(&mut m, "sourceAccountId", required(&self.source_account_id));
        put(&mut m, "sourceModelArn", required(&self.source_model_arn));
        put(&mut m, "failureMessage", string(&self.failure_message));
        put(&mut m, "sourceModelName", string(&self.source_model_name));
        Value::Object(m)
    }

    /// `outputModelNameContains` (the SDK's `targetModelNameContains`), checked as a custom
    /// model name; `sourceAccountEquals`, checked and not applied (the exporter never sends it).
    fn list_param(query: &mut ListQuery, name: &str, value: &str) -> Option<Result<(), String>> {
        let invalid = |constraint: &str| {
            Err(format!(
                "1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: {constraint}"
            ))
        };
        match name {
            "outputModelNameContains" => Some(if check_name_part(value).is_ok() {
                query.name_contains = Some(value.to_owned());
                Ok(())
            } else {
                invalid("Member must satisfy regular expression pattern: ([0-9a-zA-Z][_-]?){1,63}")
            }),
            "sourceAccountEquals" => Some(if ACCOUNT.is_match(value) {
                Ok(())
            } else {
                invalid("Member must satisfy regular expression pattern: [0-9]{12}")
            }),
            _ => None,
        }
    }

    fn filtered_name(&self) -> Option<&str> {
        self.target_model_name.as_deref()
    }
}

/// `ModelCopyJobArn`, which `jobArn` of GetModelCopyJob takes.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-copy-job/[a-z0-9]{12}")
});
const IDENTIFIER_MAX: usize = 1011;
/// `CustomModelName`, which `targetModelNameContains` of ListModelCopyJobs takes.
static NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"([0-9a-zA-Z][_-]?){1,63}"));
const NAME_MAX: usize = 63;
/// `AccountId`.
static ACCOUNT: LazyLock<Regex> = LazyLock::new(|| whole(r"[0-9]{12}"));

/// Checks a copy job ARN against `jobArn` of GetModelCopyJob (copy jobs have no name).
pub fn check_identifier(id: &str) -> Result<(), String> {
    // An ARN of at most IDENTIFIER_MAX characters is the only thing that passes; the name
    // length does not apply.
    check(
        id,
        &IDENTIFIER,
        IDENTIFIER_MAX,
        ("copy job ARN", IDENTIFIER_MAX),
        |arn| {
            if arn {
                "is not a model copy job ARN (arn:aws:bedrock:REGION:ACCOUNT:model-copy-job/ID)"
            } else {
                "is not a model copy job ARN: copy jobs have no name, give the ARN (arn:aws:bedrock:REGION:ACCOUNT:model-copy-job/ID)"
            }
        },
    )
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as a custom model name: letters and digits, each optionally followed by one '_' or '-'",
    )
}

/// A `ListModelCopyJobs` entry: everything a Get would say.
fn summary(s: &ModelCopyJobSummary) -> CopyJobRecord {
    CopyJobRecord {
        job_arn: present(s.job_arn()),
        status: present(s.status().as_str()),
        creation_time: seconds(Some(s.creation_time())),
        target_model_arn: present(s.target_model_arn()),
        target_model_name: s.target_model_name().and_then(present),
        source_account_id: present(s.source_account_id()),
        source_model_arn: present(s.source_model_arn()),
        source_model_name: s.source_model_name().and_then(present),
        failure_message: s.failure_message().map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_job_identifiers_are_arns_only() {
        let good = [
            "arn:aws:bedrock:us-east-1:123456789012:model-copy-job/abcdef012345",
            "arn:aws-cn:bedrock:cn-north-1:123456789012:model-copy-job/a1b2c3d4e5f6",
        ];
        for id in good {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        let bad = [
            "",
            "abcdef012345",
            "my-copy-job",
            "arn:aws:bedrock:us-east-1:123456789012:model-copy-job/short",
            "arn:aws:bedrock:us-east-1:123456789012:model-copy-job/ABCDEF012345",
            "arn:aws:bedrock:us-east-1:1234:model-copy-job/abcdef012345",
            "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abcdef012345",
        ];
        for id in bad {
            assert!(check_identifier(id).is_err(), "{id}");
        }
        assert!(check_identifier("abcdef012345")
            .unwrap_err()
            .contains("no name"));
        assert_eq!(check_name_part("support-bot_v2"), Ok(()));
        assert!(check_name_part("double__underscore").is_err());
    }

    #[test]
    fn the_job_id_is_the_last_part_of_the_arn() {
        let job = CopyJobRecord {
            job_arn: Some(
                "arn:aws:bedrock:us-east-1:123456789012:model-copy-job/abcdef012345".to_owned(),
            ),
            ..CopyJobRecord::default()
        };
        assert_eq!(job.name(), Some("abcdef012345"));
        assert_eq!(CopyJobRecord::default().name(), None);
    }
}
