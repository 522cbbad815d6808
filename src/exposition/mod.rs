//! The exposition: the pure mapping from what the fleet last saw to Bedrock series, and the
//! exporter's own metrics ([`telemetry`]).
//!
//! [`render`] builds a fresh registry from the watched [`Resource`]s each cycle, so a series whose
//! record went away cannot linger.

pub mod telemetry;

use prometheus::proto::MetricFamily;
use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};

pub use telemetry::Telemetry;

use crate::bedrock::{FetchError, Kind};
use crate::bedrock::{JobRecord, ModelRecord, Record};
use crate::fleet::Resource;

/// The health of one kind's discovery in one target, for its series and the index page.
#[derive(Debug, Clone)]
pub struct DiscoverySeries {
    pub kind: Kind,
    pub account: String,
    pub region: String,
    /// Whether the last listing (every page) succeeded.
    pub up: bool,
    /// Resources watched because it found them.
    pub discovered: usize,
    pub last_error: Option<FetchError>,
}

/// Known job statuses (`ModelCustomizationJobStatus`).
pub const JOB_STATUSES: [&str; 5] = ["InProgress", "Completed", "Failed", "Stopping", "Stopped"];
/// Known stage statuses (`JobStatusDetails`).
pub const STAGE_STATUSES: [&str; 6] = [
    "InProgress",
    "Completed",
    "Stopping",
    "Stopped",
    "Failed",
    "NotStarted",
];
/// Known custom model statuses (`ModelStatus`).
pub const MODEL_STATUSES: [&str; 3] = ["Active", "Creating", "Failed"];
/// The longest `message` label of `bedrock_customization_job_failure_info`.
pub const FAILURE_MESSAGE_MAX: usize = 256;

const JOB_LABELS: [&str; 3] = ["account_id", "region", "job_name"];
const MODEL_LABELS: [&str; 3] = ["account_id", "region", "model_name"];
const TARGET_LABELS: [&str; 4] = ["account_id", "kind", "identifier", "region"];
const DISCOVERY_LABELS: [&str; 3] = ["account_id", "kind", "region"];

/// The Bedrock gauges of one render, registered in a registry of their own.
struct BedrockFamilies {
    job_info: GaugeVec,
    job_status: GaugeVec,
    job_stage_status: GaugeVec,
    job_training_loss: GaugeVec,
    job_validation_loss: GaugeVec,
    job_hyperparameter: GaugeVec,
    job_creation: GaugeVec,
    job_end: GaugeVec,
    job_last_modified: GaugeVec,
    job_failure: GaugeVec,
    model_info: GaugeVec,
    model_status: GaugeVec,
    model_training_loss: GaugeVec,
    model_validation_loss: GaugeVec,
    model_hyperparameter: GaugeVec,
    model_creation: GaugeVec,
    target_up: GaugeVec,
    target_last_success: GaugeVec,
    discovery_up: GaugeVec,
    discovered: GaugeVec,
}

fn gauge(name: &str, help: &str, base: &[&str], extra: &[&str]) -> GaugeVec {
    let labels: Vec<&str> = base.iter().chain(extra).copied().collect();
    #[allow(clippy::expect_used)] // names and labels are constants, exercised by every test
    GaugeVec::new(Opts::new(name, help), &labels).expect("valid metric definition")
}

impl BedrockFamilies {
    fn new() -> Self {
        let j = &JOB_LABELS;
        let m = &MODEL_LABELS;
        BedrockFamilies {
            job_info: gauge("bedrock_customization_job_info", "Static facts of a model customization job, for joins; always 1.", j,
                &["job_arn", "base_model", "customization_type", "output_model_name", "output_model_arn"]),
            job_status: gauge("bedrock_customization_job_status", "Status of a model customization job: 1 for the current status, 0 for the others.", j, &["status"]),
            job_stage_status: gauge("bedrock_customization_job_stage_status", "Status of each stage of a model customization job (statusDetails): 1 for the current status, 0 for the others.", j, &["stage", "status"]),
            job_training_loss: gauge("bedrock_customization_job_training_loss", "Training loss reported for a model customization job (trainingMetrics.trainingLoss).", j, &[]),
            job_validation_loss: gauge("bedrock_customization_job_validation_loss", "Validation loss of a model customization job per validator (validationMetrics[i].validationLoss).", j, &["validator"]),
            job_hyperparameter: gauge("bedrock_customization_job_hyperparameter", "Numeric hyperparameter of a model customization job.", j, &["name"]),
            job_creation: gauge("bedrock_customization_job_creation_timestamp_seconds", "Creation time of a model customization job, in seconds since the Unix epoch.", j, &[]),
            job_end: gauge("bedrock_customization_job_end_timestamp_seconds", "End time of a finished model customization job, in seconds since the Unix epoch.", j, &[]),
            job_last_modified: gauge("bedrock_customization_job_last_modified_timestamp_seconds", "Last modification time of a model customization job, in seconds since the Unix epoch.", j, &[]),
            job_failure: gauge("bedrock_customization_job_failure_info", "Failure message of a failed model customization job (first line, at most 256 characters); always 1.", j, &["message"]),
            model_info: gauge("bedrock_custom_model_info", "Static facts of a custom model, for joins; always 1.", m,
                &["model_arn", "base_model", "customization_type", "job_name", "job_arn"]),
            model_status: gauge("bedrock_custom_model_status", "Status of a custom model: 1 for the current status, 0 for the others.", m, &["status"]),
            model_training_loss: gauge("bedrock_custom_model_training_loss", "Training loss of the job that produced a custom model.", m, &[]),
            model_validation_loss: gauge("bedrock_custom_model_validation_loss", "Validation loss of the job that produced a custom model, per validator.", m, &["validator"]),
            model_hyperparameter: gauge("bedrock_custom_model_hyperparameter", "Numeric hyperparameter of the job that produced a custom model.", m, &["name"]),
            model_creation: gauge("bedrock_custom_model_creation_timestamp_seconds", "Creation time of a custom model, in seconds since the Unix epoch.", m, &[]),
            target_up: gauge("bedrock_exporter_target_up", "Whether the last read of a watched job or model succeeded (1) or failed (0).", &TARGET_LABELS, &[]),
            target_last_success: gauge("bedrock_exporter_target_last_success_timestamp_seconds", "Time of the last successful read of a watched job or model, in seconds since the Unix epoch.", &TARGET_LABELS, &[]),
            discovery_up: gauge("bedrock_exporter_discovery_up", "Whether the last listing of a discovery (every page) succeeded (1) or failed (0).", &DISCOVERY_LABELS, &[]),
            discovered: gauge("bedrock_exporter_discovered_resources", "Jobs or models watched because discovery found them.", &DISCOVERY_LABELS, &[]),
        }
    }

