//! Bedrock's JSON answers: a Get answer, and a List page of summaries, in the shapes each kind
//! declares (`tests/reference/bedrock-2023-04-20.service.json` gives them).

use serde_json::{json, Map, Value};

use crate::bedrock::{Kind, Record};

/// A Get response body.
pub fn record_json(record: &Record) -> Vec<u8> {
    record.get_json().to_string().into_bytes()
}

/// A List response body: summaries of `records` (all of `kind`) and the token of the next page.
pub fn list_json(kind: Kind, records: &[Record], next_token: Option<&str>) -> Vec<u8> {
    let summaries = records.iter().map(Record::summary_json).collect();
    let mut body = Map::new();
    body.insert(
        kind.spec().summaries_key.to_owned(),
        Value::Array(summaries),
    );
    if let Some(token) = next_token {
        body.insert("nextToken".to_owned(), json!(token));
    }
    Value::Object(body).to_string().into_bytes()
}
