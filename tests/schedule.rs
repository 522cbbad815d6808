//! Scheduling on paused time: the poller reads the simulator in-process, and the simulator's
//! call log, stamped with tokio's clock, shows when each identifier was read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::poller::{PolledTarget, Poller, PUBLISH_EVERY, READ_GRACE};
use bedrock_exporter::simulator::{Fault, Simulator};
use common::*;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(60);
const TERMINAL: Duration = Duration::from_secs(600);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

fn poller(
    sim: &Simulator,
    jobs: &[&str],
    models: &[&str],
    concurrency: usize,
) -> Poller<Simulator> {
    Poller::new(
        vec![PolledTarget::new(
            sim.clone(),
            REGION,
            &target(jobs, models),
        )],
        Schedule {
            interval: INTERVAL,
            terminal_interval: TERMINAL,
            concurrency,
            request_timeout: REQUEST_TIMEOUT,
        },
        &[],
        Telemetry::new().unwrap(),
    )
}

/// Seconds after `start` at which `identifier` was read, up to `until` seconds. (A cycle that
/// is due when the test stops the poller may already have made its calls.)
fn read_times(sim: &Simulator, identifier: &str, start: Instant, until: u64) -> Vec<u64> {
    sim.calls()
        .iter()
        .filter(|c| c.identifier == identifier)
        .map(|c| (c.at - start).as_secs())
        .filter(|t| *t <= until)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn running_jobs_are_read_every_interval_and_finished_ones_every_terminal_interval() {
    let sim = Simulator::new();
    sim.put_job(job("run-1"));
    sim.put_job(job("done-1").completed());
    let mut creating = model("model-1");
    creating.model_status = Some("Creating".to_owned());
    sim.put_model(creating.clone());
    let start = Instant::now();
    let poller = poller(&sim, &["run-1", "done-1", "missing-1"], &["model-1"], 4);
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(shutdown.clone()));

    snapshots.wait_for(|s| s.cycles >= 1).await.unwrap();
    // After the first read the job finishes and the model becomes Active.
    sim.put_job(job("run-1").completed());
    creating.model_status = Some("Active".to_owned());
    sim.put_model(creating);
    // Cycles at 0, 60 (run-1, model-1, missing-1), 120 (missing-1), ..., 600 (done-1), 660.
    snapshots.wait_for(|s| s.cycles >= 12).await.unwrap();
    shutdown.cancel();
    task.await.unwrap();

    assert_eq!(read_times(&sim, "run-1", start, 660), [0, 60, 660]);
    assert_eq!(read_times(&sim, "model-1", start, 660), [0, 60, 660]);
    assert_eq!(read_times(&sim, "done-1", start, 660), [0, 600]);
    // Never read successfully: retried every interval.
    assert_eq!(
        read_times(&sim, "missing-1", start, 660),
        [0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 660]
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_identifier_does_not_hold_up_the_others() {
    let sim = Simulator::new();
    for name in ["slow-1", "fast-1", "fast-2"] {
        sim.put_job(job(name).completed());
    }
    sim.inject(Some("slow-1"), Fault::Delay(Duration::from_secs(30)));
    let start = Instant::now();
    let poller = poller(&sim, &["slow-1", "fast-1", "fast-2"], &[], 2);
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(shutdown.clone()));
    snapshots.wait_for(|s| s.cycles >= 1).await.unwrap();
    let finished = Instant::now() - start;
    shutdown.cancel();
    task.await.unwrap();

    // With two calls in flight, both fast jobs are read while the slow one is still pending.
    assert_eq!(read_times(&sim, "fast-1", start, 30), [0]);
    assert_eq!(read_times(&sim, "fast-2", start, 30), [0]);
    // The cycle ends when its slowest call does, and the next waits for the interval after it.
    assert_eq!(finished, Duration::from_secs(30));
    let snapshot = snapshots.borrow().clone();
    assert!(snapshot.resources.iter().all(|o| o.up));
}

#[tokio::test(start_paused = true)]
async fn cycles_never_overlap() {
    let sim = Simulator::new();
    sim.put_job(job("run-1"));
    // Every read takes longer than the interval.
    sim.inject(None, Fault::Delay(Duration::from_secs(90)));
    let start = Instant::now();
    let poller = poller(&sim, &["run-1"], &[], 4);
    run_cycles(poller, 3).await;
    // Each cycle starts once the last one ended: never two reads of run-1 in flight.
    assert_eq!(read_times(&sim, "run-1", start, 180), [0, 90, 180]);
}

#[tokio::test(start_paused = true)]
async fn calls_in_flight_are_bounded_by_concurrency() {
    let sim = Simulator::new();
    let names = ["slow-1", "slow-2", "slow-3", "slow-4", "slow-5"];
    for name in names {
        sim.put_job(job(name).completed());
    }
    sim.inject(None, Fault::Delay(Duration::from_secs(30)));
    let start = Instant::now();
    let poller = poller(&sim, &names, &[], 2);
    run_cycles(poller, 1).await;
    // Two at a time: the third and fourth start when the first two end, the fifth after those.
    let mut started: Vec<u64> = names
        .iter()
        .flat_map(|n| read_times(&sim, n, start, 90))
        .collect();
    started.sort();
    assert_eq!(started, [0, 0, 30, 30, 60]);
}

/// A source that never answers (no SDK timeout of its own) cannot stall the cycle: the poller
/// gives up on the read shortly after `request_timeout` and reports a timeout.
#[tokio::test(start_paused = true)]
async fn a_read_that_never_answers_is_abandoned() {
    let sim = Simulator::new();
    sim.put_job(job("stuck-1"));
    sim.put_job(job("fine-1"));
    sim.inject(Some("stuck-1"), Fault::Hold);
    let start = Instant::now();
    let poller = poller(&sim, &["stuck-1", "fine-1"], &[], 4);
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(shutdown.clone()));
    snapshots.wait_for(|s| s.cycles >= 1).await.unwrap();
    let finished = Instant::now() - start;
    shutdown.cancel();
    task.await.unwrap();

    assert_eq!(finished, REQUEST_TIMEOUT + READ_GRACE);
    let snapshot = snapshots.borrow().clone();
    let stuck = snapshot
        .resources
        .iter()
        .find(|o| o.identifier == "stuck-1")
        .unwrap();
    assert!(!stuck.up);
    let error = stuck.last_error.as_deref().unwrap();
    assert!(error.starts_with("timeout: no answer within 5m"), "{error}");
    assert!(snapshot
        .resources
        .iter()
        .any(|o| o.identifier == "fine-1" && o.up));
}

