//! The binary end to end: flags, exit codes, endpoints, readiness and shutdown, polling the
//! simulator through the real SDK. Tests wait on log events and simulator calls, never on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bedrock_exporter::bedrock::Kind;
use bedrock_exporter::simulator::{Fault, Simulator};
use common::exporter::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn readiness_follows_the_first_cycle() {
    let (sim, server) = held_simulator().await;
    let config = write_config(&server.endpoint_url(), &["job-1"]);
    let mut exporter = Exporter::start(&config).await;
    wait_for_calls(&sim, 1).await;

    assert_eq!(get(exporter.addr, "/readyz").await.status, 503);
    assert_eq!(get(exporter.addr, "/healthz").await.status, 200);
    let metrics = get(exporter.addr, "/metrics").await;
    assert_eq!(
        metrics.status, 200,
        "scrapes are answered while the first cycle runs"
    );
    let text = metrics.text();
    assert!(text.contains("bedrock_exporter_build_info{"));
    // No cycle has ended: no poll time to report, rather than a 0 that reads as 1970.
    for gauge in [
        "bedrock_exporter_poll_duration_seconds",
        "bedrock_exporter_last_poll_timestamp_seconds",
    ] {
        assert!(
            series(&text, gauge).is_empty(),
            "{gauge} before the first cycle:\n{text}"
        );
    }

    sim.clear_faults();
    exporter.wait_for_log("first poll cycle finished").await;
    assert_eq!(get(exporter.addr, "/readyz").await.status, 200);
    let text = get(exporter.addr, "/metrics").await.text();
    assert!(sample(&text, "bedrock_exporter_poll_duration_seconds").is_some_and(|s| s >= 0.0));
    assert!(
        sample(&text, "bedrock_exporter_last_poll_timestamp_seconds").is_some_and(|t| t > 1.7e9)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"bedrock_exporter_target_up{{account_id="{ACCOUNT}",identifier="job-1",kind="job",region="{REGION}"}}"#
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"bedrock_customization_job_training_loss{{account_id="{ACCOUNT}",job_name="job-1",region="{REGION}"}}"#
            )
        ),
        Some(1.25)
    );
    exporter.stop().await;
    server.shutdown().await;
}

