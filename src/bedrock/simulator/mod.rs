//! A stand-in for Bedrock: a real HTTP server answering `GetModelCustomizationJob` and
//! `GetCustomModel` in the service's REST-JSON shapes, with faults that tests inject.
//!
//! It serves `--demo` (with the evolving [`crate::demo`] fleet) and the integration tests (with
//! fixed records). Responses follow `shared/reference/bedrock-2023-04-20.service.json`: RFC 3339
//! timestamps, absent fields left out, errors as `x-amzn-ErrorType` plus `{"message": ...}`.
//! It also implements [`BedrockSource`] in-process, so scheduling tests can count its calls on
//! paused time without sockets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bedrock::{
    BedrockSource, ErrorKind, FetchError, JobRecord, ModelRecord, Operation, Record,
};
use crate::demo::Fleet;
use crate::http::{escape, response, serve_http, HttpResponse};

/// A failure the simulator answers with instead of the record.
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
}

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
}

/// One request the simulator received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub operation: Operation,
    pub identifier: String,
    /// When it arrived, on tokio's clock (paused in tests that pause it).
    pub at: Instant,
    /// The access key ID the request was signed with (empty for in-process calls).
    pub access_key: String,
}

/// The call log keeps at most this many calls, so a demo left running does not grow without bound.
pub const CALL_LOG_MAX: usize = 10_000;

/// The credentials the simulated STS hands out for every `AssumeRole`.
pub const ASSUMED_ACCESS_KEY: &str = "ASIASIMULATEDROLE001";

/// The records the simulator serves.
#[derive(Debug)]
enum Catalog {
    Fixed {
        jobs: Vec<JobRecord>,
        models: Vec<ModelRecord>,
    },
    Demo(Fleet),
}

#[derive(Debug)]
struct State {
    catalog: Catalog,
    /// Faults by identifier (`None`: every identifier), applied to every call until cleared.
    faults: Vec<(Option<String>, Fault)>,
    calls: Vec<Call>,
    /// Role ARNs of the `AssumeRole` calls received, in order.
    assumed_roles: Vec<String>,
}

/// Counts of things tests wait for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Progress {
    /// Calls received since the simulator started, however many the log still holds.
    calls: usize,
    /// How often the faults were cleared; held answers wait for it to move.
    clears: u64,
}

/// The simulated service. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
    progress: watch::Sender<Progress>,
}

/// What one call resolves to before it is put on the wire: the record, if it exists, and the
/// fault to apply first, if any.
struct Answer {
    fault: Option<Fault>,
    record: Option<Record>,
    /// The clear count when the call arrived, for [`Fault::Hold`].
    clears: u64,
}

impl Simulator {
    /// A simulator serving fixed records, which tests change with `put_job` and `put_model`.
    pub fn new() -> Simulator {
        Simulator::with_catalog(Catalog::Fixed {
            jobs: Vec::new(),
            models: Vec::new(),
        })
    }

    /// A simulator serving the demo fleet, whose records evolve from now on.
    pub fn demo() -> Simulator {
        Simulator::with_catalog(Catalog::Demo(Fleet::new(Instant::now())))
    }

    fn with_catalog(catalog: Catalog) -> Simulator {
        Simulator {
            state: Arc::new(Mutex::new(State {
                catalog,
                faults: Vec::new(),
                calls: Vec::new(),
                assumed_roles: Vec::new(),
            })),
            progress: watch::channel(Progress::default()).0,
        }
    }

    // A std Mutex: it is never held across an await, and a poisoned one still holds usable data.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds or replaces (by name) a job. The demo's fleet is fixed: there it does nothing.
    pub fn put_job(&self, job: JobRecord) {
        if let Catalog::Fixed { jobs, .. } = &mut self.state().catalog {
            jobs.retain(|j| j.job_name != job.job_name);
            jobs.push(job);
        }
    }

    /// Adds or replaces (by name) a custom model. The demo's fleet is fixed: there it does nothing.
    pub fn put_model(&self, model: ModelRecord) {
        if let Catalog::Fixed { models, .. } = &mut self.state().catalog {
            models.retain(|m| m.model_name != model.model_name);
            models.push(model);
        }
    }

    /// Answers every call for `identifier` (`None`: for every identifier) with `fault` until
    /// [`Simulator::clear_faults`]. An error fault for a role ARN makes STS refuse to assume it.
    pub fn inject(&self, identifier: Option<&str>, fault: Fault) {
        self.state()
            .faults
            .push((identifier.map(str::to_owned), fault));
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

    /// How many calls named `identifier`.
    pub fn calls_for(&self, identifier: &str) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|c| c.identifier == identifier)
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