/// A scrape during a long cycle sees what the cycle has read so far: the snapshot is republished
/// every few seconds while the cycle runs, not only at its end.
#[tokio::test(start_paused = true)]
async fn a_long_cycle_publishes_what_it_has_read_so_far() {
    let sim = Simulator::new();
    sim.put_job(job("slow-1"));
    sim.put_job(job("fast-1"));
    sim.inject(Some("slow-1"), Fault::Delay(Duration::from_secs(60)));
    let start = Instant::now();
    let poller = poller(&sim, &["slow-1", "fast-1"], &[], 4);
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(shutdown.clone()));

    snapshots
        .wait_for(|s| s.resources.iter().any(|r| r.identifier == "fast-1" && r.up))
        .await
        .unwrap();
    let seen = snapshots.borrow().clone();
    assert_eq!(seen.cycles, 0, "published before the cycle ended");
    assert_eq!(Instant::now() - start, PUBLISH_EVERY);
    assert!(seen
        .resources
        .iter()
        .any(|r| r.identifier == "slow-1" && !r.up));
    assert!(String::from_utf8_lossy(&seen.text).contains(r#"job_name="fast-1""#));

    snapshots.wait_for(|s| s.cycles >= 1).await.unwrap();
    assert_eq!(Instant::now() - start, Duration::from_secs(60));
    shutdown.cancel();
    task.await.unwrap();
}

/// Each target keeps its own cycle: beside a target whose 200 Gets each hang for 250 s, the
/// healthy target's running job is still read every interval, and /readyz turns ready once an
/// interval has passed, without waiting for the hanging target's first cycle to end.
#[tokio::test(start_paused = true)]
async fn a_hanging_target_delays_no_other() {
    let healthy = Simulator::new();
    healthy.put_job(job("run-1"));
    let hanging = Simulator::new();
    let slow: Vec<String> = (0..200).map(|i| format!("slow-{i:03}")).collect();
    for name in &slow {
        hanging.put_job(job(name));
    }
    hanging.inject(None, Fault::Delay(Duration::from_secs(250)));
    let slow: Vec<&str> = slow.iter().map(String::as_str).collect();
    let start = Instant::now();
    let poller = Poller::new(
        vec![
            PolledTarget::new(healthy.clone(), REGION, &target(&["run-1"], &[])),
            PolledTarget::new(hanging.clone(), REGION, &target(&slow, &[])),
        ],
        Schedule {
            interval: INTERVAL,
            terminal_interval: TERMINAL,
            concurrency: 4,
            request_timeout: REQUEST_TIMEOUT,
        },
        &[],
        Telemetry::new().unwrap(),
    );
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(shutdown.clone()));

    // The healthy target's fifth cycle starts at 240 s, while the other is still in its first.
    let fifth = snapshots.wait_for(|s| s.cycles >= 5).await.unwrap().clone();
    assert!(
        fifth.is_ready(start + INTERVAL),
        "ready one interval after the first cycle began: {:?}",
        fifth.ready_at.map(|at| at - start)
    );
    assert!(!fifth.is_ready(start + INTERVAL - Duration::from_secs(1)));
    snapshots.wait_for(|s| s.cycles >= 6).await.unwrap();
    shutdown.cancel();
    task.await.unwrap();

    assert_eq!(
        read_times(&healthy, "run-1", start, 240),
        [0, 60, 120, 180, 240]
    );
    assert!(
        hanging.calls().len() < 200,
        "the hanging target is still in its first cycle"
    );
}
