//! The AWS SDK configuration, loaded once at cold start.

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

use crate::env::Env;

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
