//! The real source: `aws-sdk-bedrock` clients, one per target, and the mapping of their outputs
//! and errors to the project's own types.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_bedrock::config::http::HttpResponse;
use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrock::primitives::DateTime;
use aws_sdk_bedrock::types::{TrainingMetrics, ValidatorMetric};
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_types::error::ErrorMetadata;

use aws_sdk_bedrock::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, InterceptorContext,
};
use aws_sdk_bedrock::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_bedrock::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use http_body_util::{LengthLimitError, Limited};

use crate::bedrock::boundary::BODY_MAX;
use crate::bedrock::kinds;
use crate::bedrock::{BedrockSource, ErrorKind, FetchError, Kind, ListQuery, Page, Record};

/// How each call is made: its time bound and the retry policy.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Bound on one call, SDK retries included (`request_timeout`).
    pub request_timeout: Duration,
    /// The SDK's *standard* retry mode with 3 attempts. Not adaptive: at an exporter's low call
    /// rate its client-side limiter holds a throttled call's retry until the call times out.
    pub retry: RetryConfig,
}

impl ClientSettings {
    /// Standard retries, 3 attempts, as DESIGN.md prescribes.
    pub fn standard(request_timeout: Duration) -> Self {
        ClientSettings {
            request_timeout,
            retry: RetryConfig::standard().with_max_attempts(3),
        }
    }
}

/// Why a target's client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no region: set `region` on the target or AWS_REGION in the environment")]
    NoRegion,
}

/// Loads the AWS default chain: environment, shared profile, web identity (IRSA), container
/// and instance metadata, for credentials and the default region.
///
/// With a `fallback_region` (when every target names its own region), the region chain ends on it
/// instead of instance metadata: a host outside EC2 then makes no IMDS calls, and logs no IMDS
/// warnings, for a region nobody needs. The environment and profile still come first, for the
/// credential providers (STS for IRSA) that use the default region.
pub async fn default_config(fallback_region: Option<&str>) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let loader = match fallback_region {
        Some(region) => loader.region(
            RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                .or_else(ProfileFileRegionProvider::new())
                .or_else(Region::new(region.to_owned())),
        ),
        None => loader,
    };
    loader.load().await
}

/// A config with fixed credentials and region and nothing from the environment: for the demo
/// and tests, which talk to the simulator. It checks that requests are signed, not by whom.
/// Unlike `SdkConfig::builder()` alone, it has the clock and sleep that `aws_config::defaults`
/// provides, which the STS credentials provider behind `role_arn` needs.
pub fn static_config(region: &str, access_key_id: &str, secret_access_key: &str) -> SdkConfig {
    let mut builder = SdkConfig::builder();
    builder.set_sleep_impl(default_async_sleep());
    builder
        .time_source(SharedTimeSource::new(SystemTimeSource::new()))
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "static",
        )))
        .build()
}

/// Reads one target's resources of every kind through `aws-sdk-bedrock`.
#[derive(Debug, Clone)]
pub struct AwsSource {
    client: aws_sdk_bedrock::Client,
}

/// Where a client reads and as whom: a target's region, role and endpoint, as configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientTarget<'a> {
    /// `None`: the default chain's region.
    pub region: Option<&'a str>,
    /// A role to assume through STS.
    pub role_arn: Option<&'a str>,
    /// Another endpoint than the region's (a proxy, a VPC endpoint, the simulator).
    pub endpoint_url: Option<&'a str>,
}

impl AwsSource {
    /// Builds the client of `target` on top of `base` (credentials and defaults), assuming
    /// `role_arn` through STS when set. Returns the source and the region it reads.
    pub async fn new(
        base: &SdkConfig,
        target: ClientTarget<'_>,
        settings: &ClientSettings,
    ) -> Result<(AwsSource, String), ClientError> {
        let region = Region::new(region_of(base, target)?);
        let mut builder = aws_sdk_bedrock::config::Builder::from(base)
            .region(region.clone())
            .interceptor(BodyLimit)
            .retry_classifier(NoRetryWhenTooLarge)
            .retry_config(settings.retry.clone())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(settings.request_timeout)
                    .build(),
            );
        if let Some(role_arn) = target.role_arn {
            let provider = assume_role(base, role_arn, &region, target.endpoint_url).await;
            builder = builder.credentials_provider(provider);
        }
        if let Some(url) = target.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        let client = aws_sdk_bedrock::Client::from_conf(builder.build());
        Ok((AwsSource { client }, region.to_string()))
    }
}

impl AwsSource {
    /// The same client (its connections, credentials and their cache) with another bound on
    /// each call: for a reloaded config whose `request_timeout` changed.
    pub fn with_request_timeout(&self, request_timeout: Duration) -> AwsSource {
        let config = self
            .client
            .config()
            .to_builder()
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(request_timeout)
                    .build(),
            )
            .build();
        AwsSource {
            client: aws_sdk_bedrock::Client::from_conf(config),
        }
    }
}

/// Credentials of `role_arn`, assumed through STS on top of `base`'s: at `endpoint_url` when
/// given (a target's endpoint serves its STS calls too), else where `base` says.
pub async fn assume_role(
    base: &SdkConfig,
    role_arn: &str,
    region: &Region,
    endpoint_url: Option<&str>,
) -> aws_config::sts::AssumeRoleProvider {
    let sts = match endpoint_url {
        Some(url) => base.to_builder().endpoint_url(url).build(),
        None => base.clone(),
    };
    aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("bedrock-exporter")
        .region(region.clone())
        .configure(&sts)
        .build()
        .await
}

