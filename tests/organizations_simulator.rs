//! The simulator as an AWS Organization, through the real SDKs over HTTP: `aws-sdk-organizations`
//! pages through `ListAccounts` and parses its errors; aws-config's `AssumeRoleProvider` gets
//! credentials per member account, and `aws-sdk-bedrock` with them sees that account's records only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_organizations::types::{AccountJoinedMethod, AccountState, AccountStatus};
use bedrock_exporter::bedrock::aws::{AwsSource, ClientTarget};
use bedrock_exporter::bedrock::{BedrockSource, ErrorKind, JobRecord, Kind, ListQuery};
use bedrock_exporter::simulator::{assumed_access_key, Account, Fault, Simulator};
use common::*;

const TIMEOUT: Duration = Duration::from_secs(30);
const ACCOUNT_A: &str = "222222222222";
const ACCOUNT_B: &str = "333333333333";

fn member_role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/bedrock-exporter")
}

/// An Organizations client on the simulator, signing with the tests' static key, or as `role`.
async fn organizations(endpoint_url: &str, role: Option<&str>) -> aws_sdk_organizations::Client {
    let base = sdk_config()
        .into_builder()
        .endpoint_url(endpoint_url)
        .build();
    let mut builder =
        aws_sdk_organizations::config::Builder::from(&base).retry_config(settings(TIMEOUT).retry);
    if let Some(role) = role {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name("bedrock-exporter")
            .configure(&base)
            .build()
            .await;
        builder = builder.credentials_provider(provider);
    }
    aws_sdk_organizations::Client::from_conf(builder.build())
}

/// A Bedrock source on the simulator as `role` (STS at the same endpoint), or with the static key.
async fn bedrock(endpoint_url: &str, role: Option<&str>) -> AwsSource {
    let base = sdk_config()
        .into_builder()
        .endpoint_url(endpoint_url)
        .build();
    let target = ClientTarget {
        region: Some(REGION),
        role_arn: role,
        endpoint_url: Some(endpoint_url),
    };
    AwsSource::new(&base, target, &settings(TIMEOUT))
        .await
        .unwrap()
        .0
}

/// The fixture job `name`, in `account`.
fn job_in(account: &str, name: &str) -> JobRecord {
    let mut job = job(name);
    job.job_arn = job.job_arn.map(|arn| arn.replace(ACCOUNT, account));
    job
}

#[tokio::test]
async fn list_accounts_pages_through_the_organization() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    let ids: Vec<String> = (0..45)
        .map(|i| format!("{:012}", 400_000_000_000_u64 + i))
        .collect();
    for id in &ids {
        sim.put_account(Account::active(id));
    }
    sim.put_account(Account::active(&ids[3]).named("closed").closed());
    let client = organizations(&server.endpoint_url(), None).await;

    let pages: Vec<_> = client
        .list_accounts()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let accounts: Vec<_> = pages.iter().flat_map(|p| p.accounts()).collect();
    let listed: Vec<&str> = accounts.iter().filter_map(|a| a.id()).collect();
    assert_eq!(listed, ids);
    let calls = sim.accounts_calls();
    assert_eq!(calls.len(), 3, "pages of 20 when MaxResults is left out");
    assert_eq!(calls[0].max_results, None);
    assert_eq!(calls[0].next_token, None);
    assert_eq!(calls[1].next_token.as_deref(), Some("accounts-20"));
    assert_eq!(calls[0].access_key, "AKIDTESTTESTTESTTEST");

    let first = accounts[0];
    assert_eq!(
        first.arn(),
        Some(
            format!(
                "arn:aws:organizations::111111111111:account/o-exampleorgid/{}",
                ids[0]
            )
            .as_str()
        )
    );
    assert_eq!(first.name(), Some(format!("account-{}", ids[0]).as_str()));
    assert_eq!(
        first.email(),
        Some(format!("aws+{}@example.com", ids[0]).as_str())
    );
    assert_eq!(first.status(), Some(&AccountStatus::Active));
    assert_eq!(first.state(), Some(&AccountState::Active));
    assert_eq!(first.joined_method(), Some(&AccountJoinedMethod::Created));
    assert_eq!(
        first.joined_timestamp().map(|t| t.secs()),
        Some(1_767_225_600)
    );
    let closed = accounts[3];
    assert_eq!(closed.name(), Some("closed"));
    assert_eq!(closed.status(), Some(&AccountStatus::Suspended));
    assert_eq!(closed.state(), Some(&AccountState::Closed));

    // MaxResults is honoured; a removed account is no longer listed.
    sim.remove_account(&ids[0]);
    let pages: Vec<_> = client
        .list_accounts()
        .into_paginator()
        .page_size(7)
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let sizes: Vec<usize> = pages.iter().map(|p| p.accounts().len()).collect();
    assert_eq!(sizes, [7, 7, 7, 7, 7, 7, 2]);
    assert!(sim.accounts_calls()[3..]
        .iter()
        .all(|c| c.max_results == Some(7)));
    assert_eq!(pages[0].accounts()[0].id(), Some(ids[1].as_str()));
    server.shutdown().await;
}

