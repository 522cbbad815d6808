//! The binary as tests run it: an environment that reaches nothing but the simulator, config
//! files, and a running exporter whose log the test reads.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use bedrock_exporter::simulator::{Fault, RunningSimulator, Simulator};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use super::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_bedrock-exporter");

/// The binary with an environment that reaches nothing but the simulator.
pub fn command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTESTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // No ~/.aws to read: a home that does not exist.
        .env(
            "HOME",
            std::env::temp_dir().join("bedrock-exporter-test-no-home"),
        )
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A config file, removed when dropped.
pub struct TempConfig(pub PathBuf);

impl std::ops::Deref for TempConfig {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes a config polling `jobs` at `endpoint` to a fresh file.
pub fn write_config(endpoint: &str, jobs: &[&str]) -> TempConfig {
    let jobs: Vec<String> = jobs.iter().map(|j| format!("      - {j}\n")).collect();
    config_file(&format!(
        "interval: 60s\nrequest_timeout: 30s\ntargets:\n  - region: {REGION}\n    endpoint_url: {endpoint}\n    jobs:\n{}",
        jobs.concat()
    ))
}

/// Writes `text` to a fresh config file.
pub fn config_file(text: &str) -> TempConfig {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "bedrock-exporter-test-{}-{}.yaml",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).unwrap();
    TempConfig(path)
}

/// A running exporter and its log.
pub struct Exporter {
    pub child: Child,
    pub log: Lines<BufReader<ChildStderr>>,
    pub addr: SocketAddr,
}

impl Exporter {
    pub async fn start(config: &std::path::Path) -> Exporter {
        Exporter::start_with(config, &[]).await
    }

    pub async fn start_with(config: &std::path::Path, args: &[&str]) -> Exporter {
        let config = format!("--config.file={}", config.display());
        Exporter::launch(&[&[config.as_str()], args].concat()).await
    }

    /// Starts the binary on `config` with more environment variables.
    pub async fn start_env(config: &std::path::Path, env: &[(&str, &str)]) -> Exporter {
        let config = format!("--config.file={}", config.display());
        Exporter::launch_env(&[config.as_str()], env).await
    }

    /// Starts the binary with `args` (and a loopback listen address, debug logs), and waits
    /// until it serves.
    pub async fn launch(args: &[&str]) -> Exporter {
        Exporter::launch_env(args, &[]).await
    }

    async fn launch_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let mut child = command()
            .envs(env.iter().copied())
            .arg("--web.listen-address=127.0.0.1:0")
            .arg("--log.level=debug")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
        let line = wait_for_line(&mut log, "message=\"serving metrics\"").await;
        let addr = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("address="))
            .expect("address in log")
            .parse()
            .unwrap();
        Exporter { child, log, addr }
    }

    pub async fn wait_for_log(&mut self, needle: &str) -> String {
        wait_for_line(&mut self.log, needle).await
    }

    /// Sends SIGTERM.
    pub async fn terminate(&self) {
        self.signal("TERM").await;
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub async fn signal(&self, name: &str) {
        let pid = self.child.id().unwrap().to_string();
        let mut kill = Command::new("kill");
        kill.args([&format!("-{name}"), &pid]).kill_on_drop(true);
        let status = deadline(format!("kill -{name} {pid}"), kill.status())
            .await
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and requires a clean exit (0).
    pub async fn stop(self) {
        self.terminate().await;
        assert_eq!(self.finish().await.0, Some(0));
    }

    /// Reads the rest of the log and waits for the exit code.
    pub async fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let mut rest = Vec::new();
        let exit = within(DEADLINE, async {
            while let Some(line) = self.log.next_line().await.unwrap() {
                rest.push(line);
            }
            self.child.wait().await.unwrap()
        })
        .await;
        match exit {
            Some(status) => (status.code(), rest),
            // Dropping the child kills it (kill_on_drop).
            None => panic!(
                "timed out after {DEADLINE:?} waiting for the exporter to exit; its log since:\n{}",
                rest.join("\n")
            ),
        }
    }
}

pub async fn wait_for_line(log: &mut Lines<BufReader<ChildStderr>>, needle: &str) -> String {
    let mut seen = Vec::new();
    let found = within(DEADLINE, async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains(needle) {
                return Some(line);
            }
            seen.push(line);
        }
        None
    })
    .await;
    match found {
        Some(Some(line)) => line,
        Some(None) => panic!("log ended without {needle:?}:\n{}", seen.join("\n")),
        None => panic!(
            "timed out after {DEADLINE:?} waiting for a log line with {needle:?}; the log so far:\n{}",
            seen.join("\n")
        ),
    }
}

/// Runs `cmd` to its exit and collects its output, with a [`DEADLINE`] (the child is killed
/// when the test fails or is killed: [`command`] sets `kill_on_drop`).
pub async fn output(cmd: &mut Command) -> std::process::Output {
    let std = cmd.as_std();
    let program = std::path::Path::new(std.get_program());
    let what = format!(
        "{} {:?} to exit",
        program.file_name().unwrap_or_default().to_string_lossy(),
        std.get_args().collect::<Vec<_>>()
    );
    deadline(what, cmd.output()).await.unwrap()
}

/// A simulator holding every answer, so the first cycle cannot finish until it is released.
pub async fn held_simulator() -> (Simulator, RunningSimulator) {
    let (sim, server) = simulator_with_job_1().await;
    sim.inject(None, Fault::Hold);
    (sim, server)
}

/// A simulator serving one running job, `job-1`.
pub async fn simulator_with_job_1() -> (Simulator, RunningSimulator) {
    let sim = Simulator::new();
    sim.put_job(job("job-1"));
    let server = sim.spawn().await.unwrap();
    (sim, server)
}

/// Asserts a finished run's exit code, showing its stderr if it differs.
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
