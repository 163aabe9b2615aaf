//! Everything the functions share: the domain, its ports, and the adapters
//! that speak to DynamoDB, KMS, S3, SQS and TikTok.

pub mod account;
pub mod accounts;
pub mod auth;
pub mod aws;
pub mod bucket;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod oauth;
pub mod publish;
pub mod queue;
pub mod ratelimit;
pub mod refresh;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tiktok;
pub mod tokens;
pub mod upload;
pub mod uploads;
pub mod webhook;
