//! The poller: one task that owns every target's watched set. Each cycle lists what discovery
//! finds, reads what is due (a target's calls bounded by its `concurrency`, each by its own
//! timeout), and publishes a [`Snapshot`], also every [`PUBLISH_EVERY`] while a cycle runs.
//!
//! Calls run as futures that own what they need and hand back their results, which this task
//! applies as they arrive: the watched set is only ever touched here, so it needs no locks, and
//! a snapshot can be taken mid-cycle. Cycles never overlap: after one ends the poller sleeps
//! until the earliest read or listing is due again.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::reconcile::{queries, reconcile};
use super::{due_after, DiscoveryState, Key, Resource, Schedule, TargetKey, WatchedSet};
use crate::bedrock::{BedrockSource, ErrorKind, FetchError, Kind, ListQuery, Record};
use crate::config::{self, role_account};
use crate::exposition::{Assembler, DiscoverySeries, Snapshot, Telemetry};

/// How much longer than `request_timeout` the poller waits for a call before abandoning it. The
/// SDK enforces `request_timeout` itself; the poller's own bound keeps a source that never
/// answers from stalling a cycle.
pub const READ_GRACE: Duration = Duration::from_secs(1);

/// While a cycle runs, what it has read so far is published at least this often.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(5);

/// The wall clock, for success and poll timestamps and discovery windows; tests fix it.
pub type Clock = fn() -> SystemTime;

/// One account and region: its source, what it watches and what it discovers.
#[derive(Debug)]
pub struct PolledTarget<S> {
    source: S,
    /// What identifies it across reloads.
    key: TargetKey,
    region: String,
    role_account: String,
    watched: WatchedSet,
    discoveries: Vec<DiscoveryState>,
}

impl<S: BedrockSource> PolledTarget<S> {
    /// A target reading through `source` the jobs and models `config` lists and discovers;
    /// `region` (the target's, resolved) labels their series. Everything is due at once.
    pub fn new(source: S, region: &str, config: &config::Target) -> Self {
        let now = Instant::now();
        let role_account = config
            .role_arn
            .as_deref()
            .and_then(role_account)
            .unwrap_or_default()
            .to_owned();
        let watched =
            WatchedSet::configured(&config.jobs, &config.models, region, &role_account, now);
        let discoveries = Kind::ALL
            .into_iter()
            .filter_map(|kind| {
                let rule = config.discover.of(kind)?.clone();
                Some(DiscoveryState::new(kind, rule, &role_account, now))
            })
            .collect();
        PolledTarget {
            source,
            key: TargetKey::of(region, config),
            region: region.to_owned(),
            role_account,
            watched,
            discoveries,
        }
    }

    /// Takes a reloaded config of the same target: identifiers and discoveries that stay keep
    /// their state, removed ones drop out (with what only they watched), new ones are due now.
    fn update(&mut self, source: S, config: &config::Target, now: Instant) {
        self.source = source;
        self.watched.configure(
            &config.jobs,
            &config.models,
            &self.region,
            &self.role_account,
            now,
        );
        for kind in Kind::ALL {
            let existing = self.discoveries.iter().position(|d| d.kind == kind);
            match (config.discover.of(kind), existing) {
                (None, Some(at)) => {
                    self.discoveries.remove(at);
                    self.watched.forget_discovered(kind);
                }
                (Some(rule), Some(at)) if self.discoveries[at].rule != *rule => {
                    self.discoveries[at].rule = rule.clone();
                    self.discoveries[at].next_due = now;
                }
                (Some(rule), None) => self.discoveries.push(DiscoveryState::new(
                    kind,
                    rule.clone(),
                    &self.role_account,
                    now,
                )),
                _ => {}
            }
        }
    }

    /// The operations this target calls: both Gets, and the List of each discovered kind.
    fn operations(&self) -> Vec<crate::bedrock::Operation> {
        Kind::ALL
            .into_iter()
            .map(Kind::get_operation)
            .chain(self.discoveries.iter().map(|d| d.kind.list_operation()))
            .collect()
    }
}

