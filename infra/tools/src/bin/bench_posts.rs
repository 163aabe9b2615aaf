//! Benchmark of a post's fan-out: one media upload published to many
//! sandbox accounts. Each run provisions a fresh stack on the emulator,
//! seeds the accounts, creates the media through upload-presign's service
//! and PUTs it to its presigned URL, lets upload-publish verify it from
//! the S3 notification, creates a post for now through posts-api's
//! service, and feeds the publish queue to upload-publish in this process,
//! up to `--concurrency` messages at once (Lambda's SQS poller with
//! `MaximumConcurrency`), until every target's transfer is done.
//!
//!     infra/bench/posts.sh [--size 200000000] [--targets 10] [--runs 3] [--concurrency 10]
//!
//! upload-publish reaches AWS through the counting proxy (`AwsProxy`), so
//! its S3 GET bytes are counted; the sandbox runs in its own process and
//! counts the Content Posting calls. Every target's publish must carry the
//! file's SHA-256, or the run fails.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use bytes::Bytes;
use chrono::Utc;
use serde_json::{Value, json};
use shared::{
    adapters::{
        aws,
        kms::{KeyId, KmsSealer},
        store::{Store, TableName},
    },
    domain::{
        ids::{PostId, UploadId, UserId},
        post::{NewPost, PostRequest},
        upload::{NewMedia, UploadKind, UploadStatus, VideoType},
    },
    service::publish::{Handled, Publisher},
    support::deadline::Deadline,
};
use tokio::{sync::Semaphore, task::JoinSet};
use tools::{
    Clients, aws_endpoint,
    aws_proxy::AwsProxy,
    bench::{SandboxProcess, peak_rss_kib, reset_peak_rss, rss_kib, set_function_env},
    emulator_env, generated_mp4, provision,
    seed::{self, ALL_SCOPES, Freshness},
};

const CREATOR_INFO: &str = "/v2/post/publish/creator_info/query/";
const DIRECT_INIT: &str = "/v2/post/publish/video/init/";
const INBOX_INIT: &str = "/v2/post/publish/inbox/video/init/";
const STATUS_FETCH: &str = "/v2/post/publish/status/fetch/";
const CHUNK_PUT: &str = "/upload/";
const OWNER: &str = "bench";

struct Args {
    size: u64,
    targets: usize,
    runs: usize,
    concurrency: usize,
    timeout: Duration,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        size: 200_000_000,
        targets: 10,
        runs: 3,
        concurrency: 10,
        timeout: Duration::from_secs(600),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .with_context(|| format!("{flag} takes a number"))
        };
        match flag.as_str() {
            "--size" => args.size = number()?,
            "--targets" => args.targets = number()? as usize,
            "--runs" => args.runs = number()? as usize,
            "--concurrency" => args.concurrency = number()? as usize,
            "--timeout-secs" => args.timeout = Duration::from_secs(number()?),
            other => return Err(anyhow!("unknown flag {other}")),
        }
    }
    if args.runs == 0 || args.targets == 0 || args.concurrency == 0 {
        return Err(anyhow!(
            "--runs, --targets and --concurrency must be at least 1"
        ));
    }
    Ok(args)
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The video: `size` bytes of an 8 MB generated MP4 block over and over,
/// streamed, never whole in memory.
fn video(size: u64) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let block = Bytes::from(generated_mp4(8_000_000.min(size as usize)));
    futures::stream::unfold(0u64, move |sent| {
        let block = block.clone();
        async move {
            if sent >= size {
                return None;
            }
            let n = (size - sent).min(block.len() as u64);
            Some((Ok(block.slice(..n as usize)), sent + n))
        }
    })
}

/// What one run measured.
struct Run {
    wall: Duration,
    start_after: Duration,
    verify_read: u64,
    read: u64,
    gets: u64,
    peak_rss_mb: f64,
    rss_at_start: f64,
    aws_calls: HashMap<String, u64>,
    tiktok_calls: HashMap<String, u64>,
    chunk_puts: u64,
}

