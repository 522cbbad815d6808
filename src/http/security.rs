//! The web config in force (`--web.config.file`): TLS, basic auth users and extra response
//! headers. Loaded at start; re-read, as exporter-toolkit does, when the file or a certificate,
//! key or CA file it names changes on disk, so certificates rotate without a restart. A change
//! that does not load is logged and changes nothing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hyper::header::{HeaderName, HeaderValue};
use rustls::ServerConfig;

use super::auth::Users;
use super::tls;
use crate::config::web::WebConfig;
use crate::config::{ConfigError, Problem};

/// What the server applies to connections and requests, as of the last load.
#[derive(Debug, Default)]
pub struct Active {
    /// Serve HTTPS with this; `None`: plain HTTP.
    pub tls: Option<Arc<ServerConfig>>,
    /// Ask for basic auth; `None`: no auth.
    pub users: Option<Users>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    summary: String,
}

impl Active {
    /// A line on what is in force, for logs and `--config.check`.
    pub fn summary(&self) -> &str {
        &self.summary
    }
}

/// The web config, watched for changes.
#[derive(Debug)]
pub struct Security {
    /// `None`: no web config file; plain HTTP without auth, for good.
    path: Option<PathBuf>,
    loaded: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    /// The files the active config was read from, with their state when read.
    files: Vec<(PathBuf, Option<Stamp>)>,
    active: Arc<Active>,
}

/// What tells a file changed: a new inode (a replaced file or a swapped symlink), a new size,
/// or a new modification or change time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        device: meta.dev(),
        inode: meta.ino(),
        len: meta.len(),
        modified: (meta.mtime(), meta.mtime_nsec()),
        changed: (meta.ctime(), meta.ctime_nsec()),
    })
}

impl Security {
    /// No web config: plain HTTP, no auth, no extra headers.
    pub fn plain() -> Security {
        Security {
            path: None,
            loaded: Mutex::new(Loaded {
                files: Vec::new(),
                active: Arc::new(Active {
                    summary: "plain HTTP, no authentication".to_owned(),
                    ..Active::default()
                }),
            }),
        }
    }

    /// Loads the web config file at `path` and the files it names; every problem is reported.
    pub fn load(path: &Path) -> Result<Security, ConfigError> {
        let mut files = Vec::new();
        let active = read(path, &mut files)?;
        Ok(Security {
            path: Some(path.to_owned()),
            loaded: Mutex::new(Loaded { files, active }),
        })
    }

    /// What is in force now: re-read first if a file changed since the last look.
    pub fn current(&self) -> Arc<Active> {
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(path) = &self.path else {
            return loaded.active.clone();
        };
        if loaded.files.iter().all(|(file, was)| stamp(file) == *was) {
            return loaded.active.clone();
        }
        let mut files = Vec::new();
        match read(path, &mut files).and_then(|active| {
            if active.tls.is_some() != loaded.active.tls.is_some() {
                return Err(ConfigError::Invalid {
                    path: path.clone(),
                    problems: vec![Problem {
                        path: "tls_server_config".to_owned(),
                        message: "turning TLS on or off takes a restart".to_owned(),
                    }],
                });
            }
            Ok(active)
        }) {
            Ok(active) => {
                if let (Some(users), Some(before)) = (&active.users, &loaded.active.users) {
                    // A certificate renewal, a new header or user: scrapers already admitted
                    // stay admitted without a bcrypt check each.
                    users.remember_from(before);
                }
                tracing::info!(path = %path.display(), web = active.summary(), "web config reloaded");
                *loaded = Loaded { files, active };
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "web config reload failed; the web config in force stays"
                );
                // Tried again at the next change to a file of either config, not at every
                // request.
                for (file, was) in &mut loaded.files {
                    *was = stamp(file);
                }
                for (file, stamp) in files {
                    if !loaded.files.iter().any(|(known, _)| *known == file) {
                        loaded.files.push((file, stamp));
                    }
                }
            }
        }
        loaded.active.clone()
    }
}

/// Reads the web config at `path` and the files it names, each added to `files` with its stamp
/// from before it was read (so that a change while reading is seen next time), whether or not
/// it loads.
fn read(
    path: &Path,
    files: &mut Vec<(PathBuf, Option<Stamp>)>,
) -> Result<Arc<Active>, ConfigError> {
    files.push((path.to_owned(), stamp(path)));
    let config = WebConfig::load(path)?;
    let invalid = |problem: Problem| ConfigError::Invalid {
        path: path.to_owned(),
        problems: vec![problem],
    };
    let tls = match &config.tls {
        None => None,
        Some(settings) => {
            for file in [
                Some(&settings.cert_file),
                Some(&settings.key_file),
                settings.client_ca_file.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                files.push((file.clone(), stamp(file)));
            }
            Some(tls::server_config(settings).map_err(invalid)?)
        }
    };
    let mut headers = Vec::with_capacity(config.headers.len());
    for (name, value) in &config.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .ok()
            .zip(HeaderValue::from_str(value).ok())
            .ok_or_else(|| {
                invalid(Problem {
                    path: format!("http_server_config.headers.{name}"),
                    message: "is not a valid header".to_owned(),
                })
            })?;
        headers.push(header);
    }
    let summary = format!(
        "{}; {}; {} extra header(s)",
        match &config.tls {
            None => "plain HTTP".to_owned(),
            Some(tls) => format!(
                "TLS ({} to {}, client certificates: {:?})",
                tls.min_version.as_str(),
                tls.max_version.as_str(),
                tls.client_auth
            ),
        },
        if config.users.is_empty() {
            "no authentication".to_owned()
        } else {
            format!("basic auth for {} user(s)", config.users.len())
        },
        headers.len(),
    );
    let active = Active {
        tls,
        users: Users::new(config.users),
        headers,
        summary,
    };
    Ok(Arc::new(active))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::http::auth::{fingerprint, Verdict};

    /// A change of the web config file that keeps a user's hash keeps that user's admitted
    /// credentials: no bcrypt check for each scraper after every certificate renewal.
    #[tokio::test]
    async fn a_changed_web_config_keeps_admitted_credentials_of_unchanged_users() {
        let dir = std::env::temp_dir().join(format!("bedrock-web-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("web.yml");
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = format!("basic_auth_users:\n  prometheus: \"{hash}\"\n");
        std::fs::write(&path, &users).unwrap();
        let security = Security::load(&path).unwrap();
        let header = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("prometheus:s3cret")
        ))
        .unwrap();
        let before = security.current();
        let admitted = before.users.as_ref().unwrap().check(Some(&header)).await;
        assert_eq!(admitted, Verdict::Allowed);

        std::fs::write(
            &path,
            format!("{users}http_server_config:\n  headers:\n    X-Frame-Options: deny\n"),
        )
        .unwrap();
        let after = security.current();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(after.headers.len(), 1, "the changed file is in force");
        let key = fingerprint("prometheus", b"s3cret", &hash);
        assert!(after.users.as_ref().unwrap().remembers(&key));
    }
}
