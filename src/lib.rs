//! bedrock-exporter: Amazon Bedrock model customization jobs and custom models as Prometheus metrics.
//!
//! Data flows in one direction:
//!
//! ```text
//! config ──► poller ──(BedrockSource: Get, List)──► bedrock::aws (aws-sdk-bedrock) ──► Bedrock
//!              │  fleet (the watched sets)           simulator (tests, --demo)
//!              └─► exposition (each resource's lines, assembled) ──► Snapshot ──► http ──► /metrics
//! ```
//!
//! Modules in layers, lowest first. A module uses only those before it in this list, never one
//! after it (`scripts/check_layers.py` reads this line and every `crate::` path, and fails on one
//! that goes up):
//!
//! layers: logging, heap, shard, bedrock, config, accounts, fleet, exposition, poller, http, simulator, demo, app
//!
//! - [`logging`]: logfmt or JSON lines through `tracing`.
//! - [`heap`]: the allocator's free memory given back after each poll cycle.
//! - [`shard`]: this replica's share of the work, when replicas split it.
//! - [`bedrock`]: the records as the exporter sees them, the families they are exported as, the
//!   [`bedrock::BedrockSource`] trait, the SDK adapter ([`bedrock::aws`]) and the checks every
//!   answer passes ([`bedrock::boundary`]).
//! - [`config`]: the YAML file, parsed and checked as a whole, every problem with its path; the
//!   web config file (`--web.config.file`) in [`config::web`].
//! - [`accounts`]: the accounts of an AWS Organization, and the targets they become.
//! - [`fleet`]: the watched set (configured and discovered resources by key) and the pure
//!   reconcile of listings.
//! - [`exposition`]: each resource's lines rendered when it changes, assembled family by family
//!   into a shared snapshot; the gzip made once; the exporter's own metrics.
//! - [`poller`]: the task that lists, reads what is due and publishes snapshots.
//! - [`http`]: the hyper server: connections (plain or TLS), bodies sent without copying, the
//!   endpoints and status page, basic auth, and the web config in force, re-read when its
//!   files change.
//! - [`simulator`]: a stand-in for Bedrock and STS over HTTP, for tests and the demo.
//! - [`demo`]: the simulated account `--demo` runs on.
//! - [`app`]: wires it all for the binary: builds the targets, runs the poller, the server and
//!   the config reloader.

pub mod accounts;
pub mod app;
pub mod bedrock;
pub mod config;
pub mod demo;
pub mod exposition;
pub mod fleet;
pub mod heap;
pub mod http;
pub mod logging;
pub mod poller;
pub mod shard;
pub mod simulator;
