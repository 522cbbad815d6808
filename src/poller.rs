//! The poller: one task that owns every target's watched set. Each target runs its own cycles:
//! it lists what its discovery finds, reads what is due (bounded by `concurrency`, each call by
//! its own timeout), and ends; its next cycle starts when something of it is due again. A
//! target whose calls hang delays no other target's cycles, publishing or readiness. Snapshots
//! are published when a target's cycle ends, and every [`PUBLISH_EVERY`] while any runs; when
//! assembling one takes long (a large fleet), no more often than keeps it to a
//! [`PUBLISH_SHARE`]th of the time.
//!
//! Calls run as futures that own what they need and hand back their results, which this task
//! applies as they arrive: the watched sets are only ever touched here, so they need no locks,
//! and a snapshot can be taken at any time. Every result passes [`boundary`] first.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bedrock::boundary::{self, Capped};
use crate::bedrock::{BedrockSource, ErrorKind, FetchError, Kind, ListQuery, Operation, Record};
use crate::config::{self, role_account};
use crate::exposition::telemetry::Cap;
use crate::exposition::{Assembler, DiscoverySeries, Snapshot, Telemetry};
use crate::fleet::reconcile::{queries, reconcile, Listing};
use crate::fleet::{
    due_after, DiscoveryState, Key, Origin, Resource, Schedule, TargetKey, WatchedSet,
};
use crate::shard::{By, Shard};

/// How much longer than `request_timeout` the poller waits for a call before abandoning it. The
/// SDK enforces `request_timeout` itself; the poller's own bound keeps a source that never
/// answers from stalling a cycle.
pub const READ_GRACE: Duration = Duration::from_secs(1);

/// While a cycle runs, what it has read so far is published at least this often.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(5);

/// A snapshot that took longer than [`PUBLISH_FLOOR`] to assemble is followed by the next no
/// sooner than this many times as long: with many targets, each ending its cycles at its own
/// time, a large exposition is otherwise assembled again at every end (100 targets and 100,000
/// resources kept both cores busy doing so). Cycle ends in between are published together.
pub const PUBLISH_SHARE: u32 = 10;

/// Snapshots that take less than this to assemble are published at every cycle's end.
pub const PUBLISH_FLOOR: Duration = Duration::from_millis(50);

/// A listing fails after this many pages (of all its queries together).
pub const LIST_PAGES_MAX: usize = 1000;

/// A listing fails when it has not finished after this long.
pub const LIST_TIME_MAX: Duration = Duration::from_secs(600);

/// The wall clock, for success and poll timestamps and discovery windows; tests fix it.
pub type Clock = fn() -> SystemTime;

/// One account and region: its source, what it watches and what it discovers.
#[derive(Debug)]
pub struct PolledTarget<S> {
    /// Unique for the life of the process: results of calls name their target by it.
    id: u64,
    source: S,
    /// What identifies it across reloads.
    key: TargetKey,
    region: String,
    role_account: String,
    watched: WatchedSet,
    discoveries: Vec<DiscoveryState>,
    /// The cycle in progress.
    cycle: Option<Cycle>,
    /// When its next cycle starts: the earliest read or listing due. Kept up to date after
    /// each cycle and reload, not searched for at every wake-up.
    next_cycle: Instant,
    /// When its first cycle started; `None` before.
    first_started: Option<Instant>,
    /// Its last finished cycle: how long it took, when it ended (Unix time), and the
    /// `account_id` its length was labelled with.
    last_cycle: Option<(f64, f64, String)>,
}

/// A target's cycle in progress.
#[derive(Debug)]
struct Cycle {
    start: Instant,
    /// Whether it reads every resource, due or not.
    everything: bool,
    /// Whether its listings are in flight (reads wait for them: they decide what is due).
    listing: bool,
    /// What is left to read.
    queue: VecDeque<Key>,
    /// Reads in flight.
    active: usize,
    /// Listings and reads of this cycle that failed.
    failures: usize,
}

