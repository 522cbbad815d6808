//! The exporter's own metrics: API calls, their failures and durations, poll cycles, the build,
//! and the standard process metrics. They live as long as the process, in registries of their own.
//! Their text is encoded anew only when one of them changed since the last scrape; the process
//! metrics, which change all the time, at every scrape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

use crate::bedrock::{ErrorKind, Operation};
use crate::shard::Shard;

/// The exporter's own metrics, which live as long as the process.
#[derive(Debug, Clone)]
pub struct Telemetry {
    registry: Registry,
    /// The `process_*` metrics, read from `/proc` at each scrape.
    process: Registry,
    /// Bumped after every change to a metric of `registry`.
    generation: Arc<AtomicU64>,
    encoded: Arc<Mutex<Option<Encoded>>>,
    requests: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    capped: IntCounterVec,
    target_poll_duration: GaugeVec,
    poll_duration: Gauge,
    last_poll: Gauge,
    /// Registers the poll gauges at the first cycle's end: before it they have no value, and
    /// a 0 would read as "last polled in 1970" (`time() - last_poll` alerts at every start).
    poll_gauges: Arc<Once>,
    reload_successful: Gauge,
    reload_time: Gauge,
    shard_info: GaugeVec,
    targets: Gauge,
    /// Registered at the first listing of an organization's accounts: without `organizations`,
    /// neither family exists.
    accounts: Arc<Once>,
    accounts_up: Gauge,
    account_info: GaugeVec,
}

/// A limit a response was cut to, as the `cap` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// A body over the size limit, refused while read.
    Body,
    /// Series left out: hyperparameters, validators, summaries past a page.
    Series,
    /// A message or field cut to its length.
    Message,
}

impl Cap {
    pub const ALL: [Cap; 3] = [Cap::Body, Cap::Series, Cap::Message];

    pub fn as_str(self) -> &'static str {
        match self {
            Cap::Body => "body",
            Cap::Series => "series",
            Cap::Message => "message",
        }
    }
}

/// `Telemetry::registry`'s text, and the generation it was encoded at.
#[derive(Debug)]
struct Encoded {
    generation: u64,
    text: Vec<u8>,
}

