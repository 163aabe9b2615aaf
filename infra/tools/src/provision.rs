//! Creates the table, the KMS key, the bucket, the publish, refresh and
//! analytics queues (each with its dead-letter queue), the bucket's notifications to
//! the publish queue, and the posts' schedule group with its dead-letter
//! queue on an emulator, exactly as `template.yaml` defines them.

use anyhow::{Context, anyhow};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use aws_sdk_s3::types::{
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use serde_yaml::Value;

use crate::template::{properties_named, properties_of, resources, seq_at, str_at, template_path};

/// What was created.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub key_id: String,
    pub key_alias: String,
    pub bucket: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    /// The refresh queue: fan-out's slices.
    pub refresh_queue_url: String,
    pub refresh_dead_letter_queue_url: String,
    /// The analytics queue: the daily snapshot's slices.
    pub analytics_queue_url: String,
    pub analytics_dead_letter_queue_url: String,
    /// The publish queue's ARN: the target of every post schedule.
    pub queue_arn: String,
    /// The EventBridge Scheduler group the posts' schedules live in.
    pub schedule_group: String,
    /// The role the schedules send with. The emulator never assumes it.
    pub scheduler_role_arn: String,
    /// The schedules' dead-letter queue.
    pub schedule_dead_letter_queue_url: String,
    pub schedule_dead_letter_queue_arn: String,
}

pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub scheduler: aws_sdk_scheduler::Client,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(true)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::new(sdk),
            scheduler: aws_sdk_scheduler::Client::new(sdk),
        }
    }
}

/// Creates everything under names derived from `prefix`.
pub async fn provision(clients: &Clients, prefix: &str) -> anyhow::Result<Provisioned> {
    let resources = resources(&template_path())?;
    let table = format!("{prefix}-table");
    create_table(
        &clients.dynamodb,
        &properties_of(&resources, "AWS::DynamoDB::Table")?,
        &table,
    )
    .await?;
    let (key_id, key_alias) = create_key(
        &clients.kms,
        &properties_named(&resources, "TokenKey")?,
        prefix,
    )
    .await?;
    let (queue_url, dead_letter_queue_url, queue_arn) = create_queues(
        &clients.sqs,
        &resources,
        ("PublishQueue", "PublishDeadLetterQueue"),
        &format!("{prefix}-publish"),
    )
    .await?;
    let (refresh_queue_url, refresh_dead_letter_queue_url, _) = create_queues(
        &clients.sqs,
        &resources,
        ("RefreshQueue", "RefreshQueueDeadLetterQueue"),
        &format!("{prefix}-refresh"),
    )
    .await?;
    let (analytics_queue_url, analytics_dead_letter_queue_url, _) = create_queues(
        &clients.sqs,
        &resources,
        ("AnalyticsQueue", "AnalyticsQueueDeadLetterQueue"),
        &format!("{prefix}-analytics"),
    )
    .await?;
    let (schedule_dead_letter_queue_url, schedule_dead_letter_queue_arn) = create_queue(
        &clients.sqs,
        &properties_named(&resources, "PostScheduleDeadLetterQueue")?,
        &format!("{prefix}-post-schedules-dlq"),
        None,
    )
    .await?;
    let schedule_group = format!("{prefix}-posts");
    create_schedule_group(&clients.scheduler, &resources, &schedule_group).await?;
    let scheduler_role_arn = scheduler_role_arn(&queue_arn, prefix)?;
    let bucket = format!("{prefix}-uploads").to_lowercase();
    // By name: the console's bucket is an S3 bucket too, and is not local.
    let bucket_props = properties_named(&resources, "UploadBucket")?;
    create_bucket(&clients.s3, &bucket_props, &bucket).await?;
    notify_queue(&clients.s3, &bucket_props, &bucket, &queue_arn).await?;
    // S3 announces a new notification with an `s3:TestEvent` message, which
    // upload-publish ignores; drop it so tests count only their own.
    clients
        .sqs
        .purge_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .context("PurgeQueue")?;
    Ok(Provisioned {
        table,
        key_id,
        key_alias,
        bucket,
        queue_url,
        dead_letter_queue_url,
        refresh_queue_url,
        refresh_dead_letter_queue_url,
        analytics_queue_url,
        analytics_dead_letter_queue_url,
        queue_arn,
        schedule_group,
        scheduler_role_arn,
        schedule_dead_letter_queue_url,
        schedule_dead_letter_queue_arn,
    })
}

