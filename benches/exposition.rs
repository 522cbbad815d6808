//! What the exposition costs as the fleet grows: a first assembly (every resource rendered),
//! a cycle in which 1% of the resources changed, and the gzip a scrape's snapshot gets once.
//!
//! `cargo bench --bench exposition`; the end-to-end figures (scrapes against nginx, RSS, CPU of a
//! cycle) come from `scripts/bench-scrape.sh` (see BENCHMARKS.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use bedrock_exporter::bedrock::{JobRecord, Kind, ModelRecord, Record, StatusDetails};
use bedrock_exporter::exposition::gzip;
use bedrock_exporter::exposition::{render_all, Assembler};
use bedrock_exporter::fleet::Resource;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio::time::Instant;

/// `jobs` finished, failed and running jobs, and a model for every fifth, as read.
fn fleet(jobs: usize) -> Vec<Resource> {
    let base = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1:0:8k";
    let now = Instant::now();
    let mut out = Vec::with_capacity(jobs + jobs / 5);
    for i in 0..jobs {
        let name = format!("fine-tune-{i:06}");
        let mut resource = Resource::configured(Kind::Job, &name, "us-east-1", "", now);
        resource.read(
            Record::Job(JobRecord {
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
                ..Default::default()
            }),
            1_795_000_000.0,
        );
        out.push(resource);
    }
    for i in 0..jobs / 5 {
        let name = format!("custom-model-{i:06}");
        let mut resource = Resource::configured(Kind::Model, &name, "us-east-1", "", now);
        resource.read(
            Record::Model(ModelRecord {
                model_arn: Some(format!("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/{i:012}")),
                model_name: Some(name),
                base_model_arn: Some(base.to_owned()),
                customization_type: Some("FINE_TUNING".to_owned()),
                model_status: Some("Active".to_owned()),
                creation_time: Some(1_794_000_000.0),
                training_loss: Some(0.5),
                validation_losses: vec![Some(0.6)],
                ..ModelRecord::default()
            }),
            1_795_000_000.0,
        );
        out.push(resource);
    }
    out
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("exposition");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for jobs in [100, 1_000, 10_000] {
        let mut resources = fleet(jobs);
        let text = render_all(&resources.iter().collect::<Vec<_>>(), &[]);
        group.throughput(Throughput::Bytes(text.len() as u64));
        let label = format!("{} resources", resources.len());

        group.bench_function(BenchmarkId::new("render and assemble all", &label), |b| {
            let all: Vec<&Resource> = resources.iter().collect();
            b.iter(|| black_box(render_all(&all, &[])));
        });

        // A cycle in which 1% of the resources were read again: they are rendered, the rest copied.
        let mut assembler = Assembler::default();
        assembler.assemble(&resources.iter().collect::<Vec<_>>(), &[]);
        group.bench_function(BenchmarkId::new("a cycle with 1% changed", &label), |b| {
            b.iter(|| {
                for resource in resources.iter_mut().step_by(100) {
                    resource.touch();
                }
                let all: Vec<&Resource> = resources.iter().collect();
                black_box(assembler.assemble(&all, &[]))
            });
        });

        group.bench_function(BenchmarkId::new("gzip once per snapshot", &label), |b| {
            b.iter(|| black_box(gzip::open(&text, Bytes::copy_from_slice).unwrap()));
        });
    }
    group.finish();

    // What every scrape adds: the exporter's own metrics, encoded, and gzipped when asked.
    let telemetry = bedrock_exporter::exposition::Telemetry::new().unwrap();
    telemetry.init_region("us-east-1", &bedrock_exporter::bedrock::Operation::all());
    let mut group = c.benchmark_group("per scrape");
    group.bench_function("encode the own metrics", |b| {
        b.iter(|| black_box(telemetry.encode()))
    });
    let own = telemetry.encode();
    let opened = gzip::open(b"a_metric 1\n", Bytes::copy_from_slice).unwrap();
    group.bench_function("close the gzip member with the own metrics", |b| {
        b.iter(|| black_box(opened.close(&own)))
    });
    group.finish();
}

criterion_group!(exposition, benches);
criterion_main!(exposition, process_group);

fn process(c: &mut Criterion) {
    use prometheus::core::Collector;
    let collector = prometheus::process_collector::ProcessCollector::for_self();
    c.bench_function("per scrape/process collector alone", |b| {
        b.iter(|| black_box(collector.collect()))
    });
}

criterion_group!(process_group, process);
