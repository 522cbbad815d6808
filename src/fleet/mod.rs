//! The watched set: every resource the exporter reads, of any kind, configured or discovered, keyed so
//! that each is watched once, with what was last learned of it and when it is due again. Pure
//! state: [`crate::poller`] keeps it current.
//!
//! - [`Resource`]: one watched resource: its last record, health and schedule.
//! - [`WatchedSet`]: a target's resources by [`Key`].
//! - [`reconcile`]: a listing applied to a watched set (pure: no I/O, no clock).

pub mod reconcile;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::bedrock::{account_of_arn, ErrorKind, FetchError, Kind, Record};
use crate::config::Discovery;

/// How often resources are read and listings made.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Running jobs, creating models, anything whose last read failed, and listings.
    pub interval: Duration,
    /// Finished jobs and settled models that are configured, and discovered models.
    pub terminal_interval: Duration,
    /// API calls in flight at once, per target.
    pub concurrency: usize,
    /// Bound on one call (one read, one List page).
    pub request_timeout: Duration,
}

/// `start + wait`, or `start` itself where that instant would overflow the clock: config bounds
/// the intervals, but the scheduler must not panic whatever it is given.
pub fn due_after(start: Instant, wait: Duration) -> Instant {
    start.checked_add(wait).unwrap_or(start)
}

/// Where a watched resource comes from. A resource both configured and discovered is
/// configured: it stays when a listing no longer returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Configured,
    Discovered,
}

/// A resource's key in its target's [`WatchedSet`]: the identifier as configured, or the ARN a
/// listing gave.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub kind: Kind,
    pub id: String,
}

/// One watched resource and what the exporter knows of it.
///
/// Its fields are read anywhere; they change only through its methods (and [`reconcile`]),
/// which bump [`Resource::version`], so the exposition renders it again.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Unique for the life of the process.
    pub id: u64,
    /// Bumped at every change of what the exposition or the index page shows.
    pub version: u64,
    pub kind: Kind,
    pub origin: Origin,
    /// The `identifier` label and the name Get is called with: as configured (name or ARN), or
    /// for a discovered resource its ARN.
    pub identifier: String,
    pub region: String,
    /// The `account_id` label: of the ARN once one is known (configured, listed or read), else
    /// the target's role account, else empty. Kept after a 404, so the series keeps its labels.
    pub account: String,
    /// The resource's ARN, once known.
    pub arn: Option<String>,
    /// The last record: read, or (until the first read) listed. `None` before either, and
    /// after a 404.
    pub record: Option<Record>,
    /// Whether the last read succeeded.
    pub up: bool,
    /// Unix time of the last successful read.
    pub last_success: Option<f64>,
    /// The error of the last read, if it failed.
    pub last_error: Option<FetchError>,
    /// Status and `lastModifiedTime` as of the last successful read: a summary that differs
    /// means the resource changed since.
    pub read_marker: Option<Marker>,
    /// When to read it next; `None`: only when a listing shows it changed.
    pub next_due: Option<Instant>,
}

/// What a summary and a read share that tells whether a resource changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub status: Option<String>,
    pub last_modified: Option<f64>,
}

impl Marker {
    pub fn of(record: &Record) -> Marker {
        Marker {
            status: record.status().map(str::to_owned),
            last_modified: record.last_modified(),
        }
    }

    /// Whether `record` (a summary) shows the same status and modification time.
    pub fn shows(&self, record: &Record) -> bool {
        self.status.as_deref() == record.status() && self.last_modified == record.last_modified()
    }
}

impl Resource {
    /// A configured identifier, not read yet and due at `now`. `role_account` is the account
    /// to report until an ARN tells it.
    pub fn configured(
        kind: Kind,
        identifier: &str,
        region: &str,
        role_account: &str,
        now: Instant,
    ) -> Resource {
        let arn = identifier
            .starts_with("arn:")
            .then(|| identifier.to_owned());
        Resource {
            id: next_id(),
            version: 0,
            kind,
            origin: Origin::Configured,
            identifier: identifier.to_owned(),
            region: region.to_owned(),
            account: account_of_arn(identifier)
                .unwrap_or(role_account)
                .to_owned(),
            arn,
            record: None,
            up: false,
            last_success: None,
            last_error: None,
            read_marker: None,
            next_due: Some(now),
        }
    }

