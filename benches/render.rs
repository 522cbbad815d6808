//! How long a cycle's rendering and a scrape's encoding take for a large fleet.
//!
//! `cargo bench --bench render` prints the median of several runs for 1,000 jobs and 300 models:
//! the work of a poll cycle's end, and of one scrape.
//! No harness crate: the measured work is a few pure functions, and the numbers are for the notes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bedrock_exporter::bedrock::{JobRecord, Kind, ModelRecord, Record, StatusDetails};
use bedrock_exporter::exposition::{encode, render, Telemetry};
use bedrock_exporter::fleet::Resource;

const JOBS: usize = 1_000;
const MODELS: usize = 300;
const RUNS: usize = 15;

fn fleet() -> Vec<Resource> {
    let base = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1:0:8k";
    let mut out = Vec::with_capacity(JOBS + MODELS);
    for i in 0..JOBS {
        let name = format!("fine-tune-{i:05}");
        let mut obs =
            Resource::configured(Kind::Job, &name, "us-east-1", "", Instant::now().into());
        obs.read(Record::Job(JobRecord {
            job_arn: Some(format!("arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/{i:012}")),
            job_name: Some(name.clone()),
            output_model_name: Some(format!("{name}-model")),
            base_model_arn: Some(base.to_owned()),
            status: Some(["InProgress", "Completed", "Failed"][i % 3].to_owned()),
            status_details: StatusDetails {
                validation: Some("Completed".to_owned()),
                data_processing: Some("Completed".to_owned()),
                training: Some("InProgress".to_owned()),
            },
            failure_message: (i % 3 == 2).then(|| "Validation failed: bad record".to_owned()),
            customization_type: Some("FINE_TUNING".to_owned()),
            creation_time: Some(1_794_000_000.0),
            last_modified_time: Some(1_794_003_600.0),
            end_time: None,
            output_model_arn: None,
            hyper_parameters: BTreeMap::from([
                ("epochCount".to_owned(), "3".to_owned()),
                ("batchSize".to_owned(), "8".to_owned()),
                ("learningRate".to_owned(), "0.00001".to_owned()),
            ]),
            training_loss: Some(0.5 + i as f64 / 10_000.0),
            validation_losses: vec![Some(0.6), Some(0.7)],
        }), 1_795_000_000.0);
        out.push(obs);
    }
    for i in 0..MODELS {
        let name = format!("custom-model-{i:05}");
        let mut obs =
            Resource::configured(Kind::Model, &name, "us-east-1", "", Instant::now().into());
        obs.read(Record::Model(ModelRecord {
            model_arn: Some(format!("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/{i:012}")),
            model_name: Some(name),
            base_model_arn: Some(base.to_owned()),
            customization_type: Some("FINE_TUNING".to_owned()),
            model_status: Some("Active".to_owned()),
            creation_time: Some(1_794_000_000.0),
            training_loss: Some(0.5),
            validation_losses: vec![Some(0.6)],
            ..ModelRecord::default()
        }), 1_795_000_000.0);
        out.push(obs);
    }
    out
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let fleet = fleet();
    let text = String::from_utf8(encode(render(&fleet, &[]))).unwrap();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "fleet: {JOBS} jobs, {MODELS} models -> {series} series, {} KiB exposition",
        text.len() / 1024
    );
    println!(
        "render + encode, once per poll cycle: {:?}",
        time(|| encode(render(&fleet, &[])))
    );
    let telemetry = Telemetry::new().unwrap();
    println!(
        "a scrape: copy the cycle's text and append the exporter's own metrics: {:?}",
        time(|| {
            let mut body = text.as_bytes().to_vec();
            body.extend(encode(telemetry.gather()));
            body
        })
    );
    println!(
        "gzip of the exposition, for a scrape that accepts it: {:?}",
        time(|| {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap()
        })
    );
}
