//! Every key and value of the config file, checked where it is: unknown keys (with the closest
//! known one), durations and their ranges, regions, role ARNs, endpoint URLs, each kind's
//! identifiers and name filters (by the checks its module declares), and `exclude_metrics`.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_yaml::Value;

use super::{
    show_duration, Config, Discover, Discovery, Organization, Problem, Target, ORGANIZATION_REFRESH,
};
use crate::bedrock::families;
use crate::bedrock::Kind;

/// Anchors a pattern of the API model, which are written unanchored but meant as whole matches.
fn whole(pattern: &str) -> Regex {
    #[allow(clippy::expect_used)] // the patterns are constants, checked by the unit tests
    Regex::new(&format!("^(?:{pattern})$")).expect("API pattern compiles")
}

const TOP_KEYS: &[&str] = &[
    "interval",
    "terminal_interval",
    "request_timeout",
    "concurrency",
    "targets",
    "organizations",
    "exclude_metrics",
];
/// The keys of an `organizations` entry.
const ORGANIZATION_KEYS: &[&str] = &[
    "role_arn",
    "member_role_name",
    "regions",
    "exclude_accounts",
    "refresh",
    "endpoint_url",
    "discover",
];
/// The shortest `refresh`: ListAccounts is throttled hard.
const MIN_REFRESH: Duration = Duration::from_secs(60);
/// `RoleName` of IAM.
static ROLE_NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"[\w+=,.@-]{1,64}"));
/// An AWS account id.
static ACCOUNT_ID: LazyLock<Regex> = LazyLock::new(|| whole(r"[0-9]{12}"));
/// The keys of a target: where and as whom it reads, each kind's list, and `discover`.
fn target_keys() -> Vec<&'static str> {
    let lists = Kind::ALL.iter().map(|k| k.spec().config_key);
    ["region", "role_arn", "endpoint_url"]
        .into_iter()
        .chain(lists)
        .chain(["discover"])
        .collect()
}

/// The keys of `discover`: each kind's config key.
fn discover_keys() -> Vec<&'static str> {
    Kind::ALL.iter().map(|k| k.spec().config_key).collect()
}

/// Each kind's key, for messages: "jobs, models, ...".
fn kind_keys() -> String {
    discover_keys().join(", ")
}

