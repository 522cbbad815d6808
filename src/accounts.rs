//! AWS Organizations: the accounts each `organizations` entry names (`ListAccounts`, every page),
//! and the targets they become: one per ACTIVE account not excluded and region, assuming the
//! account's member role and watching what the entry's `discover` says. An account and region a
//! static target already covers (its role's account) is left to the static target.
//!
//! A listing that fails keeps the last accounts; [`Accounts`] holds them between refreshes and
//! across config reloads, by the role and endpoint that listed them.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_organizations::types::{AccountState, AccountStatus};

use crate::bedrock::aws::{assume_role, fetch_error};
use crate::bedrock::boundary;
use crate::bedrock::{ErrorKind, FetchError};
use crate::config::{role_account, Config, Organization, Target};

/// The most pages a listing follows: 20 accounts a page, so 200,000 accounts.
const PAGES_MAX: usize = 10_000;

/// One account as `ListAccounts` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// Its `State` (or, before that field, `Status`) is ACTIVE.
    pub active: bool,
}

/// What the organizations of a config listed last, by where they were listed ([`Listing`]),
/// so that a reload that reorders or changes other keys of the entries keeps what each listed;
/// an entry without one has not listed successfully yet.
#[derive(Debug, Default)]
pub struct Accounts {
    listed: HashMap<Listing, Vec<Account>>,
}

/// Where an organization's accounts are listed: through which role, at which endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Listing {
    role_arn: Option<String>,
    endpoint_url: Option<String>,
}

impl Listing {
    fn of(org: &Organization) -> Listing {
        Listing {
            role_arn: org.role_arn.clone(),
            endpoint_url: org.endpoint_url.clone(),
        }
    }
}

/// How a refresh went, for the log and the own metrics.
#[derive(Debug)]
pub struct Refreshed {
    /// Whether any organization's accounts changed.
    pub changed: bool,
    /// The error of each organization whose listing failed.
    pub failures: Vec<(usize, FetchError)>,
}

impl Accounts {
    /// Lists the accounts of every organization of `config` through clients on top of `base`;
    /// a failed listing keeps what that organization listed before.
    pub async fn refresh(&mut self, config: &Config, base: &SdkConfig) -> Refreshed {
        // What no entry lists any more is forgotten.
        let wanted: Vec<Listing> = config.organizations.iter().map(Listing::of).collect();
        self.listed.retain(|key, _| wanted.contains(key));
        let mut refreshed = Refreshed {
            changed: false,
            failures: Vec::new(),
        };
        for (i, org) in config.organizations.iter().enumerate() {
            let client = client(base, org, config.request_timeout).await;
            match list(&client).await {
                Ok(accounts) => {
                    if self.listed.get(&Listing::of(org)) != Some(&accounts) {
                        refreshed.changed = true;
                        self.listed.insert(Listing::of(org), accounts);
                    }
                }
                Err(error) => refreshed.failures.push((i, error)),
            }
        }
        refreshed
    }

    /// Every account listed, for `account_info`: (id, name), each once.
    pub fn all(&self) -> Vec<(&str, &str)> {
        let mut all: Vec<(&str, &str)> = self
            .listed
            .values()
            .flatten()
            .map(|a| (a.id.as_str(), a.name.as_str()))
            .collect();
        all.sort_unstable();
        all.dedup_by(|a, b| a.0 == b.0);
        all
    }

    /// `config` with the targets its organizations' accounts become appended to its own.
    pub fn apply(&self, config: &Config) -> Config {
        let mut effective = config.clone();
        for org in &config.organizations {
            let Some(accounts) = self.listed.get(&Listing::of(org)) else {
                continue;
            };
            for target in targets(org, accounts) {
                let covered = |t: &Target| {
                    t.region == target.region
                        && t.role_arn.as_deref().and_then(role_account)
                            == target.role_arn.as_deref().and_then(role_account)
                };
                if !effective.targets.iter().any(covered) {
                    effective.targets.push(target);
                }
            }
        }
        effective
    }
}

/// The targets `accounts` become: each ACTIVE account not excluded, in each region.
pub fn targets(org: &Organization, accounts: &[Account]) -> Vec<Target> {
    // The member roles are in the partition of the organization's own role, `aws` without one.
    let partition = org
        .role_arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(1))
        .unwrap_or("aws");
    accounts
        .iter()
        .filter(|a| a.active && !org.exclude_accounts.contains(&a.id))
        .flat_map(|account| {
            org.regions.iter().map(move |region| Target {
                region: Some(region.clone()),
                role_arn: Some(format!(
                    "arn:{partition}:iam::{}:role/{}",
                    account.id, org.member_role_name
                )),
                endpoint_url: org.endpoint_url.clone(),
                lists: Default::default(),
                discover: org.discover.clone(),
            })
        })
        .collect()
}

