//! The `bedrock-exporter` binary: flags, logging, config, then [`bedrock_exporter::app`].
//!
//! Exit codes: 0 clean shutdown, 2 bad flags or config, 1 a runtime failure.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use bedrock_exporter::app::{self, StartError};
use bedrock_exporter::aws::{default_config, ClientSettings};
use bedrock_exporter::config::Config;
use bedrock_exporter::demo;
use bedrock_exporter::metrics::{encode, Telemetry};
use bedrock_exporter::simulator::Simulator;
use bedrock_exporter::telemetry::{self, LogFormat, LogLevel};
use clap::Parser;
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
        default_value = ":10025"
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
}

fn telemetry_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') {
        Ok(path.to_owned())
    } else {
        Err("must start with '/'".to_owned())
    }
}

/// How a run ended badly.
enum Failure {
    /// Bad flags or config: exit 2.
    Config(anyhow::Error),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    if flags.demo {
        // The demo signs with static credentials; a bearer token in the environment would make
        // the SDK use it instead. Removed before any thread starts.
        std::env::remove_var("AWS_BEARER_TOKEN_BEDROCK");
    }
    if let Err(error) = telemetry::init(flags.log_level, flags.log_format) {
        eprintln!("cannot set up logging: {error}");
        return ExitCode::from(1);
    }
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
    match runtime.block_on(run(flags)) {
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
        let config = Config::load(&flags.config_file).map_err(|e| Failure::Config(e.into()))?;
        let identifiers = config.identifier_count();
        println!(
            "{}: valid: {} target(s), {} identifier(s)",
            flags.config_file.display(),
            config.targets.len(),
            identifiers
        );
        return Ok(ExitCode::SUCCESS);
    }

    let shutdown = CancellationToken::new();
    let (config, base, simulator) = if flags.demo {
        let simulator = Simulator::demo();
        let running = simulator
            .spawn()
            .await
            .context("cannot start the demo's simulated Bedrock")
            .map_err(Failure::Runtime)?;
        tracing::info!(endpoint = %running.endpoint_url(), "demo: simulated Bedrock is serving");
        (
            demo::config(&running.endpoint_url()),
            demo_sdk_config(),
            Some(running),
        )
    } else {
        let config = Config::load(&flags.config_file).map_err(|e| Failure::Config(e.into()))?;
        (config, default_config().await, None)
    };

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        revision = env!("BEDROCK_EXPORTER_REVISION"),
        targets = config.targets.len(),
        identifiers = config.identifier_count(),
        interval = %humantime::format_duration(config.interval),
        terminal_interval = %humantime::format_duration(config.terminal_interval),
        "starting bedrock-exporter"
    );
    let telemetry = Telemetry::new().map_err(|e| Failure::Runtime(e.into()))?;
    let settings = ClientSettings::standard(config.request_timeout);
    let mut poller = app::build_poller(&config, &base, &settings, telemetry.clone())
        .await
        .map_err(start_failure)?;

    let code = if flags.once {
        let all_up = poller.poll_all().await;
        let mut families = poller.snapshot().families.clone();
        families.extend(telemetry.gather());
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&encode(families))
            .and_then(|()| stdout.flush())
            .context("cannot write metrics to stdout")
            .map_err(Failure::Runtime)?;
        if all_up {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    } else {
        let listener = app::bind(&flags.listen_address)
            .await
            .map_err(start_failure)?;
        let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
        app::run(
            listener,
            poller,
            telemetry,
            flags.telemetry_path,
            shutdown.clone(),
        )
        .await;
        signals.abort();
        let _ = signals.await;
        tracing::info!("shut down");
        ExitCode::SUCCESS
    };
    if let Some(simulator) = simulator {
        simulator.shutdown().await;
    }
    Ok(code)
}

fn start_failure(error: StartError) -> Failure {
    if error.is_config() {
        Failure::Config(error.into())
    } else {
        Failure::Runtime(error.into())
    }
}

/// Static credentials and region for the demo: the simulator checks the request is signed, not by whom.
fn demo_sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(demo::REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIADEMODEMODEMODEMO",
            "demo-secret-access-key",
            None,
            None,
            "bedrock-exporter-demo",
        )))
        .build()
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
async fn wait_for_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down"),
    }
    shutdown.cancel();
}
