//! A stand-in for Bedrock: the four operations the exporter calls, answered in the service's
//! REST-JSON shapes, with faults that tests inject, and a call log they count.
//!
//! It serves `--demo` (with records that evolve, a [`Timeline`]) and the tests (with records
//! they put and remove). Two ways in:
//! - [`http`]: a real HTTP server, so the SDK's signing, parsing, pagination, retries and error
//!   mapping are exercised (`tests/reference/bedrock-2023-04-20.service.json` gives the shapes:
//!   [`json`]), with an STS `AssumeRole` beside it ([`sts`]);
//! - [`BedrockSource`] in-process, so scheduling tests can count calls on paused time.
//!
//! Both go through [`Simulator::answer`], so a page, a fault or a 404 is the same either way.
//!
//! Over HTTP it is also an AWS Organization ([`organizations`]: `ListAccounts` of the accounts
//! tests put) whose STS hands out credentials per account, and its Bedrock shows a request signed
//! with an account's credentials only that account's records ([`sts::account_of_access_key`]).

pub mod http;
pub mod json;
pub mod organizations;
pub mod sts;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub use http::RunningSimulator;
pub use organizations::{Account, AccountsCall};
pub use sts::{account_of_access_key, assumed_access_key, ASSUMED_ACCESS_KEY};

use crate::bedrock::{
    account_of_arn, BedrockSource, ErrorKind, FetchError, JobRecord, Kind, ListQuery, ModelRecord,
    Operation, Page, Record, LIST_PAGE_MAX,
};

/// A failure the simulator answers with instead of the result.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// An error response: HTTP status, `x-amzn-ErrorType` code and message.
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// Answers normally, but only after this long.
    Delay(Duration),
    /// A 200 whose body is not valid JSON.
    MalformedJson,
    /// Closes the connection without answering.
    CloseConnection,
    /// Holds the answer until the faults are cleared, then answers normally.
    Hold,
    /// Answers this status and body, whatever they are: what a proxy, a test server or a
    /// broken service might send. In-process, an error of kind `other`.
    Raw { status: u16, body: Vec<u8> },
    /// A listing that never ends: every page is the listing's first page, with a `nextToken`
    /// that these tokens give instead of the real one. Only List pages; Gets answer normally.
    Tokens(Tokens),
}

/// The `nextToken`s of a listing that never ends ([`Fault::Tokens`]). Each follows from the
/// token the request sent, so the simulator keeps no state per listing.
#[derive(Debug, Clone, PartialEq)]
pub enum Tokens {
    /// A token never seen before on every page: `fresh-1`, `fresh-2`, ...
    Fresh,
    /// These tokens in turn, then again from the first: `A`, `B`, `A`, ...
    Cycle(Vec<String>),
}

impl Tokens {
    /// The token of the page that answers a request sending `sent`.
    fn after(&self, sent: Option<&str>) -> Option<String> {
        match self {
            Tokens::Fresh => {
                let n = sent
                    .and_then(|t| t.strip_prefix(FRESH_PREFIX))
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                Some(format!("{FRESH_PREFIX}{}", n.saturating_add(1)))
            }
            Tokens::Cycle(cycle) => {
                let at = sent.and_then(|t| cycle.iter().position(|c| c == t));
                let next = at.map_or(0, |i| (i + 1) % cycle.len().max(1));
                cycle.get(next).cloned()
            }
        }
    }
}

const FRESH_PREFIX: &str = "fresh-";

impl Fault {
    /// An error response as the service sends it.
    pub fn error(status: u16, code: &str, message: &str) -> Fault {
        Fault::Error {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn validation() -> Fault {
        Fault::error(400, "ValidationException", "1 validation error detected")
    }
    pub fn access_denied() -> Fault {
        Fault::error(
            403,
            "AccessDeniedException",
            "User is not authorized to perform: bedrock:GetModelCustomizationJob",
        )
    }
    pub fn not_found() -> Fault {
        Fault::error(
            404,
            "ResourceNotFoundException",
            "The specified resource could not be found",
        )
    }
    pub fn throttling() -> Fault {
        Fault::error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        )
    }
    pub fn internal() -> Fault {
        Fault::error(500, "InternalServerException", "Internal server error")
    }
    /// Organizations' refusal of `ListAccounts` (its errors are all HTTP 400).
    pub fn organizations_access_denied() -> Fault {
        Fault::error(
            400,
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        )
    }
    /// Organizations' throttling, which the SDK retries.
    pub fn organizations_throttling() -> Fault {
        Fault::error(
            400,
            "TooManyRequestsException",
            "You have sent too many requests in too short a period of time.",
        )
    }
}

/// Which calls a fault applies to.
#[derive(Debug, Clone, PartialEq)]
enum Scope {
    Everything,
    /// Get calls for this name or ARN, and STS `AssumeRole` of this role ARN.
    Identifier(String),
    Operation(Operation),
    /// Organizations `ListAccounts`.
    ListAccounts,
}

/// One request the simulator received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub operation: Operation,
    /// The name or ARN of a Get call; empty for a List page.
    pub identifier: String,
    /// The query parameters of a List page, as sent.
    pub query: Vec<(String, String)>,
    /// When it arrived, on tokio's clock (paused in tests that pause it).
    pub at: Instant,
    /// The access key ID the request was signed with (empty for in-process calls).
    pub access_key: String,
}

