//! The exposition as Prometheus reads it: label values of every kind of text, rendered as the
//! exporter renders them, pass `promtool check metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;

use bedrock_exporter::bedrock::series::{header, series};
use common::deadline;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How many random values each family gets.
const VALUES: usize = 300;

/// Any text, and text made of the characters that need escaping and those that delimit.
fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\\\\\"\n\r\t a-z{}=,#]{0,16}"]
}

/// Two families whose every series carries a random value: failure messages and statuses
/// (each series told apart by its job).
fn exposition() -> String {
    let mut runner = TestRunner::default();
    let mut out = Vec::new();
    let families = [
        ("bedrock_customization_job_failure_info", "message"),
        ("bedrock_customization_job_status", "status"),
    ];
    for (family, label) in families {
        let values = proptest::collection::vec(label_value(), VALUES)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        header(&mut out, family, "Random label values.");
        for (i, value) in values.iter().enumerate() {
            let job = format!("job-{i:03}");
            series(&mut out, family, &[("job_name", &job), (label, value)], 1.0);
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn random_label_values_pass_promtool() {
    let text = exposition();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("random-label-values.prom");
    std::fs::write(&path, &text).unwrap();
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut promtool = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "SKIPPED: promtool is not installed (Debian's prometheus package; scripts/test.sh installs it)"
            );
            return;
        }
        Err(e) => panic!("promtool: {e}"),
    };
    let mut stdin = promtool.stdin.take().unwrap();
    deadline(
        "promtool to read the exposition",
        stdin.write_all(text.as_bytes()),
    )
    .await
    .unwrap();
    drop(stdin);
    let out = deadline(
        "promtool check metrics to exit",
        promtool.wait_with_output(),
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics on {} ({}):\n{}{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "promtool: {} series with random label values ({}), no findings",
        2 * VALUES,
        path.display()
    );
}