#[tokio::test]
async fn endpoints_methods_and_encodings() {
    let (sim, server) = simulator_with_job_1().await;
    sim.inject(
        Some("job-2"),
        Fault::error(403, "AccessDeniedException", "<script>alert(1)</script>"),
    );
    let config = write_config(&server.endpoint_url(), &["job-1", "job-2"]);
    let mut exporter = Exporter::start(&config).await;
    exporter.wait_for_log("first poll cycle finished").await;
    let addr = exporter.addr;

    assert_eq!(get(addr, "/nope").await.status, 404);
    assert_eq!(get(addr, "/metrics/extra").await.status, 404);
    let post = request(addr, "POST", "/metrics", &[("Content-Length", "0")]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));
    assert_eq!(request(addr, "DELETE", "/", &[]).await.status, 405);

    let plain = get(addr, "/metrics").await;
    assert_eq!(
        plain.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(plain.header("Content-Encoding"), None);
    let head = request(addr, "HEAD", "/metrics", &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), plain.header("Content-Type"));
    assert!(head.body.is_empty(), "HEAD has no body");

    let zipped = request(
        addr,
        "GET",
        "/metrics",
        &[("Accept-Encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(zipped.header("Content-Encoding"), Some("gzip"));
    assert_eq!(zipped.header("Vary"), Some("Accept-Encoding"));
    // One gzip member, which a reader that stops after the first (as curl --compressed and
    // browsers do) reads whole: the snapshot's part, compressed once, then the own metrics.
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&zipped.body[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(
        first_member_length(&zipped.body),
        zipped.body.len(),
        "one member"
    );
    assert!(unzipped.len() > zipped.body.len(), "compressed");
    let lines = |t: &str, prefix: &str| {
        t.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let plain_text = plain.text();
    for prefix in [
        "bedrock_customization",
        "bedrock_exporter_target_up",
        "bedrock_exporter_build_info",
    ] {
        assert!(!lines(&plain_text, prefix).is_empty(), "{prefix}");
        assert_eq!(
            lines(&unzipped, prefix),
            lines(&plain_text, prefix),
            "{prefix}"
        );
    }
    // The snapshot's compressed part is the same bytes in the next scrape: compressed once.
    let again = request(addr, "GET", "/metrics", &[("Accept-Encoding", "gzip")]).await;
    let shared = again
        .body
        .iter()
        .zip(&zipped.body)
        .take_while(|(a, b)| a == b)
        .count();
    let own = plain_text.len() - plain_text.find("# HELP bedrock_exporter_api").unwrap();
    assert!(
        shared >= zipped.body.len() - own - 32,
        "{shared} of {} bytes shared; the own metrics take {own}",
        zipped.body.len()
    );
    for refusal in ["gzip;q=0", "gzip;q=0, *", "identity"] {
        let refused = request(addr, "GET", "/metrics", &[("Accept-Encoding", refusal)]).await;
        assert_eq!(refused.header("Content-Encoding"), None, "{refusal}");
    }

    // Every response, whatever its status, tells browsers not to sniff its type.
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/"),
        ("HEAD", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/nope"),
        ("PUT", "/metrics"),
    ] {
        let response = request(addr, method, path, &[("Content-Length", "0")]).await;
        assert_eq!(
            response.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{method} {path}"
        );
    }

    let index = get(addr, "/").await;
    assert_eq!(index.status, 200);
    let html = index.text();
    assert!(html.contains("<a href=\"/metrics\">"), "{html}");
    assert!(html.contains("job-1") && html.contains("job-2"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");

    exporter.stop().await;
    server.shutdown().await;
}

/// The length of the first gzip member of `data`.
fn first_member_length(data: &[u8]) -> usize {
    let mut decoder = flate2::bufread::GzDecoder::new(data);
    std::io::copy(&mut decoder, &mut std::io::sink()).unwrap();
    data.len() - decoder.into_inner().len()
}

/// Reads one response whose length the headers give, leaving the connection open.
async fn read_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-response");
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = parse_response(&raw[..end + 4]);
                let length: usize = head.header("Content-Length").unwrap().parse().unwrap();
                if raw.len() >= end + 4 + length {
                    return parse_response(&raw);
                }
            }
        }
    };
    deadline("a whole response", read).await
}

#[tokio::test]
async fn sigterm_exits_zero_after_an_in_flight_scrape_finishes() {
    let (_, server) = simulator_with_job_1().await;
    let config = write_config(&server.endpoint_url(), &["job-1"]);
    let mut exporter = Exporter::start(&config).await;
    exporter.wait_for_log("first poll cycle finished").await;

    // A scrape whose request body has not fully arrived is still in flight after its response.
    let mut stream = TcpStream::connect(exporter.addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nContent-Length: 1\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 200);
    assert!(response.text().contains("bedrock_customization_job_status"));

    exporter.terminate().await;
    exporter.wait_for_log("SIGTERM received").await;
    stream.write_all(b"x").await.unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(
        rest.is_empty(),
        "the server closes the connection once the request is done"
    );

    let (code, log) = exporter.finish().await;
    assert_eq!(code, Some(0), "{log:?}");
    assert!(
        !log.iter().any(|l| l.contains("grace period")),
        "shut down without waiting out the grace period: {log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("message=\"shut down\"")),
        "{log:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sigint_while_a_poll_is_stuck_still_exits_zero() {
    let (sim, server) = held_simulator().await;
    let config = write_config(&server.endpoint_url(), &["job-1"]);
    let exporter = Exporter::start(&config).await;
    wait_for_calls(&sim, 1).await;
    exporter.signal("INT").await;
    let (code, log) = exporter.finish().await;
    assert_eq!(code, Some(0), "{log:?}");
    assert!(log.iter().any(|l| l.contains("SIGINT received")), "{log:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_taken_port_exits_1_with_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = write_config("http://127.0.0.1:9", &["job-1"]);
    let out = output(
        command()
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn"),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: cannot listen on {addr}: ")),
        "{stderr}"
    );
    // And says which flag changes it.
    assert!(
        stderr
            .trim_end()
            .ends_with("choose another address with --web.listen-address"),
        "{stderr}"
    );
}