impl Telemetry {
    /// Registers the exporter's metrics and, on Linux, the standard `process_*` metrics.
    pub fn new() -> Result<Telemetry, prometheus::Error> {
        let registry = Registry::new();
        let build_info = GaugeVec::new(
            Opts::new(
                "bedrock_exporter_build_info",
                "Version of the exporter and the Rust compiler it was built with; always 1.",
            ),
            &["version", "revision", "rustc_version"],
        )?;
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                env!("BEDROCK_EXPORTER_REVISION"),
                env!("BEDROCK_EXPORTER_RUSTC_VERSION"),
            ])
            .set(1.0);
        let requests = IntCounterVec::new(
            Opts::new("bedrock_exporter_api_requests_total", "Bedrock API calls made, each counted once however many attempts the SDK's retries took."),
            &["operation", "region"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "bedrock_exporter_api_request_failures_total",
                "Bedrock API calls that failed after retries, by the cause of the last attempt.",
            ),
            &["operation", "region", "error"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "bedrock_exporter_api_request_duration_seconds",
                "Duration of Bedrock API calls, SDK retries included.",
            )
            .buckets(vec![0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["operation", "region"],
        )?;
        let capped = IntCounterVec::new(
            Opts::new(
                "bedrock_exporter_capped_total",
                "Responses cut to a limit: a body over 8 MiB refused, series left out (hyperparameters, validators, summaries), a message cut to length.",
            ),
            &["operation", "cap"],
        )?;
        let target_poll_duration = GaugeVec::new(
            Opts::new(
                "bedrock_exporter_target_poll_duration_seconds",
                "Duration of the target's last poll cycle.",
            ),
            &["account_id", "region"],
        )?;
        let poll_duration = Gauge::new(
            "bedrock_exporter_poll_duration_seconds",
            "Duration of the longest of the targets' last poll cycles.",
        )?;
        let last_poll = Gauge::new(
            "bedrock_exporter_last_poll_timestamp_seconds",
            "End of the oldest of the targets' last poll cycles, in seconds since the Unix epoch.",
        )?;
        let reload_successful = Gauge::new(
            "bedrock_exporter_config_last_reload_successful",
            "Whether the last load of the config file (at start or a reload) succeeded (1) or failed (0).",
        )?;
        let reload_time = Gauge::new(
            "bedrock_exporter_config_last_reload_success_timestamp_seconds",
            "Time of the last successful load of the config file, in seconds since the Unix epoch.",
        )?;
        let shard_info = GaugeVec::new(
            Opts::new(
                "bedrock_exporter_shard_info",
                "This replica's share of the work: its shard, of how many, split by target or resource; always 1.",
            ),
            &["shard", "total_shards", "by"],
        )?;
        let targets = Gauge::new(
            "bedrock_exporter_targets",
            "Targets (account and region) this replica polls, after sharding.",
        )?;
        registry.register(Box::new(shard_info.clone()))?;
        registry.register(Box::new(targets.clone()))?;
        registry.register(Box::new(build_info))?;
        registry.register(Box::new(reload_successful.clone()))?;
        registry.register(Box::new(reload_time.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(capped.clone()))?;
        registry.register(Box::new(target_poll_duration.clone()))?;
        let process = Registry::new();
        #[cfg(target_os = "linux")]
        process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Telemetry {
            registry,
            process,
            generation: Arc::new(AtomicU64::new(0)),
            encoded: Arc::new(Mutex::new(None)),
            requests,
            failures,
            duration,
            capped,
            target_poll_duration,
            poll_duration,
            last_poll,
            poll_gauges: Arc::new(Once::new()),
            reload_successful,
            reload_time,
            shard_info,
            targets,
            accounts: Arc::new(Once::new()),
            accounts_up: Gauge::new(
                "bedrock_exporter_accounts_discovery_up",
                "Whether the last listing of the organizations' accounts (every page) succeeded (1) or failed (0).",
            )?,
            account_info: GaugeVec::new(
                Opts::new(
                    "bedrock_exporter_account_info",
                    "An account an organizations entry found, with its name, for joins; always 1.",
                ),
                &["account_id", "account_name"],
            )?,
        })
    }

    /// Records a listing of the organizations' accounts: whether every one succeeded, and
    /// every account known (the last listed of each organization).
    pub fn observe_accounts(&self, up: bool, accounts: &[(&str, &str)]) {
        self.accounts.call_once(|| {
            let _ = self.registry.register(Box::new(self.accounts_up.clone()));
            let _ = self.registry.register(Box::new(self.account_info.clone()));
        });
        self.accounts_up.set(if up { 1.0 } else { 0.0 });
        self.account_info.reset();
        for (id, name) in accounts {
            self.account_info.with_label_values(&[id, name]).set(1.0);
        }
        self.changed();
    }

    /// Records this replica's share and how many targets it polls (at start and each reload).
    pub fn observe_shard(&self, shard: &Shard, targets: usize) {
        self.shard_info.reset();
        self.shard_info
            .with_label_values(&[
                &shard.index.to_string(),
                &shard.total.to_string(),
                shard.by.as_str(),
            ])
            .set(1.0);
        self.targets.set(targets as f64);
        self.changed();
    }

    /// Creates the request and failure series of a region's operations at zero, so `rate()` sees
    /// them from the start.
    pub fn init_region(&self, region: &str, operations: &[Operation]) {
        for &op in operations {
            self.requests.with_label_values(&[op.as_str(), region]);
            for kind in ErrorKind::ALL {
                self.failures
                    .with_label_values(&[op.as_str(), region, kind.as_str()]);
            }
        }
        self.changed();
    }

    /// Records one API call: its duration and, if it failed, why.
    pub fn observe_call(
        &self,
        op: Operation,
        region: &str,
        seconds: f64,
        error: Option<ErrorKind>,
    ) {
        let labels = [op.as_str(), region];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
        if let Some(kind) = error {
            self.failures
                .with_label_values(&[op.as_str(), region, kind.as_str()])
                .inc();
        }
        self.changed();
    }

    /// Records a load of the config file (at start or a reload) at Unix time `at`.
    pub fn observe_reload(&self, successful: bool, at: f64) {
        self.reload_successful
            .set(if successful { 1.0 } else { 0.0 });
        if successful {
            self.reload_time.set(at);
        }
        self.changed();
    }

    /// Creates the capped counters of `operations` at zero.
    pub fn init_caps(&self, operations: &[Operation]) {
        for &op in operations {
            for cap in Cap::ALL {
                self.capped.with_label_values(&[op.as_str(), cap.as_str()]);
            }
        }
        self.changed();
    }

    /// Counts a response of `op` cut to the limit `cap`.
    pub fn observe_capped(&self, op: Operation, cap: Cap) {
        self.capped
            .with_label_values(&[op.as_str(), cap.as_str()])
            .inc();
        self.changed();
    }

    /// Records the length of a target's last cycle.
    pub fn observe_target_cycle(&self, account: &str, region: &str, seconds: f64) {
        self.target_poll_duration
            .with_label_values(&[account, region])
            .set(seconds);
        self.changed();
    }

    /// Drops a target's cycle length (the target is gone, or is labelled anew).
    pub fn forget_target(&self, account: &str, region: &str) {
        let _ = self
            .target_poll_duration
            .remove_label_values(&[account, region]);
        self.changed();
    }

    /// Records the longest of the targets' last cycles and the end of the oldest (Unix time),
    /// once every target has finished one.
    pub fn observe_cycle(&self, seconds: f64, ended_at: f64) {
        self.poll_duration.set(seconds);
        self.last_poll.set(ended_at);
        self.poll_gauges.call_once(|| {
            for gauge in [&self.poll_duration, &self.last_poll] {
                if let Err(error) = self.registry.register(Box::new(gauge.clone())) {
                    tracing::error!(%error, "cannot register a poll gauge");
                }
            }
        });
        self.changed();
    }

    /// Marks the encoded text stale; called after each change.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current values of the exporter's own metrics, in the text format. Its families are
    /// in name order, as one registry would give them: `bedrock_exporter_*`, then `process_*`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        {
            let mut encoded = self.encoded.lock().unwrap_or_else(PoisonError::into_inner);
            // Read before gathering: a change during the gathering leaves the text stale.
            let now = self.generation.load(Ordering::Acquire);
            match &*encoded {
                Some(kept) if kept.generation == now => out.extend_from_slice(&kept.text),
                _ => {
                    encode_into(&self.registry, &mut out);
                    *encoded = Some(Encoded {
                        generation: now,
                        text: out.clone(),
                    });
                }
            }
        }
        encode_into(&self.process, &mut out);
        out
    }
}

