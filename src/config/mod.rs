//! The YAML config file: parsed, then checked as a whole, every problem reported with its path.
//!
//! Parsing walks a `serde_yaml::Value` by hand rather than deriving `Deserialize`, so that an
//! unknown key, a bad duration and a bad identifier in one file are all reported at once, each
//! with its path (`targets[0].jobs[3]: ...`), as blackbox_exporter does.
//!
//! Text becomes YAML only through [`yaml`], which refuses a file over 1 MiB, nested deeper than
//! 64 levels, or whose aliases expand past a bound, before anything is built from it.

pub mod web;
pub mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_yaml::Value;

use crate::bedrock::aws::ClientTarget;
use crate::bedrock::families;
use crate::bedrock::Kind;

/// A loaded and validated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// How often running jobs, creating models and never-read identifiers are re-read.
    pub interval: Duration,
    /// How often finished jobs and settled models are re-read. Unset: 30m, or `interval` when
    /// that is longer.
    pub terminal_interval: Duration,
    /// Bound on one API call, SDK retries included.
    pub request_timeout: Duration,
    /// API calls in flight at once, per target.
    pub concurrency: usize,
    pub targets: Vec<Target>,
    /// Bedrock families left out of `/metrics`, by name.
    pub exclude_metrics: Vec<String>,
}

/// One AWS account and region to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    pub region: Option<String>,
    pub role_arn: Option<String>,
    pub endpoint_url: Option<String>,
    pub jobs: Vec<String>,
    pub models: Vec<String>,
    /// Jobs and models found through the List APIs.
    pub discover: Discover,
}

/// A target's `discover` block: which kinds to find with the List APIs, and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discover {
    /// `ListModelCustomizationJobs`; `None` when jobs are not discovered.
    pub jobs: Option<Discovery>,
    /// `ListCustomModels`; `None` when models are not discovered.
    pub models: Option<Discovery>,
}

impl Target {
    /// Where its client reads, and as whom.
    pub fn client_target(&self) -> ClientTarget<'_> {
        ClientTarget {
            region: self.region.as_deref(),
            role_arn: self.role_arn.as_deref(),
            endpoint_url: self.endpoint_url.as_deref(),
        }
    }
}

impl Discover {
    /// The discovery of `kind`, if the target has one.
    pub fn of(&self, kind: Kind) -> Option<&Discovery> {
        match kind {
            Kind::Job => self.jobs.as_ref(),
            Kind::Model => self.models.as_ref(),
        }
    }
}

/// What one kind's listing asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    /// `nameContains`.
    pub name_contains: Option<String>,
    /// `baseModelArnEquals` (models only).
    pub base_model: Option<String>,
    /// Only what was created this recently (`creationTimeAfter`); running jobs whatever their
    /// age. Jobs default to [`JOBS_CREATED_WITHIN`]; models to no limit.
    pub created_within: Option<Duration>,
}

/// `discover.jobs.created_within` when not given.
pub const JOBS_CREATED_WITHIN: Duration = Duration::from_secs(14 * 86_400);

impl Default for Config {
    fn default() -> Self {
        Config {
            interval: Duration::from_secs(60),
            terminal_interval: Duration::from_secs(30 * 60),
            request_timeout: Duration::from_secs(10),
            concurrency: 4,
            targets: Vec::new(),
            exclude_metrics: Vec::new(),
        }
    }
}