    fn collectors(&self) -> [&GaugeVec; 20] {
        [
            &self.job_info,
            &self.job_status,
            &self.job_stage_status,
            &self.job_training_loss,
            &self.job_validation_loss,
            &self.job_hyperparameter,
            &self.job_creation,
            &self.job_end,
            &self.job_last_modified,
            &self.job_failure,
            &self.model_info,
            &self.model_status,
            &self.model_training_loss,
            &self.model_validation_loss,
            &self.model_hyperparameter,
            &self.model_creation,
            &self.target_up,
            &self.target_last_success,
            &self.discovery_up,
            &self.discovered,
        ]
    }

    fn job(&self, account: &str, region: &str, identifier: &str, job: &JobRecord) {
        let id = [
            account,
            region,
            job.job_name.as_deref().unwrap_or(identifier),
        ];
        let info = [
            &job.job_arn,
            &job.base_model_arn,
            &job.customization_type,
            &job.output_model_name,
            &job.output_model_arn,
        ]
        .map(or_empty);
        self.job_info
            .with_label_values(&labels(&id, &info))
            .set(1.0);
        if let Some(status) = job.status.as_deref() {
            state_set(&self.job_status, &id, &[], &JOB_STATUSES, status);
        }
        for (stage, status) in job.status_details.stages() {
            if let Some(status) = status {
                state_set(
                    &self.job_stage_status,
                    &id,
                    &[stage],
                    &STAGE_STATUSES,
                    status,
                );
            }
        }
        losses(
            &self.job_training_loss,
            &self.job_validation_loss,
            &id,
            job.training_loss,
            &job.validation_losses,
        );
        hyperparameters(&self.job_hyperparameter, &id, &job.hyper_parameters);
        for (family, value) in [
            (&self.job_creation, job.creation_time),
            (&self.job_end, job.end_time),
            (&self.job_last_modified, job.last_modified_time),
        ] {
            if let Some(value) = value {
                family.with_label_values(&id).set(value);
            }
        }
        if job.status.as_deref() == Some("Failed") {
            let message = one_line(job.failure_message.as_deref().unwrap_or_default());
            self.job_failure
                .with_label_values(&labels(&id, &[&message]))
                .set(1.0);
        }
    }

    fn model(&self, account: &str, region: &str, identifier: &str, model: &ModelRecord) {
        let id = [
            account,
            region,
            model.model_name.as_deref().unwrap_or(identifier),
        ];
        let info = [
            &model.model_arn,
            &model.base_model_arn,
            &model.customization_type,
            &model.job_name,
            &model.job_arn,
        ]
        .map(or_empty);
        self.model_info
            .with_label_values(&labels(&id, &info))
            .set(1.0);
        if let Some(status) = model.model_status.as_deref() {
            state_set(&self.model_status, &id, &[], &MODEL_STATUSES, status);
        }
        losses(
            &self.model_training_loss,
            &self.model_validation_loss,
            &id,
            model.training_loss,
            &model.validation_losses,
        );
        hyperparameters(&self.model_hyperparameter, &id, &model.hyper_parameters);
        if let Some(created) = model.creation_time {
            self.model_creation.with_label_values(&id).set(created);
        }
    }
}

/// A label value the API may leave out: absent is the empty string.
fn or_empty(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

/// The identifying labels followed by the family's own.
fn labels<'a>(id: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    id.iter().chain(extra).copied().collect()
}