/// The region a target reads: its own, else the default chain's.
pub fn region_of(base: &SdkConfig, target: ClientTarget<'_>) -> Result<String, ClientError> {
    target
        .region
        .map(str::to_owned)
        .or_else(|| base.region().map(ToString::to_string))
        .ok_or(ClientError::NoRegion)
}

impl BedrockSource for AwsSource {
    async fn get(&self, kind: Kind, identifier: &str) -> Result<Record, FetchError> {
        kinds::get(&self.client, kind, identifier).await
    }

    async fn list_page(
        &self,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> Result<Page, FetchError> {
        kinds::list(&self.client, query, next_token).await
    }
}

/// The SDK fills a required field the service left out with an empty string: that is absence.
pub(crate) fn present(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Seconds since the epoch; a missing required timestamp arrives as the epoch itself.
pub(crate) fn seconds(t: Option<&DateTime>) -> Option<f64> {
    let t = t?;
    if t.secs() == 0 && t.subsec_nanos() == 0 {
        return None;
    }
    Some(t.secs() as f64 + f64::from(t.subsec_nanos()) / 1e9)
}

/// Widens the API's 32-bit float through its shortest decimal form, so 0.1 stays 0.1 rather
/// than becoming 0.10000000149011612.
pub(crate) fn widen(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

pub(crate) fn training_loss(metrics: Option<&TrainingMetrics>) -> Option<f64> {
    metrics.and_then(|m| m.training_loss()).map(widen)
}

pub(crate) fn validation_losses(metrics: &[ValidatorMetric]) -> Vec<Option<f64>> {
    metrics
        .iter()
        .map(|m| m.validation_loss().map(widen))
        .collect()
}

pub(crate) fn hyper_parameters(
    params: Option<&HashMap<String, String>>,
) -> BTreeMap<String, String> {
    params
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Caps every response body at [`BODY_MAX`] while it is read: the SDK reads a body whole
/// before parsing it, so a larger one is refused part-way, never held.
#[derive(Debug)]
struct BodyLimit;

impl Intercept for BodyLimit {
    fn name(&self) -> &'static str {
        "BodyLimit"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_bedrock::error::BoxError> {
        let body = context.response_mut().take_body();
        *context.response_mut().body_mut() = SdkBody::from_body_1_x(Limited::new(body, BODY_MAX));
        Ok(())
    }
}

/// A body refused for its size would be as large again: no retry.
#[derive(Debug)]
struct NoRetryWhenTooLarge;

impl ClassifyRetry for NoRetryWhenTooLarge {
    fn classify_retry(&self, context: &InterceptorContext) -> RetryAction {
        match context.output_or_error() {
            Some(Err(error)) if caused_by::<LengthLimitError>(error) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "NoRetryWhenTooLarge"
    }
}

/// Whether `error` or one of its sources is an `E`.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.downcast_ref::<E>().is_some() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Classifies an SDK failure by the cause of its last attempt, with its message (which the
/// poller passes through [`crate::bedrock::boundary`] before keeping it).
pub(crate) fn fetch_error<E>(err: SdkError<E, HttpResponse>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if caused_by::<LengthLimitError>(&err) {
        return FetchError::too_large();
    }
    if let SdkError::ServiceError(service) = &err {
        let e = service.err();
        let status = service.raw().status().as_u16();
        let kind = ErrorKind::from_service_error(e.code(), status);
        let message = match (e.code(), e.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            // No code: a body the SDK could not parse (the cause says which field and value),
            // or an error page that is not AWS's.
            _ => match e.source() {
                Some(cause) => format!(
                    "HTTP {status}: the answer could not be read: {}",
                    error_chain(cause)
                ),
                None => format!("HTTP {status} without an error code"),
            },
        };
        return FetchError::new(kind, message);
    }
    let kind = match &err {
        // Credentials are resolved inside the attempt, so their failure arrives as a dispatch
        // failure; it must not read as a network problem.
        _ if is_credentials_failure(&err) => ErrorKind::Credentials,
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => ErrorKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_user() => ErrorKind::Other,
        // I/O errors, and connections closed before the response was complete (which hyper
        // reports as an incomplete message, not as I/O).
        SdkError::DispatchFailure(_) => ErrorKind::Network,
        // ResponseError: a response the SDK could not parse. ConstructionFailure: the request
        // could not be built.
        _ => ErrorKind::Other,
    };
    FetchError::new(kind, error_chain(&err))
}

/// Whether an SDK error comes from resolving credentials: none in the chain, a provider that
/// failed (an STS AssumeRole refused, an expired SSO token), or one that did not answer in time.
fn is_credentials_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<CredentialsError>().is_some()
            // The identity cache's own timeout, a private type: only its text identifies it.
            || e.to_string().starts_with("identity resolver timed out")
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The messages of an error and its sources, joined by ": ", each once.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        // A service's error (STS's, behind a credentials provider) displays as a debug struct.
        let text = match e.downcast_ref::<ErrorMetadata>() {
            Some(meta) => [meta.code(), meta.message()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": "),
            None => e.to_string(),
        };
        // Many wrappers repeat their source's message in their own.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}
