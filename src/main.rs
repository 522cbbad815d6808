//! The `bedrock-exporter` binary: flags, logging, config, then [`bedrock_exporter::app`].
//!
//! Exit codes: 0 clean shutdown, 2 bad flags or config, 1 a runtime failure.

use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use bedrock_exporter::accounts::Accounts;
use bedrock_exporter::app::{self, InForce, Reloader, Reloads, StartError};
use bedrock_exporter::bedrock::aws::{default_config, AwsSource, ClientSettings};
use bedrock_exporter::config::Config;
use bedrock_exporter::config::ConfigError;
use bedrock_exporter::demo;
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::http::{self as server, Security};
use bedrock_exporter::logging::{self, LogFormat, LogLevel};
use bedrock_exporter::poller::{unix_seconds, Poller};
use bedrock_exporter::shard::{self, By, Shard};
use bedrock_exporter::simulator::RunningSimulator;
use clap::Parser;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Prometheus exporter for Amazon Bedrock model customization jobs and custom models.
#[derive(Debug, Parser)]
#[command(version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BEDROCK_EXPORTER_REVISION"), ")"))]
struct Flags {
    /// Path to the YAML config file.
    #[arg(
        long = "config.file",
        value_name = "PATH",
        default_value = "config.yaml",
        conflicts_with = "demo"
    )]
    config_file: PathBuf,
    /// Address to serve on; ":PORT" listens on every interface.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDRESS",
        default_value = ":10025",
        value_parser = listen_address
    )]
    listen_address: String,
    /// Path under which metrics are served.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", value_parser = telemetry_path)]
    telemetry_path: String,
    /// Only log events at this level or above.
    #[arg(long = "log.level", value_name = "LEVEL", default_value = "info")]
    log_level: LogLevel,
    /// Log line format.
    #[arg(long = "log.format", value_name = "FORMAT", default_value = "logfmt")]
    log_format: LogFormat,
    /// Check the config file, print every problem, and exit 0 (valid) or 2 (invalid).
    #[arg(long = "config.check")]
    config_check: bool,
    /// Run one poll cycle, print the metrics to stdout, and exit 0 if every read succeeded, else 1.
    #[arg(long)]
    once: bool,
    /// Poll a built-in simulated Bedrock instead of AWS; needs no account.
    #[arg(long, conflicts_with = "config_check")]
    demo: bool,
    /// Check the config file this often and reload it when its content changed; 0s: only on
    /// SIGHUP or POST /-/reload.
    #[arg(long = "config.auto-reload-interval", value_name = "DURATION", default_value = "0s", value_parser = auto_reload_interval)]
    auto_reload_interval: Duration,
    /// Web config file (Prometheus exporter-toolkit format): TLS, client certificates, basic
    /// auth, extra headers. Without it: plain HTTP, no auth.
    #[arg(long = "web.config.file", value_name = "PATH")]
    web_config_file: Option<PathBuf>,
    /// Scrapes served at once; one more gets 503 at once. 0: no limit.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40, value_parser = max_requests)]
    max_requests: usize,
    /// Replicas that split the work; each polls its share (see --shard, --shard.by).
    #[arg(long = "total-shards", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_SHARDS))]
    total_shards: u32,
    /// This replica's shard, from 0 to --total-shards minus 1.
    #[arg(
        long = "shard",
        value_name = "K",
        default_value_t = 0,
        conflicts_with = "shard_from_hostname"
    )]
    shard: u32,
    /// Take the shard from the host name's trailing number, as a StatefulSet names its pods.
    #[arg(long = "shard.from-hostname")]
    shard_from_hostname: bool,
    /// What the shards split: each target to one replica (target), or the resources of every
    /// target (resource).
    #[arg(long = "shard.by", value_name = "WHAT", default_value = "target", value_parser = ["target", "resource"])]
    shard_by: String,
    /// The share the shard flags give, resolved once they are parsed.
    #[arg(skip)]
    share: Shard,
}

/// The most replicas `--total-shards` splits the work among.
const MAX_SHARDS: i64 = 1000;