/// The template's one schedule group, created as `name`.
async fn create_schedule_group(
    client: &aws_sdk_scheduler::Client,
    resources: &serde_yaml::Mapping,
    name: &str,
) -> anyhow::Result<()> {
    const GROUP: &str = "AWS::Scheduler::ScheduleGroup";
    let groups = resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some(GROUP))
        .count();
    if groups != 1 {
        return Err(anyhow!(
            "template.yaml has {groups} schedule groups, not one"
        ));
    }
    client
        .create_schedule_group()
        .name(name)
        .send()
        .await
        .context("CreateScheduleGroup")?;
    Ok(())
}

/// A well-formed role ARN in the queue's account: the emulator's scheduler
/// stores it and never assumes it.
fn scheduler_role_arn(queue_arn: &str, prefix: &str) -> anyhow::Result<String> {
    let account = queue_arn
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow!("queue ARN without an account: {queue_arn}"))?;
    Ok(format!("arn:aws:iam::{account}:role/{prefix}-scheduler"))
}

fn key_schema(value: &Value) -> anyhow::Result<Vec<KeySchemaElement>> {
    seq_at(value, "KeySchema")?
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(str_at(k, "AttributeName")?)
                .key_type(KeyType::from(str_at(k, "KeyType")?))
                .build()?)
        })
        .collect()
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    props: &Value,
    name: &str,
) -> anyhow::Result<()> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(str_at(props, "BillingMode")?))
        .set_key_schema(Some(key_schema(props)?));
    for attr in seq_at(props, "AttributeDefinitions")? {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(str_at(attr, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(str_at(attr, "AttributeType")?))
                .build()?,
        );
    }
    for gsi in seq_at(props, "GlobalSecondaryIndexes")? {
        let projection = gsi
            .get("Projection")
            .ok_or_else(|| anyhow!("GSI without Projection"))?;
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(str_at(gsi, "IndexName")?)
                .set_key_schema(Some(key_schema(gsi)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(str_at(
                            projection,
                            "ProjectionType",
                        )?))
                        .build(),
                )
                .build()?,
        );
    }
    request.send().await.context("CreateTable")?;

    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(str_at(ttl, "AttributeName")?)
                    .enabled(ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(false))
                    .build()?,
            )
            .send()
            .await
            .context("UpdateTimeToLive")?;
    }
    let pitr = props
        .get("PointInTimeRecoverySpecification")
        .and_then(|p| p.get("PointInTimeRecoveryEnabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if pitr {
        client
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()?,
            )
            .send()
            .await
            .context("UpdateContinuousBackups")?;
    }
    Ok(())
}

async fn create_key(
    client: &aws_sdk_kms::Client,
    props: &Value,
    prefix: &str,
) -> anyhow::Result<(String, String)> {
    let key = client
        .create_key()
        .description(str_at(props, "Description").unwrap_or("tokens"))
        .key_spec(KeySpec::from(str_at(props, "KeySpec")?))
        .key_usage(KeyUsageType::from(str_at(props, "KeyUsage")?))
        .send()
        .await
        .context("CreateKey")?;
    let key_id = key
        .key_metadata
        .map(|m| m.key_id)
        .ok_or_else(|| anyhow!("CreateKey returned no metadata"))?;
    if props.get("EnableKeyRotation").and_then(Value::as_bool) == Some(true) {
        client
            .enable_key_rotation()
            .key_id(&key_id)
            .send()
            .await
            .context("EnableKeyRotation")?;
    }
    let alias = format!("alias/{prefix}-tokens");
    client
        .create_alias()
        .alias_name(&alias)
        .target_key_id(&key_id)
        .send()
        .await
        .context("CreateAlias")?;
    Ok((key_id, alias))
}

async fn create_bucket(
    client: &aws_sdk_s3::Client,
    props: &Value,
    name: &str,
) -> anyhow::Result<()> {
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .context("CreateBucket")?;
    if let Some(block) = props.get("PublicAccessBlockConfiguration") {
        let flag = |k: &str| block.get(k).and_then(Value::as_bool).unwrap_or(false);
        client
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(flag("BlockPublicAcls"))
                    .block_public_policy(flag("BlockPublicPolicy"))
                    .ignore_public_acls(flag("IgnorePublicAcls"))
                    .restrict_public_buckets(flag("RestrictPublicBuckets"))
                    .build(),
            )
            .send()
            .await
            .context("PutPublicAccessBlock")?;
    }
    let algorithm = props
        .get("BucketEncryption")
        .and_then(|e| e.get("ServerSideEncryptionConfiguration"))
        .and_then(Value::as_sequence)
        .and_then(|rules| rules.first())
        .and_then(|r| r.get("ServerSideEncryptionByDefault"))
        .and_then(|d| d.get("SSEAlgorithm"))
        .and_then(Value::as_str);
    if let Some(algorithm) = algorithm {
        client
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(ServerSideEncryption::from(algorithm))
                                    .build()?,
                            )
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await
            .context("PutBucketEncryption")?;
    }
    Ok(())
}