/// The call log keeps at most this many calls, so a demo left running does not grow without bound.
pub const CALL_LOG_MAX: usize = 100_000;

/// The records the simulator serves.
#[derive(Debug)]
enum Catalog {
    /// Records tests put, by kind and name, with their ARNs' names.
    Fixed {
        records: BTreeMap<(Kind, String), Record>,
        names: HashMap<String, String>,
    },
    /// Records that evolve with time (the demo's).
    Evolving(Box<dyn Timeline>),
}

#[derive(Debug)]
struct State {
    catalog: Catalog,
    /// Faults applied to every call in their scope until cleared; the first that applies wins.
    faults: Vec<(Scope, Fault)>,
    calls: Vec<Call>,
    /// Role ARNs of the `AssumeRole` calls received, in order.
    assumed_roles: Vec<String>,
    /// The Organization's accounts, by ID: `ListAccounts` pages in this order.
    accounts: BTreeMap<String, Account>,
    /// The `ListAccounts` calls received (the most recent [`CALL_LOG_MAX`] at most).
    accounts_calls: Vec<AccountsCall>,
}

/// Counts of things tests wait for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Progress {
    /// Calls received since the simulator started, however many the log still holds.
    calls: usize,
    /// `ListAccounts` calls received since the simulator started (also counted in `calls`).
    accounts_calls: usize,
    /// How often the faults were cleared; held answers wait for it to move.
    clears: u64,
}

/// The simulated service. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
    progress: watch::Sender<Progress>,
}

/// A call as the simulator understands it, decoded from HTTP or made in-process.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Get {
        kind: Kind,
        identifier: String,
    },
    List {
        query: ListQuery,
        /// `maxResults`, checked against 1 to [`LIST_PAGE_MAX`].
        max_results: usize,
        /// `nextToken`, as received.
        next_token: Option<String>,
        /// `sortOrder=Ascending`: oldest first.
        ascending: bool,
    },
}

impl Request {
    fn operation(&self) -> Operation {
        match self {
            Request::Get { kind, .. } => kind.get_operation(),
            Request::List { query, .. } => query.kind.list_operation(),
        }
    }
}

/// The result of a call, before any fault and before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Found(Box<Record>),
    NotFound,
    Page {
        records: Vec<Record>,
        next_token: Option<String>,
    },
    /// A request the service would refuse with a ValidationException.
    Invalid(String),
}

/// What one call resolves to: its outcome, and the fault to apply first, if any.
#[derive(Debug)]
pub struct Answer {
    pub fault: Option<Fault>,
    pub outcome: Outcome,
    /// The clear count when the call arrived, for [`Fault::Hold`].
    clears: u64,
}

impl Simulator {
    /// A simulator serving the records tests put.
    pub fn new() -> Simulator {
        Simulator::with_catalog(Catalog::Fixed {
            records: BTreeMap::new(),
            names: HashMap::new(),
        })
    }

    /// A simulator serving records that evolve with time: what `timeline` says at each call.
    pub fn evolving(timeline: impl Timeline) -> Simulator {
        Simulator::with_catalog(Catalog::Evolving(Box::new(timeline)))
    }

    fn with_catalog(catalog: Catalog) -> Simulator {
        Simulator {
            state: Arc::new(Mutex::new(State {
                catalog,
                faults: Vec::new(),
                calls: Vec::new(),
                assumed_roles: Vec::new(),
                accounts: BTreeMap::new(),
                accounts_calls: Vec::new(),
            })),
            progress: watch::channel(Progress::default()).0,
        }
    }

