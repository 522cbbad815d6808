//! Every account of an Organization, through the real SDKs against the simulator: accounts
//! listed with `ListAccounts` become targets that assume their member role and see only their
//! own account; accounts that appear start, accounts that go stop, a failed listing keeps the
//! last accounts, and a static target of an account and region wins over the generated one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bedrock_exporter::accounts::Accounts;
use bedrock_exporter::app;
use bedrock_exporter::bedrock::{JobRecord, Kind};
use bedrock_exporter::config::{Config, Discover, Discovery, Organization, Target};
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::shard::Shard;
use bedrock_exporter::simulator::{Account, Fault, Simulator};
use common::*;

const TIMEOUT: Duration = Duration::from_secs(30);
const A: &str = "222222222222";
const B: &str = "333333333333";
const CLOSED: &str = "444444444444";

/// A running job of `account`, named after it.
fn job_of(account: &str) -> JobRecord {
    let mut job = job(&format!("job-{account}"));
    job.job_arn = Some(format!(
        "arn:aws:bedrock:{REGION}:{account}:model-customization-job/{BASE}/{}",
        &id_of(account)
    ));
    job
}

fn config(endpoint: &str) -> Config {
    let discovery = Discovery {
        created_within: Some(Duration::from_secs(3_650 * 86_400)),
        ..Discovery::default()
    };
    Config {
        organizations: vec![Organization {
            role_arn: Some("arn:aws:iam::111111111111:role/org-reader".to_owned()),
            member_role_name: "bedrock-exporter".to_owned(),
            regions: vec![REGION.to_owned()],
            exclude_accounts: Vec::new(),
            refresh: Duration::from_secs(3_600),
            endpoint_url: Some(endpoint.to_owned()),
            discover: Discover::from([(Kind::Job, discovery)]),
        }],
        ..Config::default()
    }
}

/// The jobs, by account, that one poll of the targets `accounts` makes of `config` exports.
async fn exported(config: &Config, accounts: &Accounts) -> BTreeSet<(String, String)> {
    let effective = accounts.apply(config);
    let targets = app::targets(
        &effective,
        &sdk_config(),
        &settings(TIMEOUT),
        &HashMap::new(),
        &Shard::default(),
    )
    .await
    .unwrap();
    let targets = targets
        .into_iter()
        .map(|t| PolledTarget::new(t.source, &t.region, &t.config))
        .collect();
    let mut poller = Poller::new(
        targets,
        app::schedule(config),
        &[],
        Telemetry::new().unwrap(),
    );
    assert!(poller.poll_all().await);
    let text = String::from_utf8(poller.snapshot().text.to_vec()).unwrap();
    series(&text, "bedrock_customization_job_info")
        .iter()
        .map(|l| {
            (
                label(l, "account_id").unwrap().to_owned(),
                label(l, "job_name").unwrap().to_owned(),
            )
        })
        .collect()
}

fn jobs(accounts: &[&str]) -> BTreeSet<(String, String)> {
    accounts
        .iter()
        .map(|a| ((*a).to_owned(), format!("job-{a}")))
        .collect()
}

#[tokio::test]
async fn accounts_appear_vanish_and_a_failed_listing_keeps_them() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    for account in [A, B, CLOSED] {
        sim.put(job_of(account));
    }
    sim.put_account(Account::active(A));
    sim.put_account(Account::active(B));
    sim.put_account(Account::active(CLOSED).closed());
    let config = config(&server.endpoint_url());
    let base = sdk_config();

    // Each ACTIVE account is a target that sees only its own job; the closed one is left out.
    let mut accounts = Accounts::default();
    let refreshed = accounts.refresh(&config, &base).await;
    assert!(
        refreshed.changed && refreshed.failures.is_empty(),
        "{refreshed:?}"
    );
    assert_eq!(exported(&config, &accounts).await, jobs(&[A, B]));
    let names: Vec<&str> = accounts.all().iter().map(|(id, _)| *id).collect();
    assert_eq!(names, [A, B, CLOSED]);

    // An account that leaves the Organization stops, with its series.
    sim.remove_account(B);
    let refreshed = accounts.refresh(&config, &base).await;
    assert!(refreshed.changed);
    assert_eq!(exported(&config, &accounts).await, jobs(&[A]));

    // A listing that fails changes nothing.
    sim.put_account(Account::active(B));
    sim.inject_accounts(Fault::organizations_access_denied());
    let refreshed = accounts.refresh(&config, &base).await;
    assert!(!refreshed.changed);
    assert_eq!(refreshed.failures.len(), 1);
    assert_eq!(
        refreshed.failures[0].1.kind().as_str(),
        "access_denied",
        "{:?}",
        refreshed.failures
    );
    assert_eq!(exported(&config, &accounts).await, jobs(&[A]));

    // Once it lists again, the new account starts.
    sim.clear_faults();
    assert!(accounts.refresh(&config, &base).await.changed);
    assert_eq!(exported(&config, &accounts).await, jobs(&[A, B]));

    // A static target of account A in the same region is the one that polls it.
    let mut with_static = config.clone();
    with_static.targets.push(Target {
        region: Some(REGION.to_owned()),
        role_arn: Some(format!("arn:aws:iam::{A}:role/hand-written")),
        endpoint_url: Some(server.endpoint_url()),
        lists: [(Kind::Job, vec![format!("job-{A}")])].into(),
        ..Target::default()
    });
    let effective = accounts.apply(&with_static);
    let roles: Vec<&str> = effective
        .targets
        .iter()
        .filter_map(|t| t.role_arn.as_deref())
        .collect();
    assert_eq!(
        roles,
        [
            format!("arn:aws:iam::{A}:role/hand-written").as_str(),
            format!("arn:aws:iam::{B}:role/bedrock-exporter").as_str(),
        ]
    );
    assert_eq!(exported(&with_static, &accounts).await, jobs(&[A, B]));
    server.shutdown().await;
}

/// The binary lists the accounts before its first poll: `--once` on a config with only
/// `organizations` exports each account's jobs, `account_info` and `accounts_discovery_up`.
#[tokio::test]
async fn the_binary_polls_every_account_of_the_organization() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    for account in [A, B] {
        sim.put(job_of(account));
        sim.put_account(Account::active(account).named(&format!("team-{account}")));
    }
    let file = common::exporter::config_file(&format!(
        "organizations:\n  - member_role_name: bedrock-exporter\n    regions: [{REGION}]\n    endpoint_url: {}\n    discover:\n      jobs: {{created_within: 3650d}}\n",
        server.endpoint_url()
    ));
    let out = common::exporter::output(
        common::exporter::command()
            .args(["--once", "--log.level=warn"])
            .arg(format!("--config.file={}", file.display())),
    )
    .await;
    common::exporter::assert_exit(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    for account in [A, B] {
        let info = format!(
            r#"bedrock_exporter_account_info{{account_id="{account}",account_name="team-{account}"}}"#
        );
        assert_eq!(sample(&text, &info), Some(1.0), "{text}");
        assert!(
            series(&text, "bedrock_customization_job_info")
                .iter()
                .any(|l| label(l, "account_id") == Some(account)),
            "{text}"
        );
    }
    assert_eq!(
        sample(&text, "bedrock_exporter_accounts_discovery_up"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "bedrock_exporter_targets"), Some(2.0));
    server.shutdown().await;
}
