//! Shared test helpers: record fixtures, a small HTTP client, and an exporter wired to the
//! simulator through the real SDK.
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod exporter;
pub mod kinds;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use bedrock_exporter::bedrock::aws::{AwsSource, ClientSettings};
use bedrock_exporter::bedrock::BedrockSource;
use bedrock_exporter::bedrock::{JobRecord, Kind, ModelRecord, StatusDetails};
use bedrock_exporter::config::Target;
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::http::{serve, ScrapeLimit, Security, ServerState};
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::simulator::{RunningSimulator, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const BASE: &str = "amazon.titan-text-express-v1:0:8k";

/// How long a helper waits for anything (a log line, a response, an exit, a poll cycle) before
/// the test fails saying what it waited for. Far beyond any wait that passes, and inside
/// nextest's slow-timeout (`.config/nextest.toml`), so a hang is told by the helper that saw it.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Awaits `future`, failing the test with `what` once [`DEADLINE`] has passed.
pub async fn deadline<F: Future>(what: impl std::fmt::Display, future: F) -> F::Output {
    match within(DEADLINE, future).await {
        Some(output) => output,
        None => panic!("timed out after {DEADLINE:?} waiting for {what}"),
    }
}

/// `future`'s output, or `None` once `limit` of real time has passed. Real time, not tokio's
/// clock: on a paused clock (`start_paused`) a tokio timer fires as soon as the runtime is idle,
/// so a tokio timeout would expire while a socket merely waits for its peer.
pub async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let (expire, expired) = tokio::sync::oneshot::channel::<()>();
    let (finish, finished) = std::sync::mpsc::channel::<()>();
    // The watchdog returns as soon as `finish` is dropped: when this function returns, or when
    // its caller drops it.
    std::thread::spawn(move || {
        if finished.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
            let _ = expire.send(());
        }
    });
    let _finish = finish;
    tokio::select! {
        biased;
        output = future => Some(output),
        Ok(()) = expired => None,
    }
}

/// [`Simulator::wait_for_calls`] with a [`DEADLINE`].
pub async fn wait_for_calls(sim: &Simulator, n: usize) {
    if within(DEADLINE, sim.wait_for_calls(n)).await.is_none() {
        panic!(
            "timed out after {DEADLINE:?} waiting for {n} calls to the simulator; it had {}",
            sim.calls().len()
        );
    }
}

pub fn base_model_arn() -> String {
    format!("arn:aws:bedrock:{REGION}::foundation-model/{BASE}")
}

pub fn job_arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/{BASE}/{id}")
}

pub fn model_arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/{BASE}/{id}")
}

/// The 12-character id at the end of a fixture's ARN, distinct per name (FNV-1a, in hex).
pub fn id_of(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")[..12].to_owned()
}

/// A running fine-tuning job with every field set.
pub fn job(name: &str) -> JobRecord {
    JobRecord {
        job_arn: Some(job_arn(&id_of(name))),
        job_name: Some(name.to_owned()),
        output_model_name: Some(format!("{name}-model")),
        output_model_arn: None,
        base_model_arn: Some(base_model_arn()),
        status: Some("InProgress".to_owned()),
        status_details: StatusDetails {
            validation: Some("Completed".to_owned()),
            data_processing: Some("Completed".to_owned()),
            training: Some("InProgress".to_owned()),
        },
        failure_message: None,
        customization_type: Some("FINE_TUNING".to_owned()),
        creation_time: Some(1_793_534_400.0),
        last_modified_time: Some(1_793_538_000.5),
        end_time: None,
        hyper_parameters: BTreeMap::from([
            ("epochCount".to_owned(), "2".to_owned()),
            ("learningRate".to_owned(), "0.00001".to_owned()),
            ("evalStrategy".to_owned(), "steps".to_owned()),
        ]),
        training_loss: Some(1.25),
        validation_losses: vec![Some(1.5), Some(1.75)],
        ..Default::default()
    }
}

/// Fixture builders on top of [`job`].
pub trait JobFixture: Sized {
    fn status(self, status: &str) -> Self;
    fn completed(self) -> Self;
    fn failed(self, message: &str) -> Self;
}

impl JobFixture for JobRecord {
    fn status(mut self, status: &str) -> Self {
        self.status = Some(status.to_owned());
        self
    }