/// Sets a state set: one series per known value (plus the current one if it is new), 1 for the
/// current value.
fn state_set(family: &GaugeVec, id: &[&str], extra: &[&str], known: &[&str], current: &str) {
    let unknown = (!known.contains(&current)).then_some(current);
    for value in known.iter().copied().chain(unknown) {
        let mut labels = labels(id, extra);
        labels.push(value);
        family
            .with_label_values(&labels)
            .set(if value == current { 1.0 } else { 0.0 });
    }
}

fn losses(
    training: &GaugeVec,
    validation: &GaugeVec,
    id: &[&str],
    train: Option<f64>,
    valid: &[Option<f64>],
) {
    if let Some(loss) = train {
        training.with_label_values(id).set(loss);
    }
    for (i, loss) in valid.iter().enumerate() {
        if let Some(loss) = loss {
            let validator = i.to_string();
            validation
                .with_label_values(&labels(id, &[&validator]))
                .set(*loss);
        }
    }
}

/// Exports the hyperparameters whose value is a number; the API sends them all as strings.
fn hyperparameters(
    family: &GaugeVec,
    id: &[&str],
    params: &std::collections::BTreeMap<String, String>,
) {
    for (name, value) in params {
        if let Ok(number) = value.trim().parse::<f64>() {
            family.with_label_values(&labels(id, &[name])).set(number);
        }
    }
}

/// The first line of a message, whitespace-trimmed, cut to [`FAILURE_MESSAGE_MAX`] characters.
pub fn one_line(message: &str) -> String {
    let line = message.trim().lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(FAILURE_MESSAGE_MAX) {
        Some((cut, _)) => line[..cut].to_owned(),
        None => line.to_owned(),
    }
}

/// Maps observations to the Bedrock series and the per-identifier health series. Pure: the same
/// observations always give the same families.
pub fn render(resources: &[Resource], discoveries: &[DiscoverySeries]) -> Vec<MetricFamily> {
    let families = BedrockFamilies::new();
    for discovery in discoveries {
        let labels = [
            discovery.account.as_str(),
            discovery.kind.as_str(),
            discovery.region.as_str(),
        ];
        families
            .discovery_up
            .with_label_values(&labels)
            .set(if discovery.up { 1.0 } else { 0.0 });
        families
            .discovered
            .with_label_values(&labels)
            .set(discovery.discovered as f64);
    }
    for obs in resources {
        let account = obs.account.as_str();
        let target = [
            account,
            obs.kind.as_str(),
            obs.identifier.as_str(),
            obs.region.as_str(),
        ];
        families
            .target_up
            .with_label_values(&target)
            .set(if obs.up { 1.0 } else { 0.0 });
        if let Some(at) = obs.last_success {
            families
                .target_last_success
                .with_label_values(&target)
                .set(at);
        }
        match &obs.record {
            Some(Record::Job(job)) => families.job(account, &obs.region, &obs.identifier, job),
            Some(Record::Model(model)) => {
                families.model(account, &obs.region, &obs.identifier, model)
            }
            None => {}
        }
    }
    // A registry of this render's own: gather() drops empty families and sorts series by labels,
    // so the output is deterministic.
    let registry = Registry::new();
    for family in families.collectors() {
        if let Err(error) = registry.register(Box::new(family.clone())) {
            tracing::error!(%error, "cannot register a Bedrock metric family");
        }
    }
    registry.gather()
}

/// Encodes families as the Prometheus text format 0.0.4, ordered by name.
pub fn encode(mut families: Vec<MetricFamily>) -> Vec<u8> {
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = Vec::with_capacity(16 * 1024);
    // Encoding into a Vec fails only on a family without metrics, which render() filters out
    // and registries never yield.
    if let Err(error) = TextEncoder::new().encode(&families, &mut out) {
        tracing::error!(%error, "cannot encode metrics");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn failure_messages_become_one_short_line() {
        assert_eq!(one_line("  first line\nsecond"), "first line");
        assert_eq!(
            one_line(&"é".repeat(300)).chars().count(),
            FAILURE_MESSAGE_MAX
        );
        assert_eq!(one_line(""), "");
    }

    #[test]
    fn unknown_status_gets_its_own_series() {
        let mut obs = Resource::configured(Kind::Job, "j", "us-east-1", "", Instant::now());
        obs.up = true;
        obs.record = Some(Record::Job(JobRecord {
            status: Some("Paused".into()),
            ..JobRecord::default()
        }));
        let text = String::from_utf8(encode(render(&[obs], &[]))).unwrap();
        assert!(text.contains(r#"bedrock_customization_job_status{account_id="",job_name="j",region="us-east-1",status="Paused"} 1"#), "{text}");
        assert!(text.contains(r#"bedrock_customization_job_status{account_id="",job_name="j",region="us-east-1",status="InProgress"} 0"#), "{text}");
    }

    #[test]
    fn a_missing_record_leaves_only_health_series() {
        let obs = Resource::configured(Kind::Model, "m", "eu-west-1", "", Instant::now());
        let names: Vec<String> = render(&[obs], &[])
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert_eq!(names, vec!["bedrock_exporter_target_up".to_owned()]);
    }
}
