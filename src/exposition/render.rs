//! One resource's series in the text format (version 0.0.4), written family by family: what a
//! resource contributes to the exposition, rendered when it changes and kept until it does again.
//!
//! Written directly rather than through the `prometheus` crate, with its conventions: label
//! names in alphabetical order, values escaped (`\`, `"`, newline), HELP escaped (`\`, newline),
//! numbers as Rust prints them (`+Inf`, `-Inf`, `NaN` for the others), series sorted by their
//! label values; a state set carries every known value at 0 and the current one at 1.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::bedrock::families::{self as f, Order, COUNT, FAMILIES};
use crate::bedrock::{JobRecord, ModelRecord, Record};
use crate::fleet::Resource;

/// Where each family's lines of one resource are in a buffer: (start, length), in bytes.
pub type Lines = [(u32, u32); COUNT];

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
pub const FAILURE_LABEL_MAX: usize = 256;

/// A buffer offset as stored in [`Lines`]; an exposition is far below 4 GiB.
pub fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Appends `resource`'s series of one family (by index) to `out`.
pub fn render_family(resource: &Resource, index: usize, out: &mut Vec<u8>) {
    let account = resource.account.as_str();
    let region = resource.region.as_str();
    match (index, &resource.record) {
        (f::TARGET_UP, _) => {
            let up = if resource.up { 1.0 } else { 0.0 };
            series(out, index, &health_labels(resource), up);
        }
        (f::TARGET_LAST_SUCCESS, _) => {
            if let Some(at) = resource.last_success {
                series(out, index, &health_labels(resource), at);
            }
        }
        (_, Some(Record::Job(job))) => {
            let name = job.job_name.as_deref().unwrap_or(&resource.identifier);
            job_family(job, index, [account, name, region], out);
        }
        (_, Some(Record::Model(model))) => {
            let name = model.model_name.as_deref().unwrap_or(&resource.identifier);
            model_family(model, index, [account, name, region], out);
        }
        (_, None) => {}
    }
}

fn health_labels(resource: &Resource) -> [(&str, &str); 4] {
    [
        ("account_id", resource.account.as_str()),
        ("identifier", resource.identifier.as_str()),
        ("kind", resource.kind.as_str()),
        ("region", resource.region.as_str()),
    ]
}

/// A job's series of one family; `id` is its account, name and region.
fn job_family(job: &JobRecord, index: usize, id: [&str; 3], out: &mut Vec<u8>) {
    let [account, name, region] = id;
    let plain = [
        ("account_id", account),
        ("job_name", name),
        ("region", region),
    ];
    match index {
        f::JOB_INFO => {
            let labels = [
                ("account_id", account),
                ("base_model", or_empty(&job.base_model_arn)),
                ("customization_type", or_empty(&job.customization_type)),
                ("job_arn", or_empty(&job.job_arn)),
                ("job_name", name),
                ("output_model_arn", or_empty(&job.output_model_arn)),
                ("output_model_name", or_empty(&job.output_model_name)),
                ("region", region),
            ];
            series(out, index, &labels, 1.0);
        }
        f::JOB_STATUS => {
            if let Some(status) = job.status.as_deref() {
                for (value, on) in state_set(&JOB_STATUSES, status) {
                    let labels = [plain[0], plain[1], plain[2], ("status", value)];
                    series(out, index, &labels, on);
                }
            }
        }
        f::JOB_STAGE_STATUS => {
            let mut stages = job.status_details.stages();
            stages.sort_by_key(|(stage, _)| *stage);
            for (stage, status) in stages {
                let Some(status) = status else { continue };
                for (value, on) in state_set(&STAGE_STATUSES, status) {
                    let labels = [
                        plain[0],
                        plain[1],
                        plain[2],
                        ("stage", stage),
                        ("status", value),
                    ];
                    series(out, index, &labels, on);
                }
            }
        }
        f::JOB_TRAINING_LOSS => optional(out, index, &plain, job.training_loss),
        f::JOB_VALIDATION_LOSS => validation_losses(out, index, plain, &job.validation_losses),
        f::JOB_HYPERPARAMETER => hyperparameters(out, index, plain, &job.hyper_parameters),
        f::JOB_CREATION => optional(out, index, &plain, job.creation_time),
        f::JOB_END => optional(out, index, &plain, job.end_time),
        f::JOB_LAST_MODIFIED => optional(out, index, &plain, job.last_modified_time),
        f::JOB_FAILURE if job.status.as_deref() == Some("Failed") => {
            let message = one_line(job.failure_message.as_deref().unwrap_or_default());
            let labels = [
                ("account_id", account),
                ("job_name", name),
                ("message", message.as_str()),
                ("region", region),
            ];
            series(out, index, &labels, 1.0);
        }
        _ => {}
    }
}

