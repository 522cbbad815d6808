//! A stand-in for AWS Organizations `ListAccounts` (JSON 1.1 protocol: `POST /` with
//! `X-Amz-Target: AWSOrganizationsV20161128.ListAccounts`), so an Organization of several
//! accounts runs on loopback: signed requests only, pages of `MaxResults` (1 to 20) with
//! `NextToken`, faults from [`Simulator::inject_accounts`], every call logged.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;
use serde_json::{json, Map, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::{signed_by, ConnectionClosed};
use super::{Fault, Scope, Simulator, CALL_LOG_MAX};
use crate::http::{response, HttpResponse};

/// The `X-Amz-Target` of `ListAccounts`: the service's shape name, then the operation.
pub const LIST_ACCOUNTS_TARGET: &str = "AWSOrganizationsV20161128.ListAccounts";

/// The content type of the JSON 1.1 protocol, both ways.
const JSON_1_1: &str = "application/x-amz-json-1.1";

/// The range of `MaxResults` in the API reference.
pub const ACCOUNTS_PAGE_MAX: i64 = 20;

/// The page size when a request leaves `MaxResults` out (the service does not say; at most 20).
const DEFAULT_MAX_RESULTS: i64 = ACCOUNTS_PAGE_MAX;

/// The simulated Organization's ID and management account, in every account's ARN.
pub const ORGANIZATION_ID: &str = "o-exampleorgid";
pub const MANAGEMENT_ACCOUNT: &str = "111111111111";

/// Tokens are the offset of the page's first account, behind a prefix.
const TOKEN_PREFIX: &str = "accounts-";

/// A request body larger than this is refused; `ListAccounts` sends two fields.
const BODY_MAX: usize = 64 * 1024;

/// An account of the simulated Organization, as `ListAccounts` describes it. Build one with
/// [`Account::active`] and the methods after it, or with `..Account::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// 12 digits.
    pub id: String,
    pub name: String,
    pub email: String,
    /// `Status`: `ACTIVE`, `SUSPENDED` or `PENDING_CLOSURE` (sent as given).
    pub status: String,
    /// `State`, which AWS introduced to replace `Status`: `ACTIVE`, `SUSPENDED`,
    /// `PENDING_ACTIVATION`, `PENDING_CLOSURE` or `CLOSED` (sent as given).
    pub state: String,
    /// `JoinedMethod`: `CREATED` or `INVITED`.
    pub joined_method: String,
    /// `JoinedTimestamp`, Unix seconds.
    pub joined_timestamp: f64,
}

impl Default for Account {
    fn default() -> Self {
        Account::active("000000000000")
    }
}

impl Account {
    /// An active account named `account-<id>`, created in the Organization on 2026-01-01.
    pub fn active(id: &str) -> Account {
        Account {
            id: id.to_owned(),
            name: format!("account-{id}"),
            email: format!("aws+{id}@example.com"),
            status: "ACTIVE".to_owned(),
            state: "ACTIVE".to_owned(),
            joined_method: "CREATED".to_owned(),
            joined_timestamp: 1_767_225_600.0,
        }
    }

    pub fn named(mut self, name: &str) -> Account {
        self.name = name.to_owned();
        self
    }

    pub fn suspended(mut self) -> Account {
        "SUSPENDED".clone_into(&mut self.status);
        "SUSPENDED".clone_into(&mut self.state);
        self
    }

    /// Closed, in the days before AWS removes it: `Status` says SUSPENDED, `State` CLOSED.
    pub fn closed(mut self) -> Account {
        "SUSPENDED".clone_into(&mut self.status);
        "CLOSED".clone_into(&mut self.state);
        self
    }

    pub fn pending_closure(mut self) -> Account {
        "PENDING_CLOSURE".clone_into(&mut self.status);
        "PENDING_CLOSURE".clone_into(&mut self.state);
        self
    }

    /// `arn:aws:organizations::<management>:account/<organization>/<id>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:organizations::{MANAGEMENT_ACCOUNT}:account/{ORGANIZATION_ID}/{}",
            self.id
        )
    }

    /// The account as an element of `ListAccounts`' `Accounts`.
    fn json(&self) -> Value {
        json!({
            "Id": self.id,
            "Arn": self.arn(),
            "Email": self.email,
            "Name": self.name,
            "Status": self.status,
            "State": self.state,
            "JoinedMethod": self.joined_method,
            "JoinedTimestamp": self.joined_timestamp,
        })
    }
}

/// One `ListAccounts` request the simulator received.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountsCall {
    /// `MaxResults`, as sent.
    pub max_results: Option<i64>,
    /// `NextToken`, as sent.
    pub next_token: Option<String>,
    /// The access key ID the request was signed with.
    pub access_key: String,
    /// When it arrived, on tokio's clock.
    pub at: Instant,
}