    // A std Mutex: it is never held across an await, and a poisoned one still holds usable data.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds or replaces (by name) a job. The demo's timeline is fixed: there it does nothing.
    pub fn put_job(&self, job: JobRecord) {
        self.put(Record::Job(job));
    }

    /// Adds or replaces (by name) a custom model. The demo's timeline is fixed: there it does nothing.
    pub fn put_model(&self, model: ModelRecord) {
        self.put(Record::Model(model));
    }

    /// Adds or replaces (by name) a record of any kind. The demo's timeline is fixed: there it
    /// does nothing.
    pub fn put(&self, record: impl Into<Record>) {
        let record = record.into();
        if let Catalog::Fixed { records, names } = &mut self.state().catalog {
            let name = record.name().unwrap_or_default().to_owned();
            if let Some(arn) = record.arn() {
                names.insert(arn.to_owned(), name.clone());
            }
            records.insert((record.kind(), name), record);
        }
    }

    /// Deletes a resource by name, as if it had never existed.
    pub fn remove(&self, kind: Kind, name: &str) {
        if let Catalog::Fixed { records, names } = &mut self.state().catalog {
            if let Some(arn) = records
                .remove(&(kind, name.to_owned()))
                .as_ref()
                .and_then(Record::arn)
            {
                names.remove(arn);
            }
        }
    }

    /// Answers every Get call for `identifier` (`None`: every Bedrock call) with `fault` until
    /// [`Simulator::clear_faults`]. An error fault for a role ARN makes STS refuse to assume it
    /// (one account's member role, say). `ListAccounts` has its own: [`Simulator::inject_accounts`].
    pub fn inject(&self, identifier: Option<&str>, fault: Fault) {
        let scope = identifier.map_or(Scope::Everything, |id| Scope::Identifier(id.to_owned()));
        self.state().faults.push((scope, fault));
    }

    /// Answers every call of `operation` (a List operation's pages, say) with `fault` until
    /// [`Simulator::clear_faults`].
    pub fn inject_operation(&self, operation: Operation, fault: Fault) {
        self.state()
            .faults
            .push((Scope::Operation(operation), fault));
    }

    /// Adds or replaces (by ID) an account of the Organization that `ListAccounts` lists.
    pub fn put_account(&self, account: Account) {
        self.state().accounts.insert(account.id.clone(), account);
    }

    /// Removes an account from the Organization, as if it had left it.
    pub fn remove_account(&self, id: &str) {
        self.state().accounts.remove(id);
    }

    /// The Organization's accounts, by ID.
    pub fn accounts(&self) -> Vec<Account> {
        self.state().accounts.values().cloned().collect()
    }

    /// Answers every `ListAccounts` call with `fault` until [`Simulator::clear_faults`]; an
    /// error in the JSON 1.1 shape (`__type`, `Message`), see [`Fault::organizations_access_denied`].
    pub fn inject_accounts(&self, fault: Fault) {
        self.state().faults.push((Scope::ListAccounts, fault));
    }

    /// The `ListAccounts` calls received so far, in order (the most recent [`CALL_LOG_MAX`] at
    /// most); `.len()` counts them.
    pub fn accounts_calls(&self) -> Vec<AccountsCall> {
        self.state().accounts_calls.clone()
    }

    /// Waits until at least `n` `ListAccounts` calls have arrived since the simulator started.
    pub async fn wait_for_accounts_calls(&self, n: usize) {
        self.wait(|p| p.accounts_calls >= n).await;
    }

