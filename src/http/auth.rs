//! Basic auth (`basic_auth_users`). A bcrypt check costs tens of milliseconds of CPU, so checks
//! run off the async workers one at a time, credentials that passed are remembered (a scraper
//! pays for bcrypt once, not every scrape), and only a few checks may wait: a flood of wrong
//! passwords is turned away at once instead of queueing ahead of real scrapes.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hyper::header::HeaderValue;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Checks that may wait for the hasher at once; one more is answered "busy".
pub const MAX_WAITING_CHECKS: usize = 16;
/// Remembered credentials; past this many, the memory starts over.
const MAX_REMEMBERED: usize = 1024;
/// Checked for an unknown user, so that a wrong user name costs as long as a wrong password.
/// (The hash of "unknown user", which lets no one in all the same.)
const DECOY_HASH: &str = "$2b$10$YmqeonJiVr26uQK8Fn0ioulOV9YrJQPXQCtSLy6/va81x6pbIGnEa";

/// What a request's credentials come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No credentials, or wrong ones.
    Denied,
    /// Too many checks are waiting; try again.
    Busy,
}

/// The users of a web config and what has been checked of them.
#[derive(Debug)]
pub struct Users {
    hashes: BTreeMap<String, String>,
    /// SHA-256 of user, password and hash of each credential that passed.
    remembered: Mutex<HashSet<[u8; 32]>>,
    /// One bcrypt check at a time, so checks take at most one core.
    hasher: Arc<Semaphore>,
    /// Checks waiting for or running on the hasher.
    checking: AtomicUsize,
}

impl Users {
    /// The users of `hashes` (user name to bcrypt hash); `None` when there are none, as then
    /// nothing is asked.
    pub fn new(hashes: BTreeMap<String, String>) -> Option<Users> {
        (!hashes.is_empty()).then(|| Users {
            hashes,
            remembered: Mutex::new(HashSet::new()),
            hasher: Arc::new(Semaphore::new(1)),
            checking: AtomicUsize::new(0),
        })
    }

    /// Checks an `Authorization` header.
    pub async fn check(&self, authorization: Option<&HeaderValue>) -> Verdict {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return Verdict::Denied;
        };
        let known = self.hashes.get(&user);
        let hash = known.map_or(DECOY_HASH, String::as_str).to_owned();
        let key = fingerprint(&user, &password, &hash);
        if known.is_some() && self.remembers(&key) {
            return Verdict::Allowed;
        }
        if self.checking.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_CHECKS {
            self.checking.fetch_sub(1, Ordering::SeqCst);
            return Verdict::Busy;
        }
        let _checking = Decrement(&self.checking);
        let Ok(permit) = self.hasher.clone().acquire_owned().await else {
            return Verdict::Denied;
        };
        // The same credentials may have passed while this one waited (a scraper's first
        // scrapes come together).
        if known.is_some() && self.remembers(&key) {
            return Verdict::Allowed;
        }
        // The permit goes with the check: a client that hangs up does not free the hasher
        // before its check is done.
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if !(matches && known.is_some()) {
            return Verdict::Denied;
        }
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if remembered.len() >= MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key);
        Verdict::Allowed
    }

    /// Takes over what `previous` (the users before a web config change) remembered. Each
    /// credential is remembered with its user's hash, so a changed or removed user's is never
    /// matched again; the others stay admitted without a new bcrypt check.
    pub fn remember_from(&self, previous: &Users) {
        let kept = previous
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        self.remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(kept);
    }

    pub(super) fn remembers(&self, key: &[u8; 32]) -> bool {
        self.remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(key)
    }
}

struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// User and password of a `Basic` authorization (RFC 7617); the password as bytes, since bcrypt
/// takes any.
fn credentials(header: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

pub(super) fn fingerprint(user: &str, password: &[u8], hash: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [user.as_bytes(), password, hash.as_bytes()] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part);
    }
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt as _, StreamExt as _};

    use super::*;

    fn basic(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn users() -> Users {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        Users::new(BTreeMap::from([("prometheus".to_owned(), hash)])).unwrap()
    }

    #[tokio::test]
    async fn only_the_right_password_of_a_known_user_passes() {
        let users = users();
        assert_eq!(users.check(None).await, Verdict::Denied);
        assert_eq!(
            users.check(Some(&basic("prometheus", "s3cret"))).await,
            Verdict::Allowed
        );
        // Remembered now; a wrong one still fails.
        assert_eq!(
            users.check(Some(&basic("prometheus", "s3cret"))).await,
            Verdict::Allowed
        );
        assert_eq!(
            users.check(Some(&basic("prometheus", "s3cre"))).await,
            Verdict::Denied
        );
        assert_eq!(
            users.check(Some(&basic("prometheus", ""))).await,
            Verdict::Denied
        );
        assert_eq!(
            users.check(Some(&basic("grafana", "s3cret"))).await,
            Verdict::Denied
        );
        assert_eq!(
            users.check(Some(&basic("prometheus:s3cret", ""))).await,
            Verdict::Denied
        );
        let bearer = HeaderValue::from_static("Bearer cHJvbWV0aGV1czpzM2NyZXQ=");
        assert_eq!(users.check(Some(&bearer)).await, Verdict::Denied);
        let lowercase = HeaderValue::from_static("basic cHJvbWV0aGV1czpzM2NyZXQ=");
        assert_eq!(users.check(Some(&lowercase)).await, Verdict::Allowed);
        assert_eq!(
            users
                .check(Some(&HeaderValue::from_static("Basic %%%")))
                .await,
            Verdict::Denied
        );
    }

    /// The decoy costs what a real check costs, and its password lets no one in.
    #[tokio::test]
    async fn the_decoy_hash_admits_no_one() {
        let parts: bcrypt::HashParts = DECOY_HASH.parse().unwrap();
        assert_eq!(parts.get_cost(), 10);
        assert!(bcrypt::verify("unknown user", DECOY_HASH).unwrap());
        let users = users();
        let decoy = basic("grafana", "unknown user");
        assert_eq!(users.check(Some(&decoy)).await, Verdict::Denied);
    }

    /// After a web config change, credentials that passed stay admitted while their user's hash
    /// is the same, and only then.
    #[tokio::test]
    async fn remembered_credentials_outlive_a_change_that_keeps_their_hash() {
        let old = users();
        assert_eq!(
            old.check(Some(&basic("prometheus", "s3cret"))).await,
            Verdict::Allowed
        );
        let hash = old.hashes["prometheus"].clone();
        let key = fingerprint("prometheus", b"s3cret", &hash);
        let same = Users::new(BTreeMap::from([
            ("prometheus".to_owned(), hash),
            ("grafana".to_owned(), bcrypt::hash("other", 4).unwrap()),
        ]))
        .unwrap();
        assert!(!same.remembers(&key));
        same.remember_from(&old);
        assert!(same.remembers(&key));
        let rehashed = Users::new(BTreeMap::from([(
            "prometheus".to_owned(),
            bcrypt::hash("s3cret", 4).unwrap(),
        )]))
        .unwrap();
        rehashed.remember_from(&old);
        let new_key = fingerprint("prometheus", b"s3cret", &rehashed.hashes["prometheus"]);
        assert!(!rehashed.remembers(&new_key));
    }

    /// Checks beyond the queue's bound are turned away without waiting for the hasher.
    #[tokio::test]
    async fn checks_beyond_the_bound_are_busy() {
        let users = users();
        let held = users.hasher.clone().acquire_owned().await.unwrap();
        let wrong = basic("prometheus", "wrong");
        let waiting: Vec<_> = (0..MAX_WAITING_CHECKS)
            .map(|_| users.check(Some(&wrong)))
            .collect();
        let mut waiting: futures_util::stream::FuturesUnordered<_> = waiting.into_iter().collect();
        // Polled once, each starts and queues for the hasher.
        assert!(waiting.next().now_or_never().is_none());
        assert_eq!(
            users.check(Some(&basic("prometheus", "s3cret"))).await,
            Verdict::Busy
        );
        drop(held);
        let verdicts: Vec<_> = waiting.collect().await;
        assert_eq!(verdicts, vec![Verdict::Denied; MAX_WAITING_CHECKS]);
        assert_eq!(
            users.check(Some(&basic("prometheus", "s3cret"))).await,
            Verdict::Allowed
        );
    }
}