    /// A resource a listing found: exported from its summary until its first read.
    pub fn discovered(summary: Record, arn: &str, region: &str, role_account: &str) -> Resource {
        let identifier = summary.name().unwrap_or(arn).to_owned();
        Resource {
            id: next_id(),
            version: 0,
            kind: summary.kind(),
            origin: Origin::Discovered,
            identifier,
            region: region.to_owned(),
            account: account_of_arn(arn).unwrap_or(role_account).to_owned(),
            arn: Some(arn.to_owned()),
            record: Some(summary),
            up: false,
            last_success: None,
            last_error: None,
            read_marker: None,
            next_due: None,
        }
    }

    /// What Get is called with: the ARN of a discovered resource (it is exact), the identifier
    /// of a configured one (as the operator wrote it).
    pub fn read_as(&self) -> &str {
        match (self.origin, &self.arn) {
            (Origin::Discovered, Some(arn)) => arn,
            _ => &self.identifier,
        }
    }

    /// Notes a change of what the resource shows.
    pub fn touch(&mut self) {
        self.version += 1;
    }

    /// Records a successful read: the record, its ARN and the account the ARN names.
    pub fn read(&mut self, record: Record, at: f64) {
        self.touch();
        if let Some(arn) = record.arn() {
            if let Some(account) = account_of_arn(arn) {
                if account != self.account {
                    self.account = account.to_owned();
                }
            }
            if self.arn.as_deref() != Some(arn) {
                self.arn = Some(arn.to_owned());
            }
        }
        self.read_marker = Some(Marker::of(&record));
        self.record = Some(record);
        self.up = true;
        self.last_success = Some(at);
        self.last_error = None;
    }

    /// Records a failed read; a 404 forgets the record (its series go).
    pub fn failed(&mut self, error: FetchError) {
        self.touch();
        self.up = false;
        if error.kind() == ErrorKind::NotFound {
            self.record = None;
            self.read_marker = None;
        }
        self.last_error = Some(error);
    }

    /// When to read again after a read in a cycle that started at `start`: a failed or
    /// unsettled resource every `interval`; a settled one at `terminal_interval`, except a
    /// discovered one its listing watches (read again only when its summary changes: every
    /// kind but those that [re-read when settled](crate::bedrock::KindSpec::reread_when_settled)).
    fn reschedule(&mut self, start: Instant, schedule: &Schedule) {
        let settled = self.up && self.record.as_ref().is_some_and(Record::is_settled);
        let watched_by_listing =
            self.origin == Origin::Discovered && !self.kind.spec().reread_when_settled;
        self.next_due = match (settled, watched_by_listing) {
            (false, _) => Some(due_after(start, schedule.interval)),
            (true, true) => None,
            (true, false) => Some(due_after(start, schedule.terminal_interval)),
        };
    }

    /// The status shown on the index page.
    pub fn status(&self) -> Option<&str> {
        self.record.as_ref().and_then(Record::status)
    }
}

/// A new resource id.
fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A target's watched resources, by key.
#[derive(Debug, Clone, Default)]
pub struct WatchedSet {
    pub resources: BTreeMap<Key, Resource>,
    /// Discovered resources that answered 404 while their listing still returned them (the
    /// service's List and Get disagree), with what the listing showed: not watched again until
    /// a listing shows them changed, so that each costs one Get, not one per interval. Holds
    /// only what the last listing returned ([`reconcile`] prunes the rest).
    pub gone: BTreeMap<Key, Marker>,
}

impl WatchedSet {
    /// The configured identifiers of a target (by kind), each due at `now`.
    pub fn configured(
        lists: &BTreeMap<Kind, Vec<String>>,
        region: &str,
        role_account: &str,
        now: Instant,
    ) -> WatchedSet {
        let resources = lists
            .iter()
            .flat_map(|(&kind, ids)| ids.iter().map(move |id| (kind, id)))
            .map(|(kind, id)| {
                let key = Key {
                    kind,
                    id: id.clone(),
                };
                (
                    key,
                    Resource::configured(kind, id, region, role_account, now),
                )
            })
            .collect();
        WatchedSet {
            resources,
            gone: BTreeMap::new(),
        }
    }

