//! Wiring for the binary: one SDK client per target, the poller and the server, run until
//! shutdown. `main.rs` only parses flags and maps outcomes to exit codes.

use aws_config::SdkConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::aws::{AwsSource, ClientSettings};
use crate::config::Config;
use crate::metrics::Telemetry;
use crate::poller::{Poller, Schedule, TargetPoller};
use crate::server::{serve, ServerState};

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("targets[{index}]")]
    Client {
        index: usize,
        #[source]
        source: crate::aws::ClientError,
    },
    #[error("cannot register metrics")]
    Metrics(#[from] prometheus::Error),
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
        matches!(self, StartError::Client { .. })
    }
}

/// Builds the poller for `config`, each target's client on top of `base` (the AWS default chain,
/// or the demo's static credentials).
pub async fn build_poller(
    config: &Config,
    base: &SdkConfig,
    settings: &ClientSettings,
    telemetry: Telemetry,
) -> Result<Poller<AwsSource>, StartError> {
    let mut targets = Vec::with_capacity(config.targets.len());
    for (index, target) in config.targets.iter().enumerate() {
        let (source, region) = AwsSource::new(base, target, settings)
            .await
            .map_err(|source| StartError::Client { index, source })?;
        targets.push(TargetPoller::new(
            source,
            &region,
            &target.jobs,
            &target.models,
        ));
    }
    let schedule = Schedule {
        interval: config.interval,
        terminal_interval: config.terminal_interval,
        concurrency: config.concurrency,
    };
    Ok(Poller::new(targets, schedule, telemetry))
}

/// Binds a listen address in Prometheus's form: `:10025` means every IPv4 interface.
pub async fn bind(address: &str) -> Result<TcpListener, StartError> {
    let full = match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => address.to_owned(),
    };
    TcpListener::bind(&full)
        .await
        .map_err(|source| StartError::Listen {
            address: address.to_owned(),
            source,
        })
}

/// Runs the poller and the server until `shutdown` is cancelled, then waits for both.
pub async fn run<S: crate::source::BedrockSource + 'static>(
    listener: TcpListener,
    poller: Poller<S>,
    telemetry: Telemetry,
    telemetry_path: String,
    shutdown: CancellationToken,
) {
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(%address, path = %telemetry_path, "serving metrics");
    let state = ServerState {
        snapshot: poller.subscribe(),
        telemetry,
        telemetry_path,
    };
    tokio::join!(
        poller.run(shutdown.clone()),
        serve(listener, state, shutdown.clone())
    );
}
