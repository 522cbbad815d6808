//! The `--demo` account: jobs and custom models whose status and losses evolve over minutes,
//! served by the [`crate::simulator`], and the config that points the exporter at it.
//!
//! Eight jobs and four models exist from the start, in every status; then a new job starts every
//! [`NEW_JOB_EVERY`] and finishes about five minutes later (most complete and turn into a custom
//! model, some fail), so a newcomer watching `/` or `/metrics` sees discovery at work. The demo
//! discovers jobs created within the last two hours, so the two oldest jobs are not watched,
//! except one the config lists by ARN.
//!
//! Everything is a pure function of the time since the demo started, so the simulator computes
//! each answer on request and needs no background task.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::bedrock::kinds::batch_inference_job::RecordCounts;
use crate::bedrock::kinds::customization::Customization;
use crate::bedrock::kinds::{BatchInferenceJobRecord, EvaluationJobRecord};
use crate::bedrock::kinds::{CopyJobRecord, ImportJobRecord, ImportedModelRecord};
use crate::bedrock::kinds::{DeploymentRecord, ProvisionedThroughputRecord};
use crate::bedrock::{JobRecord, Kind, ModelRecord, Record, StatusDetails};
use crate::config::{Config, Discover, Discovery, Target};
use crate::poller::unix_seconds;
use crate::simulator::{self, Simulator};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
const TITAN: &str = "amazon.titan-text-express-v1:0:8k";
const NOVA_MICRO: &str = "amazon.nova-micro-v1:0:128k";
const LLAMA: &str = "meta.llama3-1-8b-instruct-v1:0:128k";
/// Losses are reported once per training step of this length.
const STEP: f64 = 10.0;

fn base_arn(model: &str) -> String {
    format!("arn:aws:bedrock:{REGION}::foundation-model/{model}")
}

fn job_arn(base: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/{base}/{id}")
}

fn model_arn(base: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/{base}/{id}")
}

/// How a job's run ends.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Completed,
    /// Fails in the validation stage, with this message.
    FailsValidation(&'static str),
    /// A stop is requested this many seconds into training; the job is Stopping for
    /// [`STOPPING_FOR`] seconds, then Stopped.
    StoppedAfter(f64),
}

const STOPPING_FOR: f64 = 70.0;

/// A new job starts this often, from this long after the demo starts.
pub const NEW_JOB_EVERY: Duration = Duration::from_secs(90);
/// The demo's discovery window for jobs.
const CREATED_WITHIN: Duration = Duration::from_secs(2 * 3600);
/// A new job's model is `Creating` this long, then `Active`.
const MODEL_CREATING_FOR: f64 = 60.0;

/// One demo job: its facts and its timeline, in seconds from its creation.
#[derive(Debug)]
struct JobSpec {
    name: &'static str,
    id: &'static str,
    base: &'static str,
    kind: &'static str,
    output_model: &'static str,
    /// How long before the demo started the job was created.
    age: f64,
    validation: f64,
    data_processing: f64,
    training: f64,
    outcome: Outcome,
    validators: usize,
    initial_loss: f64,
    final_loss: f64,
    hyper: &'static [(&'static str, &'static str)],
}

const FT_HYPER: &[(&str, &str)] = &[
    ("epochCount", "3"),
    ("batchSize", "8"),
    ("learningRate", "0.00001"),
    ("learningRateWarmupSteps", "5"),
];
const CPT_HYPER: &[(&str, &str)] = &[
    ("epochCount", "1"),
    ("batchSize", "16"),
    ("learningRate", "0.00005"),
];
const DISTILL_HYPER: &[(&str, &str)] = &[];

const JOBS: &[JobSpec] = &[
    JobSpec {
        name: "support-bot-ft-2026-11", id: "a1b2c3d4e5f6", base: TITAN, kind: "FINE_TUNING",
        output_model: "support-bot-v3", age: 120.0, validation: 20.0, data_processing: 40.0,
        training: 300.0, outcome: Outcome::Completed, validators: 2, initial_loss: 2.8,
        final_loss: 0.62, hyper: FT_HYPER,
    },
    JobSpec {
        name: "legal-corpus-cpt-2026-11", id: "b2c3d4e5f6a7", base: TITAN,
        kind: "CONTINUED_PRE_TRAINING", output_model: "legal-cpt-v2", age: 0.0, validation: 30.0,
        data_processing: 60.0, training: 240.0, outcome: Outcome::Completed, validators: 1,
        initial_loss: 3.4, final_loss: 1.9, hyper: CPT_HYPER,
    },
    JobSpec {
        name: "nova-micro-distill-2026-11", id: "c3d4e5f6a7b8", base: NOVA_MICRO,
        kind: "DISTILLATION", output_model: "nova-micro-support-distilled", age: 180.0,
        validation: 20.0, data_processing: 120.0, training: 360.0, outcome: Outcome::Completed,
        validators: 1, initial_loss: 1.9, final_loss: 0.41, hyper: DISTILL_HYPER,
    },
    JobSpec {
        name: "summarizer-ft-2026-10", id: "d4e5f6a7b8c9", base: LLAMA, kind: "FINE_TUNING",
        output_model: "summarizer-v1", age: 2.0 * 86400.0, validation: 60.0,
        data_processing: 300.0, training: 5400.0, outcome: Outcome::Completed, validators: 1,
        initial_loss: 2.2, final_loss: 0.48, hyper: FT_HYPER,
    },
    JobSpec {
        name: "intent-classifier-ft-bad-data", id: "e5f6a7b8c9d0", base: TITAN,
        kind: "FINE_TUNING", output_model: "intent-classifier-v1", age: 3600.0, validation: 45.0,
        data_processing: 0.0, training: 0.0,
        outcome: Outcome::FailsValidation("Validation of the training data failed: s3://demo-training-data/intent-classifier-ft-bad-data/train.jsonl line 1042: the \"completion\" field is missing."),
        validators: 1, initial_loss: 0.0, final_loss: 0.0, hyper: FT_HYPER,
    },
    JobSpec {
        name: "chat-ft-lr-sweep-3", id: "f6a7b8c9d0e1", base: NOVA_MICRO, kind: "FINE_TUNING",
        output_model: "chat-lr-sweep-3", age: 560.0, validation: 20.0, data_processing: 40.0,
        training: 1800.0, outcome: Outcome::StoppedAfter(480.0), validators: 1,
        initial_loss: 2.5, final_loss: 0.7, hyper: FT_HYPER,
    },
    JobSpec {
        name: "chat-ft-lr-sweep-2", id: "b8c9d0e1f2a3", base: NOVA_MICRO, kind: "FINE_TUNING",
        output_model: "chat-lr-sweep-2", age: 1500.0, validation: 20.0, data_processing: 40.0,
        training: 1800.0, outcome: Outcome::StoppedAfter(300.0), validators: 1,
        initial_loss: 2.5, final_loss: 0.7, hyper: FT_HYPER,
    },
    JobSpec {
        name: "web-corpus-cpt-2026-09", id: "a7b8c9d0e1f2", base: TITAN,
        kind: "CONTINUED_PRE_TRAINING", output_model: "web-cpt-v1", age: 30.0 * 86400.0,
        validation: 60.0, data_processing: 600.0, training: 7200.0,
        outcome: Outcome::StoppedAfter(3000.0), validators: 0, initial_loss: 3.6,
        final_loss: 2.1, hyper: CPT_HYPER,
    },
];