/// One thing wrong with a config, at a path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}", path = path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {count} problem{s}:\n{list}",
        path = path.display(),
        count = problems.len(),
        s = if problems.len() == 1 { "" } else { "s" },
        list = problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl Config {
    /// Reads and validates the file at `path`, reading no more of it than [`yaml::MAX_BYTES`]
    /// and one byte.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = yaml::read_file(path)?;
        Config::parse(&text).map_err(|problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }

    /// How many jobs and models the config lists, over all targets.
    pub fn identifier_count(&self) -> usize {
        self.targets
            .iter()
            .map(|t| t.jobs.len() + t.models.len())
            .sum()
    }

    /// How many discoveries (a kind in a target) the config asks for.
    pub fn discovery_count(&self) -> usize {
        self.targets
            .iter()
            .map(|t| {
                Kind::ALL
                    .iter()
                    .filter(|k| t.discover.of(**k).is_some())
                    .count()
            })
            .sum()
    }

    /// Names listed by two targets that would read the same account and region: their series
    /// (`target_up{kind, identifier, account_id, region}`, the Bedrock series by name) would be
    /// one. Targets are in different accounts only when both assume roles of different accounts;
    /// `regions` holds each target's region, as written or as resolved at start.
    pub fn shared_names(&self, regions: &[Option<String>]) -> Vec<Problem> {
        // (region, list, name) -> (role account, path) of each target listing it so far.
        type Listed<'a> =
            HashMap<(Option<String>, &'a str, &'a str), Vec<(Option<&'a str>, String)>>;
        let mut first: Listed = HashMap::new();
        let mut problems = Vec::new();
        for (t, (target, region)) in self.targets.iter().zip(regions).enumerate() {
            let account = target.role_arn.as_deref().and_then(role_account);
            for (key, ids) in [("jobs", &target.jobs), ("models", &target.models)] {
                for (i, id) in ids.iter().enumerate() {
                    let path = format!("targets[{t}].{key}[{i}]");
                    let earlier = first.entry((region.clone(), key, id)).or_default();
                    let clash = earlier.iter().find(|(other, _)| match (account, other) {
                        (Some(a), Some(b)) => a == *b,
                        _ => true,
                    });
                    if let Some((_, at)) = clash {
                        problems.push(Problem {
                            path: path.clone(),
                            message: format!("{id:?} is also listed at {at} for the same region; give one of them by ARN"),
                        });
                    }
                    earlier.push((account, path));
                }
            }
        }
        problems
    }

    /// Parses and validates YAML text, returning every problem found.
    /// Text over the bounds of [`yaml`] (size, nesting, aliases) is refused before it is built.
    pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        let value = yaml::parse(text).map_err(|problem| vec![problem])?;
        let mut checker = Checker::default();
        let config = checker.config(&value);
        let regions: Vec<Option<String>> =
            config.targets.iter().map(|t| t.region.clone()).collect();
        checker.problems.extend(config.shared_names(&regions));
        if checker.problems.is_empty() {
            Ok(config)
        } else {
            Err(checker.problems)
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "interval",
    "terminal_interval",
    "request_timeout",
    "concurrency",
    "targets",
    "exclude_metrics",
];
const TARGET_KEYS: &[&str] = &[
    "region",
    "role_arn",
    "endpoint_url",
    "jobs",
    "models",
    "discover",
];
const DISCOVER_KEYS: &[&str] = &["jobs", "models"];
const DISCOVER_JOBS_KEYS: &[&str] = &["name_contains", "created_within"];
const DISCOVER_MODELS_KEYS: &[&str] = &["name_contains", "base_model", "created_within"];

/// Every key the config file takes, as a path (`targets[].discover.jobs.name_contains`): the
/// lists above, nested as the checker reads them. docs/configuration.md lists the same keys;
/// tests/docs.rs holds the two in step.
pub fn key_paths() -> Vec<String> {
    let mut paths: Vec<String> = TOP_KEYS.iter().map(|k| k.to_string()).collect();
    paths.extend(TARGET_KEYS.iter().map(|k| format!("targets[].{k}")));
    for (kind, keys) in DISCOVER_KEYS
        .iter()
        .zip([DISCOVER_JOBS_KEYS, DISCOVER_MODELS_KEYS])
    {
        paths.push(format!("targets[].discover.{kind}"));
        paths.extend(
            keys.iter()
                .map(|k| format!("targets[].discover.{kind}.{k}")),
        );
    }
    paths
}
/// The longest `created_within`: ten years, which is "everything" for Bedrock.
const MAX_CREATED_WITHIN: Duration = Duration::from_secs(3650 * 86_400);
const MAX_CONCURRENCY: u64 = 64;
/// Intervals shorter than this would poll Bedrock back to back.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_millis(1);
/// No duration may exceed this: longer ones are surely typos, and would overflow clocks.
const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);

/// Anchors a pattern of the API model, which are written unanchored but meant as whole matches.
fn whole(pattern: &str) -> Regex {
    #[allow(clippy::expect_used)] // the patterns are constants, checked by the unit tests
    Regex::new(&format!("^(?:{pattern})$")).expect("API pattern compiles")
}

/// `ModelCustomizationJobIdentifier` of GetModelCustomizationJob.
static JOB_IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-customization-job/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([a-z0-9-]{1,63}[.]){0,2}[a-z0-9-]{1,63}([:][a-z0-9-]{1,63}){0,2}/[a-z0-9]{12})|([a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*)",
    )
});
const JOB_IDENTIFIER_MAX: usize = 1011;
/// `JobName`: a job named rather than given by ARN has at most this many characters.
const JOB_NAME_MAX: usize = 63;