    fn completed(mut self) -> Self {
        self.status = Some("Completed".to_owned());
        self.status_details.training = Some("Completed".to_owned());
        self.end_time = Some(1_793_541_600.0);
        self.output_model_arn = Some(model_arn("abcdefabcdef"));
        self
    }

    fn failed(mut self, message: &str) -> Self {
        self.status = Some("Failed".to_owned());
        self.status_details.training = Some("Failed".to_owned());
        self.end_time = Some(1_793_541_600.0);
        self.failure_message = Some(message.to_owned());
        self
    }
}

/// An active custom model with every field set.
pub fn model(name: &str) -> ModelRecord {
    ModelRecord {
        model_arn: Some(model_arn(&id_of(name))),
        model_name: Some(name.to_owned()),
        job_name: Some(format!("{name}-job")),
        job_arn: Some(job_arn("aaaaaaaaaaaa")),
        base_model_arn: Some(base_model_arn()),
        customization_type: Some("FINE_TUNING".to_owned()),
        model_status: Some("Active".to_owned()),
        failure_message: None,
        creation_time: Some(1_793_545_200.0),
        hyper_parameters: BTreeMap::from([("batchSize".to_owned(), "8".to_owned())]),
        training_loss: Some(0.5),
        validation_losses: vec![Some(0.625)],
        ..Default::default()
    }
}

/// A target listing `jobs` and `models` in [`REGION`].
pub fn target(jobs: &[&str], models: &[&str]) -> Target {
    let list = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let lists = [(Kind::Job, list(jobs)), (Kind::Model, list(models))]
        .into_iter()
        .filter(|(_, ids)| !ids.is_empty())
        .collect();
    Target {
        region: Some(REGION.to_owned()),
        lists,
        ..Target::default()
    }
}

/// Credentials and region for talking to the simulator; nothing from the environment.
pub fn sdk_config() -> SdkConfig {
    bedrock_exporter::bedrock::aws::static_config(REGION, "AKIDTESTTESTTESTTEST", "test-secret")
}

/// Standard retries, 3 attempts, with short backoff so retried faults finish quickly.
pub fn settings(request_timeout: Duration) -> ClientSettings {
    ClientSettings {
        request_timeout,
        retry: RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(5))
            .with_max_backoff(Duration::from_millis(20)),
    }
}

/// A real SDK source pointed at the simulator at `endpoint_url`.
pub async fn aws_source(endpoint_url: &str, request_timeout: Duration) -> AwsSource {
    let target = Target {
        region: Some(REGION.to_owned()),
        endpoint_url: Some(endpoint_url.to_owned()),
        ..Target::default()
    };
    let (source, region) = AwsSource::new(
        &sdk_config(),
        target.client_target(),
        &settings(request_timeout),
    )
    .await
    .expect("client builds");
    assert_eq!(region, REGION);
    source
}

/// Exporter pieces wired as the binary wires them, polling the simulator through the real SDK,
/// with the server on a loopback port. The poller is driven by the test (`poll_all`).
pub struct Harness {
    pub sim: Simulator,
    pub poller: Poller<AwsSource>,
    pub addr: SocketAddr,
    server: Server,
    sim_server: RunningSimulator,
}

impl Harness {
    /// Watches the configured `jobs` and `models`.
    pub async fn start(jobs: &[&str], models: &[&str], timeout: Duration) -> Harness {
        Harness::with_target(target(jobs, models), timeout).await
    }

    /// Watches what `target` configures and discovers (its endpoint is set to the simulator).
    pub async fn with_target(target: Target, timeout: Duration) -> Harness {
        let sim = Simulator::new();
        let sim_server = sim.spawn().await.unwrap();
        let source = aws_source(&sim_server.endpoint_url(), timeout).await;
        let telemetry = Telemetry::new().unwrap();
        let schedule = Schedule {
            interval: Duration::from_secs(60),
            terminal_interval: Duration::from_secs(600),
            concurrency: 4,
            request_timeout: timeout,
        };
        let poller = Poller::new(
            vec![PolledTarget::new(source, REGION, &target)],
            schedule,
            &[],
            telemetry.clone(),
        );
        let server = Server::start(&poller, telemetry, None, Security::plain()).await;
        Harness {
            sim,
            poller,
            addr: server.addr,
            server,
            sim_server,
        }
    }

    pub async fn scrape(&self) -> String {
        let response = get(self.addr, "/metrics").await;
        assert_eq!(response.status, 200);
        response.text()
    }

