//! Wiring for the binary: one SDK client per target, the poller and the server, run until
//! shutdown. `main.rs` only parses flags and maps outcomes to exit codes.

use aws_config::SdkConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bedrock::aws::{AwsSource, ClientSettings};
use crate::config::Config;
use crate::exposition::Telemetry;
use crate::fleet::poller::{PolledTarget, Poller};
use crate::fleet::Schedule;
use crate::http::{serve, ServerState};

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

/// Builds the poller for `config`, each target's client on top of `base` (the AWS default chain,
/// or the demo's static credentials).
pub async fn build_poller(
    config: &Config,
    base: &SdkConfig,
    settings: &ClientSettings,
    telemetry: Telemetry,
) -> Result<Poller<AwsSource>, StartError> {
    let mut targets = Vec::with_capacity(config.targets.len());
    let mut regions = Vec::with_capacity(config.targets.len());
    for (index, target) in config.targets.iter().enumerate() {
        let (source, region) = AwsSource::new(base, target, settings)
            .await
            .map_err(|source| StartError::Client { index, source })?;
        targets.push(PolledTarget::new(source, &region, target));
        regions.push(Some(region));
    }
    // The file's check compared regions as written; a target without one takes the default.
    let problems = config.shared_names(&regions);
    if !problems.is_empty() {
        return Err(StartError::SharedNames { problems });
    }
    let schedule = Schedule {
        interval: config.interval,
        terminal_interval: config.terminal_interval,
        concurrency: config.concurrency,
        request_timeout: config.request_timeout,
    };
    Ok(Poller::new(
        targets,
        schedule,
        &config.exclude_metrics,
        telemetry,
    ))
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

/// Runs the poller and the server until `shutdown` is cancelled, then waits for both.
pub async fn run<S: crate::bedrock::BedrockSource + 'static>(
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