#[tokio::test]
async fn bad_flags_exit_2() {
    // A valid config, so that a flag checked only after start-up work would show as exit 1;
    // --once, so that such a run ends instead of serving.
    let config = write_config("http://127.0.0.1:9", &["job-1"]);
    let config_flag = format!("--config.file={}", config.display());
    let long_path = format!("--web.telemetry-path=/{}", "a".repeat(1024));
    for (args, named) in [
        (&["--no-such-flag"][..], "--no-such-flag"),
        (&["--log.format=xml"], "--log.format"),
        (&["--log.level=loud"], "--log.level"),
        (&["--web.telemetry-path=metrics"], "--web.telemetry-path"),
        (&["--web.telemetry-path=/healthz"], "--web.telemetry-path"),
        (&["--web.telemetry-path=/readyz"], "--web.telemetry-path"),
        (&["--web.telemetry-path=/"], "--web.telemetry-path"),
        (&["--web.telemetry-path=/-/reload"], "--web.telemetry-path"),
        (&["--web.listen-address=10025"], "--web.listen-address"),
        (&["--web.listen-address=:http"], "--web.listen-address"),
        (&["--web.listen-address=:70000"], "--web.listen-address"),
        (&["--demo", "--config.file=x.yaml"], "--config.file"),
        // Every value is bounded, and checked before anything starts: these used to start,
        // then panic (a clock overflow, a semaphore too large) or fail with exit 1.
        (
            &["--config.auto-reload-interval=300000000000y"],
            "--config.auto-reload-interval",
        ),
        (
            &["--config.auto-reload-interval=25h"],
            "--config.auto-reload-interval",
        ),
        (
            &["--config.auto-reload-interval=500ms"],
            "--config.auto-reload-interval",
        ),
        (&["--web.max-requests=100001"], "--web.max-requests"),
        (&["--total-shards=0"], "--total-shards"),
        (&["--total-shards=1001"], "--total-shards"),
        (&["--total-shards=2", "--shard=2"], "--shard"),
        (&["--shard=1"], "--shard"),
        (&["--shard=1", "--shard.from-hostname"], "--shard"),
        (&["--shard.by=account"], "--shard.by"),
        (
            &["--web.max-requests=18446744073709551615"],
            "--web.max-requests",
        ),
        (&["--web.max-requests=-1"], "--web.max-requests"),
        (
            &["--web.telemetry-path=/metrics?x=1"],
            "--web.telemetry-path",
        ),
        (
            &["--web.telemetry-path=/my metrics"],
            "--web.telemetry-path",
        ),
        (
            &["--web.telemetry-path=/metrics%zz"],
            "--web.telemetry-path",
        ),
        (&[long_path.as_str()], "--web.telemetry-path"),
        (&["--web.listen-address=[::1:10025"], "--web.listen-address"),
        (&["--web.listen-address=::1:10025"], "--web.listen-address"),
        (
            &["--web.listen-address=999.0.0.1:10025"],
            "--web.listen-address",
        ),
        (
            &["--web.listen-address=bad_host:10025"],
            "--web.listen-address",
        ),
    ] {
        let out = output(command().arg(&config_flag).args(args)).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    // The bounds themselves are accepted.
    for arg in [
        "--config.auto-reload-interval=24h",
        "--config.auto-reload-interval=1s",
        "--web.max-requests=100000",
        "--web.max-requests=0",
        "--web.telemetry-path=/internal/metrics-v1.0_~%2F",
        "--web.listen-address=[::1]:0",
        "--web.listen-address=127.0.0.1:0",
        "--web.listen-address=localhost:0",
        "--shard.by=resource",
    ] {
        let out = command()
            .arg(&config_flag)
            .args(["--config.check", arg])
            .output()
            .await
            .unwrap();
        assert_exit(&out, 0);
    }
    for args in [&["--help"][..], &["--version"]] {
        let out = output(command().args(args)).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty());
    }
}

