//! The web configuration file (`--web.config.file`), in the format of the Prometheus
//! exporter-toolkit, so that the file a team uses for node_exporter works here: TLS, client
//! certificates, extra response headers, basic auth users.
//!
//! Checked like the main config: every problem at once, each with its path. A key of the format
//! that this exporter does not implement is an error that names it, never silently ignored.
//! Relative file paths are relative to the web config file's directory, as exporter-toolkit has
//! them. Whether the certificate and key files really hold a matching pair is checked where they
//! are used ([`crate::http::tls`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::check::{describe, join, Checker};
use super::ConfigError;

/// A loaded and checked web config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebConfig {
    /// Serve HTTPS; `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Headers added to every response.
    pub headers: Vec<(String, String)>,
    /// User name to bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_auth: ClientAuth,
    pub client_ca_file: Option<PathBuf>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
}

/// `client_auth_type`, as Go's `tls.ClientAuthType` has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    /// Asks for a certificate; takes the client without one, and any certificate unverified.
    RequestClientCert,
    /// Requires a certificate, any, unverified.
    RequireAnyClientCert,
    /// Verifies a certificate against `client_ca_file` if the client sends one.
    VerifyClientCertIfGiven,
    /// Requires a certificate that verifies against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Whether certificates are verified against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// `min_version` and `max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// The name in the web config.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "tls_server_config",
    "http_server_config",
    "basic_auth_users",
];
const TOP_UNSUPPORTED: &[&str] = &["rate_limit"];
const TLS_KEYS: &[&str] = &[
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
];
/// exporter-toolkit keys this exporter does not implement: rustls picks cipher suites and key
/// exchange groups itself, and certificates come from files only.
const TLS_UNSUPPORTED: &[&str] = &[
    "cert",
    "key",
    "client_ca",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
];
const HTTP_KEYS: &[&str] = &["headers", "http2"];

/// Every key the web config takes, as a path (`tls_server_config.cert_file`); not the keys of
/// the format this exporter refuses. docs/security.md lists the same keys; tests/docs.rs holds
/// the two in step.
pub fn key_paths() -> Vec<String> {
    let mut paths: Vec<String> = TOP_KEYS.iter().map(|k| k.to_string()).collect();
    paths.extend(TLS_KEYS.iter().map(|k| format!("tls_server_config.{k}")));
    paths.extend(HTTP_KEYS.iter().map(|k| format!("http_server_config.{k}")));
    paths
}
/// The headers exporter-toolkit lets a web config set, with the values it allows (none: any).
const HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

impl WebConfig {
    /// Reads and checks the web config file at `path`, within the bounds of [`super::yaml`].
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        let text = super::yaml::read_file(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        WebConfig::parse(&text, dir).map_err(|problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }

    /// Parses and checks YAML text; relative paths are taken from `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, Vec<super::Problem>> {
        let value = super::yaml::parse(text).map_err(|problem| vec![problem])?;
        let mut checker = Checker::default();
        let config = checker.web_config(&value, dir);
        if checker.problems.is_empty() {
            Ok(config)
        } else {
            Err(checker.problems)
        }
    }
}

