//! Bedrock's JSON shapes, as `tests/reference/bedrock-2023-04-20.service.json` gives them:
//! RFC 3339 timestamps, absent fields left out, summaries with only the fields they carry.

use std::collections::BTreeMap;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Map, Value};

use crate::bedrock::{account_of_arn, JobRecord, ModelRecord, Record};

fn timestamp(seconds: f64) -> Value {
    let text = DateTime::from_secs_f64(seconds)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    Value::String(text)
}

/// Inserts `value` under `key` unless it is absent.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value);
    }
}

fn string(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

fn metrics_json(map: &mut Map<String, Value>, training: Option<f64>, validation: &[Option<f64>]) {
    put(
        map,
        "trainingMetrics",
        training.map(|loss| json!({ "trainingLoss": loss })),
    );
    if !validation.is_empty() {
        let list = validation
            .iter()
            .map(|loss| match loss {
                Some(loss) => json!({ "validationLoss": loss }),
                None => json!({}),
            })
            .collect();
        map.insert("validationMetrics".to_owned(), Value::Array(list));
    }
}

fn hyper_parameters_json(params: &BTreeMap<String, String>) -> Option<Value> {
    (!params.is_empty()).then(|| json!(params))
}

/// The data configs every job and model carries, derived from its name.
fn data_configs(map: &mut Map<String, Value>, name: &str, validators: usize) {
    map.insert(
        "trainingDataConfig".to_owned(),
        json!({ "s3Uri": format!("s3://demo-training-data/{name}/train.jsonl") }),
    );
    let validators: Vec<Value> = (0..validators)
        .map(|i| json!({ "s3Uri": format!("s3://demo-training-data/{name}/validation-{i}.jsonl") }))
        .collect();
    map.insert(
        "validationDataConfig".to_owned(),
        json!({ "validators": validators }),
    );
    map.insert(
        "outputDataConfig".to_owned(),
        json!({ "s3Uri": format!("s3://demo-training-output/{name}/") }),
    );
}

/// `statusDetails`: each reported stage with its status (the simulator dates every stage with
/// the job's own times).
fn status_details(job: &JobRecord) -> Option<Value> {
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

/// A `GetModelCustomizationJob` or `GetCustomModel` response body.
pub fn record_json(record: &Record) -> Vec<u8> {
    match record {
        Record::Job(job) => job_json(job),
        Record::Model(model) => model_json(model),
    }
    .to_string()
    .into_bytes()
}

/// A `ListModelCustomizationJobs` or `ListCustomModels` response body: summaries of `records`
/// (all of one kind) and the token of the next page.
pub fn list_json(records: &[Record], next_token: Option<&str>) -> Vec<u8> {
    let mut jobs = Vec::new();
    let mut models = Vec::new();
    for record in records {
        match record {
            Record::Job(job) => jobs.push(job_summary_json(job)),
            Record::Model(model) => models.push(model_summary_json(model)),
        }
    }
    let key = match records.first() {
        Some(Record::Model(_)) => "modelSummaries",
        _ => "modelCustomizationJobSummaries",
    };
    let mut body = Map::new();
    body.insert(
        key.to_owned(),
        Value::Array(if models.is_empty() { jobs } else { models }),
    );
    put(&mut body, "nextToken", next_token.map(|t| json!(t)));
    Value::Object(body).to_string().into_bytes()
}

/// A `ModelCustomizationJobSummary`.
fn job_summary_json(job: &JobRecord) -> Value {
    let mut m = Map::new();
    put(&mut m, "jobArn", string(&job.job_arn));
    put(&mut m, "baseModelArn", string(&job.base_model_arn));
    put(&mut m, "jobName", string(&job.job_name));
    put(&mut m, "status", string(&job.status));
    put(&mut m, "statusDetails", status_details(job));
    put(
        &mut m,
        "lastModifiedTime",
        job.last_modified_time.map(timestamp),
    );
    put(&mut m, "creationTime", job.creation_time.map(timestamp));
    put(&mut m, "endTime", job.end_time.map(timestamp));
    put(&mut m, "customModelArn", string(&job.output_model_arn));
    put(&mut m, "customModelName", string(&job.output_model_name));
    put(&mut m, "customizationType", string(&job.customization_type));
    Value::Object(m)
}

/// A `CustomModelSummary`.
fn model_summary_json(model: &ModelRecord) -> Value {
    let mut m = Map::new();
    put(&mut m, "modelArn", string(&model.model_arn));
    put(&mut m, "modelName", string(&model.model_name));
    put(&mut m, "creationTime", model.creation_time.map(timestamp));
    put(&mut m, "baseModelArn", string(&model.base_model_arn));
    // The base model's name is the foundation model id: what follows `foundation-model/`.
    let base_name = model
        .base_model_arn
        .as_deref()
        .and_then(|arn| arn.rsplit_once('/'))
        .map(|(_, id)| json!(id.split(':').next().unwrap_or(id)));
    put(&mut m, "baseModelName", base_name);
    put(
        &mut m,
        "customizationType",
        string(&model.customization_type),
    );
    put(
        &mut m,
        "ownerAccountId",
        model
            .model_arn
            .as_deref()
            .and_then(account_of_arn)
            .map(|a| json!(a)),
    );
    put(&mut m, "modelStatus", string(&model.model_status));
    Value::Object(m)
}

/// A `GetModelCustomizationJob` response body.
pub fn job_json(job: &JobRecord) -> Value {
    let mut m = Map::new();
    put(&mut m, "jobArn", string(&job.job_arn));
    put(&mut m, "jobName", string(&job.job_name));
    put(&mut m, "outputModelName", string(&job.output_model_name));
    put(&mut m, "outputModelArn", string(&job.output_model_arn));
    let account = job
        .job_arn
        .as_deref()
        .and_then(account_of_arn)
        .unwrap_or("123456789012");
    m.insert(
        "roleArn".to_owned(),
        json!(format!("arn:aws:iam::{account}:role/BedrockCustomization")),
    );
    put(&mut m, "status", string(&job.status));
    put(&mut m, "statusDetails", status_details(job));
    put(&mut m, "failureMessage", string(&job.failure_message));
    put(&mut m, "creationTime", job.creation_time.map(timestamp));
    put(
        &mut m,
        "lastModifiedTime",
        job.last_modified_time.map(timestamp),
    );
    put(&mut m, "endTime", job.end_time.map(timestamp));
    put(&mut m, "baseModelArn", string(&job.base_model_arn));
    put(
        &mut m,
        "hyperParameters",
        hyper_parameters_json(&job.hyper_parameters),
    );
    data_configs(
        &mut m,
        job.job_name.as_deref().unwrap_or("job"),
        job.validation_losses.len().max(1),
    );
    put(&mut m, "customizationType", string(&job.customization_type));
    if job.customization_type.as_deref() == Some("DISTILLATION") {
        m.insert(
            "customizationConfig".to_owned(),
            json!({ "distillationConfig": { "teacherModelConfig": {
                "teacherModelIdentifier": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
                "maxResponseLengthForInference": 1000
            }}}),
        );
    }
    metrics_json(&mut m, job.training_loss, &job.validation_losses);
    Value::Object(m)
}

/// A `GetCustomModel` response body.
pub fn model_json(model: &ModelRecord) -> Value {
    let mut m = Map::new();
    put(&mut m, "modelArn", string(&model.model_arn));
    put(&mut m, "modelName", string(&model.model_name));
    put(&mut m, "jobName", string(&model.job_name));
    put(&mut m, "jobArn", string(&model.job_arn));
    put(&mut m, "baseModelArn", string(&model.base_model_arn));
    put(
        &mut m,
        "customizationType",
        string(&model.customization_type),
    );
    put(
        &mut m,
        "hyperParameters",
        hyper_parameters_json(&model.hyper_parameters),
    );
    data_configs(
        &mut m,
        model.model_name.as_deref().unwrap_or("model"),
        model.validation_losses.len().max(1),
    );
    metrics_json(&mut m, model.training_loss, &model.validation_losses);
    put(&mut m, "creationTime", model.creation_time.map(timestamp));
    put(&mut m, "modelStatus", string(&model.model_status));
    put(&mut m, "failureMessage", string(&model.failure_message));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_zone() {
        assert_eq!(timestamp(1_793_534_400.0), json!("2026-11-01T12:00:00Z"));
    }
}