/// `--shard.from-hostname` takes the shard from the host name's trailing number, as a
/// StatefulSet names its pods: the binary runs in a UTS namespace of its own (`unshare`, as CI
/// runs, as root) under a chosen host name. Shard 2 fits 3 shards and not 2, so it was read as 2.
#[tokio::test]
async fn the_shard_comes_from_the_host_name() {
    let config = write_config("http://127.0.0.1:9", &["job-1"]);
    let config_flag = format!("--config.file={}", config.display());
    for (hostname, total, code, says) in [
        ("bedrock-exporter-2", 3, 0, ""),
        (
            "bedrock-exporter-2",
            2,
            2,
            "--shard.from-hostname: shard 2 is not below --total-shards=2",
        ),
        (
            "bedrock-exporter",
            3,
            2,
            r#"--shard.from-hostname: the host name "bedrock-exporter" does not end in a number"#,
        ),
    ] {
        let mut unshare = tokio::process::Command::new("unshare");
        unshare
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args([
                "--uts",
                "sh",
                "-c",
                r#"hostname "$0" && exec "$@""#,
                hostname,
            ])
            .args([BIN, &config_flag, "--config.check", "--shard.from-hostname"])
            .arg(format!("--total-shards={total}"))
            .kill_on_drop(true);
        let out = output(&mut unshare).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{hostname}, {total}: {stderr}"
        );
        assert!(stderr.contains(says), "{hostname}, {total}: {stderr}");
    }
}

/// Runs `--once` on a config file.
async fn once(config: &std::path::Path) -> std::process::Output {
    output(
        command()
            .args(["--once", "--log.level=debug"])
            .arg(format!("--config.file={}", config.display())),
    )
    .await
}

#[tokio::test]
async fn once_prints_the_exposition_and_exits_by_outcome() {
    let (_, server) = simulator_with_job_1().await;

    let good = write_config(&server.endpoint_url(), &["job-1"]);
    let out = once(&good).await;
    assert_exit(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#"status="InProgress"} 1"#), "{text}");
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    assert!(!series(&text, "bedrock_customization_job_stage_status").is_empty());

    // exclude_metrics leaves a family out, and only that one.
    let excluding = config_file(&format!(
        "exclude_metrics: [bedrock_customization_job_stage_status]\n{}",
        std::fs::read_to_string(&*good).unwrap()
    ));
    let out = once(&excluding).await;
    assert_exit(&out, 0);
    let excluded = String::from_utf8(out.stdout).unwrap();
    assert!(
        !excluded.contains("bedrock_customization_job_stage_status"),
        "{excluded}"
    );
    let families = |t: &str| t.lines().filter(|l| l.starts_with("# TYPE")).count();
    assert_eq!(families(&excluded), families(&text) - 1);

    let bad = write_config(&server.endpoint_url(), &["job-1", "missing-job"]);
    let out = once(&bad).await;
    assert_exit(&out, 1);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#"bedrock_exporter_target_up{account_id="",identifier="missing-job",kind="job",region="us-east-1"} 0"#), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("operation=GetModelCustomizationJob identifier=missing-job"),
        "{stderr}"
    );
    assert!(stderr.contains("error_kind=not_found"), "{stderr}");
    assert!(
        !stderr.contains("test-secret") && !stderr.contains("Signature="),
        "{stderr}"
    );
    server.shutdown().await;
}

