//! Config validation: a table of invalid files with their exact messages, and `--config.check`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Duration;

use bedrock_exporter::bedrock::Kind;
use bedrock_exporter::config::web::WebConfig;
use bedrock_exporter::config::{Config, ConfigError, Discovery};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/config")
        .join(name)
}

/// Every problem of a file, as `path: message` lines.
fn problems(name: &str) -> Vec<String> {
    match Config::load(&testdata(name)) {
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        other => panic!("{name}: expected problems, got {other:?}"),
    }
}

const NAME_RULE: &str = "is not a job name: it must start with a letter or digit and hold only letters, digits, '+', '-' and '.'";

#[test]
fn invalid_files_report_exact_messages() {
    let table: &[(&str, &[&str])] = &[
        ("invalid-unknown-key.yaml", &["scrape_timeout: unknown key (expected one of: interval, terminal_interval, request_timeout, concurrency, targets, organizations, exclude_metrics)"]),
        ("invalid-exclude-metrics.yaml", &[
            "exclude_metrics[1]: \"bedrock_customization_job_stage_statuses\" is not a Bedrock metric of this exporter, did you mean `bedrock_customization_job_stage_status`? (docs/metrics.md lists them)",
            "exclude_metrics[2]: \"bedrock_exporter_target_up\" is one of the exporter's own metrics, which cannot be excluded",
        ]),
        ("invalid-unknown-key-typo.yaml", &[
            "intervl: unknown key, did you mean `interval`? (expected one of: interval, terminal_interval, request_timeout, concurrency, targets, organizations, exclude_metrics)",
            "targets[0].regoin: unknown key, did you mean `region`? (expected one of: region, role_arn, endpoint_url, jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models, discover)",
            "targets[0].discover.model: unknown key, did you mean `models`? (expected one of: jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models)",
            "targets[0].discover: discovers nothing: give one kind or more (jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models; `jobs: {}` takes every job)",
        ]),
        ("invalid-unknown-target-key.yaml", &["targets[0].access_key_id: unknown key (expected one of: region, role_arn, endpoint_url, jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models, discover)"]),
        ("invalid-duration.yaml", &["interval: expected a duration such as 90s, 5m or 1h30m, got 60"]),
        ("invalid-zero-duration.yaml", &["request_timeout: 0s is out of range: from 1ms to 30d"]),
        ("invalid-short-interval.yaml", &["interval: 100ms is out of range: from 1s to 30d"]),
        ("invalid-long-duration.yaml", &["terminal_interval: 300000000000y is out of range: from 1s to 30d"]),
        ("invalid-model-too-long.yaml", &["targets[0].models[0]: \"m1234567890123456789012345678901234567890123456789012345678901234\" is longer than 63 characters, the most a model name has"]),
        ("invalid-terminal-shorter.yaml", &["terminal_interval: 5m is shorter than interval (10m)"]),
        ("invalid-terminal-shorter-default.yaml", &["terminal_interval: 30s is shorter than interval (1m, its default)"]),
        ("invalid-terminal-shorter-as-written.yaml", &["terminal_interval: 1h is shorter than interval (1.5h)"]),
        ("invalid-terminal-zero.yaml", &["terminal_interval: 0s is out of range: from 1s to 30d"]),
        ("invalid-concurrency.yaml", &["concurrency: expected a whole number from 1 to 64, got 0"]),
        ("invalid-organizations.yaml", &[
            "organizations[0].role_arn: \"arn:aws:iam::111111111111:user/reader\" is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)",
            "organizations[0].member_role_name: required: the role the exporter assumes in each account",
            "organizations[0].regions[1]: \"us-east-1\" is listed twice",
            "organizations[0].regions[2]: \"US-WEST-2\" is not a region name such as us-east-1",
            "organizations[0].exclude_accounts[0]: \"1234\" is not an account id (12 digits)",
            "organizations[0].exclude_accounts[1]: \"22222222222x\" is not an account id (12 digits)",
            "organizations[0].refresh: 10s is out of range: from 1m to 30d",
            "organizations[0].discover: expected `all` or a mapping of kinds (jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models), got \"everything\"",
            "organizations[1].member_role_name: \"bedrock exporter\" is not an IAM role name (1 to 64 letters, digits and +=,.@_-)",
            "organizations[1].regions: list at least one region",
        ]),
        ("invalid-no-targets.yaml", &["targets: required: list at least one target, or give organizations"]),
        ("invalid-empty-targets.yaml", &["targets: list at least one target"]),
        ("invalid-empty-target.yaml", &["targets[0]: watches nothing: list resources under a kind's key (jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models), or discover them"]),
        ("invalid-empty-lists.yaml", &["targets[0]: watches nothing: list resources under a kind's key (jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models), or discover them"]),
        ("invalid-discover-empty.yaml", &["targets[0].discover: discovers nothing: give one kind or more (jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models; `jobs: {}` takes every job)"]),
        ("invalid-discover-name-contains.yaml", &[
            "targets[0].discover.jobs.name_contains: \"-ft\" must be written as a job name: a letter or digit first, then letters, digits, '+', '-' and '.'",
            "targets[0].discover.models.name_contains: \"a123456789012345678901234567890123456789012345678901234567890123\" must have 1 to 63 characters",
        ]),
        ("invalid-discover-base-model.yaml", &["targets[0].discover.models.base_model: \"amazon.titan-text-express-v1\" is not a foundation model ARN (arn:aws:bedrock:REGION::foundation-model/PROVIDER.MODEL)"]),
        ("invalid-discover-base-model-region.yaml", &["targets[0].discover.models.base_model: ARN is in region us-east-1 but the target's region is eu-west-1: it would match no model"]),
        ("invalid-discover-created-within.yaml", &[
            "targets[0].discover.jobs.created_within: expected a duration such as 90s, 5m or 1h30m, got \"forever\"",
            "targets[0].discover.models.created_within: 20000d is out of range: from 1s to 3650d",
        ]),
        ("invalid-discover-unknown-key.yaml", &[
            "targets[0].discover.endpoints: unknown key (expected one of: jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models)",
            "targets[0].discover.jobs.status: unknown key (expected one of: name_contains, created_within)",
        ]),
        ("invalid-region.yaml", &["targets[0].region: \"US East 1\" is not a region name such as us-east-1"]),
        ("invalid-role-arn.yaml", &["targets[0].role_arn: \"arn:aws:iam::123456789012:user/bob\" is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"]),
        ("invalid-endpoint-url.yaml", &["targets[0].endpoint_url: \"bedrock.us-east-1.amazonaws.com\" is not an http:// or https:// URL"]),
        ("invalid-endpoint-credentials.yaml", &["targets[0].endpoint_url: \"https://***@bedrock.us-east-1.amazonaws.com\" holds credentials (user:password@): credentials come only from the AWS default chain"]),
        ("invalid-same-name-role-and-default.yaml", &["targets[1].jobs[0]: \"nightly-ft\" is also listed at targets[0].jobs[0] for the same region; give one of them by ARN"]),
        ("invalid-job-name.yaml", &["targets[0].jobs[0]: \"my_job\" is not a job name: it must start with a letter or digit and hold only letters, digits, '+', '-' and '.'"]),
        ("invalid-job-arn.yaml", &["targets[0].jobs[0]: \"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/abc\" is not a model customization job ARN (arn:aws:bedrock:REGION:ACCOUNT:model-customization-job/BASE-MODEL/ID)"]),
        ("invalid-job-too-long.yaml", &["targets[0].jobs[0]: \"a123456789012345678901234567890123456789012345678901234567890123\" is longer than 63 characters, the most a job name has"]),
        ("invalid-model-name.yaml", &["targets[0].models[0]: \"my model\" is not a model name: letters and digits, each optionally followed by one '_' or '-'"]),
        ("invalid-arn-region.yaml", &["targets[0].jobs[0]: ARN is in region us-east-1 but the target's region is us-west-2"]),
        ("invalid-duplicate.yaml", &["targets[0].models[2]: \"model-a\" is listed twice (first at targets[0].models[0])"]),
        ("invalid-same-name-two-targets.yaml", &["targets[1].jobs[0]: \"nightly-ft\" is also listed at targets[0].jobs[0] for the same region; give one of them by ARN"]),
        ("invalid-not-a-list.yaml", &["targets[0].jobs: expected a list of names or ARNs, got \"my-job\""]),
        ("invalid-alias-bomb.yaml", &["invalid YAML: repetition limit exceeded"]),
        ("invalid-alias-wide.yaml", &["refused: with its aliases expanded it holds more than the limit of 262144 values"]),
        ("invalid-alias-deep.yaml", &["refused: with its aliases expanded it nests deeper than the limit of 64 levels"]),
        ("invalid-deep.yaml", &["refused before parsing: it nests deeper than the limit of 64 levels (line 66)"]),
        ("invalid-yaml.yaml", &["invalid YAML: did not find expected ',' or ']' at line 3 column 1, while parsing a flow sequence at line 2 column 11"]),
    ];
    let mut seen = Vec::new();
    for (file, want) in table {
        assert_eq!(problems(file), *want, "{file}");
        seen.push(*file);
    }
    // Every invalid file in testdata is in the table (the "many" file has its own test).
    for entry in std::fs::read_dir(testdata("")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("invalid-") && name != "invalid-many.yaml" {
            assert!(
                seen.contains(&name.as_str()),
                "{name} has no expected message"
            );
        }
    }
}

