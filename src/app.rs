//! Wiring for the binary: one SDK client per target, the poller, the server, and the reload
//! loop that applies a new config to the running exporter, keeping what stays. `main.rs` only
//! parses flags and maps outcomes to exit codes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use tokio::net::TcpListener;
use tokio::signal::unix::Signal;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::accounts::{Accounts, Refreshed};
use crate::bedrock::aws::{region_of, AwsSource, ClientSettings};
use crate::config::{role_account, Config};
use crate::exposition::Telemetry;
use crate::fleet::{Schedule, TargetKey};
use crate::http::{serve, ReloadRequest, ScrapeLimit, Security, ServerState};
use crate::poller::{NewTarget, PolledTarget, Poller, Reconfig};
use crate::shard::{target_key, Shard};

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("targets[{index}]")]
    Client {
        index: usize,
        #[source]
        source: crate::bedrock::aws::ClientError,
    },
    #[error("once every target's region is resolved:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    SharedNames {
        problems: Vec<crate::config::Problem>,
    },
    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

impl StartError {
    /// Whether the cause lies in the config (exit 2) rather than at run time (exit 1).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            StartError::Client { .. } | StartError::SharedNames { .. }
        )
    }
}

/// The targets of `config` that `shard` polls, each with its client: the one in `existing` for
/// a target that stays (same region, role and endpoint), with `settings`' bound on calls, else a
/// new one on top of `base` (the AWS default chain, or the demo's static credentials).
pub async fn targets(
    config: &Config,
    base: &SdkConfig,
    settings: &ClientSettings,
    existing: &HashMap<TargetKey, AwsSource>,
    shard: &Shard,
) -> Result<Vec<NewTarget<AwsSource>>, StartError> {
    let mut targets = Vec::with_capacity(config.targets.len());
    let mut regions = Vec::with_capacity(config.targets.len());
    for (index, target) in config.targets.iter().enumerate() {
        let client_error = |source| StartError::Client { index, source };
        let region = region_of(base, target.client_target()).map_err(client_error)?;
        regions.push(Some(region.clone()));
        let account = target.role_arn.as_deref().and_then(role_account);
        if !shard.owns_target(&target_key(account, &region, index)) {
            continue;
        }
        let source = match existing.get(&TargetKey::of(&region, target)) {
            Some(source) => source.with_request_timeout(settings.request_timeout),
            None => {
                AwsSource::new(base, target.client_target(), settings)
                    .await
                    .map_err(client_error)?
                    .0
            }
        };
        targets.push(NewTarget {
            source,
            region,
            config: target.clone(),
        });
    }
    // The file's check compared regions as written; a target without one takes the default.
    let problems = config.shared_names(&regions);
    if !problems.is_empty() {
        return Err(StartError::SharedNames { problems });
    }
    Ok(targets)
}

/// How often `config` reads, from a config.
pub fn schedule(config: &Config) -> Schedule {
    Schedule {
        interval: config.interval,
        terminal_interval: config.terminal_interval,
        concurrency: config.concurrency,
        request_timeout: config.request_timeout,
    }
}

/// Builds the poller for `config`; returns it with its targets' clients, for reloads.
pub async fn build_poller(
    config: &Config,
    base: &SdkConfig,
    settings: &ClientSettings,
    telemetry: Telemetry,
    shard: &Shard,
) -> Result<(Poller<AwsSource>, HashMap<TargetKey, AwsSource>), StartError> {
    let targets = targets(config, base, settings, &HashMap::new(), shard).await?;
    telemetry.observe_shard(shard, targets.len());
    let sources = clients(&targets);
    let targets = targets
        .into_iter()
        .map(|t| PolledTarget::new(t.source, &t.region, &t.config))
        .collect();
    let poller = Poller::new(
        targets,
        schedule(config),
        &config.exclude_metrics,
        telemetry,
    )
    .with_shard(*shard);
    Ok((poller, sources))
}

fn clients(targets: &[NewTarget<AwsSource>]) -> HashMap<TargetKey, AwsSource> {
    targets
        .iter()
        .map(|t| (TargetKey::of(&t.region, &t.config), t.source.clone()))
        .collect()
}

/// Reloads the config file on request (SIGHUP, `POST /-/reload`) or, with an auto-reload
/// interval, when its content changes, and hands a valid one to the poller.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    base: SdkConfig,
    settings: ClientSettings,
    /// The clients of the targets in force, kept across reloads with their credential caches.
    sources: HashMap<TargetKey, AwsSource>,
    /// A hash of the file's content at the last attempt, to tell when it changed.
    checksum: u64,
    telemetry: Telemetry,
    updates: mpsc::UnboundedSender<Reconfig<AwsSource>>,
    /// This replica's share of the targets.
    shard: Shard,
    /// The config in force, as its file says (without the organizations' accounts).
    config: Config,
    /// What the organizations listed last.
    accounts: Accounts,
}

/// What is in force when the reloader takes over: the file's config, the organizations'
/// accounts, and the clients of the targets.
#[derive(Debug)]
pub struct InForce {
    pub config: Config,
    pub accounts: Accounts,
    pub sources: HashMap<TargetKey, AwsSource>,
}