/// A model's series of one family; `id` is its account, name and region.
fn model_family(model: &ModelRecord, index: usize, id: [&str; 3], out: &mut Vec<u8>) {
    let [account, name, region] = id;
    let plain = [
        ("account_id", account),
        ("model_name", name),
        ("region", region),
    ];
    match index {
        f::MODEL_INFO => {
            let labels = [
                ("account_id", account),
                ("base_model", or_empty(&model.base_model_arn)),
                ("customization_type", or_empty(&model.customization_type)),
                ("job_arn", or_empty(&model.job_arn)),
                ("job_name", or_empty(&model.job_name)),
                ("model_arn", or_empty(&model.model_arn)),
                ("model_name", name),
                ("region", region),
            ];
            series(out, index, &labels, 1.0);
        }
        f::MODEL_STATUS => {
            if let Some(status) = model.model_status.as_deref() {
                for (value, on) in state_set(&MODEL_STATUSES, status) {
                    let labels = [plain[0], plain[1], plain[2], ("status", value)];
                    series(out, index, &labels, on);
                }
            }
        }
        f::MODEL_TRAINING_LOSS => optional(out, index, &plain, model.training_loss),
        f::MODEL_VALIDATION_LOSS => validation_losses(out, index, plain, &model.validation_losses),
        f::MODEL_HYPERPARAMETER => hyperparameters(out, index, plain, &model.hyper_parameters),
        f::MODEL_CREATION => optional(out, index, &plain, model.creation_time),
        _ => {}
    }
}

/// A state set's series, sorted by value: every known value at 0, plus the current one (known
/// or new) at 1.
fn state_set<'a>(known: &[&'a str], current: &'a str) -> Vec<(&'a str, f64)> {
    let values: BTreeSet<&str> = known.iter().copied().chain([current]).collect();
    values
        .into_iter()
        .map(|v| (v, if v == current { 1.0 } else { 0.0 }))
        .collect()
}

fn optional(out: &mut Vec<u8>, index: usize, labels: &[(&str, &str)], value: Option<f64>) {
    if let Some(value) = value {
        series(out, index, labels, value);
    }
}

/// `validator` is the index as a string, and series sort by it as a string ("10" before "2").
fn validation_losses(
    out: &mut Vec<u8>,
    index: usize,
    plain: [(&str, &str); 3],
    losses: &[Option<f64>],
) {
    let mut validators: Vec<(String, f64)> = losses
        .iter()
        .enumerate()
        .filter_map(|(i, loss)| Some((i.to_string(), (*loss)?)))
        .collect();
    validators.sort_by(|a, b| a.0.cmp(&b.0));
    for (validator, loss) in &validators {
        let labels = [
            plain[0],
            plain[1],
            plain[2],
            ("validator", validator.as_str()),
        ];
        series(out, index, &labels, *loss);
    }
}