/// `ModelIdentifier` of GetCustomModel.
static MODEL_IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/((imported)|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}))(([:][a-z0-9-]{1,63}){0,2})?/[a-z0-9]{12})|(:foundation-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})))|(([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2}))|(([0-9a-zA-Z][_-]?)+)",
    )
});
const MODEL_IDENTIFIER_MAX: usize = 2048;
/// `CustomModelName`: a model named rather than given by ARN has at most this many characters.
const MODEL_NAME_MAX: usize = 63;

/// `RoleArn`.
static ROLE_ARN: LazyLock<Regex> =
    LazyLock::new(|| whole(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+"));
const ROLE_ARN_MAX: usize = 2048;

/// `FoundationModelArn`, for `discover.models.base_model`.
static FOUNDATION_MODEL_ARN: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}::foundation-model/[a-z0-9-]{1,63}[.]{1}([a-z0-9-]{1,63}[.]){0,2}[a-z0-9-]{1,63}([:][a-z0-9-]{1,63}){0,2}",
    )
});

/// `JobName`, which `nameContains` of ListModelCustomizationJobs takes.
static JOB_NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*"));

/// `CustomModelName`, which `nameContains` of ListCustomModels takes.
static MODEL_NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"([0-9a-zA-Z][_-]?){1,63}"));