impl Reloader {
    /// A reloader of the file at `path`, whose config is `in_force`; reloaded configs go to
    /// `updates`.
    pub fn new(
        path: PathBuf,
        base: SdkConfig,
        settings: ClientSettings,
        in_force: InForce,
        telemetry: Telemetry,
        updates: mpsc::UnboundedSender<Reconfig<AwsSource>>,
        shard: Shard,
    ) -> Reloader {
        let InForce {
            config,
            accounts,
            sources,
        } = in_force;
        Reloader {
            shard,
            config,
            accounts,
            checksum: crate::config::yaml::read_file(&path)
                .map_or(0, |text| checksum(text.as_bytes())),
            path,
            base,
            settings,
            sources,
            telemetry,
            updates,
        }
    }

    /// Reads, checks and applies the file. Invalid, it changes nothing and reports every
    /// problem; valid, the poller takes it at the end of its cycle in progress.
    pub async fn reload(&mut self) -> Result<String, String> {
        let outcome = self.try_reload().await;
        let now = crate::poller::unix_seconds(std::time::SystemTime::now());
        self.telemetry.observe_reload(outcome.is_ok(), now);
        match &outcome {
            Ok(summary) => tracing::info!(path = %self.path.display(), %summary, "config reloaded"),
            Err(problems) => {
                for problem in problems.lines() {
                    tracing::error!(path = %self.path.display(), problem, "config reload failed; the config in force stays");
                }
            }
        }
        outcome.map(|summary| format!("config reloaded: {summary}"))
    }

    async fn try_reload(&mut self) -> Result<String, String> {
        // Bounded like the first load: an oversized or endless file is refused unread.
        let text = crate::config::yaml::read_file(&self.path).map_err(|error| error.to_string())?;
        self.checksum = checksum(text.as_bytes());
        let config = Config::parse(&text).map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        if !config.organizations.is_empty() {
            let refreshed = self.accounts.refresh(&config, &self.base).await;
            observe_accounts(&self.telemetry, &refreshed, &self.accounts);
        }
        let summary = self.apply(&config).await?;
        self.config = config;
        Ok(summary)
    }

    /// Lists the organizations' accounts again; when they changed, the poller takes the targets
    /// they become at the end of its cycle in progress.
    async fn refresh_accounts(&mut self) {
        let refreshed = self.accounts.refresh(&self.config, &self.base).await;
        observe_accounts(&self.telemetry, &refreshed, &self.accounts);
        if refreshed.changed {
            let config = self.config.clone();
            match self.apply(&config).await {
                Ok(summary) => {
                    tracing::info!(%summary, "the organizations' accounts changed; targets updated")
                }
                Err(error) => {
                    tracing::error!(%error, "the organizations' accounts changed, but their targets could not be applied")
                }
            }
        }
    }

    /// Hands the targets of `config` (its own and its organizations' accounts') to the poller.
    async fn apply(&mut self, config: &Config) -> Result<String, String> {
        let effective = self.accounts.apply(config);
        let config = &effective;
        let settings = ClientSettings {
            request_timeout: config.request_timeout,
            ..self.settings.clone()
        };
        let targets = targets(config, &self.base, &settings, &self.sources, &self.shard)
            .await
            .map_err(|error| format!("{error:#}"))?;
        self.telemetry.observe_shard(&self.shard, targets.len());
        self.sources = clients(&targets);
        let summary = format!(
            "{} target(s), {} identifier(s), {} discovery(ies)",
            config.targets.len(),
            config.identifier_count(),
            config.discovery_count()
        );
        let reconfig = Reconfig {
            targets,
            schedule: schedule(config),
            exclude_metrics: config.exclude_metrics.clone(),
        };
        self.updates
            .send(reconfig)
            .map_err(|_| "the poller has stopped".to_owned())?;
        Ok(summary)
    }

    /// When the organizations' accounts are next due to be listed; `None` without any.
    fn next_refresh(&self, last: Instant) -> Option<Instant> {
        let every = self.config.organizations.iter().map(|o| o.refresh).min()?;
        Some(crate::fleet::due_after(last, every))
    }

    /// Whether the file's content differs from the last one read (an unreadable file counts as
    /// a change, so that it is reported).
    fn changed(&self) -> bool {
        crate::config::yaml::read_file(&self.path)
            .map_or(true, |text| checksum(text.as_bytes()) != self.checksum)
    }

    /// Reloads on every request, SIGHUP, and (with `auto`) change of the file, until `shutdown`.
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<ReloadRequest>,
        mut hangups: Signal,
        auto: Option<Duration>,
        shutdown: CancellationToken,
    ) {
        let mut ticks = auto.map(|every| tokio::time::interval_at(Instant::now() + every, every));
        let mut refreshed = Instant::now();
        loop {
            let refresh = self.next_refresh(refreshed);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = until(refresh) => {
                    self.refresh_accounts().await;
                    refreshed = Instant::now();
                }
                Some(reply) = requests.recv() => {
                    let _ = reply.send(self.reload().await);
                }
                Some(()) = hangups.recv() => {
                    tracing::info!("SIGHUP received; reloading the config");
                    let _ = self.reload().await;
                }
                _ = tick(&mut ticks) => {
                    if self.changed() {
                        tracing::info!(path = %self.path.display(), "config file changed; reloading");
                        let _ = self.reload().await;
                    }
                }
            }
        }
    }
}