/// Everything the runs share: the emulator's clients, the sandbox, the
/// proxy in front of the emulator for upload-publish.
struct Bench {
    args: Args,
    clients: Clients,
    sandbox: SandboxProcess,
    proxy: AwsProxy,
    http: reqwest::Client,
    digest: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    // upload-publish's EMF metrics would go to stdout.
    shared::support::metrics::redirect(Box::new(std::io::sink()));
    let admin = emulator_env(&aws_endpoint());
    let clients = Clients::new(&aws::load(&admin).await);
    let sandbox = tools::bench::start_sandbox("bench_key", "bench_secret").await?;
    let proxy = AwsProxy::spawn(aws_endpoint()).await?;
    proxy.stream_answers("S3.GET");
    let http = reqwest::Client::new();
    // The file's SHA-256, by the sandbox's own hasher (its sink).
    let sink: Value = http
        .put(format!("{}/sandbox/sink", sandbox.url))
        .header("Content-Length", args.size)
        .body(reqwest::Body::wrap_stream(video(args.size)))
        .send()
        .await?
        .json()
        .await
        .context("the sandbox's sink")?;
    let digest = sink["sha256"]
        .as_str()
        .ok_or_else(|| anyhow!("the sink answered {sink}"))?
        .to_owned();
    println!(
        "posts fan-out benchmark: one {} MB media upload to {} sandbox accounts, \
         upload-publish in-process ({} at once) behind a counting S3 proxy",
        args.size as f64 / 1e6,
        args.targets,
        args.concurrency
    );
    println!(
        "baseline RSS of this process: {:.1} MB; file sha256 {digest}",
        rss_kib() as f64 / 1024.0
    );
    let bench = Bench {
        args,
        clients,
        sandbox,
        proxy,
        http,
        digest,
    };
    let mut runs = Vec::new();
    for run in 0..bench.args.runs {
        let r = bench
            .run(run)
            .await
            .with_context(|| format!("run {}", run + 1))?;
        let targets = bench.args.targets as f64;
        println!(
            "  run {}: wall {:.2} s (post started after {:.2} s), S3 read {:.3}x the object per target \
             ({} GETs), media check read {:.2} MB, peak RSS {:.1} MB (from {:.1} MB), \
             creator_info/init/status/chunk PUTs per target {:.1}/{:.1}/{:.1}/{:.1}",
            run + 1,
            r.wall.as_secs_f64(),
            r.start_after.as_secs_f64(),
            r.read as f64 / targets / bench.args.size as f64,
            r.gets,
            r.verify_read as f64 / 1e6,
            r.peak_rss_mb,
            r.rss_at_start,
            per(&r.tiktok_calls, CREATOR_INFO, targets),
            (per(&r.tiktok_calls, DIRECT_INIT, targets)
                + per(&r.tiktok_calls, INBOX_INIT, targets)),
            per(&r.tiktok_calls, STATUS_FETCH, targets),
            per(&r.tiktok_calls, CHUNK_PUT, targets),
        );
        runs.push(r);
    }
    bench.report(&runs);
    Ok(())
}

fn per(calls: &HashMap<String, u64>, path: &str, targets: f64) -> f64 {
    calls.get(path).copied().unwrap_or(0) as f64 / targets
}

