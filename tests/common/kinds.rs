//! Records of every kind for tests: one fixture builder over all nine kinds.

use bedrock_exporter::bedrock::kinds::{
    BatchInferenceJobRecord, CopyJobRecord, DeploymentRecord, EvaluationJobRecord, ImportJobRecord,
    ImportedModelRecord, ProvisionedThroughputRecord,
};
use bedrock_exporter::bedrock::{JobRecord, Kind, ModelRecord, Record};

use super::{ACCOUNT, REGION};

/// The paused tests' wall clock: 2026-11-30T00:00:00Z.
pub const NOW: f64 = 1_795_996_800.0;

/// [`NOW`] as a poller's wall clock (`Poller::with_clock`).
pub fn fixed_clock() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(NOW)
}

/// Where a fixture stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Settled,
    Failed,
}

pub fn arn(kind: &str, i: usize) -> Option<String> {
    Some(format!(
        "arn:aws:bedrock:{REGION}:{ACCOUNT}:{kind}/r{i:011}"
    ))
}

/// Resource `i` of `kind` in `state`, created an hour before [`NOW`].
pub fn resource(kind: Kind, i: usize, state: State) -> Record {
    let failure = (state == State::Failed)
        .then(|| format!("{} {i} failed: the input was rejected", kind.as_str()));
    let name = Some(format!("{}-{i:05}", kind.as_str().replace('_', "-")));
    let created = Some(NOW - 3_600.0);
    let status = |when_running: &str, settled: &str| {
        Some(
            match state {
                State::Running => when_running,
                State::Settled => settled,
                State::Failed => "Failed",
            }
            .to_owned(),
        )
    };
    match kind {
        Kind::Job => Record::Job(JobRecord {
            job_arn: arn(
                "model-customization-job/amazon.titan-text-express-v1:0:8k",
                i,
            ),
            job_name: name,
            status: status("InProgress", "Completed"),
            creation_time: created,
            last_modified_time: created,
            failure_message: failure.clone(),
            ..JobRecord::default()
        }),
        Kind::Model => Record::Model(ModelRecord {
            model_arn: arn("custom-model/amazon.titan-text-express-v1:0:8k", i),
            model_name: name,
            model_status: status("Creating", "Active"),
            creation_time: created,
            failure_message: failure.clone(),
            ..ModelRecord::default()
        }),
        Kind::Deployment => Record::Deployment(DeploymentRecord {
            deployment_arn: arn("custom-model-deployment", i),
            deployment_name: name,
            status: status("Creating", "Active"),
            creation_time: created,
            last_updated_time: created,
            failure_message: failure.clone(),
            ..DeploymentRecord::default()
        }),
        Kind::ProvisionedThroughput => Record::ProvisionedThroughput(ProvisionedThroughputRecord {
            provisioned_model_arn: arn("provisioned-model", i),
            provisioned_model_name: name,
            status: status("Creating", "InService"),
            model_units: Some(1),
            desired_model_units: Some(1),
            creation_time: created,
            last_modified_time: created,
            failure_message: failure.clone(),
            ..ProvisionedThroughputRecord::default()
        }),
        Kind::EvaluationJob => Record::EvaluationJob(EvaluationJobRecord {
            job_arn: arn("evaluation-job", i),
            job_name: name,
            status: status("InProgress", "Completed"),
            job_type: Some("Automated".to_owned()),
            creation_time: created,
            failure_message: failure.clone(),
            ..EvaluationJobRecord::default()
        }),
        Kind::BatchInferenceJob => Record::BatchInferenceJob(BatchInferenceJobRecord {
            job_arn: arn("model-invocation-job", i),
            job_name: name,
            status: status("InProgress", "Completed"),
            submit_time: created,
            last_modified_time: created,
            message: failure.clone(),
            ..BatchInferenceJobRecord::default()
        }),
        Kind::ImportJob => Record::ImportJob(ImportJobRecord {
            job_arn: arn("model-import-job", i),
            job_name: name,
            status: status("InProgress", "Completed"),
            creation_time: created,
            last_modified_time: created,
            failure_message: failure.clone(),
            ..ImportJobRecord::default()
        }),
        Kind::CopyJob => Record::CopyJob(CopyJobRecord {
            job_arn: arn("model-copy-job", i),
            status: status("InProgress", "Completed"),
            creation_time: created,
            target_model_name: name,
            failure_message: failure.clone(),
            ..CopyJobRecord::default()
        }),
        Kind::ImportedModel => Record::ImportedModel(ImportedModelRecord {
            model_arn: arn("imported-model", i),
            model_name: name,
            creation_time: created,
            custom_model_units: Some(2),
            ..ImportedModelRecord::default()
        }),
    }
}