/// The region part of a Bedrock ARN.
static REGION: LazyLock<Regex> = LazyLock::new(|| whole(r"[a-z0-9-]{1,20}"));

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// The entries of a mapping with string keys; unknown keys are reported.
    fn mapping<'v>(
        &mut self,
        path: &str,
        value: &'v Value,
        known: &[&str],
    ) -> Option<HashMap<&'v str, &'v Value>> {
        let Value::Mapping(map) = value else {
            self.problem(path, format!("expected a mapping, got {}", describe(value)));
            return None;
        };
        let mut out = HashMap::new();
        for (key, value) in map {
            let Some(key) = key.as_str() else {
                self.problem(path, format!("key {} is not a string", describe(key)));
                continue;
            };
            if known.contains(&key) {
                out.insert(key, value);
            } else {
                let hint = closest(key, known)
                    .map(|k| format!(", did you mean `{k}`?"))
                    .unwrap_or_default();
                self.problem(
                    join(path, key),
                    format!("unknown key{hint} (expected one of: {})", known.join(", ")),
                );
            }
        }
        Some(out)
    }

    fn config(&mut self, value: &Value) -> Config {
        let mut config = Config::default();
        if value.is_null() {
            self.problem("", "config is empty: at least one target is required");
            return config;
        }
        let Some(map) = self.mapping("", value, TOP_KEYS) else {
            return config;
        };
        let interval = map
            .get("interval")
            .map(|v| self.duration("interval", v, MIN_INTERVAL));
        let terminal = map
            .get("terminal_interval")
            .map(|v| self.duration("terminal_interval", v, MIN_INTERVAL));
        if let Some(v) = map.get("request_timeout") {
            if let Some(d) = self.duration("request_timeout", v, MIN_REQUEST_TIMEOUT) {
                config.request_timeout = d;
            }
        }
        if let Some(Some(d)) = interval {
            config.interval = d;
        }
        if let Some(v) = map.get("concurrency") {
            match v.as_u64() {
                Some(n @ 1..=MAX_CONCURRENCY) => config.concurrency = n as usize,
                _ => self.problem(
                    "concurrency",
                    format!(
                        "expected a whole number from 1 to {MAX_CONCURRENCY}, got {}",
                        describe(v)
                    ),
                ),
            }
        }
        match terminal {
            // Unset, it follows a longer interval: finished jobs are read no more often than
            // running ones, and `interval: 2h` alone is a valid config.
            None => config.terminal_interval = config.terminal_interval.max(config.interval),
            Some(Some(t)) => {
                config.terminal_interval = t;
                // Compared with the interval in force, as written or by default; an invalid
                // one has been reported already.
                let written = |key| map.get(key).and_then(|v| v.as_str()).unwrap_or_default();
                let interval = match interval {
                    None => Some(format!("{}, its default", show_duration(config.interval))),
                    Some(Some(_)) => Some(written("interval").trim().to_owned()),
                    Some(None) => None,
                };
                if let Some(interval) = interval.filter(|_| t < config.interval) {
                    self.problem(
                        "terminal_interval",
                        format!(
                            "{} is shorter than interval ({interval})",
                            written("terminal_interval").trim()
                        ),
                    );
                }
            }
            Some(None) => {}
        }
        if let Some(v) = map.get("exclude_metrics") {
            config.exclude_metrics = self.excluded_metrics(v);
        }
        match map.get("targets") {
            None => self.problem("targets", "required: list at least one target"),
            Some(Value::Sequence(items)) if items.is_empty() => {
                self.problem("targets", "list at least one target")
            }
            Some(Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let target = self.target(&format!("targets[{i}]"), item);
                    config.targets.push(target);
                }
            }
            Some(other) => self.problem(
                "targets",
                format!("expected a list of targets, got {}", describe(other)),
            ),
        }
        config
    }

    /// A duration from `min` to [`MAX_DURATION`].
    fn duration(&mut self, path: &str, value: &Value, min: Duration) -> Option<Duration> {
        self.duration_within(path, value, min, MAX_DURATION)
    }

    /// A duration from `min` to `max`.
    fn duration_within(
        &mut self,
        path: &str,
        value: &Value,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        let text = value.as_str().unwrap_or_default();
        let Some(d) = humantime::parse_duration(text).ok() else {
            self.problem(
                path,
                format!(
                    "expected a duration such as 90s, 5m or 1h30m, got {}",
                    describe(value)
                ),
            );
            return None;
        };
        if d < min || d > max {
            self.problem(
                path,
                format!(
                    "{text} is out of range: from {} to {}",
                    show_duration(min),
                    show_duration(max)
                ),
            );
            return None;
        }
        Some(d)
    }

    /// `exclude_metrics`: names of Bedrock families (the exporter's own cannot be left out).
    fn excluded_metrics(&mut self, value: &Value) -> Vec<String> {
        let Value::Sequence(items) = value else {
            self.problem(
                "exclude_metrics",
                format!("expected a list of metric names, got {}", describe(value)),
            );
            return Vec::new();
        };
        let mut names = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("exclude_metrics[{i}]");
            let Some(name) = self.string(&path, item) else {
                continue;
            };
            if families::bedrock_names().any(|known| known == name) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            } else if name.starts_with("bedrock_exporter_") || name.starts_with("process_") {
                self.problem(
                    path,
                    format!(
                        "{name:?} is one of the exporter's own metrics, which cannot be excluded"
                    ),
                );
            } else {
                self.problem(
                    path,
                    format!("{name:?} is not a Bedrock metric of this exporter (bedrock_customization_job_* or bedrock_custom_model_*, as listed in docs/metrics.md)"),
                );
            }
        }
        names
    }

    fn string<'v>(&mut self, path: &str, value: &'v Value) -> Option<&'v str> {
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                self.problem(path, format!("expected a string, got {}", describe(value)));
                None
            }
        }
    }

    fn target(&mut self, path: &str, value: &Value) -> Target {
        let mut target = Target::default();
        let Some(map) = self.mapping(path, value, TARGET_KEYS) else {
            return target;
        };
        if let Some(v) = map.get("region") {
            let p = join(path, "region");
            if let Some(region) = self.string(&p, v) {
                if REGION.is_match(region) {
                    target.region = Some(region.to_owned());
                } else {
                    self.problem(
                        p,
                        format!("{region:?} is not a region name such as us-east-1"),
                    );
                }
            }
        }
        if let Some(v) = map.get("role_arn") {
            let p = join(path, "role_arn");
            if let Some(arn) = self.string(&p, v) {
                if arn.len() <= ROLE_ARN_MAX && ROLE_ARN.is_match(arn) {
                    target.role_arn = Some(arn.to_owned());
                } else {
                    self.problem(
                        p,
                        format!(
                            "{arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
                        ),
                    );
                }
            }
        }
        if let Some(v) = map.get("endpoint_url") {
            let p = join(path, "endpoint_url");
            if let Some(url) = self.string(&p, v) {
                match check_url(url) {
                    Ok(()) => target.endpoint_url = Some(url.to_owned()),
                    Err(why) => self.problem(p, format!("{:?} {why}", redact_userinfo(url))),
                }
            }
        }
        target.jobs = self.identifiers(path, "jobs", map.get("jobs").copied(), check_job, &target);
        target.models = self.identifiers(
            path,
            "models",
            map.get("models").copied(),
            check_model,
            &target,
        );
        if let Some(v) = map.get("discover") {
            target.discover = self.discover(&join(path, "discover"), v);
            let base_model = target
                .discover
                .models
                .as_ref()
                .and_then(|m| m.base_model.as_deref());
            if let (Some(arn), Some(region)) = (base_model, target.region.as_deref()) {
                if let Some(arn_region) = arn_region(arn).filter(|r| *r != region) {
                    self.problem(
                        join(path, "discover.models.base_model"),
                        format!("ARN is in region {arn_region} but the target's region is {region}: it would match no model"),
                    );
                }
            }
        }
        // Counted as written, so a list of only bad entries is not reported twice.
        let listed: usize = ["jobs", "models"]
            .iter()
            .filter_map(|key| map.get(key))
            .map(|v| v.as_sequence().map_or(1, Vec::len))
            .sum();
        if listed == 0 && !map.contains_key("discover") {
            self.problem(
                path,
                "watches nothing: list jobs or models, or discover them",
            );
        }
        target
    }

    fn discover(&mut self, path: &str, value: &Value) -> Discover {
        let mut discover = Discover::default();
        let Some(map) = self.mapping(path, value, DISCOVER_KEYS) else {
            return discover;
        };
        if map.is_empty() {
            self.problem(
                path,
                "discovers nothing: give jobs, models or both (`jobs: {}` takes every job)",
            );
        }
        if let Some(v) = map.get("jobs") {
            let default = Discovery {
                created_within: Some(JOBS_CREATED_WITHIN),
                ..Discovery::default()
            };
            discover.jobs = self.discovery(
                &join(path, "jobs"),
                v,
                DISCOVER_JOBS_KEYS,
                Kind::Job,
                default,
            );
        }
        if let Some(v) = map.get("models") {
            discover.models = self.discovery(
                &join(path, "models"),
                v,
                DISCOVER_MODELS_KEYS,
                Kind::Model,
                Discovery::default(),
            );
        }
        discover
    }

    /// One kind's discovery: `{}` (or nothing) takes every resource of the kind.
    fn discovery(
        &mut self,
        path: &str,
        value: &Value,
        keys: &[&str],
        kind: Kind,
        mut discovery: Discovery,
    ) -> Option<Discovery> {
        if value.is_null() {
            return Some(discovery);
        }
        let map = self.mapping(path, value, keys)?;
        if let Some(v) = map.get("name_contains") {
            let p = join(path, "name_contains");
            if let Some(part) = self.string(&p, v) {
                match check_name_part(kind, part) {
                    Ok(()) => discovery.name_contains = Some(part.to_owned()),
                    Err(why) => self.problem(p, format!("{part:?} {why}")),
                }
            }
        }
        if let Some(v) = map.get("base_model") {
            let p = join(path, "base_model");
            if let Some(arn) = self.string(&p, v) {
                if FOUNDATION_MODEL_ARN.is_match(arn) {
                    discovery.base_model = Some(arn.to_owned());
                } else {
                    self.problem(p, format!("{arn:?} is not a foundation model ARN (arn:aws:bedrock:REGION::foundation-model/PROVIDER.MODEL)"));
                }
            }
        }
        if let Some(v) = map.get("created_within") {
            let p = join(path, "created_within");
            discovery.created_within =
                self.duration_within(&p, v, MIN_INTERVAL, MAX_CREATED_WITHIN);
        }
        Some(discovery)
    }

    fn identifiers(
        &mut self,
        path: &str,
        key: &str,
        value: Option<&Value>,
        check: fn(&str) -> Result<(), String>,
        target: &Target,
    ) -> Vec<String> {
        let Some(value) = value else {
            return Vec::new();
        };
        let path = join(path, key);
        let Value::Sequence(items) = value else {
            self.problem(
                path,
                format!("expected a list of names or ARNs, got {}", describe(value)),
            );
            return Vec::new();
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some(id) = self.string(&p, item) else {
                continue;
            };
            if let Err(why) = check(id) {
                self.problem(p, format!("{id:?} {why}"));
                continue;
            }
            if let Some(first) = seen.insert(id, i) {
                self.problem(
                    p,
                    format!("{id:?} is listed twice (first at {path}[{first}])"),
                );
                seen.insert(id, first);
                continue;
            }
            if let (Some(arn_region), Some(region)) = (arn_region(id), target.region.as_deref()) {
                if arn_region != region {
                    self.problem(
                        p,
                        format!(
                            "ARN is in region {arn_region} but the target's region is {region}"
                        ),
                    );
                    continue;
                }
            }
            out.push(id.to_owned());
        }
        out
    }
}

