//! TLS for the server: a rustls server config built from the web config's `tls_server_config`,
//! on the aws-lc-rs provider the AWS SDK already brings, with client certificates checked as
//! Go's `tls.ClientAuthType` (and so exporter-toolkit) has them; and the start of a connection,
//! where plain HTTP sent to the TLS port is answered in the clear, as Go's servers answer it.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::config::web::{ClientAuth, TlsSettings, TlsVersion};
use crate::config::Problem;

/// Makes aws-lc-rs the process's rustls provider. Called once at start: with more than one
/// provider compiled in (another crate may enable ring), rustls refuses to pick one itself.
pub fn install_provider() {
    // An error means one is installed already, which is as good.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The answer to plain HTTP on the TLS port: Go's `net/http` words (so a client, or a person
/// with `curl http://`, sees what went wrong), sent unencrypted.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
X-Content-Type-Options: nosniff\r\n\
Connection: close\r\n\
Content-Length: 48\r\n\
\r\n\
Client sent an HTTP request to an HTTPS server.\n";

/// After the plain HTTP answer, how long the rest of the client's request is read and thrown
/// away before the connection closes. Closing with unread bytes would send a reset, which can
/// destroy the answer before the client reads it.
const PLAIN_HTTP_LINGER: Duration = Duration::from_secs(1);

/// How a connection on the TLS port started.
#[derive(Debug)]
pub enum Accepted {
    /// The handshake succeeded.
    Tls(Box<TlsStream<TcpStream>>),
    /// The client spoke plain HTTP; it has had its 400 and the connection is done.
    PlainHttp,
}

/// Starts a connection on the TLS port: looks at its first byte without taking it, then runs
/// the handshake with `config` (a TLS record starts with 0x16, a handshake), or, when the
/// client spoke plain HTTP (a request starts with its method, ASCII letters), answers it in
/// the clear with 400 and closes. Anything else goes to rustls, which refuses it. The caller
/// bounds the time this takes.
pub async fn accept(stream: TcpStream, config: Arc<ServerConfig>) -> io::Result<Accepted> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if first[0].is_ascii_alphabetic() {
        answer_plain_http(stream).await?;
        return Ok(Accepted::PlainHttp);
    }
    let stream = tokio_rustls::TlsAcceptor::from(config)
        .accept(stream)
        .await?;
    Ok(Accepted::Tls(Box::new(stream)))
}

/// Sends [`PLAIN_HTTP_ANSWER`], ends the output, and reads what the client still sends for up
/// to [`PLAIN_HTTP_LINGER`], so that the answer is not lost to a reset.
async fn answer_plain_http(mut stream: TcpStream) -> io::Result<()> {
    stream.write_all(PLAIN_HTTP_ANSWER).await?;
    stream.shutdown().await?;
    let drain = async {
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    // A client that neither stops sending nor closes is let go at the end of the linger.
    let _ = tokio::time::timeout(PLAIN_HTTP_LINGER, drain).await;
    Ok(())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server config of `settings`: its certificate and key, the client certificates it asks
/// for, the TLS versions it allows, and HTTP/1.1 by ALPN. An error names the key and file.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, Problem> {
    let provider = provider();
    let certs = certificates("cert_file", &settings.cert_file)?;
    let key_pem = read_pem("key_file", &settings.key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        file_error(
            "key_file",
            &settings.key_file,
            format!("no PEM private key: {e}"),
        )
    })?;
    let verifier = client_verifier(settings, &provider)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (settings.min_version..=settings.max_version).contains(v))
    .map(|(_, version)| version)
    .collect();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| problem("", e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            problem(
                "key_file",
                format!(
                    "{} is not the key of the certificate in {}: {e}",
                    settings.key_file.display(),
                    settings.cert_file.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn problem(key: &str, message: String) -> Problem {
    Problem {
        path: if key.is_empty() {
            "tls_server_config".to_owned()
        } else {
            format!("tls_server_config.{key}")
        },
        message,
    }
}

fn file_error(key: &str, path: &Path, message: impl std::fmt::Display) -> Problem {
    problem(key, format!("{}: {message}", path.display()))
}

/// The most a certificate or key file may hold: a chain of ten 4096-bit certificates is
/// under 20 KiB, so 1 MiB refuses only what is not one.
const PEM_MAX: u64 = 1 << 20;

/// Reads a PEM file, refusing it unread past [`PEM_MAX`] (an endless device, a wrong path).
fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, Problem> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(PEM_MAX + 1).read_to_end(&mut bytes))
        .map_err(|e| file_error(key, path, e))?;
    if bytes.len() as u64 > PEM_MAX {
        return Err(file_error(
            key,
            path,
            format!("is larger than {PEM_MAX} bytes; a PEM file is far smaller"),
        ));
    }
    Ok(bytes)
}

fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let pem = read_pem(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, Problem> {
    let any = |mandatory| -> Arc<dyn ClientCertVerifier> {
        Arc::new(AnyClientCert {
            mandatory,
            algorithms: provider.signature_verification_algorithms,
        })
    };
    Ok(match settings.client_auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert => any(false),
        ClientAuth::RequireAnyClientCert => any(true),
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            // The config check makes sure a verifying type has a CA file.
            let path = settings.client_ca_file.as_deref().ok_or_else(|| {
                problem(
                    "client_ca_file",
                    "required to verify client certificates".to_owned(),
                )
            })?;
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certificates("client_ca_file", path)?);
            if added == 0 {
                return Err(file_error(
                    "client_ca_file",
                    path,
                    "holds no usable CA certificate",
                ));
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if settings.client_auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| file_error("client_ca_file", path, e))?
        }
    })
}

/// `RequestClientCert` and `RequireAnyClientCert`: any certificate is taken without checking
/// who issued it, but the client must still prove it holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endless device named as a certificate or key is refused after 1 MiB, not read until
    /// memory runs out.
    #[test]
    fn an_endless_pem_file_is_refused() {
        let settings = |cert: &str, key: &str| TlsSettings {
            cert_file: cert.into(),
            key_file: key.into(),
            client_auth: ClientAuth::NoClientCert,
            client_ca_file: None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
        };
        let error = server_config(&settings("/dev/zero", "/dev/null")).unwrap_err();
        assert_eq!(error.path, "tls_server_config.cert_file");
        assert!(
            error.message.contains("larger than 1048576 bytes"),
            "{error}"
        );
        let error = read_pem("key_file", Path::new("/dev/zero")).unwrap_err();
        assert_eq!(error.path, "tls_server_config.key_file");
    }
}
