//! "HTTP under stress" (DESIGN.md) over real sockets: clients that half-close, request heads
//! over the limit, and a thousand connections held open idle, slow or never reading beside a
//! well-behaved scraper.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::http::{
    raise_open_files_limit, Security, HEADER_READ_TIMEOUT, MAX_HEADER_SIZE,
};
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::simulator::Simulator;
use common::exporter::{wait_for_line, BIN};
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

/// How long any wait on a socket may take before the test fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(30);

/// The server in this process, serving a snapshot of a few jobs.
async fn server() -> Server {
    let sim = Simulator::new();
    for name in ["job-1", "job-2", "job-3"] {
        sim.put_job(job(name));
    }
    let mut poller = Poller::new(
        vec![PolledTarget::new(
            sim,
            REGION,
            &target(&["job-1", "job-2", "job-3"], &[]),
        )],
        Schedule {
            interval: Duration::from_secs(60),
            terminal_interval: Duration::from_secs(600),
            concurrency: 4,
            request_timeout: Duration::from_secs(5),
        },
        &[],
        Telemetry::new().unwrap(),
    );
    assert!(poller.poll_all().await);
    Server::start(&poller, Telemetry::new().unwrap(), None, Security::plain()).await
}

/// Sends `GET /metrics`, shuts the write side, and reads to the end.
async fn half_closed_scrape(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    stream.shutdown().await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    Ok(raw)
}

/// A response read to the end is whole: a 200 whose body is as long as its Content-Length.
fn is_whole_200(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let response = parse_response(raw);
    let length = response
        .header("Content-Length")
        .and_then(|l| l.parse::<usize>().ok());
    response.status == 200 && length == Some(raw.len() - split - 4) && length > Some(0)
}

/// 200 clients at once send their request and shut their write side (as `curl` piped from a
/// file, or a load balancer's health check, may): every one still gets the whole response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_closes_its_write_side_still_gets_the_whole_response() {
    let server = server().await;
    let addr = server.addr;
    let clients: Vec<_> = (0..200)
        .map(|_| tokio::spawn(half_closed_scrape(addr)))
        .collect();
    let mut answered = 0;
    let mut failures = Vec::new();
    for client in clients {
        let raw = tokio::time::timeout(DEADLINE, client)
            .await
            .expect("every half-closed client is answered or closed in time")
            .unwrap();
        match raw {
            Ok(raw) if is_whole_200(&raw) => answered += 1,
            Ok(raw) => failures.push(format!("{} bytes", raw.len())),
            Err(error) => failures.push(error.to_string()),
        }
    }
    assert_eq!(answered, 200, "not answered in full: {failures:?}");
    server.stop().await;
}

/// A request head longer than the limit is refused as soon as the limit is passed (431, or the
/// connection closed), not held while the client takes its time over the rest (on paused time:
/// without the limit, it is held until the header timeout).
#[tokio::test(start_paused = true)]
async fn a_request_head_over_the_limit_is_refused_without_waiting_for_the_rest() {
    let server = server().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
    head.resize(MAX_HEADER_SIZE + 4096, b'a');
    let start = tokio::time::Instant::now();
    // Then nothing: the head never ends.
    stream.write_all(&head).await.unwrap();
    let mut raw = Vec::new();
    // Closed by the server: the read ends (or fails on a reset, the rest being unread).
    let read = tokio::time::timeout(10 * HEADER_READ_TIMEOUT, stream.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "still open after {:?}", start.elapsed());
    assert!(
        start.elapsed() < HEADER_READ_TIMEOUT,
        "held until the header timeout ({:?})",
        start.elapsed()
    );
    assert!(
        raw.is_empty() || raw.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    server.stop().await;
}

/// A thousand connections held open (idle without a byte, sending a head a byte at a time, or
/// having asked for /metrics and reading nothing) beside a scraper: the scrape gets its whole
/// answer. The exporter is the binary, started with a soft limit on open files below the
/// connections held and a hard one above them (as service managers give: systemd's default is
/// 1,024 and 524,288; 512 here, so that the demo's own two dozen files do not decide it): it
/// raises the soft limit, as Go's runtime does, or those connections would leave it no
/// descriptor to accept the scrape with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_slow_and_unread_connections_do_not_stop_a_scrape() {
    // This process holds the thousand client ends.
    let own = raise_open_files_limit();
    assert!(
        own.is_none_or(|limit| limit > 1_200),
        "this test needs more than 1,200 open files; the hard limit is {own:?}"
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -S -n 512 && exec "$0" "$@""#)
        .arg(BIN)
        .args([
            "--demo",
            "--web.listen-address=127.0.0.1:0",
            "--log.level=debug",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "HOME",
            std::env::temp_dir().join("bedrock-exporter-test-no-home"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(
        DEADLINE,
        wait_for_line(&mut log, "message=\"serving metrics\""),
    )
    .await
    .expect("the exporter serves");
    let addr: SocketAddr = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .expect("address in log")
        .parse()
        .unwrap();
    tokio::time::timeout(DEADLINE, wait_for_line(&mut log, "poll cycle finished"))
        .await
        .expect("the first cycle finishes");
    // Read on, so that a full pipe never stalls the exporter's logging.
    let logged = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = log.next_line().await {
            lines.push(line);
        }
        lines
    });

    let held = tokio::time::timeout(DEADLINE, async {
        let mut idle = Vec::new();
        let mut slow = Vec::new();
        let mut unread = Vec::new();
        for i in 0..1_000 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            match i % 3 {
                0 => idle.push(stream),
                1 => slow.push(stream),
                _ => {
                    stream
                        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                        .await
                        .unwrap();
                    unread.push(stream);
                }
            }
        }
        (idle, slow, unread)
    })
    .await
    .expect("a thousand connections are made: the exporter accepts them");
    let (idle, slow, unread) = held;

    // The slow ones send a head that never ends, a byte each every 100 ms, until the scrape
    // is done.
    let dribble = tokio::spawn(async move {
        let mut slow = slow;
        let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for sent in 0.. {
            tick.tick().await;
            let byte = head.get(sent).copied().unwrap_or(b'a');
            for stream in &mut slow {
                // A connection the server closed is no longer slow; the others go on.
                let _ = stream.write_all(&[byte]).await;
            }
        }
        slow
    });

    // The idle ones are let go after the header timeout: an answer that came only once they
    // were would not be an answer beside them.
    let scrape = tokio::time::timeout(HEADER_READ_TIMEOUT / 2, get(addr, "/metrics"))
        .await
        .expect("the scrape is answered beside a thousand held connections");
    assert_eq!(scrape.status, 200);
    assert_eq!(
        scrape.header("Content-Length"),
        Some(scrape.body.len().to_string().as_str())
    );
    assert!(scrape.text().contains("bedrock_customization_job_status{"));

    dribble.abort();
    assert!(dribble.await.unwrap_err().is_cancelled());
    drop((idle, unread));
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.await.unwrap().success());
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the exporter stops")
        .unwrap();
    let lines = logged.await.unwrap();
    assert_eq!(status.code(), Some(0), "{}", lines.join("\n"));
}
