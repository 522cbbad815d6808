//! The `evaluation_job` and `batch_inference_job` kinds end to end: the real SDK against the
//! simulator over HTTP, a poller and the server; what `/metrics` shows for a configured and a
//! discovered job, and what each costs in API calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bedrock_exporter::bedrock::kinds::batch_inference_job::RecordCounts;
use bedrock_exporter::bedrock::kinds::{BatchInferenceJobRecord, EvaluationJobRecord};
use bedrock_exporter::bedrock::{BedrockSource, Kind, ListQuery, Operation, Record};
use bedrock_exporter::config::{Discover, Discovery, Target};
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::simulator::Simulator;
use common::*;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(30);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .floor()
}

fn evaluation_arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:evaluation-job/{id}")
}

fn batch_arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{id}")
}

/// A running automated evaluation job with every field set, created `age` seconds ago.
fn evaluation(name: &str, age: f64) -> EvaluationJobRecord {
    let created = now() - age;
    EvaluationJobRecord {
        job_arn: Some(evaluation_arn(&id_of(name))),
        job_name: Some(name.to_owned()),
        status: Some("InProgress".to_owned()),
        job_type: Some("Automated".to_owned()),
        application_type: Some("ModelEvaluation".to_owned()),
        creation_time: Some(created),
        last_modified_time: Some(created + 60.5),
        failure_message: None,
    }
}

/// A running batch inference job with every field set, submitted `age` seconds ago.
fn batch(name: &str, age: f64) -> BatchInferenceJobRecord {
    let submitted = now() - age;
    BatchInferenceJobRecord {
        job_arn: Some(batch_arn(&id_of(name))),
        job_name: Some(name.to_owned()),
        model_id: Some("anthropic.claude-3-haiku-20240307-v1:0".to_owned()),
        status: Some("InProgress".to_owned()),
        message: None,
        invocation_type: Some("Converse".to_owned()),
        submit_time: Some(submitted),
        last_modified_time: Some(submitted + 120.0),
        end_time: None,
        expiration_time: Some(submitted + 72.0 * 3600.0),
        timeout_hours: Some(72),
        records: RecordCounts {
            total: Some(1000),
            processed: Some(400),
            success: Some(390),
            error: Some(10),
        },
    }
}

/// A target listing `ids` of `kind`.
fn listing(kind: Kind, ids: &[&str]) -> Target {
    Target {
        lists: BTreeMap::from([(kind, ids.iter().map(|s| s.to_string()).collect())]),
        ..target(&[], &[])
    }
}

/// A target discovering `kind`, everything created within `within`.
fn discovering(kind: Kind, within: Duration) -> Target {
    Target {
        discover: Discover::from([(
            kind,
            Discovery {
                created_within: Some(within),
                ..Discovery::default()
            },
        )]),
        ..target(&[], &[])
    }
}

