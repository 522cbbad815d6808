//! A stand-in for STS `AssumeRole` (query protocol, XML), so `role_arn` is tested end to end:
//! signed requests only, a refusal when a test injects an error fault for the role ARN, and
//! credentials whose access key ID names the role's account, so the simulated Bedrock answers
//! each account's credentials with that account's records.

use std::time::Duration;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::http::{percent_decode, signed_by};
use super::{Fault, Scope, Simulator};
use crate::bedrock::account_of_arn;
use crate::http::{escape, response, HttpResponse};

/// The access key ID of a role in `123456789012`, the account of the demo's and the tests'
/// records: `assumed_access_key("123456789012")`.
pub const ASSUMED_ACCESS_KEY: &str = "ASIA123456789012ROLE";

/// The access key ID for a role ARN whose account is not 12 digits; it sees every record.
const UNKNOWN_ACCOUNT_KEY: &str = "ASIASIMULATEDROLE001";

/// The access key ID the simulated STS hands out for a role in `account` (12 digits): `ASIA`,
/// the account, `ROLE`; 20 characters, shaped like a real temporary key.
pub fn assumed_access_key(account: &str) -> String {
    format!("ASIA{account}ROLE")
}

/// The account whose credentials an access key ID is, if the simulated STS issued it for a role
/// in one ([`assumed_access_key`]). `None` for other keys (the tests' and the demo's static
/// ones): those see every account's records.
pub fn account_of_access_key(key: &str) -> Option<&str> {
    let account = key.strip_prefix("ASIA")?.strip_suffix("ROLE")?;
    is_account_id(account).then_some(account)
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The access key ID for `role_arn`: its account's ([`assumed_access_key`]), or one that
/// sees everything when the ARN names no account.
fn key_for_role(role_arn: &str) -> String {
    account_of_arn(role_arn)
        .filter(|account| is_account_id(account))
        .map_or_else(|| UNKNOWN_ACCOUNT_KEY.to_owned(), assumed_access_key)
}

impl Simulator {
    /// STS `AssumeRole` (query protocol, XML), so `role_arn` can be tested end to end.
    pub(super) async fn sts(&self, req: Request<Incoming>) -> HttpResponse {
        if signed_by(&req).is_none() {
            return sts_error(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            );
        }
        let body = match req.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return sts_error(400, "InvalidInput", "unreadable body"),
        };
        let form = form_fields(&String::from_utf8_lossy(&body));
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (Some("AssumeRole"), Some(role_arn), Some(session)) = (
            field("Action").as_deref(),
            field("RoleArn"),
            field("RoleSessionName"),
        ) else {
            return sts_error(400, "InvalidAction", "only AssumeRole is simulated");
        };
        let fault = {
            let mut state = self.state();
            state.assumed_roles.push(role_arn.clone());
            state
                .faults
                .iter()
                .find(|(scope, _)| *scope == Scope::Identifier(role_arn.clone()))
                .map(|(_, fault)| fault.clone())
        };
        // A fault injected for the role ARN: STS refuses it.
        if let Some(Fault::Error {
            status,
            code,
            message,
        }) = fault
        {
            return sts_error(status, &code, &message);
        }
        let expiration = DateTime::from(std::time::SystemTime::now() + Duration::from_secs(3600))
            .fmt(Format::DateTime)
            .unwrap_or_default();
        let xml = format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n\
             <AssumeRoleResult>\n\
             <Credentials><AccessKeyId>{access_key}</AccessKeyId>\
             <SecretAccessKey>simulated-role-secret</SecretAccessKey>\
             <SessionToken>simulated-session-token</SessionToken>\
             <Expiration>{expiration}</Expiration></Credentials>\n\
             <AssumedRoleUser><AssumedRoleId>AROASIMULATED:{session}</AssumedRoleId>\
             <Arn>{role_arn}/{session}</Arn></AssumedRoleUser>\n\
             </AssumeRoleResult>\n\
             <ResponseMetadata><RequestId>5f3c8a2e-0000-4000-8000-000000000001</RequestId></ResponseMetadata>\n\
             </AssumeRoleResponse>\n",
            access_key = key_for_role(&role_arn),
            session = escape(&session),
            role_arn = escape(&role_arn),
        );
        response(StatusCode::OK, "text/xml", xml.into_bytes())
    }
}

fn sts_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let xml = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{}</Message></Error><RequestId>0</RequestId></ErrorResponse>\n",
        escape(message)
    );
    response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        "text/xml",
        xml.into_bytes(),
    )
}

/// Fields of an `application/x-www-form-urlencoded` body.
fn form_fields(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(k, v)| {
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_role_account_and_map_back() {
        let key = key_for_role("arn:aws:iam::222222222222:role/bedrock-exporter");
        assert_eq!(key, "ASIA222222222222ROLE");
        assert_eq!(key.len(), 20);
        assert_eq!(account_of_access_key(&key), Some("222222222222"));
        assert_eq!(
            key_for_role("arn:aws:iam::123456789012:role/bedrock-reader"),
            ASSUMED_ACCESS_KEY
        );
        for everything in [
            "AKIDTESTTESTTESTTEST",
            "AKIADEMODEMODEMODEMO",
            UNKNOWN_ACCOUNT_KEY,
            "ASIA12345678901xROLE",
            "",
        ] {
            assert_eq!(account_of_access_key(everything), None, "{everything}");
        }
        assert_eq!(key_for_role("not-an-arn"), UNKNOWN_ACCOUNT_KEY);
    }
}
