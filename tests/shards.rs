//! Replicas that split the work by target (`--total-shards`, `--shard`): through the real SDK
//! against the simulator, N shards export together exactly what one unsharded replica exports,
//! and no series twice; a shard with no target still serves and is ready.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bedrock_exporter::app;
use bedrock_exporter::bedrock::Kind;
use bedrock_exporter::config::{Config, Target};
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
    let mut poller = Poller::new(targets, app::schedule(config), &[], telemetry);
    assert!(poller.poll_all().await, "{shard}");
    let text = String::from_utf8(poller.snapshot().text.to_vec()).unwrap();
    // Series, not values: the last-success times differ from run to run.
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(series, _)| series.to_owned())
        .collect()
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
    for total in [2, 3, 5] {
        let mut union = BTreeSet::new();
        let mut empty = 0;
        for index in 0..total {
            let shard = Shard {
                index,
                total,
                by: By::Target,
            };
            let part = exported(&config, &shard).await;
            empty += usize::from(part.is_empty());
            let twice: Vec<&String> = part.intersection(&union).collect();
            assert!(
                twice.is_empty(),
                "{shard} exports what another shard does: {twice:?}"
            );
            union.extend(part);
        }
        assert_eq!(union, whole, "{total} shards");
        assert!(
            empty < total as usize,
            "{total} shards: some shard polls something"
        );
    }
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
