//! What the benchmarks share: the TikTok sandbox as a process of its own,
//! and this process's resident memory.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, anyhow};

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
