//! The simulated Bedrock as a process of its own, serving a fleet of a chosen size: for
//! benchmarks, which measure the exporter alone (`scripts/bench-scrape.sh`).
//!
//! ```text
//! cargo run --release --example simulator -- --jobs 2000 --models 500 --running 20
//! cargo run --release --example simulator -- --accounts 100 --jobs 800 --models 198 --running 2
//! ```
//! With `--accounts N`, an Organization of N accounts (`ListAccounts`, `AssumeRole` per account),
//! each with that many jobs and models of its own; without, one account and no Organization.
//! Prints `listening on http://127.0.0.1:PORT` once it serves; stops on SIGTERM or SIGINT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bedrock_exporter::bedrock::{JobRecord, ModelRecord, StatusDetails};
use bedrock_exporter::simulator::{Account, Simulator};
use tokio::signal::unix::{signal, SignalKind};

/// The account of a fleet without `--accounts`.
const ACCOUNT: &str = "123456789012";
const BASE: &str = "amazon.titan-text-express-v1:0:8k";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// Where a resource lives: its account, and the prefix that keeps its name unique in the
/// simulator (which keys records by name).
struct Home<'a> {
    account: &'a str,
    prefix: &'a str,
}

/// A job as the tests' fixtures have it: every field set, created an hour ago.
fn job(home: &Home, i: usize, status: &str, now: f64) -> JobRecord {
    let Home { account, prefix } = *home;
    let name = format!("{prefix}fine-tune-{i:06}");
    JobRecord {
        job_arn: Some(format!(
            "arn:aws:bedrock:us-east-1:{account}:model-customization-job/{BASE}/{i:012}"
        )),
        job_name: Some(name.clone()),
        output_model_name: Some(format!("{name}-model")),
        output_model_arn: (status == "Completed")
            .then(|| format!("arn:aws:bedrock:us-east-1:{account}:custom-model/{BASE}/{i:012}")),
        base_model_arn: Some(format!(
            "arn:aws:bedrock:us-east-1::foundation-model/{BASE}"
        )),
        status: Some(status.to_owned()),
        status_details: StatusDetails {
            validation: Some("Completed".to_owned()),
            data_processing: Some("Completed".to_owned()),
            training: Some(status.to_owned()),
        },
        failure_message: None,
        customization_type: Some("FINE_TUNING".to_owned()),
        creation_time: Some(now - 3600.0),
        last_modified_time: Some(now - 60.0),
        end_time: (status == "Completed").then_some(now - 60.0),
        hyper_parameters: BTreeMap::from([
            ("epochCount".to_owned(), "2".to_owned()),
            ("batchSize".to_owned(), "8".to_owned()),
            ("learningRate".to_owned(), "0.00001".to_owned()),
        ]),
        training_loss: Some(1.25),
        validation_losses: vec![Some(1.5), Some(1.75)],
        ..Default::default()
    }
}

fn model(home: &Home, i: usize, now: f64) -> ModelRecord {
    let Home { account, prefix } = *home;
    ModelRecord {
        model_arn: Some(format!(
            "arn:aws:bedrock:us-east-1:{account}:custom-model/{BASE}/m{i:011}"
        )),
        model_name: Some(format!("{prefix}custom-model-{i:06}")),
        job_name: Some(format!("{prefix}fine-tune-{i:06}")),
        job_arn: Some(format!(
            "arn:aws:bedrock:us-east-1:{account}:model-customization-job/{BASE}/{i:012}"
        )),
        base_model_arn: Some(format!(
            "arn:aws:bedrock:us-east-1::foundation-model/{BASE}"
        )),
        customization_type: Some("FINE_TUNING".to_owned()),
        model_status: Some("Active".to_owned()),
        failure_message: None,
        creation_time: Some(now - 1800.0),
        hyper_parameters: BTreeMap::from([("batchSize".to_owned(), "8".to_owned())]),
        training_loss: Some(0.5),
        validation_losses: vec![Some(0.625)],
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    let (jobs, models, running, accounts) = (
        arg("--jobs", 2000),
        arg("--models", 500),
        arg("--running", 0),
        arg("--accounts", 0),
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let sim = Simulator::new();
    let homes: Vec<(String, String)> = if accounts == 0 {
        vec![(ACCOUNT.to_owned(), String::new())]
    } else {
        (0..accounts)
            .map(|k| (format!("{:012}", 200_000_000_000 + k), format!("a{k:04}-")))
            .collect()
    };
    for (account, prefix) in &homes {
        if accounts > 0 {
            sim.put_account(Account::active(account));
        }
        let home = Home { account, prefix };
        for i in 0..jobs + running {
            let status = if i < jobs { "Completed" } else { "InProgress" };
            sim.put_job(job(&home, i, status, now));
        }
        for i in 0..models {
            sim.put_model(model(&home, i, now));
        }
    }
    let running_sim = sim.spawn().await.expect("bind");
    println!("listening on {}", running_sim.endpoint_url());
    let mut terminate = signal(SignalKind::terminate()).unwrap();
    let mut interrupt = signal(SignalKind::interrupt()).unwrap();
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    running_sim.shutdown().await;
}