    fn answer(&self, operation: Operation, identifier: &str, access_key: &str) -> Answer {
        let mut state = self.state();
        state.calls.push(Call {
            operation,
            identifier: identifier.to_owned(),
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
        let fault = state
            .faults
            .iter()
            .find(|(id, _)| id.as_deref().is_none_or(|id| id == identifier))
            .map(|(_, fault)| fault.clone());
        let now = Instant::now();
        let record = match (&state.catalog, operation) {
            (Catalog::Fixed { jobs, .. }, Operation::GetModelCustomizationJob) => {
                find_job(jobs.iter().cloned(), identifier).map(Record::Job)
            }
            (Catalog::Fixed { models, .. }, Operation::GetCustomModel) => {
                find_model(models.iter().cloned(), identifier).map(Record::Model)
            }
            (Catalog::Demo(fleet), Operation::GetModelCustomizationJob) => {
                find_job(fleet.jobs(now), identifier).map(Record::Job)
            }
            (Catalog::Demo(fleet), Operation::GetCustomModel) => {
                find_model(fleet.models(now), identifier).map(Record::Model)
            }
        };
        Answer {
            fault,
            record,
            clears,
        }
    }

    /// Binds `127.0.0.1:0` and serves until the returned handle is shut down.
    pub async fn spawn(&self) -> std::io::Result<RunningSimulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let sim = self.clone();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            let handler_token = token.clone();
            serve_http(listener, token, move |req| {
                let sim = sim.clone();
                let token = handler_token.clone();
                async move { sim.handle(req, token).await }
            })
            .await;
        });
        Ok(RunningSimulator {
            addr,
            shutdown,
            task,
        })
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
        shutdown: CancellationToken,
    ) -> Result<HttpResponse, ConnectionClosed> {
        if req.method() == Method::POST && req.uri().path() == "/" {
            return Ok(self.sts(req).await);
        }
        if req.method() != Method::GET {
            return Ok(error_response(
                405,
                "UnknownOperationException",
                "Unsupported method",
            ));
        }
        let path = req.uri().path();
        let route = path
            .strip_prefix("/model-customization-jobs/")
            .map(|id| (Operation::GetModelCustomizationJob, id))
            .or_else(|| {
                path.strip_prefix("/custom-models/")
                    .map(|id| (Operation::GetCustomModel, id))
            });
        let Some((operation, raw_id)) = route.filter(|(_, id)| !id.is_empty() && !id.contains('/'))
        else {
            return Ok(error_response(
                404,
                "UnknownOperationException",
                "Unknown operation",
            ));
        };
        let Some(access_key) = signed_by(&req) else {
            return Ok(error_response(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let Some(identifier) = percent_decode(raw_id) else {
            return Ok(error_response(
                400,
                "ValidationException",
                "Malformed identifier",
            ));
        };
        let answer = self.answer(operation, &identifier, &access_key);
        match answer.fault {
            Some(Fault::Error {
                status,
                code,
                message,
            }) => return Ok(error_response(status, &code, &message)),
            Some(Fault::CloseConnection) => return Err(ConnectionClosed),
            Some(Fault::MalformedJson) => {
                let cut = br#"{"jobArn": "arn:aws:bedrock:us-east-1:1234"#.to_vec();
                return Ok(json_response(StatusCode::OK, cut));
            }
            Some(Fault::Delay(delay)) => tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return Err(ConnectionClosed),
            },
            Some(Fault::Hold) => tokio::select! {
                _ = self.released(answer.clears) => {}
                _ = shutdown.cancelled() => return Err(ConnectionClosed),
            },
            None => {}
        }
        let body = match answer.record {
            Some(Record::Job(job)) => job_json(&job),
            Some(Record::Model(model)) => model_json(&model),
            None => return Ok(not_found(operation, &identifier)),
        };
        Ok(json_response(StatusCode::OK, body.to_string().into_bytes()))
    }

    /// An in-process call: faults become the errors the SDK adapter would report.
    async fn call(&self, operation: Operation, identifier: &str) -> Result<Record, FetchError> {
        let answer = self.answer(operation, identifier, "");
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
            Some(Fault::CloseConnection) => {
                return Err(FetchError::new(
                    ErrorKind::Network,
                    "simulated connection close",
                ))
            }
            None => {}
        }
        answer.record.ok_or_else(|| {
            FetchError::new(
                ErrorKind::NotFound,
                format!("ResourceNotFoundException: {identifier}"),
            )
        })
    }
}

impl Default for Simulator {
    fn default() -> Self {
        Simulator::new()
    }
}

/// The simulator's way of dropping a connection: hyper closes it without a response.
#[derive(Debug, thiserror::Error)]
#[error("simulated connection close")]
pub struct ConnectionClosed;

