//! Discovery applied to a watched set, as pure functions: the queries a discovery lists, and a
//! listing reconciled with what is watched (what is new, what changed and must be read, what
//! dropped out). No I/O and no clock: the poller passes the time in.

use std::collections::HashMap;

use super::{Key, Origin, Resource, WatchedSet};
use crate::bedrock::{account_of_arn, Kind, ListQuery, Record};
use crate::config::Discovery;

/// The listings one kind's discovery makes, at Unix time `now`.
///
/// One listing of what was created within `created_within` (if set); for a kind that
/// [lists running ones of any age](crate::bedrock::KindSpec::lists_running_of_any_age) (jobs),
/// also those in each running status created before that (the List API takes one status at a
/// time; the listings never overlap).
pub fn queries(kind: Kind, rule: &Discovery, now: f64) -> Vec<ListQuery> {
    let spec = kind.spec();
    let cutoff = rule.created_within.map(|d| now - d.as_secs_f64());
    let base = ListQuery {
        name_contains: rule.name_contains.clone(),
        base_model: rule
            .base_model
            .clone()
            .filter(|_| spec.discover_keys.contains(&"base_model")),
        created_after: cutoff,
        ..ListQuery::all(kind)
    };
    let mut queries = vec![base.clone()];
    if let (true, Some(cutoff)) = (spec.lists_running_of_any_age, cutoff) {
        for &status in spec.running {
            queries.push(ListQuery {
                created_after: None,
                created_before: Some(cutoff),
                status: Some(status.to_owned()),
                ..base.clone()
            });
        }
    }
    queries
}

/// What a listing changed in a watched set.
#[derive(Debug, Default, PartialEq)]
pub struct Reconciled {
    /// Resources to read in this cycle: new ones, and those whose summary shows a change.
    pub to_read: Vec<Key>,
    pub added: usize,
    pub removed: usize,
}

/// A complete listing of one kind (every page), and the Unix time it ended.
#[derive(Debug)]
pub struct Listing {
    pub kind: Kind,
    pub records: Vec<Record>,
    pub at: f64,
}

/// Applies a complete listing to `set`.
///
/// - A configured resource the listing returns (matched by ARN, or by name while its ARN is not
///   known) takes the listing's news; it never becomes a second, discovered resource.
/// - A discovered resource the listing no longer returns drops out.
/// - A new one is added, exported from its summary until read; unless `claimed` says it is
///   another's (a target that already watches its ARN, a shard that reads it), or it answered
///   404 and its summary shows nothing new since ([`WatchedSet::gone`]).
/// - A resource whose summary differs from its last read (status, `lastModifiedTime`) takes the
///   summary's fields and is read again; an unchanged one is left as it is.
/// - A summary that lacks nothing its kind exports ([`Record::summary_lacks`]) is not read again:
///   it counts as a read, at the listing's time.
pub fn reconcile(
    set: &mut WatchedSet,
    listing: Listing,
    region: &str,
    role_account: &str,
    claimed: &dyn Fn(&Record) -> bool,
) -> Reconciled {
    let Listing {
        kind,
        records: listing,
        at,
    } = listing;
    // The summaries stay where the listing put them; the map holds only their places, so that
    // it stays small however large a record is (it is most of a listing's memory otherwise).
    let mut listing: Vec<Option<Record>> = listing
        .into_iter()
        .filter(|r| r.kind() == kind)
        .map(Some)
        .collect();
    let mut listed: HashMap<String, usize> = HashMap::with_capacity(listing.len());
    for (place, summary) in listing.iter().enumerate() {
        if let Some(arn) = summary.as_ref().and_then(Record::arn) {
            listed.insert(arn.to_owned(), place);
        }
    }
    let mut outcome = Reconciled::default();
    set.gone
        .retain(|key, _| key.kind != kind || listed.contains_key(&key.id));

    let unknown_arn = set
        .resources
        .values()
        .any(|r| r.kind == kind && r.origin == Origin::Configured && r.arn.is_none());
    let by_name: HashMap<String, String> = if unknown_arn {
        listed
            .iter()
            .filter_map(|(arn, &place)| {
                let name = listing[place].as_ref()?.name()?;
                Some((name.to_owned(), arn.clone()))
            })
            .collect()
    } else {
        HashMap::new()
    };

    set.resources.retain(|key, resource| {
        if resource.kind != kind {
            return true;
        }
        let arn = resource
            .arn
            .clone()
            .or_else(|| by_name.get(&resource.identifier).cloned());
        let summary = arn
            .as_ref()
            .and_then(|arn| listed.remove(arn))
            .and_then(|place| listing[place].take());
        match (summary, resource.origin) {
            (Some(summary), _) => {
                if resource.arn.is_none() {
                    resource.touch();
                    resource.account = account_of_arn(summary.arn().unwrap_or_default())
                        .map_or_else(|| resource.account.clone(), str::to_owned);
                    resource.arn = arn;
                }
                if take_summary(resource, &summary) {
                    if summary.summary_lacks() {
                        outcome.to_read.push(key.clone());
                    } else {
                        resource.read(summary, at);
                    }
                }
                true
            }
            (None, Origin::Configured) => true,
            (None, Origin::Discovered) => {
                outcome.removed += 1;
                false
            }
        }
    });

    for (arn, place) in listed {
        let Some(summary) = listing[place].take() else {
            continue;
        };
        if claimed(&summary) {
            continue;
        }
        let key = Key {
            kind,
            id: arn.clone(),
        };
        if set
            .gone
            .get(&key)
            .is_some_and(|shown| shown.shows(&summary))
        {
            continue;
        }
        set.gone.remove(&key);
        let lacks = summary.summary_lacks();
        let mut resource = Resource::discovered(summary.clone(), &arn, region, role_account);
        if lacks {
            outcome.to_read.push(key.clone());
        } else {
            resource.read(summary, at);
        }
        set.resources.insert(key, resource);
        outcome.added += 1;
    }
    outcome
}

