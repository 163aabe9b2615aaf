//! Benchmark of the S3 → TikTok relay: upload-publish's whole publish of a
//! stored video (verify, creator info, init, chunked streamed transfer)
//! against the emulator's S3 and the TikTok sandbox's upload host (its own
//! process), beside a raw streamed copy of the same object to the same
//! sandbox (one GET, one PUT, the same hashing at the receiver).
//!
//!     infra/bench/relay.sh [--sizes 100000000,1000000000] [--runs 3]
//!
//! Prints, per size, the median throughput of each and the relay's peak
//! RSS (this process; moto and the sandbox run in their own).

use std::{io::Write, time::Instant};

use anyhow::{Context, anyhow};
use aws_sdk_s3::primitives::ByteStream;
use chrono::Utc;
use shared::{
    adapters::{
        kms::{KeyId, KmsSealer},
        store::{Store, TableName},
    },
    domain::{
        ids::UploadId,
        upload::{NewUpload, PostSettings, PrivacyLevel, PublishMode, Upload, VideoType},
    },
    service::publish::Handled,
};
use tools::{
    bench::{peak_rss_kib, reset_peak_rss, rss_kib},
    generated_mp4,
    seed::{self, ALL_SCOPES, Freshness},
};

struct Args {
    sizes: Vec<u64>,
    runs: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        sizes: vec![100_000_000, 1_000_000_000],
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => {
                args.sizes = value
                    .split(',')
                    .map(|s| s.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .context("--sizes takes comma-separated byte counts")?
            }
            "--runs" => args.runs = value.parse().context("--runs takes a number")?,
            other => return Err(anyhow!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Writes a generated video of `size` bytes to a temporary file, 8 MB at a
/// time, so the bench never holds a whole video in memory.
fn video_file(size: u64) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!("bench-relay-{size}.mp4"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let block = generated_mp4(8_000_000);
    let mut written = 0u64;
    while written < size {
        let n = (size - written).min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        written += n as u64;
    }
    file.flush()?;
    Ok(path)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let http = reqwest::Client::new();
    let tools::bench::Stack {
        clients,
        provisioned: p,
        sandbox,
        env,
    } = tools::bench::stack().await?;
    let publisher = shared::startup::upload_publish(&env).await?;
    let store = Store::new(clients.dynamodb.clone(), &TableName::from_env(&env)?);
    let sealer = KmsSealer::new(clients.kms.clone(), KeyId::from_env(&env)?);
    let s3 = &clients.s3;
    println!("relay benchmark: S3 (moto) -> upload-publish -> TikTok sandbox upload host");
    println!(
        "baseline RSS of this process: {:.1} MB",
        rss_kib() as f64 / 1024.0
    );

    let mut seeded = 0;
    for &size in &args.sizes {
        let path = video_file(size)?;
        let source = format!("bench/source-{size}");
        s3.put_object()
            .bucket(&p.bucket)
            .key(&source)
            .body(ByteStream::from_path(&path).await?)
            .send()
            .await
            .context("storing the source object")?;
        let _ = std::fs::remove_file(&path);

        let (mut relay, mut raw, mut peaks, mut raw_peaks) = (vec![], vec![], vec![], vec![]);
        for run in 0..args.runs {
            // A fresh account per run keeps TikTok's per-token limits out of it.
            seeded += 1;
            let open_id = format!("bench-relay-{seeded}");
            let tokens = seed::sandbox_grant(&http, &sandbox.url, &open_id, ALL_SCOPES).await?;
            let account = seed::account(
                &store,
                &sealer,
                &open_id,
                "bench",
                ALL_SCOPES,
                &tokens,
                Freshness::Fresh,
            )
            .await?;
            let upload = Upload::new(
                UploadId::generate(),
                account.owner.clone(),
                NewUpload {
                    account_id: account.id.clone(),
                    video_type: VideoType::Mp4,
                    size_bytes: size,
                    mode: PublishMode::Direct,
                    post: PostSettings {
                        privacy_level: Some(PrivacyLevel::SelfOnly),
                        ..Default::default()
                    },
                },
                Utc::now(),
            );
            store.put_upload(&upload).await?;
            s3.copy_object()
                .bucket(&p.bucket)
                .copy_source(format!("{}/{source}", p.bucket))
                .key(upload.id.object_key())
                .send()
                .await
                .context("CopyObject")?;

            reset_peak_rss();
            let started = Instant::now();
            let handled = publisher.publish(&upload.id, 0).await?;
            let elapsed = started.elapsed();
            if handled != Handled::Transferred {
                return Err(anyhow!("run {run}: the publish ended {handled:?}"));
            }
            peaks.push(peak_rss_kib() as f64 / 1024.0);
            relay.push(size as f64 / 1e6 / elapsed.as_secs_f64());

            reset_peak_rss();
            let started = Instant::now();
            let object = s3
                .get_object()
                .bucket(&p.bucket)
                .key(&source)
                .send()
                .await?;
            let answer: serde_json::Value = http
                .put(format!("{}/sandbox/sink", sandbox.url))
                .header("Content-Length", size)
                .body(reqwest::Body::wrap_stream(byte_stream(object.body)))
                .send()
                .await?
                .json()
                .await?;
            let elapsed = started.elapsed();
            if answer["bytes"].as_u64() != Some(size) {
                return Err(anyhow!("the raw copy delivered {answer}"));
            }
            raw_peaks.push(peak_rss_kib() as f64 / 1024.0);
            raw.push(size as f64 / 1e6 / elapsed.as_secs_f64());
            println!(
                "  {size} bytes, run {}: relay {:.1} MB/s (peak RSS {:.1} MB), raw copy {:.1} MB/s",
                run + 1,
                relay[run],
                peaks[run],
                raw[run]
            );
        }
        let (relay_median, raw_median) = (median(&mut relay), median(&mut raw));
        let peak = peaks.iter().copied().fold(0.0, f64::max);
        let raw_peak = raw_peaks.iter().copied().fold(0.0, f64::max);
        println!(
            "size {size} bytes ({:.0} MB), {} runs:",
            size as f64 / 1e6,
            args.runs
        );
        println!("  relay (whole publish) median {relay_median:.1} MB/s");
        println!("  raw copy median             {raw_median:.1} MB/s");
        println!(
            "  relay / raw                 {:.0}%",
            100.0 * relay_median / raw_median
        );
        println!("  relay peak RSS              {peak:.1} MB (raw copy {raw_peak:.1} MB)");
        s3.delete_object()
            .bucket(&p.bucket)
            .key(&source)
            .send()
            .await?;
    }
    Ok(())
}

/// An S3 body as a stream of bytes, read as it arrives.
fn byte_stream(
    body: ByteStream,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold(body, |mut body| async move {
        body.next()
            .await
            .map(|chunk| (chunk.map_err(std::io::Error::other), body))
    })
}
