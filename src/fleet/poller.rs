//! The scheduler: reads every configured identifier that is due, a target's calls bounded by its
//! `concurrency`, and publishes a finished [`Snapshot`] after each cycle.
//!
//! The poller owns all its state and runs in one task, so it needs no locks; the HTTP server only
//! ever sees whole snapshots through a `watch` channel. Cycles run back to back, never overlapping:
//! after one ends the poller sleeps until the earliest identifier is due again.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bedrock::{BedrockSource, ErrorKind, FetchError, Kind, Record};
use crate::config::{role_account, Target};
use crate::exposition::{encode, render, Telemetry};
use crate::fleet::Observation;

/// What the server shows: the result of the last finished poll cycle.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Bedrock series and per-identifier health, rendered and encoded (text format 0.0.4) once
    /// at the end of the cycle, so a scrape only appends the exporter's own metrics.
    pub exposition: Vec<u8>,
    /// Every configured identifier, in config order.
    pub observations: Vec<Observation>,
    /// Poll cycles finished so far; 0 until the first one ends.
    pub cycles: u64,
}

/// How often identifiers are re-read.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Running jobs, creating models, and anything whose last read failed.
    pub interval: Duration,
    /// Finished jobs and settled models.
    pub terminal_interval: Duration,
    /// API calls in flight at once, per target.
    pub concurrency: usize,
    /// Bound on one read. The SDK enforces the same bound itself (`request_timeout`); the
    /// poller's own, [`READ_GRACE`] later, keeps a source that never answers from stalling a cycle.
    pub request_timeout: Duration,
}

/// How much longer than `request_timeout` the poller waits for a read before abandoning it.
pub const READ_GRACE: Duration = Duration::from_secs(1);

/// The wall clock, for success and poll timestamps; tests fix it.
pub type Clock = fn() -> SystemTime;

/// One account and region: its source and the identifiers read through it.
#[derive(Debug)]
pub struct TargetPoller<S> {
    source: S,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    observation: Observation,
    next_due: Instant,
}

impl<S: BedrockSource> TargetPoller<S> {
    /// A target reading the jobs and models of `target` through `source`; `region` (the
    /// target's, resolved) labels their series.
    pub fn new(source: S, region: &str, target: &Target) -> Self {
        let now = Instant::now();
        let account = target
            .role_arn
            .as_deref()
            .and_then(role_account)
            .unwrap_or_default();
        let entries = target
            .jobs
            .iter()
            .map(|id| (Kind::Job, id))
            .chain(target.models.iter().map(|id| (Kind::Model, id)))
            .map(|(kind, id)| Entry {
                observation: Observation::new(kind, id.as_str(), region).with_account(account),
                next_due: now,
            })
            .collect();
        TargetPoller { source, entries }
    }
}

/// Reads identifiers on schedule and publishes snapshots.
#[derive(Debug)]
pub struct Poller<S> {
    targets: Vec<TargetPoller<S>>,
    schedule: Schedule,
    telemetry: Telemetry,
    snapshot: watch::Sender<Arc<Snapshot>>,
    cycles: u64,
    clock: Clock,
}

impl<S: BedrockSource> Poller<S> {
    pub fn new(targets: Vec<TargetPoller<S>>, schedule: Schedule, telemetry: Telemetry) -> Self {
        for target in &targets {
            for entry in &target.entries {
                telemetry.init_region(&entry.observation.region);
            }
        }
        let (snapshot, _) = watch::channel(Arc::new(Snapshot::default()));
        Poller {
            targets,
            schedule,
            telemetry,
            snapshot,
            cycles: 0,
            clock: SystemTime::now,
        }
    }

