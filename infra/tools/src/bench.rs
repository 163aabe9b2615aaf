//! What the benchmarks share: a fresh stack on the emulator with the TikTok
//! sandbox as a process of its own, and this process's resident memory.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, anyhow};
use shared::{adapters::aws, env::Env};

use crate::{Clients, Provisioned, aws_endpoint, emulator_env, provision::provision};

/// What a benchmark runs against: its own resources on the emulator, the
/// sandbox in its own process, and the environment a function would see
/// there.
pub struct Stack {
    pub clients: Clients,
    pub provisioned: Provisioned,
    pub sandbox: SandboxProcess,
    pub env: Env,
}

/// Provisions a fresh stack (names from `bench` and a random suffix) and
/// starts the sandbox for the app `bench_key` / `bench_secret`.
pub async fn stack() -> anyhow::Result<Stack> {
    let mut env = emulator_env(&aws_endpoint());
    let clients = Clients::new(&aws::load(&env).await);
    let prefix = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let provisioned = provision(&clients, &prefix).await?;
    let sandbox = start_sandbox("bench_key", "bench_secret").await?;
    set_function_env(&mut env, &provisioned, &sandbox)?;
    Ok(Stack {
        clients,
        provisioned,
        sandbox,
        env,
    })
}

/// Sets what every function reads in `env`: the resources of
/// `provisioned`, and `sandbox` as TikTok for the app `bench_key` /
/// `bench_secret`.
pub fn set_function_env(
    env: &mut Env,
    provisioned: &Provisioned,
    sandbox: &SandboxProcess,
) -> anyhow::Result<()> {
    let upload_origin = url::Url::parse(&sandbox.url)?
        .origin()
        .ascii_serialization();
    for (k, v) in [
        ("TABLE_NAME", provisioned.table.clone()),
        ("TOKEN_KEY_ID", provisioned.key_id.clone()),
        ("UPLOAD_BUCKET", provisioned.bucket.clone()),
        ("PUBLISH_QUEUE_URL", provisioned.queue_url.clone()),
        ("PUBLISH_QUEUE_ARN", provisioned.queue_arn.clone()),
        ("POST_SCHEDULE_GROUP", provisioned.schedule_group.clone()),
        (
            "POST_SCHEDULER_ROLE_ARN",
            provisioned.scheduler_role_arn.clone(),
        ),
        (
            "POST_SCHEDULE_DLQ_ARN",
            provisioned.schedule_dead_letter_queue_arn.clone(),
        ),
        ("REFRESH_QUEUE_URL", provisioned.refresh_queue_url.clone()),
        ("TIKTOK_CLIENT_KEY", "bench_key".into()),
        ("TIKTOK_CLIENT_SECRET", "bench_secret".into()),
        ("TIKTOK_API_BASE_URL", sandbox.url.clone()),
        ("TIKTOK_UPLOAD_ORIGINS", upload_origin),
        ("AWS_OPERATION_TIMEOUT_SECONDS", "10".into()),
        ("FUNCTION_TIMEOUT_SECONDS", "900".into()),
    ] {
        env.set(k, v);
    }
    Ok(())
}

/// The sandbox binary (built with the same profile as the benchmark),
/// running until dropped.
pub struct SandboxProcess {
    child: Child,
    pub url: String,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Starts `tiktok-sandbox` for the app `client_key` / `client_secret` and
/// waits until it answers.
pub async fn start_sandbox(
    client_key: &str,
    client_secret: &str,
) -> anyhow::Result<SandboxProcess> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let exe = std::env::current_exe()?
        .parent()
        .ok_or_else(|| anyhow!("no exe dir"))?
        .join("tiktok-sandbox");
    let child = Command::new(exe)
        .env("SANDBOX_ADDR", format!("127.0.0.1:{port}"))
        .env("SANDBOX_CLIENT_KEY", client_key)
        .env("SANDBOX_CLIENT_SECRET", client_secret)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting tiktok-sandbox (build it with the same profile)")?;
    let sandbox = SandboxProcess {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{}/sandbox/stats", sandbox.url))
            .send()
            .await
            .is_ok()
        {
            return Ok(sandbox);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(anyhow!("tiktok-sandbox did not answer at {}", sandbox.url))
}

/// Peak resident set size of this process since the last reset, in KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// Resident set size of this process now, in KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts a new peak for [`peak_rss_kib`].
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
