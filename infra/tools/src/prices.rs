//! AWS list prices, us-east-1, as published on 2025-01-01 (DynamoDB after
//! its on-demand price cut of 2024-11-01), for what the benchmarks and the
//! simulation print as cost. Free tiers are left out.

/// DynamoDB on-demand, per million write request units.
pub const DYNAMODB_WRU_PER_MILLION_USD: f64 = 0.625;
/// DynamoDB on-demand, per million read request units.
pub const DYNAMODB_RRU_PER_MILLION_USD: f64 = 0.125;
/// KMS, per 10,000 symmetric requests (Encrypt, Decrypt).
pub const KMS_PER_10K_REQUESTS_USD: f64 = 0.03;
/// SQS standard queue, per million requests (a batch of ten is one).
pub const SQS_PER_MILLION_REQUESTS_USD: f64 = 0.40;
/// Lambda, per million requests.
pub const LAMBDA_PER_MILLION_REQUESTS_USD: f64 = 0.20;
/// Lambda on arm64, per GB-second.
pub const LAMBDA_ARM64_PER_GB_SECOND_USD: f64 = 0.000_013_333_4;
/// DynamoDB Standard table class storage, per GB-month (the first 25 GB
/// free are left out).
pub const DYNAMODB_STORAGE_PER_GB_MONTH_USD: f64 = 0.25;
