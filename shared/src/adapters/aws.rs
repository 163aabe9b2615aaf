//! The AWS SDK configuration, loaded once at cold start.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

use crate::env::{ConfigError, Env};

/// How long one DynamoDB or KMS call may take, its SDK retries included
/// (`AWS_OPERATION_TIMEOUT_SECONDS`, 1-30, default 2): what makes a worst
/// case a real bound. S3 streams are not bounded by it (a chunk takes as
/// long as its bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwsSettings {
    pub operation_timeout: Duration,
}

impl AwsSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            operation_timeout: env.seconds("AWS_OPERATION_TIMEOUT_SECONDS", 2, (1, 30))?,
        })
    }

    fn timeouts(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_timeout(self.operation_timeout)
            .operation_attempt_timeout(self.operation_timeout)
            .build()
    }
}

/// A DynamoDB client whose every call is bounded by `settings`.
pub fn dynamodb_client(sdk: &SdkConfig, settings: &AwsSettings) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(settings.timeouts())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A KMS client whose every call is bounded by `settings`.
pub fn kms_client(sdk: &SdkConfig, settings: &AwsSettings) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::config::Builder::from(sdk)
        .timeout_config(settings.timeouts())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// Loads the SDK configuration the standard way, taking `AWS_ENDPOINT_URL`,
/// `AWS_REGION`, `AWS_MAX_ATTEMPTS` and static credentials from `env` when it
/// has them, so a test
/// can point one app at its own emulator without touching the process
/// environment.
pub async fn load(env: &Env) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = env.get("AWS_ENDPOINT_URL") {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = env.get("AWS_REGION") {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let (Some(id), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        let session = env.get("AWS_SESSION_TOKEN").map(str::to_owned);
        loader =
            loader.credentials_provider(Credentials::new(id, secret, session, None, "environment"));
    }
    if let Some(attempts) = env
        .get("AWS_MAX_ATTEMPTS")
        .and_then(|v| v.parse::<u32>().ok())
    {
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(attempts.max(1)));
    }
    loader.load().await
}

/// An S3 client. Against an emulator (`AWS_ENDPOINT_URL` set) it uses
/// path-style addressing, as emulators serve buckets under one host; against
/// AWS the default virtual-hosted style.
pub fn s3_client(sdk: &SdkConfig, env: &Env) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(env.get("AWS_ENDPOINT_URL").is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