fn encode_into(registry: &Registry, out: &mut Vec<u8>) {
    // Encoding into a Vec fails only on a family without metrics, which registries never yield.
    if let Err(error) = TextEncoder::new().encode(&registry.gather(), out) {
        tracing::error!(%error, "cannot encode the exporter's own metrics");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(telemetry: &Telemetry) -> String {
        String::from_utf8(telemetry.encode()).expect("UTF-8")
    }

    fn has(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn every_change_after_an_encoding_shows_in_the_next() {
        let telemetry = Telemetry::new().expect("registers");
        let op = Operation::Get(crate::bedrock::Kind::Job);
        let calls = "bedrock_exporter_api_requests_total{operation=\"GetModelCustomizationJob\",region=\"us-east-1\"}";
        assert!(!text(&telemetry).contains(calls));
        telemetry.init_region("us-east-1", &[op]);
        assert!(has(&text(&telemetry), &format!("{calls} 0")));
        // Encoded again unchanged, then changed: the change is not hidden by the kept text.
        let own = |text: &str| -> Vec<String> {
            let lines = text.lines().filter(|l| l.contains("bedrock_exporter_"));
            lines.map(str::to_owned).collect()
        };
        assert_eq!(own(&text(&telemetry)), own(&text(&telemetry)));
        telemetry.observe_call(op, "us-east-1", 0.2, Some(ErrorKind::Throttling));
        let after = text(&telemetry);
        assert!(has(&after, &format!("{calls} 1")), "{after}");
        assert!(has(&after, "bedrock_exporter_api_request_failures_total{error=\"throttling\",operation=\"GetModelCustomizationJob\",region=\"us-east-1\"} 1"), "{after}");
        telemetry.observe_reload(false, 5.0);
        assert!(has(
            &text(&telemetry),
            "bedrock_exporter_config_last_reload_successful 0"
        ));
        telemetry.observe_cycle(1.5, 100.0);
        let cycled = text(&telemetry);
        assert!(
            has(&cycled, "bedrock_exporter_poll_duration_seconds 1.5"),
            "{cycled}"
        );
        assert!(
            has(&cycled, "bedrock_exporter_last_poll_timestamp_seconds 100"),
            "{cycled}"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn process_metrics_follow_the_exporters_in_name_order() {
        let telemetry = Telemetry::new().expect("registers");
        for _ in 0..2 {
            let text = text(&telemetry);
            let names: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("# TYPE "))
                .filter_map(|l| l.split(' ').next())
                .collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(names, sorted);
            assert!(
                names.contains(&"process_resident_memory_bytes"),
                "{names:?}"
            );
        }
    }
}
