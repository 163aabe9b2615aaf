//! The only code that speaks to the outside: the AWS SDK (DynamoDB, KMS,
//! S3, SQS, Secrets Manager) and TikTok over HTTP. Every failure leaves as
//! a domain error or an error enum of the adapter's own; no SDK error
//! escapes. Each adapter reads its own settings (`from_env`). `memory`
//! holds in-memory stand-ins for the refresh's ports.

pub mod aws;
pub mod kms;
pub mod memory;
pub mod s3;
pub mod scheduler;
pub mod secrets_manager;
pub mod sqs;
pub mod store;
pub mod tiktok;
pub mod tls;