impl Bench {
    async fn run(&self, run: usize) -> anyhow::Result<Run> {
        let args = &self.args;
        let prefix = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let p = provision::provision(&self.clients, &prefix).await?;
        let mut env = emulator_env(&aws_endpoint());
        set_function_env(&mut env, &p, &self.sandbox)?;
        let uploads = shared::startup::upload_presign(&env).await?;
        let posts = shared::startup::posts_api(&env).await?;
        let mut proxied = env.clone();
        proxied.set("AWS_ENDPOINT_URL", self.proxy.url.clone());
        let publisher = shared::startup::upload_publish(&proxied).await?;
        let store = Store::new(self.clients.dynamodb.clone(), &TableName::from_env(&env)?);
        let sealer = KmsSealer::new(self.clients.kms.clone(), KeyId::from_env(&env)?);
        let user = UserId::parse(OWNER)?;

        let mut accounts = Vec::with_capacity(args.targets);
        for i in 0..args.targets {
            let open_id = format!("bench-posts-{prefix}-{run}-{i}");
            let tokens =
                seed::sandbox_grant(&self.http, &self.sandbox.url, &open_id, ALL_SCOPES).await?;
            seed::account(
                &store,
                &sealer,
                &open_id,
                OWNER,
                ALL_SCOPES,
                &tokens,
                Freshness::Fresh,
            )
            .await?;
            accounts.push(open_id);
        }

        // The media, through upload-presign's service and its presigned PUT.
        let created = uploads
            .create(
                &user,
                UploadKind::Media(NewMedia {
                    video_type: VideoType::Mp4,
                    size_bytes: args.size,
                }),
            )
            .await
            .map_err(|e| anyhow!("creating the media: {e:?}"))?;
        let media_id = UploadId::parse(&created.upload.upload_id)
            .ok_or_else(|| anyhow!("media id {}", created.upload.upload_id))?;
        let mut put = self.http.put(created.put.url.expose());
        for (name, value) in &created.put.headers {
            put = put.header(name, value);
        }
        let status = put
            .body(reqwest::Body::wrap_stream(video(args.size)))
            .send()
            .await
            .context("the media's PUT")?
            .status();
        if !status.is_success() {
            return Err(anyhow!("the media's PUT answered {status}"));
        }

        // Its S3 notification: upload-publish verifies it.
        let poller = Poller {
            publisher: publisher.clone(),
            sqs: self.clients.sqs.clone(),
            queue_url: p.queue_url.clone(),
            concurrency: args.concurrency,
            timeout: args.timeout,
        };
        self.proxy.reset_calls();
        poller
            .run_until(|handled| {
                handled
                    .iter()
                    .any(|h| h.handled == Handled::MediaStored(UploadStatus::Ready))
            })
            .await
            .context("verifying the media")?;
        let verify_read = self.proxy.answer_bytes("S3.GET");

        // The post, for now, to every account; then the fan-out.
        self.proxy.reset_calls();
        let calls_before = self.sandbox_calls().await?;
        // Freed memory (the media's PUT) back to the system first, so the
        // peak is the fan-out's.
        // SAFETY: malloc_trim only releases free heap memory.
        unsafe { libc::malloc_trim(0) };
        let rss_at_start = rss_kib() as f64 / 1024.0;
        reset_peak_rss();
        let started = Instant::now();
        let request: PostRequest = serde_json::from_value(json!({
            "upload_id": media_id.to_string(),
            "mode": "direct",
            "post": {"title": "One video, many accounts #bench", "privacy_level": "SELF_ONLY"},
            "targets": accounts.iter().map(|a| json!({"account_id": a})).collect::<Vec<_>>(),
        }))?;
        let request = NewPost::parse(request, Utc::now())?;
        let view = posts
            .create(&user, request)
            .await
            .map_err(|e| anyhow!("creating the post: {e:?}"))?;
        let targets = args.targets;
        let handled = poller
            .run_until(move |handled| {
                handled
                    .iter()
                    .filter(|h| h.handled == Handled::Transferred)
                    .count()
                    >= targets
            })
            .await
            .context("the fan-out")?;
        let peak_rss_mb = peak_rss_kib() as f64 / 1024.0;
        let done = handled
            .iter()
            .filter(|h| h.handled == Handled::Transferred)
            .map(|h| h.at)
            .max()
            .ok_or_else(|| anyhow!("no transfer"))?;
        let start = handled
            .iter()
            .find(|h| matches!(h.handled, Handled::Started(_)))
            .map(|h| h.at)
            .ok_or_else(|| anyhow!("the post never started"))?;
        let read = self.proxy.answer_bytes("S3.GET");
        let gets = self.proxy.calls("S3.GET");
        let aws_calls = self.proxy.all_calls();
        let calls_after = self.sandbox_calls().await?;
        let tiktok_calls: HashMap<String, u64> = calls_after
            .iter()
            .map(|(path, n)| {
                let before = calls_before.get(path).copied().unwrap_or(0);
                (path.clone(), n - before)
            })
            .filter(|(_, n)| *n > 0)
            .collect();

        // Every target: processing or published, one publish at TikTok
        // with the file's exact bytes.
        let post_id = PostId::parse(&view.post_id).ok_or_else(|| anyhow!("post id"))?;
        let settled = posts
            .get(&user, &post_id)
            .await
            .map_err(|e| anyhow!("reading the post: {e:?}"))?;
        for target in &settled.targets {
            if !matches!(
                target.status,
                UploadStatus::Processing | UploadStatus::Published
            ) {
                return Err(anyhow!(
                    "target {} is {:?} ({:?})",
                    target.account_id,
                    target.status,
                    target.error
                ));
            }
        }
        let publishes: Vec<Value> = self
            .http
            .get(format!("{}/sandbox/publishes", self.sandbox.url))
            .send()
            .await?
            .json()
            .await?;
        let mut chunk_puts = 0;
        for account in &accounts {
            let mine: Vec<&Value> = publishes
                .iter()
                .filter(|p| p["open_id"].as_str() == Some(account.as_str()))
                .collect();
            if mine.len() != 1 {
                return Err(anyhow!(
                    "{account} has {} publishes at TikTok, not one",
                    mine.len()
                ));
            }
            let publish = mine[0];
            if publish["sha256"].as_str() != Some(self.digest.as_str()) {
                return Err(anyhow!(
                    "{account}'s publish has sha256 {}, not the file's {}",
                    publish["sha256"],
                    self.digest
                ));
            }
            if publish["uploaded_bytes"].as_u64() != Some(args.size) {
                return Err(anyhow!(
                    "{account}'s publish has {} bytes",
                    publish["uploaded_bytes"]
                ));
            }
            chunk_puts += publish["chunk_puts"].as_u64().unwrap_or(0);
        }

        // The emulator keeps objects in memory: free this run's.
        self.clients
            .s3
            .delete_object()
            .bucket(&p.bucket)
            .key(media_id.media_key())
            .send()
            .await
            .context("DeleteObject")?;
        Ok(Run {
            wall: done - started,
            start_after: start - started,
            verify_read,
            read,
            gets,
            peak_rss_mb,
            rss_at_start,
            aws_calls,
            tiktok_calls,
            chunk_puts,
        })
    }