/// Brings a resource's record up to a summary when the summary shows a change since the last
/// read; returns whether it did (and so whether the resource must be read again).
fn take_summary(resource: &mut Resource, summary: &Record) -> bool {
    if resource
        .read_marker
        .as_ref()
        .is_some_and(|m| m.shows(summary))
    {
        return false;
    }
    let changed = match &mut resource.record {
        Some(record) if record.summary() == *summary => false,
        Some(record) => {
            record.update_from_summary(summary);
            true
        }
        None => {
            resource.record = Some(summary.clone());
            true
        }
    };
    if changed {
        resource.touch();
    }
    true
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::bedrock::{JobRecord, ModelRecord};

    const REGION: &str = "us-east-1";

    /// A listing of `kind` that ended at Unix time 1.
    fn of(kind: Kind, records: Vec<Record>) -> Listing {
        Listing {
            kind,
            records,
            at: 1.0,
        }
    }

    fn arn(name: &str) -> String {
        format!("arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/{name}")
    }

    /// A job as GetModelCustomizationJob returns it.
    fn job(name: &str, status: &str, modified: f64) -> Record {
        Record::Job(JobRecord {
            job_arn: Some(arn(name)),
            job_name: Some(name.to_owned()),
            status: Some(status.to_owned()),
            creation_time: Some(1_000.0),
            last_modified_time: Some(modified),
            training_loss: Some(0.5),
            ..JobRecord::default()
        })
    }

    fn listing(jobs: &[(&str, &str, f64)]) -> Vec<Record> {
        jobs.iter()
            .map(|(name, status, modified)| job(name, status, *modified).summary())
            .collect()
    }

    fn nobody(_: &Record) -> bool {
        false
    }

    fn key(name: &str) -> Key {
        Key {
            kind: Kind::Job,
            id: arn(name),
        }
    }

    /// A set that has discovered and read `jobs`.
    fn watching(jobs: &[(&str, &str, f64)]) -> WatchedSet {
        let mut set = WatchedSet::default();
        reconcile(
            &mut set,
            Listing {
                kind: Kind::Job,
                records: listing(jobs),
                at: 1.0,
            },
            REGION,
            "",
            &nobody,
        );
        for (name, status, modified) in jobs {
            let resource = set.resources.get_mut(&key(name)).unwrap();
            resource.read(job(name, status, *modified), 5_000.0);
        }
        set
    }

    #[test]
    fn new_resources_are_exported_from_their_summary_and_read() {
        let mut set = WatchedSet::default();
        let out = reconcile(
            &mut set,
            of(
                Kind::Job,
                listing(&[("a", "InProgress", 10.0), ("b", "Completed", 20.0)]),
            ),
            REGION,
            "",
            &nobody,
        );
        assert_eq!(out.added, 2);
        assert_eq!(out.to_read.len(), 2);
        let a = &set.resources[&key("a")];
        assert_eq!(a.origin, Origin::Discovered);
        assert_eq!(a.identifier, "a");
        assert_eq!(a.read_as(), arn("a"));
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.status(), Some("InProgress"));
        assert!(!a.up, "not read yet");
    }

    #[test]
    fn what_a_listing_no_longer_returns_drops_out() {
        let mut set = watching(&[("a", "Completed", 10.0), ("b", "Completed", 20.0)]);
        let out = reconcile(
            &mut set,
            of(Kind::Job, listing(&[("b", "Completed", 20.0)])),
            REGION,
            "",
            &nobody,
        );
        assert_eq!(out.removed, 1);
        assert!(!set.resources.contains_key(&key("a")));
        assert!(set.resources.contains_key(&key("b")));
    }

    #[test]
    fn an_unchanged_finished_job_costs_no_read() {
        let mut set = watching(&[("a", "Completed", 10.0)]);
        let before = set.resources[&key("a")].record.clone();
        let out = reconcile(
            &mut set,
            of(Kind::Job, listing(&[("a", "Completed", 10.0)])),
            REGION,
            "",
            &nobody,
        );
        assert_eq!(out, Reconciled::default());
        assert_eq!(set.resources[&key("a")].record, before);
    }

    #[test]
    fn a_changed_summary_is_taken_at_once_and_read() {
        let mut set = watching(&[("a", "InProgress", 10.0)]);
        let out = reconcile(
            &mut set,
            of(Kind::Job, listing(&[("a", "Failed", 30.0)])),
            REGION,
            "",
            &nobody,
        );
        assert_eq!(out.to_read, [key("a")]);
        let a = &set.resources[&key("a")];
        assert_eq!(a.status(), Some("Failed"));
        // What only a read tells stays until the read.
        assert!(matches!(&a.record, Some(Record::Job(j)) if j.training_loss == Some(0.5)));
        // A newer lastModifiedTime alone is a change too.
        let mut set = watching(&[("a", "InProgress", 10.0)]);
        let out = reconcile(
            &mut set,
            of(Kind::Job, listing(&[("a", "InProgress", 11.0)])),
            REGION,
            "",
            &nobody,
        );
        assert_eq!(out.to_read, [key("a")]);
    }

    #[test]
    fn a_configured_job_that_is_also_listed_is_watched_once() {
        for configured in ["a".to_owned(), arn("a")] {
            let lists = [(Kind::Job, vec![configured.clone()])].into();
            let mut set = WatchedSet::configured(&lists, REGION, "", Instant::now());
            let out = reconcile(
                &mut set,
                of(
                    Kind::Job,
                    listing(&[("a", "InProgress", 10.0), ("b", "InProgress", 10.0)]),
                ),
                REGION,
                "",
                &nobody,
            );
            assert_eq!(set.resources.len(), 2, "{configured}");
            assert_eq!(out.added, 1, "only b is new");
            let a = &set.resources[&Key {
                kind: Kind::Job,
                id: configured.clone(),
            }];
            assert_eq!(a.origin, Origin::Configured);
            assert_eq!(a.identifier, configured);
            assert_eq!(a.arn.as_deref(), Some(arn("a").as_str()));
            // Later listings keep matching it, now by ARN; one that omits it keeps it too.
            reconcile(
                &mut set,
                Listing {
                    kind: Kind::Job,
                    records: listing(&[]),
                    at: 1.0,
                },
                REGION,
                "",
                &nobody,
            );
            assert_eq!(set.resources.len(), 1, "{configured}");
        }
    }

    #[test]
    fn another_targets_resource_is_not_taken() {
        let mut set = WatchedSet::default();
        let mine = arn("mine");
        let out = reconcile(
            &mut set,
            of(
                Kind::Job,
                listing(&[("mine", "Completed", 1.0), ("theirs", "Completed", 1.0)]),
            ),
            REGION,
            "",
            &|summary| summary.arn() != Some(mine.as_str()),
        );
        assert_eq!(out.added, 1);
        assert!(set.resources.contains_key(&key("mine")));
    }

    #[test]
    fn listings_of_the_other_kind_are_left_alone() {
        let mut set = watching(&[("a", "Completed", 10.0)]);
        let model = Record::Model(ModelRecord {
            model_arn: Some("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdefghijkl".to_owned()),
            model_name: Some("m".to_owned()),
            ..ModelRecord::default()
        });
        let out = reconcile(
            &mut set,
            Listing {
                kind: Kind::Model,
                records: vec![model],
                at: 1.0,
            },
            REGION,
            "",
            &nobody,
        );
        assert_eq!((out.added, out.removed), (1, 0));
        assert_eq!(set.resources.len(), 2);
    }

    #[test]
    fn jobs_are_listed_in_the_window_and_running_or_stopping_whatever_their_age() {
        let rule = Discovery {
            name_contains: Some("bot".to_owned()),
            base_model: Some("ignored for jobs".to_owned()),
            created_within: Some(Duration::from_secs(100)),
        };
        let q = queries(Kind::Job, &rule, 1_000.0);
        assert_eq!(q.len(), 3);
        assert_eq!(q[0].created_after, Some(900.0));
        assert_eq!((q[0].created_before, q[0].status.as_deref()), (None, None));
        for (query, status) in q[1..].iter().zip(["InProgress", "Stopping"]) {
            assert_eq!(query.created_before, Some(900.0));
            assert_eq!(query.created_after, None);
            assert_eq!(query.status.as_deref(), Some(status));
        }
        assert!(q
            .iter()
            .all(|q| q.name_contains.as_deref() == Some("bot") && q.base_model.is_none()));

        let models = queries(Kind::Model, &rule, 1_000.0);
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].base_model.as_deref(), Some("ignored for jobs"));
        let everything = queries(Kind::Model, &Discovery::default(), 1_000.0);
        assert_eq!(everything, [ListQuery::all(Kind::Model)]);
    }

    #[test]
    fn an_old_running_job_stays_while_an_old_finished_one_goes() {
        // The window listing no longer returns either; the running-job listing returns one.
        let mut set = watching(&[
            ("old-done", "Completed", 10.0),
            ("old-running", "InProgress", 10.0),
        ]);
        let out = reconcile(
            &mut set,
            of(Kind::Job, listing(&[("old-running", "InProgress", 10.0)])),
            REGION,
            "",
            &nobody,
        );
        assert_eq!(out.removed, 1);
        assert!(set.resources.contains_key(&key("old-running")));
        assert!(!set.resources.contains_key(&key("old-done")));
    }
}