/// Under `--demo` there is no file: reload requests are answered, and logged, as ignored.
pub async fn ignore_reloads(
    mut requests: mpsc::Receiver<ReloadRequest>,
    mut hangups: Signal,
    shutdown: CancellationToken,
) {
    const IGNORED: &str = "reload ignored: --demo has no config file";
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(reply) = requests.recv() => {
                tracing::info!("{IGNORED}");
                let _ = reply.send(Ok(IGNORED.to_owned()));
            }
            Some(()) = hangups.recv() => tracing::info!("SIGHUP received; {IGNORED}"),
        }
    }
}

/// Waits until `at`, or for ever without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Logs a refresh of the accounts and sets the own metrics of accounts discovery.
pub fn observe_accounts(telemetry: &Telemetry, refreshed: &Refreshed, accounts: &Accounts) {
    for (org, error) in &refreshed.failures {
        tracing::warn!(
            organization = org,
            error_kind = error.kind().as_str(),
            error = error.message(),
            "listing the organization's accounts failed; its last accounts are kept"
        );
    }
    telemetry.observe_accounts(refreshed.failures.is_empty(), &accounts.all());
}

async fn tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn checksum(text: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(text, &mut hasher);
    std::hash::Hasher::finish(&hasher)
}

/// Checks a listen address in Prometheus's form, `HOST:PORT` or `:PORT`, for `--web.listen-address`.
pub fn parse_listen_address(address: &str) -> Result<String, String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| "expected HOST:PORT or :PORT".to_owned())?;
    port.parse::<u16>()
        .map_err(|_| format!("{port:?} is not a port number"))?;
    if host.contains(char::is_whitespace) {
        return Err(format!("{host:?} is not a host"));
    }
    Ok(address.to_owned())
}

/// Binds a listen address in Prometheus's form. `:PORT` means every interface: IPv6 and IPv4
/// where the host has IPv6, else every IPv4 interface.
pub async fn bind(address: &str) -> Result<TcpListener, StartError> {
    let listen_error = |source| StartError::Listen {
        address: address.to_owned(),
        source,
    };
    match address.strip_prefix(':') {
        Some(port) => match TcpListener::bind(format!("[::]:{port}")).await {
            Ok(listener) => Ok(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(listen_error(e)),
            Err(_) => TcpListener::bind(format!("0.0.0.0:{port}"))
                .await
                .map_err(listen_error),
        },
        None => TcpListener::bind(address).await.map_err(listen_error),
    }
}

/// What answers reload requests: a reloader of the config file, or, under `--demo`, nothing.
#[derive(Debug)]
pub enum Reloads {
    File {
        reloader: Box<Reloader>,
        /// `--config.auto-reload-interval`, when above zero.
        auto: Option<Duration>,
    },
    Ignored,
}

/// How the server answers, from the flags.
#[derive(Debug)]
pub struct Web {
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// `--web.config.file`, loaded.
    pub security: Security,
    /// `--web.max-requests`; 0: no limit.
    pub max_requests: usize,
}

/// Runs the poller, the server and the reloader until `shutdown` is cancelled, then waits for
/// them all.
pub async fn run<S: crate::bedrock::BedrockSource>(
    listener: TcpListener,
    poller: Poller<S>,
    telemetry: Telemetry,
    web: Web,
    reloads: Reloads,
    hangups: Signal,
    shutdown: CancellationToken,
) {
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let security = std::sync::Arc::new(web.security);
    tracing::info!(%address, path = %web.telemetry_path, web = security.current().summary(), "serving metrics");
    let (requests, received) = mpsc::channel(8);
    let state = ServerState {
        snapshot: poller.subscribe(),
        telemetry,
        telemetry_path: web.telemetry_path,
        reload: requests,
        scrapes: ScrapeLimit::new(web.max_requests),
    };
    let reloading = async {
        match reloads {
            Reloads::File { reloader, auto } => {
                reloader
                    .run(received, hangups, auto, shutdown.clone())
                    .await
            }
            Reloads::Ignored => ignore_reloads(received, hangups, shutdown.clone()).await,
        }
    };
    // The poller on a task of its own: its assembly and reconcile never hold up the task that
    // accepts connections.
    let polling = tokio::spawn(poller.run(shutdown.clone()));
    tokio::join!(
        serve(listener, state, security, shutdown.clone()),
        reloading
    );
    if let Err(error) = polling.await {
        tracing::error!(%error, "the poller ended abnormally");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_take_prometheus_form() {
        for good in [":10025", "127.0.0.1:0", "localhost:9000", "[::1]:10025"] {
            assert_eq!(parse_listen_address(good).as_deref(), Ok(good), "{good}");
        }
        for bad in ["10025", ":http", ":70000", "", "a b:1"] {
            assert!(parse_listen_address(bad).is_err(), "{bad}");
        }
    }
}
