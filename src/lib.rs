//! bedrock-exporter: Amazon Bedrock model customization jobs and custom models as Prometheus metrics.
//!
//! Data flows in one direction:
//!
//! ```text
//! config ──► poller ──(BedrockSource)──► aws (aws-sdk-bedrock) ──► Bedrock, or the simulator
//!              │
//!              └─► metrics::render ──► Snapshot (Arc, swapped whole) ──► server ──► /metrics
//! ```
//!
//! - [`config`]: the YAML file, parsed and checked as a whole, every problem with its path.
//! - [`source`]: the project's own record types and the [`source::BedrockSource`] trait.
//! - [`aws`]: the real source, one SDK client per target (region, role, endpoint, retries, timeout).
//! - [`poller`]: the scheduler; reads what is due, publishes a [`poller::Snapshot`] per cycle.
//! - [`metrics`]: the pure mapping from records to metric families, and the exporter's telemetry.
//! - [`server`]: the hyper HTTP server: `/metrics`, `/`, `/healthz`, `/readyz`.
//! - [`simulator`]: a Bedrock stand-in over real HTTP, with injectable faults, for tests.
//! - [`demo`]: the built-in demo fleet the simulator serves under `--demo`.
//! - [`telemetry`]: logging setup (logfmt or JSON).
//! - [`app`]: wires it all for the binary: build sources, run poller and server until shutdown.

pub mod app;
pub mod bedrock;
pub mod config;
pub mod demo;
pub mod exposition;
pub mod fleet;
pub mod http;
pub mod logging;
