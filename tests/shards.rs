//! Replicas that split the work (`--total-shards`, `--shard`, `--shard.by`): through the real SDK
//! against the simulator, N shards export together exactly what one unsharded replica exports,
//! and no series twice, by target and by resource; a shard with no target still serves and is
//! ready.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bedrock_exporter::app;
use bedrock_exporter::bedrock::Kind;
use bedrock_exporter::config::{Config, Discover, Discovery, Target};
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::shard::{By, Shard};
use bedrock_exporter::simulator::Simulator;
use common::*;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(30);
const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-south-1",
    "ap-northeast-1",
    "sa-east-1",
];

/// Eight static targets without a role (sharded by their position), each in its own region
/// and listing its own jobs, all served by `endpoint`.
fn config(endpoint: &str) -> Config {
    let targets = REGIONS
        .iter()
        .enumerate()
        .map(|(i, region)| Target {
            region: Some((*region).to_owned()),
            endpoint_url: Some(endpoint.to_owned()),
            lists: [(Kind::Job, vec![format!("job-{i}-a"), format!("job-{i}-b")])].into(),
            ..Target::default()
        })
        .collect();
    Config {
        targets,
        ..Config::default()
    }
}

/// The series one replica with `shard` exports after one poll of every target.
async fn exported(config: &Config, shard: &Shard) -> BTreeSet<String> {
    let telemetry = Telemetry::new().unwrap();
    let targets = app::targets(
        config,
        &sdk_config(),
        &settings(TIMEOUT),
        &HashMap::new(),
        shard,
    )
    .await
    .unwrap();
    let targets = targets
        .into_iter()
        .map(|t| PolledTarget::new(t.source, &t.region, &t.config))
        .collect();
    let mut poller = Poller::new(targets, app::schedule(config), &[], telemetry).with_shard(*shard);
    assert!(poller.poll_all().await, "{shard}");
    let text = String::from_utf8(poller.snapshot().text.to_vec()).unwrap();
    // Series, not values: the last-success times differ from run to run. The discovery's own
    // series are of the target, which every shard by resource lists: own metrics, left aside.
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| !l.starts_with("bedrock_exporter_discover"))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(series, _)| series.to_owned())
        .collect()
}

/// Splits `config` over 2, 3 and 5 shards by `by`: their union is `whole`, no series is in two
/// shards. Returns, for each split, how many shards exported nothing.
async fn split(config: &Config, by: By, whole: &BTreeSet<String>) -> Vec<usize> {
    let mut empties = Vec::new();
    for total in [2, 3, 5] {
        let mut union = BTreeSet::new();
        let mut empty = 0;
        for index in 0..total {
            let shard = Shard { index, total, by };
            let part = exported(config, &shard).await;
            empty += usize::from(part.is_empty());
            let twice: Vec<&String> = part.intersection(&union).collect();
            assert!(
                twice.is_empty(),
                "{shard} exports what another shard does: {twice:?}"
            );
            union.extend(part);
        }
        assert_eq!(&union, whole, "{total} shards by {}", by.as_str());
        empties.push(empty);
    }
    empties
}

#[tokio::test]
async fn shards_by_target_export_together_what_one_replica_exports_and_nothing_twice() {
    let sim = Simulator::new();
    for i in 0..REGIONS.len() {
        sim.put_job(job(&format!("job-{i}-a")));
        sim.put_job(job(&format!("job-{i}-b")).completed());
    }
    let server = sim.spawn().await.unwrap();
    let config = config(&server.endpoint_url());

    let whole = exported(&config, &Shard::default()).await;
    assert!(whole.len() > 100, "{}", whole.len());
    let empties = split(&config, By::Target, &whole).await;
    assert!(
        empties.iter().zip([2, 3, 5]).all(|(&e, total)| e < total),
        "some shard of each split polls something: {empties:?}"
    );
    server.shutdown().await;
}

/// One target that discovers jobs and models and also names some (by name, so the listing
/// must match them to what another shard reads, and by ARN): by resource, every shard lists it
/// and exports only its share.
#[tokio::test]
async fn shards_by_resource_export_together_what_one_replica_exports_and_nothing_twice() {
    let sim = Simulator::new();
    for i in 0..40 {
        let name = format!("job-{i}");
        sim.put_job(if i % 3 == 0 {
            job(&name)
        } else {
            job(&name).completed()
        });
    }
    for i in 0..20 {
        sim.put_model(model(&format!("model-{i}")));
    }
    let server = sim.spawn().await.unwrap();
    let ten_years = Discovery {
        created_within: Some(Duration::from_secs(3_650 * 86_400)),
        ..Discovery::default()
    };
    let named = ["job-3", "job-7", "job-12", "job-25"];
    let mut target = Target {
        endpoint_url: Some(server.endpoint_url()),
        discover: Discover::from([(Kind::Job, ten_years), (Kind::Model, Discovery::default())]),
        ..target(&named, &["model-2", "model-5"])
    };
    target
        .lists
        .get_mut(&Kind::Job)
        .unwrap()
        .push(job_arn(&id_of("job-30")));
    let config = Config {
        targets: vec![target],
        ..Config::default()
    };

    let whole = exported(&config, &Shard::default()).await;
    let up = |series: &BTreeSet<String>| {
        series
            .iter()
            .filter(|s| s.starts_with("bedrock_exporter_target_up"))
            .count()
    };
    assert_eq!(up(&whole), 60, "every resource once: {whole:#?}");
    let empties = split(&config, By::Resource, &whole).await;
    assert_eq!(empties, [0, 0, 0], "every shard reads some of 60 resources");
    server.shutdown().await;
}

/// A shard that owns no target serves, and is ready at once.
#[tokio::test]
async fn a_shard_without_targets_is_ready() {
    let poller = Poller::<Simulator>::new(
        Vec::new(),
        app::schedule(&Config::default()),
        &[],
        Telemetry::new().unwrap(),
    );
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(shutdown.clone()));
    deadline(
        "the snapshot of a poller without targets to be ready",
        snapshots.wait_for(|s| s.is_ready(tokio::time::Instant::now())),
    )
    .await
    .unwrap();
    shutdown.cancel();
    task.await.unwrap();
}
