//! Logging: `tracing` events on stderr, one per line, as logfmt or JSON.
//!
//! Other crates' events (the SDK's, hyper's) stay at `info` even under `--log.level=debug`: their
//! debug output is voluminous and may include request headers, and signatures must never reach
//! the logs.

use std::fmt;
use std::str::FromStr;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// `--log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        })
    }
}

/// Installs the global subscriber. Fails only if one is installed already.
pub fn init(
    level: LogLevel,
    format: LogFormat,
) -> Result<(), tracing_subscriber::util::TryInitError> {
    // Only this crate goes below `info`: the SDK's, hyper's and rustls's debug output is large
    // and can carry request headers.
    let directives = match level {
        LogLevel::Debug => "info,bedrock_exporter=debug".to_owned(),
        other => other.to_string(),
    };
    let filter =
        EnvFilter::from_str(&directives).unwrap_or_else(|_| EnvFilter::new(level.to_string()));
    let layer = match format {
        LogFormat::Logfmt => tracing_logfmt::builder()
            .with_span_name(false)
            .with_span_path(false)
            .layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
}
