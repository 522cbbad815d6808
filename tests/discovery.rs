//! Discovery: listings through the real SDK against the simulator (every page, every filter,
//! faults), the API economy counted on paused time, and the watched set following a listing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bedrock_exporter::bedrock::{BedrockSource, Kind, ListQuery, Operation, Record};
use bedrock_exporter::config::{Discover, Discovery, Target};
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::simulator::{Fault, Simulator, Tokens};
use common::kinds::{fixed_clock, NOW};
use common::*;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A job created `age` seconds before the fixtures' clock.
fn job_aged(name: &str, status: &str, age: f64) -> bedrock_exporter::bedrock::JobRecord {
    let mut job = job(name).status(status);
    job.creation_time = Some(NOW - age);
    job
}

/// Discovers every job and model: the fixtures are dated November 2026, so the jobs' window is
/// long enough for them on any day the tests run.
fn discover_all() -> Target {
    Target {
        discover: Discover::from([
            (
                Kind::Job,
                Discovery {
                    created_within: Some(Duration::from_secs(3_650 * 86_400)),
                    ..Discovery::default()
                },
            ),
            (Kind::Model, Discovery::default()),
        ]),
        ..target(&[], &[])
    }
}

fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Every page of a listing, following the tokens the service hands out.
async fn all_pages(source: &impl BedrockSource, query: &ListQuery) -> Vec<Vec<Record>> {
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = source.list_page(query, token).await.unwrap();
        pages.push(page.records);
        match page.next_token {
            Some(next) => token = Some(next),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn a_listing_pages_through_every_job() {
    let sim = Simulator::new();
    let names: BTreeSet<String> = (0..2_345).map(|i| format!("job-{i:04}")).collect();
    for name in &names {
        sim.put_job(job(name));
    }
    let server = sim.spawn().await.unwrap();
    let source = aws_source(&server.endpoint_url(), TIMEOUT).await;

    let pages = all_pages(&source, &ListQuery::all(Kind::Job)).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [1000, 1000, 345]);
    let listed: BTreeSet<String> = pages
        .iter()
        .flatten()
        .map(|r| r.name().unwrap().to_owned())
        .collect();
    assert_eq!(listed, names, "every job once");

    let calls = sim.calls();
    assert_eq!(calls.len(), 3, "one call a page");
    let tokens: Vec<Option<&str>> = calls
        .iter()
        .map(|c| query_value(&c.query, "nextToken"))
        .collect();
    assert_eq!(tokens, [None, Some("page-1000"), Some("page-2000")]);
    for call in &calls {
        assert_eq!(call.operation, Operation::List(Kind::Job));
        assert_eq!(query_value(&call.query, "maxResults"), Some("1000"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_filter_reaches_the_request() {
    let sim = Simulator::new();
    sim.put_job(job_aged("support-bot-new", "InProgress", 3_600.0));
    sim.put_job(job_aged("support-bot-old", "InProgress", 30.0 * 86_400.0));
    sim.put_job(job_aged("legal-new", "InProgress", 3_600.0));
    sim.put_job(job_aged("support-bot-done", "Completed", 3_600.0));
    let mut titan = model("support-bot-titan");
    titan.creation_time = Some(NOW - 3_600.0);
    let mut nova = model("support-bot-nova");
    nova.base_model_arn =
        Some("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k".to_owned());
    nova.creation_time = Some(NOW - 3_600.0);
    sim.put_model(titan);
    sim.put_model(nova);
    let server = sim.spawn().await.unwrap();
    let source = aws_source(&server.endpoint_url(), TIMEOUT).await;
    let names = |query: ListQuery| {
        let source = source.clone();
        async move {
            let pages = all_pages(&source, &query).await;
            pages
                .iter()
                .flatten()
                .map(|r| r.name().unwrap().to_owned())
                .collect::<BTreeSet<_>>()
        }
    };

    let jobs = names(ListQuery {
        name_contains: Some("support-bot".to_owned()),
        created_after: Some(NOW - 86_400.0),
        created_before: Some(NOW),
        status: Some("InProgress".to_owned()),
        ..ListQuery::all(Kind::Job)
    })
    .await;
    assert_eq!(jobs, BTreeSet::from(["support-bot-new".to_owned()]));
    let call = sim.calls().pop().unwrap();
    assert_eq!(call.operation, Operation::List(Kind::Job));
    for (name, value) in [
        ("nameContains", "support-bot"),
        ("creationTimeAfter", "2026-11-29T00:00:00Z"),
        ("creationTimeBefore", "2026-11-30T00:00:00Z"),
        ("statusEquals", "InProgress"),
        ("maxResults", "1000"),
    ] {
        assert_eq!(
            query_value(&call.query, name),
            Some(value),
            "{name} in {:?}",
            call.query
        );
    }

    let models = names(ListQuery {
        name_contains: Some("support-bot".to_owned()),
        base_model: Some(base_model_arn()),
        created_after: Some(NOW - 86_400.0),
        ..ListQuery::all(Kind::Model)
    })
    .await;
    assert_eq!(models, BTreeSet::from(["support-bot-titan".to_owned()]));
    let call = sim.calls().pop().unwrap();
    assert_eq!(call.operation, Operation::List(Kind::Model));
    assert_eq!(
        query_value(&call.query, "baseModelArnEquals"),
        Some(base_model_arn().as_str())
    );
    assert_eq!(
        query_value(&call.query, "nameContains"),
        Some("support-bot")
    );
    assert_eq!(
        query_value(&call.query, "creationTimeAfter"),
        Some("2026-11-29T00:00:00Z")
    );
    server.shutdown().await;
}

fn sample_of(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

fn discovery_up(text: &str, kind: &str) -> f64 {
    sample_of(
        text,
        &format!(
            r#"bedrock_exporter_discovery_up{{account_id="{ACCOUNT}",kind="{kind}",region="{REGION}"}}"#
        ),
    )
}

fn list_failures(text: &str, kind: &str) -> f64 {
    sample_of(
        text,
        &format!(
            r#"bedrock_exporter_api_request_failures_total{{error="{kind}",operation="ListModelCustomizationJobs",region="{REGION}"}}"#
        ),
    )
}

fn list_requests(text: &str) -> f64 {
    sample_of(
        text,
        &format!(
            r#"bedrock_exporter_api_requests_total{{operation="ListModelCustomizationJobs",region="{REGION}"}}"#
        ),
    )
}

fn watched_jobs(text: &str) -> BTreeSet<String> {
    series(text, "bedrock_exporter_target_up")
        .iter()
        .filter(|l| label(l, "kind") == Some("job"))
        .filter_map(|l| label(l, "identifier").map(str::to_owned))
        .collect()
}

/// A listing that fails, whatever the cause, changes nothing that was watched: the set stays as
/// it was (a new job waits for a listing that succeeds), `discovery_up` goes to 0, and the
/// failure is counted once under the List operation.
#[tokio::test]
async fn a_failed_listing_keeps_the_watched_set() {
    let cases = [
        (Fault::throttling(), "throttling", TIMEOUT),
        (Fault::internal(), "internal", TIMEOUT),
        (Fault::MalformedJson, "other", TIMEOUT),
        (Fault::Hold, "timeout", Duration::from_secs(1)),
    ];
    for (fault, kind, timeout) in cases {
        let label = format!("{fault:?}");
        let mut h = Harness::with_target(discover_all(), timeout).await;
        for name in ["job-a", "job-b", "job-c"] {
            h.sim.put_job(job(name).completed());
        }
        h.sim.put_model(model("model-a"));
        assert!(h.poller.poll_all().await, "{label}");
        let before = h.scrape().await;
        let all: BTreeSet<String> = ["job-a", "job-b", "job-c"].map(str::to_owned).into();
        assert_eq!(watched_jobs(&before), all, "{label}");
        assert_eq!(discovery_up(&before, "job"), 1.0, "{label}");

        h.sim.put_job(job("job-d").completed());
        h.sim.inject_operation(Operation::List(Kind::Job), fault);
        assert!(!h.poller.poll_all().await, "{label}");
        let during = h.scrape().await;
        assert_eq!(watched_jobs(&during), all, "{label}: the set stays");
        assert_eq!(discovery_up(&during, "job"), 0.0, "{label}");
        assert_eq!(discovery_up(&during, "model"), 1.0, "{label}");
        assert_eq!(
            list_failures(&during, kind),
            list_failures(&before, kind) + 1.0,
            "{label}"
        );
        assert_eq!(
            list_requests(&during),
            list_requests(&before) + 1.0,
            "{label}"
        );

        h.sim.clear_faults();
        h.poller.poll_all().await;
        let after = h.scrape().await;
        assert_eq!(discovery_up(&after, "job"), 1.0, "{label}");
        let found: BTreeSet<String> = ["job-a", "job-b", "job-c", "job-d"]
            .map(str::to_owned)
            .into();
        assert_eq!(
            watched_jobs(&after),
            found,
            "{label}: a listing that succeeds finds job-d"
        );
        h.stop().await;
    }
}

/// At 10,000 finished jobs and 20 running ones, a steady-state interval costs the List pages
/// and a Get of each running job: no finished, unchanged job is read again.
#[tokio::test(start_paused = true)]
async fn steady_state_reads_only_running_jobs() {
    let sim = Simulator::new();
    for i in 0..10_000 {
        sim.put_job(job_aged(&format!("done-{i:05}"), "Completed", 86_400.0));
    }
    for i in 0..20 {
        sim.put_job(job_aged(&format!("running-{i:02}"), "InProgress", 3_600.0));
    }
    let schedule = Schedule {
        interval: Duration::from_secs(60),
        terminal_interval: Duration::from_secs(1_800),
        concurrency: 4,
        request_timeout: Duration::from_secs(10),
    };
    let target = Target {
        discover: Discover::from([(Kind::Job, discover_all().discover.0[&Kind::Job].clone())]),
        ..target(&[], &[])
    };
    let poller = Poller::new(
        vec![PolledTarget::new(sim.clone(), REGION, &target)],
        schedule,
        &[],
        Telemetry::new().unwrap(),
    )
    .with_clock(fixed_clock);
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let task = tokio::spawn(poller.run(shutdown.clone()));

    // Calls so far, after each cycle: the paused clock does not move within a cycle, so
    // cycles are told apart by count, not by time.
    let mut totals = Vec::new();
    for cycle in 1..=4 {
        snapshots.wait_for(|s| s.cycles >= cycle).await.unwrap();
        totals.push((
            sim.calls_of(Operation::List(Kind::Job), start),
            sim.calls_of(Operation::Get(Kind::Job), start),
        ));
    }
    assert_eq!(totals[0], (13, 10_020), "each job found is read once");
    let per_interval: Vec<(usize, usize)> = totals
        .windows(2)
        .map(|w| (w[1].0 - w[0].0, w[1].1 - w[0].1))
        .collect();
    shutdown.cancel();
    task.await.unwrap();
    println!("List pages and Gets per steady-state interval: {per_interval:?}");
    // 10,020 jobs in the window: 11 pages; one page each for old running and stopping jobs.
    assert_eq!(per_interval, [(13, 20); 3]);
    let snapshot = snapshots.borrow().clone();
    assert_eq!(snapshot.resources.len(), 10_020);
}

/// `concurrency` bounds listings too: a target's listings run one after the other.
#[tokio::test(start_paused = true)]
async fn a_targets_listings_take_one_call_at_a_time() {
    let sim = Simulator::new();
    sim.put_job(job("job-a").completed());
    sim.put_model(model("model-a"));
    sim.inject_operation(
        Operation::List(Kind::Job),
        Fault::Delay(Duration::from_secs(30)),
    );
    let schedule = Schedule {
        interval: Duration::from_secs(60),
        terminal_interval: Duration::from_secs(600),
        concurrency: 1,
        request_timeout: Duration::from_secs(300),
    };
    let start = Instant::now();
    let poller = Poller::new(
        vec![PolledTarget::new(sim.clone(), REGION, &discover_all())],
        schedule,
        &[],
        Telemetry::new().unwrap(),
    );
    run_cycles(poller, 1).await;
    // The first cycle's calls (the next cycle is due as the first ends).
    let started: Vec<(Operation, u64)> = sim
        .calls()
        .iter()
        .take(6)
        .map(|c| (c.operation, (c.at - start).as_secs()))
        .collect();
    // Three job listings (window, running, stopping) of 30 s each, then the models', then reads.
    assert_eq!(
        started,
        [
            (Operation::List(Kind::Job), 0),
            (Operation::List(Kind::Job), 30),
            (Operation::List(Kind::Job), 60),
            (Operation::List(Kind::Model), 90),
            (Operation::Get(Kind::Job), 90),
            (Operation::Get(Kind::Model), 90),
        ]
    );
}

/// A listing whose `nextToken` comes back again (a service cycling its tokens) ends at the
/// repeat as a failed listing: two calls, `discovery_up` 0, the watched set kept. Unbounded,
/// the poller would page for ever.
#[tokio::test]
async fn a_repeated_token_ends_the_listing() {
    let mut h = Harness::with_target(discover_all(), TIMEOUT).await;
    h.sim.put_job(job("job-a").completed());
    assert!(h.poller.poll_all().await);
    let before = h.scrape().await;

    let page = br#"{"modelCustomizationJobSummaries":[],"nextToken":"token-A"}"#;
    h.sim.inject_operation(
        Operation::List(Kind::Job),
        Fault::Raw {
            status: 200,
            body: page.to_vec(),
        },
    );
    let since = tokio::time::Instant::now();
    assert!(!h.poller.poll_all().await);
    let during = h.scrape().await;
    assert_eq!(
        h.sim.calls_of(Operation::List(Kind::Job), since),
        2,
        "the second page repeats the first's token"
    );
    assert_eq!(discovery_up(&during, "job"), 0.0);
    assert_eq!(
        watched_jobs(&during),
        watched_jobs(&before),
        "the set stays"
    );
    h.stop().await;
}

/// A listing stopped by a bound is a failed List call, kind `other`, counted as any failed call
/// is (DESIGN, Discovery: "the failure is counted under the List operation"): the page whose
/// token cannot be followed is the call that failed. Tokens A, B, A: three calls, the third
/// failed. A fresh token per page: 1,000 calls, the last failed.
#[tokio::test]
async fn a_listing_stopped_by_a_bound_is_a_counted_failure() {
    let mut h = Harness::with_target(discover_all(), TIMEOUT).await;
    let operation = Operation::List(Kind::Job);
    let count = |text: &str, family: &str, extra: &str| {
        sample(
            text,
            &format!(
                r#"{family}{{{extra}operation="{}",region="{REGION}"}}"#,
                operation.as_str()
            ),
        )
        .unwrap_or(0.0)
    };
    let calls = |text: &str| count(text, "bedrock_exporter_api_requests_total", "");
    let failed = |text: &str| {
        count(
            text,
            "bedrock_exporter_api_request_failures_total",
            r#"error="other","#,
        )
    };
    let before = h.scrape().await;

    let cycle = Tokens::Cycle(vec!["A".to_owned(), "B".to_owned()]);
    h.sim.inject_operation(operation, Fault::Tokens(cycle));
    assert!(!h.poller.poll_all().await);
    let cycled = h.scrape().await;
    assert_eq!(calls(&cycled) - calls(&before), 3.0);
    assert_eq!(failed(&cycled) - failed(&before), 1.0, "{cycled}");

    h.sim.clear_faults();
    h.sim
        .inject_operation(operation, Fault::Tokens(Tokens::Fresh));
    assert!(!h.poller.poll_all().await);
    let fresh = h.scrape().await;
    assert_eq!(calls(&fresh) - calls(&cycled), 1000.0);
    assert_eq!(failed(&fresh) - failed(&cycled), 1.0, "{fresh}");
    h.stop().await;
}

/// A job that one target lists by ARN and another target of the same account and region
/// discovers is one resource: one set of series, under the configured one.
#[tokio::test]
async fn one_resource_listed_and_discovered_gets_one_set_of_series() {
    let sim = Simulator::new();
    sim.put_job(job("job-a").completed());
    sim.put_job(job("job-b").completed());
    let arn = job_arn(&id_of("job-a"));
    let mut poller = Poller::new(
        vec![
            PolledTarget::new(sim.clone(), REGION, &target(&[&arn], &[])),
            PolledTarget::new(sim.clone(), REGION, &discover_all()),
        ],
        Schedule {
            interval: Duration::from_secs(60),
            terminal_interval: Duration::from_secs(600),
            concurrency: 4,
            request_timeout: TIMEOUT,
        },
        &[],
        Telemetry::new().unwrap(),
    );
    assert!(poller.poll_all().await);
    assert!(poller.poll_all().await);
    let text = String::from_utf8(poller.snapshot().text.to_vec()).unwrap();
    let status_lines = |name: &str| {
        series(&text, "bedrock_customization_job_status")
            .into_iter()
            .filter(|line| label(line, "job_name") == Some(name) && line.ends_with(" 1"))
            .count()
    };
    assert_eq!(status_lines("job-a"), 1, "{text}");
    assert_eq!(status_lines("job-b"), 1, "{text}");
    let up: Vec<&str> = series(&text, "bedrock_exporter_target_up")
        .into_iter()
        .filter(|line| matches!(label(line, "identifier"), Some(i) if i == arn || i == "job-a"))
        .collect();
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(
        label(up[0], "identifier"),
        Some(arn.as_str()),
        "the configured one"
    );
}

/// A discovered job whose Get answers 404 while its listing still returns it (the service's List
/// and Get disagree) drops out and costs one Get, not one per interval: it is read again only
/// when a listing shows it changed. The read is a counted failure, and `poll_all` (`--once`)
/// reports it.
#[tokio::test(start_paused = true)]
async fn a_discovered_job_that_answers_not_found_costs_one_get() {
    let sim = Simulator::new();
    sim.put_job(job_aged("ghost", "Completed", 3_600.0));
    sim.put_job(job_aged("real", "Completed", 3_600.0));
    let ghost = job_arn(&id_of("ghost"));
    sim.inject(Some(&ghost), Fault::not_found());
    let target = Target {
        discover: Discover::from([(Kind::Job, discover_all().discover.0[&Kind::Job].clone())]),
        ..target(&[], &[])
    };
    let telemetry = Telemetry::new().unwrap();
    let new_poller = || {
        Poller::new(
            vec![PolledTarget::new(sim.clone(), REGION, &target)],
            Schedule {
                interval: Duration::from_secs(60),
                terminal_interval: Duration::from_secs(1_800),
                concurrency: 4,
                request_timeout: Duration::from_secs(10),
            },
            &[],
            telemetry.clone(),
        )
        .with_clock(fixed_clock)
    };
    assert!(
        !new_poller().poll_all().await,
        "--once sees the failed read"
    );

    let poller = new_poller();
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let gets_before = sim.calls_for(&ghost);
    let task = tokio::spawn(poller.run(shutdown.clone()));
    let mut gets = Vec::new();
    for cycle in 1..=4 {
        snapshots.wait_for(|s| s.cycles >= cycle).await.unwrap();
        gets.push(sim.calls_for(&ghost) - gets_before);
    }
    assert_eq!(
        gets,
        [1, 1, 1, 1],
        "one Get while its summary stays the same"
    );
    let text = String::from_utf8(snapshots.borrow().text.to_vec()).unwrap();
    assert!(!text.contains(&ghost), "no series for it:\n{text}");
    assert!(text.contains(&job_arn(&id_of("real"))), "{text}");
    let own = String::from_utf8(telemetry.encode()).unwrap();
    let failures = r#"bedrock_exporter_api_request_failures_total{error="not_found",operation="GetModelCustomizationJob",region="us-east-1"}"#;
    assert_eq!(sample(&own, failures), Some(2.0), "one per poller:\n{own}");

    // Its listing shows a change: one more Get.
    let mut changed = job_aged("ghost", "Completed", 3_600.0);
    changed.last_modified_time = Some(NOW - 60.0);
    sim.put_job(changed);
    snapshots.wait_for(|s| s.cycles >= 6).await.unwrap();
    assert_eq!(sim.calls_for(&ghost) - gets_before, 2);
    shutdown.cancel();
    task.await.unwrap();
}
