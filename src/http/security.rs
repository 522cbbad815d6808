//! The web config in force (`--web.config.file`): TLS, basic auth users and extra response
//! headers. Loaded at start; then a background task ([`Security::watch`]) looks at the file and
//! the certificate, key and CA files it names every [`CHECK_INTERVAL`] and re-reads them, as
//! exporter-toolkit does, when one changed on disk, so certificates rotate without a restart. A
//! change that does not load is logged and changes nothing. Requests only clone what is in
//! force: no file is looked at, and no lock held, on their path beyond that clone.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use rustls::ServerConfig;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::auth::Users;
use super::tls;
use crate::config::web::WebConfig;
use crate::config::{ConfigError, Problem};

/// How often the web config's files are looked at for a change.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

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
    /// What requests read; replaced whole when the files change. Its lock is held only to
    /// clone or replace an `Arc`.
    active: watch::Sender<Arc<Active>>,
    /// The files the active config (and the last load that failed) were read from, with their
    /// state when read. Only the watcher looks at them.
    files: Mutex<Vec<(PathBuf, Option<Stamp>)>>,
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
            active: watch::Sender::new(Arc::new(Active {
                summary: "plain HTTP, no authentication".to_owned(),
                ..Active::default()
            })),
            files: Mutex::new(Vec::new()),
        }
    }

    /// Loads the web config file at `path` and the files it names; every problem is reported.
    pub fn load(path: &Path) -> Result<Security, ConfigError> {
        let mut files = Vec::new();
        let active = read(path, &mut files)?;
        Ok(Security {
            path: Some(path.to_owned()),
            active: watch::Sender::new(active),
            files: Mutex::new(files),
        })
    }

    /// What is in force now.
    pub fn current(&self) -> Arc<Active> {
        self.active.borrow().clone()
    }

    /// What is in force, told of each change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Active>> {
        self.active.subscribe()
    }

    /// Looks at the files every [`CHECK_INTERVAL`] and puts a change in force, until `shutdown`
    /// is cancelled. Returns at once without a web config file.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        if self.path.is_none() {
            return;
        }
        let mut every = tokio::time::interval(CHECK_INTERVAL);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick is now, just after the load.
        every.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            let security = self.clone();
            // File system calls, which can block (a slow network mount): not on the runtime's
            // threads. Awaited, so that nothing outlives the server.
            if let Err(error) = tokio::task::spawn_blocking(move || security.check()).await {
                tracing::error!(%error, "web config check failed");
            }
        }
    }

    /// Re-reads the web config if one of its files changed since it was last read, and puts it
    /// in force if it loads (and does not turn TLS on or off, which takes a restart).
    fn check(&self) {
        let Some(path) = &self.path else {
            return;
        };
        let mut known = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if known.iter().all(|(file, was)| stamp(file) == *was) {
            return;
        }
        let before = self.current();
        let mut files = Vec::new();
        match read(path, &mut files).and_then(|active| {
            if active.tls.is_some() != before.tls.is_some() {
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
                if let (Some(users), Some(before)) = (&active.users, &before.users) {
                    // A certificate renewal, a new header or user: scrapers already admitted
                    // stay admitted without a bcrypt check each.
                    users.remember_from(before);
                }
                let summary = active.summary.clone();
                *known = files;
                self.active.send_replace(active);
                tracing::info!(path = %path.display(), web = summary, "web config reloaded");
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "web config reload failed; the web config in force stays"
                );
                // Tried again at the next change to a file of either config, not at every
                // look.
                for (file, was) in known.iter_mut() {
                    *was = stamp(file);
                }
                for (file, stamp) in files {
                    if !known.iter().any(|(seen, _)| *seen == file) {
                        known.push((file, stamp));
                    }
                }
            }
        }
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
        security.check();
        let after = security.current();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(after.headers.len(), 1, "the changed file is in force");
        let key = fingerprint("prometheus", b"s3cret", &hash);
        assert!(after.users.as_ref().unwrap().remembers(&key));
    }

    /// A web config file in a directory of its own, removed when dropped.
    struct WebFile(PathBuf);

    impl WebFile {
        fn new(name: &str, text: &str) -> WebFile {
            let dir = std::env::temp_dir().join(format!("bedrock-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = WebFile(dir.join("web.yml"));
            file.write(text);
            file
        }

        fn write(&self, text: &str) {
            std::fs::write(&self.0, text).unwrap();
        }
    }

    impl Drop for WebFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    const ONE_HEADER: &str = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n";
    const TWO_HEADERS: &str = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=60\n";

    /// A request only takes what is in force: a changed file is not looked at until a check,
    /// which puts it in force; a check without a change keeps the same config.
    #[test]
    fn only_a_check_reads_the_files() {
        let file = WebFile::new("web-check", ONE_HEADER);
        let security = Security::load(&file.0).unwrap();
        let first = security.current();
        security.check();
        assert!(Arc::ptr_eq(&first, &security.current()), "nothing changed");
        file.write(TWO_HEADERS);
        assert!(
            Arc::ptr_eq(&first, &security.current()),
            "a request looked at the files"
        );
        security.check();
        assert_eq!(security.current().headers.len(), 2);
    }

    /// The watcher puts a change in force by itself, and returns when shutdown is cancelled.
    #[tokio::test(start_paused = true)]
    async fn the_watcher_applies_changes_and_stops_on_shutdown() {
        let file = WebFile::new("web-watch", ONE_HEADER);
        let security = Arc::new(Security::load(&file.0).unwrap());
        let mut changes = security.subscribe();
        let shutdown = CancellationToken::new();
        let watcher = tokio::spawn(security.clone().watch(shutdown.clone()));
        file.write(TWO_HEADERS);
        tokio::time::timeout(10 * CHECK_INTERVAL, changes.changed())
            .await
            .expect("the change is put in force")
            .unwrap();
        assert_eq!(security.current().headers.len(), 2);
        shutdown.cancel();
        tokio::time::timeout(10 * CHECK_INTERVAL, watcher)
            .await
            .expect("the watcher stops")
            .unwrap();
    }
}
