//! Provisioned throughputs (`provisioned_throughput`): `ListProvisionedModelThroughputs` /
//! `GetProvisionedModelThroughput`, exported as `bedrock_provisioned_throughput_*`. A summary
//! carries everything exported but the failure message, so a discovered provisioned throughput
//! is read with Get only when it turns Failed.
//!
//! Its Get path is not its List path and the identifier: `/provisioned-model-throughput/{id}`
//! beside `/provisioned-model-throughputs`.

use std::sync::LazyLock;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::{ProvisionedModelStatus, ProvisionedModelSummary};
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

/// One `GetProvisionedModelThroughput` response. Every field may be absent.
///
/// A `ListProvisionedModelThroughputs` summary is a record too, with every field but the
/// failure message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProvisionedThroughputRecord {
    pub provisioned_model_arn: Option<String>,
    pub provisioned_model_name: Option<String>,
    /// The model it serves now.
    pub model_arn: Option<String>,
    /// The model it is being updated to (the same as `model_arn` when no update runs).
    pub desired_model_arn: Option<String>,
    pub foundation_model_arn: Option<String>,
    pub model_units: Option<u32>,
    pub desired_model_units: Option<u32>,
    /// `ProvisionedModelStatus`: Creating, InService, Updating, Failed, or a newer value as sent.
    pub status: Option<String>,
    /// `CommitmentDuration`: OneMonth, SixMonths; absent for no commitment.
    pub commitment_duration: Option<String>,
    pub commitment_expiration_time: Option<f64>,
    pub creation_time: Option<f64>,
    pub last_modified_time: Option<f64>,
    /// Only a Get shows it.
    pub failure_message: Option<String>,
}

/// Provisioned throughput statuses (`ProvisionedModelStatus`).
pub const STATUSES: [&str; 4] = ["Creating", "InService", "Updating", "Failed"];

const COMMITMENT_EXPIRATION: usize = 0;
const CREATION: usize = 1;
const DESIRED_MODEL_UNITS: usize = 2;
const FAILURE: usize = 3;
const INFO: usize = 4;
const LAST_MODIFIED: usize = 5;
const MODEL_UNITS: usize = 6;
const STATUS: usize = 7;

static SPEC: KindSpec = KindSpec {
    label: "provisioned_throughput",
    config_key: "provisioned_throughputs",
    noun: "provisioned throughput",
    list: "ListProvisionedModelThroughputs",
    get: "GetProvisionedModelThroughput",
    identity_label: "provisioned_model_name",
    statuses: &STATUSES,
    running: &["Creating", "Updating"],
    status_param: Some("statusEquals"),
    path: "/provisioned-model-throughputs",
    summaries_key: "provisionedModelSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "name_contains",
    reread_when_settled: false,
    discover_keys: &["name_contains", "created_within"],
    created_within: None,
    lists_running_of_any_age: false,
    families: &[
        FamilyDef { name: "bedrock_provisioned_throughput_commitment_expiration_timestamp_seconds", help: "End of the commitment term of a provisioned throughput, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_provisioned_throughput_creation_timestamp_seconds", help: "Creation time of a provisioned throughput, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_provisioned_throughput_desired_model_units", help: "Model units a provisioned throughput is being updated to." },
        FamilyDef { name: "bedrock_provisioned_throughput_failure_info", help: "Failure message of a failed provisioned throughput (first line, at most 256 characters); always 1." },
        FamilyDef { name: "bedrock_provisioned_throughput_info", help: "Static facts of a provisioned throughput, for joins; always 1." },
        FamilyDef { name: "bedrock_provisioned_throughput_last_modified_timestamp_seconds", help: "Last modification time of a provisioned throughput, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_provisioned_throughput_model_units", help: "Model units of a provisioned throughput." },
        FamilyDef { name: "bedrock_provisioned_throughput_status", help: "Status of a provisioned throughput: 1 for the current status, 0 for the others." },
    ],
};