    /// Takes a reloaded list of configured identifiers: those that stay keep their state, new
    /// ones are due at `now`, and removed ones drop out.
    pub fn configure(
        &mut self,
        lists: &BTreeMap<Kind, Vec<String>>,
        region: &str,
        role_account: &str,
        now: Instant,
    ) {
        let wanted: std::collections::HashSet<Key> = lists
            .iter()
            .flat_map(|(&kind, ids)| ids.iter().map(move |id| (kind, id)))
            .map(|(kind, id)| Key {
                kind,
                id: id.clone(),
            })
            .collect();
        self.resources
            .retain(|key, r| r.origin != Origin::Configured || wanted.contains(key));
        for key in wanted {
            if let std::collections::btree_map::Entry::Vacant(entry) = self.resources.entry(key) {
                let key = entry.key();
                let resource = Resource::configured(key.kind, &key.id, region, role_account, now);
                entry.insert(resource);
            }
        }
    }

    /// Drops every resource a discovery of `kind` found (the discovery is gone).
    pub fn forget_discovered(&mut self, kind: Kind) {
        self.resources
            .retain(|_, r| r.kind != kind || r.origin != Origin::Discovered);
        self.gone.retain(|key, _| key.kind != kind);
    }

    /// Brings due times forward to what shorter intervals give from `now`.
    pub fn shorten(&mut self, now: Instant, schedule: &Schedule) {
        for resource in self.resources.values_mut() {
            let settled = resource.up && resource.record.as_ref().is_some_and(Record::is_settled);
            let wait = if settled {
                schedule.terminal_interval
            } else {
                schedule.interval
            };
            if let Some(due) = &mut resource.next_due {
                *due = (*due).min(due_after(now, wait));
            }
        }
    }

    /// The resources due at `start` (all of them with `everything`).
    pub fn due(&self, start: Instant, everything: bool) -> Vec<Key> {
        self.resources
            .iter()
            .filter(|(_, r)| everything || r.next_due.is_some_and(|due| due <= start))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Marks resources to be read in the cycle that started at `start`.
    pub fn read_now(&mut self, keys: &[Key], start: Instant) {
        for key in keys {
            if let Some(resource) = self.resources.get_mut(key) {
                resource.next_due = Some(start);
            }
        }
    }

    /// Applies a read of `key` that ended at Unix time `at`, in a cycle that started at `start`.
    /// A discovered resource that answers 404 drops out: it no longer exists. It is remembered
    /// in [`WatchedSet::gone`] with what it last showed, for its listing may still return it.
    pub fn apply_read(
        &mut self,
        key: &Key,
        result: Result<Record, FetchError>,
        at: f64,
        start: Instant,
        schedule: &Schedule,
    ) {
        let Some(resource) = self.resources.get_mut(key) else {
            return;
        };
        match result {
            Ok(record) => resource.read(record, at),
            Err(error)
                if error.kind() == ErrorKind::NotFound && resource.origin == Origin::Discovered =>
            {
                let shown = resource.record.as_ref().map_or(
                    Marker {
                        status: None,
                        last_modified: None,
                    },
                    Marker::of,
                );
                self.resources.remove(key);
                self.gone.insert(key.clone(), shown);
                return;
            }
            Err(error) => resource.failed(error),
        }
        resource.reschedule(start, schedule);
    }

    /// How many resources of `kind` are watched because a listing found them.
    pub fn discovered(&self, kind: Kind) -> usize {
        self.resources
            .values()
            .filter(|r| r.kind == kind && r.origin == Origin::Discovered)
            .count()
    }
}

/// What identifies a target across config reloads: where it reads, and as whom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetKey {
    /// The region it reads, resolved.
    pub region: String,
    pub role_arn: Option<String>,
    pub endpoint_url: Option<String>,
}

impl TargetKey {
    pub fn of(region: &str, target: &crate::config::Target) -> TargetKey {
        TargetKey {
            region: region.to_owned(),
            role_arn: target.role_arn.clone(),
            endpoint_url: target.endpoint_url.clone(),
        }
    }
}

