//! Imported models (`imported_model`): `ListImportedModels` / `GetImportedModel`, exported as
//! `bedrock_imported_model_*`. An imported model has no status: it is read at
//! `terminal_interval`. A summary lacks the import job and the custom model units, so a
//! discovered imported model is read with Get.

use std::sync::LazyLock;

use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::ImportedModelSummary;
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

/// One `GetImportedModel` response. Every field may be absent.
///
/// A `ListImportedModels` summary is a record too, with only the fields summaries carry (ARN,
/// name, creation time, architecture, whether it supports instruct).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportedModelRecord {
    pub model_arn: Option<String>,
    pub model_name: Option<String>,
    pub job_name: Option<String>,
    pub job_arn: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_time: Option<f64>,
    pub model_architecture: Option<String>,
    pub instruct_supported: Option<bool>,
    /// `customModelUnits.customModelUnitsPerModelCopy`.
    pub custom_model_units: Option<i32>,
}

const CREATION: usize = 0;
const CUSTOM_MODEL_UNITS: usize = 1;
const INFO: usize = 2;

static SPEC: KindSpec = KindSpec {
    label: "imported_model",
    config_key: "imported_models",
    noun: "imported model",
    list: "ListImportedModels",
    get: "GetImportedModel",
    identity_label: "model_name",
    statuses: &[],
    running: &[],
    status_param: None,
    path: "/imported-models",
    summaries_key: "modelSummaries",
    check_identifier,
    check_name_part,
    name_filter_key: "name_contains",
    // A summary cannot show a change of its custom model units.
    reread_when_settled: true,
    discover_keys: &["name_contains", "created_within"],
    created_within: None,
    lists_running_of_any_age: false,
    families: &[
        FamilyDef { name: "bedrock_imported_model_creation_timestamp_seconds", help: "Creation time of an imported model, in seconds since the Unix epoch." },
        FamilyDef { name: "bedrock_imported_model_custom_model_units", help: "Custom model units used to host one copy of an imported model (customModelUnitsPerModelCopy)." },
        FamilyDef { name: "bedrock_imported_model_info", help: "Static facts of an imported model, for joins; always 1." },
    ],
};

impl KindRecord for ImportedModelRecord {
    fn spec() -> &'static KindSpec {
        &SPEC
    }

    fn arn(&self) -> Option<&str> {
        self.model_arn.as_deref()
    }

    fn name(&self) -> Option<&str> {
        self.model_name.as_deref()
    }

    /// Imported models have no status.
    fn status(&self) -> Option<&str> {
        None
    }

    fn creation_time(&self) -> Option<f64> {
        self.creation_time
    }

    fn summary(&self) -> ImportedModelRecord {
        ImportedModelRecord {
            model_arn: self.model_arn.clone(),
            model_name: self.model_name.clone(),
            creation_time: self.creation_time,
            model_architecture: self.model_architecture.clone(),
            instruct_supported: self.instruct_supported,
            ..ImportedModelRecord::default()
        }
    }

    fn update_from_summary(&mut self, summary: &ImportedModelRecord) {
        let rest = std::mem::take(self);
        *self = ImportedModelRecord {
            job_name: rest.job_name,
            job_arn: rest.job_arn,
            custom_model_units: rest.custom_model_units,
            ..summary.clone()
        };
    }

    fn check(&mut self, fields: &mut Fields) {
        for value in [
            &mut self.model_arn,
            &mut self.model_name,
            &mut self.job_name,
            &mut self.job_arn,
            &mut self.model_architecture,
        ] {
            fields.field(value);
        }
    }

    fn render(&self, family: usize, id: &Ident, out: &mut Vec<u8>) {
        let name = SPEC.families[family].name;
        let s = or_empty;
        match family {
            CREATION => id.optional(out, name, self.creation_time),
            CUSTOM_MODEL_UNITS => id.optional(out, name, self.custom_model_units.map(f64::from)),
            INFO => {
                let instruct = match self.instruct_supported {
                    Some(true) => "true",
                    Some(false) => "false",
                    None => "",
                };
                let labels = [
                    ("architecture", s(&self.model_architecture)),
                    ("instruct_supported", instruct),
                    ("job_arn", s(&self.job_arn)),
                    ("job_name", s(&self.job_name)),
                    ("model_arn", s(&self.model_arn)),
                ];
                id.series(out, name, &labels, 1.0);
            }
            _ => {}
        }
    }

    async fn get(client: &Client, identifier: &str) -> Result<ImportedModelRecord, FetchError> {
        let out = client
            .get_imported_model()
            .model_identifier(identifier)
            .send()
            .await
            .map_err(fetch_error)?;
        Ok(ImportedModelRecord {
            model_arn: out.model_arn().and_then(present),
            model_name: out.model_name().and_then(present),
            job_name: out.job_name().and_then(present),
            job_arn: out.job_arn().and_then(present),
            creation_time: seconds(out.creation_time()),
            model_architecture: out.model_architecture().and_then(present),
            instruct_supported: out.instruct_supported(),
            custom_model_units: out
                .custom_model_units()
                .and_then(|u| u.custom_model_units_per_model_copy()),
        })
    }

    async fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page<ImportedModelRecord>, FetchError> {
        let time = |t: Option<f64>| t.map(DateTime::from_secs_f64);
        let page = client
            .list_imported_models()
            .set_name_contains(query.name_contains.clone())
            .set_creation_time_after(time(query.created_after))
            .set_creation_time_before(time(query.created_before))
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
        let source = self.model_name.as_deref().unwrap_or("model");
        m.insert(
            "modelDataSource".to_owned(),
            json!({ "s3DataSource": { "s3Uri": format!("s3://demo-model-import/{source}/") } }),
        );
        put(&mut m, "creationTime", self.creation_time.map(timestamp));
        put(
            &mut m,
            "modelArchitecture",
            string(&self.model_architecture),
        );
        put(
            &mut m,
            "instructSupported",
            self.instruct_supported.map(Value::Bool),
        );
        put(
            &mut m,
            "customModelUnits",
            self.custom_model_units.map(|units| {
                json!({ "customModelUnitsPerModelCopy": units, "customModelUnitsVersion": "1.0" })
            }),
        );
        Value::Object(m)
    }

    fn summary_json(&self) -> Value {
        // Required members are always sent; the others only when known.
        let mut m = Map::new();
        put(
            &mut m,
            "modelArn",
            Some(json!(self.model_arn.as_deref().unwrap_or_default())),
        );
        put(
            &mut m,
            "modelName",
            Some(json!(self.model_name.as_deref().unwrap_or_default())),
        );
        put(
            &mut m,
            "creationTime",
            Some(timestamp(self.creation_time.unwrap_or_default())),
        );
        put(
            &mut m,
            "instructSupported",
            self.instruct_supported.map(Value::Bool),
        );
        put(
            &mut m,
            "modelArchitecture",
            string(&self.model_architecture),
        );
        Value::Object(m)
    }
}

