//! The YAML config file: parsed, then checked as a whole, every problem reported with its path.
//!
//! Parsing walks a `serde_yaml::Value` by hand rather than deriving `Deserialize`, so that an
//! unknown key, a bad duration and a bad identifier in one file are all reported at once, each
//! with its path (`targets[0].jobs[3]: ...`), as blackbox_exporter does.
//!
//! Text becomes YAML only through [`yaml`], which refuses a file over 1 MiB, nested deeper than
//! 64 levels, or whose aliases expand past a bound, before anything is built from it.
//!
//! - this module: what a config is ([`Config`], [`Target`], [`Discovery`]), loading, and the
//!   checks across targets;
//! - [`check`]: every key and value of the file checked where it is (each kind's identifiers by
//!   its own module's check);
//! - [`yaml`]: the bounds on the text; [`web`]: the web config file.

pub mod check;
pub mod web;
pub mod yaml;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bedrock::aws::ClientTarget;
use crate::bedrock::Kind;

pub use check::key_paths;

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
    /// AWS Organizations whose accounts become targets.
    pub organizations: Vec<Organization>,
    /// Bedrock families left out of `/metrics`, by name.
    pub exclude_metrics: Vec<String>,
}

/// An `organizations` entry: every ACTIVE account of an AWS Organization, but those excluded,
/// becomes a target per region, assuming its member role and watching what `discover` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// Assumed to call `organizations:ListAccounts` (else the default chain's identity).
    pub role_arn: Option<String>,
    /// The role assumed in each account: `arn:<partition>:iam::<account>:role/<name>`.
    pub member_role_name: String,
    pub regions: Vec<String>,
    pub exclude_accounts: Vec<String>,
    /// How often the accounts are listed.
    pub refresh: Duration,
    /// One endpoint for Organizations, STS and Bedrock (tests, the simulator).
    pub endpoint_url: Option<String>,
    /// What each account and region watches.
    pub discover: Discover,
}

/// `organizations[].refresh` when not given.
pub const ORGANIZATION_REFRESH: Duration = Duration::from_secs(3600);

/// One AWS account and region to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    pub region: Option<String>,
    pub role_arn: Option<String>,
    pub endpoint_url: Option<String>,
    /// The resources listed by name or ARN, by kind (under each kind's config key).
    pub lists: BTreeMap<Kind, Vec<String>>,
    /// The kinds found through their List calls.
    pub discover: Discover,
}

/// A target's `discover` block: which kinds to find with their List calls, and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discover(pub BTreeMap<Kind, Discovery>);

impl Target {
    /// The resources of `kind` it lists by name or ARN.
    pub fn listed(&self, kind: Kind) -> &[String] {
        self.lists.get(&kind).map_or(&[], Vec::as_slice)
    }

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
        self.0.get(&kind)
    }
}

impl<const N: usize> From<[(Kind, Discovery); N]> for Discover {
    fn from(discoveries: [(Kind, Discovery); N]) -> Discover {
        Discover(discoveries.into())
    }
}

/// What one kind's listing asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    /// `nameContains`.
    pub name_contains: Option<String>,
    /// `baseModelArnEquals` (custom models).
    pub base_model: Option<String>,
    /// Only what was created this recently (`creationTimeAfter`); running jobs whatever their
    /// age. Each kind has its default ([`crate::bedrock::KindSpec::created_within`]).
    pub created_within: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval: Duration::from_secs(60),
            terminal_interval: Duration::from_secs(30 * 60),
            request_timeout: Duration::from_secs(10),
            concurrency: 4,
            targets: Vec::new(),
            organizations: Vec::new(),
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

    /// How many resources the config lists by name or ARN, over all targets.
    pub fn identifier_count(&self) -> usize {
        self.targets
            .iter()
            .map(|t| t.lists.values().map(Vec::len).sum::<usize>())
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
            for (kind, ids) in &target.lists {
                let key = kind.spec().config_key;
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
        let mut checker = check::Checker::default();
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

/// The account of a role ARN (`arn:aws:iam::ACCOUNT:role/NAME`), if it names one.
pub fn role_account(role_arn: &str) -> Option<&str> {
    let account = role_arn.split(':').nth(4)?;
    (!account.is_empty()).then_some(account)
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
        assert_eq!(config.targets[0].listed(Kind::Job), ["a".to_owned()]);
    }

    #[test]
    fn discover_all_takes_every_kind_with_its_defaults() {
        let config = Config::parse("targets: [{discover: all}]").unwrap();
        let discover = &config.targets[0].discover;
        for &kind in Kind::ALL {
            let discovery = discover.of(kind).unwrap();
            assert_eq!(discovery.created_within, kind.spec().created_within);
            assert_eq!(discovery.name_contains, None);
        }
        let problems = Config::parse("targets: [{discover: everything}]").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "targets[0].discover");
        assert!(
            problems[0]
                .message
                .starts_with("expected `all` or a mapping"),
            "{problems:?}"
        );
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
}
