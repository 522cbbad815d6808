//! `--web.config.file` and `--web.max-requests` over real sockets: TLS with certificates made
//! here (rcgen) and a rustls client, each client auth type, basic auth on every endpoint, extra
//! headers, rotation without restart, a flood of wrong passwords, the checks of the file, and
//! the limit on scrapes in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bedrock_exporter::exposition::Telemetry;
use bedrock_exporter::fleet::Schedule;
use bedrock_exporter::http::{ScrapeLimit, Security, HANDSHAKE_TIMEOUT};
use bedrock_exporter::poller::{PolledTarget, Poller};
use bedrock_exporter::simulator::Simulator;
use common::exporter::*;
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A directory of test files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "bedrock-exporter-web-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Writes `name` in one step (a new file renamed over the old one), as a Secret update does.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        let staged = self.0.join(format!(".{name}.new"));
        std::fs::write(&staged, text).unwrap();
        std::fs::rename(&staged, &path).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA, a server certificate for `localhost` signed by it, a client certificate signed by it,
/// and a "stranger" client certificate that signs itself; all written to `dir` as PEM.
struct Pki {
    dir: TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "bedrock-exporter test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pki = Pki {
            dir: TempDir::new(),
            ca,
        };
        pki.dir.write("ca.pem", &pki.ca.pem());
        pki.issue("server", ExtendedKeyUsagePurpose::ServerAuth);
        pki.issue("client", ExtendedKeyUsagePurpose::ClientAuth);
        let stranger = rcgen::generate_simple_self_signed(vec!["stranger".to_owned()]).unwrap();
        pki.dir.write("stranger.pem", &stranger.cert.pem());
        pki.dir
            .write("stranger-key.pem", &stranger.signing_key.serialize_pem());
        pki
    }

    /// Issues `name.pem` and `name-key.pem`, for `localhost`, signed by the CA.
    fn issue(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.ca).unwrap();
        // The key first: a rotation is seen by either file changing.
        self.dir
            .write(&format!("{name}-key.pem"), &key.serialize_pem());
        self.dir.write(&format!("{name}.pem"), &cert.pem());
        cert.der().clone()
    }

    /// Writes the web config `web.yml` with `text` and returns its path.
    fn web_config(&self, text: &str) -> PathBuf {
        self.dir.write("web.yml", text)
    }

    /// A client that trusts the CA, speaks `versions`, and shows the certificate `cert` (by
    /// file name stem) if given.
    fn client(
        &self,
        cert: Option<&str>,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let builder = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
        let config = match cert {
            None => builder.with_no_client_auth(),
            Some(name) => {
                use rustls::pki_types::pem::PemObject as _;
                let chain =
                    vec![CertificateDer::from_pem_file(self.path(&format!("{name}.pem"))).unwrap()];
                let key =
                    PrivateKeyDer::from_pem_file(self.path(&format!("{name}-key.pem"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        Arc::new(config)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }
}

const ALL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The TLS part of a web config: the server's certificate and key, and `extra` lines.
fn tls_config(extra: &str) -> String {
    format!("tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n{extra}")
}

/// One request over TLS with `Connection: close`, read to the end; with the certificate the
/// server showed. An error when the handshake or the exchange fails.
async fn tls_request(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(Response, CertificateDer<'static>)> {
    let exchange = tls_exchange(addr, client, method, path, headers);
    deadline(
        format!("the response to {method} {path} over TLS from {addr}"),
        exchange,
    )
    .await
}

async fn tls_exchange(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(Response, CertificateDer<'static>)> {
    let stream = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(client)
        .connect(name, stream)
        .await?;
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw).await?;
    if raw.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok((parse_response(&raw), served))
}

async fn tls_get(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
    path: &str,
) -> std::io::Result<Response> {
    tls_request(addr, client, "GET", path, &[])
        .await
        .map(|(r, _)| r)
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// Starts the demo with the web config at `web` and `args`.
async fn demo_with(web: &Path, args: &[&str]) -> Exporter {
    let web = format!("--web.config.file={}", web.display());
    Exporter::launch(&[&["--demo", web.as_str()], args].concat()).await
}

#[tokio::test]
async fn tls_serves_every_endpoint_and_answers_plain_http_with_400_in_the_clear() {
    let pki = Pki::new();
    let web = pki.web_config(&tls_config(
        "http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n",
    ));
    let mut exporter = demo_with(&web, &[]).await;
    let client = pki.client(None, ALL_VERSIONS);
    // Ready once the first cycle is done, so that /readyz answers 200 too.
    exporter.wait_for_log("poll cycle finished").await;
    for path in ["/", "/metrics", "/healthz", "/readyz"] {
        let response = tls_get(exporter.addr, client.clone(), path).await.unwrap();
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(
            response.header("Strict-Transport-Security"),
            Some("max-age=31536000"),
            "{path}"
        );
        assert_eq!(
            response.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{path}"
        );
    }
    let metrics = tls_get(exporter.addr, client, "/metrics")
        .await
        .unwrap()
        .text();
    assert!(
        metrics.contains("bedrock_customization_job_status{"),
        "{metrics}"
    );

    // Plain HTTP on the TLS port is told so, in the clear, as Go's servers tell it; and
    // nothing else: no metrics, and the connection closes.
    for request in [
        &b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"HEAD / HTTP/1.0\r\n\r\n",
    ] {
        let mut plain = TcpStream::connect(exporter.addr).await.unwrap();
        plain.write_all(request).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), plain.read_to_end(&mut raw))
            .await
            .expect("the plain HTTP answer comes and the connection closes")
            .unwrap();
        let response = parse_response(&raw);
        assert_eq!(response.status, 400, "{}", String::from_utf8_lossy(&raw));
        assert!(raw.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
        assert_eq!(
            response.text(),
            "Client sent an HTTP request to an HTTPS server.\n"
        );
        assert_eq!(response.header("Content-Length"), Some("48"));
    }
}

#[tokio::test]
async fn tls_versions_follow_min_and_max() {
    let pki = Pki::new();
    let tls13_only = &[&rustls::version::TLS13][..];
    let tls12_only = &[&rustls::version::TLS12][..];
    for (bounds, refused, taken) in [
        ("  min_version: TLS13\n", tls12_only, tls13_only),
        ("  max_version: TLS12\n", tls13_only, tls12_only),
    ] {
        let web = pki.web_config(&tls_config(bounds));
        let exporter = demo_with(&web, &[]).await;
        let addr = exporter.addr;
        assert!(
            tls_get(addr, pki.client(None, refused), "/healthz")
                .await
                .is_err(),
            "{bounds}"
        );
        let response = tls_get(addr, pki.client(None, taken), "/healthz")
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{bounds}");
    }
}

#[tokio::test]
async fn each_client_auth_type_takes_the_certificates_it_should() {
    let pki = Pki::new();
    // For each type: with no certificate, with a self-signed one, with one the CA signed.
    let cases = [
        ("NoClientCert", "", [true, true, true]),
        ("RequestClientCert", "", [true, true, true]),
        ("RequireAnyClientCert", "", [false, true, true]),
        (
            "VerifyClientCertIfGiven",
            "  client_ca_file: ca.pem\n",
            [true, false, true],
        ),
        (
            "RequireAndVerifyClientCert",
            "  client_ca_file: ca.pem\n",
            [false, false, true],
        ),
    ];
    for (kind, ca, expected) in cases {
        let web = pki.web_config(&tls_config(&format!("  client_auth_type: {kind}\n{ca}")));
        let exporter = demo_with(&web, &[]).await;
        let mut served = Vec::new();
        for cert in [None, Some("stranger"), Some("client")] {
            let outcome = tls_get(exporter.addr, pki.client(cert, ALL_VERSIONS), "/healthz").await;
            served.push(outcome.is_ok_and(|r| r.status == 200));
        }
        assert_eq!(served, expected, "{kind}: without, self-signed, CA-signed");
    }
}

const PASSWORD: &str = "correct horse battery staple";

/// A web config with basic auth for `prometheus` (a hash of `cost`) and two extra headers.
fn auth_config(cost: u32) -> String {
    let hash = bcrypt::hash(PASSWORD, cost).unwrap();
    format!(
        "basic_auth_users:\n  prometheus: \"{hash}\"\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: default-src 'none'\n"
    )
}

#[tokio::test]
async fn basic_auth_guards_every_endpoint() {
    let dir = TempDir::new();
    let web = dir.write("web.yml", &auth_config(4));
    let mut exporter = demo_with(&web, &[]).await;
    exporter.wait_for_log("poll cycle finished").await;
    let right = basic("prometheus", PASSWORD);
    let wrong = basic("prometheus", "wrong");
    let unknown = basic("grafana", PASSWORD);
    for (method, path) in [
        ("GET", "/metrics"),
        ("HEAD", "/metrics"),
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/-/reload"),
        ("GET", "/no-such-page"),
    ] {
        for credentials in [
            None,
            Some(&wrong),
            Some(&unknown),
            Some(&"Bearer abc".to_owned()),
        ] {
            let headers: Vec<(&str, &str)> = credentials
                .map(|c| ("Authorization", c.as_str()))
                .into_iter()
                .collect();
            let response = request(exporter.addr, method, path, &headers).await;
            assert_eq!(response.status, 401, "{method} {path} with {credentials:?}");
            assert_eq!(
                response.header("WWW-Authenticate"),
                Some("Basic"),
                "{method} {path}"
            );
            assert_eq!(
                response.header("X-Frame-Options"),
                Some("deny"),
                "{method} {path}"
            );
            assert_eq!(
                response.header("Content-Security-Policy"),
                Some("default-src 'none'")
            );
            assert!(!response.text().contains("bedrock_"), "{method} {path}");
        }
        let response = request(exporter.addr, method, path, &[("Authorization", &right)]).await;
        let expected = if path == "/no-such-page" { 404 } else { 200 };
        assert_eq!(
            response.status, expected,
            "{method} {path} with the right password"
        );
        assert_eq!(
            response.header("X-Frame-Options"),
            Some("deny"),
            "{method} {path}"
        );
        assert_eq!(response.header("X-Content-Type-Options"), Some("nosniff"));
    }
    let metrics = request(
        exporter.addr,
        "GET",
        "/metrics",
        &[("Authorization", &right)],
    )
    .await;
    assert!(metrics.text().contains("bedrock_customization_job_status{"));
}

/// 200 wrong passwords at once, each a bcrypt check at cost 10, do not hold up a scraper whose
/// credentials passed before: its scrape is answered while the flood is still being checked.
#[tokio::test]
async fn a_flood_of_wrong_passwords_does_not_starve_scrapes() {
    let dir = TempDir::new();
    let web = dir.write("web.yml", &auth_config(10));
    let mut exporter = demo_with(&web, &[]).await;
    exporter.wait_for_log("poll cycle finished").await;
    let addr = exporter.addr;
    let right = basic("prometheus", PASSWORD);
    let first = request(addr, "GET", "/metrics", &[("Authorization", &right)]).await;
    assert_eq!(first.status, 200);

    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let done = done.clone();
            tokio::spawn(async move {
                let wrong = basic("prometheus", &format!("guess-{i}"));
                let response = request(addr, "GET", "/metrics", &[("Authorization", &wrong)]).await;
                let _ = done.send(response.status);
            })
        })
        .collect();
    // Once a request is turned away as busy, the queue of checks is full.
    for answered in 1.. {
        assert!(answered <= 200, "no check was turned away as busy");
        let status = finished.recv().await.unwrap();
        assert!(status == 401 || status == 503, "{status}");
        if status == 503 {
            break;
        }
    }
    let scrape = request(addr, "GET", "/metrics", &[("Authorization", &right)]).await;
    assert_eq!(scrape.status, 200);
    assert!(scrape.text().contains("bedrock_customization_job_status{"));
    // The scrape came back before the flood was done with.
    let mut statuses = Vec::new();
    while let Ok(status) = finished.try_recv() {
        statuses.push(status);
    }
    assert!(
        statuses.len() < 199,
        "the scrape waited for the flood: {} answers came first",
        statuses.len() + 1
    );
    for task in flood {
        task.await.unwrap();
    }
    drop(done);
    while let Some(status) = finished.recv().await {
        assert!(status == 401 || status == 503, "{status}");
    }
}

/// The next line of `exporter`'s log with `needle`, within a deadline.
async fn logged(exporter: &mut Exporter, needle: &str) -> String {
    tokio::time::timeout(Duration::from_secs(30), exporter.wait_for_log(needle))
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} in the log"))
}

/// Files are looked at in the background (every second): each step waits for the log line
/// that tells the change was handled, within a deadline, and only then asks the server. The
/// line of a success comes after the new config is in force.
#[tokio::test]
async fn certificates_and_users_rotate_without_a_restart() {
    let pki = Pki::new();
    let web = pki.web_config(&tls_config(""));
    let mut exporter = demo_with(&web, &[]).await;
    let client = pki.client(None, ALL_VERSIONS);
    let addr = exporter.addr;
    let cert_now = |client: Arc<ClientConfig>| async move {
        let (response, cert) = tls_request(addr, client, "GET", "/healthz", &[])
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        cert
    };
    let first = cert_now(client.clone()).await;
    // The key is written before the certificate: the watcher may see the key alone, fail on
    // the pair, and succeed at its next look. Either way a success ends the rotation.
    let second = pki.issue("server", ExtendedKeyUsagePurpose::ServerAuth);
    assert_ne!(first, second);
    logged(&mut exporter, "web config reloaded").await;
    assert_eq!(
        cert_now(client.clone()).await,
        second,
        "the new certificate is served"
    );

    // A key that does not match the certificate: the pair in force stays, and it is logged.
    let stray = KeyPair::generate().unwrap();
    pki.dir.write("server-key.pem", &stray.serialize_pem());
    let line = logged(&mut exporter, "web config reload failed").await;
    assert!(line.contains("tls_server_config.key_file"), "{line}");
    assert_eq!(cert_now(client.clone()).await, second);
    let third = pki.issue("server", ExtendedKeyUsagePurpose::ServerAuth);
    logged(&mut exporter, "web config reloaded").await;
    assert_eq!(cert_now(client.clone()).await, third);

    // Users and headers come from the same file.
    pki.web_config(&format!("{}{}", tls_config(""), auth_config(4)));
    logged(&mut exporter, "web config reloaded").await;
    let denied = tls_get(addr, client.clone(), "/healthz").await.unwrap();
    assert_eq!(denied.status, 401);
    let right = basic("prometheus", PASSWORD);
    let (allowed, _) = tls_request(
        addr,
        client.clone(),
        "GET",
        "/healthz",
        &[("Authorization", &right)],
    )
    .await
    .unwrap();
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("X-Frame-Options"), Some("deny"));

    // Turning TLS off takes a restart: the config in force stays.
    pki.web_config(&auth_config(4));
    let line = logged(&mut exporter, "web config reload failed").await;
    assert!(
        line.contains("turning TLS on or off takes a restart"),
        "{line}"
    );
    let still = tls_get(addr, client, "/healthz").await.unwrap();
    assert_eq!(still.status, 401);
}

/// Connections that never finish their handshake hold up nobody, and are closed after the
/// handshake timeout (on paused time).
#[tokio::test(start_paused = true)]
async fn a_stalled_handshake_holds_up_nobody_and_times_out() {
    let pki = Pki::new();
    let web = pki.web_config(&tls_config(""));
    let sim = Simulator::new();
    let poller = Poller::new(
        vec![PolledTarget::new(sim, REGION, &target(&[], &[]))],
        schedule(),
        &[],
        Telemetry::new().unwrap(),
    );
    let server = Server::start(
        &poller,
        Telemetry::new().unwrap(),
        None,
        Security::load(&web).unwrap(),
    )
    .await;
    let start = tokio::time::Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        // The start of a TLS record, and then nothing.
        stream.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        stalled.push(stream);
    }
    let scrape = tls_get(server.addr, pki.client(None, ALL_VERSIONS), "/healthz");
    let response = tokio::time::timeout(HANDSHAKE_TIMEOUT / 2, scrape)
        .await
        .expect("answered while the others stall")
        .unwrap();
    assert_eq!(response.status, 200);
    for mut stream in stalled {
        let mut rest = Vec::new();
        // Closed by the server: the read ends (or fails on a reset).
        let read = tokio::time::timeout(10 * HANDSHAKE_TIMEOUT, stream.read_to_end(&mut rest));
        assert!(read.await.is_ok(), "still open after {:?}", start.elapsed());
        assert!(rest.is_empty());
    }
    assert!(
        start.elapsed() >= HANDSHAKE_TIMEOUT,
        "closed at {:?}",
        start.elapsed()
    );
    server.stop().await;
}