/// An Organizations client for `org`: through its role when it names one, at its endpoint when
/// it names one. Organizations is a global service, signed for us-east-1.
async fn client(
    base: &SdkConfig,
    org: &Organization,
    request_timeout: std::time::Duration,
) -> aws_sdk_organizations::Client {
    let region = aws_config::Region::new("us-east-1");
    let mut builder = aws_sdk_organizations::config::Builder::from(base)
        .region(region.clone())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(request_timeout)
                .build(),
        );
    if let Some(role_arn) = &org.role_arn {
        let provider = assume_role(base, role_arn, &region, org.endpoint_url.as_deref()).await;
        builder = builder.credentials_provider(provider);
    }
    if let Some(url) = &org.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_organizations::Client::from_conf(builder.build())
}

/// Every page of `ListAccounts`, its messages through the boundary.
async fn list(client: &aws_sdk_organizations::Client) -> Result<Vec<Account>, FetchError> {
    let mut accounts = Vec::new();
    let mut next_token = None;
    for _ in 0..PAGES_MAX {
        let page = client
            .list_accounts()
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| boundary::error_message(fetch_error(e)))?;
        for account in page.accounts() {
            let (Some(id), Some(name)) = (account.id(), account.name()) else {
                continue;
            };
            accounts.push(Account {
                id: id.to_owned(),
                name: boundary::message(name),
                // `State` replaces `Status`, which AWS retires: either says ACTIVE.
                active: match account.state() {
                    Some(state) => *state == AccountState::Active,
                    None => account.status() == Some(&AccountStatus::Active),
                },
            });
        }
        match page.next_token {
            Some(token) if !token.is_empty() => next_token = Some(token),
            _ => {
                accounts.sort_by(|a, b| a.id.cmp(&b.id));
                return Ok(accounts);
            }
        }
    }
    Err(FetchError::new(
        ErrorKind::Other,
        format!("the account listing did not end within {PAGES_MAX} pages"),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::Discover;

    fn org() -> Organization {
        Organization {
            role_arn: Some("arn:aws-us-gov:iam::111111111111:role/reader".to_owned()),
            member_role_name: "bedrock-exporter".to_owned(),
            regions: vec!["us-east-1".to_owned(), "us-west-2".to_owned()],
            exclude_accounts: vec!["333333333333".to_owned()],
            refresh: std::time::Duration::from_secs(3600),
            endpoint_url: None,
            discover: Discover::default(),
        }
    }

    fn account(id: &str, active: bool) -> Account {
        Account {
            id: id.to_owned(),
            name: format!("team-{id}"),
            active,
        }
    }

    #[test]
    fn active_accounts_not_excluded_become_a_target_per_region() {
        let accounts = [
            account("222222222222", true),
            account("333333333333", true),
            account("444444444444", false),
        ];
        let targets = targets(&org(), &accounts);
        let got: Vec<(Option<&str>, Option<&str>)> = targets
            .iter()
            .map(|t| (t.role_arn.as_deref(), t.region.as_deref()))
            .collect();
        let role = "arn:aws-us-gov:iam::222222222222:role/bedrock-exporter";
        assert_eq!(
            got,
            [
                (Some(role), Some("us-east-1")),
                (Some(role), Some("us-west-2"))
            ]
        );
    }

    #[test]
    fn each_entry_keeps_its_own_accounts_whatever_its_place() {
        let mut other = org();
        other.role_arn = Some("arn:aws:iam::555555555555:role/reader".to_owned());
        other.member_role_name = "other-reader".to_owned();
        let accounts = Accounts {
            listed: [
                (Listing::of(&org()), vec![account("222222222222", true)]),
                (Listing::of(&other), vec![account("666666666666", true)]),
            ]
            .into(),
        };
        // A reload that swaps the two entries.
        let config = Config {
            organizations: vec![other, org()],
            ..Config::default()
        };
        let roles: BTreeSet<String> = accounts
            .apply(&config)
            .targets
            .iter()
            .filter_map(|t| t.role_arn.clone())
            .collect();
        let want: BTreeSet<String> = [
            "arn:aws:iam::666666666666:role/other-reader",
            "arn:aws-us-gov:iam::222222222222:role/bedrock-exporter",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(roles, want);
    }

    #[test]
    fn a_static_target_of_the_same_account_and_region_wins() {
        let mut config = Config {
            organizations: vec![org()],
            ..Config::default()
        };
        config.targets.push(Target {
            region: Some("us-east-1".to_owned()),
            role_arn: Some("arn:aws:iam::222222222222:role/hand-written".to_owned()),
            ..Target::default()
        });
        let accounts = Accounts {
            listed: [(Listing::of(&org()), vec![account("222222222222", true)])].into(),
        };
        let effective = accounts.apply(&config);
        let roles: Vec<(&str, &str)> = effective
            .targets
            .iter()
            .map(|t| (t.role_arn.as_deref().unwrap(), t.region.as_deref().unwrap()))
            .collect();
        assert_eq!(
            roles,
            [
                ("arn:aws:iam::222222222222:role/hand-written", "us-east-1"),
                (
                    "arn:aws-us-gov:iam::222222222222:role/bedrock-exporter",
                    "us-west-2"
                ),
            ]
        );
        assert_eq!(accounts.all(), [("222222222222", "team-222222222222")]);
    }
}