/// This replica's share, from the shard flags; `Err` names the flag that is wrong.
fn shard(flags: &Flags) -> Result<Shard, String> {
    let index = if flags.shard_from_hostname {
        let hostname = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        shard::from_hostname(&hostname).ok_or_else(|| {
            format!("--shard.from-hostname: the host name {hostname:?} does not end in a number")
        })?
    } else {
        flags.shard
    };
    if index >= flags.total_shards {
        let flag = if flags.shard_from_hostname {
            "--shard.from-hostname"
        } else {
            "--shard"
        };
        return Err(format!(
            "{flag}: shard {index} is not below --total-shards={}",
            flags.total_shards
        ));
    }
    let by = match flags.shard_by.as_str() {
        "resource" => By::Resource,
        _ => By::Target,
    };
    Ok(Shard {
        index,
        total: flags.total_shards,
        by,
    })
}

// Every flag's value is checked here, so that a value out of range exits 2 naming its flag
// (clap's message) instead of failing later, or panicking where it is used (a duration that
// overflows a clock, a semaphore of more permits than tokio allows).

/// The longest duration a flag takes.
const MAX_FLAG_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The most scrapes `--web.max-requests` lets run at once.
const MAX_REQUESTS: usize = 100_000;
/// The longest `--web.telemetry-path`.
const MAX_TELEMETRY_PATH: usize = 1024;

fn auto_reload_interval(text: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(text)
        .map_err(|e| format!("{e}: expected a duration such as 30s or 1m"))?;
    if !every.is_zero() && !(Duration::from_secs(1)..=MAX_FLAG_DURATION).contains(&every) {
        return Err("must be 0s (off) or from 1s to 24h".to_owned());
    }
    Ok(every)
}

fn max_requests(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n <= MAX_REQUESTS => Ok(n),
        _ => Err(format!(
            "must be a whole number from 0 (no limit) to {MAX_REQUESTS}"
        )),
    }
}

fn telemetry_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err("must start with '/'".to_owned());
    }
    if path.len() > MAX_TELEMETRY_PATH {
        return Err(format!("is longer than {MAX_TELEMETRY_PATH} characters"));
    }
    // What a request path can hold (RFC 3986), so that the path can be scraped at all.
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
    let escapes_ok = path.split('%').skip(1).all(|escape| {
        escape.len() >= 2 && escape.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit)
    });
    if !path.bytes().all(allowed) || !escapes_ok {
        return Err(
            "may hold only letters, digits, '/' and the other characters of a URL path (no space, '?' or '#')"
                .to_owned(),
        );
    }
    if server::RESERVED_PATHS.contains(&path) {
        return Err(format!("{path} is taken by another endpoint"));
    }
    Ok(path.to_owned())
}

/// `HOST:PORT` or `:PORT`, where HOST is an IPv4 address, an IPv6 address in brackets or a
/// host name: anything else could only fail once the exporter has started.
fn listen_address(text: &str) -> Result<String, String> {
    let address = app::parse_listen_address(text)?;
    let Some((host, _)) = address.rsplit_once(':') else {
        return Err("expected HOST:PORT or :PORT".to_owned());
    };
    if host.is_empty() {
        return Ok(address);
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(address),
            _ => Err(format!("{host} is not an IPv6 address in brackets")),
        };
    }
    if host.contains(':') {
        return Err(format!(
            "{host} looks like an IPv6 address: write it in brackets, as [{host}]:PORT"
        ));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return match host.parse::<Ipv4Addr>() {
            Ok(_) => Ok(address),
            Err(_) => Err(format!("{host} is not an IPv4 address")),
        };
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!(
            "{host:?} is not a host name, an IPv4 address or an IPv6 address in brackets"
        ));
    }
    Ok(address)
}