    /// Removes every fault and releases held answers.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
        self.progress.send_modify(|p| p.clears += 1);
    }

    /// The calls received so far, in order (the most recent [`CALL_LOG_MAX`] at most).
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The role ARNs assumed through the simulated STS so far.
    pub fn assumed_roles(&self) -> Vec<String> {
        self.state().assumed_roles.clone()
    }

    /// How many Get calls named `identifier`.
    pub fn calls_for(&self, identifier: &str) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|c| c.identifier == identifier)
            .count()
    }

    /// How many calls of `operation` arrived at or after `since`.
    pub fn calls_of(&self, operation: Operation, since: Instant) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|c| c.operation == operation && c.at >= since)
            .count()
    }

    /// Waits until at least `n` calls have arrived since the simulator started.
    pub async fn wait_for_calls(&self, n: usize) {
        self.wait(|p| p.calls >= n).await;
    }

    async fn wait(&self, ready: impl FnMut(&Progress) -> bool) {
        let mut rx = self.progress.subscribe();
        // The sender lives in self, so the channel cannot close while we wait.
        let _ = rx.wait_for(ready).await;
    }

    /// Waits until the faults have been cleared since `clears`.
    async fn released(&self, clears: u64) {
        self.wait(|p| p.clears > clears).await;
    }

    /// Logs a call and resolves it against the catalog and the faults.
    pub fn answer(
        &self,
        request: &Request,
        query: Vec<(String, String)>,
        access_key: &str,
    ) -> Answer {
        let mut state = self.state();
        let operation = request.operation();
        let identifier = match request {
            Request::Get { identifier, .. } => identifier.clone(),
            Request::List { .. } => String::new(),
        };
        let fault = state
            .faults
            .iter()
            .find(|(scope, _)| match scope {
                Scope::Everything => true,
                Scope::Identifier(id) => *id == identifier,
                Scope::Operation(op) => *op == operation,
                Scope::ListAccounts => false,
            })
            .map(|(_, fault)| fault.clone());
        state.calls.push(Call {
            operation,
            identifier,
            query,
            at: Instant::now(),
            access_key: access_key.to_owned(),
        });
        if state.calls.len() > CALL_LOG_MAX {
            state.calls.drain(..CALL_LOG_MAX / 2);
        }
        let mut clears = 0;
        self.progress.send_modify(|p| {
            p.calls += 1;
            clears = p.clears;
        });
        let tokens = match &fault {
            Some(Fault::Tokens(tokens)) => Some(tokens),
            _ => None,
        };
        // Credentials of one account see that account's records only, as its own Bedrock would.
        let viewer = account_of_access_key(access_key);
        let visible = move |r: &Cow<Record>| visible_to(r, viewer);
        let outcome = match (request, tokens) {
            (
                Request::List {
                    query,
                    max_results,
                    next_token,
                    ascending,
                },
                Some(tokens),
            ) => {
                match page(
                    state.catalog.records(query.kind).filter(visible),
                    query,
                    *max_results,
                    None,
                    *ascending,
                ) {
                    Outcome::Page { records, .. } => Outcome::Page {
                        records,
                        next_token: tokens.after(next_token.as_deref()),
                    },
                    other => other,
                }
            }
            (Request::Get { kind, identifier }, _) => state
                .catalog
                .find(*kind, identifier)
                .filter(|r| visible_to(r, viewer))
                .map_or(Outcome::NotFound, |r| Outcome::Found(Box::new(r))),
            (
                Request::List {
                    query,
                    max_results,
                    next_token,
                    ascending,
                },
                None,
            ) => page(
                state.catalog.records(query.kind).filter(visible),
                query,
                *max_results,
                next_token.as_deref(),
                *ascending,
            ),
        };
        Answer {
            // Applied to the outcome above: what remains is a normal answer.
            fault: fault.filter(|f| !matches!(f, Fault::Tokens(_))),
            outcome,
            clears,
        }
    }

    /// An in-process call: faults become the errors the SDK adapter would report.
    async fn call(&self, request: &Request) -> Result<Outcome, FetchError> {
        let answer = self.answer(request, Vec::new(), "");
        match answer.fault {
            Some(Fault::Error {
                status,
                code,
                message,
            }) => {
                return Err(FetchError::new(
                    ErrorKind::from_service_error(Some(&code), status),
                    format!("{code}: {message}"),
                ))
            }
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::Hold) => self.released(answer.clears).await,
            Some(Fault::MalformedJson) => {
                return Err(FetchError::new(
                    ErrorKind::Other,
                    "simulated malformed JSON",
                ))
            }
            Some(Fault::Raw { status, .. }) => {
                return Err(FetchError::new(
                    ErrorKind::Other,
                    format!("simulated raw answer, HTTP {status}"),
                ))
            }
            Some(Fault::CloseConnection) => {
                return Err(FetchError::new(
                    ErrorKind::Network,
                    "simulated connection close",
                ))
            }
            Some(Fault::Tokens(_)) | None => {}
        }
        Ok(answer.outcome)
    }
}

/// Whether credentials of `viewer` (`None`: not an account's, they see everything) see `record`.
fn visible_to(record: &Record, viewer: Option<&str>) -> bool {
    viewer.is_none_or(|account| record.arn().and_then(account_of_arn) == Some(account))
}

impl Default for Simulator {
    fn default() -> Self {
        Simulator::new()
    }
}