/// The hyperparameters whose value is a number; the API sends them all as strings.
fn hyperparameters(
    out: &mut Vec<u8>,
    index: usize,
    plain: [(&str, &str); 3],
    params: &std::collections::BTreeMap<String, String>,
) {
    for (name, value) in params {
        if let Ok(number) = value.trim().parse::<f64>() {
            let labels = [plain[0], plain[1], ("name", name.as_str()), plain[2]];
            series(out, index, &labels, number);
        }
    }
}

/// A label value the API may leave out: absent is the empty string.
fn or_empty(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

/// The first line of a message, whitespace-trimmed, cut to [`FAILURE_LABEL_MAX`] characters.
pub fn one_line(message: &str) -> String {
    let line = message.trim().lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(FAILURE_LABEL_MAX) {
        Some((cut, _)) => line[..cut].to_owned(),
        None => line.to_owned(),
    }
}

/// Writes one series: `name{label="value",...} number`.
pub fn series(out: &mut Vec<u8>, family: usize, labels: &[(&str, &str)], value: f64) {
    debug_assert!(labels.windows(2).all(|w| w[0].0 < w[1].0), "{labels:?}");
    out.extend_from_slice(FAMILIES[family].name.as_bytes());
    let mut separator = b'{';
    for (name, value) in labels {
        out.push(separator);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        escape(out, value, true);
        out.push(b'"');
        separator = b',';
    }
    if !labels.is_empty() {
        out.push(b'}');
    }
    out.push(b' ');
    number(out, value);
    out.push(b'\n');
}

/// Writes a family's `# HELP` and `# TYPE` lines.
pub fn header(out: &mut Vec<u8>, family: usize) {
    let family = &FAMILIES[family];
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(family.name.as_bytes());
    out.push(b' ');
    escape(out, family.help, false);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(family.name.as_bytes());
    out.extend_from_slice(b" gauge\n");
}

/// Escapes `\` and newline, and `"` in label values.
fn escape(out: &mut Vec<u8>, text: &str, quote: bool) {
    for &b in text.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quote => out.extend_from_slice(b"\\\""),
            _ => out.push(b),
        }
    }
}

fn number(out: &mut Vec<u8>, value: f64) {
    use std::io::Write as _;
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{value}");
    }
}

/// The positions of `resources` in the order a family of `order` lists them: by the label values
/// of each resource's first series.
pub fn sorted(order: Order, resources: &[&Resource]) -> Vec<u32> {
    let mut positions: Vec<u32> = (0..resources.len()).map(offset).collect();
    let at = |i: &u32| resources[*i as usize];
    match order {
        // The orders of few labels compare in place; the others build each key once.
        Order::Identity => positions.sort_by(|a, b| identity(at(a)).cmp(&identity(at(b)))),
        Order::Health => positions.sort_by(|a, b| health(at(a)).cmp(&health(at(b)))),
        _ => positions.sort_by_cached_key(|i| sort_key(order, at(i))),
    }
    positions
}

fn identity(r: &Resource) -> (&str, &str, &str) {
    (r.account.as_str(), name(r), r.region.as_str())
}

fn health(r: &Resource) -> (&str, &str, &str, &str) {
    (
        r.account.as_str(),
        r.identifier.as_str(),
        r.kind.as_str(),
        r.region.as_str(),
    )
}

/// The name label of a resource's Bedrock series.
fn name(r: &Resource) -> &str {
    r.record
        .as_ref()
        .and_then(Record::name)
        .unwrap_or(&r.identifier)
}