/// The jobs that start while the demo runs take these in turn (their name is the prefix of the
/// new job's name; `age` is unused).
const NEW_JOBS: &[JobSpec] = &[
    JobSpec {
        name: "support-bot-ft", id: "", base: TITAN, kind: "FINE_TUNING", output_model: "",
        age: 0.0, validation: 20.0, data_processing: 40.0, training: 240.0,
        outcome: Outcome::Completed, validators: 2, initial_loss: 2.6, final_loss: 0.58,
        hyper: FT_HYPER,
    },
    JobSpec {
        name: "summarizer-ft", id: "", base: LLAMA, kind: "FINE_TUNING", output_model: "",
        age: 0.0, validation: 30.0, data_processing: 60.0, training: 210.0,
        outcome: Outcome::Completed, validators: 1, initial_loss: 2.1, final_loss: 0.5,
        hyper: FT_HYPER,
    },
    JobSpec {
        name: "nova-micro-distill", id: "", base: NOVA_MICRO, kind: "DISTILLATION", output_model: "",
        age: 0.0, validation: 20.0, data_processing: 90.0, training: 180.0,
        outcome: Outcome::Completed, validators: 1, initial_loss: 1.8, final_loss: 0.43,
        hyper: DISTILL_HYPER,
    },
    JobSpec {
        name: "intent-classifier-ft", id: "", base: TITAN, kind: "FINE_TUNING", output_model: "",
        age: 0.0, validation: 40.0, data_processing: 0.0, training: 0.0,
        outcome: Outcome::FailsValidation("Validation of the training data failed: the validation set has 3 records; at least 10 are required."),
        validators: 1, initial_loss: 0.0, final_loss: 0.0, hyper: FT_HYPER,
    },
];

/// The names a job goes by.
#[derive(Debug)]
struct Names<'a> {
    name: &'a str,
    id: &'a str,
    output_model: &'a str,
}

impl JobSpec {
    fn names(&self) -> Names<'_> {
        Names {
            name: self.name,
            id: self.id,
            output_model: self.output_model,
        }
    }
}

/// One demo custom model.
#[derive(Debug)]
struct ModelSpec {
    name: &'static str,
    id: &'static str,
    /// The job that produced it, by index into [`JOBS`], if it is in the demo.
    job: Option<usize>,
    base: &'static str,
    kind: &'static str,
    age: f64,
    /// Seconds after creation when it turns Active; `None` for a model that failed.
    active_after: Option<f64>,
    failure: Option<&'static str>,
    training_loss: f64,
    validation_loss: f64,
}

const MODELS: &[ModelSpec] = &[
    ModelSpec { name: "summarizer-v1", id: "m1n2o3p4q5r6", job: Some(3), base: LLAMA, kind: "FINE_TUNING",
        age: 86400.0, active_after: Some(900.0), failure: None, training_loss: 0.48, validation_loss: 0.53 },
    ModelSpec { name: "support-bot-v2", id: "n2o3p4q5r6s7", job: None, base: TITAN, kind: "FINE_TUNING",
        age: 20.0 * 86400.0, active_after: Some(600.0), failure: None, training_loss: 0.71, validation_loss: 0.77 },
    ModelSpec { name: "legal-cpt-v1", id: "o3p4q5r6s7t8", job: None, base: TITAN, kind: "CONTINUED_PRE_TRAINING",
        age: 30.0, active_after: Some(150.0), failure: None, training_loss: 2.02, validation_loss: 2.11 },
    ModelSpec { name: "intent-classifier-v0", id: "p4q5r6s7t8u9", job: None, base: TITAN, kind: "FINE_TUNING",
        age: 7.0 * 86400.0, active_after: None,
        failure: Some("Model creation failed: the output artifacts could not be read from s3://demo-training-output/intent-classifier-v0/."),
        training_loss: 0.9, validation_loss: 1.3 },
];

/// A simulator serving the demo's records, which evolve from now on.
pub fn simulator() -> Simulator {
    Simulator::evolving(Timeline::new(Instant::now()))
}

/// The demo's records as a function of time since `started`.
#[derive(Debug, Clone)]
pub struct Timeline {
    started: Instant,
    started_unix: f64,
}

impl simulator::Timeline for Timeline {
    fn records(&self, kind: Kind, now: Instant) -> Vec<Record> {
        match kind {
            Kind::Job => self.jobs(now).into_iter().map(Record::Job).collect(),
            Kind::Model => self.models(now).into_iter().map(Record::Model).collect(),
            Kind::Deployment => deployments(self.started_unix, self.elapsed(now))
                .into_iter()
                .map(Record::Deployment)
                .collect(),
            Kind::ProvisionedThroughput => {
                provisioned_throughputs(self.started_unix, self.elapsed(now))
                    .into_iter()
                    .map(Record::ProvisionedThroughput)
                    .collect()
            }
            Kind::EvaluationJob => self
                .evaluation_jobs(now)
                .into_iter()
                .map(Record::from)
                .collect(),
            Kind::BatchInferenceJob => self
                .batch_inference_jobs(now)
                .into_iter()
                .map(Record::from)
                .collect(),
            Kind::ImportJob => import_jobs(self.started_unix, self.elapsed(now))
                .into_iter()
                .map(Record::ImportJob)
                .collect(),
            Kind::CopyJob => copy_jobs(self.started_unix, self.elapsed(now))
                .into_iter()
                .map(Record::CopyJob)
                .collect(),
            Kind::ImportedModel => imported_models(self.started_unix, self.elapsed(now))
                .into_iter()
                .map(Record::ImportedModel)
                .collect(),
        }
    }
}

impl Timeline {
    pub fn new(started: Instant) -> Timeline {
        Timeline {
            started,
            // Whole seconds, so the demo's timestamps read cleanly.
            started_unix: unix_seconds(SystemTime::now()).floor(),
        }
    }

    fn elapsed(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.started).as_secs_f64()
    }

    /// Every job as it stands at `now`: those of the start, then those started since.
    pub fn jobs(&self, now: Instant) -> Vec<JobRecord> {
        let elapsed = self.elapsed(now);
        let first = JOBS.iter().map(|spec| {
            job_at(
                spec,
                &spec.names(),
                self.started_unix - spec.age,
                spec.age + elapsed,
            )
        });
        first.chain(self.new_jobs(elapsed)).collect()
    }

    /// The jobs started since the demo began, `elapsed` seconds in.
    fn new_jobs(&self, elapsed: f64) -> impl Iterator<Item = JobRecord> + '_ {
        let every = NEW_JOB_EVERY.as_secs_f64();
        let started = (elapsed / every).floor() as usize;
        (1..=started).map(move |n| {
            let spec = &NEW_JOBS[(n - 1) % NEW_JOBS.len()];
            let name = format!("{}-run-{n:03}", spec.name);
            let names = Names {
                name: &name,
                id: &format!("run{n:09}"),
                output_model: &format!("{name}-model"),
            };
            let age = elapsed - n as f64 * every;
            job_at(spec, &names, self.started_unix + n as f64 * every, age)
        })
    }

    /// Every custom model as it stands at `now`: those of the start, and one for each new job
    /// that completed.
    pub fn models(&self, now: Instant) -> Vec<ModelRecord> {
        let elapsed = self.elapsed(now);
        let now_unix = self.started_unix + elapsed;
        let first = MODELS
            .iter()
            .map(|spec| model_at(spec, self.started_unix - spec.age, spec.age + elapsed));
        let made = self
            .new_jobs(elapsed)
            .filter_map(move |job| model_of(&job, now_unix));
        first.chain(made).collect()
    }
}