fn number_text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A queue and its dead-letter queue (their resource names in the
/// template), with the template's timeouts, retention and redrive, named
/// `{name}` and `{name}-dlq`. Returns the queue URL, the dead-letter queue
/// URL and the queue ARN.
async fn create_queues(
    client: &aws_sdk_sqs::Client,
    resources: &serde_yaml::Mapping,
    (queue, dead_letters): (&str, &str),
    name: &str,
) -> anyhow::Result<(String, String, String)> {
    let (dlq_url, dlq_arn) = create_queue(
        client,
        &properties_named(resources, dead_letters)?,
        &format!("{name}-dlq"),
        None,
    )
    .await
    .with_context(|| format!("creating {dead_letters}"))?;
    let (url, arn) = create_queue(
        client,
        &properties_named(resources, queue)?,
        name,
        Some(&dlq_arn),
    )
    .await
    .with_context(|| format!("creating {queue}"))?;
    Ok((url, dlq_url, arn))
}

/// One queue with the template's timeout and retention (`props`), and its
/// redrive to `dead_letter_arn` when the template gives one. Returns its URL
/// and ARN.
async fn create_queue(
    client: &aws_sdk_sqs::Client,
    props: &Value,
    name: &str,
    dead_letter_arn: Option<&str>,
) -> anyhow::Result<(String, String)> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let mut request = client.create_queue().queue_name(name);
    for (key, attribute) in [
        ("VisibilityTimeout", A::VisibilityTimeout),
        ("MessageRetentionPeriod", A::MessageRetentionPeriod),
    ] {
        if let Some(value) = number_text(props, key) {
            request = request.attributes(attribute, value);
        }
    }
    if let Some(redrive) = props.get("RedrivePolicy") {
        let max = number_text(redrive, "maxReceiveCount")
            .ok_or_else(|| anyhow!("RedrivePolicy without maxReceiveCount"))?;
        let dead_letter_arn =
            dead_letter_arn.ok_or_else(|| anyhow!("RedrivePolicy without a dead-letter queue"))?;
        request = request.attributes(
            A::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max})
                .to_string(),
        );
    }
    let url = request
        .send()
        .await
        .context("CreateQueue")?
        .queue_url
        .ok_or_else(|| anyhow!("CreateQueue returned no URL"))?;
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes")?;
    let arn = attrs
        .attributes
        .and_then(|a| a.get(&A::QueueArn).cloned())
        .ok_or_else(|| anyhow!("queue without an ARN"))?;
    Ok((url, arn))
}

/// The bucket's `NotificationConfiguration` queue rules, pointed at `queue_arn`.
async fn notify_queue(
    client: &aws_sdk_s3::Client,
    props: &Value,
    bucket: &str,
    queue_arn: &str,
) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration,
        NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
    };
    let rules = props
        .get("NotificationConfiguration")
        .map(|n| seq_at(n, "QueueConfigurations"))
        .transpose()?
        .cloned()
        .unwrap_or_default();
    let mut configuration = NotificationConfiguration::builder();
    for rule in &rules {
        let mut key_filter = S3KeyFilter::builder();
        if let Some(filters) = rule
            .get("Filter")
            .and_then(|f| f.get("S3Key"))
            .and_then(|k| k.get("Rules"))
            .and_then(Value::as_sequence)
        {
            for f in filters {
                key_filter = key_filter.filter_rules(
                    FilterRule::builder()
                        .name(FilterRuleName::from(str_at(f, "Name")?))
                        .value(str_at(f, "Value")?)
                        .build(),
                );
            }
        }
        configuration = configuration.queue_configurations(
            QueueConfiguration::builder()
                .queue_arn(queue_arn)
                .events(Event::from(str_at(rule, "Event")?))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(key_filter.build())
                        .build(),
                )
                .build()?,
        );
    }
    client
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(configuration.build())
        .send()
        .await
        .context("PutBucketNotificationConfiguration")?;
    Ok(())
}
