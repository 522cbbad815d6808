//! Imported models (`imported_model`) through the real SDK against the simulator: a kind without
//! a status. Configured ones read with GetImportedModel, discovered ones listed (every page) and
//! read with Get, since a summary shows neither the import job nor the custom model units.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bedrock_exporter::bedrock::kinds::ImportedModelRecord;
use bedrock_exporter::bedrock::{Kind, Operation, Record};
use bedrock_exporter::config::{Discover, Discovery, Target};
use bedrock_exporter::simulator::Simulator;
use common::*;
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(30);

fn imported_model_arn(name: &str) -> String {
    format!(
        "arn:aws:bedrock:{REGION}:{ACCOUNT}:imported-model/{}",
        id_of(name)
    )
}

fn import_job_arn(name: &str) -> String {
    format!(
        "arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/{}",
        id_of(name)
    )
}

/// An imported model with every field set.
fn imported_model(name: &str, units: i32, instruct: Option<bool>) -> ImportedModelRecord {
    ImportedModelRecord {
        model_arn: Some(imported_model_arn(name)),
        model_name: Some(name.to_owned()),
        job_name: Some(format!("import-{name}")),
        job_arn: Some(import_job_arn(name)),
        creation_time: Some(1_793_534_400.0),
        model_architecture: Some("llama3".to_owned()),
        instruct_supported: instruct,
        custom_model_units: Some(units),
    }
}

fn info(text: &str, name: &str) -> Option<String> {
    series(text, "bedrock_imported_model_info")
        .into_iter()
        .find(|l| label(l, "model_name") == Some(name))
        .map(str::to_owned)
}

#[tokio::test]
async fn a_configured_imported_model_is_read_with_get_and_has_no_status() {
    let by_arn = imported_model_arn("by-arn");
    let mut target = target(&[], &[]);
    target.lists.insert(
        Kind::ImportedModel,
        vec![
            "llama-8b".to_owned(),
            "mistral-7b".to_owned(),
            by_arn.clone(),
        ],
    );
    let mut h = Harness::with_target(target, TIMEOUT).await;
    h.sim.put(Record::ImportedModel(imported_model(
        "llama-8b",
        2,
        Some(true),
    )));
    h.sim.put(Record::ImportedModel(imported_model(
        "mistral-7b",
        1,
        Some(false),
    )));
    h.sim
        .put(Record::ImportedModel(imported_model("by-arn", 4, None)));
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;

    assert_eq!(h.sim.calls_for("llama-8b"), 1);
    assert_eq!(h.sim.calls_for(&by_arn), 1);
    let expected = format!(
        r#"bedrock_imported_model_info{{account_id="{ACCOUNT}",architecture="llama3",instruct_supported="true",job_arn="{}",job_name="import-llama-8b",model_arn="{}",model_name="llama-8b",region="{REGION}"}} 1"#,
        import_job_arn("llama-8b"),
        imported_model_arn("llama-8b")
    );
    assert_eq!(info(&text, "llama-8b").as_deref(), Some(expected.as_str()));
    assert_eq!(
        label(&info(&text, "mistral-7b").unwrap(), "instruct_supported"),
        Some("false")
    );
    assert_eq!(
        label(&info(&text, "by-arn").unwrap(), "instruct_supported"),
        Some("")
    );
    let ident =
        |name: &str| format!(r#"account_id="{ACCOUNT}",model_name="{name}",region="{REGION}""#);
    for (name, units) in [("llama-8b", 2.0), ("mistral-7b", 1.0), ("by-arn", 4.0)] {
        let series = format!(
            "bedrock_imported_model_custom_model_units{{{}}}",
            ident(name)
        );
        assert_eq!(sample(&text, &series), Some(units), "{series}");
    }
    assert_eq!(
        sample(
            &text,
            &format!(
                "bedrock_imported_model_creation_timestamp_seconds{{{}}}",
                ident("llama-8b")
            )
        ),
        Some(1_793_534_400.0)
    );
    // No status: no state set, not even its HELP; no failure info.
    assert!(!text.contains("bedrock_imported_model_status"), "{text}");
    assert!(!text.contains("bedrock_imported_model_failure"), "{text}");
    assert!(series(&text, "bedrock_exporter_target_up")
        .iter()
        .any(|l| label(l, "kind") == Some("imported_model")
            && label(l, "identifier") == Some(by_arn.as_str())
            && l.ends_with(" 1")));
    h.stop().await;
}

#[tokio::test]
async fn discovered_imported_models_are_listed_then_read_for_their_units() {
    let sim = Simulator::new();
    for i in 0..1_050 {
        let name = format!("model-{i:04}");
        sim.put(Record::ImportedModel(imported_model(&name, 3, Some(true))));
    }
    let target = Target {
        discover: Discover::from([(Kind::ImportedModel, Discovery::default())]),
        ..target(&[], &[])
    };
    let since = Instant::now();
    let text = metrics_after_one_cycle(&sim, &target).await;
    assert_eq!(sim.calls_of(Operation::List(Kind::ImportedModel), since), 2);
    assert_eq!(
        sim.calls_of(Operation::Get(Kind::ImportedModel), since),
        1_050,
        "a summary lacks the units and the import job: each new one is read once"
    );
    assert_eq!(
        series(&text, "bedrock_imported_model_custom_model_units").len(),
        1_050
    );
    assert_eq!(
        label(&info(&text, "model-0042").unwrap(), "job_name"),
        Some("import-model-0042")
    );
    assert!(!text.contains("bedrock_imported_model_status"));
}