/// One kind's discovery in a target: its filters, and how its last listing went.
#[derive(Debug, Clone)]
pub struct DiscoveryState {
    pub kind: Kind,
    pub rule: Discovery,
    /// The `account_id` label: of the ARNs listed once a listing returned one, else the
    /// target's role account, else empty.
    pub account: String,
    /// Whether the last listing (every page) succeeded; `None` before the first.
    pub up: Option<bool>,
    /// The error of the last listing, if it failed.
    pub last_error: Option<FetchError>,
    /// When to list next.
    pub next_due: Instant,
}

impl DiscoveryState {
    /// A discovery not yet listed, due at `now`.
    pub fn new(kind: Kind, rule: Discovery, role_account: &str, now: Instant) -> DiscoveryState {
        DiscoveryState {
            kind,
            rule,
            account: role_account.to_owned(),
            up: None,
            last_error: None,
            next_due: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::JobRecord;

    const SCHEDULE: Schedule = Schedule {
        interval: Duration::from_secs(60),
        terminal_interval: Duration::from_secs(600),
        concurrency: 4,
        request_timeout: Duration::from_secs(10),
    };

    fn job(status: &str) -> Record {
        Record::Job(JobRecord {
            job_arn: Some("arn:aws:bedrock:us-east-1:210987654321:model-customization-job/amazon.titan-text-express-v1:0:8k/abcdefghijkl".to_owned()),
            job_name: Some("job-a".to_owned()),
            status: Some(status.to_owned()),
            ..JobRecord::default()
        })
    }

    fn discovered() -> (WatchedSet, Key) {
        let summary = job("InProgress").summary();
        let arn = summary.arn().unwrap_or_default().to_owned();
        let key = Key {
            kind: Kind::Job,
            id: arn.clone(),
        };
        let mut set = WatchedSet::default();
        set.resources.insert(
            key.clone(),
            Resource::discovered(summary, &arn, "us-east-1", ""),
        );
        (set, key)
    }

    #[test]
    fn a_discovered_job_that_answers_404_drops_out_and_a_configured_one_stays() {
        let start = Instant::now();
        let (mut set, key) = discovered();
        let gone = FetchError::new(ErrorKind::NotFound, "ResourceNotFoundException: gone");
        set.apply_read(&key, Err(gone.clone()), 1.0, start, &SCHEDULE);
        assert!(set.resources.is_empty());

        let lists = BTreeMap::from([(Kind::Job, vec!["job-a".to_owned()])]);
        let mut set = WatchedSet::configured(&lists, "us-east-1", "", start);
        let key = Key {
            kind: Kind::Job,
            id: "job-a".to_owned(),
        };
        set.apply_read(&key, Ok(job("Completed")), 1.0, start, &SCHEDULE);
        set.apply_read(&key, Err(gone), 2.0, start, &SCHEDULE);
        let resource = &set.resources[&key];
        assert!(!resource.up && resource.record.is_none());
        assert_eq!(resource.account, "210987654321", "the account stays known");
        assert_eq!(resource.last_success, Some(1.0));
    }

    #[test]
    fn reads_are_scheduled_by_origin_and_state() {
        let start = Instant::now();
        let (mut set, key) = discovered();
        set.apply_read(&key, Ok(job("InProgress")), 1.0, start, &SCHEDULE);
        assert_eq!(
            set.resources[&key].next_due,
            Some(start + SCHEDULE.interval)
        );
        set.apply_read(&key, Ok(job("Completed")), 1.0, start, &SCHEDULE);
        assert_eq!(set.resources[&key].next_due, None, "its listing watches it");
        let throttled = FetchError::new(ErrorKind::Throttling, "ThrottlingException");
        set.apply_read(&key, Err(throttled), 1.0, start, &SCHEDULE);
        assert_eq!(
            set.resources[&key].next_due,
            Some(start + SCHEDULE.interval)
        );
        assert!(set.resources[&key].record.is_some(), "last values stay");

        let lists = BTreeMap::from([(Kind::Job, vec!["job-a".to_owned()])]);
        let mut set = WatchedSet::configured(&lists, "us-east-1", "", start);
        let key = Key {
            kind: Kind::Job,
            id: "job-a".to_owned(),
        };
        set.apply_read(&key, Ok(job("Completed")), 1.0, start, &SCHEDULE);
        assert_eq!(
            set.resources[&key].next_due,
            Some(start + SCHEDULE.terminal_interval)
        );
    }

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