    async fn sandbox_calls(&self) -> anyhow::Result<HashMap<String, u64>> {
        Ok(self
            .http
            .get(format!("{}/sandbox/calls", self.sandbox.url))
            .send()
            .await?
            .json()
            .await?)
    }

    fn report(&self, runs: &[Run]) {
        let args = &self.args;
        let targets = args.targets as f64;
        let size = args.size as f64;
        let col = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let tiktok = |path: &'static str| move |r: &Run| per(&r.tiktok_calls, path, targets);
        let wall = col(&|r| r.wall.as_secs_f64());
        let rows: Vec<(&str, String)> = vec![
            (
                "wall time, post created -> every transfer done",
                format!("{wall:.2} s"),
            ),
            (
                "  of which until the post started",
                format!("{:.2} s", col(&|r| r.start_after.as_secs_f64())),
            ),
            (
                "relayed to TikTok (all targets)",
                format!("{:.1} MB/s", targets * size / 1e6 / wall),
            ),
            (
                "S3 bytes read per target / object size",
                format!("{:.3}", col(&|r| r.read as f64 / targets / size)),
            ),
            (
                "S3 bytes read, all targets",
                format!("{:.1} MB", col(&|r| r.read as f64) / 1e6),
            ),
            (
                "S3 GETs per target",
                format!("{:.2}", col(&|r| r.gets as f64 / targets)),
            ),
            (
                "media verification read (once, before the post)",
                format!("{:.2} MB", col(&|r| r.verify_read as f64) / 1e6),
            ),
            (
                "peak RSS (this process: upload-publish, proxy, poller)",
                format!(
                    "{:.1} MB (RSS at the post's start {:.1} MB)",
                    col(&|r| r.peak_rss_mb),
                    col(&|r| r.rss_at_start)
                ),
            ),
            (
                "creator_info calls per target",
                format!("{:.2}", col(&tiktok(CREATOR_INFO))),
            ),
            (
                "video init calls per target",
                format!(
                    "{:.2}",
                    col(&|r| per(&r.tiktok_calls, DIRECT_INIT, targets)
                        + per(&r.tiktok_calls, INBOX_INIT, targets))
                ),
            ),
            (
                "status fetch calls per target",
                format!("{:.2}", col(&tiktok(STATUS_FETCH))),
            ),
            (
                "chunk PUTs per target (accepted)",
                format!(
                    "{:.2} ({:.2})",
                    col(&tiktok(CHUNK_PUT)),
                    col(&|r| r.chunk_puts as f64 / targets)
                ),
            ),
            (
                "AWS calls per target (upload-publish)",
                format!(
                    "{:.1}",
                    col(&|r| r.aws_calls.values().sum::<u64>() as f64 / targets)
                ),
            ),
        ];
        println!(
            "{} bytes ({:.0} MB) to {} targets, {} at once, median of {} runs:",
            args.size,
            size / 1e6,
            args.targets,
            args.concurrency,
            runs.len()
        );
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (name, value) in &rows {
            println!("  {name:<width$}  {value}");
        }
        if let Some(last) = runs.last() {
            let mut calls: Vec<_> = last.aws_calls.iter().collect();
            calls.sort();
            let calls: Vec<String> = calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
            println!("  AWS calls of the last run: {}", calls.join(", "));
        }
        println!("  every target's publish at the sandbox has the file's sha256");
    }
}