/// What a `ListAccounts` request resolves to, before any fault.
#[derive(Debug, Clone, PartialEq)]
enum Listing {
    Page {
        accounts: Vec<Account>,
        next_token: Option<String>,
    },
    /// An `InvalidInputException` with its `Reason`.
    Invalid {
        reason: &'static str,
        message: String,
    },
}

impl Simulator {
    /// Organizations' JSON 1.1 protocol; only `ListAccounts` is simulated.
    pub(super) async fn organizations(
        &self,
        req: hyper::Request<Incoming>,
        shutdown: CancellationToken,
    ) -> Result<HttpResponse, ConnectionClosed> {
        let Some(access_key) = signed_by(&req) else {
            return Ok(error(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        if target != Some(LIST_ACCOUNTS_TARGET) {
            return Ok(error(
                "UnknownOperationException",
                "only ListAccounts is simulated",
            ));
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if content_type != Some(JSON_1_1) {
            return Ok(error(
                "SerializationException",
                &format!("Content-Type must be {JSON_1_1}"),
            ));
        }
        let body = match Limited::new(req.into_body(), BODY_MAX).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return Ok(error("SerializationException", "unreadable body")),
        };
        let (max_results, next_token) = match list_accounts_input(&body) {
            Ok(input) => input,
            Err(message) => return Ok(error("SerializationException", &message)),
        };
        let (fault, listing, clears) = self.list_accounts(max_results, next_token, &access_key);
        match fault {
            Some(Fault::Error {
                status,
                code,
                message,
            }) => return Ok(error_with_status(status, &code, &message)),
            Some(Fault::CloseConnection) => return Err(ConnectionClosed),
            Some(Fault::Raw { status, body }) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                return Ok(json_1_1(status, body));
            }
            Some(Fault::MalformedJson) => {
                let cut = br#"{"Accounts":[{"Id":"1234"#.to_vec();
                return Ok(json_1_1(StatusCode::OK, cut));
            }
            Some(Fault::Delay(delay)) => tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return Err(ConnectionClosed),
            },
            Some(Fault::Hold) => tokio::select! {
                _ = self.released(clears) => {}
                _ = shutdown.cancelled() => return Err(ConnectionClosed),
            },
            Some(Fault::Tokens(_)) | None => {}
        }
        Ok(match listing {
            Listing::Page {
                accounts,
                next_token,
            } => json_1_1(StatusCode::OK, list_accounts_json(&accounts, next_token)),
            Listing::Invalid { reason, message } => {
                let body = json!({
                    "__type": "InvalidInputException",
                    "Message": message,
                    "Reason": reason,
                });
                json_1_1(StatusCode::BAD_REQUEST, body.to_string().into_bytes())
            }
        })
    }

    /// Logs a `ListAccounts` call and resolves it: the fault to apply first (a [`Fault::Tokens`]
    /// already applied to the page), the page, and the clear count for [`Fault::Hold`].
    fn list_accounts(
        &self,
        max_results: Option<i64>,
        next_token: Option<String>,
        access_key: &str,
    ) -> (Option<Fault>, Listing, u64) {
        let mut state = self.state();
        let fault = state
            .faults
            .iter()
            .find(|(scope, _)| *scope == Scope::ListAccounts)
            .map(|(_, fault)| fault.clone());
        state.accounts_calls.push(AccountsCall {
            max_results,
            next_token: next_token.clone(),
            access_key: access_key.to_owned(),
            at: Instant::now(),
        });
        if state.accounts_calls.len() > CALL_LOG_MAX {
            state.accounts_calls.drain(..CALL_LOG_MAX / 2);
        }
        let mut clears = 0;
        self.progress.send_modify(|p| {
            p.calls += 1;
            p.accounts_calls += 1;
            clears = p.clears;
        });
        let accounts: Vec<&Account> = state.accounts.values().collect();
        let listing = match &fault {
            // A listing that never ends: the first page every time, with the fault's tokens.
            Some(Fault::Tokens(tokens)) => match accounts_page(&accounts, max_results, None) {
                Listing::Page { accounts, .. } => Listing::Page {
                    accounts,
                    next_token: tokens.after(next_token.as_deref()),
                },
                invalid => invalid,
            },
            _ => accounts_page(&accounts, max_results, next_token.as_deref()),
        };
        (
            fault.filter(|f| !matches!(f, Fault::Tokens(_))),
            listing,
            clears,
        )
    }
}

/// `MaxResults` and `NextToken` of a `ListAccounts` body, typed as the API model types them.
fn list_accounts_input(body: &[u8]) -> Result<(Option<i64>, Option<String>), String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("the body is not a JSON object".to_owned());
    };
    let max_results = match fields.get("MaxResults") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or("MaxResults is not an integer")?),
    };
    let next_token = match fields.get("NextToken") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().ok_or("NextToken is not a string")?.to_owned()),
    };
    Ok((max_results, next_token))
}

