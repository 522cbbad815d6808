//! A stand-in for STS `AssumeRole` (query protocol, XML), so `role_arn` is tested end to end:
//! signed requests only, a refusal when a test injects an error fault for the role ARN.

use std::time::Duration;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::http::{percent_decode, signed_by};
use super::{Fault, Scope, Simulator};
use crate::http::{escape, response, HttpResponse};

/// The credentials the simulated STS hands out for every `AssumeRole`.
pub const ASSUMED_ACCESS_KEY: &str = "ASIASIMULATEDROLE001";

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
             <Credentials><AccessKeyId>{ASSUMED_ACCESS_KEY}</AccessKeyId>\
             <SecretAccessKey>simulated-role-secret</SecretAccessKey>\
             <SessionToken>simulated-session-token</SessionToken>\
             <Expiration>{expiration}</Expiration></Credentials>\n\
             <AssumedRoleUser><AssumedRoleId>AROASIMULATED:{session}</AssumedRoleId>\
             <Arn>{role_arn}/{session}</Arn></AssumedRoleUser>\n\
             </AssumeRoleResult>\n\
             <ResponseMetadata><RequestId>5f3c8a2e-0000-4000-8000-000000000001</RequestId></ResponseMetadata>\n\
             </AssumeRoleResponse>\n",
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
