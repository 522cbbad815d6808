//! The API economy of discovery with every kind, on paused time: a target that discovers all
//! nine kinds, 1,000 settled and 10 running resources of each, costs per steady-state interval
//! the List pages and only the Gets DESIGN allows (Discovery: a Get only for what a summary
//! lacks, and then only while running). The figures are printed; BENCHMARKS.md quotes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bedrock_exporter::bedrock::{Kind, Operation};
use bedrock_exporter::config::{Discover, Discovery, Target};
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::simulator::Simulator;
use common::kinds::{self, resource, State};
use common::*;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SETTLED: usize = 1_000;
const RUNNING: usize = 10;

/// What one steady-state interval may cost each kind: (List pages, Gets). Each listing of
/// 1,010 resources is two pages; the job kinds add a page per running status for those older
/// than `created_within`. Gets only for running resources whose summaries lack something.
fn expected(kind: Kind) -> (usize, usize) {
    match kind {
        // Running-status pages: InProgress and Stopping; losses move while it runs.
        Kind::Job => (2 + 2, RUNNING),
        // A creating model is read every interval; settled ones at terminal_interval only.
        Kind::Model => (2, RUNNING),
        // Creating: its summary lacks updateDetails.
        Kind::Deployment => (2, RUNNING),
        // Its summary lacks only a failure message: no Get, none failed here.
        Kind::ProvisionedThroughput => (2, 0),
        // InProgress, Stopping, Deleting pages; a running one lacks its failure messages and
        // modification time in its summary.
        Kind::EvaluationJob => (2 + 3, RUNNING),
        // Submitted, Validating, Scheduled, InProgress, Stopping pages; summaries carry it all.
        Kind::BatchInferenceJob => (2 + 5, 0),
        // InProgress page; only a failed import job is read (for its message).
        Kind::ImportJob => (2 + 1, 0),
        // InProgress page; summaries carry it all.
        Kind::CopyJob => (2 + 1, 0),
        // Custom model units only on Get, read at terminal_interval, not every interval.
        Kind::ImportedModel => (2, 0),
    }
}

#[tokio::test(start_paused = true)]
async fn steady_state_costs_only_what_each_kind_needs() {
    let sim = Simulator::new();
    for &kind in Kind::ALL {
        for i in 0..SETTLED + RUNNING {
            let state = if i >= SETTLED && kind != Kind::ImportedModel {
                State::Running
            } else {
                State::Settled
            };
            sim.put(resource(kind, i, state));
        }
    }
    let discover = Kind::ALL
        .iter()
        .map(|&kind| {
            let discovery = Discovery {
                created_within: kind.spec().created_within,
                ..Discovery::default()
            };
            (kind, discovery)
        })
        .collect();
    let target = Target {
        region: Some(REGION.to_owned()),
        discover: Discover(discover),
        ..Target::default()
    };
    let schedule = Schedule {
        interval: Duration::from_secs(60),
        terminal_interval: Duration::from_secs(1_800),
        concurrency: 4,
        request_timeout: Duration::from_secs(10),
    };
    let poller = Poller::new(
        vec![PolledTarget::new(sim.clone(), REGION, &target)],
        schedule,
        &[],
        Telemetry::new().unwrap(),
    )
    .with_clock(kinds::fixed_clock);
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let task = tokio::spawn(poller.run(shutdown.clone()));

    // Calls of each kind after each cycle; the paused clock does not move within a cycle.
    let count = |kind: Kind| {
        (
            sim.calls_of(Operation::List(kind), start),
            sim.calls_of(Operation::Get(kind), start),
        )
    };
    let mut totals: Vec<BTreeMap<Kind, (usize, usize)>> = Vec::new();
    for cycle in 1..=4 {
        snapshots.wait_for(|s| s.cycles >= cycle).await.unwrap();
        totals.push(Kind::ALL.iter().map(|&k| (k, count(k))).collect());
    }
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(
        snapshots.borrow().resources.len(),
        Kind::ALL.len() * (SETTLED + RUNNING),
        "every resource is watched"
    );

    let mut lines = Vec::new();
    let (mut pages, mut gets) = (0, 0);
    for &kind in Kind::ALL {
        let per_interval: Vec<(usize, usize)> = totals
            .windows(2)
            .map(|w| (w[1][&kind].0 - w[0][&kind].0, w[1][&kind].1 - w[0][&kind].1))
            .collect();
        assert_eq!(per_interval, [expected(kind); 3], "{}", kind.as_str());
        let (p, g) = expected(kind);
        pages += p;
        gets += g;
        lines.push(format!(
            "  {:<24} {p:>2} List pages, {g:>2} Gets",
            kind.as_str()
        ));
    }
    println!(
        "Per steady-state interval, {} settled and {} running of each kind:\n{}\n  total: {pages} List pages, {gets} Gets for {} resources",
        SETTLED,
        RUNNING,
        lines.join("\n"),
        Kind::ALL.len() * (SETTLED + RUNNING)
    );
}
