//! One series in the text format (version 0.0.4), and the shapes a kind's families take: state
//! sets, optional gauges, per-validator losses, numeric hyperparameters, one-line messages.
//!
//! Written directly rather than through the `prometheus` crate, with its conventions: label
//! names in alphabetical order, values escaped (`\`, `"`, newline), HELP escaped (`\`, newline),
//! numbers as Rust prints them (`+Inf`, `-Inf`, `NaN` for the others); a state set carries every
//! known value at 0 and the current one at 1.

use std::collections::{BTreeMap, BTreeSet};

/// The longest `message` label of a `_failure_info` family, in characters.
pub const FAILURE_LABEL_MAX: usize = 256;

/// Writes one series: `name{label="value",...} number`. Labels come sorted by name.
pub fn series(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)], value: f64) {
    debug_assert!(labels.windows(2).all(|w| w[0].0 < w[1].0), "{labels:?}");
    out.extend_from_slice(name.as_bytes());
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
pub fn header(out: &mut Vec<u8>, name: &str, help: &str) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    escape(out, help, false);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
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

/// The labels of one resource's series in a family: its identity (account, name, region) and
/// what the family adds, written in name order.
#[derive(Debug, Clone, Copy)]
pub struct Ident<'a> {
    pub account: &'a str,
    /// The kind's identity label (`job_name`, `model_name`, ...) and its value.
    pub label: &'static str,
    pub name: &'a str,
    pub region: &'a str,
}

impl Ident<'_> {
    /// Writes a series of `family` with these labels and `extra` ones (any order).
    pub fn series(&self, out: &mut Vec<u8>, family: &str, extra: &[(&str, &str)], value: f64) {
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(3 + extra.len());
        labels.extend([
            ("account_id", self.account),
            (self.label, self.name),
            ("region", self.region),
        ]);
        labels.extend_from_slice(extra);
        labels.sort_by(|a, b| a.0.cmp(b.0));
        series(out, family, &labels, value);
    }

    /// A series when `value` is known.
    pub fn optional(&self, out: &mut Vec<u8>, family: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.series(out, family, &[], value);
        }
    }

    /// A state set under label `label`: every value of `known` at 0 and `current` at 1, sorted.
    pub fn state_set(
        &self,
        out: &mut Vec<u8>,
        family: &str,
        extra: &[(&str, &str)],
        label: &str,
        known: &[&str],
        current: &str,
    ) {
        for (value, on) in state_set(known, current) {
            let mut labels = extra.to_vec();
            labels.push((label, value));
            self.series(out, family, &labels, on);
        }
    }

    /// A kind's `status` state set (label `status`), when the resource reports a status.
    pub fn status(&self, out: &mut Vec<u8>, family: &str, known: &[&str], status: Option<&str>) {
        if let Some(status) = status {
            self.state_set(out, family, &[], "status", known, status);
        }
    }

    /// A kind's `_failure_info` series, only when its status is `Failed`: the message's first
    /// line, at most [`FAILURE_LABEL_MAX`] characters, as the `message` label.
    pub fn failure_info(
        &self,
        out: &mut Vec<u8>,
        family: &str,
        status: Option<&str>,
        message: Option<&str>,
    ) {
        if status == Some("Failed") {
            let message = one_line(message.unwrap_or_default());
            self.series(out, family, &[("message", &message)], 1.0);
        }
    }

    /// One series per validator that reported a loss, `validator` its index (sorted as text:
    /// "10" before "2").
    pub fn validation_losses(&self, out: &mut Vec<u8>, family: &str, losses: &[Option<f64>]) {
        let mut validators: Vec<(String, f64)> = losses
            .iter()
            .enumerate()
            .filter_map(|(i, loss)| Some((i.to_string(), (*loss)?)))
            .collect();
        validators.sort_by(|a, b| a.0.cmp(&b.0));
        for (validator, loss) in &validators {
            self.series(out, family, &[("validator", validator)], *loss);
        }
    }

    /// The hyperparameters whose value is a number (the API sends them all as strings).
    pub fn hyperparameters(
        &self,
        out: &mut Vec<u8>,
        family: &str,
        params: &BTreeMap<String, String>,
    ) {
        for (name, value) in params {
            if let Ok(number) = value.trim().parse::<f64>() {
                self.series(out, family, &[("name", name)], number);
            }
        }
    }
}

/// A state set's series, sorted by value: every known value at 0, plus the current one (known
/// or new) at 1.
pub fn state_set<'a>(known: &[&'a str], current: &'a str) -> Vec<(&'a str, f64)> {
    let values: BTreeSet<&str> = known.iter().copied().chain([current]).collect();
    values
        .into_iter()
        .map(|v| (v, if v == current { 1.0 } else { 0.0 }))
        .collect()
}

/// The first line of a message, whitespace-trimmed, cut to [`FAILURE_LABEL_MAX`] characters.
pub fn one_line(message: &str) -> String {
    let line = message.trim().lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(FAILURE_LABEL_MAX) {
        Some((cut, _)) => line[..cut].to_owned(),
        None => line.to_owned(),
    }
}

/// A label value the API may leave out: absent is the empty string.
pub fn or_empty(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
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
            "bedrock_customization_job_failure_info",
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
            series(&mut out, "bedrock_customization_job_failure_info", &[("job_name", &name), ("message", &message)], 1.0);
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
            state_set(&crate::bedrock::kinds::job::STATUSES, "Paused"),
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