/// The label values an order sorts by, for the orders with many labels.
fn sort_key(order: Order, r: &Resource) -> [String; 8] {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let account = r.account.clone();
    let region = r.region.clone();
    let name = name(r).to_owned();
    match (order, &r.record) {
        (Order::JobInfo, Some(Record::Job(j))) => [
            account,
            s(&j.base_model_arn),
            s(&j.customization_type),
            s(&j.job_arn),
            name,
            s(&j.output_model_arn),
            s(&j.output_model_name),
            region,
        ],
        (Order::JobFailure, Some(Record::Job(j))) => [
            account,
            name,
            one_line(j.failure_message.as_deref().unwrap_or_default()),
            region,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ],
        (Order::ModelInfo, Some(Record::Model(m))) => [
            account,
            s(&m.base_model_arn),
            s(&m.customization_type),
            s(&m.job_arn),
            s(&m.job_name),
            s(&m.model_arn),
            name,
            region,
        ],
        _ => [
            account,
            name,
            region,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ],
    }
}

/// A hash of everything resources are sorted by: when it changes, the orders must be made anew.
pub fn sort_fingerprint(r: &Resource) -> u64 {
    let mut hasher = DefaultHasher::new();
    for order in [
        Order::JobInfo,
        Order::JobFailure,
        Order::ModelInfo,
        Order::Health,
    ] {
        sort_key(order, r).hash(&mut hasher);
    }
    r.identifier.hash(&mut hasher);
    r.kind.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn failure_messages_become_one_short_line() {
        assert_eq!(one_line("  first line\nsecond"), "first line");
        assert_eq!(
            one_line(&"é".repeat(300)).chars().count(),
            FAILURE_LABEL_MAX
        );
        assert_eq!(one_line(""), "");
    }

    #[test]
    fn label_values_and_help_are_escaped_and_numbers_written_as_the_format_wants() {
        let mut out = Vec::new();
        series(
            &mut out,
            f::JOB_FAILURE,
            &[("message", "a \"quoted\" \\ path\nsecond")],
            1.0,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "bedrock_customization_job_failure_info{message=\"a \\\"quoted\\\" \\\\ path\\nsecond\"} 1\n"
        );
        let mut out = Vec::new();
        for v in [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.00001,
            1_793_538_000.5,
            -2.0,
        ] {
            number(&mut out, v);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+Inf -Inf NaN 0.00001 1793538000.5 -2 "
        );
    }

    /// The labels of a sample line `name{a="v",...} 1` as the text format's parsers read them:
    /// `\\`, `\"` and `\n` unescaped, any other escape or a raw newline refused (`None`).
    fn parse_labels(line: &str) -> Option<Vec<(String, String)>> {
        let (_, mut rest) = line.strip_suffix(" 1\n")?.split_once('{')?;
        let mut labels = Vec::new();
        loop {
            let (name, after) = rest.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        _ => return None,
                    },
                    (_, '\n') => return None,
                    (_, c) => value.push(c),
                }
            };
            labels.push((name.to_owned(), value));
            rest = &after[end + 1..];
            match rest.strip_prefix(',') {
                Some(more) => rest = more,
                None => break,
            }
        }
        (rest == "}").then_some(labels)
    }

    /// Any text, and text made of the characters that need escaping and those that delimit.
    fn label_value() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[\\\\\"\n\r\t a-z{}=,#]{0,16}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_label_value_stays_on_its_line_and_reads_back(
            name in label_value(),
            message in label_value(),
        ) {
            let mut out = Vec::new();
            series(&mut out, f::JOB_FAILURE, &[("job_name", &name), ("message", &message)], 1.0);
            let line = String::from_utf8(out).unwrap();
            prop_assert_eq!(line.matches('\n').count(), 1, "{:?}", line);
            prop_assert_eq!(
                parse_labels(&line),
                Some(vec![("job_name".to_owned(), name), ("message".to_owned(), message)]),
                "{:?}",
                line
            );
        }
    }

    #[test]
    fn state_sets_sort_their_values_and_keep_a_new_one() {
        assert_eq!(
            state_set(&JOB_STATUSES, "Paused"),
            [
                ("Completed", 0.0),
                ("Failed", 0.0),
                ("InProgress", 0.0),
                ("Paused", 1.0),
                ("Stopped", 0.0),
                ("Stopping", 0.0)
            ]
        );
    }
}
