//! Custom model deployments (`deployment`): `ListCustomModelDeployments` /
//! `GetCustomModelDeployment`, exported as `bedrock_custom_model_deployment_*`. A summary lacks
//! `updateDetails` (only a Get shows an update), so a discovered deployment is read with Get.

use std::sync::LazyLock;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::{CustomModelDeploymentStatus, CustomModelDeploymentSummary};
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
use crate::bedrock::{FetchError, ListQuery, Page, LIST_PAGE_MAX};

/// One `GetCustomModelDeployment` response. Every field may be absent.
///
/// A `ListCustomModelDeployments` summary is a record too, with every field but the update's
/// status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentRecord {
    pub deployment_arn: Option<String>,
    pub deployment_name: Option<String>,
    /// The custom model it serves.
    pub model_arn: Option<String>,
    /// `CustomModelDeploymentStatus`: Creating, Active, Failed, or a newer value as sent.
    pub status: Option<String>,
    /// `updateDetails.updateStatus` (Updating, UpdateCompleted, UpdateFailed): only a Get
    /// shows it.
    pub update_status: Option<String>,
    pub failure_message: Option<String>,
    /// `createdAt`, seconds since the Unix epoch.
    pub creation_time: Option<f64>,
    /// `lastUpdatedAt`.
    pub last_updated_time: Option<f64>,
}

/// Deployment statuses (`CustomModelDeploymentStatus`).
pub const STATUSES: [&str; 3] = ["Creating", "Active", "Failed"];
/// Update statuses (`CustomModelDeploymentUpdateStatus`).
pub const UPDATE_STATUSES: [&str; 3] = ["Updating", "UpdateCompleted", "UpdateFailed"];

const CREATION: usize = 0;
const FAILURE: usize = 1;
const INFO: usize = 2;
const LAST_MODIFIED: usize = 3;
const STATUS: usize = 4;
const UPDATE_STATUS: usize = 5;

static SPEC: KindSpec = KindSpec {
    label: "deployment",
    config_key: "deployments",
    noun: "custom model deployment",
    list: "ListCustomModelDeployments",
    get: "GetCustomModelDeployment",
    identity_label: "deployment_name",
    statuses: &STATUSES,
    running: &["Creating"],
    status_param: Some("statusEquals"),
    path: "/model-customization/custom-model-deployments",
    summaries_key: "modelDeploymentSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "name_contains",
    reread_when_settled: false,
    discover_keys: &["name_contains", "created_within"],
    created_within: None,
    lists_running_of_any_age: false,
    families: &[
        FamilyDef { name: "bedrock_custom_model_deployment_creation_timestamp_seconds", help: "Creation time of a custom model deployment, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_custom_model_deployment_failure_info", help: "Failure message of a failed custom model deployment (first line, at most 256 characters); always 1." },
        FamilyDef { name: "bedrock_custom_model_deployment_info", help: "Static facts of a custom model deployment, for joins; always 1." },
        FamilyDef { name: "bedrock_custom_model_deployment_last_modified_timestamp_seconds", help: "Last update time of a custom model deployment (lastUpdatedAt), in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_custom_model_deployment_status", help: "Status of a custom model deployment: 1 for the current status, 0 for the others." },
        FamilyDef { name: "bedrock_custom_model_deployment_update_status", help: "Status of the last update of a custom model deployment (updateDetails), when it has one: 1 for the current status, 0 for the others." },
    ],
};