impl Catalog {
    /// The record of `kind` with this name or ARN, as it stands now.
    fn find(&self, kind: Kind, identifier: &str) -> Option<Record> {
        match self {
            Catalog::Fixed { records, names } => {
                let name = names.get(identifier).map_or(identifier, String::as_str);
                records.get(&(kind, name.to_owned())).cloned().or_else(|| {
                    self.records(kind)
                        .find(|r| r.known_as(identifier))
                        .map(Cow::into_owned)
                })
            }
            Catalog::Evolving(_) => self
                .records(kind)
                .find(|r| {
                    r.name() == Some(identifier)
                        || r.arn() == Some(identifier)
                        || r.known_as(identifier)
                })
                .map(Cow::into_owned),
        }
    }

    /// Every record of `kind` as it stands now.
    fn records(&self, kind: Kind) -> Box<dyn Iterator<Item = Cow<'_, Record>> + '_> {
        match self {
            Catalog::Fixed { records, .. } => Box::new(
                records
                    .range((kind, String::new())..)
                    .take_while(move |((k, _), _)| *k == kind)
                    .map(|(_, record)| Cow::Borrowed(record)),
            ),
            Catalog::Evolving(timeline) => Box::new(
                timeline
                    .records(kind, Instant::now())
                    .into_iter()
                    .map(Cow::Owned),
            ),
        }
    }
}

/// Records that change with time, as a simulator serves them: what `--demo` runs on.
pub trait Timeline: fmt::Debug + Send + 'static {
    /// Every record of `kind` as it stands at `now`.
    fn records(&self, kind: Kind, now: Instant) -> Vec<Record>;
}

/// Pagination tokens are the offset of the page's first entry, behind a prefix.
const TOKEN_PREFIX: &str = "page-";

/// One page of a listing: the records matching `query`, newest first (the service's default
/// order) unless `ascending`, from the offset `next_token` names.
fn page<'a>(
    records: impl Iterator<Item = Cow<'a, Record>>,
    query: &ListQuery,
    max_results: usize,
    next_token: Option<&str>,
    ascending: bool,
) -> Outcome {
    if !(1..=LIST_PAGE_MAX).contains(&max_results) {
        return Outcome::Invalid(format!(
            "1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {LIST_PAGE_MAX}"
        ));
    }
    let offset = match next_token {
        None => 0,
        Some(token) => match token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(offset) => offset,
            None => return Outcome::Invalid(format!("Invalid pagination token: {token}")),
        },
    };
    let mut matching: Vec<Cow<Record>> = records.filter(|r| matches(r, query)).collect();
    matching.sort_by(|a, b| {
        b.creation_time()
            .partial_cmp(&a.creation_time())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.arn().cmp(&b.arn()))
    });
    if ascending {
        matching.reverse();
    }
    let end = (offset + max_results).min(matching.len());
    let records = matching
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|r| r.summary())
        .collect();
    let next_token = (end < matching.len()).then(|| format!("{TOKEN_PREFIX}{end}"));
    Outcome::Page {
        records,
        next_token,
    }
}

/// Whether a record passes a listing's filters.
fn matches(record: &Record, query: &ListQuery) -> bool {
    let created = record.creation_time();
    query
        .name_contains
        .as_deref()
        .is_none_or(|part| record.filtered_name().is_some_and(|n| n.contains(part)))
        && query
            .created_after
            .is_none_or(|after| created.is_some_and(|c| c > after))
        && query
            .created_before
            .is_none_or(|before| created.is_some_and(|c| c < before))
        && query
            .status
            .as_deref()
            .is_none_or(|status| record.status() == Some(status))
        && record.matches(query)
}

impl BedrockSource for Simulator {
    async fn get(&self, kind: Kind, identifier: &str) -> Result<Record, FetchError> {
        let request = Request::Get {
            kind,
            identifier: identifier.to_owned(),
        };
        match self.call(&request).await? {
            Outcome::Found(record) => Ok(*record),
            _ => Err(FetchError::new(
                ErrorKind::NotFound,
                format!("ResourceNotFoundException: {identifier}"),
            )),
        }
    }

