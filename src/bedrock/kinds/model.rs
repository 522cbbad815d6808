//! Custom models (`model`): `ListCustomModels` / `GetCustomModel`, exported as
//! `bedrock_custom_model_*`. A summary lacks the losses and hyperparameters of the job that made
//! the model, so a discovered model is read with Get.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::CustomModelSummary;
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
    /// `customizationConfig` of the job that made it.
    pub customization: Customization,
}

/// Custom model statuses (`ModelStatus`).
pub const STATUSES: [&str; 3] = ["Active", "Creating", "Failed"];

const CREATION: usize = 0;
const FAILURE: usize = 1;
const HYPERPARAMETER: usize = 2;
const INFO: usize = 3;
const STATUS: usize = 4;
const TRAINING_LOSS: usize = 5;
const VALIDATION_LOSS: usize = 6;

static SPEC: KindSpec = KindSpec {
    label: "model",
    config_key: "models",
    noun: "custom model",
    list: "ListCustomModels",
    get: "GetCustomModel",
    identity_label: "model_name",
    statuses: &STATUSES,
    running: &["Creating"],
    status_param: Some("modelStatus"),
    path: "/custom-models",
    summaries_key: "modelSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "name_contains",
    reread_when_settled: true,
    discover_keys: &["name_contains", "base_model", "created_within"],
    created_within: None,
    lists_running_of_any_age: false,
    families: &[
        FamilyDef { name: "bedrock_custom_model_creation_timestamp_seconds", help: "Creation time of a custom model, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_custom_model_failure_info", help: "Failure message of a custom model whose creation failed (first line, at most 256 characters); always 1." },
        FamilyDef { name: "bedrock_custom_model_hyperparameter", help: "Numeric hyperparameter of the job that produced a custom model." },
        FamilyDef { name: "bedrock_custom_model_info", help: "Static facts of a custom model, for joins; always 1." },
        FamilyDef { name: "bedrock_custom_model_status", help: "Status of a custom model: 1 for the current status, 0 for the others." },
        FamilyDef { name: "bedrock_custom_model_training_loss", help: "Training loss of the job that produced a custom model." },
        FamilyDef { name: "bedrock_custom_model_validation_loss", help: "Validation loss of the job that produced a custom model, per validator." },
    ],
};