    /// Replaces the wall clock used for timestamps (tests use a fixed one).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// A receiver of every snapshot published from now on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.subscribe()
    }

    /// The last published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Reads every identifier once, whether due or not, and publishes the result. Returns whether
    /// every read succeeded.
    pub async fn poll_all(&mut self) -> bool {
        self.cycle(Instant::now(), true).await;
        self.targets
            .iter()
            .flat_map(|t| &t.entries)
            .all(|e| e.observation.up)
    }

    /// Polls on schedule until `shutdown` is cancelled. An in-flight cycle is abandoned at shutdown.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let now = Instant::now();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.cycle(now, false) => {}
            }
            let next = self.next_due();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(next) => {}
            }
        }
        tracing::debug!("poller stopped");
    }

    fn next_due(&self) -> Instant {
        self.targets
            .iter()
            .flat_map(|t| &t.entries)
            .map(|e| e.next_due)
            .min()
            .unwrap_or_else(|| Instant::now() + self.schedule.terminal_interval)
    }

    /// One cycle: reads what is due at `start` (or everything), then publishes.
    async fn cycle(&mut self, start: Instant, everything: bool) {
        let wall_start = (self.clock)();
        let schedule = self.schedule;
        let telemetry = &self.telemetry;
        let clock = self.clock;
        let mut reads = Vec::with_capacity(self.targets.len());
        for target in &mut self.targets {
            // Collected first: a lazy filter held across the await would make this future's
            // Send-ness depend on a higher-ranked closure, which rustc cannot prove.
            let due: Vec<&mut Entry> = target
                .entries
                .iter_mut()
                .filter(|e| everything || e.next_due <= start)
                .collect();
            reads.push(read_target(
                &target.source,
                due,
                start,
                schedule,
                telemetry,
                clock,
            ));
        }
        futures_util::future::join_all(reads).await;

        self.cycles += 1;
        let observations: Vec<Observation> = self
            .targets
            .iter()
            .flat_map(|t| &t.entries)
            .map(|e| e.observation.clone())
            .collect();
        let exposition = encode(render(&observations));
        let took = start.elapsed().as_secs_f64();
        self.telemetry
            .observe_cycle(took, unix_seconds((self.clock)()));
        let failed = observations.iter().filter(|o| !o.up).count();
        let identifiers = observations.len();
        // Published before it is logged, so whoever reads the log line sees this snapshot served.
        self.snapshot.send_replace(Arc::new(Snapshot {
            exposition,
            observations,
            cycles: self.cycles,
        }));
        tracing::debug!(
            cycle = self.cycles,
            identifiers,
            failed,
            seconds = took,
            started = unix_seconds(wall_start),
            "poll cycle finished"
        );
        if self.cycles == 1 {
            tracing::info!(identifiers, failed, "first poll cycle finished; ready");
        }
    }
}

/// Reads a target's due entries, at most `schedule.concurrency` at once.
async fn read_target<S: BedrockSource>(
    source: &S,
    due: Vec<&mut Entry>,
    cycle_start: Instant,
    schedule: Schedule,
    telemetry: &Telemetry,
    clock: Clock,
) {
    futures_util::stream::iter(due)
        .for_each_concurrent(schedule.concurrency, |entry| {
            read(source, entry, cycle_start, schedule, telemetry, clock)
        })
        .await;
}

/// Reads one identifier and records the outcome on its entry.
async fn read<S: BedrockSource>(
    source: &S,
    entry: &mut Entry,
    cycle_start: Instant,
    schedule: Schedule,
    telemetry: &Telemetry,
    clock: Clock,
) {
    let obs = &mut entry.observation;
    let started = Instant::now();
    let call = source.get(obs.kind, &obs.identifier);
    let bound = schedule.request_timeout + READ_GRACE;
    let result = tokio::time::timeout(bound, call).await.unwrap_or_else(|_| {
        Err(FetchError::new(
            ErrorKind::Timeout,
            format!(
                "no answer within {}",
                humantime::format_duration(schedule.request_timeout)
            ),
        ))
    });
    let operation = obs.kind.get_operation();
    telemetry.observe_call(
        operation,
        &obs.region,
        started.elapsed().as_secs_f64(),
        result.as_ref().err().map(|e| e.kind()),
    );
    match result {
        Ok(record) => {
            obs.up = true;
            obs.last_success = Some(unix_seconds(clock()));
            obs.last_error = None;
            obs.read(record);
        }
        Err(error) => {
            tracing::warn!(
                operation = operation.as_str(),
                identifier = %obs.identifier,
                region = %obs.region,
                error_kind = error.kind().as_str(),
                error = error.message(),
                "Bedrock read failed"
            );
            obs.up = false;
            if error.kind() == ErrorKind::NotFound {
                obs.record = None;
            }
            obs.last_error = Some(error);
        }
    }
    let settled = obs.up
        && match &obs.record {
            Some(Record::Job(job)) => job.is_terminal(),
            Some(Record::Model(model)) => model.is_settled(),
            None => false,
        };
    let wait = if settled {
        schedule.terminal_interval
    } else {
        schedule.interval
    };
    entry.next_due = due_after(cycle_start, wait);
}

/// `start + wait`, or `start` itself where that instant would overflow the clock: config bounds
/// the intervals, but the scheduler must not panic whatever it is given.
fn due_after(start: Instant, wait: Duration) -> Instant {
    start.checked_add(wait).unwrap_or(start)
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_time_beyond_the_clock_does_not_panic() {
        let now = Instant::now();
        assert_eq!(due_after(now, Duration::MAX), now);
        assert_eq!(
            due_after(now, Duration::from_secs(60)),
            now + Duration::from_secs(60)
        );
    }
}