/// `ImportedModelIdentifier` of GetImportedModel.
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:imported-model/[a-z0-9]{12})|(([0-9a-zA-Z][_-]?)+)",
    )
});
const IDENTIFIER_MAX: usize = 1011;
/// `ImportedModelName`: a model named rather than given by ARN has at most this many characters.
const NAME_MAX: usize = 63;
/// `ImportedModelName`, which `nameContains` of ListImportedModels takes.
static NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"([0-9a-zA-Z][_-]?)+"));

/// Checks a model name or ARN against `modelIdentifier` of GetImportedModel.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check(
        id,
        &IDENTIFIER,
        IDENTIFIER_MAX,
        ("model name", NAME_MAX),
        |arn| {
            if arn {
                "is not an imported model ARN (arn:aws:bedrock:REGION:ACCOUNT:imported-model/ID)"
            } else {
                "is not a model name: letters and digits, each optionally followed by one '_' or '-'"
            }
        },
    )
}

fn check_name_part(part: &str) -> Result<(), String> {
    name_part(
        part,
        NAME_MAX,
        &NAME,
        "as a model name: letters and digits, each optionally followed by one '_' or '-'",
    )
}

/// A `ListImportedModels` entry, as a record with the fields summaries carry.
fn summary(s: &ImportedModelSummary) -> ImportedModelRecord {
    ImportedModelRecord {
        model_arn: present(s.model_arn()),
        model_name: present(s.model_name()),
        creation_time: seconds(Some(s.creation_time())),
        model_architecture: s.model_architecture().and_then(present),
        instruct_supported: s.instruct_supported(),
        ..ImportedModelRecord::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_model_identifiers_follow_the_api_pattern() {
        let good = [
            "llama-3-8b-support",
            "model_v2",
            "M",
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdef012345",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:imported-model/a1b2c3d4e5f6",
        ];
        for id in good {
            assert_eq!(check_identifier(id), Ok(()), "{id}");
        }
        let bad = [
            "",
            "has space",
            "double__underscore",
            "-leading-dash",
            "dotted.name",
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/short",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/imported/abcdef012345",
            "arn:aws:bedrock:us-east-1:1234:imported-model/abcdef012345",
        ];
        for id in bad {
            assert!(check_identifier(id).is_err(), "{id}");
        }
        assert!(check_identifier(&"a".repeat(64)).is_err());
        assert!(check_identifier(&"a".repeat(63)).is_ok());
        assert_eq!(check_name_part("llama"), Ok(()));
        assert!(check_name_part("a.b").is_err());
    }

    #[test]
    fn without_a_status_it_is_settled_and_has_no_state_set() {
        let model = ImportedModelRecord::default();
        assert_eq!(model.status(), None);
        assert!(model.is_settled());
        assert!(model.summary_lacks());
        assert!(SPEC.families.iter().all(|f| !f.name.ends_with("_status")));
    }
}