fn schedule() -> Schedule {
    Schedule {
        interval: Duration::from_secs(60),
        terminal_interval: Duration::from_secs(600),
        concurrency: 4,
        request_timeout: Duration::from_secs(5),
    }
}

/// `--web.max-requests` counts scrapes being made, not clients being slow: scrapes whose clients
/// read nothing of a response far larger than the socket buffers (as many as the limit) leave
/// their places once their responses are ready to send, and the next scrape gets 200 at once.
/// Before, they kept them until `SEND_STALL_TIMEOUT` (30 s) and every scraper got 503.
#[tokio::test]
async fn scrapes_whose_clients_never_read_leave_their_places() {
    const LIMIT: usize = 2;
    let sim = Simulator::new();
    let names: Vec<String> = (0..4000).map(|i| format!("job-{i:05}")).collect();
    for name in &names {
        sim.put_job(job(name));
    }
    let jobs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut poller = Poller::new(
        vec![PolledTarget::new(sim, REGION, &target(&jobs, &[]))],
        schedule(),
        &[],
        Telemetry::new().unwrap(),
    );
    assert!(poller.poll_all().await);
    // More than the largest send buffer (tcp_wmem's 4 MiB) and a tiny receive window hold: the
    // server cannot get it all out while the client reads nothing.
    let size = poller.snapshot().text.len();
    assert!(size > 6 << 20, "the exposition is only {size} bytes");
    let server = Server::start(
        &poller,
        Telemetry::new().unwrap(),
        ScrapeLimit::new(LIMIT),
        Security::plain(),
    )
    .await;

    let mut unread = Vec::new();
    for _ in 0..LIMIT {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = deadline("connect", socket.connect(server.addr))
            .await
            .unwrap();
        let head = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut status = [0u8; 12];
        deadline("the head of an unread scrape", async {
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.read_exact(&mut status).await.unwrap();
        })
        .await;
        assert_eq!(&status, b"HTTP/1.1 200");
        unread.push(stream);
    }

    let scrape = get(server.addr, "/metrics").await;
    assert_eq!(
        scrape.status,
        200,
        "{}",
        scrape.text().lines().next().unwrap_or("")
    );
    assert_eq!(
        scrape.header("Content-Length"),
        Some(scrape.body.len().to_string().as_str())
    );
    drop(unread);
    server.stop().await;
}