impl KindRecord for ProvisionedThroughputRecord {
    fn spec() -> &'static KindSpec {
        &SPEC
    }

    fn arn(&self) -> Option<&str> {
        self.provisioned_model_arn.as_deref()
    }

    fn name(&self) -> Option<&str> {
        self.provisioned_model_name.as_deref()
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

    fn failure_message(&self) -> Option<&str> {
        self.failure_message.as_deref()
    }

    /// Only the failure message is missing from a summary: a Failed one needs its Get.
    fn summary_lacks(&self) -> bool {
        self.status.as_deref() == Some("Failed")
    }

    fn summary(&self) -> ProvisionedThroughputRecord {
        ProvisionedThroughputRecord {
            failure_message: None,
            ..self.clone()
        }
    }

    fn update_from_summary(&mut self, summary: &ProvisionedThroughputRecord) {
        *self = ProvisionedThroughputRecord {
            failure_message: self.failure_message.take(),
            ..summary.clone()
        };
    }

    fn check(&mut self, fields: &mut Fields) {
        for value in [
            &mut self.provisioned_model_arn,
            &mut self.provisioned_model_name,
            &mut self.model_arn,
            &mut self.desired_model_arn,
            &mut self.foundation_model_arn,
            &mut self.status,
            &mut self.commitment_duration,
        ] {
            fields.field(value);
        }
        fields.message(&mut self.failure_message);
    }

    fn render(&self, family: usize, id: &Ident, out: &mut Vec<u8>) {
        let name = SPEC.families[family].name;
        let s = or_empty;
        let units = |u: Option<u32>| u.map(f64::from);
        match family {
            COMMITMENT_EXPIRATION => id.optional(out, name, self.commitment_expiration_time),
            CREATION => id.optional(out, name, self.creation_time),
            DESIRED_MODEL_UNITS => id.optional(out, name, units(self.desired_model_units)),
            FAILURE => {
                id.failure_info(out, name, self.status.as_deref(), self.failure_message.as_deref())
            }
            INFO => {
                let labels = [
                    ("commitment_duration", s(&self.commitment_duration)),
                    ("desired_model_arn", s(&self.desired_model_arn)),
                    ("foundation_model_arn", s(&self.foundation_model_arn)),
                    ("model_arn", s(&self.model_arn)),
                    ("provisioned_model_arn", s(&self.provisioned_model_arn)),
                ];
                id.series(out, name, &labels, 1.0);
            }
            LAST_MODIFIED => id.optional(out, name, self.last_modified_time),
            MODEL_UNITS => id.optional(out, name, units(self.model_units)),
            STATUS => id.status(out, name, &STATUSES, self.status.as_deref()),
            _ => {}
        }
    }

    async fn get(
        client: &Client,
        identifier: &str,
    ) -> Result<ProvisionedThroughputRecord, FetchError> {
        let out = client
            .get_provisioned_model_throughput()
            .provisioned_model_id(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(ProvisionedThroughputRecord {
            provisioned_model_arn: present(out.provisioned_model_arn()),
            provisioned_model_name: present(out.provisioned_model_name()),
            model_arn: present(out.model_arn()),
            desired_model_arn: present(out.desired_model_arn()),
            foundation_model_arn: present(out.foundation_model_arn()),
            model_units: units(out.model_units()),
            desired_model_units: units(out.desired_model_units()),
            status: present(out.status().as_str()),
            commitment_duration: out.commitment_duration().map(|c| c.as_str().to_owned()),
            commitment_expiration_time: seconds(out.commitment_expiration_time()),
            creation_time: seconds(Some(out.creation_time())),
            last_modified_time: seconds(Some(out.last_modified_time())),
            failure_message: out.failure_message().map(str::to_owned),
        })
    }

    async fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page<ProvisionedThroughputRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        let page = client
            .list_provisioned_model_throughputs()
            .set_name_contains(query.name_contains.clone())
            .set_creation_time_after(time(query.created_after))
            .set_creation_time_before(time(query.created_before))
            .set_status_equals(query.status.as_deref().map(ProvisionedModelStatus::from))
            .max_results(LIST_PAGE_MAX as i32)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(Page {
            records: page.provisioned_model_summaries().iter().map(summary).collect(),
            next_token: page.next_token,
        })
    }

    fn get_json(&self) -> Value {
        let mut m = self.summary_json();
        if let Value::Object(m) = &mut m {
            put(m, "failureMessage", string(&self.failure_message));
        }
        m
    }

    fn summary_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "provisionedModelName", string(&self.provisioned_model_name));
        put(&mut m, "provisionedModelArn", string(&self.provisioned_model_arn));
        put(&mut m, "modelArn", string(&self.model_arn));
        put(&mut m, "desiredModelArn", string(&self.desired_model_arn));
        put(&mut m, "foundationModelArn", string(&self.foundation_model_arn));
        put(&mut m, "modelUnits", self.model_units.map(|u| json!(u)));
        put(&mut m, "desiredModelUnits", self.desired_model_units.map(|u| json!(u)));
        put(&mut m, "status", string(&self.status));
        put(&mut m, "commitmentDuration", string(&self.commitment_duration));
        put(
            &mut m,
            "commitmentExpirationTime",
            self.commitment_expiration_time.map(timestamp),
        );
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(&mut m, "lastModifiedTime", self.last_modified_time.map(timestamp));
        Value::Object(m)
    }

    fn get_path() -> &'static str {
        "/provisioned-model-throughput"
    }
}