/// A finished call, handed back to the poller. Short-lived, one per call in flight: a large
/// variant costs nothing worth an allocation.
#[allow(clippy::large_enum_variant)]
enum Done {
    Listed {
        target: usize,
        results: Vec<(Kind, Result<Vec<Record>, FetchError>)>,
    },
    Read {
        target: usize,
        key: Key,
        result: Result<Record, FetchError>,
        at: f64,
    },
}

/// A running poller's new config (a reload): every target with its source, and the settings.
#[derive(Debug)]
pub struct Reconfig<S> {
    pub targets: Vec<NewTarget<S>>,
    pub schedule: Schedule,
    pub exclude_metrics: Vec<String>,
}

/// A target of a reloaded config: its source (the one it had, if it stays), its resolved region
/// and its config.
#[derive(Debug)]
pub struct NewTarget<S> {
    pub source: S,
    pub region: String,
    pub config: config::Target,
}

/// Lists, reads on schedule, and publishes snapshots.
#[derive(Debug)]
pub struct Poller<S> {
    targets: Vec<PolledTarget<S>>,
    schedule: Schedule,
    telemetry: Telemetry,
    snapshot: watch::Sender<Arc<Snapshot>>,
    /// Keeps each resource's lines between snapshots, so only what changed is rendered.
    assembler: Assembler,
    cycles: u64,
    clock: Clock,
    /// Reloaded configs, applied between cycles.
    updates: Option<mpsc::UnboundedReceiver<Reconfig<S>>>,
}

impl<S: BedrockSource> Poller<S> {
    /// A poller of `targets`; `exclude_metrics` names the families left out of the exposition.
    pub fn new(
        targets: Vec<PolledTarget<S>>,
        schedule: Schedule,
        exclude_metrics: &[String],
        telemetry: Telemetry,
    ) -> Self {
        for target in &targets {
            telemetry.init_region(&target.region, &target.operations());
        }
        let (snapshot, _) = watch::channel(Arc::new(Snapshot::default()));
        Poller {
            targets,
            schedule,
            telemetry,
            snapshot,
            assembler: Assembler::new(exclude_metrics),
            cycles: 0,
            clock: SystemTime::now,
            updates: None,
        }
    }

    /// Takes reloaded configs from `updates`, each applied once the cycle in progress ends.
    pub fn with_updates(mut self, updates: mpsc::UnboundedReceiver<Reconfig<S>>) -> Self {
        self.updates = Some(updates);
        self
    }

    /// Applies a reloaded config: targets that stay (same region, role and endpoint) keep their
    /// state and schedule, removed ones drop out with their series, new ones are due now; the
    /// intervals and exclusions apply at once. Publishes the result.
    pub fn apply(&mut self, reconfig: Reconfig<S>) {
        let now = Instant::now();
        let mut old: Vec<PolledTarget<S>> = std::mem::take(&mut self.targets);
        for new in reconfig.targets {
            let key = TargetKey::of(&new.region, &new.config);
            let target = match old.iter().position(|t| t.key == key) {
                Some(at) => {
                    let mut target = old.swap_remove(at);
                    target.update(new.source, &new.config, now);
                    target
                }
                None => PolledTarget::new(new.source, &new.region, &new.config),
            };
            self.telemetry
                .init_region(&target.region, &target.operations());
            self.targets.push(target);
        }
        let sooner = |old: Duration, new: Duration| new < old;
        if sooner(self.schedule.interval, reconfig.schedule.interval)
            || sooner(
                self.schedule.terminal_interval,
                reconfig.schedule.terminal_interval,
            )
        {
            for target in &mut self.targets {
                target.watched.shorten(now, &reconfig.schedule);
                for discovery in &mut target.discoveries {
                    discovery.next_due = discovery
                        .next_due
                        .min(due_after(now, reconfig.schedule.interval));
                }
            }
        }
        self.schedule = reconfig.schedule;
        self.assembler.exclude(&reconfig.exclude_metrics);
        self.publish();
    }