#[tokio::test]
async fn config_check_reports_every_problem_of_both_files() {
    let pki = Pki::new();
    let config = write_config("http://127.0.0.1:9", &["job-1"]);
    let check = |web: PathBuf| {
        let config = format!("--config.file={}", config.display());
        let web = format!("--web.config.file={}", web.display());
        async move { output(command().args(["--config.check", &config, &web])).await }
    };

    let web = pki.web_config(&format!(
        "{}{}",
        tls_config("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"),
        auth_config(4)
    ));
    let out = check(web).await;
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("web.yml: valid: TLS (TLS12 to TLS13, client certificates: RequireAndVerifyClientCert); basic auth for 1 user(s); 2 extra header(s)"), "{stdout}");

    let web = pki.web_config(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  client_allowed_sans: [a]\nrate_limit:\n  interval: 1s\nbasic_auth_users:\n  alice: plaintext\n  bob: \"$2y$10$tooshort\"\nhttp_server_config:\n  http2: true\n",
    );
    let out = check(web).await;
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for problem in [
        "rate_limit: is not supported",
        "tls_server_config.cipher_suites: is not supported",
        "tls_server_config.client_allowed_sans: is not supported",
        "basic_auth_users.alice: is not a bcrypt hash",
        "basic_auth_users.bob: is not a bcrypt hash",
        "http_server_config.http2: true is not supported",
    ] {
        assert!(stderr.contains(problem), "{problem:?} in:\n{stderr}");
    }
    assert!(
        !stderr.contains("plaintext"),
        "a secret is echoed:\n{stderr}"
    );
    // The main config was checked too.
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid: 1 target(s)"));

    // Files that do not load: each named with its key.
    let stray = KeyPair::generate().unwrap();
    pki.dir.write("stray-key.pem", &stray.serialize_pem());
    for (yaml, expected) in [
        ("tls_server_config:\n  cert_file: missing.pem\n  key_file: server-key.pem\n", "tls_server_config.cert_file: "),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: stray-key.pem\n", "tls_server_config.key_file: "),
        ("tls_server_config:\n  cert_file: server-key.pem\n  key_file: server-key.pem\n", "tls_server_config.cert_file: "),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: server-key.pem\n", "tls_server_config.client_ca_file: "),
    ] {
        let out = check(pki.web_config(yaml)).await;
        assert_exit(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
        // Without --config.check, the exporter does not start on it either.
        let web = format!("--web.config.file={}", pki.path("web.yml").display());
        let out = output(command().args(["--demo", &web])).await;
        assert_exit(&out, 2);
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected));
    }
}
