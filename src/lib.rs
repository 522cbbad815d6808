//! bedrock-exporter: Amazon Bedrock model customization jobs and custom models as Prometheus metrics.
//!
//! Data flows in one direction:
//!
//! ```text
//! config ──► fleet ──(BedrockSource: Get, List)──► bedrock::aws (aws-sdk-bedrock) ──► Bedrock
//!              │                                    bedrock::simulator (tests, --demo)
//!              └─► exposition (each resource's lines, assembled) ──► Snapshot ──► http ──► /metrics
//! ```
//!
//! - [`config`]: the YAML file, parsed and checked as a whole, every problem with its path; the
//!   web config file (`--web.config.file`) in [`config::web`].
//! - [`bedrock`]: the records as the exporter sees them, the [`bedrock::BedrockSource`] trait,
//!   the SDK adapter ([`bedrock::aws`]) and the simulated service ([`bedrock::simulator`]).
//! - [`fleet`]: the watched set (configured and discovered resources by key), the pure
//!   reconcile of listings, and the poller that lists, reads what is due and publishes.
//! - [`exposition`]: each resource's lines rendered when it changes, assembled family by family
//!   into a shared snapshot; the gzip made once; the exporter's own metrics.
//! - [`http`]: the hyper server: connections (plain or TLS), bodies sent without copying, the
//!   endpoints, basic auth, and the web config in force, re-read when its files change.
//! - [`heap`]: the allocator's free memory given back after each poll cycle.
//! - [`demo`]: the simulated account `--demo` runs on.
//! - [`logging`]: logfmt or JSON lines through `tracing`.
//! - [`app`]: wires it all for the binary: builds the targets, runs the poller, the server and
//!   the config reloader.

pub mod app;
pub mod bedrock;
pub mod config;
pub mod demo;
pub mod exposition;
pub mod fleet;
pub mod heap;
pub mod http;
pub mod logging;