/// Checks a job name or ARN against `jobIdentifier` of GetModelCustomizationJob.
pub fn check_job(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".to_owned());
    }
    if id.len() > JOB_IDENTIFIER_MAX {
        return Err(format!("is longer than {JOB_IDENTIFIER_MAX} characters"));
    }
    if !JOB_IDENTIFIER.is_match(id) {
        return Err(if id.starts_with("arn:") {
            "is not a model customization job ARN (arn:aws:bedrock:REGION:ACCOUNT:model-customization-job/BASE-MODEL/ID)".to_owned()
        } else {
            "is not a job name: it must start with a letter or digit and hold only letters, digits, '+', '-' and '.'".to_owned()
        });
    }
    if !id.starts_with("arn:") && id.len() > JOB_NAME_MAX {
        return Err(format!(
            "is longer than {JOB_NAME_MAX} characters, the most a job name has"
        ));
    }
    Ok(())
}

/// Checks a model name or ARN against `modelIdentifier` of GetCustomModel.
pub fn check_model(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".to_owned());
    }
    if id.len() > MODEL_IDENTIFIER_MAX {
        return Err(format!("is longer than {MODEL_IDENTIFIER_MAX} characters"));
    }
    if !MODEL_IDENTIFIER.is_match(id) {
        return Err(if id.starts_with("arn:") {
            "is not a custom model ARN (arn:aws:bedrock:REGION:ACCOUNT:custom-model/BASE-MODEL/ID)"
                .to_owned()
        } else {
            "is not a model name: letters and digits, each optionally followed by one '_' or '-'"
                .to_owned()
        });
    }
    if !id.starts_with("arn:") && id.len() > MODEL_NAME_MAX {
        return Err(format!(
            "is longer than {MODEL_NAME_MAX} characters, the most a model name has"
        ));
    }
    Ok(())
}

