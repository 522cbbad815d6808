//! Model import jobs (`import_job`) through the real SDK against the simulator: configured ones
//! read with GetModelImportJob, discovered ones from their listing (every page), a Get only for
//! a failed one, whose summary lacks the failure message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bedrock_exporter::bedrock::kinds::ImportJobRecord;
use bedrock_exporter::bedrock::{Kind, Operation, Record};
use bedrock_exporter::config::{Discover, Discovery, Target};
use bedrock_exporter::simulator::Simulator;
use common::*;
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(30);

fn import_job_arn(name: &str) -> String {
    format!(
        "arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/{}",
        id_of(name)
    )
}

fn imported_model_arn(name: &str) -> String {
    format!(
        "arn:aws:bedrock:{REGION}:{ACCOUNT}:imported-model/{}",
        id_of(name)
    )
}

/// An import job with every field set, in `status`.
fn import_job(name: &str, status: &str) -> ImportJobRecord {
    let finished = status != "InProgress";
    ImportJobRecord {
        job_arn: Some(import_job_arn(name)),
        job_name: Some(name.to_owned()),
        imported_model_name: Some(format!("{name}-model")),
        imported_model_arn: (status == "Completed").then(|| imported_model_arn(name)),
        status: Some(status.to_owned()),
        failure_message: (status == "Failed")
            .then(|| "The model configuration config.json is missing.".to_owned()),
        creation_time: Some(1_793_534_400.0),
        last_modified_time: Some(1_793_538_000.5),
        end_time: finished.then_some(1_793_538_000.5),
    }
}

fn put(h: &Harness, job: ImportJobRecord) {
    h.sim.put(Record::ImportJob(job));
}

fn target_listing(names: &[&str]) -> Target {
    let mut target = target(&[], &[]);
    target.lists.insert(
        Kind::ImportJob,
        names.iter().map(|n| n.to_string()).collect(),
    );
    target
}

fn discovering() -> Target {
    Target {
        discover: Discover::from([(Kind::ImportJob, Discovery::default())]),
        ..target(&[], &[])
    }
}

fn labels(name: &str) -> String {
    format!(r#"account_id="{ACCOUNT}",job_name="{name}",region="{REGION}""#)
}

#[tokio::test]
async fn a_configured_import_job_is_read_with_get_and_exported() {
    let arn_listed = import_job_arn("by-arn");
    let mut h = Harness::with_target(
        target_listing(&["running", "done", "broken", "odd", &arn_listed]),
        TIMEOUT,
    )
    .await;
    put(&h, import_job("running", "InProgress"));
    put(&h, import_job("done", "Completed"));
    put(&h, import_job("broken", "Failed"));
    put(&h, import_job("odd", "Paused"));
    put(&h, import_job("by-arn", "Completed"));
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;

    for name in ["running", "done", "broken", "odd"] {
        assert_eq!(h.sim.calls_for(name), 1, "{name} read with Get");
    }
    assert_eq!(h.sim.calls_for(&arn_listed), 1);
    let done = labels("done");
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"bedrock_model_import_job_info{{account_id="{ACCOUNT}",imported_model_arn="{}",imported_model_name="done-model",job_arn="{}",job_name="done",region="{REGION}"}}"#,
                imported_model_arn("done"),
                import_job_arn("done")
            )
        ),
        Some(1.0),
        "{text}"
    );
    for (status, value) in [("Completed", 1.0), ("Failed", 0.0), ("InProgress", 0.0)] {
        let series = format!(r#"bedrock_model_import_job_status{{{done},status="{status}"}}"#);
        assert_eq!(sample(&text, &series), Some(value), "{series}");
    }
    // A status the exporter does not know is its own value of the state set.
    let odd = series(&text, "bedrock_model_import_job_status")
        .into_iter()
        .filter(|l| label(l, "job_name") == Some("odd"))
        .collect::<Vec<_>>();
    assert_eq!(odd.len(), 4, "{odd:?}");
    assert!(odd
        .iter()
        .any(|l| label(l, "status") == Some("Paused") && l.ends_with(" 1")));
    for (family, value) in [
        ("creation_timestamp_seconds", 1_793_534_400.0),
        ("end_timestamp_seconds", 1_793_538_000.5),
        ("last_modified_timestamp_seconds", 1_793_538_000.5),
    ] {
        let series = format!("bedrock_model_import_job_{family}{{{done}}}");
        assert_eq!(sample(&text, &series), Some(value), "{series}");
    }
    // Running: no end time, and no imported model yet.
    let running = labels("running");
    assert_eq!(
        sample(
            &text,
            &format!("bedrock_model_import_job_end_timestamp_seconds{{{running}}}")
        ),
        None
    );
    // Failure info only for the failed one, its first line.
    let failures = series(&text, "bedrock_model_import_job_failure_info");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(label(failures[0], "job_name"), Some("broken"));
    assert_eq!(
        label(failures[0], "message"),
        Some("The model configuration config.json is missing.")
    );
    // The one configured by ARN is named by its job name on its series, by the ARN on target_up.
    assert!(series(&text, "bedrock_model_import_job_info")
        .iter()
        .any(|l| label(l, "job_name") == Some("by-arn")));
    assert!(series(&text, "bedrock_exporter_target_up")
        .iter()
        .any(|l| label(l, "kind") == Some("import_job")
            && label(l, "identifier") == Some(arn_listed.as_str())
            && l.ends_with(" 1")));
    h.stop().await;
}

#[tokio::test]
async fn discovered_import_jobs_are_read_with_get_only_when_failed() {
    let sim = Simulator::new();
    for (name, status) in [
        ("running", "InProgress"),
        ("done", "Completed"),
        ("broken", "Failed"),
    ] {
        sim.put(Record::ImportJob(import_job(name, status)));
    }
    let since = Instant::now();
    let text = metrics_after_one_cycle(&sim, &discovering()).await;

    assert_eq!(
        sim.calls_of(Operation::Get(Kind::ImportJob), since),
        1,
        "only the failed one lacks something"
    );
    assert_eq!(sim.calls_for(&import_job_arn("broken")), 1);
    for name in ["running", "done", "broken"] {
        assert!(
            series(&text, "bedrock_model_import_job_status")
                .iter()
                .any(|l| label(l, "job_name") == Some(name)
                    && label(l, "status") == Some("InProgress")),
            "{name}: {text}"
        );
    }
    let failures = series(&text, "bedrock_model_import_job_failure_info");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        label(failures[0], "message"),
        Some("The model configuration config.json is missing.")
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"bedrock_exporter_discovered_resources{{account_id="{ACCOUNT}",kind="import_job",region="{REGION}"}}"#
            )
        ),
        Some(3.0)
    );
}

#[tokio::test]
async fn discovery_pages_through_every_import_job() {
    let sim = Simulator::new();
    for i in 0..1_234 {
        sim.put(Record::ImportJob(import_job(
            &format!("import-{i:04}"),
            "Completed",
        )));
    }
    let since = Instant::now();
    let text = metrics_after_one_cycle(&sim, &discovering()).await;
    assert_eq!(sim.calls_of(Operation::List(Kind::ImportJob), since), 2);
    assert_eq!(sim.calls_of(Operation::Get(Kind::ImportJob), since), 0);
    assert_eq!(series(&text, "bedrock_model_import_job_info").len(), 1_234);
    let pages: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.operation == Operation::List(Kind::ImportJob))
        .collect();
    assert!(pages[0]
        .query
        .contains(&("maxResults".to_owned(), "1000".to_owned())));
    assert!(pages[1]
        .query
        .contains(&("nextToken".to_owned(), "page-1000".to_owned())));
}
