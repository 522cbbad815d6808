//! "HTTP under stress" (DESIGN.md) over real sockets: clients that half-close, and connections
//! held open idle, slow or never reading beside a well-behaved scraper.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bedrock_exporter::bedrock::simulator::Simulator;
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::poller::{PolledTarget, Poller};
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::http::Security;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
