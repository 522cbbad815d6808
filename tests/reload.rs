//! Reloading the config of a running exporter: each trigger (POST /-/reload, SIGHUP, a changed
//! file), what stays keeps its state, an invalid file changes nothing, and a reload during a
//! cycle takes effect from the next. The binary runs against the simulator over real HTTP; tests
//! wait on log lines and simulator calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bedrock_exporter::simulator::{Fault, Simulator};
use common::exporter::*;
use common::*;

/// A config reading `jobs` at `endpoint`, every minute.
fn jobs_config(endpoint: &str, jobs: &[&str]) -> String {
    format!(
        "interval: 60s\nrequest_timeout: 30s\ntargets:\n  - region: {REGION}\n    endpoint_url: {endpoint}\n    jobs: [{}]\n",
        jobs.join(", ")
    )
}

/// A simulator serving running jobs `job-1`, `job-2` and `job-3`.
async fn simulator() -> (Simulator, bedrock_exporter::simulator::RunningSimulator) {
    let sim = Simulator::new();
    for name in ["job-1", "job-2", "job-3"] {
        sim.put_job(job(name));
    }
    let server = sim.spawn().await.unwrap();
    (sim, server)
}

fn watched(text: &str) -> Vec<String> {
    series(text, "bedrock_exporter_target_up")
        .iter()
        .filter_map(|l| label(l, "identifier").map(str::to_owned))
        .collect()
}

fn reload_gauges(text: &str) -> (Option<f64>, Option<f64>) {
    (
        sample(text, "bedrock_exporter_config_last_reload_successful"),
        sample(
            text,
            "bedrock_exporter_config_last_reload_success_timestamp_seconds",
        ),
    )
}

async fn post_reload(exporter: &Exporter) -> Response {
    request(
        exporter.addr,
        "POST",
        "/-/reload",
        &[("Content-Length", "0")],
    )
    .await
}

#[tokio::test]
async fn a_post_reload_takes_a_new_config_and_keeps_what_stays() {
    let (sim, server) = simulator().await;
    let config = config_file(&jobs_config(&server.endpoint_url(), &["job-1", "job-3"]));
    let mut exporter = Exporter::start(&config).await;
    exporter.wait_for_log("first poll cycle finished").await;
    let before = get(exporter.addr, "/metrics").await.text();
    assert_eq!(watched(&before), ["job-1", "job-3"]);
    let (ok, at) = reload_gauges(&before);
    assert_eq!(ok, Some(1.0), "the load at start counts");
    assert!(at.is_some_and(|t| t > 1.7e9));

    std::fs::write(
        &*config,
        jobs_config(&server.endpoint_url(), &["job-1", "job-2"]),
    )
    .unwrap();
    let response = post_reload(&exporter).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.text(),
        "config reloaded: 1 target(s), 2 identifier(s), 0 discovery(ies)\n"
    );
    exporter.wait_for_log("poll cycle finished").await;
    let after = get(exporter.addr, "/metrics").await.text();
    assert_eq!(
        watched(&after),
        ["job-1", "job-2"],
        "job-3 dropped out, job-2 came in"
    );
    assert!(
        !after.contains(r#"job_name="job-3""#),
        "with all its series"
    );
    assert_eq!(
        sample(
            &after,
            &format!(
                r#"bedrock_customization_job_training_loss{{account_id="{ACCOUNT}",job_name="job-2",region="{REGION}"}}"#
            )
        ),
        Some(1.25),
        "the new job is read at once"
    );
    // job-1 stayed: not read again before it is due (a minute after the first cycle).
    assert_eq!(sim.calls_for("job-1"), 1);
    assert_eq!(reload_gauges(&after).0, Some(1.0));

    for method in ["GET", "PUT"] {
        let refused = request(
            exporter.addr,
            method,
            "/-/reload",
            &[("Content-Length", "0")],
        )
        .await;
        assert_eq!(refused.status, 405, "{method}");
        assert_eq!(refused.header("Allow"), Some("POST"));
    }
    exporter.stop().await;
    server.shutdown().await;
}