    pub async fn stop(self) {
        self.server.stop().await;
        self.sim.clear_faults();
        deadline("the simulator to shut down", self.sim_server.shutdown()).await;
    }
}

/// The exporter's server on a loopback port, serving a poller's snapshots.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Serves what `poller` publishes, with `scrapes` as `--web.max-requests` and the web config
    /// of `security`.
    pub async fn start<S: BedrockSource>(
        poller: &Poller<S>,
        telemetry: Telemetry,
        scrapes: Option<ScrapeLimit>,
        security: Security,
    ) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let state = ServerState {
            snapshot: poller.subscribe(),
            telemetry,
            telemetry_path: "/metrics".to_owned(),
            // Nothing reloads here: a request finds the channel closed.
            reload: tokio::sync::mpsc::channel(1).0,
            scrapes,
        };
        let task = tokio::spawn(serve(
            listener,
            state,
            std::sync::Arc::new(security),
            shutdown.clone(),
        ));
        Server {
            addr,
            shutdown,
            task,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        deadline("the server to shut down", self.task)
            .await
            .unwrap();
    }
}

/// An HTTP response as the test saw it on the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = deadline(
        format!("the response to {method} {path} from {addr}"),
        exchange,
    )
    .await;
    parse_response(&raw)
}

pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[]).await
}

/// Parses a response read to the end of the connection.
pub fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a head");
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// The value of the series `name{labels}` in an exposition, if present. `labels` is the exact
/// label set as the encoder writes it (sorted by label name).
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The lines of an exposition that belong to metric `name`, comments excluded.
pub fn series<'a>(exposition: &'a str, name: &str) -> Vec<&'a str> {
    exposition
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

/// Runs `poller` until it has finished `cycles` poll cycles, then stops it.
pub async fn run_cycles<S: BedrockSource>(poller: Poller<S>, cycles: u64) {
    let mut snapshots = poller.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(poller.run(shutdown.clone()));
    deadline(
        format!("{cycles} poll cycles"),
        snapshots.wait_for(|s| s.cycles >= cycles),
    )
    .await
    .unwrap();
    shutdown.cancel();
    deadline("the poller to stop", task).await.unwrap();
}

/// The value of label `name` in a series line, if it has one.
pub fn label<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split(&format!("{name}=\"")).nth(1)?.split('"').next()
}

/// Compares `text` with the golden file at `relative` (from the crate root), showing the lines
/// that differ. `UPDATE_GOLDEN=1` rewrites the file instead.
pub fn assert_golden(text: &str, relative: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    if text != want {
        panic!(
            "output differs from {} (- golden, + output; UPDATE_GOLDEN=1 rewrites it):\n{}",
            path.display(),
            line_diff(&want, text)
        );
    }
}

/// The lines only in `old` (`-`) or only in `new` (`+`), in order, from a longest common
/// subsequence of lines, with the line number in `new` for orientation.
pub fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("{:>5} + {}\n", j + 1, b[j]));
            j += 1;
        } else {
            out.push_str(&format!("{:>5} - {}\n", j + 1, a[i]));
            i += 1;
        }
    }
    out
}

/// `/metrics` after one scheduled poll cycle of `target` against `sim`, through the real SDK.
/// Unlike [`Poller::poll_all`], which reads everything once, a scheduled cycle reads only what
/// is due: a discovered resource whose summary lacks nothing is not read with Get.
pub async fn metrics_after_one_cycle(sim: &Simulator, target: &Target) -> String {
    let sim_server = sim.spawn().await.unwrap();
    let source = aws_source(&sim_server.endpoint_url(), Duration::from_secs(30)).await;
    let telemetry = Telemetry::new().unwrap();
    let schedule = Schedule {
        interval: Duration::from_secs(60),
        terminal_interval: Duration::from_secs(600),
        concurrency: 4,
        request_timeout: Duration::from_secs(30),
    };
    let poller = Poller::new(
        vec![PolledTarget::new(source, REGION, target)],
        schedule,
        &[],
        telemetry.clone(),
    );
    let server = Server::start(&poller, telemetry, None, Security::plain()).await;
    run_cycles(poller, 1).await;
    let text = get(server.addr, "/metrics").await.text();
    server.stop().await;
    deadline("the simulator to shut down", sim_server.shutdown()).await;
    text
}
