//! Creates the local stack's table, KMS key, bucket, queues and schedule
//! group on the emulator at `AWS_ENDPOINT_URL`, from template.yaml's own
//! definitions, and prints them as shell variables.

use shared::{adapters::aws, env::Env};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "local".into());
    let sdk = aws::load(&Env::from_process()).await;
    let clients = tools::Clients::new(&sdk);
    let p = tools::provision::provision(&clients, &prefix).await?;
    println!("TABLE_NAME={}", p.table);
    println!("TOKEN_KEY_ID={}", p.key_id);
    println!("TOKEN_KEY_ALIAS={}", p.key_alias);
    println!("UPLOAD_BUCKET={}", p.bucket);
    println!("PUBLISH_QUEUE_URL={}", p.queue_url);
    println!("PUBLISH_DEAD_LETTER_QUEUE_URL={}", p.dead_letter_queue_url);
    println!("REFRESH_QUEUE_URL={}", p.refresh_queue_url);
    println!(
        "REFRESH_DEAD_LETTER_QUEUE_URL={}",
        p.refresh_dead_letter_queue_url
    );
    println!("ANALYTICS_QUEUE_URL={}", p.analytics_queue_url);
    println!(
        "ANALYTICS_DEAD_LETTER_QUEUE_URL={}",
        p.analytics_dead_letter_queue_url
    );
    println!("PUBLISH_QUEUE_ARN={}", p.queue_arn);
    println!("POST_SCHEDULE_GROUP={}", p.schedule_group);
    println!("POST_SCHEDULER_ROLE_ARN={}", p.scheduler_role_arn);
    println!("POST_SCHEDULE_DLQ_ARN={}", p.schedule_dead_letter_queue_arn);
    println!("POST_SCHEDULE_DLQ_URL={}", p.schedule_dead_letter_queue_url);
    Ok(())
}