/// Checks `name_contains` against the name pattern its List operation takes for `nameContains`.
fn check_name_part(kind: Kind, part: &str) -> Result<(), String> {
    let length = part.chars().count();
    if !(1..=JOB_NAME_MAX).contains(&length) {
        return Err(format!("must have 1 to {JOB_NAME_MAX} characters"));
    }
    let (pattern, rule) = match kind {
        Kind::Job => (
            &*JOB_NAME,
            "as a job name: a letter or digit first, then letters, digits, '+', '-' and '.'",
        ),
        Kind::Model => (
            &*MODEL_NAME,
            "as a model name: letters and digits, each optionally followed by one '_' or '-'",
        ),
    };
    if pattern.is_match(part) {
        Ok(())
    } else {
        Err(format!("must be written {rule}"))
    }
}

/// The account of a role ARN (`arn:aws:iam::ACCOUNT:role/NAME`), if it names one.
pub fn role_account(role_arn: &str) -> Option<&str> {
    let account = role_arn.split(':').nth(4)?;
    (!account.is_empty()).then_some(account)
}

/// The region of an ARN, if `id` is one.
fn arn_region(id: &str) -> Option<&str> {
    let rest = id.strip_prefix("arn:")?;
    let region = rest.split(':').nth(2)?;
    (!region.is_empty()).then_some(region)
}

/// `url` with whatever precedes an `@` in its authority replaced by `***`: a password written
/// into the file must not reach the terminal or the logs.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