    /// Replaces the wall clock used for timestamps and discovery windows (tests fix it).
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

    /// Lists everything discovery finds and reads every resource once, whether due or not, and
    /// publishes the result. Returns whether every listing and read succeeded.
    pub async fn poll_all(&mut self) -> bool {
        self.cycle(Instant::now(), true).await;
        self.targets.iter().all(|t| {
            t.watched.resources.values().all(|r| r.up)
                && t.discoveries.iter().all(|d| d.up == Some(true))
        })
    }

    /// Polls on schedule until `shutdown` is cancelled. An in-flight cycle is abandoned at shutdown.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut updates = self.updates.take();
        'run: loop {
            let now = Instant::now();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.cycle(now, false) => {}
            }
            // Sleep until something is due; a reload met meanwhile (or during the cycle) is
            // applied, and may make something due sooner.
            loop {
                let next = self.next_due();
                tokio::select! {
                    _ = shutdown.cancelled() => break 'run,
                    _ = tokio::time::sleep_until(next) => break,
                    Some(update) = next_update(&mut updates) => self.apply(update),
                }
            }
        }
        tracing::debug!("poller stopped");
    }

    /// The earliest read or listing due.
    fn next_due(&self) -> Instant {
        self.targets
            .iter()
            .flat_map(|t| {
                let reads = t.watched.resources.values().filter_map(|r| r.next_due);
                reads.chain(t.discoveries.iter().map(|d| d.next_due))
            })
            .min()
            .unwrap_or_else(|| due_after(Instant::now(), self.schedule.terminal_interval))
    }

    /// One cycle: the listings due at `start`, then the reads due (or everything), applied as
    /// they finish; then publishes.
    async fn cycle(&mut self, start: Instant, everything: bool) {
        let now = unix_seconds((self.clock)());
        let mut work: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
        // A target's listings run one after the other (one call in flight, within any
        // `concurrency`), and its reads once they are in: they decide what is due.
        let mut listing = vec![false; self.targets.len()];
        for (t, target) in self.targets.iter_mut().enumerate() {
            let due: Vec<(Kind, Vec<ListQuery>)> = target
                .discoveries
                .iter_mut()
                .filter(|d| everything || d.next_due <= start)
                .map(|d| {
                    d.next_due = due_after(start, self.schedule.interval);
                    (d.kind, queries(d.kind, &d.rule, now))
                })
                .collect();
            if due.is_empty() {
                continue;
            }
            listing[t] = true;
            let (source, region) = (target.source.clone(), target.region.clone());
            let (telemetry, timeout) = (self.telemetry.clone(), self.schedule.request_timeout);
            work.push(
                async move {
                    let mut results = Vec::with_capacity(due.len());
                    for (kind, queries) in due {
                        let result = list(&source, queries, &region, &telemetry, timeout).await;
                        results.push((kind, result));
                    }
                    Done::Listed { target: t, results }
                }
                .boxed(),
            );
        }
        let mut queues: Vec<VecDeque<Key>> = vec![VecDeque::new(); self.targets.len()];
        let mut active = vec![0usize; self.targets.len()];
        for t in 0..self.targets.len() {
            if !listing[t] {
                queues[t] = self.targets[t].watched.due(start, everything).into();
                self.start_reads(t, &mut queues[t], &mut active[t], &work);
            }
        }

        let mut publish = tokio::time::interval_at(start + PUBLISH_EVERY, PUBLISH_EVERY);
        loop {
            tokio::select! {
                done = work.next() => match done {
                    None => break,
                    Some(Done::Listed { target: t, results }) => {
                        for (kind, result) in results {
                            self.apply_listing(t, kind, result, start);
                        }
                        queues[t] = self.targets[t].watched.due(start, everything).into();
                        self.start_reads(t, &mut queues[t], &mut active[t], &work);
                    }
                    Some(Done::Read { target: t, key, result, at }) => {
                        self.apply_read(t, &key, result, at, start);
                        active[t] -= 1;
                        self.start_reads(t, &mut queues[t], &mut active[t], &work);
                    }
                },
                _ = publish.tick() => self.publish(),
            }
        }

        self.cycles += 1;
        let took = start.elapsed().as_secs_f64();
        self.telemetry
            .observe_cycle(took, unix_seconds((self.clock)()));
        // Published before it is logged, so whoever reads the log line sees this snapshot served.
        self.publish();
        // What the cycle's listings and reads freed, and the last snapshot if none holds it.
        tokio::task::spawn_blocking(crate::heap::release_free_memory);
        let resources: usize = self.targets.iter().map(|t| t.watched.resources.len()).sum();
        let failed: usize = self
            .targets
            .iter()
            .map(|t| t.watched.resources.values().filter(|r| !r.up).count())
            .sum();
        tracing::debug!(
            cycle = self.cycles,
            resources,
            failed,
            seconds = took,
            "poll cycle finished"
        );
        if self.cycles == 1 {
            tracing::info!(resources, failed, "first poll cycle finished; ready");
        }
    }

    /// Starts reads from a target's queue while it has fewer than `concurrency` in flight.
    fn start_reads(
        &self,
        t: usize,
        queue: &mut VecDeque<Key>,
        active: &mut usize,
        work: &FuturesUnordered<BoxFuture<'static, Done>>,
    ) {
        let target = &self.targets[t];
        while *active < self.schedule.concurrency {
            let Some(key) = queue.pop_front() else {
                return;
            };
            // A resource can drop out between being queued and its turn (a 404 elsewhere).
            let Some(resource) = target.watched.resources.get(&key) else {
                continue;
            };
            *active += 1;
            let future = read(
                target.source.clone(),
                resource.kind,
                resource.read_as().to_owned(),
                target.region.clone(),
                self.telemetry.clone(),
                self.schedule.request_timeout,
                self.clock,
            );
            work.push(
                future
                    .map(move |(result, at)| Done::Read {
                        target: t,
                        key,
                        result,
                        at,
                    })
                    .boxed(),
            );
        }
    }

    fn apply_listing(
        &mut self,
        t: usize,
        kind: Kind,
        result: Result<Vec<Record>, FetchError>,
        start: Instant,
    ) {
        // Another target's resources are theirs: a discovery never watches them a second time.
        let others: HashSet<String> = if self.targets.len() > 1 {
            self.targets
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != t)
                .flat_map(|(_, target)| target.watched.resources.values())
                .filter_map(|r| r.arn.clone())
                .collect()
        } else {
            HashSet::new()
        };
        let target = &mut self.targets[t];
        let Some(discovery) = target.discoveries.iter_mut().find(|d| d.kind == kind) else {
            return;
        };
        match result {
            Ok(listing) => {
                if let Some(account) = listing
                    .iter()
                    .find_map(|r| r.arn().and_then(crate::bedrock::account_of_arn))
                {
                    discovery.account = account.to_owned();
                }
                discovery.up = Some(true);
                discovery.last_error = None;
                let listed = listing.len();
                let outcome = reconcile(
                    &mut target.watched,
                    kind,
                    listing,
                    &target.region,
                    &target.role_account,
                    &|arn| others.contains(arn),
                );
                target.watched.read_now(&outcome.to_read, start);
                if outcome.added + outcome.removed > 0 {
                    tracing::info!(
                        kind = kind.as_str(),
                        region = %target.region,
                        listed,
                        added = outcome.added,
                        removed = outcome.removed,
                        "discovery changed the watched set"
                    );
                }
            }
            Err(error) => {
                // The set stays as it was: a failed listing says nothing about what exists.
                tracing::warn!(
                    operation = kind.list_operation().as_str(),
                    region = %target.region,
                    error_kind = error.kind().as_str(),
                    error = error.message(),
                    "Bedrock listing failed; the watched set is kept"
                );
                discovery.up = Some(false);
                discovery.last_error = Some(error);
            }
        }
    }

    fn apply_read(
        &mut self,
        t: usize,
        key: &Key,
        result: Result<Record, FetchError>,
        at: f64,
        start: Instant,
    ) {
        let target = &mut self.targets[t];
        if let (Err(error), Some(resource)) = (&result, target.watched.resources.get(key)) {
            tracing::warn!(
                operation = key.kind.get_operation().as_str(),
                identifier = %resource.identifier,
                region = %target.region,
                error_kind = error.kind().as_str(),
                error = error.message(),
                "Bedrock read failed"
            );
        }
        target
            .watched
            .apply_read(key, result, at, start, &self.schedule);
    }

    /// Assembles and publishes what the watched sets hold now.
    fn publish(&mut self) {
        let resources: Vec<&Resource> = self
            .targets
            .iter()
            .flat_map(|t| t.watched.resources.values())
            .collect();
        let discoveries: Vec<DiscoverySeries> = self
            .targets
            .iter()
            .flat_map(|t| {
                t.discoveries.iter().filter_map(|d| {
                    Some(DiscoverySeries {
                        kind: d.kind,
                        account: d.account.clone(),
                        region: t.region.clone(),
                        up: d.up?,
                        discovered: t.watched.discovered(d.kind),
                        last_error: d.last_error.clone(),
                    })
                })
            })
            .collect();
        let assembler = &mut self.assembler;
        // Copying a large exposition takes milliseconds: off this worker where it can be, so a
        // scrape waiting on it is not held up.
        let assembled = blocking(|| assembler.assemble(&resources, &discoveries));
        self.snapshot.send_replace(Arc::new(Snapshot::new(
            assembled.text,
            assembled.views,
            discoveries,
            self.cycles,
        )));
    }
}

