//! Creates the table, the KMS key and the bucket on an emulator, exactly as
//! `template.yaml` defines them.

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

use crate::template::{properties_of, resources, seq_at, str_at, template_path};

/// What was created.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub key_id: String,
    pub key_alias: String,
    pub bucket: String,
}

pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
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
        &properties_of(&resources, "AWS::KMS::Key")?,
        prefix,
    )
    .await?;
    let bucket = format!("{prefix}-uploads").to_lowercase();
    create_bucket(
        &clients.s3,
        &properties_of(&resources, "AWS::S3::Bucket")?,
        &bucket,
    )
    .await?;
    Ok(Provisioned {
        table,
        key_id,
        key_alias,
        bucket,
    })
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