/// One message's handling, as upload-publish answered it.
struct Record {
    handled: Handled,
    at: Instant,
}

/// Lambda's SQS poller for upload-publish: receives from the publish queue
/// (short polls), hands each message to a handler of its own, at most
/// `concurrency` at once, and deletes it once handled.
struct Poller {
    publisher: Publisher,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    concurrency: usize,
    timeout: Duration,
}

impl Poller {
    /// Feeds the queue to upload-publish until `done` holds for what was
    /// handled; a message that fails, or an upload that ends `failed`,
    /// fails the run.
    async fn run_until(&self, done: impl Fn(&[Record]) -> bool) -> anyhow::Result<Vec<Record>> {
        let records: Arc<Mutex<Vec<Record>>> = Arc::default();
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
        let started = Instant::now();
        loop {
            while let Some(finished) = tasks.try_join_next() {
                finished??;
            }
            {
                let records = records.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(failed) = records.iter().find_map(|r| match &r.handled {
                    Handled::Failed(reason) => Some(reason.clone()),
                    _ => None,
                }) {
                    return Err(anyhow!("an upload failed: {failed}"));
                }
                if done(&records) {
                    break;
                }
            }
            if started.elapsed() > self.timeout {
                return Err(anyhow!("not done within {:?}", self.timeout));
            }
            let free = permits.available_permits();
            if free == 0 {
                if let Some(finished) = tasks.join_next().await {
                    finished??;
                }
                continue;
            }
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(free.min(10) as i32)
                .wait_time_seconds(0)
                .send()
                .await
                .context("ReceiveMessage")?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            for message in messages {
                let permit = permits.clone().acquire_owned().await?;
                let publisher = self.publisher.clone();
                let sqs = self.sqs.clone();
                let queue_url = self.queue_url.clone();
                let records = records.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    let body = message.body.unwrap_or_default();
                    let parsed = publisher
                        .read_message(&body)
                        .map_err(|e| anyhow!("unreadable message {body}: {e}"))?;
                    let deadline = Deadline::at(Utc::now() + chrono::Duration::seconds(900));
                    let handled = publisher
                        .handle_within(parsed, deadline)
                        .await
                        .map_err(|e| anyhow!("handling {body}: {e:?}"))?;
                    let at = Instant::now();
                    if let Some(receipt) = message.receipt_handle {
                        sqs.delete_message()
                            .queue_url(&queue_url)
                            .receipt_handle(receipt)
                            .send()
                            .await
                            .context("DeleteMessage")?;
                    }
                    let mut records = records.lock().unwrap_or_else(|p| p.into_inner());
                    records.extend(handled.into_iter().map(|handled| Record { handled, at }));
                    Ok(())
                });
            }
        }
        // What is still running belongs to the next step's messages.
        while let Some(finished) = tasks.join_next().await {
            finished??;
        }
        let records = std::mem::take(&mut *records.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(records)
    }
}
