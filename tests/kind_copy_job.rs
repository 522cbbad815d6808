//! Model copy jobs (`copy_job`) through the real SDK against the simulator: configured ones (by
//! ARN: copy jobs have no name) read with GetModelCopyJob, discovered ones exported from their
//! listing alone (every page), filtered by the target model's name, and never read with Get.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bedrock_exporter::bedrock::kinds::CopyJobRecord;
use bedrock_exporter::bedrock::{Kind, Operation, Record};
use bedrock_exporter::config::{Discover, Discovery, Target};
use bedrock_exporter::simulator::Simulator;
use common::*;
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(30);
const SOURCE_ACCOUNT: &str = "210987654321";

fn copy_job_arn(key: &str) -> String {
    format!(
        "arn:aws:bedrock:{REGION}:{ACCOUNT}:model-copy-job/{}",
        id_of(key)
    )
}

fn source_model_arn(model: &str) -> String {
    format!(
        "arn:aws:bedrock:{REGION}:{SOURCE_ACCOUNT}:custom-model/{BASE}/{}",
        id_of(model)
    )
}

/// A copy job (`key` makes its id) of model `model`, with every field set, in `status`.
fn copy_job(key: &str, model: &str, status: &str) -> CopyJobRecord {
    CopyJobRecord {
        job_arn: Some(copy_job_arn(key)),
        status: Some(status.to_owned()),
        creation_time: Some(1_793_534_400.0),
        target_model_arn: Some(model_arn(&id_of(key))),
        target_model_name: Some(model.to_owned()),
        source_account_id: Some(SOURCE_ACCOUNT.to_owned()),
        source_model_arn: Some(source_model_arn(model)),
        source_model_name: Some(format!("{model}-src")),
        failure_message: (status == "Failed")
            .then(|| "The KMS key of the source model is not shared.".to_owned()),
    }
}

fn discovering(target_model_name_contains: Option<&str>) -> Target {
    let discovery = Discovery {
        name_contains: target_model_name_contains.map(str::to_owned),
        ..Discovery::default()
    };
    Target {
        discover: Discover::from([(Kind::CopyJob, discovery)]),
        ..target(&[], &[])
    }
}

fn status_of<'a>(text: &'a str, job_id: &str) -> Vec<&'a str> {
    series(text, "bedrock_model_copy_job_status")
        .into_iter()
        .filter(|l| label(l, "job_id") == Some(job_id))
        .collect()
}

