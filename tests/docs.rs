//! The reference in `docs/` kept in step with the code: every metric family the exporter can serve
//! is in docs/metrics.md and every `bedrock_` name there is one it serves; every config file key,
//! web config key and flag is in its table, and every key and flag in those tables exists.
//!
//! The tables read here: in docs/configuration.md, the first column of the table under
//! `## Command line` (flags) and of the table under `### Keys` (config keys, as paths such as
//! `targets[].discover.jobs.name_contains`); in docs/security.md, the first column of the table
//! under `### Keys` (web config keys). One row per key or flag, each in backticks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use bedrock_exporter::bedrock::families::FAMILIES;
use bedrock_exporter::bedrock::{ErrorKind, Kind, Operation};
use bedrock_exporter::config;
use bedrock_exporter::exposition::telemetry::{Cap, Telemetry};
use regex::Regex;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-exporter");

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// The lines of `text` from the heading line `heading` to the next heading of its level or above.
fn section<'t>(text: &'t str, heading: &str) -> Vec<&'t str> {
    let level = heading.chars().take_while(|&c| c == '#').count();
    let mut lines = text.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "no `{heading}` heading");
    lines
        .take_while(|l| {
            let hashes = l.chars().take_while(|&c| c == '#').count();
            !(hashes > 0 && hashes <= level && l[hashes..].starts_with(' '))
        })
        .collect()
}

/// The backticked names in the first column of the table rows among `lines`, each cut at `=`
/// (`--config.file=PATH` is the flag `--config.file`).
fn first_column(lines: &[&str]) -> BTreeSet<String> {
    let tick = regex(r"`([^`]+)`");
    lines
        .iter()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let cell = l.split('|').nth(1).unwrap_or_default();
            tick.captures_iter(cell)
                .map(|c| c[1].split('=').next().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Fails with every name that is in one set only, saying which.
fn assert_same(what: &str, code: &BTreeSet<String>, docs: &BTreeSet<String>, doc_file: &str) {
    let undocumented: Vec<_> = code.difference(docs).collect();
    let unknown: Vec<_> = docs.difference(code).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{what} out of step with {doc_file}:\n  in the code, not in the docs: {undocumented:?}\n  in the docs, not in the code: {unknown:?}"
    );
}

/// The `# HELP` names of an exposition.
fn help_names(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
}

/// Every family the exporter can serve: the rendered families (`FAMILIES`, those of failures
/// and discovery included), the own metrics with every series a run can create, and whatever
/// the demo's `--once` exposition holds besides.
async fn served_families() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = FAMILIES.iter().map(|f| f.name.to_string()).collect();

    let telemetry = Telemetry::new().expect("telemetry registers");
    telemetry.init_region("us-east-1", &Operation::all());
    telemetry.init_caps(&Operation::all());
    telemetry.observe_call(
        Operation::Get(Kind::Model),
        "us-east-1",
        0.1,
        Some(ErrorKind::ALL[0]),
    );
    telemetry.observe_capped(Operation::Get(Kind::Model), Cap::Body);
    telemetry.observe_reload(true, 1.0);
    telemetry.observe_target_cycle("123456789012", "us-east-1", 1.0);
    telemetry.observe_cycle(1.0, 2.0);
    telemetry.observe_accounts(true, &[("123456789012", "team-a")]);
    let own = String::from_utf8(telemetry.encode()).expect("UTF-8");
    names.extend(help_names(&own));

    let demo = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(BIN)
            .args(["--demo", "--once", "--log.level=error"])
            .env_remove("AWS_BEARER_TOKEN_BEDROCK")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("`--demo --once` ends within 60 s")
    .expect("the binary runs");
    assert!(demo.status.success(), "`--demo --once`: {demo:?}");
    names.extend(help_names(&String::from_utf8_lossy(&demo.stdout)));
    names
}

#[tokio::test]
async fn every_metric_family_is_in_docs_metrics_md_and_no_other() {
    let text = doc("metrics.md");
    let served = served_families().await;

    // Served, not documented. The standard process metrics are documented as `process_*`.
    let undocumented: Vec<_> = served
        .iter()
        .filter(|name| {
            let documented = if name.starts_with("process_") {
                text.contains("`process_*`")
            } else {
                text.contains(&format!("`{name}`"))
            };
            !documented
        })
        .collect();

    // Documented, not served: any `bedrock_` name in the text, a histogram's series included,
    // except a prefix followed by `*`.
    let name = regex(r"\bbedrock_[a-z0-9_]*[a-z0-9]([*]?)");
    let unknown: BTreeSet<_> = name
        .captures_iter(&text)
        .filter(|c| c[1].is_empty())
        .map(|c| c[0].to_string())
        .filter(|n| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| n.strip_suffix(suffix))
                .unwrap_or(n);
            !served.contains(n) && !served.contains(base)
        })
        .collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/metrics.md out of step with the code:\n  served, not in the docs: {undocumented:?}\n  in the docs, not served: {unknown:?}"
    );
}

#[test]
fn every_config_key_is_in_docs_configuration_md_and_no_other() {
    let text = doc("configuration.md");
    let documented = first_column(&section(&text, "### Keys"));
    let code: BTreeSet<String> = config::key_paths().into_iter().collect();
    assert_same(
        "config file keys",
        &code,
        &documented,
        "docs/configuration.md",
    );
}

#[test]
fn every_web_config_key_is_in_docs_security_md_and_no_other() {
    let text = doc("security.md");
    let documented = first_column(&section(&text, "### Keys"));
    let code: BTreeSet<String> = config::web::key_paths().into_iter().collect();
    assert_same("web config keys", &code, &documented, "docs/security.md");
}

#[test]
fn every_flag_is_in_docs_configuration_md_and_no_other() {
    let help = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(help.status.success(), "--help: {help:?}");
    let help = String::from_utf8_lossy(&help.stdout);
    let flag = regex(r"(?m)^\s+(?:(-[A-Za-z]), )?(--[a-z][a-z0-9.-]*)");
    let code: BTreeSet<String> = flag
        .captures_iter(&help)
        .flat_map(|c| [c.get(1), c.get(2)])
        .flatten()
        .map(|m| m.as_str().to_string())
        .collect();
    assert!(
        code.contains("--config.file"),
        "no flags read from:\n{help}"
    );

    let text = doc("configuration.md");
    let table: Vec<&str> = section(&text, "## Command line")
        .into_iter()
        .take_while(|l| !l.starts_with("### "))
        .collect();
    let documented = first_column(&table);
    assert_same("flags", &code, &documented, "docs/configuration.md");
}