/// One page of the accounts, in order of ID, from the offset `next_token` names.
fn accounts_page(
    accounts: &[&Account],
    max_results: Option<i64>,
    next_token: Option<&str>,
) -> Listing {
    let max_results = max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    if max_results < 1 {
        return Listing::Invalid {
            reason: "MIN_VALUE_EXCEEDED",
            message: "You provided a value that is too small for MaxResults (minimum 1)."
                .to_owned(),
        };
    }
    if max_results > ACCOUNTS_PAGE_MAX {
        return Listing::Invalid {
            reason: "MAX_VALUE_EXCEEDED",
            message: format!(
                "You provided a value that is too large for MaxResults (maximum {ACCOUNTS_PAGE_MAX})."
            ),
        };
    }
    let offset = match next_token {
        None => 0,
        Some(token) => match token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(offset) => offset,
            None => {
                return Listing::Invalid {
                    reason: "INVALID_NEXT_TOKEN",
                    message: "You specified an invalid value for nextToken.".to_owned(),
                }
            }
        },
    };
    // In range: checked above.
    let size = usize::try_from(max_results).unwrap_or(1);
    let end = offset.saturating_add(size).min(accounts.len());
    let page = accounts
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|a| (*a).clone())
        .collect();
    Listing::Page {
        accounts: page,
        next_token: (end < accounts.len()).then(|| format!("{TOKEN_PREFIX}{end}")),
    }
}

/// A `ListAccounts` response body.
fn list_accounts_json(accounts: &[Account], next_token: Option<String>) -> Vec<u8> {
    let mut body = Map::new();
    body.insert(
        "Accounts".to_owned(),
        Value::Array(accounts.iter().map(Account::json).collect()),
    );
    if let Some(token) = next_token {
        body.insert("NextToken".to_owned(), Value::String(token));
    }
    Value::Object(body).to_string().into_bytes()
}

fn json_1_1(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut r = response(status, JSON_1_1, body);
    r.headers_mut().insert(
        "x-amzn-RequestId",
        HeaderValue::from_static("5f3c8a2e-0000-4000-8000-000000000002"),
    );
    r
}

/// An error in the JSON 1.1 shape: the code in the body's `__type`. Organizations answers
/// its errors with HTTP 400.
fn error(code: &str, message: &str) -> HttpResponse {
    error_with_status(400, code, message)
}

fn error_with_status(status: u16, code: &str, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({ "__type": code, "Message": message });
    json_1_1(status, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(n: usize) -> Vec<Account> {
        (0..n)
            .map(|i| Account::active(&format!("{:012}", 100_000_000_000 + i)))
            .collect()
    }

    #[test]
    fn pages_follow_tokens_to_the_end() {
        let accounts = org(45);
        let refs: Vec<&Account> = accounts.iter().collect();
        let mut token = None;
        let mut sizes = Vec::new();
        loop {
            let Listing::Page {
                accounts,
                next_token,
            } = accounts_page(&refs, None, token.as_deref())
            else {
                panic!("not a page")
            };
            sizes.push(accounts.len());
            token = next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(sizes, [20, 20, 5]);
        let Listing::Page { accounts, .. } = accounts_page(&refs, Some(7), Some("accounts-42"))
        else {
            panic!("not a page")
        };
        assert_eq!(accounts.len(), 3);
    }

    #[test]
    fn max_results_and_tokens_are_checked() {
        let accounts = org(3);
        let refs: Vec<&Account> = accounts.iter().collect();
        let reason = |max, token| match accounts_page(&refs, max, token) {
            Listing::Invalid { reason, .. } => reason,
            Listing::Page { .. } => "page",
        };
        assert_eq!(reason(Some(0), None), "MIN_VALUE_EXCEEDED");
        assert_eq!(reason(Some(21), None), "MAX_VALUE_EXCEEDED");
        assert_eq!(reason(Some(20), None), "page");
        assert_eq!(reason(Some(1), Some("bogus")), "INVALID_NEXT_TOKEN");
    }

    #[test]
    fn the_body_is_typed_as_the_model_types_it() {
        assert_eq!(list_accounts_input(b"{}"), Ok((None, None)));
        assert_eq!(
            list_accounts_input(br#"{"MaxResults":5,"NextToken":"accounts-5"}"#),
            Ok((Some(5), Some("accounts-5".to_owned())))
        );
        assert!(list_accounts_input(br#"{"MaxResults":"5"}"#).is_err());
        assert!(list_accounts_input(b"[]").is_err());
        assert!(list_accounts_input(b"{").is_err());
    }
}