impl<S: BedrockSource> PolledTarget<S> {
    /// A target reading through `source` the resources `config` lists and discovers;
    /// `region` (the target's, resolved) labels their series. Everything is due at once.
    pub fn new(source: S, region: &str, config: &config::Target) -> Self {
        let now = Instant::now();
        let role_account = config
            .role_arn
            .as_deref()
            .and_then(role_account)
            .unwrap_or_default()
            .to_owned();
        let watched = WatchedSet::configured(&config.lists, region, &role_account, now);
        let discoveries = Kind::ALL
            .iter()
            .copied()
            .filter_map(|kind| {
                let rule = config.discover.of(kind)?.clone();
                Some(DiscoveryState::new(kind, rule, &role_account, now))
            })
            .collect();
        PolledTarget {
            id: next_target_id(),
            source,
            key: TargetKey::of(region, config),
            region: region.to_owned(),
            role_account,
            watched,
            discoveries,
            cycle: None,
            next_cycle: now,
            first_started: None,
            last_cycle: None,
        }
    }

    /// The earliest read or listing due, if any is.
    fn next_due(&self) -> Option<Instant> {
        let reads = self.watched.resources.values().filter_map(|r| r.next_due);
        reads
            .chain(self.discoveries.iter().map(|d| d.next_due))
            .min()
    }

    /// The `account_id` of its own series: its role's account, else the first its resources
    /// or listings named.
    fn account(&self) -> &str {
        if !self.role_account.is_empty() {
            return &self.role_account;
        }
        let listed = self.discoveries.iter().map(|d| d.account.as_str());
        let read = self.watched.resources.values().map(|r| r.account.as_str());
        listed
            .chain(read)
            .find(|a| !a.is_empty())
            .unwrap_or_default()
    }