/// The next reloaded config, or never without a channel (or once it is closed).
async fn next_update<S>(
    updates: &mut Option<mpsc::UnboundedReceiver<Reconfig<S>>>,
) -> Option<Reconfig<S>> {
    match updates {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs `work` as blocking work: on a multi-threaded runtime the worker's other tasks move to
/// other workers meanwhile; elsewhere (a test's runtime) it simply runs.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Lists every page of each query (all of one kind) in turn; each page is one call, counted and
/// timed. The first failure ends the listing.
async fn list<S: BedrockSource>(
    source: &S,
    queries: Vec<ListQuery>,
    region: &str,
    telemetry: &Telemetry,
    request_timeout: Duration,
) -> Result<Vec<Record>, FetchError> {
    let bound = request_timeout + READ_GRACE;
    let mut records = Vec::new();
    for query in queries {
        let operation = query.kind.list_operation();
        let mut pages = std::pin::pin!(source.list(query));
        loop {
            let started = Instant::now();
            let page = match tokio::time::timeout(bound, pages.next()).await {
                Ok(None) => break,
                Ok(Some(page)) => page,
                Err(_) => Err(no_answer(request_timeout)),
            };
            let took = started.elapsed().as_secs_f64();
            telemetry.observe_call(
                operation,
                region,
                took,
                page.as_ref().err().map(FetchError::kind),
            );
            records.extend(page?);
        }
    }
    Ok(records)
}

/// Reads one resource, counted and timed; returns the result and when it ended (Unix time).
async fn read<S: BedrockSource>(
    source: S,
    kind: Kind,
    identifier: String,
    region: String,
    telemetry: Telemetry,
    request_timeout: Duration,
    clock: Clock,
) -> (Result<Record, FetchError>, f64) {
    let started = Instant::now();
    let bound = request_timeout + READ_GRACE;
    let result = tokio::time::timeout(bound, source.get(kind, &identifier))
        .await
        .unwrap_or_else(|_| Err(no_answer(request_timeout)));
    telemetry.observe_call(
        kind.get_operation(),
        &region,
        started.elapsed().as_secs_f64(),
        result.as_ref().err().map(FetchError::kind),
    );
    (result, unix_seconds(clock()))
}

fn no_answer(bound: Duration) -> FetchError {
    FetchError::new(
        ErrorKind::Timeout,
        format!("no answer within {}", config::show_duration(bound)),
    )
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