impl KindRecord for ModelRecord {
    fn spec() -> &'static KindSpec {
        &SPEC
    }

    fn arn(&self) -> Option<&str> {
        self.model_arn.as_deref()
    }

    fn name(&self) -> Option<&str> {
        self.model_name.as_deref()
    }

    fn status(&self) -> Option<&str> {
        self.model_status.as_deref()
    }

    fn creation_time(&self) -> Option<f64> {
        self.creation_time
    }

    fn failure_message(&self) -> Option<&str> {
        self.failure_message.as_deref()
    }

    fn losses(&self) -> (Option<f64>, &[Option<f64>]) {
        (self.training_loss, &self.validation_losses)
    }

    fn summary(&self) -> ModelRecord {
        ModelRecord {
            model_arn: self.model_arn.clone(),
            model_name: self.model_name.clone(),
            base_model_arn: self.base_model_arn.clone(),
            customization_type: self.customization_type.clone(),
            model_status: self.model_status.clone(),
            creation_time: self.creation_time,
            ..ModelRecord::default()
        }
    }

    fn update_from_summary(&mut self, summary: &ModelRecord) {
        let rest = std::mem::take(self);
        *self = ModelRecord {
            job_name: rest.job_name,
            job_arn: rest.job_arn,
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
            &mut self.model_arn,
            &mut self.model_name,
            &mut self.job_name,
            &mut self.job_arn,
            &mut self.base_model_arn,
            &mut self.customization_type,
            &mut self.model_status,
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
            FAILURE => {
                id.failure_info(out, name, self.model_status.as_deref(), self.failure_message.as_deref())
            }
            HYPERPARAMETER => id.hyperparameters(out, name, &self.hyper_parameters),
            INFO => {
                let mut labels = vec![
                    ("base_model", s(&self.base_model_arn)),
                    ("customization_type", s(&self.customization_type)),
                    ("job_arn", s(&self.job_arn)),
                    ("job_name", s(&self.job_name)),
                    ("model_arn", s(&self.model_arn)),
                ];
                labels.extend(self.customization.labels());
                id.series(out, name, &labels, 1.0);
            }
            STATUS => id.status(out, name, &STATUSES, self.model_status.as_deref()),
            TRAINING_LOSS => id.optional(out, name, self.training_loss),
            VALIDATION_LOSS => id.validation_losses(out, name, &self.validation_losses),
            _ => {}
        }
    }

    async fn get(client: &Client, identifier: &str) -> Result<ModelRecord, FetchError> {
        let out = client
            .get_custom_model()
            .model_identifier(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        let customization = Customization::of(out.customization_config());
        Ok(ModelRecord {
            model_arn: present(out.model_arn()),
            model_name: present(out.model_name()),
            job_name: out.job_name().and_then(present),
            job_arn: out.job_arn().and_then(present),
            base_model_arn: out.base_model_arn().and_then(present),
            customization_type: out.customization_type().map(|t| t.as_str().to_owned()),
            model_status: out.model_status().map(|s| s.as_str().to_owned()),
            failure_message: out.failure_message().map(str::to_owned),
            creation_time: seconds(Some(out.creation_time())),
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
    ) -> Result<Page<ModelRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        let page = client
            .list_custom_models()
            .set_name_contains(query.name_contains.clone())
            .set_creation_time_after(time(query.created_after))
            .set_creation_time_before(time(query.created_before))
            .set_base_model_arn_equals(query.base_model.clone())
            .max_results(LIST_PAGE_MAX as i32)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(Page {
            records: page.model_summaries().iter().map(summary).collect(),
            next_token: page.next_token,
        })
    }

    fn get_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "modelArn", string(&self.model_arn));
        put(&mut m, "modelName", string(&self.model_name));
        put(&mut m, "jobName", string(&self.job_name));
        put(&mut m, "jobArn", string(&self.job_arn));
        put(&mut m, "baseModelArn", string(&self.base_model_arn));
        put(&mut m, "customizationType", string(&self.customization_type));
        put(&mut m, "customizationConfig", self.customization.json());
        put(
            &mut m,
            "hyperParameters",
            hyper_parameters_json(&self.hyper_parameters),
        );
        data_configs(
            &mut m,
            self.model_name.as_deref().unwrap_or("model"),
            self.validation_losses.len().max(1),
        );
        metrics(&mut m, self.training_loss, &self.validation_losses);
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(&mut m, "modelStatus", string(&self.model_status));
        put(&mut m, "failureMessage", string(&self.failure_message));
        Value::Object(m)
    }

    fn summary_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "modelArn", string(&self.model_arn));
        put(&mut m, "modelName", string(&self.model_name));
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(&mut m, "baseModelArn", string(&self.base_model_arn));
        // The base model's name is the foundation model id: what follows `foundation-model/`.
        let base_name = self
            .base_model_arn
            .as_deref()
            .and_then(|arn| arn.rsplit_once('/'))
            .map(|(_, id)| json!(id.split(':').next().unwrap_or(id)));
        put(&mut m, "baseModelName", base_name);
        put(&mut m, "customizationType", string(&self.customization_type));
        put(
            &mut m,
            "ownerAccountId",
            self.model_arn
                .as_deref()
                .and_then(account_of_arn)
                .map(|a| json!(a)),
        );
        put(&mut m, "modelStatus", string(&self.model_status));
        Value::Object(m)
    }

    fn list_param(query: &mut ListQuery, name: &str, value: &str) -> Option<Result<(), String>> {
        match name {
            "baseModelArnEquals" | "foundationModelArnEquals" => {
                query.base_model = Some(value.to_owned());
                Some(Ok(()))
            }
            // Checked, not applied: the exporter never sends it.
            "isOwned" => Some(if ["true", "false"].contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "1 validation error detected: Value '{value}' at 'isOwned' failed to satisfy constraint: Member must satisfy enum value set: [true, false]"
                ))
            }),
            _ => None,
        }
    }

    fn matches(&self, query: &ListQuery) -> bool {
        query
            .base_model
            .as_deref()
            .is_none_or(|arn| self.base_model_arn.as_deref() == Some(arn))
    }
}

/// `ModelIdentifier` of GetCustomModel.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/((imported)|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}))(([:][a-z0-9-]{1,63}){0,2})?/[a-z0-9]{12})|(:foundation-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})))|(([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2}))|(([0-9a-zA-Z][_-]?)+)",
    )
});
const IDENTIFIER_MAX: usize = 2048;
/// `CustomModelName`: a model named rather than given by ARN has at most this many characters.
const NAME_MAX: usize = 63;
/// `CustomModelName`, which `nameContains` of ListCustomModels takes.
static NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"([0-9a-zA-Z][_-]?){1,63}"));

/// Checks a model name or ARN against `modelIdentifier` of GetCustomModel.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check(id, &IDENTIFIER, IDENTIFIER_MAX, ("model name", NAME_MAX), |arn| {
        if arn {
            "is not a custom model ARN (arn:aws:bedrock:REGION:ACCOUNT:custom-model/BASE-MODEL/ID)"
        } else {
            "is not a model name: letters and digits, each optionally followed by one '_' or '-'"
        }
    })
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as a model name: letters and digits, each optionally followed by one '_' or '-'",
    )
}

/// A `ListCustomModels` entry, as a record with the fields summaries carry.
fn summary(s: &CustomModelSummary) -> ModelRecord {
    ModelRecord {
        model_arn: present(s.model_arn()),
        model_name: present(s.model_name()),
        base_model_arn: present(s.base_model_arn()),
        customization_type: s.customization_type().map(|t| t.as_str().to_owned()),
        model_status: s.model_status().map(|s| s.as_str().to_owned()),
        creation_time: seconds(Some(s.creation_time())),
        ..ModelRecord::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_identifiers_follow_the_api_pattern() {
        let good = [
            "my-custom-model",
            "model_v2",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdefghijkl",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/imported/abcdefghijkl",
        ];
        for id in good {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        for id in [
            "",
            "bad model",
            "double__underscore",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/x",
        ] {
            assert!(check_identifier(id).is_err(), "{id}");
        }
    }
}