/// A simulator serving on loopback.
#[derive(Debug)]
pub struct RunningSimulator {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningSimulator {
    /// The endpoint URL to give the SDK.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "simulator task failed");
        }
    }
}

impl BedrockSource for Simulator {
    async fn get_job(&self, identifier: &str) -> Result<JobRecord, FetchError> {
        match self
            .call(Operation::GetModelCustomizationJob, identifier)
            .await?
        {
            Record::Job(job) => Ok(job),
            Record::Model(_) => Err(FetchError::new(ErrorKind::Other, "not a job")),
        }
    }

    async fn get_model(&self, identifier: &str) -> Result<ModelRecord, FetchError> {
        match self.call(Operation::GetCustomModel, identifier).await? {
            Record::Model(model) => Ok(model),
            Record::Job(_) => Err(FetchError::new(ErrorKind::Other, "not a model")),
        }
    }
}

impl Simulator {
    /// STS `AssumeRole` (query protocol, XML), so `role_arn` can be tested end to end.
    async fn sts(&self, req: Request<Incoming>) -> HttpResponse {
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
                .find(|(id, _)| id.as_deref() == Some(role_arn.as_str()))
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

/// The access key ID of a SigV4 `Authorization` header, if the request is signed.
fn signed_by(req: &Request<Incoming>) -> Option<String> {
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let credential = auth.strip_prefix("AWS4-HMAC-SHA256 Credential=")?;
    let key = credential.split('/').next()?;
    (!key.is_empty() && auth.contains("Signature=")).then(|| key.to_owned())
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

/// The service's answer for a name or ARN it does not know.
fn not_found(operation: Operation, identifier: &str) -> HttpResponse {
    let what = match operation {
        Operation::GetModelCustomizationJob => "model customization job",
        Operation::GetCustomModel => "custom model",
    };
    error_response(
        404,
        "ResourceNotFoundException",
        &format!("The {what} {identifier} could not be found."),
    )
}

fn find_job(jobs: impl IntoIterator<Item = JobRecord>, id: &str) -> Option<JobRecord> {
    jobs.into_iter()
        .find(|j| j.job_name.as_deref() == Some(id) || j.job_arn.as_deref() == Some(id))
}

fn find_model(models: impl IntoIterator<Item = ModelRecord>, id: &str) -> Option<ModelRecord> {
    models
        .into_iter()
        .find(|m| m.model_name.as_deref() == Some(id) || m.model_arn.as_deref() == Some(id))
}

fn json_response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut r = response(status, "application/json", body);
    r.headers_mut().insert(
        "x-amzn-RequestId",
        hyper::header::HeaderValue::from_static("5f3c8a2e-0000-4000-8000-000000000000"),
    );
    r
}

/// An error as the service sends it: the code in `x-amzn-ErrorType`, the message in the body.
fn error_response(status: u16, code: &str, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(
        status,
        json!({ "message": message }).to_string().into_bytes(),
    );
    let error_type = format!("{code}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    if let Ok(value) = hyper::header::HeaderValue::from_str(&error_type) {
        r.headers_mut().insert("x-amzn-ErrorType", value);
    }
    r
}

/// Decodes `%XX` escapes of a URI path segment; `None` if malformed or not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn timestamp(seconds: f64) -> Value {
    let text = DateTime::from_secs_f64(seconds)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    Value::String(text)
}

/// Inserts `value` under `key` unless it is absent.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value);
    }
}