/// `PositiveInteger`: the SDK fills a missing required count with 0, which is absence.
fn units(count: i32) -> Option<u32> {
    u32::try_from(count).ok().filter(|&u| u > 0)
}

/// `ProvisionedModelId` of GetProvisionedModelThroughput.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"((([0-9a-zA-Z][_-]?)+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:provisioned-model/[a-z0-9]{12}))",
    )
});
/// The API model sets no length on `ProvisionedModelId`; an ARN of its pattern is far shorter.
const IDENTIFIER_MAX: usize = 2048;
/// `ProvisionedModelName`: one named rather than given by ARN has at most this many characters.
const NAME_MAX: usize = 63;
/// `ProvisionedModelName`, which `nameContains` of ListProvisionedModelThroughputs takes.
static NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"([0-9a-zA-Z][_-]?)+"));

/// Checks a provisioned model name or ARN against `provisionedModelId` of
/// GetProvisionedModelThroughput.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check(id, &IDENTIFIER, IDENTIFIER_MAX, ("provisioned model name", NAME_MAX), |arn| {
        if arn {
            "is not a provisioned model ARN (arn:aws:bedrock:REGION:ACCOUNT:provisioned-model/ID)"
        } else {
            "is not a provisioned model name: letters and digits, each optionally followed by one '_' or '-'"
        }
    })
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as a provisioned model name: letters and digits, each optionally followed by one '_' or '-'",
    )
}

/// A `ListProvisionedModelThroughputs` entry, as a record with the fields summaries carry.
fn summary(s: &ProvisionedModelSummary) -> ProvisionedThroughputRecord {
    ProvisionedThroughputRecord {
        provisioned_model_arn: present(s.provisioned_model_arn()),
        provisioned_model_name: present(s.provisioned_model_name()),
        model_arn: present(s.model_arn()),
        desired_model_arn: present(s.desired_model_arn()),
        foundation_model_arn: present(s.foundation_model_arn()),
        model_units: units(s.model_units()),
        desired_model_units: units(s.desired_model_units()),
        status: present(s.status().as_str()),
        commitment_duration: s.commitment_duration().map(|c| c.as_str().to_owned()),
        commitment_expiration_time: seconds(s.commitment_expiration_time()),
        creation_time: seconds(Some(s.creation_time())),
        last_modified_time: seconds(Some(s.last_modified_time())),
        failure_message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioned_model_identifiers_follow_the_api_pattern() {
        let good = [
            "support-bot-pt",
            "a",
            "pt_2026_11",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456",
            "arn:aws-cn:bedrock:cn-north-1:123456789012:provisioned-model/a1b2c3d4e5f6",
        ];
        for id in good {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        let bad = [
            "",
            "_leading-underscore",
            "has space",
            "double--dash",
            "dotted.name",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/ABCDEF123456",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/short",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456",
        ];
        for id in bad {
            assert!(check_identifier(id).is_err(), "{id}");
        }
        assert!(check_identifier(&"a".repeat(63)).is_ok());
        assert!(check_identifier(&"a".repeat(64)).is_err());
        assert!(check_name_part("bot-").is_ok());
        assert!(check_name_part("bot.v2").is_err());
    }

    #[test]
    fn only_a_failed_summary_lacks_something() {
        let mut pt = ProvisionedThroughputRecord {
            status: Some("InService".to_owned()),
            ..ProvisionedThroughputRecord::default()
        };
        assert!(!pt.summary_lacks());
        pt.status = Some("Failed".to_owned());
        assert!(pt.summary_lacks());
        pt.failure_message = Some("no capacity".to_owned());
        assert_eq!(pt.summary().failure_message, None);
    }
}
