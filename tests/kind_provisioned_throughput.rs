//! Provisioned throughputs (`provisioned_throughput`) through the real SDK against the
//! simulator: a configured one read with Get (whose path is not the List path and the
//! identifier), discovery from summaries alone (no Get unless one is Failed, for its message),
//! every page of a listing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bedrock_exporter::bedrock::kinds::ProvisionedThroughputRecord;
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
const P: &str = "bedrock_provisioned_throughput_";

fn pt_arn(name: &str) -> String {
    format!(
        "arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/{}",
        id_of(name)
    )
}

/// An InService provisioned throughput of a custom model with a one-month commitment.
fn throughput(name: &str) -> ProvisionedThroughputRecord {
    ProvisionedThroughputRecord {
        provisioned_model_arn: Some(pt_arn(name)),
        provisioned_model_name: Some(name.to_owned()),
        model_arn: Some(model_arn("abcdefabcdef")),
        desired_model_arn: Some(model_arn("bcdefabcdefa")),
        foundation_model_arn: Some(base_model_arn()),
        model_units: Some(2),
        desired_model_units: Some(3),
        status: Some("InService".to_owned()),
        commitment_duration: Some("OneMonth".to_owned()),
        commitment_expiration_time: Some(1_796_126_400.0),
        creation_time: Some(1_793_534_400.0),
        last_modified_time: Some(1_793_538_000.5),
        failure_message: None,
    }
}

fn failed(name: &str, message: &str) -> ProvisionedThroughputRecord {
    ProvisionedThroughputRecord {
        status: Some("Failed".to_owned()),
        failure_message: Some(message.to_owned()),
        ..throughput(name)
    }
}

/// The labels of `name`'s series, with `extra` ones, as the encoder writes them.
fn labels(name: &str, extra: &[(&str, &str)]) -> String {
    let mut all = vec![
        ("account_id", ACCOUNT.to_owned()),
        ("provisioned_model_name", name.to_owned()),
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
        lists: [(Kind::ProvisionedThroughput, lists)]
            .into_iter()
            .filter(|(_, l)| !l.is_empty())
            .collect(),
        discover: Discover(
            discover
                .map(|d| (Kind::ProvisionedThroughput, d))
                .into_iter()
                .collect(),
        ),
        ..target(&[], &[])
    }
}

fn schedule() -> Schedule {
    Schedule {
        interval: Duration::from_secs(60),
        terminal_interval: Duration::from_secs(600),
        concurrency: 4,
        request_timeout: TIMEOUT,
    }
}

/// Every family of one InService throughput, from a Get or from a summary alike.
fn assert_every_family(text: &str, name: &str) {
    let info = [
        ("commitment_duration", "OneMonth".to_owned()),
        ("desired_model_arn", model_arn("bcdefabcdefa")),
        ("foundation_model_arn", base_model_arn()),
        ("model_arn", model_arn("abcdefabcdef")),
        ("provisioned_model_arn", pt_arn(name)),
    ];
    let info: Vec<(&str, &str)> = info.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(value(text, "info", name, &info), Some(1.0), "{text}");
    for (status, on) in [
        ("Creating", 0.0),
        ("Failed", 0.0),
        ("InService", 1.0),
        ("Updating", 0.0),
    ] {
        assert_eq!(
            value(text, "status", name, &[("status", status)]),
            Some(on),
            "{status}"
        );
    }
    assert_eq!(value(text, "model_units", name, &[]), Some(2.0));
    assert_eq!(value(text, "desired_model_units", name, &[]), Some(3.0));
    assert_eq!(
        value(text, "commitment_expiration_timestamp_seconds", name, &[]),
        Some(1_796_126_400.0)
    );
    assert_eq!(
        value(text, "creation_timestamp_seconds", name, &[]),
        Some(1_793_534_400.0)
    );
    assert_eq!(
        value(text, "last_modified_timestamp_seconds", name, &[]),
        Some(1_793_538_000.5)
    );
}