impl KindRecord for DeploymentRecord {
    fn spec() -> &'static KindSpec {
        &SPEC
    }

    fn arn(&self) -> Option<&str> {
        self.deployment_arn.as_deref()
    }

    fn name(&self) -> Option<&str> {
        self.deployment_name.as_deref()
    }

    fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    fn creation_time(&self) -> Option<f64> {
        self.creation_time
    }

    fn last_modified(&self) -> Option<f64> {
        self.last_updated_time
    }

    fn failure_message(&self) -> Option<&str> {
        self.failure_message.as_deref()
    }

    /// Creating, or an update still Updating, is read every interval.
    fn is_settled(&self) -> bool {
        let creating = self
            .status
            .as_deref()
            .is_some_and(|s| SPEC.running.contains(&s));
        !creating && self.update_status.as_deref() != Some("Updating")
    }

    fn summary(&self) -> DeploymentRecord {
        DeploymentRecord {
            update_status: None,
            ..self.clone()
        }
    }

    fn update_from_summary(&mut self, summary: &DeploymentRecord) {
        *self = DeploymentRecord {
            update_status: self.update_status.take(),
            ..summary.clone()
        };
    }

    fn check(&mut self, fields: &mut Fields) {
        for value in [
            &mut self.deployment_arn,
            &mut self.deployment_name,
            &mut self.model_arn,
            &mut self.status,
            &mut self.update_status,
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
                    ("deployment_arn", s(&self.deployment_arn)),
                    ("model_arn", s(&self.model_arn)),
                ];
                id.series(out, name, &labels, 1.0);
            }
            LAST_MODIFIED => id.optional(out, name, self.last_updated_time),
            STATUS => id.status(out, name, &STATUSES, self.status.as_deref()),
            UPDATE_STATUS => id.status(out, name, &UPDATE_STATUSES, self.update_status.as_deref()),
            _ => {}
        }
    }

    async fn get(client: &Client, identifier: &str) -> Result<DeploymentRecord, FetchError> {
        let out = client
            .get_custom_model_deployment()
            .custom_model_deployment_identifier(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(DeploymentRecord {
            deployment_arn: present(out.custom_model_deployment_arn()),
            deployment_name: present(out.model_deployment_name()),
            model_arn: present(out.model_arn()),
            status: present(out.status().as_str()),
            update_status: out
                .update_details()
                .and_then(|u| present(u.update_status().as_str())),
            failure_message: out.failure_message().map(str::to_owned),
            creation_time: seconds(Some(out.created_at())),
            last_updated_time: seconds(out.last_updated_at()),
        })
    }

    async fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page<DeploymentRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        let page = client
            .list_custom_model_deployments()
            .set_name_contains(query.name_contains.clone())
            .set_created_after(time(query.created_after))
            .set_created_before(time(query.created_before))
            .set_status_equals(
                query
                    .status
                    .as_deref()
                    .map(CustomModelDeploymentStatus::from),
            )
            .max_results(LIST_PAGE_MAX as i32)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(Page {
            records: page.model_deployment_summaries().iter().map(summary).collect(),
            next_token: page.next_token,
        })
    }

    fn get_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "customModelDeploymentArn", string(&self.deployment_arn));
        put(&mut m, "modelDeploymentName", string(&self.deployment_name));
        put(&mut m, "modelArn", string(&self.model_arn));
        put(&mut m, "createdAt", self.creation_time.map(timestamp));
        put(&mut m, "status", string(&self.status));
        // The simulator keeps no update target of its own: an update is shown as one to the
        // deployment's model.
        if let (Some(model), Some(status)) = (&self.model_arn, &self.update_status) {
            m.insert(
                "updateDetails".to_owned(),
                json!({ "modelArn": model, "updateStatus": status }),
            );
        }
        put(&mut m, "failureMessage", string(&self.failure_message));
        put(&mut m, "lastUpdatedAt", self.last_updated_time.map(timestamp));
        Value::Object(m)
    }

    fn summary_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "customModelDeploymentArn", string(&self.deployment_arn));
        put(&mut m, "customModelDeploymentName", string(&self.deployment_name));
        put(&mut m, "modelArn", string(&self.model_arn));
        put(&mut m, "createdAt", self.creation_time.map(timestamp));
        put(&mut m, "status", string(&self.status));
        put(&mut m, "lastUpdatedAt", self.last_updated_time.map(timestamp));
        put(&mut m, "failureMessage", string(&self.failure_message));
        Value::Object(m)
    }

    /// Its List call filters creation time with `createdAfter` and `createdBefore`, where the
    /// other kinds' take `creationTimeAfter` and `creationTimeBefore`.
    fn list_param(query: &mut ListQuery, name: &str, value: &str) -> Option<Result<(), String>> {
        let bound = match name {
            "createdAfter" => &mut query.created_after,
            "createdBefore" => &mut query.created_before,
            _ => return None,
        };
        Some(match DateTime::from_str(value, Format::DateTime) {
            Ok(t) => {
                *bound = Some(t.secs() as f64 + f64::from(t.subsec_nanos()) / 1e9);
                Ok(())
            }
            Err(_) => Err(format!(
                "1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint"
            )),
        })
    }
}