/// With a region on every target, start-up asks instance metadata for no default region: outside
/// EC2 that would be calls that fail or time out, each logged as a warning.
#[tokio::test]
async fn a_region_on_every_target_keeps_start_up_off_instance_metadata() {
    let (_, server) = simulator_with_job_1().await;
    let config = write_config(&server.endpoint_url(), &["job-1"]);
    // A stand-in for IMDS that only accepts: the kernel completes any connection into the backlog.
    let imds = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    imds.set_nonblocking(true).unwrap();
    let out = output(
        command()
            .env_remove("AWS_REGION")
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .env(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                format!("http://{}", imds.local_addr().unwrap()),
            )
            .arg("--once")
            .arg(format!("--config.file={}", config.display())),
    )
    .await;
    assert_exit(&out, 0);
    match imds.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the exporter connected to instance metadata: {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_demo_runs_once_through_the_sdk() {
    let out = output(
        command()
            .env(
                "AWS_BEARER_TOKEN_BEDROCK",
                "would-switch-the-sdk-to-bearer-auth",
            )
            .args(["--demo", "--once", "--log.format=json"]),
    )
    .await;
    assert_exit(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    for status in ["InProgress", "Completed", "Failed", "Stopping", "Stopped"] {
        assert!(
            text.contains(&format!(r#"status="{status}"}} 1"#)),
            "{status} missing"
        );
    }
    assert!(text.contains("bedrock_customization_job_failure_info{"));
    // JSON logs: every line parses.
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

#[tokio::test]
async fn a_custom_telemetry_path_and_garbage_requests() {
    let (_, server) = simulator_with_job_1().await;
    let config = write_config(&server.endpoint_url(), &["job-1"]);
    let mut exporter =
        Exporter::start_with(&config, &["--web.telemetry-path=/internal/metrics"]).await;
    exporter.wait_for_log("first poll cycle finished").await;
    let addr = exporter.addr;
    assert_eq!(get(addr, "/metrics").await.status, 404);
    let metrics = get(addr, "/internal/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("bedrock_customization_job_info{"));
    assert!(get(addr, "/")
        .await
        .text()
        .contains("<a href=\"/internal/metrics\">"));

    // Whatever arrives on the socket, the server answers or closes that connection, and serves on.
    let long_path = format!("/{}", "a".repeat(100_000));
    let garbage: [&[u8]; 5] = [
        b"\x00\x01\x02 not http at all\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        long_path.as_bytes(),
    ];
    for bytes in garbage {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The server may close before reading everything; either way is fine.
        let _ = stream.write_all(bytes).await;
        let _ = stream.write_all(b"\r\n\r\n").await;
        // Then end the request side, so a server waiting for more bytes sees the end instead.
        let _ = stream.shutdown().await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        if !answer.is_empty() {
            let status = parse_response(&answer).status;
            assert!(
                (400..500).contains(&status) || status == 505,
                "{status} for {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
            );
        }
    }
    assert_eq!(get(addr, "/healthz").await.status, 200);
    assert_eq!(get(addr, "/internal/metrics").await.status, 200);

    exporter.stop().await;
    server.shutdown().await;
}

/// With no credentials anywhere in the default chain, reads fail as `credentials`, and the log
/// says so in one readable line: not `network`, and no debug dump of SDK structures.
#[tokio::test]
async fn missing_credentials_are_reported_as_credentials() {
    let (sim, server) = simulator_with_job_1().await;
    let config = write_config(&server.endpoint_url(), &["job-1"]);
    let out = output(
        command()
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .arg("--once")
            .arg(format!("--config.file={}", config.display())),
    )
    .await;
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("Bedrock read failed"))
        .unwrap_or_else(|| panic!("no failed read logged:\n{stderr}"));
    assert!(line.contains("error_kind=credentials"), "{line}");
    for dump in ["DispatchFailure", "ConnectorError", "Error {"] {
        assert!(!line.contains(dump), "{dump} in {line}");
    }
    assert!(line.len() < 1000, "{} characters: {line}", line.len());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        sample(
            &text,
            r#"bedrock_exporter_api_request_failures_total{error="credentials",operation="GetModelCustomizationJob",region="us-east-1"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sim.calls_for("job-1"), 0);
    server.shutdown().await;
}

/// A target without a region takes the default one; a name it shares with a target that names
/// that region is found once regions are resolved, before anything is read.
#[tokio::test]
async fn a_name_shared_with_the_default_region_is_a_config_error() {
    let path = std::env::temp_dir().join(format!(
        "bedrock-exporter-test-{}-shared.yaml",
        std::process::id()
    ));
    std::fs::write(
        &path,
        format!("targets:\n  - jobs: [nightly-ft]\n  - region: {REGION}\n    jobs: [nightly-ft]\n"),
    )
    .unwrap();
    let config = TempConfig(path);
    let out = output(
        command()
            .arg("--once")
            .arg(format!("--config.file={}", config.display())),
    )
    .await;
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"targets[1].jobs[0]: "nightly-ft" is also listed at targets[0].jobs[0] for the same region"#),
        "{stderr}"
    );
}

/// SIGTERM while a large scrape is being written to a client that has not read it yet: the
/// client still gets the whole body, and the exporter exits 0 without waiting out the grace.
#[tokio::test]
async fn sigterm_lets_a_slowly_read_scrape_finish() {
    let sim = Simulator::new();
    let names: Vec<String> = (0..2_000).map(|i| format!("job-{i:04}")).collect();
    for name in &names {
        sim.put_job(job(name));
    }
    let server = sim.spawn().await.unwrap();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let config = write_config(&server.endpoint_url(), &names);
    let mut exporter = Exporter::start(&config).await;
    exporter.wait_for_log("first poll cycle finished").await;

    // A small receive buffer, and no reading until the exporter has been told to stop: the
    // server is still writing the body when SIGTERM arrives.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(exporter.addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).await.unwrap();
    exporter.terminate().await;
    exporter.wait_for_log("SIGTERM received").await;

    let mut raw = first.to_vec();
    stream.read_to_end(&mut raw).await.unwrap();
    let response = parse_response(&raw);
    assert_eq!(response.status, 200);
    let length: usize = response.header("Content-Length").unwrap().parse().unwrap();
    assert!(
        length > 1 << 20,
        "a body larger than socket buffers: {length} bytes"
    );
    assert_eq!(response.body.len(), length, "the whole body arrived");
    assert!(response.text().contains(r#"job_name="job-1999""#));

    let (code, log) = exporter.finish().await;
    assert_eq!(code, Some(0), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("grace period")), "{log:?}");
    server.shutdown().await;
}

/// With discovery alone in the config, a job created in the account is watched at the next
/// listing, and one deleted drops out with its series, without a restart.
#[tokio::test]
async fn discovered_jobs_come_and_go_without_a_restart() {
    let (sim, server) = simulator_with_job_1().await;
    let config = config_file(&format!(
        "interval: 1s\nrequest_timeout: 30s\ntargets:\n  - region: {REGION}\n    endpoint_url: {}\n    discover:\n      jobs:\n        created_within: 3650d\n",
        server.endpoint_url()
    ));
    let mut exporter = Exporter::start(&config).await;
    exporter.wait_for_log("first poll cycle finished").await;
    let job_lines = |text: &str, name: &str| {
        text.lines()
            .filter(|l| {
                l.contains(&format!("job_name=\"{name}\""))
                    || l.contains(&format!("identifier=\"{name}\""))
            })
            .count()
    };
    let text = get(exporter.addr, "/metrics").await.text();
    assert!(job_lines(&text, "job-1") > 10, "{text}");
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"bedrock_exporter_discovered_resources{{account_id="{ACCOUNT}",kind="job",region="{REGION}"}}"#
            )
        ),
        Some(1.0)
    );

    sim.put_job(job("job-2"));
    exporter.wait_for_log("added=1").await;
    exporter.wait_for_log("poll cycle finished").await;
    let text = get(exporter.addr, "/metrics").await.text();
    assert!(job_lines(&text, "job-2") > 10, "{text}");
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"bedrock_customization_job_training_loss{{account_id="{ACCOUNT}",job_name="job-2",region="{REGION}"}}"#
            )
        ),
        Some(1.25),
        "read with its Get call, not only listed"
    );

    sim.remove(Kind::Job, "job-1");
    exporter.wait_for_log("removed=1").await;
    exporter.wait_for_log("poll cycle finished").await;
    let text = get(exporter.addr, "/metrics").await.text();
    assert_eq!(job_lines(&text, "job-1"), 0, "{text}");
    assert!(job_lines(&text, "job-2") > 10, "{text}");

    exporter.stop().await;
    server.shutdown().await;
}