impl Checker {
    /// The entries of a mapping, with keys of the format that are not implemented reported as
    /// such, and unknown keys as unknown.
    fn web_mapping<'v>(
        &mut self,
        path: &str,
        value: &'v Value,
        known: &[&str],
        unsupported: &[&str],
    ) -> Option<std::collections::HashMap<&'v str, &'v Value>> {
        let all: Vec<&str> = known.iter().chain(unsupported).copied().collect();
        let mut map = self.mapping(path, value, &all)?;
        for key in unsupported {
            if map.remove(*key).is_some() {
                self.problem(
                    join(path, key),
                    "is not supported by bedrock-exporter: remove it (see docs/security.md)",
                );
            }
        }
        Some(map)
    }

    fn web_config(&mut self, value: &Value, dir: &Path) -> WebConfig {
        let mut config = WebConfig::default();
        if value.is_null() {
            return config;
        }
        let Some(map) = self.web_mapping("", value, TOP_KEYS, TOP_UNSUPPORTED) else {
            return config;
        };
        if let Some(v) = map.get("tls_server_config") {
            config.tls = self.tls_settings("tls_server_config", v, dir);
        }
        if let Some(v) = map.get("http_server_config") {
            config.headers = self.http_settings("http_server_config", v);
        }
        if let Some(v) = map.get("basic_auth_users") {
            config.users = self.users("basic_auth_users", v);
        }
        config
    }

    fn tls_settings(&mut self, path: &str, value: &Value, dir: &Path) -> Option<TlsSettings> {
        let map = self.web_mapping(path, value, TLS_KEYS, TLS_UNSUPPORTED)?;
        let mut file = |key: &str, required: bool| -> Option<PathBuf> {
            let p = join(path, key);
            match map.get(key) {
                None if required => {
                    self.problem(p, "required with tls_server_config");
                    None
                }
                None => None,
                Some(v) => match self.string(&p, v) {
                    Some("") => {
                        self.problem(p, "is empty");
                        None
                    }
                    Some(file) => Some(dir.join(file)),
                    None => None,
                },
            }
        };
        let cert_file = file("cert_file", true);
        let key_file = file("key_file", true);
        let client_ca_file = file("client_ca_file", false);
        let client_auth = match map.get("client_auth_type") {
            None => ClientAuth::NoClientCert,
            Some(v) => {
                let p = join(path, "client_auth_type");
                match self.string(&p, v)? {
                    "" | "NoClientCert" => ClientAuth::NoClientCert,
                    "RequestClientCert" => ClientAuth::RequestClientCert,
                    // The second name is exporter-toolkit's older one.
                    "RequireAnyClientCert" | "RequireClientCert" => {
                        ClientAuth::RequireAnyClientCert
                    }
                    "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
                    "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
                    other => {
                        self.problem(p, format!("{other:?} is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"));
                        return None;
                    }
                }
            }
        };
        match (client_auth.verifies(), &client_ca_file) {
            (true, None) => self.problem(
                join(path, "client_ca_file"),
                "required with client_auth_type VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            ),
            (false, Some(_)) => self.problem(
                join(path, "client_ca_file"),
                "is set, but client_auth_type does not verify client certificates (VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
            ),
            _ => {}
        }
        let mut version = |key: &str, default: TlsVersion| -> TlsVersion {
            let Some(v) = map.get(key) else {
                return default;
            };
            let p = join(path, key);
            match self.string(&p, v) {
                Some("TLS12") => TlsVersion::Tls12,
                Some("TLS13") => TlsVersion::Tls13,
                Some(old @ ("TLS10" | "TLS11")) => {
                    self.problem(p, format!("{old} is not supported: TLS12 or TLS13"));
                    default
                }
                Some(other) => {
                    self.problem(p, format!("{other:?} is not a TLS version: TLS12 or TLS13"));
                    default
                }
                None => default,
            }
        };
        let min_version = version("min_version", TlsVersion::Tls12);
        let max_version = version("max_version", TlsVersion::Tls13);
        if min_version > max_version {
            self.problem(join(path, "min_version"), "is above max_version");
        }
        Some(TlsSettings {
            cert_file: cert_file?,
            key_file: key_file?,
            client_auth,
            client_ca_file,
            min_version,
            max_version,
        })
    }

    fn http_settings(&mut self, path: &str, value: &Value) -> Vec<(String, String)> {
        let Some(map) = self.web_mapping(path, value, HTTP_KEYS, &[]) else {
            return Vec::new();
        };
        if let Some(v) = map.get("http2") {
            // exporter-toolkit turns HTTP/2 on by default; this exporter serves HTTP/1.1 only.
            if v.as_bool() != Some(false) {
                self.problem(
                    join(path, "http2"),
                    format!("{} is not supported: bedrock-exporter serves HTTP/1.1 (set false or remove it)", describe(v)),
                );
            }
        }
        let mut headers = Vec::new();
        let Some(v) = map.get("headers") else {
            return headers;
        };
        let path = join(path, "headers");
        let Value::Mapping(entries) = v else {
            self.problem(
                path,
                format!(
                    "expected a mapping of header names to values, got {}",
                    describe(v)
                ),
            );
            return headers;
        };
        for (name, value) in entries {
            let (Some(name), Some(value)) = (name.as_str(), value.as_str()) else {
                self.problem(
                    &path,
                    format!(
                        "expected header names and values as strings, got {}: {}",
                        describe(name),
                        describe(value)
                    ),
                );
                continue;
            };
            let p = join(&path, name);
            match HEADERS.iter().find(|(known, _)| *known == name) {
                None => self.problem(
                    p,
                    format!(
                        "cannot be configured (one of: {})",
                        HEADERS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                Some((_, allowed)) if !allowed.is_empty() && !allowed.contains(&value) => self
                    .problem(
                        p,
                        format!("{value:?} is not one of: {}", allowed.join(", ")),
                    ),
                Some(_)
                    if value.is_empty()
                        || !value
                            .bytes()
                            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) =>
                {
                    self.problem(p, "must be a non-empty line of printable ASCII")
                }
                Some(_) => headers.push((name.to_owned(), value.to_owned())),
            }
        }
        headers
    }

    fn users(&mut self, path: &str, value: &Value) -> BTreeMap<String, String> {
        let mut users = BTreeMap::new();
        let Value::Mapping(entries) = value else {
            if !value.is_null() {
                self.problem(
                    path,
                    format!(
                        "expected a mapping of user names to bcrypt hashes, got {}",
                        describe(value)
                    ),
                );
            }
            return users;
        };
        for (user, hash) in entries {
            let Some(user) = user.as_str().filter(|u| !u.is_empty() && !u.contains(':')) else {
                self.problem(
                    path,
                    format!(
                        "{} is not a user name (a non-empty string without ':')",
                        describe(user)
                    ),
                );
                continue;
            };
            let p = join(path, user);
            let Some(hash) = self.string(&p, hash) else {
                continue;
            };
            match check_bcrypt(hash) {
                // Not echoed: a hash is a secret too.
                Err(why) => self.problem(p, format!("is not a bcrypt hash: {why}")),
                Ok(()) => {
                    users.insert(user.to_owned(), hash.to_owned());
                }
            }
        }
        users
    }
}

/// Checks a bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost from 4 to 31, then 53
/// characters of salt and hash.
fn check_bcrypt(hash: &str) -> Result<(), &'static str> {
    let rest = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|prefix| hash.strip_prefix(prefix))
        .ok_or("it must start with $2a$, $2b$ or $2y$")?;
    let (cost, tail) = rest.split_once('$').ok_or("no cost")?;
    match cost.parse::<u32>() {
        Ok(4..=31) if cost.len() == 2 => {}
        _ => return Err("its cost must be two digits from 04 to 31"),
    }
    if tail.len() != 53
        || !tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    {
        return Err("it must end with 53 characters of salt and hash");
    }
    hash.parse::<bcrypt::HashParts>()
        .map(|_| ())
        .map_err(|_| "its salt or hash does not decode")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$10$X0z5.x6T5Bf4EUn9c.ZcgO0Uq4sZl0J5ZC0n6vFNQqx9lu6eJ4xXy";

    fn problems(text: &str) -> Vec<String> {
        match WebConfig::parse(text, Path::new("/etc/web")) {
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
            Ok(config) => panic!("expected problems, got {config:?}"),
        }
    }

    #[test]
    fn a_full_config_loads_with_paths_beside_the_file() {
        let text = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /keys/server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\nbasic_auth_users:\n  prometheus: \"{HASH}\"\n"
        );
        let config = WebConfig::parse(&text, Path::new("/etc/web")).unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(tls.cert_file, Path::new("/etc/web/server.crt"));
        assert_eq!(tls.key_file, Path::new("/keys/server.key"));
        assert_eq!(
            tls.client_ca_file.as_deref(),
            Some(Path::new("/etc/web/ca.crt"))
        );
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(
            (tls.min_version, tls.max_version),
            (TlsVersion::Tls13, TlsVersion::Tls13)
        );
        assert_eq!(config.headers.len(), 2);
        assert_eq!(config.users["prometheus"], HASH);
        assert_eq!(
            WebConfig::parse("", Path::new(".")).unwrap(),
            WebConfig::default()
        );
    }

    #[test]
    fn every_problem_is_named_with_its_path() {
        let text = "tls_server_config:\n  cert_file: a.crt\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  client_auth_type: VerifyClientCertIfGiven\n  min_version: TLS10\n  max_version: TLS12\n  curve_preferences: [X25519]\nhttp_server_config:\n  http2: true\n  headers:\n    X-Powered-By: me\n    X-Frame-Options: allow\nbasic_auth_users:\n  alice: secret\n  bob: \"$2y$03$abc\"\nrate_limit:\n  burst: 3\nextra: 1\n";
        assert_eq!(
            problems(text),
            [
                "extra: unknown key (expected one of: tls_server_config, http_server_config, basic_auth_users, rate_limit)",
                "rate_limit: is not supported by bedrock-exporter: remove it (see docs/security.md)",
                "tls_server_config.cipher_suites: is not supported by bedrock-exporter: remove it (see docs/security.md)",
                "tls_server_config.curve_preferences: is not supported by bedrock-exporter: remove it (see docs/security.md)",
                "tls_server_config.key_file: required with tls_server_config",
                "tls_server_config.client_ca_file: required with client_auth_type VerifyClientCertIfGiven or RequireAndVerifyClientCert",
                "tls_server_config.min_version: TLS10 is not supported: TLS12 or TLS13",
                "http_server_config.http2: true is not supported: bedrock-exporter serves HTTP/1.1 (set false or remove it)",
                "http_server_config.headers.X-Powered-By: cannot be configured (one of: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy)",
                "http_server_config.headers.X-Frame-Options: \"allow\" is not one of: deny, sameorigin",
                "basic_auth_users.alice: is not a bcrypt hash: it must start with $2a$, $2b$ or $2y$",
                "basic_auth_users.bob: is not a bcrypt hash: its cost must be two digits from 04 to 31",
            ]
        );
    }

    #[test]
    fn a_misspelt_key_gets_a_suggestion() {
        assert_eq!(
            problems("tls_server_confg:\n  cert_file: a.crt\nbasic_auth_users:\n  u: x\n"),
            [
                "tls_server_confg: unknown key, did you mean `tls_server_config`? (expected one of: tls_server_config, http_server_config, basic_auth_users, rate_limit)",
                "basic_auth_users.u: is not a bcrypt hash: it must start with $2a$, $2b$ or $2y$",
            ]
        );
    }

    #[test]
    fn bcrypt_hashes_are_checked_by_shape() {
        assert_eq!(check_bcrypt(HASH), Ok(()));
        let made = bcrypt::hash("pw", 4).unwrap();
        assert_eq!(check_bcrypt(&made), Ok(()), "{made}");
        assert!(check_bcrypt(&made[..made.len() - 1]).is_err());
        assert!(check_bcrypt("$2y$10$").is_err());
    }
}
