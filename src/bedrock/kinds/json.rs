//! Helpers for the service's JSON shapes, as `tests/reference/bedrock-2023-04-20.service.json`
//! gives them: RFC 3339 timestamps, absent fields left out. Each kind writes its own shapes
//! with these, for the simulator to send.

use std::collections::BTreeMap;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Map, Value};

pub fn timestamp(seconds: f64) -> Value {
    let text = DateTime::from_secs_f64(seconds)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    Value::String(text)
}

/// Inserts `value` under `key` unless it is absent.
pub fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value);
    }
}

pub fn string(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

/// `trainingMetrics` and `validationMetrics`.
pub fn metrics(map: &mut Map<String, Value>, training: Option<f64>, validation: &[Option<f64>]) {
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

pub fn hyper_parameters(params: &BTreeMap<String, String>) -> Option<Value> {
    (!params.is_empty()).then(|| json!(params))
}

/// The data configs every job and model carries, derived from its name.
pub fn data_configs(map: &mut Map<String, Value>, name: &str, validators: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_zone() {
        assert_eq!(timestamp(1_793_534_400.0), json!("2026-11-01T12:00:00Z"));
    }
}