#[tokio::test]
async fn list_accounts_errors_arrive_as_the_sdk_models_them() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    sim.put_account(Account::active(ACCOUNT_A));
    let client = organizations(&server.endpoint_url(), None).await;

    sim.inject_accounts(Fault::organizations_access_denied());
    let err = client.list_accounts().send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    let err = err.into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    assert_eq!(
        aws_sdk_organizations::error::ProvideErrorMetadata::code(&err),
        Some("AccessDeniedException")
    );
    assert_eq!(
        aws_sdk_organizations::error::ProvideErrorMetadata::message(&err),
        Some("You don't have permissions to access this resource.")
    );
    assert_eq!(sim.accounts_calls().len(), 1, "not retried");
    // A Bedrock fault does not touch ListAccounts, nor the other way round.
    sim.clear_faults();
    sim.inject(None, Fault::internal());
    assert_eq!(
        client
            .list_accounts()
            .send()
            .await
            .unwrap()
            .accounts()
            .len(),
        1
    );

    sim.clear_faults();
    sim.inject_accounts(Fault::MalformedJson);
    let err = client.list_accounts().send().await.unwrap_err();
    assert!(
        err.as_service_error().is_none(),
        "a body that does not parse is not a service error: {err:?}"
    );

    sim.clear_faults();
    let err = client
        .list_accounts()
        .max_results(21)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let aws_sdk_organizations::operation::list_accounts::ListAccountsError::InvalidInputException(
        invalid,
    ) = err
    else {
        panic!("not InvalidInputException: {err:?}")
    };
    assert_eq!(
        invalid.reason().map(|r| r.as_str()),
        Some("MAX_VALUE_EXCEEDED")
    );

    let unsigned = request(
        server
            .endpoint_url()
            .trim_start_matches("http://")
            .parse()
            .unwrap(),
        "POST",
        "/",
        &[
            ("X-Amz-Target", "AWSOrganizationsV20161128.ListAccounts"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
    )
    .await;
    assert_eq!(unsigned.status, 400);
    assert!(
        unsigned
            .text()
            .contains("\"__type\":\"MissingAuthenticationTokenException\""),
        "{}",
        unsigned.text()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn list_accounts_through_an_assumed_role_is_signed_by_its_account() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    sim.put_account(Account::active(ACCOUNT_A));
    let reader = "arn:aws:iam::111111111111:role/bedrock-exporter-org-reader";
    let client = organizations(&server.endpoint_url(), Some(reader)).await;
    client.list_accounts().send().await.unwrap();
    assert_eq!(sim.assumed_roles(), [reader]);
    assert_eq!(
        sim.accounts_calls()[0].access_key,
        assumed_access_key("111111111111")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn each_account_s_credentials_see_that_account_s_records_only() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    let url = server.endpoint_url();
    sim.put_job(job_in(ACCOUNT_A, "job-a"));
    sim.put_job(job_in(ACCOUNT_B, "job-b1"));
    sim.put_job(job_in(ACCOUNT_B, "job-b2"));
    sim.put_job(job("job-static"));
    let a = bedrock(&url, Some(&member_role(ACCOUNT_A))).await;
    let b = bedrock(&url, Some(&member_role(ACCOUNT_B))).await;
    let everyone = bedrock(&url, None).await;

    let names = |page: bedrock_exporter::bedrock::Page| -> Vec<String> {
        let mut names: Vec<String> = page
            .records
            .iter()
            .filter_map(|r| r.name().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    let all_jobs = ListQuery::all(Kind::Job);
    assert_eq!(
        names(a.list_page(&all_jobs, None).await.unwrap()),
        ["job-a"]
    );
    assert_eq!(
        names(b.list_page(&all_jobs, None).await.unwrap()),
        ["job-b1", "job-b2"]
    );
    assert_eq!(
        names(everyone.list_page(&all_jobs, None).await.unwrap()),
        ["job-a", "job-b1", "job-b2", "job-static"]
    );

    assert_eq!(
        a.get(Kind::Job, "job-a").await.unwrap().name(),
        Some("job-a")
    );
    let err = a.get(Kind::Job, "job-b1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let b1_arn = job_in(ACCOUNT_B, "job-b1").job_arn.unwrap();
    let err = a.get(Kind::Job, &b1_arn).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "by ARN too: {err}");
    assert!(b.get(Kind::Job, &b1_arn).await.is_ok());
    assert!(everyone.get(Kind::Job, "job-b1").await.is_ok());

    let mut roles = sim.assumed_roles();
    roles.sort();
    assert_eq!(roles, [member_role(ACCOUNT_A), member_role(ACCOUNT_B)]);
    let keys: Vec<String> = sim.calls().iter().map(|c| c.access_key.clone()).collect();
    assert!(keys.contains(&assumed_access_key(ACCOUNT_A)));
    assert!(keys.contains(&assumed_access_key(ACCOUNT_B)));
    server.shutdown().await;
}

#[tokio::test]
async fn one_account_s_role_can_be_refused() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    let url = server.endpoint_url();
    sim.put_job(job_in(ACCOUNT_A, "job-a"));
    sim.put_job(job_in(ACCOUNT_B, "job-b"));
    sim.inject(
        Some(&member_role(ACCOUNT_B)),
        Fault::error(
            403,
            "AccessDenied",
            "User is not authorized to perform: sts:AssumeRole",
        ),
    );
    let a = bedrock(&url, Some(&member_role(ACCOUNT_A))).await;
    let b = bedrock(&url, Some(&member_role(ACCOUNT_B))).await;
    assert!(a.get(Kind::Job, "job-a").await.is_ok());
    let err = b.get(Kind::Job, "job-b").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials, "{err}");
    assert_eq!(sim.calls_for("job-b"), 0, "nothing reached Bedrock");
    server.shutdown().await;
}