#[test]
fn valid_files_load() {
    let config = Config::load(&testdata("valid-same-name-two-accounts.yaml")).unwrap();
    assert_eq!(config.targets.len(), 2);

    let config = Config::load(&testdata("valid-organizations.yaml")).unwrap();
    let org = &config.organizations[0];
    assert_eq!(org.member_role_name, "bedrock-exporter");
    assert_eq!(org.regions, ["us-east-1", "us-west-2"]);
    assert_eq!(org.exclude_accounts, ["333333333333", "444444444444"]);
    assert_eq!(org.refresh, Duration::from_secs(1800));
    assert_eq!(org.discover.0.len(), Kind::ALL.len());

    let config = Config::load(&testdata("valid-long-interval.yaml")).unwrap();
    assert_eq!(config.interval, Duration::from_secs(5400));
    assert_eq!(config.terminal_interval, Duration::from_secs(5400));

    let config = Config::load(&testdata("valid-discover.yaml")).unwrap();
    let all = &config.targets[0].discover;
    assert_eq!(
        all.of(Kind::Job),
        Some(&Discovery {
            created_within: Some(Duration::from_secs(14 * 86_400)),
            ..Discovery::default()
        })
    );
    assert_eq!(all.of(Kind::Model), Some(&Discovery::default()));
    let filtered = &config.targets[1].discover;
    assert_eq!(
        filtered.of(Kind::Job),
        Some(&Discovery {
            name_contains: Some("support-bot".to_owned()),
            base_model: None,
            created_within: Some(Duration::from_secs(30 * 86_400)),
        })
    );
    assert_eq!(
        filtered
            .of(Kind::Model)
            .and_then(|m| m.base_model.as_deref()),
        Some("arn:aws:bedrock:us-west-2::foundation-model/amazon.titan-text-express-v1:0:8k")
    );
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    assert_eq!(
        problems("invalid-many.yaml"),
        [
            "interval: expected a duration such as 90s, 5m or 1h30m, got \"soon\"".to_owned(),
            "concurrency: expected a whole number from 1 to 64, got 1000".to_owned(),
            "targets[0].extra: unknown key (expected one of: region, role_arn, endpoint_url, jobs, models, deployments, provisioned_throughputs, evaluation_jobs, batch_inference_jobs, import_jobs, copy_jobs, imported_models, discover)".to_owned(),
            format!("targets[0].jobs[1]: \"-bad-start\" {NAME_RULE}"),
            "targets[0].jobs[2]: \"good-job\" is listed twice (first at targets[0].jobs[0])".to_owned(),
            "targets[0].models[0]: ARN is in region us-west-2 but the target's region is us-east-1".to_owned(),
            "targets[1]: expected a mapping, got 42".to_owned(),
        ]
    );
}