/// The custom model a completed job produced, as it stands at `now` (Unix seconds).
fn model_of(job: &JobRecord, now: f64) -> Option<ModelRecord> {
    if job.status.as_deref() != Some("Completed") {
        return None;
    }
    let created = job.end_time?;
    let status = if now - created < MODEL_CREATING_FOR {
        "Creating"
    } else {
        "Active"
    };
    Some(ModelRecord {
        model_arn: job.output_model_arn.clone(),
        model_name: job.output_model_name.clone(),
        job_name: job.job_name.clone(),
        job_arn: job.job_arn.clone(),
        base_model_arn: job.base_model_arn.clone(),
        customization_type: job.customization_type.clone(),
        model_status: Some(status.to_owned()),
        failure_message: None,
        creation_time: Some(created),
        hyper_parameters: job.hyper_parameters.clone(),
        training_loss: job.training_loss,
        validation_losses: job.validation_losses.clone(),
        customization: job.customization.clone(),
    })
}

/// A job `t` seconds after its creation at `created` (Unix seconds).
fn job_at(spec: &JobSpec, names: &Names, created: f64, t: f64) -> JobRecord {
    let train_start = spec.validation + spec.data_processing;
    let mut job = JobRecord {
        job_arn: Some(job_arn(spec.base, names.id)),
        job_name: Some(names.name.to_owned()),
        output_model_name: Some(names.output_model.to_owned()),
        base_model_arn: Some(base_arn(spec.base)),
        customization_type: Some(spec.kind.to_owned()),
        creation_time: Some(created),
        hyper_parameters: spec
            .hyper
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        customization: Customization {
            // The distillation job's teacher, as the console's examples pick it.
            teacher_model: (spec.kind == "DISTILLATION").then(|| {
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0".to_owned()
            }),
            ..Customization::default()
        },
        ..JobRecord::default()
    };
    let stage = |v: &str, d: &str, tr: &str| StatusDetails {
        validation: Some(v.to_owned()),
        data_processing: Some(d.to_owned()),
        training: Some(tr.to_owned()),
    };
    // When the job last changed, and where its training got to.
    let (status, details, changed, trained) = match spec.outcome {
        Outcome::FailsValidation(message) if t >= spec.validation => {
            job.failure_message = Some(message.to_owned());
            job.end_time = Some(created + spec.validation);
            (
                "Failed",
                stage("Failed", "NotStarted", "NotStarted"),
                spec.validation,
                None,
            )
        }
        Outcome::StoppedAfter(stop) if t >= train_start + stop + STOPPING_FOR => {
            job.end_time = Some(created + train_start + stop + STOPPING_FOR);
            (
                "Stopped",
                stage("Completed", "Completed", "Stopped"),
                train_start + stop + STOPPING_FOR,
                Some(stop),
            )
        }
        Outcome::StoppedAfter(stop) if t >= train_start + stop => (
            "Stopping",
            stage("Completed", "Completed", "Stopping"),
            train_start + stop,
            Some(stop),
        ),
        Outcome::Completed if t >= train_start + spec.training => {
            let end = train_start + spec.training;
            job.end_time = Some(created + end);
            job.output_model_arn = Some(model_arn(
                spec.base,
                &names.id.chars().rev().collect::<String>(),
            ));
            (
                "Completed",
                stage("Completed", "Completed", "Completed"),
                end,
                Some(spec.training),
            )
        }
        _ if t < spec.validation => (
            "InProgress",
            stage("InProgress", "NotStarted", "NotStarted"),
            0.0,
            None,
        ),
        _ if t < train_start => (
            "InProgress",
            stage("Completed", "InProgress", "NotStarted"),
            spec.validation,
            None,
        ),
        _ => {
            let into = t - train_start;
            let last_step = (into / STEP).floor() * STEP;
            (
                "InProgress",
                stage("Completed", "Completed", "InProgress"),
                train_start + last_step,
                Some(last_step),
            )
        }
    };
    job.status = Some(status.to_owned());
    job.status_details = details;
    job.last_modified_time = Some(created + changed);
    if let Some(trained) = trained {
        let progress = if spec.training > 0.0 {
            (trained / spec.training).min(1.0)
        } else {
            1.0
        };
        let step = (trained / STEP) as u64;
        let loss = loss_at(spec, names.name, progress, step, 0);
        job.training_loss = Some(loss);
        job.validation_losses = (0..spec.validators)
            .map(|i| {
                Some(round4(
                    loss * (1.06 + 0.03 * i as f64) + noise(names.name, step, i as u64 + 1) * 0.04,
                ))
            })
            .collect();
    }
    job
}

/// A model `t` seconds after its creation at `created`.
fn model_at(spec: &ModelSpec, created: f64, t: f64) -> ModelRecord {
    let job = spec.job.map(|i| &JOBS[i]);
    let status = match spec.active_after {
        Some(after) if t >= after => "Active",
        Some(_) => "Creating",
        None => "Failed",
    };
    ModelRecord {
        model_arn: Some(model_arn(spec.base, spec.id)),
        model_name: Some(spec.name.to_owned()),
        job_name: job.map(|j| j.name.to_owned()),
        job_arn: job.map(|j| job_arn(j.base, j.id)),
        base_model_arn: Some(base_arn(spec.base)),
        customization_type: Some(spec.kind.to_owned()),
        model_status: Some(status.to_owned()),
        failure_message: spec.failure.map(str::to_owned),
        creation_time: Some(created),
        hyper_parameters: job
            .map(|j| j.hyper)
            .unwrap_or(FT_HYPER)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        training_loss: Some(spec.training_loss),
        validation_losses: vec![Some(spec.validation_loss)],
        ..ModelRecord::default()
    }
}

/// One demo custom model deployment: of one of [`MODELS`], by index.
#[derive(Debug)]
struct DeploymentSpec {
    name: &'static str,
    id: &'static str,
    model: usize,
    age: f64,
    /// Seconds after creation when it turns Active; `None` for one that failed.
    active_after: Option<f64>,
    failure: Option<&'static str>,
    /// An update started this many seconds before the demo, Updating for [`UPDATING_FOR`].
    update_age: Option<f64>,
}

/// How long a demo deployment's update runs.
const UPDATING_FOR: f64 = 150.0;

const DEPLOYMENTS: &[DeploymentSpec] = &[
    // Created as the demo starts: Creating for a minute, then Active.
    DeploymentSpec {
        name: "summarizer-prod",
        id: "d1e2p3l4o5y6",
        model: 0,
        age: 0.0,
        active_after: Some(60.0),
        failure: None,
        update_age: None,
    },
    // Long Active, with an update running as the demo starts.
    DeploymentSpec {
        name: "support-bot-prod",
        id: "d2e3p4l5o6y7",
        model: 1,
        age: 15.0 * 86400.0,
        active_after: Some(600.0),
        failure: None,
        update_age: Some(30.0),
    },
    DeploymentSpec {
        name: "intent-classifier-canary",
        id: "d3e4p5l6o7y8",
        model: 3,
        age: 6.0 * 86400.0,
        active_after: None,
        failure: Some("Deployment failed: the custom model intent-classifier-v0 is not Active."),
        update_age: None,
    },
];

fn deployment_arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/{id}")
}