fn check_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("is not an http:// or https:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(
            "holds credentials (user:password@): credentials come only from the AWS default chain",
        );
    }
    if authority.is_empty() {
        return Err("has no host");
    }
    if url.chars().any(char::is_whitespace) {
        return Err("contains whitespace");
    }
    Ok(())
}

/// A duration as the config writes it: whole days as `14d`, anything else as humantime does
/// (`90s`, `1h 30m`), never in months or years.
pub fn show_duration(d: Duration) -> String {
    const DAY: u64 = 86_400;
    if d.as_secs() >= DAY && d.as_secs().is_multiple_of(DAY) && d.subsec_nanos() == 0 {
        format!("{}d", d.as_secs() / DAY)
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// The one key of `known` close enough to `typed` to be what was meant: at an edit distance
/// (ignoring case) of at most a third of its length, from 1 to 3, and closer than any other.
fn closest<'k>(typed: &str, known: &[&'k str]) -> Option<&'k str> {
    let typed = typed.to_lowercase();
    let most = (typed.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for key in known {
        let d = edit_distance(&typed, key);
        match best {
            Some((b, _)) if d > b => {}
            Some((b, _)) if d == b => tied = true,
            _ => {
                best = Some((d, key));
                tied = false;
            }
        }
    }
    best.filter(|(d, _)| *d <= most && !tied).map(|(_, k)| k)
}

/// Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`: the optimal
/// string alignment distance. Keys are short, so the whole table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A short description of a YAML value for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".to_owned(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply() {
        let config = Config::parse("targets: [{jobs: [a]}]").unwrap();
        assert_eq!(config.interval, Duration::from_secs(60));
        assert_eq!(config.terminal_interval, Duration::from_secs(1800));
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.targets[0].jobs, vec!["a".to_owned()]);
    }

    #[test]
    fn humane_durations() {
        let config =
            Config::parse("interval: 90s\nterminal_interval: 1h30m\nrequest_timeout: 5m\ntargets: [{models: [m]}]")
                .unwrap();
        assert_eq!(config.interval, Duration::from_secs(90));
        assert_eq!(config.terminal_interval, Duration::from_secs(5400));
        assert_eq!(config.request_timeout, Duration::from_secs(300));
    }

    #[test]
    fn a_close_key_is_suggested() {
        assert_eq!(edit_distance("intreval", "interval"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        for (typed, meant) in [
            ("intreval", Some("interval")),
            ("Interval", Some("interval")),
            ("terminal-interval", Some("terminal_interval")),
            ("request_timout", Some("request_timeout")),
            ("exclude_metric", Some("exclude_metrics")),
            ("target", Some("targets")),
            ("scrape_timeout", None),
            ("x", None),
            ("", None),
        ] {
            assert_eq!(closest(typed, TOP_KEYS), meant, "{typed}");
        }
        // Two keys as close: neither is suggested.
        assert_eq!(closest("jobz", &["jobs", "joba"]), None);
        assert_eq!(closest("model", DISCOVER_KEYS), Some("models"));
        assert_eq!(closest("regoin", TARGET_KEYS), Some("region"));
    }

    #[test]
    fn job_identifiers_follow_the_api_pattern() {
        let good = [
            "my-fine-tune-2026-11-01",
            "a",
            "Job.v2+x",
            "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/abcdefghijkl",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:model-customization-job/meta.llama3-1-8b-instruct-v1:0/a1b2c3d4e5f6",
        ];
        for id in good {
            assert_eq!(check_job(id), Ok(()), "{id}");
        }
        let bad = [
            "",
            "-leading-dash",
            "has space",
            "under_score",
            "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan/short",
            "arn:aws:bedrock:us-east-1:1234:model-customization-job/amazon.titan/abcdefghijkl",
        ];
        for id in bad {
            assert!(check_job(id).is_err(), "{id}");
        }
        assert!(check_job(&"a".repeat(64)).is_err());
        assert!(check_job(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn model_identifiers_follow_the_api_pattern() {
        let good = [
            "my-custom-model",
            "model_v2",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdefghijkl",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/imported/abcdefghijkl",
        ];
        for id in good {
            assert_eq!(check_model(id), Ok(()), "{id}");
        }
        for id in [
            "",
            "bad model",
            "double__underscore",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/x",
        ] {
            assert!(check_model(id).is_err(), "{id}");
        }
    }
}