#[tokio::test]
async fn a_configured_throughput_is_read_with_get_and_exports_every_family() {
    let mut h = Harness::with_target(
        target_with(
            vec![
                "support-bot-pt".to_owned(),
                pt_arn("odd"),
                "no-capacity".to_owned(),
            ],
            None,
        ),
        TIMEOUT,
    )
    .await;
    h.sim.put(throughput("support-bot-pt"));
    let mut odd = throughput("odd");
    odd.status = Some("Deprovisioning".to_owned());
    odd.commitment_duration = None;
    odd.commitment_expiration_time = None;
    h.sim.put(odd);
    h.sim.put(failed(
        "no-capacity",
        "Insufficient capacity for 4 model units.\nRetry later.",
    ));
    let since = Instant::now();
    assert!(h.poller.poll_all().await);
    assert_eq!(
        h.sim
            .calls_of(Operation::Get(Kind::ProvisionedThroughput), since),
        3
    );
    assert_eq!(h.sim.calls_for(&pt_arn("odd")), 1, "read by its ARN");
    let text = h.scrape().await;

    assert_every_family(&text, "support-bot-pt");
    // An unknown status is its own value of the state set; no commitment, no expiry and an
    // empty `commitment_duration`.
    let statuses: BTreeSet<(&str, &str)> = series(&text, &format!("{P}status"))
        .into_iter()
        .filter(|l| label(l, "provisioned_model_name") == Some("odd"))
        .map(|l| (label(l, "status").unwrap(), l.rsplit(' ').next().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from([
            ("Creating", "0"),
            ("Deprovisioning", "1"),
            ("Failed", "0"),
            ("InService", "0"),
            ("Updating", "0"),
        ])
    );
    assert_eq!(
        value(&text, "commitment_expiration_timestamp_seconds", "odd", &[]),
        None
    );
    let odd_info: Vec<&str> = series(&text, &format!("{P}info"))
        .into_iter()
        .filter(|l| label(l, "provisioned_model_name") == Some("odd"))
        .collect();
    assert_eq!(label(odd_info[0], "commitment_duration"), Some(""));

    let failure = series(&text, &format!("{P}failure_info"));
    assert_eq!(failure.len(), 1, "only the failed one: {failure:?}");
    assert_eq!(
        label(failure[0], "provisioned_model_name"),
        Some("no-capacity")
    );
    assert_eq!(
        label(failure[0], "message"),
        Some("Insufficient capacity for 4 model units. Retry later.")
    );

    for id in ["support-bot-pt".to_owned(), pt_arn("odd")] {
        let up = format!(
            "bedrock_exporter_target_up{{account_id=\"{ACCOUNT}\",identifier=\"{id}\",kind=\"provisioned_throughput\",region=\"{REGION}\"}}"
        );
        assert_eq!(sample(&text, &up), Some(1.0), "{up}\n{text}");
    }
    h.stop().await;
}

/// A discovery cycle through the SDK: every throughput is exported from its summary, and the
/// only Get is the failed one's, for its message.
#[tokio::test]
async fn discovered_throughputs_cost_no_get_unless_failed() {
    let sim = Simulator::new();
    sim.put(throughput("support-bot-pt"));
    let mut creating = throughput("creating-pt");
    creating.status = Some("Creating".to_owned());
    sim.put(creating);
    sim.put(failed("no-capacity", "Insufficient capacity."));
    let server = sim.spawn().await.unwrap();
    let source = aws_source(&server.endpoint_url(), TIMEOUT).await;
    let target = target_with(Vec::new(), Some(Discovery::default()));
    let poller = Poller::new(
        vec![PolledTarget::new(source, REGION, &target)],
        schedule(),
        &[],
        Telemetry::new().unwrap(),
    );
    let snapshots = poller.subscribe();
    let since = Instant::now();
    run_cycles(poller, 1).await;

    assert_eq!(
        sim.calls_of(Operation::List(Kind::ProvisionedThroughput), since),
        1
    );
    assert_eq!(
        sim.calls_of(Operation::Get(Kind::ProvisionedThroughput), since),
        1,
        "{:?}",
        sim.calls()
    );
    assert_eq!(sim.calls_for(&pt_arn("no-capacity")), 1);
    let text = String::from_utf8(snapshots.borrow().text.to_vec()).unwrap();
    assert_every_family(&text, "support-bot-pt");
    assert_eq!(
        value(&text, "status", "creating-pt", &[("status", "Creating")]),
        Some(1.0)
    );
    let failure = series(&text, &format!("{P}failure_info"));
    assert_eq!(failure.len(), 1, "{failure:?}");
    assert_eq!(label(failure[0], "message"), Some("Insufficient capacity."));
    for name in ["support-bot-pt", "creating-pt", "no-capacity"] {
        let up = format!(
            "bedrock_exporter_target_up{{account_id=\"{ACCOUNT}\",identifier=\"{name}\",kind=\"provisioned_throughput\",region=\"{REGION}\"}}"
        );
        assert_eq!(sample(&text, &up), Some(1.0), "{up}\n{text}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_listing_pages_through_every_throughput() {
    let sim = Simulator::new();
    let names: BTreeSet<String> = (0..1_001).map(|i| format!("pt-{i:04}")).collect();
    for name in &names {
        sim.put(failed(name, "kept out of summaries"));
    }
    let server = sim.spawn().await.unwrap();
    let source = aws_source(&server.endpoint_url(), TIMEOUT).await;
    let query = ListQuery::all(Kind::ProvisionedThroughput);
    let mut listed = BTreeSet::new();
    let mut sizes = Vec::new();
    let mut token = None;
    loop {
        let page = source.list_page(&query, token).await.unwrap();
        sizes.push(page.records.len());
        let first = &page.records[0];
        let put = Record::ProvisionedThroughput(failed(first.name().unwrap(), ""));
        assert_eq!(
            *first,
            put.summary(),
            "a summary: all but the failure message"
        );
        listed.extend(page.records.iter().map(|r| r.name().unwrap().to_owned()));
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [1000, 1]);
    assert_eq!(listed, names, "every throughput once");
    for call in sim.calls() {
        assert_eq!(call.operation, Operation::List(Kind::ProvisionedThroughput));
        assert!(call
            .query
            .contains(&("maxResults".to_owned(), "1000".to_owned())));
    }
    server.shutdown().await;
}

/// The wall clock of the paused-time test: 2026-11-30T00:00:00Z.
/// Interval after interval, discovered throughputs cost their List page and nothing else, even
/// while Creating or Updating; a change their listing shows is taken without a Get; one that
/// turns Failed costs one Get.
#[tokio::test(start_paused = true)]
async fn steady_state_reads_only_a_throughput_that_turns_failed() {
    let sim = Simulator::new();
    sim.put(throughput("steady"));
    let mut updating = throughput("updating");
    updating.status = Some("Updating".to_owned());
    sim.put(updating);
    sim.put(failed("failed-early", "No capacity."));
    let target = target_with(Vec::new(), Some(Discovery::default()));
    let poller = Poller::new(
        vec![PolledTarget::new(sim.clone(), REGION, &target)],
        schedule(),
        &[],
        Telemetry::new().unwrap(),
    )
    .with_clock(fixed_clock);
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let task = tokio::spawn(poller.run(shutdown.clone()));
    let get = Operation::Get(Kind::ProvisionedThroughput);
    let mut gets = Vec::new();
    for cycle in 1..=4 {
        deadline(
            format!("cycle {cycle}"),
            snapshots.wait_for(|s| s.cycles >= cycle),
        )
        .await
        .unwrap();
        gets.push(sim.calls_of(get, start));
    }
    assert_eq!(gets, [1, 1, 1, 1], "one Get, for the failed one");
    assert_eq!(sim.calls_for(&pt_arn("failed-early")), 1);

    // The update ends (no Get: the summary shows it); the steady one fails (one Get).
    let mut done = throughput("updating");
    done.last_modified_time = Some(1_795_990_000.0);
    done.model_units = Some(3);
    sim.put(done);
    let mut broke = failed("steady", "Capacity reclaimed.");
    broke.last_modified_time = Some(1_795_990_000.0);
    sim.put(broke);
    deadline("cycle 6", snapshots.wait_for(|s| s.cycles >= 6))
        .await
        .unwrap();
    assert_eq!(sim.calls_of(get, start), 2);
    assert_eq!(sim.calls_for(&pt_arn("steady")), 1);
    let text = String::from_utf8(snapshots.borrow().text.to_vec()).unwrap();
    assert_eq!(value(&text, "model_units", "updating", &[]), Some(3.0));
    assert_eq!(
        value(&text, "status", "updating", &[("status", "InService")]),
        Some(1.0)
    );
    let failures: BTreeSet<(&str, &str)> = series(&text, &format!("{P}failure_info"))
        .into_iter()
        .map(|l| {
            (
                label(l, "provisioned_model_name").unwrap(),
                label(l, "message").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        BTreeSet::from([
            ("failed-early", "No capacity."),
            ("steady", "Capacity reclaimed.")
        ])
    );
    shutdown.cancel();
    deadline("the poller to stop", task).await.unwrap();
}
