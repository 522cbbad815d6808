//! The metric families the exporter renders itself: their names and HELP texts, in the order the
//! exposition lists them (by name), what each is about, and how its series are ordered.

/// What a family's series describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A job's Bedrock data.
    Job,
    /// A model's Bedrock data.
    Model,
    /// The health of each watched job or model, whatever its kind.
    Resource,
    /// The health of each discovery.
    Discovery,
}

/// How a family orders its resources: by the label values of their first series, label names
/// in alphabetical order, as the text format's encoders do. Within a resource, series are
/// written in that order too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Order {
    /// `account_id`, `job_name` or `model_name`, `region`.
    Identity,
    /// `account_id`, `base_model`, `customization_type`, `job_arn`, `job_name`, ... `region`.
    JobInfo,
    /// `account_id`, `job_name`, `message`, `region`.
    JobFailure,
    /// `account_id`, `base_model`, `customization_type`, `job_arn`, `job_name`, `model_arn`, ...
    ModelInfo,
    /// `account_id`, `identifier`, `kind`, `region`.
    Health,
}

/// One metric family (every one a gauge).
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub subject: Subject,
    pub order: Order,
}

const fn family(name: &'static str, help: &'static str, subject: Subject, order: Order) -> Family {
    Family {
        name,
        help,
        subject,
        order,
    }
}

use Order::*;
use Subject::*;

/// Every family, sorted by name: the order of the exposition.
pub const FAMILIES: [Family; 20] = [
    family("bedrock_custom_model_creation_timestamp_seconds", "Creation time of a custom model, in seconds since the Unix epoch.", Model, Identity),
    family("bedrock_custom_model_hyperparameter", "Numeric hyperparameter of the job that produced a custom model.", Model, Identity),
    family("bedrock_custom_model_info", "Static facts of a custom model, for joins; always 1.", Model, ModelInfo),
    family("bedrock_custom_model_status", "Status of a custom model: 1 for the current status, 0 for the others.", Model, Identity),
    family("bedrock_custom_model_training_loss", "Training loss of the job that produced a custom model.", Model, Identity),
    family("bedrock_custom_model_validation_loss", "Validation loss of the job that produced a custom model, per validator.", Model, Identity),
    family("bedrock_customization_job_creation_timestamp_seconds", "Creation time of a model customization job, in seconds since the Unix epoch.", Job, Identity),
    family("bedrock_customization_job_end_timestamp_seconds", "End time of a finished model customization job, in seconds since the Unix epoch.", Job, Identity),
    family("bedrock_customization_job_failure_info", "Failure message of a failed model customization job (first line, at most 256 characters); always 1.", Job, JobFailure),
    family("bedrock_customization_job_hyperparameter", "Numeric hyperparameter of a model customization job.", Job, Identity),
    family("bedrock_customization_job_info", "Static facts of a model customization job, for joins; always 1.", Job, JobInfo),
    family("bedrock_customization_job_last_modified_timestamp_seconds", "Last modification time of a model customization job, in seconds since the Unix epoch.", Job, Identity),
    family("bedrock_customization_job_stage_status", "Status of each stage of a model customization job (statusDetails): 1 for the current status, 0 for the others.", Job, Identity),
    family("bedrock_customization_job_status", "Status of a model customization job: 1 for the current status, 0 for the others.", Job, Identity),
    family("bedrock_customization_job_training_loss", "Training loss reported for a model customization job (trainingMetrics.trainingLoss).", Job, Identity),
    family("bedrock_customization_job_validation_loss", "Validation loss of a model customization job per validator (validationMetrics[i].validationLoss).", Job, Identity),
    family("bedrock_exporter_discovered_resources", "Jobs or models watched because discovery found them.", Discovery, Health),
    family("bedrock_exporter_discovery_up", "Whether the last listing of a discovery (every page) succeeded (1) or failed (0).", Discovery, Health),
    family("bedrock_exporter_target_last_success_timestamp_seconds", "Time of the last successful read of a watched job or model, in seconds since the Unix epoch.", Resource, Health),
    family("bedrock_exporter_target_up", "Whether the last read of a watched job or model succeeded (1) or failed (0).", Resource, Health),
];

/// How many families there are.
pub const COUNT: usize = FAMILIES.len();

/// The index of the family named `name`, if the exporter renders it.
pub fn index_of(name: &str) -> Option<usize> {
    FAMILIES.iter().position(|f| f.name == name)
}

/// The Bedrock families by name (the tables of `bedrock_customization_job_*` and
/// `bedrock_custom_model_*`): those `exclude_metrics` may name.
pub fn bedrock_names() -> impl Iterator<Item = &'static str> {
    FAMILIES
        .iter()
        .filter(|f| matches!(f.subject, Job | Model))
        .map(|f| f.name)
}

pub const MODEL_CREATION: usize = 0;
pub const MODEL_HYPERPARAMETER: usize = 1;
pub const MODEL_INFO: usize = 2;
pub const MODEL_STATUS: usize = 3;
pub const MODEL_TRAINING_LOSS: usize = 4;
pub const MODEL_VALIDATION_LOSS: usize = 5;
pub const JOB_CREATION: usize = 6;
pub const JOB_END: usize = 7;
pub const JOB_FAILURE: usize = 8;
pub const JOB_HYPERPARAMETER: usize = 9;
pub const JOB_INFO: usize = 10;
pub const JOB_LAST_MODIFIED: usize = 11;
pub const JOB_STAGE_STATUS: usize = 12;
pub const JOB_STATUS: usize = 13;
pub const JOB_TRAINING_LOSS: usize = 14;
pub const JOB_VALIDATION_LOSS: usize = 15;
pub const DISCOVERED_RESOURCES: usize = 16;
pub const DISCOVERY_UP: usize = 17;
pub const TARGET_LAST_SUCCESS: usize = 18;
pub const TARGET_UP: usize = 19;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_sorted_by_name_and_indexed_by_their_constants() {
        assert!(FAMILIES.windows(2).all(|w| w[0].name < w[1].name));
        for (index, name) in [
            (
                MODEL_CREATION,
                "bedrock_custom_model_creation_timestamp_seconds",
            ),
            (
                MODEL_VALIDATION_LOSS,
                "bedrock_custom_model_validation_loss",
            ),
            (
                JOB_CREATION,
                "bedrock_customization_job_creation_timestamp_seconds",
            ),
            (JOB_FAILURE, "bedrock_customization_job_failure_info"),
            (
                JOB_VALIDATION_LOSS,
                "bedrock_customization_job_validation_loss",
            ),
            (
                DISCOVERED_RESOURCES,
                "bedrock_exporter_discovered_resources",
            ),
            (TARGET_UP, "bedrock_exporter_target_up"),
        ] {
            assert_eq!(index_of(name), Some(index));
        }
        assert_eq!(bedrock_names().count(), 16);
    }
}
