//! `customizationConfig`, which customization jobs and custom models both carry: a
//! reinforcement fine-tuning job's typed hyperparameters, reasoning effort and grader, or a
//! distillation job's teacher model.

use std::collections::BTreeMap;

use aws_sdk_bedrock::types::CustomizationConfig;
use serde_json::{json, Map, Value};

use crate::bedrock::boundary::Fields;

/// What `customizationConfig` tells, beyond the string map of hyperparameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Customization {
    /// `rftConfig.hyperParameters`, by name, the numeric ones as their decimal text.
    pub rft_hyper_parameters: BTreeMap<String, String>,
    /// `rftConfig.hyperParameters.reasoningEffort`.
    pub reasoning_effort: Option<String>,
    /// `rftConfig.graderConfig.lambdaGrader.lambdaArn`.
    pub grader_lambda_arn: Option<String>,
    /// `distillationConfig.teacherModelConfig.teacherModelIdentifier`.
    pub teacher_model: Option<String>,
}

impl Customization {
    /// From the SDK's union (an unknown variant tells nothing).
    pub fn of(config: Option<&CustomizationConfig>) -> Customization {
        let mut out = Customization::default();
        match config {
            Some(CustomizationConfig::RftConfig(rft)) => {
                if let Some(p) = rft.hyper_parameters() {
                    let numbers = [
                        ("batchSize", p.batch_size().map(f64::from)),
                        ("epochCount", p.epoch_count().map(f64::from)),
                        ("evalInterval", p.eval_interval().map(f64::from)),
                        (
                            "inferenceMaxTokens",
                            p.inference_max_tokens().map(f64::from),
                        ),
                        (
                            "learningRate",
                            p.learning_rate().map(super::super::aws::widen),
                        ),
                        ("maxPromptLength", p.max_prompt_length().map(f64::from)),
                        (
                            "trainingSamplePerPrompt",
                            p.training_sample_per_prompt().map(f64::from),
                        ),
                    ];
                    for (name, value) in numbers {
                        if let Some(value) = value {
                            out.rft_hyper_parameters
                                .insert(name.to_owned(), value.to_string());
                        }
                    }
                    out.reasoning_effort = p.reasoning_effort().map(|e| e.as_str().to_owned());
                }
                out.grader_lambda_arn = rft
                    .grader_config()
                    .and_then(|g| g.as_lambda_grader().ok())
                    .map(|l| l.lambda_arn().to_owned())
                    .filter(|arn| !arn.is_empty());
            }
            Some(CustomizationConfig::DistillationConfig(distillation)) => {
                out.teacher_model = distillation
                    .teacher_model_config()
                    .map(|t| t.teacher_model_identifier().to_owned())
                    .filter(|id| !id.is_empty());
            }
            _ => {}
        }
        out
    }

    /// The hyperparameters exported: the string map, with the typed ones over it (a name in
    /// both: the typed value wins).
    pub fn merge_into(&self, hyper_parameters: &mut BTreeMap<String, String>) {
        for (name, value) in &self.rft_hyper_parameters {
            hyper_parameters.insert(name.clone(), value.clone());
        }
    }

    /// Its `_info` labels.
    pub fn labels(&self) -> [(&'static str, &str); 3] {
        let s = crate::bedrock::series::or_empty;
        [
            ("grader_lambda_arn", s(&self.grader_lambda_arn)),
            ("reasoning_effort", s(&self.reasoning_effort)),
            ("teacher_model", s(&self.teacher_model)),
        ]
    }

    pub fn check(&mut self, fields: &mut Fields) {
        fields.field(&mut self.reasoning_effort);
        fields.field(&mut self.grader_lambda_arn);
        fields.field(&mut self.teacher_model);
        fields.hyper_parameters(&mut self.rft_hyper_parameters);
    }

    /// `customizationConfig` as the service sends it, if there is one.
    pub fn json(&self) -> Option<Value> {
        if let Some(teacher) = &self.teacher_model {
            return Some(json!({ "distillationConfig": { "teacherModelConfig": {
                "teacherModelIdentifier": teacher,
                "maxResponseLengthForInference": 1000
            }}}));
        }
        if self.rft_hyper_parameters.is_empty()
            && self.reasoning_effort.is_none()
            && self.grader_lambda_arn.is_none()
        {
            return None;
        }
        let mut params = Map::new();
        for (name, value) in &self.rft_hyper_parameters {
            if let Ok(number) = value.parse::<f64>() {
                // Integers as integers: the SDK reads most of these as i32.
                let number = if number.fract() == 0.0 && name != "learningRate" {
                    json!(number as i64)
                } else {
                    json!(number)
                };
                params.insert(name.clone(), number);
            }
        }
        if let Some(effort) = &self.reasoning_effort {
            params.insert("reasoningEffort".to_owned(), json!(effort));
        }
        let mut rft = Map::new();
        rft.insert("hyperParameters".to_owned(), Value::Object(params));
        if let Some(arn) = &self.grader_lambda_arn {
            rft.insert(
                "graderConfig".to_owned(),
                json!({ "lambdaGrader": { "lambdaArn": arn } }),
            );
        }
        Some(json!({ "rftConfig": rft }))
    }
}