fn config_check(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bedrock-exporter"))
        .arg("--config.check")
        .arg(format!("--config.file={}", path.display()))
        .env_remove("AWS_BEARER_TOKEN_BEDROCK")
        .output()
        .unwrap()
}

#[test]
fn config_check_exits_2_on_every_invalid_file() {
    for entry in std::fs::read_dir(testdata("")).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("invalid-")
        {
            continue;
        }
        let out = config_check(&path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        // The first line names the file and counts the problems; one line per problem follows.
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("{}: ", path.display())),
            "{stderr}"
        );
        assert!(first.contains(" problem"), "{stderr}");
    }
    let out = config_check(&testdata("invalid-many.yaml"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().next().unwrap().ends_with(": 7 problems:"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 8, "{stderr}");
}

#[test]
fn config_check_accepts_the_example() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    let out = config_check(&example);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
}

#[test]
fn config_check_reports_a_missing_file() {
    let out = config_check(Path::new("/nonexistent/config.yaml"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("cannot read config file /nonexistent/config.yaml: No such file"),
        "{stderr}"
    );
    // A newcomer without a config file is told where to start.
    assert!(
        stderr.contains("bedrock-exporter --demo") && stderr.contains("config.example.yaml"),
        "{stderr}"
    );
}

const TOO_LARGE: &str =
    "refused before parsing: it is larger than the limit of 1 MiB (1048576 bytes)";

/// The one problem of a file refused whole, by both the config and the web config loader.
fn refusal(path: &Path) -> Vec<String> {
    let mut messages = Vec::new();
    for error in [Config::load(path).err(), WebConfig::load(path).err()] {
        match error {
            Some(ConfigError::Invalid { problems, .. }) => {
                messages.extend(problems.iter().map(ToString::to_string))
            }
            other => panic!("{}: expected a refusal, got {other:?}", path.display()),
        }
    }
    messages
}

/// Files larger than the limit are refused after reading one byte more than it, whatever they
/// are: an endless device, a large file, a FIFO that a writer keeps filling.
#[test]
fn oversized_files_are_refused_unread() {
    let dir = std::env::temp_dir().join(format!("bedrock-exporter-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    assert_eq!(refusal(Path::new("/dev/zero")), [TOO_LARGE, TOO_LARGE]);

    let large = dir.join("large.yaml");
    let file = std::fs::File::create(&large).unwrap();
    file.set_len(200_000_000).unwrap();
    assert_eq!(refusal(&large), [TOO_LARGE, TOO_LARGE]);

    // One byte over the limit is refused; at the limit, the file is parsed.
    let text = format!("targets: [{{jobs: [a]}}]\n{}", "#".repeat(1 << 20));
    std::fs::write(&large, &text[..(1 << 20) + 1]).unwrap();
    assert_eq!(refusal(&large), [TOO_LARGE, TOO_LARGE]);
    std::fs::write(&large, &text[..1 << 20]).unwrap();
    assert!(Config::load(&large).is_ok());

    let fifo = dir.join("fifo.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer_path = fifo.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer_stop = stop.clone();
    let writer = std::thread::spawn(move || {
        use std::io::{ErrorKind, Write as _};
        use std::os::unix::fs::OpenOptionsExt as _;
        use std::sync::atomic::Ordering;
        // Feeds each reader that opens the FIFO (the config and the web config loader, in
        // turn) until it closes it. Opened without blocking, so that a reader that came and
        // went between two opens cannot leave the writer waiting for a partner for ever.
        let mut written = 0usize;
        while !writer_stop.load(Ordering::Relaxed) {
            let Ok(mut pipe) = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(&writer_path)
            else {
                std::thread::yield_now();
                continue;
            };
            let line = [b'#'; 4096];
            loop {
                match pipe.write(&line) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(_) => break,
                }
            }
        }
        written
    });
    assert_eq!(refusal(&fifo), [TOO_LARGE, TOO_LARGE]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    // Each reader stopped within a pipe buffer or so of the limit.
    assert!(
        written < 2 * ((1 << 20) + (1 << 20)),
        "{written} bytes written"
    );

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_check_refuses_an_oversized_config_or_web_config() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    for args in [
        vec!["--config.file=/dev/zero".to_owned()],
        vec![
            format!("--config.file={}", example.display()),
            "--web.config.file=/dev/zero".to_owned(),
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bedrock-exporter"))
            .arg("--config.check")
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            format!("/dev/zero: 1 problem:\n  {TOO_LARGE}\n"),
            "{args:?}"
        );
    }
}

/// Whatever the text, loading a config or web config ends in a config or in problems: no
/// panic, and no problem without a message. Inputs are small, so each case is quick; the
/// bounds on large inputs have their own tests above.
mod properties {
    use std::time::Duration;

    use bedrock_exporter::config::web::WebConfig;
    use bedrock_exporter::config::{show_duration, yaml, Config};
    use proptest::prelude::*;
    use serde_yaml::Value;

    /// Pieces of YAML and of this config, so that random text reaches past the parser into
    /// the checks, the pre-scan and the alias walk.
    const TOKENS: &[&str] = &[
        "\n",
        "\n  ",
        "\n    ",
        " ",
        "- ",
        "-",
        ": ",
        ":",
        "? ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "#",
        "'",
        "\"",
        "\\",
        "|",
        ">-",
        "&a ",
        "*a",
        "&b ",
        "*b",
        "!!str ",
        "!tag ",
        "---\n",
        "...",
        "%YAML 1.2\n",
        "~",
        "null",
        "true",
        "0",
        "-1",
        "1e400",
        "0x1f",
        "60s",
        "1.5h",
        "0s",
        "300000000000y",
        "interval",
        "terminal_interval",
        "request_timeout",
        "concurrency",
        "targets",
        "exclude_metrics",
        "region",
        "us-east-1",
        "role_arn",
        "endpoint_url",
        "http://127.0.0.1:1",
        "jobs",
        "models",
        "discover",
        "name_contains",
        "base_model",
        "created_within",
        "my-job",
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/a.b/abcdefghijkl",
        "tls_server_config",
        "cert_file",
        "key_file",
        "client_auth_type",
        "basic_auth_users",
        "http_server_config",
        "headers",
        "X-Frame-Options",
        "$2y$10$",
        "é",
        "\u{2028}",
        "\t",
        "\r\n",
        "\u{feff}",
    ];

    fn yamlish() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
    }

    fn check(text: &str) {
        match Config::parse(text) {
            Ok(config) => assert!(!config.targets.is_empty()),
            Err(problems) => {
                assert!(!problems.is_empty());
                assert!(
                    problems.iter().all(|p| !p.message.is_empty()),
                    "{problems:?}"
                );
            }
        }
        if let Err(problems) = WebConfig::parse(text, std::path::Path::new("/etc/web")) {
            assert!(
                problems.iter().all(|p| !p.message.is_empty()),
                "{problems:?}"
            );
        }
    }

    /// Mappings and lists around the deepest value.
    fn depth(value: &Value) -> usize {
        match value {
            Value::Sequence(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Mapping(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            Value::Tagged(tagged) => depth(&tagged.value),
            _ => 0,
        }
    }

    /// The depth the pre-scan finds.
    fn scanned(text: &str) -> usize {
        (0..=yaml::MAX_DEPTH + 1)
            .find(|max| yaml::too_deep(text, *max).is_none())
            .unwrap_or(usize::MAX)
    }

    fn tree() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Number(n.into())),
            "[a-z:#\\[\\]{}'\" |>&*!-]{0,8}".prop_map(Value::String),
            "[a-z \n]{0,12}".prop_map(Value::String),
        ];
        scalar.prop_recursive(8, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
                prop::collection::vec(("[a-z:# \\[{'\"-]{0,6}", inner), 0..4).prop_map(|entries| {
                    Value::Mapping(
                        entries
                            .into_iter()
                            .map(|(k, v)| (Value::String(k), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn any_string_is_loaded_or_refused(text in any::<String>()) {
            check(&text);
        }

        #[test]
        fn any_bytes_are_loaded_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            check(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn any_yaml_like_text_is_loaded_or_refused(text in yamlish()) {
            check(&text);
            // The pre-scan takes any text, and parsed text is within the exact bound.
            let _ = yaml::too_deep(&text, yaml::MAX_DEPTH);
            if let Ok(value) = yaml::parse(&text) {
                prop_assert!(depth(&value) <= yaml::MAX_DEPTH);
            }
        }

        /// The pre-scan counts the levels of YAML as serde_yaml writes it, block scalars and
        /// quoted keys included.
        #[test]
        fn the_pre_scan_counts_the_levels_of_written_yaml(value in tree()) {
            let text = serde_yaml::to_string(&value).unwrap();
            prop_assert_eq!(scanned(&text), depth(&value), "{}", text);
        }

        /// Any interval alone (terminal_interval unset) is taken, or reported at `interval` and
        /// nowhere else.
        #[test]
        fn any_interval_is_taken_or_reported(text in prop_oneof![
            "[0-9]{1,4}(\\.[0-9]{1,2})?(ns|ms|s|m|h|d|w|y)?",
            "[0-9 .]{0,24}[a-z]{0,6}( [0-9]{1,3}[a-z]{1,3})?",
        ]) {
            let yaml = format!("interval: {text:?}\ntargets: [{{jobs: [a]}}]\n");
            match Config::parse(&yaml) {
                Ok(config) => {
                    prop_assert!(config.interval >= Duration::from_secs(1));
                    prop_assert!(config.interval <= Duration::from_secs(30 * 86_400));
                    prop_assert!(config.terminal_interval >= config.interval);
                }
                Err(problems) => {
                    prop_assert_eq!(problems.len(), 1, "{:?}", problems);
                    prop_assert_eq!(&problems[0].path, "interval");
                }
            }
        }

        /// A duration shown in a message reads back as itself.
        #[test]
        fn shown_durations_read_back(secs in 0u64..=3650 * 86_400, nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            prop_assert_eq!(humantime::parse_duration(&show_duration(d)).unwrap(), d);
        }
    }
}