    /// Takes a reloaded config of the same target: identifiers and discoveries that stay keep
    /// their state, removed ones drop out (with what only they watched), new ones are due now.
    fn update(&mut self, source: S, config: &config::Target, now: Instant) {
        self.source = source;
        self.watched
            .configure(&config.lists, &self.region, &self.role_account, now);
        for &kind in Kind::ALL {
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

    /// Whether it watches the resource of `kind` whose ARN is `arn`: discovered (keyed by ARN),
    /// or configured by ARN or by a name a read has tied to it.
    fn watches(&self, kind: Kind, arn: &str) -> bool {
        let key = Key {
            kind,
            id: arn.to_owned(),
        };
        self.watched.resources.contains_key(&key)
            || self.watched.resources.values().any(|r| {
                r.kind == kind && r.origin == Origin::Configured && r.arn.as_deref() == Some(arn)
            })
    }

    /// The operations this target calls: both Gets, and the List of each discovered kind.
    fn operations(&self) -> Vec<Operation> {
        Kind::ALL
            .iter()
            .map(|kind| kind.get_operation())
            .chain(self.discoveries.iter().map(|d| d.kind.list_operation()))
            .collect()
    }
}

/// A finished call, handed back to the poller. Short-lived, one per call in flight: a large
/// variant costs nothing worth an allocation.
#[allow(clippy::large_enum_variant)]
enum Done {
    Listed {
        target: u64,
        results: Vec<(Kind, Result<Vec<Record>, FetchError>)>,
    },
    Read {
        target: u64,
        key: Key,
        result: Result<Record, FetchError>,
        at: f64,
    },
}

/// What wakes the poller. One at a time, handled at once: the size of `Done` costs nothing.
#[allow(clippy::large_enum_variant)]
enum Event<S> {
    Stop,
    Done(Done),
    Update(Reconfig<S>),
    /// A target's next cycle, or a publication, is due.
    Due,
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

/// Calls in flight, of every target.
type Work = FuturesUnordered<BoxFuture<'static, Done>>;

/// Lists, reads on schedule, and publishes snapshots.
pub struct Poller<S> {
    targets: Vec<PolledTarget<S>>,
    schedule: Schedule,
    telemetry: Telemetry,
    snapshot: watch::Sender<Arc<Snapshot>>,
    /// Keeps each resource's lines between snapshots, so only what changed is rendered.
    assembler: Assembler,
    /// Cycles finished, by all targets.
    cycles: u64,
    clock: Clock,
    /// Reloaded configs, applied as they come.
    updates: Option<mpsc::UnboundedReceiver<Reconfig<S>>>,
    work: Work,
    /// When the last snapshot was published.
    published: Instant,
    /// How long assembling the last snapshot took.
    publish_cost: Duration,
    /// Whether a cycle ended since the last snapshot was published.
    unpublished: bool,
    /// Whether every target has been ready once; a reload adding a target does not undo it.
    ready: bool,
    /// This replica's share of the work. The targets it was given are its share by target;
    /// by resource it keeps only the resources it owns.
    shard: Shard,
    /// By resource: the configured identifiers of every target that another shard reads. A
    /// listing here never takes them up as discovered either.
    foreign: HashSet<Key>,
}

impl<S> std::fmt::Debug for Poller<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("targets", &self.targets.len())
            .field("cycles", &self.cycles)
            .field("in_flight", &self.work.len())
            .finish_non_exhaustive()
    }
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
        telemetry.init_caps(&Operation::all());
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
            work: FuturesUnordered::new(),
            published: Instant::now(),
            publish_cost: Duration::ZERO,
            unpublished: false,
            ready: false,
            shard: Shard::default(),
            foreign: HashSet::new(),
        }
    }

    /// Reads and exports only `shard`'s share of the resources when it splits them by resource
    /// (by target, the targets it was given are its share already).
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self.leave_foreign();
        self
    }

    /// By resource: drops the configured resources another shard reads from the watched sets,
    /// and notes them in [`Poller::foreign`].
    fn leave_foreign(&mut self) {
        if self.shard.by != By::Resource {
            return;
        }
        self.foreign.clear();
        for target in &mut self.targets {
            target.watched.resources.retain(|key, resource| {
                let ours =
                    resource.origin != Origin::Configured || self.shard.owns_resource(&key.id);
                if !ours {
                    self.foreign.insert(key.clone());
                }
                ours
            });
        }
    }

    /// Whether a listed resource is this replica's to watch: by resource, it is when its ARN
    /// lands in this shard and no configured identifier another shard reads names it.
    fn owns_listed(shard: &Shard, foreign: &HashSet<Key>, summary: &Record) -> bool {
        if shard.by != By::Resource {
            return true;
        }
        let named_elsewhere = |id: &str| {
            foreign.contains(&Key {
                kind: summary.kind(),
                id: id.to_owned(),
            })
        };
        summary.arn().is_some_and(|arn| shard.owns_resource(arn))
            && (foreign.is_empty() || !summary.name().is_some_and(named_elsewhere))
    }

    /// Takes reloaded configs from `updates`, each applied as it comes: every target takes it
    /// from its next cycle.
    pub fn with_updates(mut self, updates: mpsc::UnboundedReceiver<Reconfig<S>>) -> Self {
        self.updates = Some(updates);
        self
    }

    /// Applies a reloaded config: targets that stay (same region, role and endpoint) keep their
    /// state and schedule (a cycle in progress goes on), removed ones drop out with their
    /// series, new ones are due now; the intervals and exclusions apply at once. Publishes the
    /// result.
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
        self.leave_foreign();
        for gone in old {
            if let Some((_, _, account)) = &gone.last_cycle {
                self.telemetry.forget_target(account, &gone.region);
            }
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
        let idle = self.idle(now);
        for target in &mut self.targets {
            if target.cycle.is_none() {
                target.next_cycle = target.next_due().unwrap_or(idle);
            }
        }
        self.assembler.exclude(&reconfig.exclude_metrics);
        tracing::debug!(targets = self.targets.len(), "poller applied a new config");
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

    /// Lists everything discovery finds and reads every resource of every target once, whether
    /// due or not, and publishes the result. Returns whether every listing and read succeeded.
    pub async fn poll_all(&mut self) -> bool {
        let start = Instant::now();
        let mut failed = false;
        for t in 0..self.targets.len() {
            if self.targets[t].cycle.is_none() {
                self.start_cycle(t, start, true);
            }
        }
        while self.targets.iter().any(|t| t.cycle.is_some()) {
            let publish_at = self.published + PUBLISH_EVERY;
            tokio::select! {
                Some(done) = self.work.next() => {
                    failed |= self.finish(done);
                }
                _ = tokio::time::sleep_until(publish_at) => self.publish(),
            }
        }
        if self.unpublished {
            self.publish();
        }
        !failed
            && self.targets.iter().all(|t| {
                t.watched.resources.values().all(|r| r.up)
                    && t.discoveries.iter().all(|d| d.up == Some(true))
            })
    }

    /// Polls on schedule until `shutdown` is cancelled. Calls in flight are abandoned at
    /// shutdown.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut updates = self.updates.take();
        // Nothing to poll (a shard that owns no target): ready at once, as every target has
        // finished its first cycle.
        if self.targets.is_empty() {
            self.publish();
        }
        loop {
            let now = Instant::now();
            for t in 0..self.targets.len() {
                if self.targets[t].cycle.is_none() && self.targets[t].next_cycle <= now {
                    self.start_cycle(t, now, false);
                }
            }
            if self.publish_due().is_some_and(|at| now >= at) {
                self.publish();
            }
            let wake = self.next_wake();
            let event = tokio::select! {
                _ = shutdown.cancelled() => Event::Stop,
                Some(done) = self.work.next(), if !self.work.is_empty() => Event::Done(done),
                Some(update) = next_update(&mut updates) => Event::Update(update),
                _ = tokio::time::sleep_until(wake) => Event::Due,
            };
            match event {
                Event::Stop => break,
                Event::Done(done) => {
                    self.finish(done);
                }
                Event::Update(update) => self.apply(update),
                Event::Due => {}
            }
        }
        tracing::debug!("poller stopped");
    }

    /// When the poller must wake next: the earliest cycle due of an idle target, or the next
    /// publication.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let cycles = self
            .targets
            .iter()
            .filter(|t| t.cycle.is_none())
            .map(|t| t.next_cycle);
        cycles
            .chain(self.publish_due())
            .min()
            .unwrap_or_else(|| self.idle(now))
    }

    /// The least time between two snapshots: none after one that was quick to assemble, else
    /// [`PUBLISH_SHARE`] times what it took.
    fn publish_gap(&self) -> Duration {
        if self.publish_cost < PUBLISH_FLOOR {
            Duration::ZERO
        } else {
            self.publish_cost.saturating_mul(PUBLISH_SHARE)
        }
    }

    /// When the next snapshot is due, if one is: what ended cycles left unpublished, at the
    /// gap's end; what a cycle in progress has read so far, every [`PUBLISH_EVERY`].
    fn publish_due(&self) -> Option<Instant> {
        let gap = self.publish_gap();
        let ended = self.unpublished.then(|| due_after(self.published, gap));
        let running = self
            .targets
            .iter()
            .any(|t| t.cycle.is_some())
            .then(|| due_after(self.published, PUBLISH_EVERY.max(gap)));
        ended.into_iter().chain(running).min()
    }

    /// When a target with nothing due looks again.
    fn idle(&self, now: Instant) -> Instant {
        due_after(now, self.schedule.terminal_interval)
    }

    /// Starts a cycle of target `t` at `start`: its listings due (or all, with `everything`),
    /// else its reads due.
    fn start_cycle(&mut self, t: usize, start: Instant, everything: bool) {
        let now = unix_seconds((self.clock)());
        let target = &mut self.targets[t];
        target.first_started.get_or_insert(start);
        let due: Vec<(Kind, Vec<ListQuery>)> = target
            .discoveries
            .iter_mut()
            .filter(|d| everything || d.next_due <= start)
            .map(|d| {
                d.next_due = due_after(start, self.schedule.interval);
                (d.kind, queries(d.kind, &d.rule, now))
            })
            .collect();
        let listing = !due.is_empty();
        target.cycle = Some(Cycle {
            start,
            everything,
            listing,
            queue: VecDeque::new(),
            active: 0,
            failures: 0,
        });
        if listing {
            // A target's listings run one after the other (one call in flight, within any
            // `concurrency`), and its reads once they are in: they decide what is due.
            let (id, source, region) = (target.id, target.source.clone(), target.region.clone());
            let (telemetry, timeout) = (self.telemetry.clone(), self.schedule.request_timeout);
            self.work.push(
                async move {
                    let mut results = Vec::with_capacity(due.len());
                    for (kind, queries) in due {
                        let result = list(&source, queries, &region, &telemetry, timeout).await;
                        results.push((kind, result));
                    }
                    Done::Listed {
                        target: id,
                        results,
                    }
                }
                .boxed(),
            );
        } else {
            self.queue_reads(t);
        }
    }

    /// Queues target `t`'s reads due in its cycle, starts them, and ends the cycle if none is.
    fn queue_reads(&mut self, t: usize) {
        let target = &mut self.targets[t];
        if let Some(cycle) = &mut target.cycle {
            cycle.listing = false;
            cycle.queue = target.watched.due(cycle.start, cycle.everything).into();
        }
        self.start_reads(t);
    }

    /// Applies a finished call; returns whether it failed.
    fn finish(&mut self, done: Done) -> bool {
        let id = match &done {
            Done::Listed { target, .. } | Done::Read { target, .. } => *target,
        };
        // A target a reload removed: what it asked no longer matters.
        let Some(t) = self.targets.iter().position(|t| t.id == id) else {
            return false;
        };
        let failed = match done {
            Done::Listed { results, .. } => {
                let start = self.targets[t].cycle.as_ref().map(|c| c.start);
                let start = start.unwrap_or_else(Instant::now);
                let mut failed = false;
                for (kind, result) in results {
                    failed |= result.is_err();
                    self.apply_listing(t, kind, result, start);
                }
                self.note_failure(t, failed);
                self.queue_reads(t);
                failed
            }
            Done::Read {
                key, result, at, ..
            } => {
                let failed = result.is_err();
                self.apply_read(t, &key, result, at);
                self.note_failure(t, failed);
                if let Some(cycle) = &mut self.targets[t].cycle {
                    cycle.active = cycle.active.saturating_sub(1);
                }
                self.start_reads(t);
                failed
            }
        };
        failed
    }

    fn note_failure(&mut self, t: usize, failed: bool) {
        if let Some(cycle) = &mut self.targets[t].cycle {
            cycle.failures += usize::from(failed);
        }
    }

    /// Starts reads from target `t`'s queue while it has fewer than `concurrency` in flight;
    /// ends its cycle when nothing is left.
    fn start_reads(&mut self, t: usize) {
        let target = &mut self.targets[t];
        let Some(cycle) = &mut target.cycle else {
            return;
        };
        if cycle.listing {
            return;
        }
        while cycle.active < self.schedule.concurrency {
            let Some(key) = cycle.queue.pop_front() else {
                break;
            };
            // A resource can drop out between being queued and its turn (a 404, a reload).
            let Some(resource) = target.watched.resources.get(&key) else {
                continue;
            };
            cycle.active += 1;
            let future = read(
                target.source.clone(),
                resource.kind,
                resource.read_as().to_owned(),
                target.region.clone(),
                self.telemetry.clone(),
                self.schedule.request_timeout,
                self.clock,
            );
            let id = target.id;
            self.work.push(
                future
                    .map(move |(result, at)| Done::Read {
                        target: id,
                        key,
                        result,
                        at,
                    })
                    .boxed(),
            );
        }
        if cycle.active == 0 && cycle.queue.is_empty() {
            self.end_cycle(t);
        }
    }

    /// Ends target `t`'s cycle: its length and the poll gauges recorded, its next cycle set,
    /// the result published.
    fn end_cycle(&mut self, t: usize) {
        let now = Instant::now();
        let idle = self.idle(now);
        let target = &mut self.targets[t];
        let Some(cycle) = target.cycle.take() else {
            return;
        };
        let took = now.saturating_duration_since(cycle.start).as_secs_f64();
        let ended = unix_seconds((self.clock)());
        let account = target.account().to_owned();
        if let Some((_, _, before)) = &target.last_cycle {
            if *before != account {
                self.telemetry.forget_target(before, &target.region);
            }
        }
        self.telemetry
            .observe_target_cycle(&account, &target.region, took);
        target.last_cycle = Some((took, ended, account.clone()));
        target.next_cycle = target.next_due().unwrap_or(idle);
        let resources = target.watched.resources.len();
        // Calls, not resources: a discovered resource that answered 404 is no longer watched.
        let failed = cycle.failures;
        let region = target.region.clone();
        self.cycles += 1;
        let finished: Option<Vec<(f64, f64)>> = self
            .targets
            .iter()
            .map(|t| {
                t.last_cycle
                    .as_ref()
                    .map(|(took, ended, _)| (*took, *ended))
            })
            .collect();
        if let Some(finished) = finished {
            let longest = finished.iter().map(|(took, _)| *took).fold(0.0, f64::max);
            let oldest = finished
                .iter()
                .map(|(_, ended)| *ended)
                .fold(f64::INFINITY, f64::min);
            self.telemetry.observe_cycle(longest, oldest);
        }
        // Published before it is logged, so whoever reads the log line sees this snapshot served;
        // unless assembling is slow and the last snapshot recent (see `PUBLISH_SHARE`). The
        // snapshot that makes the exporter ready is never held back.
        let readies = !self.ready && self.targets.iter().all(|t| t.last_cycle.is_some());
        self.unpublished = true;
        if readies || self.publish_due().is_some_and(|at| now >= at) {
            self.publish();
        }
        tracing::debug!(
            account_id = account,
            region,
            resources,
            failed,
            seconds = took,
            "target's poll cycle finished"
        );
        if self.cycles == 1 && self.targets.len() == 1 {
            tracing::info!(resources, failed, "first poll cycle finished; ready");
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
        // Asked only of what a listing shows new, and only of targets that can list the same
        // ARN (its account, in the same region): a steady listing of a large fleet costs
        // nothing here.
        let (before, rest) = self.targets.split_at_mut(t);
        let Some((target, after)) = rest.split_first_mut() else {
            return;
        };
        let region = target.region.clone();
        let theirs = |summary: &Record| {
            let Some(arn) = summary.arn() else {
                return false;
            };
            let account = crate::bedrock::account_of_arn(arn).unwrap_or_default();
            before
                .iter()
                .chain(after.iter())
                .filter(|o| o.region == region && [account, ""].contains(&o.account()))
                .any(|o| o.watches(summary.kind(), arn))
        };
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
                    Listing {
                        kind,
                        records: listing,
                        at: unix_seconds((self.clock)()),
                    },
                    &target.region,
                    &target.role_account,
                    &|summary| {
                        theirs(summary) || !Self::owns_listed(&self.shard, &self.foreign, summary)
                    },
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

    fn apply_read(&mut self, t: usize, key: &Key, result: Result<Record, FetchError>, at: f64) {
        let target = &mut self.targets[t];
        let Some(start) = target.cycle.as_ref().map(|c| c.start) else {
            return;
        };
        if let (Err(error), Some(resource)) = (&result, target.watched.resources.get(key)) {
            let operation = key.kind.get_operation().as_str();
            let error_kind = error.kind().as_str();
            if error.kind() == ErrorKind::NotFound && resource.origin == Origin::Discovered {
                tracing::warn!(
                    operation,
                    identifier = %resource.identifier,
                    region = %target.region,
                    error_kind,
                    error = error.message(),
                    "Bedrock read found nothing; the discovered resource drops out and is read \
                     again only when its listing shows it changed"
                );
            } else {
                tracing::warn!(
                    operation,
                    identifier = %resource.identifier,
                    region = %target.region,
                    error_kind,
                    error = error.message(),
                    "Bedrock read failed"
                );
            }
        }
        target
            .watched
            .apply_read(key, result, at, start, &self.schedule);
        // A configured resource whose ARN a read just told: another target of its account and
        // region that discovered that ARN lets it go, so it is never two sets of series.
        let arn = target
            .watched
            .resources
            .get(key)
            .filter(|r| r.origin == Origin::Configured)
            .and_then(|r| r.arn.clone());
        if let Some(arn) = arn {
            let discovered = Key {
                kind: key.kind,
                id: arn,
            };
            for (other, target) in self.targets.iter_mut().enumerate() {
                if other != t
                    && target
                        .watched
                        .resources
                        .get(&discovered)
                        .is_some_and(|r| r.origin == Origin::Discovered)
                {
                    target.watched.resources.remove(&discovered);
                }
            }
        }
    }

    /// Assembles and publishes what the watched sets hold now.
    fn publish(&mut self) {
        self.published = Instant::now();
        self.unpublished = false;
        let ready_at = self.ready_at();
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
        self.snapshot.send_replace(Arc::new(
            Snapshot::new(assembled.text, assembled.views, discoveries, self.cycles)
                .ready_from(ready_at),
        ));
        self.publish_cost = self.published.elapsed();
        // What the cycles' listings and reads freed, and the last snapshot if none holds it.
        tokio::task::spawn_blocking(crate::heap::release_free_memory);
    }

    /// From when the exporter is ready: at once when every target has finished a cycle (and
    /// ever after); else when the last of them will have spent `interval` in its first.
    fn ready_at(&mut self) -> Option<Instant> {
        self.ready |= self.targets.iter().all(|t| t.last_cycle.is_some());
        if self.ready {
            return Some(self.published);
        }
        self.targets
            .iter()
            .filter(|t| t.last_cycle.is_none())
            .map(|t| {
                t.first_started
                    .map(|started| due_after(started, self.schedule.interval))
            })
            .collect::<Option<Vec<Instant>>>()?
            .into_iter()
            .max()
    }
}

/// A new target id.
fn next_target_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
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

/// Lists every page of each query (all of one kind) in turn, following the tokens; each page is
/// one call, counted and timed, and checked at [`boundary`]. The first failure ends the
/// listing, and so does a listing that would not end: a token repeated within a query, more
/// than [`LIST_PAGES_MAX`] pages, or more than [`LIST_TIME_MAX`]. A resource listed twice is
/// kept once.
async fn list<S: BedrockSource>(
    source: &S,
    queries: Vec<ListQuery>,
    region: &str,
    telemetry: &Telemetry,
    request_timeout: Duration,
) -> Result<Vec<Record>, FetchError> {
    let started = Instant::now();
    let deadline = due_after(started, LIST_TIME_MAX);
    let mut pages = 0;
    let mut records = Vec::new();
    let mut listed: HashSet<String> = HashSet::new();
    let count = queries.len();
    for (q, query) in queries.into_iter().enumerate() {
        let more_queries = q + 1 < count;
        let operation = query.kind.list_operation();
        let mut tokens: HashSet<String> = HashSet::new();
        let mut next_token = None;
        loop {
            pages += 1;
            let call_started = Instant::now();
            let bound = due_after(call_started, request_timeout + READ_GRACE).min(deadline);
            let page =
                match tokio::time::timeout_at(bound, source.list_page(&query, next_token)).await {
                    Ok(page) => page,
                    Err(_) if bound == deadline => Err(unbounded(format!(
                        "the listing did not end within {}",
                        config::show_duration(LIST_TIME_MAX)
                    ))),
                    Err(_) => Err(no_answer(request_timeout)),
                };
            let (page, capped) = boundary::page(query.kind, page);
            // A page whose token cannot be followed is the call that failed the listing, and
            // is counted so: the operator's failure rate and alert see a listing that would
            // not end as they see one that errs.
            let page = page.and_then(|page| match &page.next_token {
                Some(token) if tokens.contains(token) => Err(unbounded(
                    "the listing's nextToken repeated an earlier one".to_owned(),
                )),
                next if pages == LIST_PAGES_MAX && (next.is_some() || more_queries) => {
                    Err(unbounded(format!(
                        "the listing did not end within {LIST_PAGES_MAX} pages"
                    )))
                }
                _ => Ok(page),
            });
            observe(telemetry, operation, region, call_started, &page, capped);
            let page = page?;
            records.extend(
                page.records
                    .into_iter()
                    .filter(|r| r.arn().is_some_and(|arn| listed.insert(arn.to_owned()))),
            );
            match page.next_token {
                None => break,
                Some(token) => {
                    tokens.insert(token.clone());
                    next_token = Some(token);
                }
            }
        }
    }
    Ok(records)
}

/// A listing stopped for not ending.
fn unbounded(message: String) -> FetchError {
    FetchError::new(ErrorKind::Other, message)
}

/// Counts and times one call, and what its answer was cut to.
fn observe<T>(
    telemetry: &Telemetry,
    operation: Operation,
    region: &str,
    started: Instant,
    result: &Result<T, FetchError>,
    capped: Capped,
) {
    telemetry.observe_call(
        operation,
        region,
        started.elapsed().as_secs_f64(),
        result.as_ref().err().map(FetchError::kind),
    );
    let caps = [
        (
            result.as_ref().err().is_some_and(FetchError::is_too_large),
            Cap::Body,
        ),
        (capped.series, Cap::Series),
        (capped.message, Cap::Message),
    ];
    for (cut, cap) in caps {
        if cut {
            telemetry.observe_capped(operation, cap);
        }
    }
}

/// Reads one resource, counted and timed and checked at [`boundary`]; returns the result and
/// when it ended (Unix time).
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
    let (result, capped) = boundary::read(kind, &identifier, result);
    observe(
        &telemetry,
        kind.get_operation(),
        &region,
        started,
        &result,
        capped,
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
