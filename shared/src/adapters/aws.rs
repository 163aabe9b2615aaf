//! The AWS SDK configuration, loaded once at cold start, and the SDK
//! clients, each built on its first use.

use std::{
    fmt,
    ops::Deref,
    sync::{Arc, OnceLock},
    time::Duration,
};

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

use crate::{
    env::{ConfigError, Env},
    support::init_steps,
};

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

/// An SDK client built on its first use, then shared by every clone.
///
/// Building one costs milliseconds at a cold start: the SDK builds its
/// HTTPS connector, reading and parsing the system's TLS roots, to validate
/// each client. A function builds only the clients its first event uses,
/// when it uses them; tests pass ready clients (`From`).
pub struct LazyClient<C> {
    client: Arc<OnceLock<C>>,
    build: Arc<dyn Fn() -> C + Send + Sync>,
}

impl<C> LazyClient<C> {
    pub fn new(build: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self {
            client: Arc::new(OnceLock::new()),
            build: Arc::new(build),
        }
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.build)())
    }

    /// Whether the client has been built.
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self {
            client: Arc::clone(&self.client),
            build: Arc::clone(&self.build),
        }
    }
}

impl<C> Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.get()
    }
}

impl<C: Clone + Send + Sync + 'static> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        let built = client.clone();
        let lazy = Self::new(move || built.clone());
        let _ = lazy.client.set(client);
        lazy
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyClient")
            .field("built", &self.is_built())
            .finish()
    }
}

/// A client of `sdk`'s configuration, built on first use by `build`.
pub fn lazy<C: 'static>(sdk: &SdkConfig, build: fn(&SdkConfig) -> C) -> LazyClient<C> {
    let sdk = sdk.clone();
    LazyClient::new(move || build(&sdk))
}

/// A DynamoDB client whose every call is bounded by `settings`.
pub fn dynamodb_client(
    sdk: &SdkConfig,
    settings: &AwsSettings,
) -> LazyClient<aws_sdk_dynamodb::Client> {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(settings.timeouts())
        .build();
    LazyClient::new(move || aws_sdk_dynamodb::Client::from_conf(config.clone()))
}

/// A KMS client whose every call is bounded by `settings`.
pub fn kms_client(sdk: &SdkConfig, settings: &AwsSettings) -> LazyClient<aws_sdk_kms::Client> {
    let config = aws_sdk_kms::config::Builder::from(sdk)
        .timeout_config(settings.timeouts())
        .build();
    LazyClient::new(move || aws_sdk_kms::Client::from_conf(config.clone()))
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
    let sdk = loader.load().await;
    init_steps::mark("sdk_config");
    sdk
}

/// An S3 client. Against an emulator (`AWS_ENDPOINT_URL` set) it uses
/// path-style addressing, as emulators serve buckets under one host; against
/// AWS the default virtual-hosted style.
pub fn s3_client(sdk: &SdkConfig, env: &Env) -> LazyClient<aws_sdk_s3::Client> {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(env.get("AWS_ENDPOINT_URL").is_some())
        .build();
    LazyClient::new(move || aws_sdk_s3::Client::from_conf(config.clone()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_lazy_client_is_built_on_first_use_once_for_every_clone() {
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&builds);
        let client = LazyClient::new(move || counted.fetch_add(1, Ordering::SeqCst));
        let clones: Vec<_> = (0..16).map(|_| client.clone()).collect();
        assert!(!client.is_built());
        assert_eq!(builds.load(Ordering::SeqCst), 0, "nothing built before use");
        std::thread::scope(|scope| {
            for clone in &clones {
                scope.spawn(|| assert_eq!(*clone.get(), 0));
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1, "built once");
        assert!(client.is_built());
        assert_eq!(format!("{client:?}"), "LazyClient { built: true }");
    }

    #[test]
    fn a_ready_client_is_used_as_given() {
        let client: LazyClient<String> = String::from("ready").into();
        assert!(client.is_built());
        assert_eq!(client.as_str(), "ready");
    }

    #[tokio::test]
    async fn building_the_clients_at_cold_start_builds_none() {
        let env = Env::from_pairs([
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]);
        let sdk = load(&env).await;
        let settings = AwsSettings::from_env(&env).expect("settings");
        let table = dynamodb_client(&sdk, &settings);
        let key = kms_client(&sdk, &settings);
        let bucket = s3_client(&sdk, &env);
        let queue = lazy(&sdk, aws_sdk_sqs::Client::new);
        assert!(!table.is_built() && !key.is_built() && !bucket.is_built() && !queue.is_built());
        let _ = table.config();
        assert!(table.is_built());
    }
}