/// Every deployment `elapsed` seconds after the demo started at `started` (Unix seconds).
fn deployments(started: f64, elapsed: f64) -> Vec<DeploymentRecord> {
    DEPLOYMENTS
        .iter()
        .map(|spec| {
            let created = started - spec.age;
            let t = spec.age + elapsed;
            let model = &MODELS[spec.model];
            let (status, changed) = match spec.active_after {
                Some(after) if t >= after => ("Active", after),
                Some(_) => ("Creating", 0.0),
                None => ("Failed", 120.0),
            };
            let mut last_updated = created + changed;
            let update_status = spec.update_age.map(|age| {
                let update_started = started - age;
                if elapsed + age < UPDATING_FOR {
                    last_updated = update_started;
                    "Updating"
                } else {
                    last_updated = update_started + UPDATING_FOR;
                    "UpdateCompleted"
                }
            });
            DeploymentRecord {
                deployment_arn: Some(deployment_arn(spec.id)),
                deployment_name: Some(spec.name.to_owned()),
                model_arn: Some(model_arn(model.base, model.id)),
                status: Some(status.to_owned()),
                update_status: update_status.map(str::to_owned),
                failure_message: spec.failure.map(str::to_owned),
                creation_time: Some(created),
                last_updated_time: Some(last_updated),
            }
        })
        .collect()
}

