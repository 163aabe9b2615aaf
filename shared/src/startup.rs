//! Builds each function's application from its configuration: the one place
//! that wires config, clients and services, used by `main.rs` and by the
//! tests alike. Every client is wired here, once per cold start; the SDK
//! clients are built on their first use (`aws::LazyClient`).

use crate::{
    adapters::{
        aws,
        kms::KmsSealer,
        s3::UploadBucket,
        scheduler::Schedules,
        secrets_manager,
        sqs::Queue,
        store::Store,
        tiktok::{
            client::{HttpClientError, TikTokClient, http_client},
            transfer::MediaTransfer,
        },
    },
    config::{
        AnalyticsApiConfig, AnalyticsSnapshotConfig, Invocation, OAuthCallbackConfig,
        OAuthStartConfig, PostsApiConfig, PublishConfig, RefreshConfig, RefreshWorkerConfig,
        TokenConfig, TokenRefreshConfig, UploadPresignConfig, WebhookConfig,
    },
    domain::{creator::AppAudit, schedule::DueShards},
    env::{ConfigError, Env},
    service::{
        accounts::Accounts,
        analytics::{History, Snapshots},
        limits::Limiter,
        oauth::{callback::OAuthCallback, start::OAuthStart},
        posts::{Posts, PostsAdapters},
        publish::{PublishAdapters, Publisher},
        refresh::Refresher,
        uploads::Uploads,
        webhooks::Webhooks,
    },
    support::{clock::Clock, init_steps},
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[from] HttpClientError),
}

pub async fn oauth_start(env: &Env) -> Result<OAuthStart, StartupError> {
    let config = OAuthStartConfig::from_env(env)?;
    init_steps::mark("config");
    let sdk = aws::load(env).await;
    let store = Store::new(
        aws::lazy(&sdk, aws_sdk_dynamodb::Client::new),
        &config.table,
    );
    Ok(OAuthStart::new(
        store,
        config.authorize,
        config.start,
        Clock::system(),
    ))
}

pub async fn oauth_callback(env: &Env) -> Result<OAuthCallback, StartupError> {
    let (sdk, env) = &with_client_secret(env).await?;
    let config = OAuthCallbackConfig::from_env(env)?;
    init_steps::mark("config");
    let token = TokenAdapters::build(sdk, &config.token)?;
    Ok(OAuthCallback::new(
        token.store,
        token.sealer,
        token.tiktok,
        config.callback,
        Clock::system(),
    ))
}

/// token-refresh: the refresher, and in `fanout` the queue its plans go to.
#[derive(Clone)]
pub struct TokenRefresh {
    pub refresher: Refresher,
    pub plans_to: Option<Queue>,
}

pub async fn token_refresh(env: &Env) -> Result<TokenRefresh, StartupError> {
    let (sdk, env) = &with_client_secret(env).await?;
    let config = TokenRefreshConfig::from_env(env)?;
    init_steps::mark("config");
    Ok(TokenRefresh {
        refresher: refresher(sdk, config.refresh)?,
        plans_to: config
            .queue
            .map(|url| Queue::new(aws::lazy(sdk, aws_sdk_sqs::Client::new), url)),
    })
}

/// refresh-worker: the refresher, and the queue the rest of a slice goes
/// back to.
#[derive(Clone)]
pub struct RefreshWorker {
    pub refresher: Refresher,
    pub queue: Queue,
}

pub async fn refresh_worker(env: &Env) -> Result<RefreshWorker, StartupError> {
    let (sdk, env) = &with_client_secret(env).await?;
    let config = RefreshWorkerConfig::from_env(env)?;
    init_steps::mark("config");
    Ok(RefreshWorker {
        refresher: refresher(sdk, config.refresh)?,
        queue: Queue::new(aws::lazy(sdk, aws_sdk_sqs::Client::new), config.queue),
    })
}

fn refresher(
    sdk: &aws_config::SdkConfig,
    config: RefreshConfig,
) -> Result<Refresher, StartupError> {
    let token = TokenAdapters::build(sdk, &config.token)?;
    Ok(Refresher::new(
        token.store,
        token.sealer,
        token.tiktok,
        config.refresh,
        config.budget,
        Clock::system(),
    ))
}

pub async fn accounts_api(env: &Env) -> Result<Accounts, StartupError> {
    let (sdk, env) = &with_client_secret(env).await?;
    let config = RefreshConfig::from_env(env, Invocation::Http)?;
    init_steps::mark("config");
    let token = TokenAdapters::build(sdk, &config.token)?;
    let clock = Clock::system();
    let refresher = Refresher::new(
        token.store.clone(),
        token.sealer.clone(),
        token.tiktok.clone(),
        config.refresh,
        config.budget,
        clock.clone(),
    );
    Ok(Accounts::new(
        token.store.clone(),
        Limiter::new(token.store, clock.clone()),
        token.sealer,
        token.tiktok,
        refresher,
        clock,
    )
    .with_audit(AppAudit::from_env(env)?))
}

pub async fn upload_presign(env: &Env) -> Result<Uploads, StartupError> {
    let config = UploadPresignConfig::from_env(env)?;
    init_steps::mark("config");
    let sdk = aws::load(env).await;
    let store = Store::new(
        aws::lazy(&sdk, aws_sdk_dynamodb::Client::new),
        &config.table,
    );
    let clock = Clock::system();
    Ok(Uploads::new(
        store.clone(),
        Limiter::new(store, clock.clone()),
        UploadBucket::new(aws::s3_client(&sdk, env), config.bucket),
        config.uploads,
        clock,
    ))
}