    async fn list_page(
        &self,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page, FetchError> {
        let request = Request::List {
            query: query.clone(),
            max_results: LIST_PAGE_MAX,
            next_token,
            ascending: false,
        };
        match self.call(&request).await? {
            Outcome::Page {
                records,
                next_token,
            } => Ok(Page {
                records,
                next_token,
            }),
            other => Err(FetchError::new(ErrorKind::Validation, format!("{other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, created: f64) -> JobRecord {
        JobRecord {
            job_name: Some(name.to_owned()),
            job_arn: Some(format!("arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/{name}")),
            status: Some("Completed".to_owned()),
            creation_time: Some(created),
            training_loss: Some(0.5),
            ..JobRecord::default()
        }
    }

    fn borrowed(records: &[Record]) -> impl Iterator<Item = Cow<'_, Record>> {
        records.iter().map(Cow::Borrowed)
    }

    #[tokio::test]
    async fn the_call_log_is_bounded() {
        let sim = Simulator::new();
        for _ in 0..=CALL_LOG_MAX {
            let _ = sim.get(Kind::Job, "some-job").await;
        }
        assert!(sim.calls().len() <= CALL_LOG_MAX);
        assert!(sim.calls().len() >= CALL_LOG_MAX / 2);
        // The total still counts every call.
        assert_eq!(sim.progress.borrow().calls, CALL_LOG_MAX + 1);
    }

    #[test]
    fn pages_are_newest_first_and_carry_summaries_only() {
        let records: Vec<Record> = (0..5)
            .map(|i| Record::Job(job(&format!("job-{i}"), 1_000.0 + f64::from(i))))
            .collect();
        let query = ListQuery::all(Kind::Job);
        let Outcome::Page {
            records: first,
            next_token,
        } = page(borrowed(&records), &query, 2, None, false)
        else {
            panic!("not a page")
        };
        let names: Vec<_> = first.iter().map(|r| r.name().unwrap().to_owned()).collect();
        assert_eq!(names, ["job-4", "job-3"]);
        assert!(matches!(&first[0], Record::Job(j) if j.training_loss.is_none()));
        let token = next_token.unwrap();
        let Outcome::Page {
            records: last,
            next_token,
        } = page(borrowed(&records), &query, 2, Some("page-4"), false)
        else {
            panic!("not a page")
        };
        assert_eq!(last.len(), 1);
        assert_eq!(next_token, None);
        assert_eq!(token, "page-2");
        for bad in [0, LIST_PAGE_MAX + 1] {
            assert!(matches!(
                page(borrowed(&records), &query, bad, None, false),
                Outcome::Invalid(_)
            ));
        }
        assert!(matches!(
            page(borrowed(&records), &query, 2, Some("bogus"), false),
            Outcome::Invalid(_)
        ));
    }

    #[test]
    fn filters_apply() {
        let records: Vec<Record> = ["support-bot-1", "legal-1", "support-bot-2"]
            .iter()
            .enumerate()
            .map(|(i, n)| Record::Job(job(n, 1_000.0 + i as f64)))
            .collect();
        let query = ListQuery {
            name_contains: Some("support".to_owned()),
            created_after: Some(1_000.5),
            ..ListQuery::all(Kind::Job)
        };
        let Outcome::Page { records, .. } = page(borrowed(&records), &query, 100, None, false)
        else {
            panic!("not a page")
        };
        let names: Vec<_> = records.iter().filter_map(Record::name).collect();
        assert_eq!(names, ["support-bot-2"]);
    }

    #[tokio::test]
    async fn token_faults_page_for_ever_fresh_or_in_a_cycle() {
        let sim = Simulator::new();
        sim.put_job(job("job-a", 1_000.0));
        let query = ListQuery::all(Kind::Job);
        let follow = |pages: usize| {
            let sim = sim.clone();
            let query = query.clone();
            async move {
                let mut token = None;
                let mut seen = Vec::new();
                for _ in 0..pages {
                    let page = sim.list_page(&query, token).await.unwrap();
                    assert_eq!(
                        page.records.len(),
                        1,
                        "the first page's records, every time"
                    );
                    seen.push(page.next_token.clone().unwrap());
                    token = page.next_token;
                }
                seen
            }
        };
        let operation = Operation::List(Kind::Job);
        sim.inject_operation(operation, Fault::Tokens(Tokens::Fresh));
        assert_eq!(follow(3).await, ["fresh-1", "fresh-2", "fresh-3"]);
        sim.clear_faults();
        let cycle = Tokens::Cycle(vec!["A".to_owned(), "B".to_owned()]);
        sim.inject_operation(operation, Fault::Tokens(cycle));
        assert_eq!(follow(4).await, ["A", "B", "A", "B"]);
        assert!(
            sim.get(Kind::Job, "job-a").await.is_ok(),
            "Gets answer normally"
        );
    }
}