/// `CustomModelDeploymentIdentifier` of GetCustomModelDeployment.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"(arn:aws(|-us-gov|-cn|-iso|-iso-b):bedrock:[a-z0-9-]{1,20}:[0-9]{12}:custom-model-deployment/[a-z0-9]{12})|^([0-9a-zA-Z][_-]?){1,63}",
    )
});
const IDENTIFIER_MAX: usize = 93;
/// `ModelDeploymentName`: a deployment named rather than given by ARN has at most this many
/// characters.
const NAME_MAX: usize = 63;
/// `ModelDeploymentName`, which `nameContains` of ListCustomModelDeployments takes.
static NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"([0-9a-zA-Z][_-]?){1,63}"));

/// Checks a deployment name or ARN against `customModelDeploymentIdentifier` of
/// GetCustomModelDeployment.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check(id, &IDENTIFIER, IDENTIFIER_MAX, ("deployment name", NAME_MAX), |arn| {
        if arn {
            "is not a custom model deployment ARN (arn:aws:bedrock:REGION:ACCOUNT:custom-model-deployment/ID)"
        } else {
            "is not a deployment name: letters and digits, each optionally followed by one '_' or '-'"
        }
    })
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as a deployment name: letters and digits, each optionally followed by one '_' or '-'",
    )
}

/// A `ListCustomModelDeployments` entry, as a record with the fields summaries carry.
fn summary(s: &CustomModelDeploymentSummary) -> DeploymentRecord {
    DeploymentRecord {
        deployment_arn: present(s.custom_model_deployment_arn()),
        deployment_name: present(s.custom_model_deployment_name()),
        model_arn: present(s.model_arn()),
        status: present(s.status().as_str()),
        update_status: None,
        failure_message: s.failure_message().map(str::to_owned),
        creation_time: seconds(Some(s.created_at())),
        last_updated_time: seconds(s.last_updated_at()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_identifiers_follow_the_api_pattern() {
        let good = [
            "support-bot-prod",
            "a",
            "deploy_v2",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:custom-model-deployment/a1b2c3d4e5f6",
        ];
        for id in good {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        let bad = [
            "",
            "-leading-dash",
            "has space",
            "double__underscore",
            "dotted.name",
            // Another partition than the pattern's.
            "arn:aws-eu:bedrock:eu-west-1:123456789012:custom-model-deployment/abcdef123456",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/short",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/abcdef123456",
        ];
        for id in bad {
            assert!(check_identifier(id).is_err(), "{id}");
        }
        assert!(check_identifier(&"a".repeat(63)).is_ok());
        assert!(check_identifier(&"a".repeat(64)).is_err());
        assert!(check_name_part("bot").is_ok());
        assert!(check_name_part("bot.v2").is_err());
    }

    #[test]
    fn an_update_in_progress_is_read_every_interval() {
        let mut d = DeploymentRecord {
            status: Some("Active".to_owned()),
            ..DeploymentRecord::default()
        };
        assert!(d.is_settled());
        d.update_status = Some("Updating".to_owned());
        assert!(!d.is_settled());
        d.update_status = Some("UpdateCompleted".to_owned());
        assert!(d.is_settled());
        d.status = Some("Creating".to_owned());
        assert!(!d.is_settled());
    }
}