pub async fn upload_publish(env: &Env) -> Result<Publisher, StartupError> {
    let (sdk, env) = &with_client_secret(env).await?;
    let config = PublishConfig::from_env(env)?;
    init_steps::mark("config");
    let token = TokenAdapters::build(sdk, &config.token)?;
    let transfer = MediaTransfer::new(token.tiktok.http().clone());
    let adapters = PublishAdapters {
        store: token.store,
        sealer: token.sealer,
        tiktok: token.tiktok,
        transfer,
        bucket: UploadBucket::new(aws::s3_client(sdk, env), config.bucket),
        queue: Queue::new(aws::lazy(sdk, aws_sdk_sqs::Client::new), config.queue),
        schedules: Schedules::new(
            aws::lazy(sdk, aws_sdk_scheduler::Client::new),
            config.schedules,
        ),
    };
    Ok(Publisher::new(adapters, config.publish, Clock::system()))
}

/// analytics-snapshot: the snapshots, where slices go, and how many shards
/// the plan covers.
#[derive(Clone)]
pub struct AnalyticsSnapshot {
    pub snapshots: Snapshots,
    pub queue: Queue,
    pub shards: DueShards,
}

pub async fn analytics_snapshot(env: &Env) -> Result<AnalyticsSnapshot, StartupError> {
    let (sdk, env) = &with_client_secret(env).await?;
    let config = AnalyticsSnapshotConfig::from_env(env)?;
    init_steps::mark("config");
    let token = TokenAdapters::build(sdk, &config.token)?;
    Ok(AnalyticsSnapshot {
        snapshots: Snapshots::new(
            token.store,
            token.sealer,
            token.tiktok,
            config.analytics,
            Clock::system(),
        ),
        queue: Queue::new(aws::lazy(sdk, aws_sdk_sqs::Client::new), config.queue),
        shards: config.token.due_shards,
    })
}

/// analytics-api: the history the snapshots keep, and the per-user limit.
#[derive(Clone)]
pub struct AnalyticsApi {
    pub history: History,
    pub limiter: Limiter,
    pub clock: Clock,
}

pub async fn analytics_api(env: &Env) -> Result<AnalyticsApi, StartupError> {
    let config = AnalyticsApiConfig::from_env(env)?;
    init_steps::mark("config");
    let sdk = aws::load(env).await;
    let store = Store::new(aws::dynamodb_client(&sdk, &config.aws), &config.table);
    let clock = Clock::system();
    Ok(AnalyticsApi {
        history: History::new(store.clone()),
        limiter: Limiter::new(store, clock.clone()),
        clock,
    })
}

pub async fn posts_api(env: &Env) -> Result<Posts, StartupError> {
    let config = PostsApiConfig::from_env(env)?;
    init_steps::mark("config");
    let sdk = aws::load(env).await;
    let settings = aws::AwsSettings::from_env(env)?;
    let adapters = PostsAdapters {
        store: Store::new(aws::dynamodb_client(&sdk, &settings), &config.table),
        bucket: UploadBucket::new(aws::s3_client(&sdk, env), config.bucket),
        queue: Queue::new(aws::lazy(&sdk, aws_sdk_sqs::Client::new), config.queue),
        schedules: Schedules::new(
            aws::lazy(&sdk, aws_sdk_scheduler::Client::new),
            config.schedules,
        ),
    };
    Ok(Posts::new(adapters, Clock::system()).with_audit(AppAudit::from_env(env)?))
}

pub async fn tiktok_webhook(env: &Env) -> Result<Webhooks, StartupError> {
    let (sdk, env) = &with_client_secret(env).await?;
    let config = WebhookConfig::from_env(env)?;
    init_steps::mark("config");
    Ok(Webhooks::new(
        Store::new(aws::lazy(sdk, aws_sdk_dynamodb::Client::new), &config.table),
        config.webhook,
        Clock::system(),
    ))
}

/// The SDK configuration, and `env` with the TikTok client secret in it
/// (read from Secrets Manager when only its ARN is configured).
async fn with_client_secret(env: &Env) -> Result<(aws_config::SdkConfig, Env), StartupError> {
    let sdk = aws::load(env).await;
    let env = secrets_manager::resolve(env, &sdk).await?;
    init_steps::mark("client_secret");
    Ok((sdk, env))
}

/// The adapters of every function that handles tokens, built once at cold
/// start: the store, the KMS sealer and the TikTok client.
struct TokenAdapters {
    store: Store,
    sealer: KmsSealer,
    tiktok: TikTokClient,
}

impl TokenAdapters {
    fn build(sdk: &aws_config::SdkConfig, config: &TokenConfig) -> Result<Self, StartupError> {
        let http = http_client(&config.tiktok)?;
        init_steps::mark("tiktok_http_client");
        Ok(Self {
            store: Store::new(aws::dynamodb_client(sdk, &config.aws), &config.table)
                .with_due_shards(config.due_shards),
            sealer: KmsSealer::new(aws::kms_client(sdk, &config.aws), config.token_key.clone()),
            tiktok: TikTokClient::new(http, &config.tiktok),
        })
    }
}

/// Stops a function at init with one line on stderr naming what is wrong.
pub fn exit_on_error(error: StartupError) -> ! {
    eprintln!("{error}");
    std::process::exit(1)
}