/// Every key the config file takes, as a path (`targets[].discover.jobs.name_contains`): the
/// keys above and each kind's, nested as the checker reads them. docs/configuration.md lists
/// the same keys; tests/docs.rs holds the two in step.
pub fn key_paths() -> Vec<String> {
    let mut paths: Vec<String> = TOP_KEYS.iter().map(|k| k.to_string()).collect();
    paths.extend(target_keys().iter().map(|k| format!("targets[].{k}")));
    paths.extend(
        ORGANIZATION_KEYS
            .iter()
            .map(|k| format!("organizations[].{k}")),
    );
    for kind in Kind::ALL {
        let spec = kind.spec();
        let key = spec.config_key;
        paths.push(format!("targets[].discover.{key}"));
        paths.extend(
            spec.discover_keys
                .iter()
                .map(|k| format!("targets[].discover.{key}.{k}")),
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

/// The region part of a Bedrock ARN.
static REGION: LazyLock<Regex> = LazyLock::new(|| whole(r"[a-z0-9-]{1,20}"));

/// Checks a config as it walks it, collecting every problem.
#[derive(Debug, Default)]
pub struct Checker {
    pub problems: Vec<Problem>,
}

impl Checker {
    pub(super) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// The entries of a mapping with string keys; unknown keys are reported.
    pub(super) fn mapping<'v>(
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

    pub fn config(&mut self, value: &Value) -> Config {
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
        if let Some(v) = map.get("organizations") {
            config.organizations = self.organizations(v);
        }
        match map.get("targets") {
            None if map.contains_key("organizations") => {}
            None => self.problem(
                "targets",
                "required: list at least one target, or give organizations",
            ),
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

    /// `organizations`: a list of entries, each checked key by key.
    fn organizations(&mut self, value: &Value) -> Vec<Organization> {
        let Value::Sequence(items) = value else {
            self.problem(
                "organizations",
                format!("expected a list of organizations, got {}", describe(value)),
            );
            return Vec::new();
        };
        if items.is_empty() {
            self.problem(
                "organizations",
                "list at least one organization, or leave it out",
            );
        }
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.organization(&format!("organizations[{i}]"), item))
            .collect()
    }

    fn organization(&mut self, path: &str, value: &Value) -> Option<Organization> {
        let map = self.mapping(path, value, ORGANIZATION_KEYS)?;
        let mut org = Organization {
            role_arn: None,
            member_role_name: String::new(),
            regions: Vec::new(),
            exclude_accounts: Vec::new(),
            refresh: ORGANIZATION_REFRESH,
            endpoint_url: None,
            discover: Discover::default(),
        };
        if let Some(v) = map.get("role_arn") {
            org.role_arn = self.role_arn(&join(path, "role_arn"), v);
        }
        match map.get("member_role_name") {
            None => self.problem(
                join(path, "member_role_name"),
                "required: the role the exporter assumes in each account",
            ),
            Some(v) => {
                let p = join(path, "member_role_name");
                if let Some(name) = self.string(&p, v) {
                    if ROLE_NAME.is_match(name) {
                        org.member_role_name = name.to_owned();
                    } else {
                        self.problem(p, format!("{name:?} is not an IAM role name (1 to 64 letters, digits and +=,.@_-)"));
                    }
                }
            }
        }
        let p = join(path, "regions");
        match map.get("regions") {
            None => self.problem(p, "required: the regions to watch in each account"),
            Some(Value::Sequence(items)) if items.is_empty() => {
                self.problem(p, "list at least one region")
            }
            Some(Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{p}[{i}]");
                    let Some(region) = self.string(&p, item) else {
                        continue;
                    };
                    if !REGION.is_match(region) {
                        self.problem(
                            p,
                            format!("{region:?} is not a region name such as us-east-1"),
                        );
                    } else if org.regions.iter().any(|r| r == region) {
                        self.problem(p, format!("{region:?} is listed twice"));
                    } else {
                        org.regions.push(region.to_owned());
                    }
                }
            }
            Some(other) => self.problem(
                p,
                format!("expected a list of regions, got {}", describe(other)),
            ),
        }
        if let Some(v) = map.get("exclude_accounts") {
            let p = join(path, "exclude_accounts");
            match v {
                Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let p = format!("{p}[{i}]");
                        // An account id written unquoted is a number in YAML.
                        let id = match item {
                            Value::Number(n) => Some(n.to_string()),
                            Value::String(s) => Some(s.clone()),
                            other => {
                                self.problem(
                                    &p,
                                    format!("expected an account id, got {}", describe(other)),
                                );
                                None
                            }
                        };
                        match id {
                            Some(id) if ACCOUNT_ID.is_match(&id) => org.exclude_accounts.push(id),
                            Some(id) => {
                                self.problem(p, format!("{id:?} is not an account id (12 digits)"))
                            }
                            None => {}
                        }
                    }
                }
                other => self.problem(
                    p,
                    format!("expected a list of account ids, got {}", describe(other)),
                ),
            }
        }
        if let Some(v) = map.get("refresh") {
            if let Some(d) = self.duration(&join(path, "refresh"), v, MIN_REFRESH) {
                org.refresh = d;
            }
        }
        if let Some(v) = map.get("endpoint_url") {
            org.endpoint_url = self.endpoint_url(&join(path, "endpoint_url"), v);
        }
        match map.get("discover") {
            None => self.problem(
                join(path, "discover"),
                format!(
                    "required: what each account watches (`all`, or a mapping of kinds: {})",
                    kind_keys()
                ),
            ),
            Some(v) => org.discover = self.discover(&join(path, "discover"), v),
        }
        Some(org)
    }

    /// A role ARN.
    fn role_arn(&mut self, path: &str, value: &Value) -> Option<String> {
        let arn = self.string(path, value)?;
        if arn.len() <= ROLE_ARN_MAX && ROLE_ARN.is_match(arn) {
            Some(arn.to_owned())
        } else {
            self.problem(
                path,
                format!("{arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"),
            );
            None
        }
    }

    /// An `endpoint_url`.
    fn endpoint_url(&mut self, path: &str, value: &Value) -> Option<String> {
        let url = self.string(path, value)?;
        match check_url(url) {
            Ok(()) => Some(url.to_owned()),
            Err(why) => {
                self.problem(path, format!("{:?} {why}", redact_userinfo(url)));
                None
            }
        }
    }

    /// A duration from `min` to [`MAX_DURATION`].
    pub(super) fn duration(
        &mut self,
        path: &str,
        value: &Value,
        min: Duration,
    ) -> Option<Duration> {
        self.duration_within(path, value, min, MAX_DURATION)
    }

    /// A duration from `min` to `max`.
    pub(super) fn duration_within(
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
    pub(super) fn excluded_metrics(&mut self, value: &Value) -> Vec<String> {
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
                let known: Vec<&str> = families::bedrock_names().collect();
                let hint = closest(name, &known)
                    .map(|k| format!(", did you mean `{k}`?"))
                    .unwrap_or_default();
                self.problem(
                    path,
                    format!("{name:?} is not a Bedrock metric of this exporter{hint} (docs/metrics.md lists them)"),
                );
            }
        }
        names
    }

    pub(super) fn string<'v>(&mut self, path: &str, value: &'v Value) -> Option<&'v str> {
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                self.problem(path, format!("expected a string, got {}", describe(value)));
                None
            }
        }
    }

    pub(super) fn target(&mut self, path: &str, value: &Value) -> Target {
        let mut target = Target::default();
        let Some(map) = self.mapping(path, value, &target_keys()) else {
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
            target.role_arn = self.role_arn(&join(path, "role_arn"), v);
        }
        if let Some(v) = map.get("endpoint_url") {
            target.endpoint_url = self.endpoint_url(&join(path, "endpoint_url"), v);
        }
        for &kind in Kind::ALL {
            let spec = kind.spec();
            if let Some(v) = map.get(spec.config_key) {
                let ids =
                    self.identifiers(path, spec.config_key, v, spec.check_identifier, &target);
                target.lists.insert(kind, ids);
            }
        }
        if let Some(v) = map.get("discover") {
            target.discover = self.discover(&join(path, "discover"), v);
            for (kind, discovery) in &target.discover.0 {
                let base_model = discovery.base_model.as_deref();
                if let (Some(arn), Some(region)) = (base_model, target.region.as_deref()) {
                    if let Some(arn_region) = arn_region(arn).filter(|r| *r != region) {
                        self.problem(
                            join(path, &format!("discover.{}.base_model", kind.spec().config_key)),
                            format!("ARN is in region {arn_region} but the target's region is {region}: it would match no model"),
                        );
                    }
                }
            }
        }
        // Counted as written, so a list of only bad entries is not reported twice.
        let listed: usize = discover_keys()
            .iter()
            .filter_map(|key| map.get(key))
            .map(|v| v.as_sequence().map_or(1, Vec::len))
            .sum();
        if listed == 0 && !map.contains_key("discover") {
            self.problem(
                path,
                format!(
                    "watches nothing: list resources under a kind's key ({}), or discover them",
                    kind_keys()
                ),
            );
        }
        target
    }

    pub(super) fn discover(&mut self, path: &str, value: &Value) -> Discover {
        let mut discover = Discover::default();
        // `discover: all`: every kind, with its defaults.
        if value.as_str() == Some("all") {
            for &kind in Kind::ALL {
                let discovery = Discovery {
                    created_within: kind.spec().created_within,
                    ..Discovery::default()
                };
                discover.0.insert(kind, discovery);
            }
            return discover;
        }
        if value.is_string() {
            self.problem(
                path,
                format!(
                    "expected `all` or a mapping of kinds ({}), got {}",
                    kind_keys(),
                    describe(value)
                ),
            );
            return discover;
        }
        let Some(map) = self.mapping(path, value, &discover_keys()) else {
            return discover;
        };
        if map.is_empty() {
            self.problem(
                path,
                format!(
                    "discovers nothing: give one kind or more ({}; `jobs: {{}}` takes every job)",
                    kind_keys()
                ),
            );
        }
        for &kind in Kind::ALL {
            let spec = kind.spec();
            if let Some(v) = map.get(spec.config_key) {
                let default = Discovery {
                    created_within: spec.created_within,
                    ..Discovery::default()
                };
                let path = join(path, spec.config_key);
                if let Some(discovery) = self.discovery(&path, v, kind, default) {
                    discover.0.insert(kind, discovery);
                }
            }
        }
        discover
    }

    /// One kind's discovery: `{}` (or nothing) takes every resource of the kind.
    pub(super) fn discovery(
        &mut self,
        path: &str,
        value: &Value,
        kind: Kind,
        mut discovery: Discovery,
    ) -> Option<Discovery> {
        if value.is_null() {
            return Some(discovery);
        }
        let map = self.mapping(path, value, kind.spec().discover_keys)?;
        let name_key = kind.spec().name_filter_key;
        if let Some(v) = map.get(name_key) {
            let p = join(path, name_key);
            if let Some(part) = self.string(&p, v) {
                match (kind.spec().check_name_part)(part) {
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

    pub(super) fn identifiers(
        &mut self,
        path: &str,
        key: &str,
        value: &Value,
        check: fn(&str) -> Result<(), String>,
        target: &Target,
    ) -> Vec<String> {
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

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A short description of a YAML value for messages.
pub(super) fn describe(value: &Value) -> String {
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
        assert_eq!(closest("model", &discover_keys()), Some("models"));
        assert_eq!(closest("regoin", &target_keys()), Some("region"));
    }
}