fn labels(name_label: &str, name: &str, extra: &[(&str, &str)]) -> String {
    let mut all = vec![
        ("account_id", ACCOUNT),
        (name_label, name),
        ("region", REGION),
    ];
    all.extend_from_slice(extra);
    all.sort();
    let inner: Vec<String> = all.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// The value of `family{job_name=name, extra...}`.
fn value(text: &str, family: &str, name: &str, extra: &[(&str, &str)]) -> Option<f64> {
    sample(
        text,
        &format!("{family}{}", labels("job_name", name, extra)),
    )
}

/// Every page of a listing through the SDK.
async fn all_pages(source: &impl BedrockSource, query: &ListQuery) -> Vec<Vec<Record>> {
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = deadline("a List page", source.list_page(query, token))
            .await
            .unwrap();
        pages.push(page.records);
        match page.next_token {
            Some(next) => token = Some(next),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn a_configured_evaluation_job_is_read_by_arn_with_every_family() {
    let running = evaluation("nightly-accuracy", 3_600.0);
    let mut failed = evaluation("kb-faithfulness", 7_200.0);
    failed.status = Some("Failed".to_owned());
    failed.application_type = Some("RagEvaluation".to_owned());
    failed.failure_message =
        Some("The dataset has 3 records without a prompt; 14 of 200 prompts failed".to_owned());
    let mut unknown = evaluation("human-review", 600.0);
    unknown.status = Some("Archiving".to_owned());
    unknown.job_type = Some("Human".to_owned());
    let arns: Vec<String> = [&running, &failed, &unknown]
        .iter()
        .map(|j| j.job_arn.clone().unwrap())
        .collect();
    let ids: Vec<&str> = arns.iter().map(String::as_str).collect();
    let mut h = Harness::with_target(listing(Kind::EvaluationJob, &ids), TIMEOUT).await;
    for job in [&running, &failed, &unknown] {
        h.sim.put(job.clone());
    }
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;

    for arn in &arns {
        assert_eq!(h.sim.calls_for(arn), 1, "{arn} read once with Get");
    }
    let family = |f: &str| format!("bedrock_evaluation_job_{f}");
    let name = "nightly-accuracy";
    let arn = running.job_arn.as_deref().unwrap();
    assert_eq!(
        value(
            &text,
            &family("info"),
            name,
            &[
                ("application_type", "ModelEvaluation"),
                ("job_arn", arn),
                ("job_type", "Automated")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    for status in [
        "InProgress",
        "Completed",
        "Failed",
        "Stopping",
        "Stopped",
        "Deleting",
    ] {
        let on = if status == "InProgress" { 1.0 } else { 0.0 };
        assert_eq!(
            value(&text, &family("status"), name, &[("status", status)]),
            Some(on),
            "{status}"
        );
    }
    assert_eq!(
        value(&text, &family("creation_timestamp_seconds"), name, &[]),
        running.creation_time
    );
    assert_eq!(
        value(&text, &family("last_modified_timestamp_seconds"), name, &[]),
        running.last_modified_time
    );
    assert_eq!(
        series(&text, &family("failure_info")).len(),
        1,
        "only the failed job"
    );
    // Every failure message, joined.
    assert_eq!(
        value(
            &text,
            &family("failure_info"),
            "kb-faithfulness",
            &[(
                "message",
                "The dataset has 3 records without a prompt; 14 of 200 prompts failed"
            )]
        ),
        Some(1.0),
        "{text}"
    );
    // A status the exporter does not know is its own series.
    assert_eq!(
        value(
            &text,
            &family("status"),
            "human-review",
            &[("status", "Archiving")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &family("status"),
            "human-review",
            &[("status", "InProgress")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &format!("bedrock_exporter_target_up{{account_id=\"{ACCOUNT}\",identifier=\"{arn}\",kind=\"evaluation_job\",region=\"{REGION}\"}}")),
        Some(1.0)
    );
    h.stop().await;
}

#[tokio::test]
async fn a_discovered_evaluation_job_is_read_and_shows_its_failure_messages() {
    let mut h = Harness::with_target(
        discovering(Kind::EvaluationJob, Duration::from_secs(86_400)),
        TIMEOUT,
    )
    .await;
    let mut done = evaluation("weekly-robustness", 3_600.0);
    done.status = Some("Completed".to_owned());
    let running = evaluation("nightly-accuracy", 600.0);
    let old = evaluation("last-month", 30.0 * 86_400.0);
    let mut old_done = old.clone();
    old_done.status = Some("Completed".to_owned());
    for job in [&done, &running, &old_done] {
        h.sim.put(job.clone());
    }
    let since = Instant::now();
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;
    let get = Operation::Get(Kind::EvaluationJob);
    assert_eq!(
        h.sim.calls_of(get, since),
        2,
        "each one found is read: its summary lacks the failure messages"
    );
    assert!(value(
        &text,
        "bedrock_evaluation_job_last_modified_timestamp_seconds",
        "weekly-robustness",
        &[]
    )
    .is_some());
    assert!(series(&text, "bedrock_evaluation_job_info")
        .iter()
        .all(|l| !l.contains("last-month")));
    // Every List call filters by creation time; the running ones of any age by status.
    let queries: Vec<_> = h
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.operation == Operation::List(Kind::EvaluationJob))
        .map(|c| c.query)
        .collect();
    assert!(queries
        .iter()
        .any(|q| q.iter().any(|(n, _)| n == "creationTimeAfter")));
    for status in ["InProgress", "Stopping", "Deleting"] {
        assert!(
            queries
                .iter()
                .any(|q| q.contains(&("statusEquals".to_owned(), status.to_owned()))),
            "{status}"
        );
    }

    // Its status changes: the read brings the failure messages.
    let since = Instant::now();
    let mut failed = running.clone();
    failed.status = Some("Failed".to_owned());
    // The boundary makes the control characters of a message spaces.
    failed.failure_message = Some("Out of quota\nsecond line".to_owned());
    h.sim.put(failed);
    assert!(h.poller.poll_all().await);
    assert!(h.sim.calls_of(get, since) >= 1);
    let text = h.scrape().await;
    assert_eq!(
        value(
            &text,
            "bedrock_evaluation_job_failure_info",
            "nightly-accuracy",
            &[("message", "Out of quota second line")]
        ),
        Some(1.0),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_configured_batch_inference_job_is_read_by_job_id_or_arn_with_every_family() {
    let running = batch("catalog-descriptions", 600.0);
    let mut failed = batch("product-tags", 3_600.0);
    failed.status = Some("Failed".to_owned());
    failed.message =
        Some("Record 1601 is larger than 1 MB.\nNo further records were processed.".to_owned());
    failed.end_time = Some(now() - 60.0);
    let mut unknown = batch("embeddings", 60.0);
    unknown.status = Some("Paused".to_owned());
    let job_id = id_of("catalog-descriptions");
    let failed_arn = failed.job_arn.clone().unwrap();
    let unknown_arn = unknown.job_arn.clone().unwrap();
    let mut h = Harness::with_target(
        listing(
            Kind::BatchInferenceJob,
            &[&job_id, &failed_arn, &unknown_arn],
        ),
        TIMEOUT,
    )
    .await;
    for job in [&running, &failed, &unknown] {
        h.sim.put(job.clone());
    }
    let ok = h.poller.poll_all().await;
    let text = h.scrape().await;
    assert!(ok, "{:?}\n{text}", h.sim.calls());

    assert_eq!(h.sim.calls_for(&job_id), 1, "read with Get by its job id");
    assert_eq!(h.sim.calls_for(&failed_arn), 1, "read with Get by its ARN");
    let family = |f: &str| format!("bedrock_batch_inference_job_{f}");
    let name = "catalog-descriptions";
    let arn = running.job_arn.as_deref().unwrap();
    assert_eq!(
        value(
            &text,
            &family("info"),
            name,
            &[
                ("invocation_type", "Converse"),
                ("job_arn", arn),
                ("model_id", "anthropic.claude-3-haiku-20240307-v1:0")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    for status in [
        "Submitted",
        "Validating",
        "Scheduled",
        "InProgress",
        "Completed",
        "PartiallyCompleted",
        "Failed",
        "Stopping",
        "Stopped",
        "Expired",
    ] {
        let on = if status == "InProgress" { 1.0 } else { 0.0 };
        assert_eq!(
            value(&text, &family("status"), name, &[("status", status)]),
            Some(on),
            "{status}"
        );
    }
    for (state, count) in [
        ("total", 1000.0),
        ("processed", 400.0),
        ("success", 390.0),
        ("error", 10.0),
    ] {
        assert_eq!(
            value(&text, &family("records"), name, &[("state", state)]),
            Some(count),
            "{state}"
        );
    }
    assert_eq!(
        value(&text, &family("submit_timestamp_seconds"), name, &[]),
        running.submit_time
    );
    assert_eq!(
        value(&text, &family("last_modified_timestamp_seconds"), name, &[]),
        running.last_modified_time
    );
    assert_eq!(
        value(&text, &family("expiration_timestamp_seconds"), name, &[]),
        running.expiration_time
    );
    assert_eq!(
        value(&text, &family("timeout_seconds"), name, &[]),
        Some(72.0 * 3600.0)
    );
    assert_eq!(
        value(&text, &family("end_timestamp_seconds"), name, &[]),
        None,
        "absent while it runs"
    );
    assert_eq!(
        value(&text, &family("end_timestamp_seconds"), "product-tags", &[]),
        failed.end_time
    );
    assert_eq!(
        series(&text, &family("failure_info")).len(),
        1,
        "only the failed job"
    );
    assert_eq!(
        value(
            &text,
            &family("failure_info"),
            "product-tags",
            &[(
                "message",
                "Record 1601 is larger than 1 MB. No further records were processed."
            )]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &family("status"),
            "embeddings",
            &[("status", "Paused")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &family("status"),
            "embeddings",
            &[("status", "InProgress")]
        ),
        Some(0.0)
    );
    // A configured job keeps its configured identifier.
    assert_eq!(
        sample(&text, &format!("bedrock_exporter_target_up{{account_id=\"{ACCOUNT}\",identifier=\"{job_id}\",kind=\"batch_inference_job\",region=\"{REGION}\"}}")),
        Some(1.0),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_discovered_batch_inference_job_is_listed_by_submit_time() {
    let mut h = Harness::with_target(
        discovering(Kind::BatchInferenceJob, Duration::from_secs(86_400)),
        TIMEOUT,
    )
    .await;
    let recent = batch("ticket-triage", 3_600.0);
    let mut old_running = batch("long-backfill", 5.0 * 86_400.0);
    old_running.status = Some("Scheduled".to_owned());
    let mut old_done = batch("last-week", 7.0 * 86_400.0);
    old_done.status = Some("Completed".to_owned());
    for job in [&recent, &old_running, &old_done] {
        h.sim.put(job.clone());
    }
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;
    assert_eq!(
        value(
            &text,
            "bedrock_batch_inference_job_records",
            "ticket-triage",
            &[("state", "processed")]
        ),
        Some(400.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "bedrock_batch_inference_job_status",
            "long-backfill",
            &[("status", "Scheduled")]
        ),
        Some(1.0),
        "running, whatever its age"
    );
    assert!(
        series(&text, "bedrock_batch_inference_job_info")
            .iter()
            .all(|l| !l.contains("last-week")),
        "{text}"
    );
    let queries: Vec<_> = h
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.operation == Operation::List(Kind::BatchInferenceJob))
        .map(|c| c.query)
        .collect();
    assert!(
        queries
            .iter()
            .any(|q| q.iter().any(|(n, _)| n == "submitTimeAfter")),
        "{queries:?}"
    );
    assert!(
        queries
            .iter()
            .all(|q| q.iter().all(|(n, _)| !n.starts_with("creationTime"))),
        "{queries:?}"
    );

    // Progress shows.
    let mut later = recent.clone();
    later.records.processed = Some(1000);
    later.status = Some("Completed".to_owned());
    later.last_modified_time = later.last_modified_time.map(|t| t + 600.0);
    later.end_time = Some(now());
    h.sim.put(later);
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;
    assert_eq!(
        value(
            &text,
            "bedrock_batch_inference_job_records",
            "ticket-triage",
            &[("state", "processed")]
        ),
        Some(1000.0)
    );
    assert_eq!(
        value(
            &text,
            "bedrock_batch_inference_job_status",
            "ticket-triage",
            &[("status", "Completed")]
        ),
        Some(1.0)
    );
    h.stop().await;
}

#[tokio::test]
async fn listings_page_through_every_job_of_both_kinds() {
    let sim = Simulator::new();
    let running = sim.spawn().await.unwrap();
    for i in 0..1_234 {
        sim.put(evaluation(&format!("eval-{i:04}"), f64::from(i)));
        sim.put(batch(&format!("batch-{i:04}"), f64::from(i)));
    }
    let source = aws_source(&running.endpoint_url(), TIMEOUT).await;
    for kind in [Kind::EvaluationJob, Kind::BatchInferenceJob] {
        let pages = all_pages(&source, &ListQuery::all(kind)).await;
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1000, 234], "{kind:?}");
        let names: std::collections::BTreeSet<_> = pages
            .iter()
            .flatten()
            .map(|r| r.name().unwrap().to_owned())
            .collect();
        assert_eq!(names.len(), 1_234, "{kind:?}: every job once");
    }
    // Newest first: the submit time orders batch jobs.
    let first = source
        .list_page(&ListQuery::all(Kind::BatchInferenceJob), None)
        .await
        .unwrap();
    assert_eq!(first.records[0].name(), Some("batch-0000"));
    deadline("the simulator to shut down", running.shutdown()).await;
}

/// The Get calls of `kind` after each of four poll cycles of a poller discovering `kind` in
/// `sim` (in process, on paused time: the economy is the poller's, the SDK mapping is tested
/// above), with `between(cycle)` run after each cycle.
async fn gets_per_cycle(sim: &Simulator, kind: Kind, between: impl Fn(u64)) -> Vec<usize> {
    let schedule = Schedule {
        interval: Duration::from_secs(60),
        terminal_interval: Duration::from_secs(600),
        concurrency: 4,
        request_timeout: Duration::from_secs(10),
    };
    let poller = Poller::new(
        vec![PolledTarget::new(
            sim.clone(),
            REGION,
            &discovering(kind, Duration::from_secs(86_400)),
        )],
        schedule,
        &[],
        Telemetry::new().unwrap(),
    );
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let task = tokio::spawn(poller.run(shutdown.clone()));
    let mut gets = Vec::new();
    let mut before = 0;
    for cycle in 1..=4 {
        deadline(
            format!("cycle {cycle}"),
            snapshots.wait_for(|s| s.cycles >= cycle),
        )
        .await
        .unwrap();
        let total = sim.calls_of(Operation::Get(kind), start);
        gets.push(total - before);
        before = total;
        between(cycle);
    }
    shutdown.cancel();
    deadline("the poller to stop", task).await.unwrap();
    gets
}

#[tokio::test(start_paused = true)]
async fn discovered_evaluation_jobs_are_read_when_new_running_or_changed() {
    let sim = Simulator::new();
    let mut done = evaluation("weekly-robustness", 3_600.0);
    done.status = Some("Completed".to_owned());
    let running = evaluation("nightly-accuracy", 600.0);
    sim.put(done.clone());
    sim.put(running.clone());
    let gets = gets_per_cycle(&sim, Kind::EvaluationJob, |cycle| {
        if cycle == 2 {
            let mut failed = done.clone();
            failed.status = Some("Failed".to_owned());
            sim.put(failed);
        }
    })
    .await;
    // Both when new; then the running one each interval; the finished one again only when its
    // listed status changed (a summary has no modification time to compare).
    assert_eq!(gets, [2, 1, 2, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_discovered_batch_inference_job_is_never_read_with_get() {
    let sim = Simulator::new();
    let mut done = batch("ticket-triage", 3_600.0);
    done.status = Some("Completed".to_owned());
    let running = batch("catalog-descriptions", 600.0);
    sim.put(done);
    sim.put(running.clone());
    let gets = gets_per_cycle(&sim, Kind::BatchInferenceJob, |cycle| {
        let mut later = running.clone();
        later.records.processed = Some(400 + 100 * cycle as i64);
        later.last_modified_time = later.last_modified_time.map(|t| t + cycle as f64);
        sim.put(later);
    })
    .await;
    assert_eq!(gets, [0, 0, 0, 0], "its summary carries everything");
    assert!(
        sim.calls_of(
            Operation::List(Kind::BatchInferenceJob),
            Instant::now() - Duration::from_secs(3_600)
        ) >= 4
    );
}