#[tokio::test]
async fn a_configured_copy_job_is_read_with_get_and_exported() {
    let (done, broken, odd) = (
        copy_job_arn("done"),
        copy_job_arn("broken"),
        copy_job_arn("odd"),
    );
    let mut target = target(&[], &[]);
    target.lists.insert(
        Kind::CopyJob,
        vec![done.clone(), broken.clone(), odd.clone()],
    );
    let mut h = Harness::with_target(target, TIMEOUT).await;
    h.sim.put(Record::CopyJob(copy_job(
        "done",
        "support-bot",
        "Completed",
    )));
    h.sim
        .put(Record::CopyJob(copy_job("broken", "legal", "Failed")));
    h.sim.put(Record::CopyJob(copy_job("odd", "odd", "Queued")));
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;

    for arn in [&done, &broken, &odd] {
        assert_eq!(h.sim.calls_for(arn), 1, "{arn} read with Get, by ARN");
    }
    let id = id_of("done");
    let info = format!(
        r#"bedrock_model_copy_job_info{{account_id="{ACCOUNT}",job_arn="{done}",job_id="{id}",region="{REGION}",source_account_id="{SOURCE_ACCOUNT}",source_model_arn="{}",source_model_name="support-bot-src",target_model_arn="{}",target_model_name="support-bot"}}"#,
        source_model_arn("support-bot"),
        model_arn(&id)
    );
    assert_eq!(sample(&text, &info), Some(1.0), "{text}");
    let ident = format!(r#"account_id="{ACCOUNT}",job_id="{id}",region="{REGION}""#);
    for (status, value) in [("Completed", 1.0), ("Failed", 0.0), ("InProgress", 0.0)] {
        let series = format!(r#"bedrock_model_copy_job_status{{{ident},status="{status}"}}"#);
        assert_eq!(sample(&text, &series), Some(value), "{series}");
    }
    assert_eq!(
        sample(
            &text,
            &format!("bedrock_model_copy_job_creation_timestamp_seconds{{{ident}}}")
        ),
        Some(1_793_534_400.0)
    );
    // A status the exporter does not know is its own value of the state set.
    let odd_status = status_of(&text, &id_of("odd"));
    assert_eq!(odd_status.len(), 4, "{odd_status:?}");
    assert!(odd_status
        .iter()
        .any(|l| label(l, "status") == Some("Queued") && l.ends_with(" 1")));
    let failures = series(&text, "bedrock_model_copy_job_failure_info");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(label(failures[0], "job_id"), Some(id_of("broken").as_str()));
    assert_eq!(
        label(failures[0], "message"),
        Some("The KMS key of the source model is not shared.")
    );
    // target_up names it as configured: by its ARN.
    assert!(series(&text, "bedrock_exporter_target_up")
        .iter()
        .any(|l| label(l, "kind") == Some("copy_job")
            && label(l, "identifier") == Some(done.as_str())
            && l.ends_with(" 1")));
    h.stop().await;
}

#[tokio::test]
async fn discovered_copy_jobs_come_from_their_listing_without_get() {
    let sim = Simulator::new();
    sim.put(Record::CopyJob(copy_job(
        "running",
        "support-bot",
        "InProgress",
    )));
    sim.put(Record::CopyJob(copy_job(
        "done",
        "support-bot-v2",
        "Completed",
    )));
    sim.put(Record::CopyJob(copy_job("broken", "legal", "Failed")));
    let since = Instant::now();
    let text = metrics_after_one_cycle(&sim, &discovering(None)).await;

    assert_eq!(sim.calls_of(Operation::Get(Kind::CopyJob), since), 0);
    for key in ["running", "done", "broken"] {
        let status = status_of(&text, &id_of(key));
        assert_eq!(status.len(), 3, "{key}: {text}");
    }
    // target_up names a discovered copy job by its job_id.
    assert!(series(&text, "bedrock_exporter_target_up")
        .iter()
        .any(|l| label(l, "kind") == Some("copy_job")
            && label(l, "identifier") == Some(id_of("done").as_str())
            && l.ends_with(" 1")));
    // The summary carries the failure message.
    let failures = series(&text, "bedrock_model_copy_job_failure_info");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        label(failures[0], "message"),
        Some("The KMS key of the source model is not shared.")
    );
    assert_eq!(
        series(&text, "bedrock_model_copy_job_info")
            .iter()
            .filter(|l| label(l, "source_account_id") == Some(SOURCE_ACCOUNT))
            .count(),
        3
    );

    // Discovery by target model name: sent as outputModelNameContains, matched on the target.
    let sim = Simulator::new();
    sim.put(Record::CopyJob(copy_job("a", "support-bot", "Completed")));
    sim.put(Record::CopyJob(copy_job("b", "legal", "Completed")));
    let text = metrics_after_one_cycle(&sim, &discovering(Some("support"))).await;
    let ids: Vec<_> = series(&text, "bedrock_model_copy_job_info")
        .iter()
        .filter_map(|l| label(l, "job_id"))
        .collect();
    assert_eq!(ids, [id_of("a")]);
    let listing = sim
        .calls()
        .into_iter()
        .find(|c| c.operation == Operation::List(Kind::CopyJob));
    assert!(listing
        .unwrap()
        .query
        .contains(&("outputModelNameContains".to_owned(), "support".to_owned())));
}

#[tokio::test]
async fn discovery_pages_through_every_copy_job() {
    let sim = Simulator::new();
    for i in 0..1_100 {
        let key = format!("copy-{i:04}");
        sim.put(Record::CopyJob(copy_job(&key, "support-bot", "Completed")));
    }
    let since = Instant::now();
    let text = metrics_after_one_cycle(&sim, &discovering(None)).await;
    assert_eq!(sim.calls_of(Operation::List(Kind::CopyJob), since), 2);
    assert_eq!(sim.calls_of(Operation::Get(Kind::CopyJob), since), 0);
    assert_eq!(series(&text, "bedrock_model_copy_job_info").len(), 1_100);
}