fn string(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

fn metrics_json(map: &mut Map<String, Value>, training: Option<f64>, validation: &[Option<f64>]) {
    put(
        map,
        "trainingMetrics",
        training.map(|loss| json!({ "trainingLoss": loss })),
    );
    if !validation.is_empty() {
        let list = validation
            .iter()
            .map(|loss| match loss {
                Some(loss) => json!({ "validationLoss": loss }),
                None => json!({}),
            })
            .collect();
        map.insert("validationMetrics".to_owned(), Value::Array(list));
    }
}

fn hyper_parameters_json(params: &std::collections::BTreeMap<String, String>) -> Option<Value> {
    (!params.is_empty()).then(|| json!(params))
}

/// The data configs every job and model carries, derived from its name.
fn data_configs(map: &mut Map<String, Value>, name: &str, validators: usize) {
    map.insert(
        "trainingDataConfig".to_owned(),
        json!({ "s3Uri": format!("s3://demo-training-data/{name}/train.jsonl") }),
    );
    let validators: Vec<Value> = (0..validators)
        .map(|i| json!({ "s3Uri": format!("s3://demo-training-data/{name}/validation-{i}.jsonl") }))
        .collect();
    map.insert(
        "validationDataConfig".to_owned(),
        json!({ "validators": validators }),
    );
    map.insert(
        "outputDataConfig".to_owned(),
        json!({ "s3Uri": format!("s3://demo-training-output/{name}/") }),
    );
}

/// A `GetModelCustomizationJob` response body.
pub fn job_json(job: &JobRecord) -> Value {
    let mut m = Map::new();
    put(&mut m, "jobArn", string(&job.job_arn));
    put(&mut m, "jobName", string(&job.job_name));
    put(&mut m, "outputModelName", string(&job.output_model_name));
    put(&mut m, "outputModelArn", string(&job.output_model_arn));
    let account = job
        .job_arn
        .as_deref()
        .and_then(crate::bedrock::account_of_arn)
        .unwrap_or("123456789012");
    m.insert(
        "roleArn".to_owned(),
        json!(format!("arn:aws:iam::{account}:role/BedrockCustomization")),
    );
    put(&mut m, "status", string(&job.status));
    let mut details = Map::new();
    for (key, status) in [
        ("validationDetails", &job.status_details.validation),
        ("dataProcessingDetails", &job.status_details.data_processing),
        ("trainingDetails", &job.status_details.training),
    ] {
        if let Some(status) = status {
            let mut stage = Map::new();
            stage.insert("status".to_owned(), json!(status));
            put(&mut stage, "creationTime", job.creation_time.map(timestamp));
            put(
                &mut stage,
                "lastModifiedTime",
                job.last_modified_time.map(timestamp),
            );
            details.insert(key.to_owned(), Value::Object(stage));
        }
    }
    if !details.is_empty() {
        m.insert("statusDetails".to_owned(), Value::Object(details));
    }
    put(&mut m, "failureMessage", string(&job.failure_message));
    put(&mut m, "creationTime", job.creation_time.map(timestamp));
    put(
        &mut m,
        "lastModifiedTime",
        job.last_modified_time.map(timestamp),
    );
    put(&mut m, "endTime", job.end_time.map(timestamp));
    put(&mut m, "baseModelArn", string(&job.base_model_arn));
    put(
        &mut m,
        "hyperParameters",
        hyper_parameters_json(&job.hyper_parameters),
    );
    data_configs(
        &mut m,
        job.job_name.as_deref().unwrap_or("job"),
        job.validation_losses.len().max(1),
    );
    put(&mut m, "customizationType", string(&job.customization_type));
    if job.customization_type.as_deref() == Some("DISTILLATION") {
        m.insert(
            "customizationConfig".to_owned(),
            json!({ "distillationConfig": { "teacherModelConfig": {
                "teacherModelIdentifier": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
                "maxResponseLengthForInference": 1000
            }}}),
        );
    }
    metrics_json(&mut m, job.training_loss, &job.validation_losses);
    Value::Object(m)
}

/// A `GetCustomModel` response body.
pub fn model_json(model: &ModelRecord) -> Value {
    let mut m = Map::new();
    put(&mut m, "modelArn", string(&model.model_arn));
    put(&mut m, "modelName", string(&model.model_name));
    put(&mut m, "jobName", string(&model.job_name));
    put(&mut m, "jobArn", string(&model.job_arn));
    put(&mut m, "baseModelArn", string(&model.base_model_arn));
    put(
        &mut m,
        "customizationType",
        string(&model.customization_type),
    );
    put(
        &mut m,
        "hyperParameters",
        hyper_parameters_json(&model.hyper_parameters),
    );
    data_configs(
        &mut m,
        model.model_name.as_deref().unwrap_or("model"),
        model.validation_losses.len().max(1),
    );
    metrics_json(&mut m, model.training_loss, &model.validation_losses);
    put(&mut m, "creationTime", model.creation_time.map(timestamp));
    put(&mut m, "modelStatus", string(&model.model_status));
    put(&mut m, "failureMessage", string(&model.failure_message));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_percent_decoded() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ajob%2Fx").as_deref(),
            Some("arn:aws:bedrock:us-east-1:1:job/x")
        );
        assert_eq!(percent_decode("plain-name").as_deref(), Some("plain-name"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("cut%2"), None);
    }

    #[tokio::test]
    async fn the_call_log_is_bounded() {
        let sim = Simulator::new();
        for _ in 0..=CALL_LOG_MAX {
            let _ = sim.get_job("some-job").await;
        }
        assert!(sim.calls().len() <= CALL_LOG_MAX);
        assert!(sim.calls().len() >= CALL_LOG_MAX / 2);
        // The total still counts every call.
        assert_eq!(sim.progress.borrow().calls, CALL_LOG_MAX + 1);
    }

    #[test]
    fn timestamps_are_rfc3339_with_zone() {
        assert_eq!(timestamp(1_793_534_400.0), json!("2026-11-01T12:00:00Z"));
    }
}