#[tokio::test]
async fn sighup_reloads_the_config() {
    let (_, server) = simulator().await;
    let config = config_file(&jobs_config(&server.endpoint_url(), &["job-1"]));
    let mut exporter = Exporter::start(&config).await;
    exporter.wait_for_log("first poll cycle finished").await;

    std::fs::write(
        &*config,
        jobs_config(&server.endpoint_url(), &["job-1", "job-2"]),
    )
    .unwrap();
    exporter.signal("HUP").await;
    // The poller's own lines come in order; the reload's "config reloaded" may follow the cycle.
    exporter.wait_for_log("poller applied a new config").await;
    exporter.wait_for_log("poll cycle finished").await;
    let text = get(exporter.addr, "/metrics").await.text();
    assert_eq!(watched(&text), ["job-1", "job-2"]);
    exporter.stop().await;
    server.shutdown().await;
}

/// Kubernetes updates a mounted ConfigMap by swapping a symlink: the path stays, its target
/// changes. The auto-reload sees the new content.
#[tokio::test]
async fn a_changed_file_is_reloaded_across_a_configmap_symlink_swap() {
    let (_, server) = simulator().await;
    let dir = TempDir::new("configmap");
    let version = |name: &str, jobs: &[&str]| {
        std::fs::create_dir(dir.0.join(name)).unwrap();
        std::fs::write(
            dir.0.join(name).join("config.yaml"),
            jobs_config(&server.endpoint_url(), jobs),
        )
        .unwrap();
    };
    version("v1", &["job-1"]);
    std::os::unix::fs::symlink("v1", dir.0.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/config.yaml", dir.0.join("config.yaml")).unwrap();
    let mut exporter = Exporter::start_with(
        &dir.0.join("config.yaml"),
        &["--config.auto-reload-interval=1s"],
    )
    .await;
    exporter.wait_for_log("first poll cycle finished").await;

    version("v2", &["job-1", "job-2"]);
    std::os::unix::fs::symlink("v2", dir.0.join("..data_tmp")).unwrap();
    std::fs::rename(dir.0.join("..data_tmp"), dir.0.join("..data")).unwrap();
    exporter
        .wait_for_log("config file changed; reloading")
        .await;
    // The poller's own lines come in order; the reload's "config reloaded" may follow the cycle.
    exporter.wait_for_log("poller applied a new config").await;
    exporter.wait_for_log("poll cycle finished").await;
    let text = get(exporter.addr, "/metrics").await.text();
    assert_eq!(watched(&text), ["job-1", "job-2"]);
    exporter.stop().await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_invalid_file_changes_nothing_and_says_why() {
    let (_, server) = simulator().await;
    let config = config_file(&jobs_config(&server.endpoint_url(), &["job-1"]));
    let mut exporter = Exporter::start(&config).await;
    exporter.wait_for_log("first poll cycle finished").await;

    std::fs::write(
        &*config,
        format!(
            "{}scrape_timeout: 10s\n",
            jobs_config(&server.endpoint_url(), &["job-1", "bad_name"])
        ),
    )
    .unwrap();
    let response = post_reload(&exporter).await;
    assert_eq!(response.status, 500);
    let body = response.text();
    assert!(body.contains("scrape_timeout: unknown key"), "{body}");
    assert!(
        body.contains(r#"targets[0].jobs[1]: "bad_name" is not a job name"#),
        "{body}"
    );
    exporter.wait_for_log("config reload failed").await;
    let text = get(exporter.addr, "/metrics").await.text();
    let (ok, at) = reload_gauges(&text);
    assert_eq!(ok, Some(0.0));
    assert!(at.is_some(), "the last success keeps its time");
    assert_eq!(watched(&text), ["job-1"], "the config in force stays");

    // Not UTF-8 (a Latin-1 name): refused as at start, not read with replacement characters.
    let mut latin1 = jobs_config(&server.endpoint_url(), &["job-1", "job-2"]).into_bytes();
    latin1.extend_from_slice(b"# caf\xe9\n");
    std::fs::write(&*config, latin1).unwrap();
    let response = post_reload(&exporter).await;
    assert_eq!(response.status, 500);
    assert!(
        response.text().contains("is not UTF-8 text: line 7"),
        "{}",
        response.text()
    );

    std::fs::write(&*config, jobs_config(&server.endpoint_url(), &["job-1"])).unwrap();
    assert_eq!(post_reload(&exporter).await.status, 200);
    let text = get(exporter.addr, "/metrics").await.text();
    assert_eq!(reload_gauges(&text).0, Some(1.0));
    exporter.stop().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_reload_during_a_cycle_takes_effect_from_the_next() {
    let (sim, server) = simulator().await;
    sim.inject(Some("job-1"), Fault::Hold);
    let config = config_file(&jobs_config(&server.endpoint_url(), &["job-1"]));
    let mut exporter = Exporter::start(&config).await;
    wait_for_calls(&sim, 1).await;

    // The first cycle is held on job-1; the reload is accepted meanwhile.
    std::fs::write(
        &*config,
        jobs_config(&server.endpoint_url(), &["job-1", "job-2"]),
    )
    .unwrap();
    assert_eq!(post_reload(&exporter).await.status, 200);
    assert_eq!(
        sim.calls_for("job-2"),
        0,
        "not within the cycle in progress"
    );

    sim.clear_faults();
    exporter.wait_for_log("first poll cycle finished").await;
    exporter.wait_for_log("poll cycle finished").await;
    let text = get(exporter.addr, "/metrics").await.text();
    assert_eq!(watched(&text), ["job-1", "job-2"]);
    assert_eq!(sim.calls_for("job-2"), 1);
    exporter.stop().await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_demo_ignores_reloads() {
    let mut exporter = Exporter::launch(&["--demo"]).await;
    exporter.wait_for_log("first poll cycle finished").await;
    let response = post_reload(&exporter).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        "reload ignored: --demo has no config file\n"
    );
    exporter.signal("HUP").await;
    exporter
        .wait_for_log("SIGHUP received; reload ignored")
        .await;
    exporter.stop().await;
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "bedrock-exporter-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A target that stays keeps its client, and the credentials it assumed: a reload, even one that
/// changes the timeout of calls, does not assume the role again.
#[tokio::test]
async fn a_target_that_stays_keeps_its_assumed_credentials() {
    let (sim, server) = simulator().await;
    let endpoint = server.endpoint_url();
    let role = "arn:aws:iam::123456789012:role/bedrock-reader";
    let with_role = |timeout: &str, jobs: &str| {
        format!(
            "interval: 60s\nrequest_timeout: {timeout}\ntargets:\n  - region: {REGION}\n    endpoint_url: {endpoint}\n    role_arn: {role}\n    jobs: [{jobs}]\n"
        )
    };
    let config = config_file(&with_role("30s", "job-1"));
    let mut exporter = Exporter::start_env(&config, &[("AWS_ENDPOINT_URL_STS", &endpoint)]).await;
    exporter.wait_for_log("first poll cycle finished").await;
    assert_eq!(sim.assumed_roles(), [role]);

    std::fs::write(&*config, with_role("20s", "job-1, job-2")).unwrap();
    assert_eq!(post_reload(&exporter).await.status, 200);
    exporter.wait_for_log("poll cycle finished").await;
    assert_eq!(sim.calls_for("job-2"), 1);
    let read = sim
        .calls()
        .into_iter()
        .find(|c| c.identifier == "job-2")
        .unwrap();
    assert_eq!(
        read.access_key,
        bedrock_exporter::simulator::ASSUMED_ACCESS_KEY
    );
    assert_eq!(
        sim.assumed_roles(),
        [role],
        "the role's credentials were kept"
    );
    exporter.stop().await;
    server.shutdown().await;
}