/// How a run ended badly.
enum Failure {
    /// Bad flags or config: exit 2.
    Config(anyhow::Error),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

fn main() -> ExitCode {
    let mut flags = Flags::parse();
    match shard(&flags) {
        Ok(share) => flags.share = share,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    }
    server::tls::install_provider();
    if flags.demo {
        // The demo signs with static credentials; a bearer token in the environment would make
        // the SDK use it instead. Removed before any thread starts.
        std::env::remove_var("AWS_BEARER_TOKEN_BEDROCK");
    }
    if let Err(error) = logging::init(flags.log_level, flags.log_format) {
        eprintln!("cannot set up logging: {error}");
        return ExitCode::from(1);
    }
    server::raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(run(flags));
    // Blocking work the SDK may have left (a DNS lookup, a profile read) must not hold up exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match outcome {
        Ok(code) => code,
        Err(Failure::Config(error)) => {
            eprintln!("{error:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(flags: Flags) -> Result<ExitCode, Failure> {
    if flags.config_check {
        // Both files are checked, and every problem of each printed, before failing.
        let config = load_config(&flags);
        let security = load_security(&flags);
        if let Ok(config) = &config {
            println!(
                "{}: valid: {} target(s), {} identifier(s), {} discovery(ies)",
                flags.config_file.display(),
                config.targets.len(),
                config.identifier_count(),
                config.discovery_count(),
            );
        }
        if let (Ok(security), Some(path)) = (&security, &flags.web_config_file) {
            println!(
                "{}: valid: {}",
                path.display(),
                security.current().summary()
            );
        }
        return match (config, security) {
            (Ok(_), Ok(_)) => Ok(ExitCode::SUCCESS),
            (Err(failure), Ok(_)) | (Ok(_), Err(failure)) => Err(failure),
            (Err(Failure::Config(first)), Err(Failure::Config(second))) => {
                Err(Failure::Config(anyhow::anyhow!("{first:#}\n{second:#}")))
            }
            (Err(failure), Err(_)) => Err(failure),
        };
    }

    // Checked before anything starts; `--once` serves nothing.
    let security = if flags.once {
        Security::plain()
    } else {
        load_security(&flags)?
    };
    let shutdown = CancellationToken::new();
    // Listening from the start, so a signal during start-up (a slow region or credentials
    // lookup) still ends the run cleanly, and an early SIGHUP does not end it (its default).
    // `--once` keeps the defaults: a signal ends it at once.
    let (signals, hangups) = if flags.once {
        (None, None)
    } else {
        let hangups = signal(SignalKind::hangup())
            .context("cannot listen for SIGHUP")
            .map_err(Failure::Runtime)?;
        (Some(cancel_on_signal(shutdown.clone())?), Some(hangups))
    };
    let simulator = if flags.demo {
        let running = demo::simulator()
            .spawn()
            .await
            .context("cannot start the demo's simulated Bedrock")
            .map_err(Failure::Runtime)?;
        tracing::info!(endpoint = %running.endpoint_url(), "demo: simulated Bedrock is serving");
        Some(running)
    } else {
        None
    };
    let started = tokio::select! {
        _ = shutdown.cancelled() => None,
        started = start(&flags, simulator.as_ref()) => Some(started),
    };
    let code = match started {
        None => {
            tracing::info!("stopped during start-up");
            Ok(ExitCode::SUCCESS)
        }
        Some(Err(failure)) => Err(failure),
        Some(Ok(started)) => serve_or_once(flags, started, security, hangups, shutdown).await,
    };
    if let Some(signals) = signals {
        signals.abort();
        let _ = signals.await;
    }
    if let Some(simulator) = simulator {
        simulator.shutdown().await;
    }
    code
}

/// What start-up built.
struct Started {
    poller: Poller<AwsSource>,
    telemetry: Telemetry,
    reloads: Reloads,
}

/// Loads the config (or the demo's) and builds the poller on the AWS SDK, and what reloads it.
async fn start(flags: &Flags, simulator: Option<&RunningSimulator>) -> Result<Started, Failure> {
    let (config, base) = match simulator {
        Some(simulator) => (demo::config(&simulator.endpoint_url()), demo::sdk_config()),
        None => {
            let config = load_config(flags)?;
            // Only when every target names its region (see default_config).
            let regions: Option<Vec<&str>> =
                config.targets.iter().map(|t| t.region.as_deref()).collect();
            let base = default_config(regions.and_then(|r| r.first().copied())).await;
            (config, base)
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        revision = env!("BEDROCK_EXPORTER_REVISION"),
        targets = config.targets.len(),
        identifiers = config.identifier_count(),
        discoveries = config.discovery_count(),
        interval = %humantime::format_duration(config.interval),
        terminal_interval = %humantime::format_duration(config.terminal_interval),
        "starting bedrock-exporter"
    );
    let telemetry = Telemetry::new()
        .context("cannot register metrics")
        .map_err(Failure::Runtime)?;
    let settings = ClientSettings::standard(config.request_timeout);
    let shard = flags.share;
    // The organizations' accounts, listed once before anything is polled: a listing that fails
    // here is tried again at the next refresh.
    let mut accounts = Accounts::default();
    if !config.organizations.is_empty() {
        let refreshed = accounts.refresh(&config, &base).await;
        app::observe_accounts(&telemetry, &refreshed, &accounts);
    }
    let effective = accounts.apply(&config);
    let (poller, sources) =
        app::build_poller(&effective, &base, &settings, telemetry.clone(), &shard)
            .await
            .map_err(start_failure)?;
    if shard.total > 1 {
        tracing::info!(%shard, targets = effective.targets.len(), "sharded: polling this replica's share of the targets");
    }
    telemetry.observe_reload(true, unix_seconds(SystemTime::now()));
    let (updates, received) = mpsc::unbounded_channel();
    let reloads = match simulator {
        Some(_) => Reloads::Ignored,
        None => Reloads::File {
            reloader: Box::new(Reloader::new(
                flags.config_file.clone(),
                base,
                settings,
                InForce {
                    config,
                    accounts,
                    sources,
                },
                telemetry.clone(),
                updates,
                shard,
            )),
            auto: (!flags.auto_reload_interval.is_zero()).then_some(flags.auto_reload_interval),
        },
    };
    Ok(Started {
        poller: poller.with_updates(received),
        telemetry,
        reloads,
    })
}

/// `--once`: one cycle printed to stdout. Otherwise: serve until a signal.
async fn serve_or_once(
    flags: Flags,
    started: Started,
    security: Security,
    hangups: Option<Signal>,
    shutdown: CancellationToken,
) -> Result<ExitCode, Failure> {
    let Started {
        mut poller,
        telemetry,
        reloads,
    } = started;
    let Some(hangups) = hangups.filter(|_| !flags.once) else {
        let all_up = poller.poll_all().await;
        let snapshot = poller.snapshot();
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&snapshot.text)
            .and_then(|()| stdout.write_all(&telemetry.encode()))
            .and_then(|()| stdout.flush())
            .context("cannot write metrics to stdout")
            .map_err(Failure::Runtime)?;
        return Ok(if all_up {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    };
    let listener = app::bind(&flags.listen_address).await.map_err(|error| {
        // The one line says what to change.
        let error = anyhow::Error::from(error);
        Failure::Runtime(anyhow::anyhow!(
            "{error:#}; choose another address with --web.listen-address"
        ))
    })?;
    let web = app::Web {
        telemetry_path: flags.telemetry_path,
        security,
        max_requests: flags.max_requests,
    };
    app::run(listener, poller, telemetry, web, reloads, hangups, shutdown).await;
    tracing::info!("shut down");
    Ok(ExitCode::SUCCESS)
}

fn load_config(flags: &Flags) -> Result<Config, Failure> {
    Config::load(&flags.config_file).map_err(|error| {
        let missing = matches!(&error, ConfigError::Read { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound);
        let error = anyhow::Error::from(error);
        Failure::Config(if missing {
            anyhow::anyhow!(
                "{error:#}\nTo try the exporter without an AWS account, run `bedrock-exporter --demo`; \
                 to watch your own, copy config.example.yaml to config.yaml (or pass --config.file)."
            )
        } else {
            error
        })
    })
}

/// The web config of `--web.config.file`, with its certificate and key loaded; without the
/// flag, plain HTTP.
fn load_security(flags: &Flags) -> Result<Security, Failure> {
    match &flags.web_config_file {
        None => Ok(Security::plain()),
        Some(path) => Security::load(path).map_err(|error| Failure::Config(error.into())),
    }
}

fn start_failure(error: StartError) -> Failure {
    if error.is_config() {
        Failure::Config(error.into())
    } else {
        Failure::Runtime(error.into())
    }
}

/// Registers for SIGTERM and SIGINT now, so none is missed, and returns a task that cancels
/// `shutdown` on the first of them.
fn cancel_on_signal(shutdown: CancellationToken) -> Result<JoinHandle<()>, Failure> {
    let mut terminate = signal(SignalKind::terminate())
        .context("cannot listen for SIGTERM")
        .map_err(Failure::Runtime)?;
    let mut interrupt = signal(SignalKind::interrupt())
        .context("cannot listen for SIGINT")
        .map_err(Failure::Runtime)?;
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT received; shutting down"),
        }
        shutdown.cancel();
    }))
}