/// One demo provisioned throughput, of one of [`MODELS`] (by index).
#[derive(Debug)]
struct ThroughputSpec {
    name: &'static str,
    id: &'static str,
    model: usize,
    age: f64,
    units: u32,
    /// Model units it is being updated to during the demo's first [`UPDATING_FOR`] seconds.
    updating_to: Option<u32>,
    commitment: Option<(&'static str, f64)>,
    failure: Option<&'static str>,
}

const DAY: f64 = 86400.0;

const THROUGHPUTS: &[ThroughputSpec] = &[
    // A one-month commitment bought 26 days ago: it expires within the week.
    ThroughputSpec { name: "support-bot-pt", id: "p1t2h3r4u5p6", model: 1, age: 26.0 * DAY, units: 2,
        updating_to: None, commitment: Some(("OneMonth", 30.0 * DAY)), failure: None },
    // No commitment; scaled from 1 to 2 model units as the demo starts.
    ThroughputSpec { name: "summarizer-pt", id: "p2t3h4r5u6p7", model: 0, age: 0.5 * DAY, units: 1,
        updating_to: Some(2), commitment: None, failure: None },
    ThroughputSpec { name: "legal-cpt-pt", id: "p3t4h5r6u7p8", model: 2, age: 2.0 * DAY, units: 4,
        updating_to: None, commitment: Some(("SixMonths", 182.0 * DAY)),
        failure: Some("Provisioning failed: insufficient capacity for 4 model units in us-east-1. Try fewer model units or another region.") },
];

/// Every provisioned throughput `elapsed` seconds after the demo started at `started`.
fn provisioned_throughputs(started: f64, elapsed: f64) -> Vec<ProvisionedThroughputRecord> {
    THROUGHPUTS
        .iter()
        .map(|spec| {
            let created = started - spec.age;
            let model = &MODELS[spec.model];
            let updating = spec.updating_to.is_some() && elapsed < UPDATING_FOR;
            let (status, units, desired, changed) = match (spec.failure, spec.updating_to) {
                (Some(_), _) => ("Failed", spec.units, spec.units, created + 300.0),
                (None, Some(to)) if updating => ("Updating", spec.units, to, started),
                (None, Some(to)) => ("InService", to, to, started + UPDATING_FOR),
                (None, None) => ("InService", spec.units, spec.units, created + 600.0),
            };
            ProvisionedThroughputRecord {
                provisioned_model_arn: Some(format!(
                    "arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/{}",
                    spec.id
                )),
                provisioned_model_name: Some(spec.name.to_owned()),
                model_arn: Some(model_arn(model.base, model.id)),
                desired_model_arn: Some(model_arn(model.base, model.id)),
                foundation_model_arn: Some(base_arn(model.base)),
                model_units: Some(units),
                desired_model_units: Some(desired),
                status: Some(status.to_owned()),
                commitment_duration: spec.commitment.map(|(d, _)| d.to_owned()),
                commitment_expiration_time: spec.commitment.map(|(_, term)| created + term),
                creation_time: Some(created),
                last_modified_time: Some(changed),
                failure_message: spec.failure.map(str::to_owned),
            }
        })
        .collect()
}

/// Training loss: exponential decay from the initial to the final loss, with noise.
fn loss_at(spec: &JobSpec, name: &str, progress: f64, step: u64, stream: u64) -> f64 {
    let span = spec.initial_loss - spec.final_loss;
    let decay = (-3.5 * progress).exp();
    let base = spec.final_loss + span * (decay - (-3.5f64).exp() * progress);
    let jitter = if progress >= 1.0 {
        0.0
    } else {
        noise(name, step, stream) * 0.06 * span
    };
    round4((base + jitter).max(0.0))
}

/// Deterministic noise in [-0.5, 0.5) from a name and a step (SplitMix64 over FNV-1a).
fn noise(name: &str, step: u64, stream: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ stream.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

// Evaluation and batch inference jobs: a few of each from the start, in every notable status,
// and a new one of each now and then, some of which fail.

/// One demo evaluation job: `runs_for` seconds after creation it ends (`None`: it runs on),
/// with `failure` if it fails.
#[derive(Debug)]
struct EvaluationSpec {
    name: &'static str,
    id: &'static str,
    job_type: &'static str,
    application_type: &'static str,
    age: f64,
    runs_for: Option<f64>,
    failure: Option<&'static str>,
}

const EVALUATIONS: &[EvaluationSpec] = &[
    EvaluationSpec { name: "summarizer-v1-accuracy", id: "e1v2a3l4j5o6", job_type: "Automated",
        application_type: "ModelEvaluation", age: 86400.0, runs_for: Some(1800.0), failure: None },
    EvaluationSpec { name: "support-bot-v3-robustness", id: "e2v3a4l5j6o7", job_type: "Automated",
        application_type: "ModelEvaluation", age: 60.0, runs_for: Some(240.0), failure: None },
    EvaluationSpec { name: "policy-kb-faithfulness", id: "e3v4a5l6j7o8", job_type: "Automated",
        application_type: "RagEvaluation", age: 2.0 * 3600.0, runs_for: Some(300.0),
        failure: Some("The knowledge base KB12345678 could not be queried: AccessDeniedException; 14 of 200 prompts failed") },
    EvaluationSpec { name: "tone-human-review", id: "e4v5a6l7j8o9", job_type: "Human",
        application_type: "ModelEvaluation", age: 5.0 * 3600.0, runs_for: None, failure: None },
];

/// A new evaluation job starts this often (the first this long after the demo starts) and
/// runs this long; every third fails.
const NEW_EVALUATION_EVERY: f64 = 240.0;
const NEW_EVALUATION_RUNS_FOR: f64 = 150.0;

/// An evaluation job `t` seconds after its creation at `created`.
fn evaluation_at(
    spec: &EvaluationSpec,
    name: &str,
    id: &str,
    created: f64,
    t: f64,
) -> EvaluationJobRecord {
    let ended = spec.runs_for.filter(|runs| t >= *runs);
    let status = match (ended, spec.failure) {
        (None, _) => "InProgress",
        (Some(_), None) => "Completed",
        (Some(_), Some(_)) => "Failed",
    };
    EvaluationJobRecord {
        job_arn: Some(format!(
            "arn:aws:bedrock:{REGION}:{ACCOUNT}:evaluation-job/{id}"
        )),
        job_name: Some(name.to_owned()),
        status: Some(status.to_owned()),
        job_type: Some(spec.job_type.to_owned()),
        application_type: Some(spec.application_type.to_owned()),
        creation_time: Some(created),
        last_modified_time: Some(created + ended.unwrap_or(0.0)),
        failure_message: spec.failure.filter(|_| ended.is_some()).map(str::to_owned),
    }
}

/// How a demo batch inference job ends.
#[derive(Debug, Clone, Copy)]
enum BatchOutcome {
    /// Every record processed: Completed, or PartiallyCompleted if some failed.
    Processed,
    /// Fails when this share of its records is processed, with this message.
    FailsAt(f64, &'static str),
    /// Never leaves the queue: Expired when its timeout passes.
    Expires,
}

/// One demo batch inference job: submitted, validated and scheduled for [`BATCH_QUEUED_FOR`]
/// seconds, then processing `per_second` records, one in `error_every` of them failing.
#[derive(Debug)]
struct BatchSpec {
    name: &'static str,
    id: &'static str,
    model: &'static str,
    invocation_type: &'static str,
    age: f64,
    total: i64,
    per_second: f64,
    /// One record in this many fails (0: none).
    error_every: i64,
    timeout_hours: i32,
    outcome: BatchOutcome,
}

/// Submitted, Validating, Scheduled: a third of this each.
const BATCH_QUEUED_FOR: f64 = 60.0;
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const NOVA_LITE: &str = "amazon.nova-lite-v1:0";

const BATCHES: &[BatchSpec] = &[
    BatchSpec {
        name: "ticket-triage-nightly",
        id: "b1a2t3c4h5j6",
        model: HAIKU,
        invocation_type: "InvokeModel",
        age: 86400.0,
        total: 12000,
        per_second: 8.0,
        error_every: 0,
        timeout_hours: 24,
        outcome: BatchOutcome::Processed,
    },
    BatchSpec {
        name: "catalog-descriptions",
        id: "b2a3t4c5h6j7",
        model: NOVA_LITE,
        invocation_type: "Converse",
        age: 0.0,
        total: 6000,
        per_second: 20.0,
        error_every: 0,
        timeout_hours: 24,
        outcome: BatchOutcome::Processed,
    },
    BatchSpec {
        name: "review-sentiment-q3",
        id: "b3a4t5c6h7j8",
        model: HAIKU,
        invocation_type: "InvokeModel",
        age: 2.0 * 86400.0,
        total: 50000,
        per_second: 15.0,
        error_every: 250,
        timeout_hours: 72,
        outcome: BatchOutcome::Processed,
    },
    BatchSpec {
        name: "embeddings-backfill",
        id: "b4a5t6c7h8j9",
        model: NOVA_LITE,
        invocation_type: "InvokeModel",
        age: 3.0 * 86400.0,
        total: 200000,
        per_second: 50.0,
        error_every: 0,
        timeout_hours: 24,
        outcome: BatchOutcome::Expires,
    },
];

/// The batch inference jobs submitted while the demo runs take these in turn (`name` is the
/// prefix of the new job's name), one every [`NEW_BATCH_EVERY`] seconds.
const NEW_BATCHES: &[BatchSpec] = &[
    BatchSpec { name: "support-transcripts", id: "", model: HAIKU, invocation_type: "Converse",
        age: 0.0, total: 3000, per_second: 25.0, error_every: 0, timeout_hours: 24,
        outcome: BatchOutcome::Processed },
    BatchSpec { name: "faq-rewrite", id: "", model: NOVA_LITE, invocation_type: "Converse",
        age: 0.0, total: 2000, per_second: 20.0, error_every: 400, timeout_hours: 24,
        outcome: BatchOutcome::Processed },
    BatchSpec { name: "product-tags", id: "", model: NOVA_LITE, invocation_type: "InvokeModel",
        age: 0.0, total: 4000, per_second: 25.0, error_every: 0, timeout_hours: 24,
        outcome: BatchOutcome::FailsAt(0.4, "Batch inference failed: record 1601 of s3://demo-batch-input/product-tags/records.jsonl is larger than 1 MB.\nNo further records were processed.") },
];
const NEW_BATCH_EVERY: f64 = 300.0;

/// A batch inference job `t` seconds after its submission at `submitted`.
fn batch_at(
    spec: &BatchSpec,
    name: &str,
    id: &str,
    submitted: f64,
    t: f64,
) -> BatchInferenceJobRecord {
    let timeout = f64::from(spec.timeout_hours) * 3600.0;
    let mut job = BatchInferenceJobRecord {
        job_arn: Some(format!(
            "arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{id}"
        )),
        job_name: Some(name.to_owned()),
        model_id: Some(spec.model.to_owned()),
        invocation_type: Some(spec.invocation_type.to_owned()),
        submit_time: Some(submitted),
        expiration_time: Some(submitted + timeout),
        timeout_hours: Some(spec.timeout_hours),
        ..BatchInferenceJobRecord::default()
    };
    let third = BATCH_QUEUED_FOR / 3.0;
    let queued = |status: &str, since: f64| (status.to_owned(), since);
    let (status, changed) = match spec.outcome {
        BatchOutcome::Expires if t >= timeout => {
            job.end_time = Some(submitted + timeout);
            queued("Expired", timeout)
        }
        _ if t < third => queued("Submitted", 0.0),
        _ if t < 2.0 * third => queued("Validating", third),
        BatchOutcome::Expires => queued("Scheduled", 2.0 * third),
        _ if t < BATCH_QUEUED_FOR => queued("Scheduled", 2.0 * third),
        BatchOutcome::Processed | BatchOutcome::FailsAt(..) => {
            let stop = match spec.outcome {
                BatchOutcome::FailsAt(share, _) => (spec.total as f64 * share).floor() as i64,
                _ => spec.total,
            };
            // Progress is reported every ten seconds.
            let running = ((t - BATCH_QUEUED_FOR) / 10.0).floor() * 10.0;
            let processed = ((running * spec.per_second) as i64).min(stop);
            let errors = if spec.error_every > 0 {
                processed / spec.error_every
            } else {
                0
            };
            job.records = RecordCounts {
                total: Some(spec.total),
                processed: Some(processed),
                success: Some(processed - errors),
                error: Some(errors),
            };
            let done_at = BATCH_QUEUED_FOR + (stop as f64 / spec.per_second / 10.0).ceil() * 10.0;
            if processed < stop {
                ("InProgress".to_owned(), BATCH_QUEUED_FOR + running)
            } else {
                job.end_time = Some(submitted + done_at);
                let status = match spec.outcome {
                    BatchOutcome::FailsAt(_, message) => {
                        job.message = Some(message.to_owned());
                        "Failed"
                    }
                    _ if errors > 0 => "PartiallyCompleted",
                    _ => "Completed",
                };
                (status.to_owned(), done_at)
            }
        }
    };
    job.status = Some(status);
    job.last_modified_time = Some(submitted + changed);
    job
}

impl Timeline {
    /// Every evaluation job as it stands at `now`: those of the start, then one every
    /// [`NEW_EVALUATION_EVERY`] seconds, each evaluating the model of a recent customization.
    pub fn evaluation_jobs(&self, now: Instant) -> Vec<EvaluationJobRecord> {
        let elapsed = self.elapsed(now);
        let first = EVALUATIONS.iter().map(|spec| {
            evaluation_at(
                spec,
                spec.name,
                spec.id,
                self.started_unix - spec.age,
                spec.age + elapsed,
            )
        });
        let started = (elapsed / NEW_EVALUATION_EVERY).floor() as usize;
        let new = (1..=started).map(move |n| {
            let spec = EvaluationSpec {
                name: "",
                id: "",
                job_type: "Automated",
                application_type: "ModelEvaluation",
                age: 0.0,
                runs_for: Some(NEW_EVALUATION_RUNS_FOR),
                failure: (n % 3 == 0).then_some(
                    "The evaluation dataset s3://demo-evaluation-data/support-prompts.jsonl has 3 records without a \"prompt\" field.",
                ),
            };
            let created = n as f64 * NEW_EVALUATION_EVERY;
            evaluation_at(
                &spec,
                &format!("support-bot-eval-{n:03}"),
                &format!("evalrun{n:05}"),
                self.started_unix + created,
                elapsed - created,
            )
        });
        first.chain(new).collect()
    }

    /// Every batch inference job as it stands at `now`: those of the start, then one every
    /// [`NEW_BATCH_EVERY`] seconds.
    pub fn batch_inference_jobs(&self, now: Instant) -> Vec<BatchInferenceJobRecord> {
        let elapsed = self.elapsed(now);
        let first = BATCHES.iter().map(|spec| {
            batch_at(
                spec,
                spec.name,
                spec.id,
                self.started_unix - spec.age,
                spec.age + elapsed,
            )
        });
        let started = (elapsed / NEW_BATCH_EVERY).floor() as usize;
        let new = (1..=started).map(move |n| {
            let spec = &NEW_BATCHES[(n - 1) % NEW_BATCHES.len()];
            let submitted = n as f64 * NEW_BATCH_EVERY;
            batch_at(
                spec,
                &format!("{}-{n:03}", spec.name),
                &format!("batchrun{n:04}"),
                self.started_unix + submitted,
                elapsed - submitted,
            )
        });
        first.chain(new).collect()
    }
}

/// Model import jobs: a few of the start, then one every [`NEW_IMPORT_EVERY`], each taking
/// [`IMPORT_TAKES`]; every third of those fails (so the failure alert has something to show).
const IMPORT_JOBS: &[ImportSpec] = &[
    ImportSpec { name: "import-llama-3-1-8b-support", id: "imp0a1b2c3d4", model: "llama-3-1-8b-support", age: 3000.0, fails: None },
    ImportSpec { name: "import-mistral-7b-legal", id: "imp1b2c3d4e5", model: "mistral-7b-legal", age: 60.0, fails: None },
    ImportSpec { name: "import-qwen-2-5-7b-bad-weights", id: "imp2c3d4e5f6", model: "qwen-2-5-7b-chat", age: 1200.0,
        fails: Some("The model weights in s3://demo-model-import/qwen-2-5-7b-chat/ are not in safetensors format.") },
];
/// A new import job starts this often.
const NEW_IMPORT_EVERY: f64 = 300.0;
/// How long an import job runs.
const IMPORT_TAKES: f64 = 240.0;

/// One demo import job, and the imported model it makes.
#[derive(Debug)]
struct ImportSpec {
    name: &'static str,
    id: &'static str,
    model: &'static str,
    /// How long before the demo started it was created.
    age: f64,
    fails: Option<&'static str>,
}

/// Every import job `elapsed` seconds into the demo: those of the start, then those started since.
fn import_jobs(started_unix: f64, elapsed: f64) -> Vec<ImportJobRecord> {
    let first = IMPORT_JOBS.iter().map(|spec| {
        import_job_at(
            spec.name,
            spec.id,
            spec.model,
            spec.fails,
            started_unix - spec.age,
            spec.age + elapsed,
        )
    });
    let started = (elapsed / NEW_IMPORT_EVERY).floor() as usize;
    let new = (1..=started).map(move |n| {
        let name = format!("import-llama-run-{n:03}");
        let model = format!("llama-run-{n:03}");
        let fails = (n % 3 == 0)
            .then_some("The model configuration config.json is missing from the import location.");
        let created = started_unix + n as f64 * NEW_IMPORT_EVERY;
        import_job_at(
            &name,
            &format!("imp{n:09}"),
            &model,
            fails,
            created,
            elapsed - n as f64 * NEW_IMPORT_EVERY,
        )
    });
    first.chain(new).collect()
}

/// An import job `t` seconds after its creation at `created` (Unix seconds).
fn import_job_at(
    name: &str,
    id: &str,
    model: &str,
    fails: Option<&str>,
    created: f64,
    t: f64,
) -> ImportJobRecord {
    let mut job = ImportJobRecord {
        job_arn: Some(format!(
            "arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/{id}"
        )),
        job_name: Some(name.to_owned()),
        imported_model_name: Some(model.to_owned()),
        status: Some("InProgress".to_owned()),
        creation_time: Some(created),
        last_modified_time: Some(created),
        ..ImportJobRecord::default()
    };
    // A failing job gives up a third of the way in.
    let takes = if fails.is_some() {
        IMPORT_TAKES / 3.0
    } else {
        IMPORT_TAKES
    };
    if t >= takes {
        let end = created + takes;
        job.end_time = Some(end);
        job.last_modified_time = Some(end);
        match fails {
            Some(message) => {
                job.status = Some("Failed".to_owned());
                job.failure_message = Some(message.to_owned());
            }
            None => {
                job.status = Some("Completed".to_owned());
                job.imported_model_arn = Some(imported_model_arn(id));
            }
        }
    }
    job
}

/// The imported model an import job makes: its id is the job's, reversed.
fn imported_model_arn(job_id: &str) -> String {
    let id: String = job_id.chars().rev().collect();
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:imported-model/{id}")
}

/// Model copy jobs: custom models of the team's training account copied into this one. One of
/// the start is done; then one starts every [`NEW_COPY_EVERY`] and takes [`COPY_TAKES`]; every
/// fourth fails (the source model's KMS key is not shared).
const SOURCE_ACCOUNT: &str = "210987654321";
const COPY_JOBS: &[CopySpec] = &[
    CopySpec {
        id: "cpy0a1b2c3d4",
        model: "support-bot-v3",
        source_id: "s0a1b2c3d4e5",
        age: 2400.0,
        fails: false,
    },
    CopySpec {
        id: "cpy1b2c3d4e5",
        model: "legal-cpt-v2",
        source_id: "s1b2c3d4e5f6",
        age: 30.0,
        fails: false,
    },
];
const NEW_COPY_EVERY: f64 = 420.0;
const COPY_TAKES: f64 = 150.0;

/// One demo copy job.
#[derive(Debug)]
struct CopySpec {
    id: &'static str,
    model: &'static str,
    source_id: &'static str,
    age: f64,
    fails: bool,
}

/// Every copy job `elapsed` seconds into the demo.
fn copy_jobs(started_unix: f64, elapsed: f64) -> Vec<CopyJobRecord> {
    let first = COPY_JOBS.iter().map(|spec| {
        let created = started_unix - spec.age;
        copy_job_at(
            spec.id,
            spec.model,
            spec.source_id,
            spec.fails,
            created,
            spec.age + elapsed,
        )
    });
    let started = (elapsed / NEW_COPY_EVERY).floor() as usize;
    let new = (1..=started).map(move |n| {
        let created = started_unix + n as f64 * NEW_COPY_EVERY;
        let model = format!("support-bot-nightly-{n:03}");
        let (id, source) = (format!("cpy{n:09}"), format!("src{n:09}"));
        copy_job_at(
            &id,
            &model,
            &source,
            n % 4 == 0,
            created,
            elapsed - n as f64 * NEW_COPY_EVERY,
        )
    });
    first.chain(new).collect()
}

/// A copy job `t` seconds after its creation at `created` (Unix seconds).
fn copy_job_at(
    id: &str,
    model: &str,
    source_id: &str,
    fails: bool,
    created: f64,
    t: f64,
) -> CopyJobRecord {
    let status = match (t >= COPY_TAKES, fails) {
        (false, _) => "InProgress",
        (true, false) => "Completed",
        (true, true) => "Failed",
    };
    let target_id: String = id.chars().rev().collect();
    CopyJobRecord {
        job_arn: Some(format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:model-copy-job/{id}")),
        status: Some(status.to_owned()),
        creation_time: Some(created),
        target_model_arn: Some(model_arn(TITAN, &target_id)),
        target_model_name: Some(model.to_owned()),
        source_account_id: Some(SOURCE_ACCOUNT.to_owned()),
        source_model_arn: Some(format!("arn:aws:bedrock:{REGION}:{SOURCE_ACCOUNT}:custom-model/{TITAN}/{source_id}")),
        source_model_name: Some(model.to_owned()),
        failure_message: (status == "Failed").then(|| {
            format!("The KMS key of source model {model} in account {SOURCE_ACCOUNT} is not shared with account {ACCOUNT}.")
        }),
    }
}

/// The imported models: one for each import job that completed, created as it ended.
fn imported_models(started_unix: f64, elapsed: f64) -> Vec<ImportedModelRecord> {
    import_jobs(started_unix, elapsed)
        .into_iter()
        .filter(|job| job.status.as_deref() == Some("Completed"))
        .map(|job| {
            let name = job.imported_model_name.clone().unwrap_or_default();
            // What the weights are decides the architecture and how many units a copy takes.
            let (architecture, units) = match name.split('-').next() {
                Some("mistral") => ("mistral", 1),
                Some("qwen") => ("qwen2", 2),
                _ => ("llama3", 2),
            };
            ImportedModelRecord {
                model_arn: job.imported_model_arn.clone(),
                model_name: Some(name),
                job_name: job.job_name.clone(),
                job_arn: job.job_arn.clone(),
                creation_time: job.end_time,
                model_architecture: Some(architecture.to_owned()),
                instruct_supported: Some(true),
                custom_model_units: Some(units),
            }
        })
        .collect()
}

/// The demo's AWS settings: static credentials, and its region.
pub fn sdk_config() -> aws_config::SdkConfig {
    crate::bedrock::aws::static_config(REGION, "AKIADEMODEMODEMODEMO", "demo-secret-access-key")
}

/// The config `--demo` runs with: discovery of every job of the last two hours and every
/// model, and one older job and one model listed (the model is discovered too, and watched once),
/// polled every few seconds from the simulator at `endpoint_url`.
pub fn config(endpoint_url: &str) -> Config {
    let summarizer = &JOBS[3];
    Config {
        interval: Duration::from_secs(5),
        terminal_interval: Duration::from_secs(30),
        request_timeout: Duration::from_secs(5),
        concurrency: 4,
        targets: vec![Target {
            region: Some(REGION.to_owned()),
            role_arn: None,
            endpoint_url: Some(endpoint_url.to_owned()),
            lists: [
                (Kind::Job, vec![job_arn(summarizer.base, summarizer.id)]),
                (Kind::Model, vec![MODELS[1].name.to_owned()]),
            ]
            .into(),
            discover: Discover::from([
                (
                    Kind::Job,
                    Discovery {
                        created_within: Some(CREATED_WITHIN),
                        ..Discovery::default()
                    },
                ),
                (Kind::Model, Discovery::default()),
                (Kind::Deployment, Discovery::default()),
                (Kind::ProvisionedThroughput, Discovery::default()),
                (Kind::EvaluationJob, Discovery::default()),
                (Kind::BatchInferenceJob, Discovery::default()),
                (
                    Kind::ImportJob,
                    Discovery {
                        created_within: Some(CREATED_WITHIN),
                        ..Discovery::default()
                    },
                ),
                (
                    Kind::CopyJob,
                    Discovery {
                        created_within: Some(CREATED_WITHIN),
                        ..Discovery::default()
                    },
                ),
                (Kind::ImportedModel, Discovery::default()),
            ]),
        }],
        organizations: Vec::new(),
        exclude_metrics: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(fleet: &Timeline, at: Instant) -> Vec<String> {
        fleet
            .jobs(at)
            .into_iter()
            .map(|j| j.status.unwrap_or_default())
            .collect()
    }

    #[test]
    fn every_status_shows_at_start_and_jobs_move_on() {
        let start = Instant::now();
        let fleet = Timeline::new(start);
        let first = statuses(&fleet, start);
        for status in ["InProgress", "Completed", "Failed", "Stopping", "Stopped"] {
            assert!(
                first.iter().any(|s| s == status),
                "{status} missing from {first:?}"
            );
        }
        // The jobs of the start have all ended ten minutes in.
        let later = statuses(&fleet, start + Duration::from_secs(600));
        assert!(
            !later[..JOBS.len()]
                .iter()
                .any(|s| s == "InProgress" || s == "Stopping"),
            "{later:?}"
        );
        let models: Vec<_> = fleet
            .models(start)
            .into_iter()
            .map(|m| m.model_status.unwrap_or_default())
            .collect();
        for status in ["Active", "Creating", "Failed"] {
            assert!(
                models.iter().any(|s| s == status),
                "{status} missing from {models:?}"
            );
        }
    }

    #[test]
    fn losses_fall_while_training() {
        let start = Instant::now();
        let fleet = Timeline::new(start);
        let loss = |secs| {
            fleet.jobs(start + Duration::from_secs(secs))[0]
                .training_loss
                .unwrap_or(f64::NAN)
        };
        assert!(loss(0) > loss(120), "{} then {}", loss(0), loss(120));
        assert!(loss(120) > loss(400), "{} then {}", loss(120), loss(400));
        assert_eq!(loss(400), 0.62);
    }

    #[test]
    fn a_new_job_starts_every_ninety_seconds_and_ends_within_minutes() {
        let start = Instant::now();
        let timeline = Timeline::new(start);
        let at = |secs: u64| timeline.jobs(start + Duration::from_secs(secs));
        assert_eq!(at(0).len(), JOBS.len());
        assert_eq!(at(89).len(), JOBS.len());
        let later = at(91);
        assert_eq!(later.len(), JOBS.len() + 1);
        let new = later.last().unwrap();
        assert_eq!(new.job_name.as_deref(), Some("support-bot-ft-run-001"));
        assert_eq!(new.status.as_deref(), Some("InProgress"));
        assert!(
            crate::bedrock::kinds::job::check_identifier(new.job_arn.as_deref().unwrap()).is_ok()
        );
        // Five minutes after it started it has completed, and its model exists.
        let done = at(90 + 310);
        let run = done
            .iter()
            .find(|j| j.job_name.as_deref() == Some("support-bot-ft-run-001"))
            .unwrap();
        assert_eq!(run.status.as_deref(), Some("Completed"));
        let models = timeline.models(start + Duration::from_secs(90 + 310));
        let model = models
            .iter()
            .find(|m| m.model_name.as_deref() == Some("support-bot-ft-run-001-model"))
            .unwrap();
        assert_eq!(model.model_status.as_deref(), Some("Creating"));
        assert!(crate::bedrock::kinds::model::check_identifier(
            model.model_arn.as_deref().unwrap()
        )
        .is_ok());
        // The fourth new job fails.
        let failed = at(4 * 90 + 60);
        let fourth = failed
            .iter()
            .find(|j| j.job_name.as_deref() == Some("intent-classifier-ft-run-004"))
            .unwrap();
        assert_eq!(fourth.status.as_deref(), Some("Failed"));
    }

    #[test]
    fn a_deployment_turns_active_after_a_minute_and_one_has_failed() {
        let at = |secs: f64| deployments(1_793_534_400.0, secs);
        let status = |ds: &[DeploymentRecord], name: &str| {
            let d = ds
                .iter()
                .find(|d| d.deployment_name.as_deref() == Some(name))
                .unwrap();
            (d.status.clone().unwrap(), d.update_status.clone())
        };
        let start = at(0.0);
        assert_eq!(status(&start, "summarizer-prod").0, "Creating");
        assert_eq!(
            status(&start, "support-bot-prod").1.as_deref(),
            Some("Updating")
        );
        assert_eq!(status(&start, "intent-classifier-canary").0, "Failed");
        let later = at(121.0);
        assert_eq!(status(&later, "summarizer-prod").0, "Active");
        assert_eq!(
            status(&later, "support-bot-prod").1.as_deref(),
            Some("UpdateCompleted")
        );
        for d in &start {
            let arn = d.deployment_arn.as_deref().unwrap();
            assert!(crate::bedrock::kinds::deployment::check_identifier(arn).is_ok());
        }
    }

    #[test]
    fn a_commitment_expires_within_the_week_and_one_throughput_failed() {
        let started = 1_793_534_400.0;
        let pts = provisioned_throughputs(started, 0.0);
        let by_name = |name: &str| {
            pts.iter()
                .find(|p| p.provisioned_model_name.as_deref() == Some(name))
                .unwrap()
        };
        let expiry = by_name("support-bot-pt")
            .commitment_expiration_time
            .unwrap();
        assert!(expiry > started && expiry - started < 7.0 * DAY, "{expiry}");
        assert_eq!(by_name("legal-cpt-pt").status.as_deref(), Some("Failed"));
        assert_eq!(by_name("summarizer-pt").status.as_deref(), Some("Updating"));
        let later = provisioned_throughputs(started, UPDATING_FOR);
        assert_eq!(later[1].status.as_deref(), Some("InService"));
        assert_eq!(later[1].model_units, Some(2));
        for pt in &pts {
            let arn = pt.provisioned_model_arn.as_deref().unwrap();
            assert!(crate::bedrock::kinds::provisioned_throughput::check_identifier(arn).is_ok());
        }
    }

    #[test]
    fn evaluation_and_batch_jobs_move_through_their_statuses() {
        use crate::bedrock::kinds::{batch_inference_job, evaluation_job};
        let start = Instant::now();
        let timeline = Timeline::new(start);
        let at = |secs: u64| start + Duration::from_secs(secs);
        let evaluations = |secs| -> Vec<String> {
            timeline
                .evaluation_jobs(at(secs))
                .into_iter()
                .map(|j| j.status.unwrap_or_default())
                .collect()
        };
        assert_eq!(
            evaluations(0),
            ["Completed", "InProgress", "Failed", "InProgress"]
        );
        assert_eq!(evaluations(200)[1], "Completed");
        // The third new evaluation fails once it has run.
        let later = timeline.evaluation_jobs(at(3 * 240 + 200));
        let third = later.last().unwrap();
        assert_eq!(third.job_name.as_deref(), Some("support-bot-eval-003"));
        assert_eq!(third.status.as_deref(), Some("Failed"));
        assert!(third.failure_message.is_some());
        for job in &later {
            assert_eq!(
                evaluation_job::check_identifier(job.job_arn.as_deref().unwrap()),
                Ok(())
            );
        }

        let batches = |secs| timeline.batch_inference_jobs(at(secs));
        let statuses: Vec<_> = batches(0)
            .into_iter()
            .map(|j| j.status.unwrap_or_default())
            .collect();
        assert_eq!(
            statuses,
            ["Completed", "Submitted", "PartiallyCompleted", "Expired"]
        );
        let processed = |secs| batches(secs)[1].records.processed;
        assert_eq!(processed(30), None);
        assert!(
            processed(120) < processed(240),
            "{:?} then {:?}",
            processed(120),
            processed(240)
        );
        let done = &batches(400)[1];
        assert_eq!(done.status.as_deref(), Some("Completed"));
        assert_eq!(done.records.processed, Some(6000));
        // The third new batch job fails part-way.
        let failed = batches(3 * 300 + 200);
        let third = failed.last().unwrap();
        assert_eq!(third.job_name.as_deref(), Some("product-tags-003"));
        assert_eq!(third.status.as_deref(), Some("Failed"));
        assert_eq!(third.records.processed, Some(1600));
        for job in &failed {
            assert_eq!(
                batch_inference_job::check_identifier(job.job_arn.as_deref().unwrap()),
                Ok(())
            );
        }
    }

    #[test]
    fn import_jobs_run_complete_and_fail() {
        let statuses = |elapsed: f64| -> Vec<String> {
            import_jobs(1_793_534_400.0, elapsed)
                .into_iter()
                .map(|j| j.status.unwrap_or_default())
                .collect()
        };
        let first = statuses(0.0);
        for status in ["InProgress", "Completed", "Failed"] {
            assert!(first.iter().any(|s| s == status), "{status}: {first:?}");
        }
        // The third new import job fails.
        let later = import_jobs(1_793_534_400.0, 3.0 * NEW_IMPORT_EVERY + IMPORT_TAKES);
        assert_eq!(later.len(), IMPORT_JOBS.len() + 3);
        assert_eq!(
            later[IMPORT_JOBS.len()].status.as_deref(),
            Some("Completed")
        );
        assert_eq!(
            later[IMPORT_JOBS.len() + 2].status.as_deref(),
            Some("Failed")
        );
        for job in &later {
            let arn = job.job_arn.as_deref().unwrap_or_default();
            assert_eq!(
                crate::bedrock::kinds::import_job::check_identifier(arn),
                Ok(())
            );
        }
    }

    #[test]
    fn copy_jobs_run_complete_and_fail() {
        let later = copy_jobs(1_793_534_400.0, 4.0 * NEW_COPY_EVERY + COPY_TAKES);
        assert_eq!(later.len(), COPY_JOBS.len() + 4);
        let statuses: Vec<&str> = later.iter().filter_map(|j| j.status.as_deref()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == "Failed").count(),
            1,
            "{statuses:?}"
        );
        let first = copy_jobs(1_793_534_400.0, 0.0);
        assert_eq!(first[1].status.as_deref(), Some("InProgress"));
        for job in later.iter().chain(&first) {
            let arn = job.job_arn.as_deref().unwrap_or_default();
            assert_eq!(
                crate::bedrock::kinds::copy_job::check_identifier(arn),
                Ok(())
            );
        }
    }

    #[test]
    fn completed_import_jobs_make_imported_models() {
        let models = imported_models(1_793_534_400.0, 0.0);
        assert_eq!(models.len(), 1, "{models:?}");
        let later = imported_models(1_793_534_400.0, NEW_IMPORT_EVERY + IMPORT_TAKES);
        assert_eq!(later.len(), 3, "{later:?}");
        for model in &later {
            assert!(model.custom_model_units.is_some_and(|u| u > 0));
            let arn = model.model_arn.as_deref().unwrap_or_default();
            assert_eq!(
                crate::bedrock::kinds::imported_model::check_identifier(arn),
                Ok(())
            );
        }
    }

    #[test]
    fn the_demo_config_names_valid_identifiers() {
        let config = config("http://127.0.0.1:1");
        let target = &config.targets[0];
        for (kind, ids) in &target.lists {
            for id in ids {
                assert_eq!((kind.spec().check_identifier)(id), Ok(()), "{id}");
            }
        }
    }
}
