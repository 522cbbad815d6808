//! Custom model deployments (`deployment`) through the real SDK against the simulator: a
//! configured deployment read with Get, discovery (every page, `createdAfter`), the update
//! status only a Get shows, a failure's message, and which deployments are read again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bedrock_exporter::bedrock::kinds::DeploymentRecord;
use bedrock_exporter::bedrock::{BedrockSource, Kind, ListQuery, Operation, Record};
use bedrock_exporter::config::{Discover, Discovery, Target};
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::simulator::Simulator;
use common::kinds::fixed_clock;
use common::*;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(30);
const P: &str = "bedrock_custom_model_deployment_";

fn deployment_arn(name: &str) -> String {
    format!(
        "arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/{}",
        id_of(name)
    )
}

/// An Active deployment of a custom model, every field set but the update.
fn deployment(name: &str) -> DeploymentRecord {
    DeploymentRecord {
        deployment_arn: Some(deployment_arn(name)),
        deployment_name: Some(name.to_owned()),
        model_arn: Some(model_arn("abcdefabcdef")),
        status: Some("Active".to_owned()),
        update_status: None,
        failure_message: None,
        creation_time: Some(1_793_534_400.0),
        last_updated_time: Some(1_793_538_000.5),
    }
}

/// The labels of deployment `name`'s series, with `extra` ones, as the encoder writes them.
fn labels(name: &str, extra: &[(&str, &str)]) -> String {
    let mut all = vec![
        ("account_id", ACCOUNT.to_owned()),
        ("deployment_name", name.to_owned()),
        ("region", REGION.to_owned()),
    ];
    all.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    all.sort();
    let inner: Vec<String> = all.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

fn value(text: &str, family: &str, name: &str, extra: &[(&str, &str)]) -> Option<f64> {
    sample(text, &format!("{P}{family}{}", labels(name, extra)))
}

fn target_with(lists: Vec<String>, discover: Option<Discovery>) -> Target {
    Target {
        lists: [(Kind::Deployment, lists)]
            .into_iter()
            .filter(|(_, l)| !l.is_empty())
            .collect(),
        discover: Discover(
            discover
                .map(|d| (Kind::Deployment, d))
                .into_iter()
                .collect(),
        ),
        ..target(&[], &[])
    }
}

#[tokio::test]
async fn a_configured_deployment_is_read_with_get_and_exports_every_family() {
    let odd = "odd-status";
    let h = Harness::with_target(
        target_with(
            vec!["support-bot-prod".to_owned(), deployment_arn(odd)],
            None,
        ),
        TIMEOUT,
    )
    .await;
    let mut updating = deployment("support-bot-prod");
    updating.update_status = Some("Updating".to_owned());
    h.sim.put(updating);
    let mut unknown = deployment(odd);
    unknown.status = Some("Deleting".to_owned());
    unknown.update_status = Some("UpdateRolledBack".to_owned());
    unknown.last_updated_time = None;
    h.sim.put(unknown);
    let since = Instant::now();
    let mut h = h;
    assert!(h.poller.poll_all().await);
    assert_eq!(h.sim.calls_of(Operation::Get(Kind::Deployment), since), 2);
    assert_eq!(h.sim.calls_for(&deployment_arn(odd)), 1, "read by its ARN");
    let text = h.scrape().await;

    let name = "support-bot-prod";
    let info = [
        ("deployment_arn", deployment_arn(name)),
        ("model_arn", model_arn("abcdefabcdef")),
    ];
    let info: Vec<(&str, &str)> = info.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(value(&text, "info", name, &info), Some(1.0), "{text}");
    for (status, on) in [("Active", 1.0), ("Creating", 0.0), ("Failed", 0.0)] {
        assert_eq!(
            value(&text, "status", name, &[("status", status)]),
            Some(on),
            "{status}"
        );
    }
    for (status, on) in [
        ("Updating", 1.0),
        ("UpdateCompleted", 0.0),
        ("UpdateFailed", 0.0),
    ] {
        assert_eq!(
            value(&text, "update_status", name, &[("status", status)]),
            Some(on),
            "{status}"
        );
    }
    assert_eq!(
        value(&text, "creation_timestamp_seconds", name, &[]),
        Some(1_793_534_400.0)
    );
    assert_eq!(
        value(&text, "last_modified_timestamp_seconds", name, &[]),
        Some(1_793_538_000.5),
        "lastUpdatedAt"
    );
    assert!(
        series(&text, &format!("{P}failure_info")).is_empty(),
        "none failed"
    );

    // An unknown status is its own value of the state set; so is an unknown update status.
    let statuses: BTreeSet<(&str, &str)> = series(&text, &format!("{P}status"))
        .into_iter()
        .filter(|l| label(l, "deployment_name") == Some(odd))
        .map(|l| (label(l, "status").unwrap(), l.rsplit(' ').next().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from([
            ("Active", "0"),
            ("Creating", "0"),
            ("Deleting", "1"),
            ("Failed", "0")
        ])
    );
    assert_eq!(
        value(
            &text,
            "update_status",
            odd,
            &[("status", "UpdateRolledBack")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "last_modified_timestamp_seconds", odd, &[]),
        None
    );

    // Its health, under the configured identifier.
    for id in ["support-bot-prod".to_owned(), deployment_arn(odd)] {
        let up = format!(
            "bedrock_exporter_target_up{{account_id=\"{ACCOUNT}\",identifier=\"{id}\",kind=\"deployment\",region=\"{REGION}\"}}"
        );
        assert_eq!(sample(&text, &up), Some(1.0), "{up}\n{text}");
    }
    h.stop().await;
}

#[tokio::test]
async fn discovered_deployments_are_read_for_their_update_and_a_failure_shows() {
    let discovery = Discovery {
        created_within: Some(Duration::from_secs(3_650 * 86_400)),
        ..Discovery::default()
    };
    let mut h = Harness::with_target(target_with(Vec::new(), Some(discovery)), TIMEOUT).await;
    let mut updated = deployment("updated");
    updated.update_status = Some("UpdateFailed".to_owned());
    h.sim.put(updated);
    let mut broken = deployment("broken");
    broken.status = Some("Failed".to_owned());
    broken.failure_message =
        Some("  Deployment failed: the model could not be loaded.\nRequest id: 42  ".to_owned());
    h.sim.put(broken);
    let mut old = deployment("ancient");
    old.creation_time = Some(1_000_000_000.0);
    h.sim.put(old);
    let since = Instant::now();
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;

    let lists: Vec<_> = h
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.operation == Operation::List(Kind::Deployment))
        .collect();
    assert_eq!(lists.len(), 1);
    let names: BTreeSet<&str> = lists[0].query.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains("createdAfter"), "{names:?}");
    assert!(!names.contains("creationTimeAfter"), "{names:?}");

    let watched: BTreeSet<&str> = series(&text, &format!("{P}info"))
        .into_iter()
        .filter_map(|l| label(l, "deployment_name"))
        .collect();
    assert_eq!(
        watched,
        BTreeSet::from(["broken", "updated"]),
        "the old one is outside the window"
    );
    assert_eq!(
        h.sim.calls_of(Operation::Get(Kind::Deployment), since),
        2,
        "each one found is read, for updateDetails"
    );
    assert_eq!(
        value(
            &text,
            "update_status",
            "updated",
            &[("status", "UpdateFailed")]
        ),
        Some(1.0),
        "only a Get shows it:\n{text}"
    );
    let failure = series(&text, &format!("{P}failure_info"));
    assert_eq!(failure.len(), 1, "{failure:?}");
    assert_eq!(label(failure[0], "deployment_name"), Some("broken"));
    assert_eq!(
        label(failure[0], "message"),
        Some("Deployment failed: the model could not be loaded. Request id: 42"),
        "one line, trimmed"
    );
    let discovered = format!(
        "bedrock_exporter_discovered_resources{{account_id=\"{ACCOUNT}\",kind=\"deployment\",region=\"{REGION}\"}}"
    );
    assert_eq!(sample(&text, &discovered), Some(2.0), "{text}");
    h.stop().await;
}

#[tokio::test]
async fn a_listing_pages_through_every_deployment() {
    let sim = Simulator::new();
    let names: BTreeSet<String> = (0..1_001).map(|i| format!("dep-{i:04}")).collect();
    for name in &names {
        sim.put(deployment(name));
    }
    let server = sim.spawn().await.unwrap();
    let source = aws_source(&server.endpoint_url(), TIMEOUT).await;
    let query = ListQuery::all(Kind::Deployment);
    let mut listed = BTreeSet::new();
    let mut sizes = Vec::new();
    let mut token = None;
    loop {
        let page = source.list_page(&query, token).await.unwrap();
        sizes.push(page.records.len());
        let first = &page.records[0];
        let put = Record::Deployment(deployment(first.name().unwrap()));
        assert_eq!(*first, put.summary(), "a summary: all but the update");
        listed.extend(page.records.iter().map(|r| r.name().unwrap().to_owned()));
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [1000, 1]);
    assert_eq!(listed, names, "every deployment once");
    for call in sim.calls() {
        assert_eq!(call.operation, Operation::List(Kind::Deployment));
        assert!(call
            .query
            .contains(&("maxResults".to_owned(), "1000".to_owned())));
    }
    server.shutdown().await;
}

/// The wall clock of the paused-time test: 2026-11-30T00:00:00Z.
/// A settled, discovered deployment is read once; one whose update is Updating (which only its
/// Get shows) every interval; a settled one again when its listing shows a change.
#[tokio::test(start_paused = true)]
async fn an_updating_deployment_is_read_every_interval_a_settled_one_once() {
    let sim = Simulator::new();
    sim.put(deployment("settled"));
    let mut updating = deployment("updating");
    updating.update_status = Some("Updating".to_owned());
    sim.put(updating);
    let target = target_with(Vec::new(), Some(Discovery::default()));
    let poller = Poller::new(
        vec![PolledTarget::new(sim.clone(), REGION, &target)],
        Schedule {
            interval: Duration::from_secs(60),
            terminal_interval: Duration::from_secs(1_800),
            concurrency: 4,
            request_timeout: Duration::from_secs(10),
        },
        &[],
        Telemetry::new().unwrap(),
    )
    .with_clock(fixed_clock);
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(shutdown.clone()));
    let mut gets = Vec::new();
    for cycle in 1..=4 {
        deadline(
            format!("cycle {cycle}"),
            snapshots.wait_for(|s| s.cycles >= cycle),
        )
        .await
        .unwrap();
        gets.push((
            sim.calls_for(&deployment_arn("settled")),
            sim.calls_for(&deployment_arn("updating")),
        ));
    }
    assert_eq!(gets, [(1, 1), (1, 2), (1, 3), (1, 4)]);

    let mut changed = deployment("settled");
    changed.last_updated_time = Some(1_795_990_000.0);
    sim.put(changed);
    deadline("cycle 6", snapshots.wait_for(|s| s.cycles >= 6))
        .await
        .unwrap();
    assert_eq!(
        sim.calls_for(&deployment_arn("settled")),
        2,
        "its lastUpdatedAt moved"
    );
    shutdown.cancel();
    deadline("the poller to stop", task).await.unwrap();
}
